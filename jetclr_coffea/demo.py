"""The embedded default run (``jetclr-coffea demo``): the README's main command.

The whole chain on small samples:

1. generate QCD and top samples (Pythia 8 + fast simulation + FastJet -> PFNano ROOT);
2. run the tagging processor with the shipped encoder (``onnx_models/jetclr_top.onnx``)
   through coffea's Runner;
3. build a DDT map of its ``tagger_score`` from the QCD sample;
4. run again with the map;
5. write histograms and plots (score distributions, ROC, DDT map, QCD pass/fail ratio
   versus msoftdrop) into the output folder.
"""

from __future__ import annotations

import json
from pathlib import Path

from jetclr_coffea.errors import JetCLRError

__all__ = ["SHIPPED_MODEL", "run_demo"]

def _shipped() -> Path:
    from jetclr_coffea.models import shipped_model

    return shipped_model("jetclr_top")


#: The shipped top tagger (package data: found from a source checkout and from a wheel).
SHIPPED_MODEL = _shipped()


def run_demo(output: Path, events: int = 300, seed: int = 1, model: Path | None = None,
             workers: int = 1) -> dict[str, object]:
    """Run the embedded default chain into ``output``; returns a summary."""
    from jetclr_coffea.gen.generate import generate
    from jetclr_coffea.gen.pythia import ProcessConfig
    from jetclr_coffea.inspect_file import summarise
    from jetclr_coffea.plots import plot_ddt_map, plot_pass_fail, plot_roc_from_hists, plot_scores
    from jetclr_coffea.processors import FatJetSelection, LearnedJetTagProcessor, hist_name
    from jetclr_coffea.processors.run import RunOptions, load_fileset, make_ddt_map, run, write_outputs

    model = model or SHIPPED_MODEL
    if not model.is_file():
        raise JetCLRError(f"{model}: no such model (the shipped one lives in onnx_models/)")
    if output.exists() and not output.is_dir():
        raise JetCLRError(f"{output} exists and is not a folder")
    output.mkdir(parents=True, exist_ok=True)
    files = {}
    for process in ("qcd", "top"):
        path = output / f"{process}.root"
        print(f"== 1. generating {events} {process} events -> {path}")
        s = generate(ProcessConfig(process, seed=seed), events, path, progress=True)
        print(f"   {s.fat_jets} fat jets, {s.events_per_second:.1f} events/s")
        print("   " + summarise(path).format().replace("\n", "\n   "))
        files[process] = path.name
    (output / "fileset.json").write_text(json.dumps({k: [v] for k, v in files.items()}))
    (output / "fileset_qcd.json").write_text(json.dumps({"qcd": [files["qcd"]]}))
    fileset = load_fileset(output / "fileset.json")
    opts = RunOptions(executor="futures" if workers > 1 else "iterative", workers=workers)
    selection = FatJetSelection(pt_min=300.0)

    print(f"== 2. tagging processor with {model.name}")
    proc = LearnedJetTagProcessor([model], selection, threads=opts.onnx_threads)
    first = run(fileset, proc, opts).datasets
    score = f"{model.stem}_tagger_score"
    if score not in proc.scores:
        raise JetCLRError(f"{model} has no tagger_score output")

    print("== 3. DDT map (QCD efficiency 5%) from the QCD sample")
    ddt_path = make_ddt_map(load_fileset(output / "fileset_qcd.json"), str(model),
                            output / "ddt_map.json", score="tagger_score", efficiency=0.05,
                            opts=opts, selection=selection, min_jets=5)

    print("== 4. tagging processor with the DDT map")
    proc_ddt = LearnedJetTagProcessor([model], selection, ddt_path, threads=opts.onnx_threads)
    result = run(fileset, proc_ddt, opts)
    second = result.datasets
    written = write_outputs(result, output / "hists")

    print("== 5. plots")
    h_scores = {ds: first[ds]["hists"][hist_name(score, "score_msd_pt")].project("score") for ds in files}
    plots = [plot_scores(h_scores, score, output / "scores.png")]
    roc, auc = plot_roc_from_hists(h_scores["top"], h_scores["qcd"], output / "roc.png")
    plots += [roc, plot_ddt_map(ddt_path, output / "ddt_map.png"),
              plot_pass_fail(second["qcd"]["hists"][hist_name(score, "ddt_msd_pt")],
                             output / "qcd_pass_fail.png")]
    ddt_h = second["qcd"]["hists"][hist_name(score, "ddt_msd_pt")].values()
    qcd_eff = float(ddt_h[1].sum() / max(ddt_h.sum(), 1e-12))
    # binomial uncertainty; the demo's QCD sample has a few hundred jets
    qcd_err = float((qcd_eff * (1 - qcd_eff) / max(ddt_h.sum(), 1.0)) ** 0.5)
    top_h = second["top"]["hists"][hist_name(score, "ddt_msd_pt")].values()
    top_eff = float(top_h[1].sum() / max(top_h.sum(), 1e-12))
    for path in [*written, *plots]:
        print(f"   wrote {path}")
    summary = {"auc_all_jets": auc, "qcd_ddt_efficiency": qcd_eff, "qcd_ddt_efficiency_error": qcd_err,
               "top_ddt_efficiency": top_eff,
               "providers": sorted(second["top"]["providers"])}
    print(f"   score AUC (all top-sample jets vs QCD, pT > 300 GeV): {auc:.3f}")
    print(f"   DDT selection: QCD efficiency {qcd_eff:.3f} +- {qcd_err:.3f} (target 0.05; the map was "
          f"built from these jets, so it closes up to the smoothing of thinly filled bins), "
          f"top-sample jets {top_eff:.3f}")
    return summary
