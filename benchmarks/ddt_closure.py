"""DDT closure on generated QCD: the QCD efficiency of score_ddt > 0 across rho and msoftdrop.

Builds a DDT map (q = 5 %, default pooling) of a model's score (its ``tagger_score``, else
its ``anomaly_score``; default model: the shipped tagger) from QCD files, runs the
processor over independent QCD files (``--test-files``; default: the same ones), and prints
and records (benchmarks/results/ddt_closure.json) the fraction of QCD jets passing in bins
of rho and of msoftdrop, next to what the fixed cut with the same overall efficiency
keeps: flat for the DDT, sculpted for the fixed cut.

    python benchmarks/ddt_closure.py --files data/qcd_test.root --test-files data/qcd_val.root
    python benchmarks/ddt_closure.py --files data/qcd_test.root --test-files data/qcd_val.root \
        --model onnx_models/darkclr_qcd.onnx --record ddt_closure_darkclr
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _record import record
from jetclr_coffea.processors import DDTMap, FatJetSelection, LearnedJetTagProcessor
from jetclr_coffea.processors.run import RunOptions, load_fileset, make_ddt_map, run

RHO_BINS = ((-99.0, -8.0), (-8.0, -6.0), (-6.0, -4.5), (-4.5, -3.5), (-3.5, -2.5), (-2.5, 0.0))
MSD_BINS = ((0.0, 40.0), (40.0, 80.0), (80.0, 120.0), (120.0, 160.0), (160.0, 200.0), (200.0, 400.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", nargs="+", required=True, help="QCD files the map is built from")
    parser.add_argument("--test-files", nargs="+", default=None,
                        help="independent QCD files it is checked on (default: --files)")
    parser.add_argument("--model", default="onnx_models/jetclr_top.onnx")
    parser.add_argument("--efficiency", type=float, default=0.05)
    parser.add_argument("--record", default="ddt_closure",
                        help="name of the results file in benchmarks/results (default: ddt_closure)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        build, test = Path(tmp) / "build.json", Path(tmp) / "test.json"
        build.write_text(json.dumps({"qcd": [str(Path(f).resolve()) for f in args.files]}))
        test.write_text(json.dumps({"qcd": [str(Path(f).resolve()) for f in args.test_files or args.files]}))
        ddt = DDTMap(make_ddt_map(load_fileset(build), args.model, Path(tmp) / "ddt.json", score=None,
                                  efficiency=args.efficiency, opts=RunOptions()))
        score_name = ddt.score  # the model's tagger_score, else its anomaly_score
        out = run(load_fileset(test), LearnedJetTagProcessor([args.model], FatJetSelection(), keep_jets=True),
                  RunOptions()).datasets["qcd"]
    jets = {k: np.concatenate([c[k] for c in out.jets]) for k in out.jets[0]}
    score, rho, pt, msd = (jets[k] for k in (score_name, "rho", "pt", "msoftdrop"))
    ok = np.isfinite(score) & ~np.isnan(rho)  # rho = -inf (msd <= 0): the map's lowest rho bin
    score, rho, pt, msd = score[ok], rho[ok], pt[ok], msd[ok]
    passed = score > ddt.threshold(rho, pt)
    fixed = score > np.quantile(score, 1.0 - args.efficiency)
    results: dict[str, Any] = {"map_from": args.files, "checked_on": args.test_files or args.files,
                               "jets": int(ok.sum()), "efficiency_target": args.efficiency,
                               "ddt_efficiency": float(passed.mean()), "by_rho": [], "by_msd": []}
    print(f"{results['jets']} QCD jets: DDT efficiency {passed.mean():.4f} (target {args.efficiency})")
    for key, var, bins in (("by_rho", rho, RHO_BINS), ("by_msd", msd, MSD_BINS)):
        for lo, hi in bins:
            sel = (var >= lo) & (var < hi)
            n = int(sel.sum())
            q = args.efficiency
            row = {"range": [lo, hi], "jets": n, "ddt": float(passed[sel].mean()) if n else None,
                   "fixed_cut": float(fixed[sel].mean()) if n else None,
                   "binomial_error": float(np.sqrt(q * (1 - q) / n)) if n else None}
            results[key].append(row)
            if n:
                print(f"  {key[3:]} [{lo:g}, {hi:g}): {n:5d} jets, DDT {row['ddt']:.3f} "
                      f"+- {row['binomial_error']:.3f}, fixed cut {row['fixed_cut']:.3f}")
    print(f"recorded in {record(args.record, results)}")


if __name__ == "__main__":
    main()
