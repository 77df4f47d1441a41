"""The decorrelated taggers over an analysis's phase space (issue 22): one table of R50 and
1/JSD against tau21^DDT, the raw score and its own DDT, from `evaluate --ddt-background`.

    python benchmarks/codec_phase_space_table.py runs/codec_ps2/*/metrics.json

Prints a markdown table (per evaluated model: the score's R50 and 1/JSD at 50 % signal
efficiency over 300-1 500 GeV, its R50 ratio to tau21^DDT at the same working point and the
1/JSD difference, paired on the same bootstrap resamples; likewise the score with its own DDT
map; the AUC per pT bin) and records the numbers in benchmarks/results/codec_phase_space.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import record

SCORE = "decorrelated_score"
REF = "tau21_ddt_wp"


def _cell(p: dict[str, Any]) -> str:
    v = p[f"vs_{REF}"]
    return (f"{p['r50']:.2f} ± {p['r50_err']:.2f} | {p['inv_jsd']:.0f} ± {p['inv_jsd_err']:.0f} | "
            f"{v['r50_ratio']:.2f} ± {v['r50_ratio_err']:.2f} | "
            f"{v['d_inv_jsd']:+.0f} ± {v['d_inv_jsd_err']:.0f}")


def row(name: str, metrics: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """One model's table row and its numbers."""
    points = metrics["landscape"]["points"]
    raw, ddt = points[SCORE], points[f"{SCORE}_ddt_wp"]
    aucs = [b["scores"][SCORE]["auc"] if b["scores"] else None for b in metrics["pt_bins"]]
    text = (f"| {name} | {_cell(raw)} | {_cell(ddt)} | "
            + " / ".join("–" if a is None else f"{a:.3f}" for a in aucs) + " |")
    return text, {"raw": raw, "ddt_wp": ddt, "auc_per_bin": aucs, "tau21_ddt_wp": points[REF]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("metrics", nargs="+", type=Path)
    parser.add_argument("--record", metavar="NAME",
                        help="write the numbers to benchmarks/results/NAME.json (default: print only, "
                             "so a look at other metrics never overwrites a recorded result)")
    args = parser.parse_args()
    lines = ["| model | R50 | 1/JSD | R50 / τ21^DDT's | 1/JSD − τ21^DDT's | with its DDT: R50 | 1/JSD | "
             "R50 / τ21^DDT's | 1/JSD − τ21^DDT's | AUC per pT bin |", "|---|" + "---|" * 9]
    numbers: dict[str, Any] = {}
    for path in args.metrics:
        metrics = json.loads(path.read_text())
        text, numbers[path.parent.name] = row(path.parent.name, metrics)
        lines.append(text)
    ref = json.loads(args.metrics[0].read_text())["landscape"]["points"][REF]
    print("\n".join(lines))
    print(f"\nτ21^DDT at the working point: R50 {ref['r50']:.2f} ± {ref['r50_err']:.2f}, "
          f"1/JSD {ref['inv_jsd']:.0f} ± {ref['inv_jsd_err']:.0f}")
    if args.record:
        print(f"recorded {record(args.record, numbers)}")


if __name__ == "__main__":
    main()
