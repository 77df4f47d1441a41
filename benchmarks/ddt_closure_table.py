"""Issue 22's DDT test over the analysis range: in every (msoftdrop, pT) bin with at least
``--min-jets`` effective QCD jets, does the map's QCD pass fraction close to the target
within ``--tolerance`` (absolute), within errors (|fraction - target| - tolerance <= 2 sigma)?

Reads the closure.json files of benchmarks/phase_space_ddt.sh; prints one row per model
and, with ``--record NAME``, records benchmarks/results/NAME.json.

    python benchmarks/ddt_closure_table.py runs/phase_space_ddt/*/closure.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _record import record


def check(doc: dict[str, Any], min_jets: float, tolerance: float) -> dict[str, Any]:
    """The bins with ``min_jets`` effective jets and how each closes."""
    target = doc["summary"]["target"]
    bins = [b for b in doc["bins"] if b["pass_fraction"] is not None and b["n_effective"] >= min_jets]
    worst, failing = 0.0, []
    for b in bins:
        excess = abs(b["pass_fraction"] - target) - tolerance
        sigmas = excess / b["err"] if b["err"] else (float("inf") if excess > 0 else 0.0)
        worst = max(worst, sigmas)
        if sigmas > 2:
            failing.append({k: b[k] for k in ("msd_min", "msd_max", "pt_min", "pt_max", "n_effective",
                                               "pass_fraction", "err")})
    pts = sorted({b["pt_min"] for b in bins})
    return {"score": doc["score"], "target": target, "bins": len(bins), "closing": len(bins) - len(failing),
            "failing": failing, "worst_excess_sigma": worst, "pt_bins_covered": pts,
            "chi2": doc["summary"]["chi2"], "ndf": doc["summary"]["ndf"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("closures", nargs="+")
    parser.add_argument("--min-jets", type=float, default=200.0)
    parser.add_argument("--tolerance", type=float, default=0.01)
    parser.add_argument("--record", metavar="NAME",
                        help="write the summary to benchmarks/results/NAME.json (default: print only)")
    args = parser.parse_args()
    result = {}
    for path in args.closures:
        row = check(json.loads(Path(path).read_text()), args.min_jets, args.tolerance)
        result[Path(path).parent.name] = row
        print(f"{Path(path).parent.name:24s} {row['score']:40s} {row['closing']:3d}/{row['bins']:<3d} "
              f"bins close (>= {args.min_jets:g} jets; worst excess {row['worst_excess_sigma']:+.1f} sigma)")
    if args.record:
        out = record(args.record, {"min_jets": args.min_jets, "tolerance": args.tolerance, "models": result})
        print(f"recorded {out}")


if __name__ == "__main__":
    main()
