"""Each shipped model's jets/s in the processor, on one core, on the same jets.

    python benchmarks/bench_models.py --files data/qcd_heldout.root data/top_heldout.root

Issue 23's measure: a ``LearnedJetTagProcessor`` with one model (one ONNX Runtime thread,
as in a worker), run on the same events for every model, timed from NanoEvents to filled
histograms (reading the constituents, preparing them, inference, filling), best of
``--repeats`` after a warm-up call that builds the session; then all models in one
processor.  jets/s counts the scored fat jets; each model's ratio is to ``jetclr_top``'s
rate in the same run.  Results: benchmarks/results/models.json (the README's table).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import best_time, record
from jetclr_coffea.processors import LearnedJetTagProcessor, QuietPFNanoAODSchema

MODELS = ("jetclr_top", "darkclr_qcd", "ot_medoids_qcd", "vae_emd_qcd", "codec_twoprong", "lot_qcd")
REFERENCE = "jetclr_top"


def _events(files: list[str], entries: int) -> list[Any]:
    from coffea.nanoevents import NanoEventsFactory

    out = []
    for f in files:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out.append(NanoEventsFactory.from_root({f: "Events"}, schemaclass=QuietPFNanoAODSchema,
                                                   mode="virtual", entry_stop=entries,
                                                   metadata={"dataset": Path(f).stem}).events())
    return out


def _rate(models: list[str], files: list[str], entries: int, repeats: int) -> tuple[float, int]:
    """(jets/s, scored jets) of one processor over the files' first ``entries`` events."""
    proc = LearnedJetTagProcessor(models, threads=1)
    proc.process(_events(files, 20)[0])  # builds the sessions

    def run() -> float:
        scored = 0.0
        for ev in _events(files, entries):  # fresh, unread arrays: reading is timed too
            scored += next(iter(proc.process(ev).values()))["cutflow"]["scored"]
        return scored

    dt, scored = best_time(run, repeats)
    return scored / dt, int(scored)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", nargs="+", required=True)
    parser.add_argument("--models-dir", default="onnx_models")
    parser.add_argument("--entries", type=int, default=1000, help="events read from each file")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--also", nargs="*", default=[], metavar="NAME=PATH.onnx",
                        help="further models measured the same way (e.g. a previous version)")
    args = parser.parse_args()
    paths = {m: str(Path(args.models_dir) / f"{m}.onnx") for m in MODELS}
    extra = dict(a.split("=", 1) for a in args.also)
    results: dict[str, Any] = {"files": args.files, "entries_per_file": args.entries, "models": {}}
    for name, path in {**paths, **extra}.items():
        rate, jets = _rate([path], args.files, args.entries, args.repeats)
        results["models"][name] = {"jets_per_s": rate, "jets": jets}
        print(f"{name:16s} {rate:8.0f} jets/s ({jets} jets)", flush=True)
    ref = results["models"][REFERENCE]["jets_per_s"]
    for r in results["models"].values():
        r["ratio_to_jetclr_top"] = r["jets_per_s"] / ref
    rate, jets = _rate(list(paths.values()), args.files, args.entries, args.repeats)  # every shipped model
    results["all_models"] = {"jets_per_s": rate, "jets": jets}
    print(f"{'all shipped':16s} {rate:8.0f} jets/s; ratios to {REFERENCE}: "
          + ", ".join(f"{n} {r['ratio_to_jetclr_top']:.3f}" for n, r in results["models"].items()))
    record("models", results)


if __name__ == "__main__":
    main()
