"""The evaluation's summary for a terminal: lines read from the ``metrics.json`` document
that :func:`~jetclr_coffea.training.evaluate.evaluate` writes (its producer's layer reads
its keys; ``jetclr-coffea evaluate`` only prints the lines)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jetclr_coffea._io import JsonObject

__all__ = ["summary_lines"]


def _line(m: dict[str, float], keys: tuple[str, ...] = ("auc", "r50")) -> str:
    return "  ".join(f"{k.upper()} {m[k]:.4g} +- {m[k + '_err']:.2g}" for k in keys)


def summary_lines(doc: JsonObject) -> list[str]:
    """The evaluation's summary, line by line (``metrics.json`` holds everything)."""
    metrics: Mapping[str, Any] = doc  # this module writes the document: it reads its keys
    out: list[str] = []
    lct, base, an = metrics["lct"], metrics["baseline"], metrics["anomaly_score"]
    line = _line
    out.append(f"{metrics['n_signal']} signal and {metrics['n_background']} background jets")
    if lct is not None:
        out.append(f"LCT on the representation:      {line(lct)}")
    out.append(f"LCT on hand-engineered features: {line(base)}")
    out.append(f"BDT on hand-engineered features: {line(metrics['observables_bdt'])}")
    for name, m in metrics["scores"].items():
        vs = m.get("vs_bdt")
        out.append(f"{name} (no fit, test jets): {line(m)}  dAUC vs features' LCT {m['d_auc']:+.4f} +- "
                   f"{m['d_auc_err']:.4f}" + (f", vs their BDT {vs['d_auc']:+.4f} +- {vs['d_auc_err']:.4f}"
                                               if vs else ""))
    if lct is not None:
        out.append(f"representation - features:      dAUC {lct['d_auc']:+.4f} +- {lct['d_auc_err']:.4f}  "
                   f"dR50 {lct['d_r50']:+.3g} +- {lct['d_r50_err']:.2g}")
    if "compare" in metrics:
        out += _compare_lines(metrics["compare"])
    out.append(f"anomaly score, {an['score']} (no fit): {line(an, ('auc', 'r50', 'r20'))}")
    return out + _bins_and_landscape_lines(metrics)


def _compare_lines(c: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    a, name, line = c["anomaly_score"], Path(c["model"]).name, _line
    out.append(f"LCT of {c['model']}: {line(c['lct'])}")
    out.append(f"representation - {name}: dAUC {c['d_auc']:+.4f} +- {c['d_auc_err']:.4f}  "
          f"dR50 {c['d_r50']:+.3g} +- {c['d_r50_err']:.2g}")
    out.append(f"anomaly score of {name}: {line(a, ('auc', 'r50', 'r20'))}")
    out.append(f"anomaly score - {name}'s: dAUC {a['d_auc']:+.4f} +- {a['d_auc_err']:.4f}  "
          f"dR20 {a['d_r20']:+.3g} +- {a['d_r20_err']:.2g}")
    return out


def _bins_and_landscape_lines(metrics: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    line = _line
    for b in metrics.get("pt_bins", []):
        where = (f"pT {b['pt_min']:g}-{b['pt_max']:g}: {b['n_test_signal']}/{b['n_test_background']} "
                 "test jets")
        name, first = next(iter(b["scores"].items()), ("", None))  # the model's own score, no fit
        if first is None:
            name, first = ("LCT", b["lct"]) if b["lct"] else ("anomaly score", b["anomaly_score"])
        bdt = b["observables_bdt"]
        out.append(f"{where}  " + ("too few jets" if first is None else f"{name} {line(first)}")
                   + ("" if bdt is None else f" | observables' BDT {line(bdt)}"))
    if "landscape" in metrics:
        out.append("decorrelation landscape (R50, 1/JSD at 50% signal efficiency):")
        for name, p in metrics["landscape"]["points"].items():
            vs = p.get("vs")
            paired = (f"   vs {vs['score']}: dR50 {vs['d_r50']:+.3g} +- {vs['d_r50_err']:.2g}, d(1/JSD) "
                      f"{vs['d_inv_jsd']:+.3g} +- {vs['d_inv_jsd_err']:.2g}") if vs else ""
            out.append(f"  {name:22s} R50 {p['r50']:7.3g} +- {p['r50_err']:<7.2g} "
                       f"1/JSD {p['inv_jsd']:7.3g} +- {p['inv_jsd_err']:<7.2g}{paired}")
            out += [f"  {'':22s} vs {v['score']}: R50 ratio {v['r50_ratio']:.3g} +- "
                    f"{v['r50_ratio_err']:.2g}, d(1/JSD) {v['d_inv_jsd']:+.3g} +- {v['d_inv_jsd_err']:.2g}"
                    for key, v in p.items() if key.startswith("vs_") and "decorrelated" in name]
    return out
