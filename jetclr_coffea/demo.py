"""The embedded default run (``jetclr-coffea demo``): the README's main command.

The whole chain on small samples, with every shipped model:

1. generate QCD and top samples (Pythia 8 + fast simulation + FastJet -> PFNano ROOT);
2. run the tagging processor with the six shipped models (``onnx_models/``) through
   coffea's Runner, writing a NanoAOD friend tree per input file (``friends/``);
3. build a DDT map of each tagger's and decorrelated tagger's score from the QCD sample
   (``jetclr_top``'s ``tagger_score``, ``codec_twoprong``'s ``decorrelated_score``);
4. run those models again with their maps;
5. write histograms and plots (every model's score distributions, ROC of the top tagger,
   its DDT map, QCD pass/fail ratio versus msoftdrop) into the output folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from jetclr_coffea.errors import JetCLRError

if TYPE_CHECKING:
    from jetclr_coffea.processors import DatasetResult

__all__ = ["DDT_SCORES", "SHIPPED_MODEL", "DemoSummary", "run_demo"]


def _shipped() -> Path:
    from jetclr_coffea.models import shipped_model

    return shipped_model("jetclr_top")


#: The shipped top tagger (package data: found from a source checkout and from a wheel).
SHIPPED_MODEL = _shipped()
#: Scores the demo builds a DDT map of (QCD efficiency 5 %), where a model gives them.
DDT_SCORES = ("tagger_score", "decorrelated_score")
#: QCD efficiency of the demo's DDT maps.
EFFICIENCY = 0.05


@dataclass(frozen=True)
class DemoSummary:
    """What the demo measured.

    Attributes:
        auc: per model score ``<model>_<output>``: its AUC, top-sample jets against QCD
            (all jets, no truth matching), from the score histograms.
        qcd_ddt_efficiency: per DDT map's score: the QCD fraction passing, and its binomial
            error in ``qcd_ddt_efficiency_error`` (the map was built from these jets).
        top_ddt_efficiency: per DDT map's score: the top-sample fraction passing.
        providers: the ONNX Runtime execution providers that ran.
        written: every file written.
    """

    auc: dict[str, float]
    qcd_ddt_efficiency: dict[str, float]
    qcd_ddt_efficiency_error: dict[str, float]
    top_ddt_efficiency: dict[str, float]
    providers: list[str]
    written: list[Path]


def _default_models() -> list[Path]:
    from jetclr_coffea.models import shipped_model, shipped_models

    return [shipped_model(name) for name in shipped_models()]


def _generate(output: Path, events: int, seed: int) -> dict[str, list[str]]:
    from jetclr_coffea.gen.generate import generate
    from jetclr_coffea.gen.pythia import ProcessConfig
    from jetclr_coffea.inspect_file import summarise

    files = {}
    for process in ("qcd", "top"):
        path = output / f"{process}.root"
        print(f"== 1. generating {events} {process} events -> {path}")
        s = generate(ProcessConfig(process, seed=seed), events, path, progress=True)
        print(f"   {s.fat_jets} fat jets, {s.events_per_second:.1f} events/s")
        print("   " + summarise(path).format().replace("\n", "\n   "))
        files[process] = [path.name]
    (output / "fileset.json").write_text(json.dumps(files))
    (output / "fileset_qcd.json").write_text(json.dumps({"qcd": files["qcd"]}))
    return files


def _check(models: list[Path], output: Path) -> None:
    if not models:
        raise JetCLRError("no model given")
    stems = [m.stem for m in models]
    for model in models:
        if not model.is_file():
            raise JetCLRError(f"{model}: no such model (the shipped ones live in onnx_models/)")
        if stems.count(model.stem) > 1:
            raise JetCLRError(f"{model}: two models named {model.stem!r}; their outputs would collide")
    if output.exists() and not output.is_dir():
        raise JetCLRError(f"{output} exists and is not a folder")


def _efficiencies(datasets: dict[str, DatasetResult], score: str) -> tuple[float, float, float]:
    """(QCD pass fraction, its binomial error, top-sample pass fraction) of ``score``'s DDT."""
    from jetclr_coffea.processors import hist_name

    def passing(ds: str) -> tuple[float, float]:
        v = datasets[ds].hists[hist_name(score, "ddt_msd_pt")].values()
        return float(v[1].sum() / max(v.sum(), 1e-12)), float(v.sum())

    qcd, n = passing("qcd")
    return qcd, float((qcd * (1 - qcd) / max(n, 1.0)) ** 0.5), passing("top")[0]


def _plots(first: dict[str, DatasetResult], second: dict[str, DatasetResult], scores: list[str],
           maps: dict[str, Path], output: Path) -> tuple[list[Path], dict[str, float]]:
    from jetclr_coffea.plots import plot_ddt_map, plot_pass_fail, plot_roc_from_hists, plot_scores
    from jetclr_coffea.processors import hist_name

    plots, auc = [], {}
    for score in scores:
        h = {ds: first[ds].hists[hist_name(score, "score_msd_pt")].project("score") for ds in first}
        plots.append(plot_scores(h, score, output / f"scores_{score}.png"))
        roc, auc[score] = plot_roc_from_hists(h["top"], h["qcd"], output / f"roc_{score}.png")
        plots.append(roc)
    for score, path in maps.items():
        plots += [plot_ddt_map(path, output / f"ddt_map_{score}.png"),
                  plot_pass_fail(second["qcd"].hists[hist_name(score, "ddt_msd_pt")],
                                 output / f"qcd_pass_fail_{score}.png")]
    return plots, auc


def _report(summary: DemoSummary) -> None:
    for path in summary.written:
        print(f"   wrote {path}")
    for score, auc in summary.auc.items():
        print(f"   {score}: AUC {auc:.3f} (all top-sample jets vs QCD, pT > 300 GeV)")
    for score, eff in summary.qcd_ddt_efficiency.items():
        print(f"   {score} DDT: QCD efficiency {eff:.3f} +- {summary.qcd_ddt_efficiency_error[score]:.3f} "
              f"(target {EFFICIENCY}; the map was built from these jets, so it closes up to the "
              f"smoothing of thin bins), top-sample jets {summary.top_ddt_efficiency[score]:.3f}")


def run_demo(output: Path, events: int = 300, seed: int = 1, models: list[Path] | None = None,
             workers: int = 1) -> DemoSummary:
    """Run the embedded default chain into ``output`` (default models: every shipped one)."""
    from jetclr_coffea.processors import FatJetSelection, LearnedJetTagProcessor
    from jetclr_coffea.processors.run import (
        RunOptions,
        load_fileset,
        main_score,
        make_ddt_map,
        run,
        write_friend_trees,
        write_outputs,
    )

    models = list(models) if models is not None else _default_models()
    _check(models, output)
    output.mkdir(parents=True, exist_ok=True)
    _generate(output, events, seed)
    fileset = load_fileset(output / "fileset.json")
    opts = RunOptions(executor="futures" if workers > 1 else "iterative", workers=workers)
    selection = FatJetSelection(pt_min=300.0)
    print(f"== 2. tagging processor with {', '.join(m.name for m in models)}, friend trees")
    proc = LearnedJetTagProcessor(models, selection, threads=opts.onnx_threads, friend=True)
    first_run = run(fileset, proc, opts)
    written = write_friend_trees(first_run, fileset, output / "friends")
    scores = [f"{m.name}_{s}" for m in proc.models.values() if (s := main_score(m.card.scores))]
    mapped = {m.name: next(s for s in DDT_SCORES if s in m.card.scores)
              for m in proc.models.values() if set(DDT_SCORES) & set(m.card.scores)}
    print(f"== 3. DDT maps (QCD efficiency {EFFICIENCY:.0%}) from the QCD sample: "
          f"{', '.join(f'{k}_{v}' for k, v in mapped.items()) or 'none (no tagger among the models)'}")
    maps = {f"{name}_{score}": make_ddt_map(
        load_fileset(output / "fileset_qcd.json"), proc.models[name].path, output / f"ddt_map_{name}.json",
        score=score, efficiency=EFFICIENCY, opts=opts, selection=selection, min_jets=5)
        for name, score in mapped.items()}
    second: dict[str, DatasetResult] = {}
    if maps:
        print("== 4. tagging processor with the DDT maps")
        with_maps = LearnedJetTagProcessor([proc.models[n].path for n in mapped], selection,
                                           list(maps.values()), threads=opts.onnx_threads)
        result = run(fileset, with_maps, opts)
        second, written = result.datasets, written + write_outputs(result, output / "hists")
    else:
        written += write_outputs(first_run, output / "hists")
    print("== 5. plots")
    plots, auc = _plots(first_run.datasets, second, scores, maps, output)
    eff = {score: _efficiencies(second, score) for score in maps}
    summary = DemoSummary(auc, {k: v[0] for k, v in eff.items()}, {k: v[1] for k, v in eff.items()},
                          {k: v[2] for k, v in eff.items()},
                          sorted(set().union(*(d.providers for d in first_run.datasets.values()))),
                          [*written, *maps.values(), *plots])
    _report(summary)
    return summary
