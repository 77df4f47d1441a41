"""Markdown tables of the shipped models per pT bin at mu = 0 and 40 (issue 21's "before").

Reads what ``benchmarks/phase_space_eval.sh MODEL`` wrote to runs/phase_space/ and prints,
per model, one row per pT bin: the test jets, the shipped score's AUC and R50 (R20 for an
anomaly score of semi-visible jets) at mu = 0 and mu = 40 with bootstrap errors, the
observables' BDT on the same jets, and the score's AUC change under pile-up on matched jets.
Also records the numbers (benchmarks/results/phase_space_<model>.json).

    python benchmarks/phase_space_table.py jetclr_top [ot_medoids_qcd ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _record import record

#: The output each model ships as its score, and the metrics block it is found in.
SHIPPED_SCORE = {"jetclr_top": ("scores", "tagger_score"), "codec_twoprong": ("scores", "decorrelated_score"),
                 "ot_medoids_qcd": ("anomaly_score", None), "vae_emd_qcd": ("anomaly_score", None),
                 "darkclr_qcd": ("anomaly_score", None)}


def _block(b: dict[str, Any], model: str) -> dict[str, float] | None:
    section, name = SHIPPED_SCORE[model]
    block = b.get(section)
    return block.get(name) if name is not None and block is not None else block


def _fmt(m: dict[str, float] | None, key: str) -> str:
    if m is None:
        return "–"
    value, err = m[key], m[key + "_err"]
    if value is None:  # strict JSON: infinite (no background jet passes) or undefined
        return "n/a"
    if key == "auc":
        return f"{value:.3f} ± {err:.3f}"
    return f"{value:.3g} ± {err:.2g}" if err is not None else f"{value:.3g}"


def table(model: str, runs: Path, name: str = "") -> tuple[str, dict[str, Any]]:
    """The markdown table of ``model`` (its runs named ``name``, default the model's) and the
    numbers behind it."""
    name = name or model
    m0 = json.loads((runs / f"{name}_mu0" / "metrics.json").read_text())
    m40 = json.loads((runs / f"{name}_mu40" / "metrics.json").read_text())
    resp_path = runs / f"{name}_pileup.json"
    resp = json.loads(resp_path.read_text()) if resp_path.exists() else None
    r = "r20" if m0["selection"]["signal_label"] == "dark" else "r50"
    score = SHIPPED_SCORE[model][1] or "anomaly_score"
    lines = [f"| pT (GeV) | test jets S/B, μ=0 | {score} AUC, μ=0 | μ=40 | {r.upper()}, μ=0 | μ=40 "
             f"| observables' BDT AUC, μ=0 | μ=40 |", "|---|---|---|---|---|---|---|---|"]
    rows = []
    for b0, b40 in zip(m0["pt_bins"], m40["pt_bins"], strict=True):
        s0, s40 = _block(b0, model), _block(b40, model)
        n = f"{b0['n_test_signal']}/{b0['n_test_background']}"
        if SHIPPED_SCORE[model][0] == "anomaly_score":  # no fit: all the bin's jets
            n = f"{b0['n_signal']}/{b0['n_background']}"
        lines.append(f"| {b0['pt_min']:g}–{b0['pt_max']:g} | {n} | {_fmt(s0, 'auc')} | {_fmt(s40, 'auc')} "
                     f"| {_fmt(s0, r)} | {_fmt(s40, r)} | {_fmt(b0['observables_bdt'], 'auc')} "
                     f"| {_fmt(b40['observables_bdt'], 'auc')} |")
        rows.append({"pt_min": b0["pt_min"], "pt_max": b0["pt_max"], "mu0": s0, "mu40": s40,
                     "bdt_mu0": b0["observables_bdt"], "bdt_mu40": b40["observables_bdt"]})
    if resp is not None:
        key = score if score in resp["scores"] else "embedding_norm"
        p = resp["scores"][key]
        lines.append("")
        lines.append(f"Pile-up response on {resp['n_signal']} signal and {resp['n_background']} QCD jets "
                     f"matched between μ = 0 and 40 (same events, 300–1 500 GeV, each jet counted once, "
                     f"so dominated by the jets above 800 GeV): AUC "
                     f"{p['auc_reference']:.3f} → {p['auc_pileup']:.3f}, paired ΔAUC {p['d_auc']:+.4f} ± "
                     f"{p['d_auc_err']:.4f}; QCD "
                     f"score shift median {p['shift_background']['median']:+.3g} (68 %: "
                     f"{p['shift_background']['q16']:+.3g} to {p['shift_background']['q84']:+.3g}).")
    return "\n".join(lines), {"rows": rows, "weights": m0["weights"],
                              "pileup_response": None if resp is None else resp["scores"]}


#: The heading of the section ``--cards`` writes (or replaces) in each model's card.
CARD_HEADING = "## Over an analysis's phase space (before retraining)"


def write_card_section(card: Path, text: str) -> None:
    """Replace (or append) the :data:`CARD_HEADING` section of ``card`` with ``text``."""
    lines = card.read_text().splitlines()
    intro = ("The shipped score as it is, per jet-pT bin, at μ = 0 and 40, on the broad-pT held-out "
             "samples of `docs/phase_space.md` (genWeight-weighted; errors: bootstrap):")
    body = [CARD_HEADING, "", intro, "", text, ""]
    if CARD_HEADING in lines:
        start = lines.index(CARD_HEADING)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        lines[start:end] = body
    else:
        lines += ["", *body]
    card.write_text("\n".join(lines).rstrip() + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", choices=tuple(SHIPPED_SCORE))
    parser.add_argument("--runs", type=Path, default=Path("runs/phase_space"))
    parser.add_argument("--suffix", default="",
                        help="the runs are MODEL<suffix>_mu0 etc. (phase_space_eval.sh NAME=); recorded so")
    parser.add_argument("--cards", action="store_true",
                        help="also write the tables into onnx_models/<model>.md")
    args = parser.parse_args()
    for model in args.models:
        text, numbers = table(model, args.runs, model + args.suffix)
        print(f"### {model}{args.suffix}\n\n{text}\n")
        record(f"phase_space_{model}{args.suffix}", numbers)
        if args.cards:
            write_card_section(Path("onnx_models") / f"{model}.md", text)


if __name__ == "__main__":
    main()
