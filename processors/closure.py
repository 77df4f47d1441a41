"""Closure of a DDT map across the analysis range (``jetclr-coffea ddt-closure``).

A DDT map is built so that a fraction q of QCD jets passes in every (rho, pT) bin.  Its
closure is checked as an analysis would: on an independent QCD sample, run the processor
with the map and measure the pass fraction in every (msoftdrop, pT) bin of the
``<score>__ddt_msd_pt`` histogram.  With weights w (pass P, fail F):
``eps = sum_P w / sum w``, ``var(eps) = ((1 - eps)^2 sum_P w^2 + eps^2 sum_F w^2) / (sum w)^2``
(the binomial variance for weighted events), ``pull = (eps - q) / err``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from jetclr_coffea._io import JsonDict, JsonObject, atomic_path, check_writable, strict_json
from jetclr_coffea.errors import JetCLRError

from .ddt import DDTMap, check_xsecs, qcd_histogram
from .result import Fileset
from .run import RunOptions, run
from .selection import FatJetSelection
from .tagging import LearnedJetTagProcessor

__all__ = ["ClosureBin", "closure_lines", "closure_table", "ddt_closure", "plot_closure", "summary"]

F64 = npt.NDArray[np.float64]

#: Bins with fewer effective QCD jets enter the table but not the chi2.
MIN_EFFECTIVE = 10.0


@dataclass(frozen=True)
class ClosureBin:
    """The pass fraction of one (msoftdrop, pT) bin; ``pass_fraction``, ``err`` and ``pull``
    are None where the bin holds no jet."""

    msd_min: float
    msd_max: float
    pt_min: float
    pt_max: float
    n_effective: float
    pass_fraction: float | None
    err: float | None
    pull: float | None


def _fraction(pw: F64, pw2: F64, fw: F64, fw2: F64) -> tuple[F64, F64, F64]:
    """(pass fraction, its error, effective entries) per bin, NaN where empty."""
    total = pw + fw
    with np.errstate(invalid="ignore", divide="ignore"):
        eps = np.where(total > 0, pw / total, np.nan)
        var = ((1 - eps) ** 2 * pw2 + eps**2 * fw2) / total**2
        n_eff = np.where(pw2 + fw2 > 0, total**2 / (pw2 + fw2), 0.0)
    return eps, np.sqrt(var), n_eff


def closure_table(values: F64, variances: F64, msd_edges: F64, pt_edges: F64,
                  efficiency: float) -> list[ClosureBin]:
    """One :class:`ClosureBin` per (msd, pT) bin of a (pass, msd, pT) histogram's sums of
    weights ``values`` and of squared weights ``variances``."""
    eps, err, n_eff = _fraction(values[1], variances[1], values[0], variances[0])
    rows = []
    for i in range(len(msd_edges) - 1):
        for j in range(len(pt_edges) - 1):
            ok = bool(np.isfinite(eps[i, j]))
            e, s = float(eps[i, j]), float(err[i, j])
            pull = (e - efficiency) / s if ok and s > 0 else None
            rows.append(ClosureBin(float(msd_edges[i]), float(msd_edges[i + 1]), float(pt_edges[j]),
                                   float(pt_edges[j + 1]), float(n_eff[i, j]), e if ok else None,
                                   s if ok else None, pull))
    return rows


def summary(values: F64, variances: F64, pt_edges: F64, rows: list[ClosureBin],
            efficiency: float) -> JsonDict:
    """Pass fraction per pT bin (all msoftdrop) and the chi2 of every well-filled
    (msd, pT) bin against the target ``efficiency``."""
    eps, err, n_eff = _fraction(values[1].sum(0), variances[1].sum(0), values[0].sum(0), variances[0].sum(0))
    pulls = [r.pull for r in rows if r.pull is not None and r.n_effective >= MIN_EFFECTIVE]
    return {
        "target": efficiency,
        "per_pt": [{"pt_min": float(a), "pt_max": float(b), "n_effective": float(n),
                    "pass_fraction": None if not np.isfinite(e) else float(e),
                    "err": None if not np.isfinite(e) else float(s)}
                   for a, b, e, s, n in zip(pt_edges[:-1], pt_edges[1:], eps, err, n_eff, strict=True)],
        "chi2": float(np.sum(np.square(pulls))), "ndf": len(pulls),
        "chi2_bins": f"(msd, pT) bins with >= {MIN_EFFECTIVE:g} effective QCD jets",
    }


def plot_closure(rows: list[ClosureBin], efficiency: float, path: Path, title: str) -> None:
    """Pass fraction against msoftdrop, one series per pT bin, with the target as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 6))
    for lo, hi in sorted({(r.pt_min, r.pt_max) for r in rows}):
        sel = [r for r in rows if r.pt_min == lo and r.pass_fraction is not None and r.n_effective >= 1]
        if not sel:
            continue
        x = [(r.msd_min + r.msd_max) / 2 for r in sel]
        ax.errorbar(x, [r.pass_fraction or 0.0 for r in sel], yerr=[r.err or 0.0 for r in sel], fmt="o",
                    ms=3, capsize=2, label=f"{lo:g}-{hi:g} GeV")
    ax.axhline(efficiency, color="k", ls="--", label=f"target {efficiency:g}")
    ax.set_xlabel("msoftdrop (GeV)")
    ax.set_ylabel("QCD pass fraction")
    ax.set_ylim(0, min(1.0, 4 * efficiency + 0.05))
    ax.legend(fontsize=8, ncol=2, title="fat-jet pT")
    ax.set_title(title, fontsize=11)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)


def closure_lines(doc: JsonObject) -> list[str]:
    """The terminal summary of a :func:`ddt_closure` report."""
    report: Mapping[str, Any] = doc  # this module writes the document: it reads its keys
    s = report["summary"]
    lines = [f"{report['score']}: target QCD pass fraction {s['target']:g}"]
    lines += [f"  pT {row['pt_min']:g}-{row['pt_max']:g} GeV: {row['pass_fraction']:.4f} +- "
              f"{row['err']:.4f} ({row['n_effective']:.0f} effective jets)"
              for row in s["per_pt"] if row["pass_fraction"] is not None]
    return [*lines, f"chi2 / ndf over (msd, pT) bins: {s['chi2']:.1f} / {s['ndf']}"]


def ddt_closure(fileset: Fileset, model: str, ddt_map: str | os.PathLike[str],
                output_dir: str | os.PathLike[str], *, opts: RunOptions,
                selection: FatJetSelection | None = None) -> JsonDict:
    """Run ``model`` with ``ddt_map`` over the (independent) QCD ``fileset`` and write
    ``closure.json`` (every (msd, pT) bin's pass fraction, error and pull; the per-pT
    summary and chi2) and ``closure.png`` to ``output_dir``.

    Raises:
        JetCLRError: the map records no efficiency, or no jet was scored.
    """
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise JetCLRError(f"{out} exists and is not a folder")
    check_writable(out / "closure.json" if out.is_dir() else out)  # an existing folder is fine
    ddt = DDTMap(ddt_map)
    efficiency = ddt.built_for.get("efficiency")
    if not isinstance(efficiency, int | float) or not 0 < efficiency < 1:
        raise JetCLRError(f"{ddt_map}: the map records no QCD efficiency; rebuild it with ddt-map")
    proc = LearnedJetTagProcessor([model], selection or FatJetSelection(), ddt_map,
                                  batch_size=opts.batch_size)
    result = run(fileset, proc, opts)
    out.mkdir(exist_ok=True)
    h = qcd_histogram(result.datasets, ddt.score, check_xsecs(fileset), kind="ddt_msd_pt")
    values, variances = h.values(), h.variances()
    msd_edges, pt_edges = h.axes["msd"].edges, h.axes["pt"].edges
    rows = closure_table(values, variances, msd_edges, pt_edges, float(efficiency))
    report: JsonDict = {"model": model, "ddt_map": str(ddt_map), "score": ddt.score,
              "datasets": sorted(result.datasets),
              "note": "pass fraction of the QCD jets in each (msoftdrop, pT) bin; jets outside the axes "
                      "are not counted",
              "summary": summary(values, variances, pt_edges, rows, float(efficiency)),
              "bins": [asdict(r) for r in rows]}
    with atomic_path(out / "closure.json") as tmp:
        tmp.write_text(strict_json(report))
    plot_closure(rows, float(efficiency), out / "closure.png", f"{ddt.score}: DDT closure on "
                 f"{', '.join(sorted(result.datasets))}")
    return report
