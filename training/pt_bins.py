"""Every metric of ``evaluate`` per jet-pT bin (``evaluate --pt-bins``).

The classifiers (the representation's LCT, the observables' LCT and BDT) are fitted once on
the whole training half, as an analyst would, and only evaluated per bin: each bin's block
is the metric of the same score on the test jets whose pT lies in the bin (the anomaly
score, which needs no fit: on all the bin's selected jets).  Per-jet weights (``genWeight``
of a biased-pT sample) enter as in the whole-window metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from jetclr_coffea._io import JsonDict, atomic_path
from jetclr_coffea.errors import ParameterError
from jetclr_coffea.metrics import bootstrap

__all__ = ["BinnedScores", "check_edges", "plot_pt_bins", "pt_bin_metrics"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: Fewer signal or background jets than this in a bin: its metrics are null.
MIN_JETS = 10


def check_edges(edges: Sequence[float], selection: tuple[float, float]) -> tuple[float, ...]:
    """``edges`` as a tuple, after checking they are finite, increasing and inside ``selection``.

    Raises:
        ParameterError: fewer than two edges, NaN/inf, not strictly increasing, or outside
            the jet selection (whose jets would never reach the bin).
    """
    e = tuple(float(x) for x in edges)
    if len(e) < 2:
        raise ParameterError("pt_bins", f"needs at least two edges, got {len(e)}")
    if not all(np.isfinite(e)) or min(e) < 0:
        raise ParameterError("pt_bins", f"edges must be finite and >= 0, got {list(e)}")
    if any(b <= a for a, b in pairwise(e)):
        raise ParameterError("pt_bins", f"edges must increase strictly, got {list(e)}")
    lo, hi = selection
    if e[0] < lo or e[-1] > hi:
        raise ParameterError("pt_bins", f"{e[0]:g}-{e[-1]:g} GeV reaches outside the jet selection "
                                        f"{lo:g} < pT < {hi:g} GeV (widen --pt-min/--pt-max)")
    return e


@dataclass(frozen=True)
class BinnedScores:
    """What the per-bin metrics are computed from; larger scores are more signal-like.

    Attributes:
        pt, labels, weight: per selected jet (``weight`` all 1 for an unweighted sample).
        test_index: the LCT's test jets (indices into the selected jets).
        lct, baseline, bdt: the fitted classifiers' scores on the test jets (``lct`` None
            for a model without a representation).
        scores: the model's other exported scores, per selected jet.
        anomaly: the anomaly score, per selected jet.
    """

    pt: F64
    labels: I64
    weight: F64
    test_index: I64
    lct: F64 | None
    baseline: F64
    bdt: F64
    scores: dict[str, F64]
    anomaly: F64


def _metric(score: F64, y: I64, w: F64, weighted: bool, n_boot: int, ref: F64 | None = None
            ) -> dict[str, float]:
    s, b = y == 1, y == 0
    return bootstrap(score[s], score[b], n_boot, paired=None if ref is None else (ref[s], ref[b]),
                     weights=(w[s], w[b]) if weighted else None)


def _vs(paired: dict[str, float]) -> dict[str, float]:
    """The paired differences of a bootstrap against another score (``d_*``)."""
    return {k: v for k, v in paired.items() if k.startswith("d_")}


def _bin_block(d: BinnedScores, in_bin: npt.NDArray[np.bool_], weighted: bool, n_boot: int,
               landscape: Callable[[npt.NDArray[np.bool_]], dict[str, Any]] | None) -> dict[str, Any]:
    y_all = d.labels[in_bin]
    block: dict[str, Any] = {"n_signal": int((y_all == 1).sum()), "n_background": int((y_all == 0).sum())}
    t_in = in_bin[d.test_index]
    yt, wt = d.labels[d.test_index][t_in], d.weight[d.test_index][t_in]
    block["n_test_signal"], block["n_test_background"] = int((yt == 1).sum()), int((yt == 0).sum())
    enough_all = min(block["n_signal"], block["n_background"]) >= MIN_JETS
    block["anomaly_score"] = (_metric(d.anomaly[in_bin], y_all, d.weight[in_bin], weighted, n_boot)
                              if enough_all else None)
    if min(block["n_test_signal"], block["n_test_background"]) < MIN_JETS:
        return {**block, "lct": None, "baseline": None, "observables_bdt": None, "scores": {},
                "note": f"fewer than {MIN_JETS} signal or background test jets: only the anomaly score "
                        "(all the bin's jets) where those are enough"}
    base = d.baseline[t_in]
    block["lct"] = None if d.lct is None else _metric(d.lct[t_in], yt, wt, weighted, n_boot, base)
    block["baseline"] = _metric(base, yt, wt, weighted, n_boot)
    block["observables_bdt"] = _metric(d.bdt[t_in], yt, wt, weighted, n_boot, base)
    rows = d.test_index[t_in]
    block["scores"] = {k: {**_metric(v[rows], yt, wt, weighted, n_boot, base),
                           "vs_bdt": _vs(_metric(v[rows], yt, wt, weighted, n_boot, d.bdt[t_in]))}
                       for k, v in d.scores.items()}
    if landscape is not None:
        block["landscape"] = landscape(t_in)
    return block


def pt_bin_metrics(edges: Sequence[float], d: BinnedScores, n_boot: int,
                   landscape: Callable[[npt.NDArray[np.bool_]], JsonDict] | None = None
                   ) -> list[JsonDict]:
    """One entry per bin ``edges[i] <= pT < edges[i+1]``: ``pt_min``, ``pt_max``,
    ``n_signal``, ``n_background`` (selected jets), the test jets' counts, and the blocks
    ``lct``, ``baseline``, ``observables_bdt``, ``scores``, ``anomaly_score`` (and
    ``landscape``: ``landscape(mask over the test jets)``) with bootstrap errors; ``d_*`` of
    ``lct``, ``observables_bdt`` and each score: minus the observables' LCT, same resamples."""
    weighted = bool(np.ptp(d.weight) > 0) if len(d.weight) else False
    out = []
    for lo, hi in pairwise(edges):
        in_bin = (d.pt >= lo) & (d.pt < hi)
        out.append({"pt_min": float(lo), "pt_max": float(hi),
                    **_bin_block(d, in_bin, weighted, n_boot, landscape)})
    return out


def _series(bins: list[dict[str, Any]]) -> dict[str, list[dict[str, float] | None]]:
    """Per score shown in the plot, its metric block in every bin (None where empty)."""
    named: dict[str, list[dict[str, float] | None]] = {
        "representation LCT": [b["lct"] for b in bins], "observables LCT": [b["baseline"] for b in bins],
        "observables BDT": [b["observables_bdt"] for b in bins]}
    for name in sorted({k for b in bins for k in b["scores"]}):
        named[name] = [b["scores"].get(name) for b in bins]
    named["anomaly score (no fit)"] = [b["anomaly_score"] for b in bins]
    return {k: v for k, v in named.items() if any(m is not None for m in v)}


def plot_pt_bins(bins: list[JsonDict], path: Path, title: str, anomaly: bool = False) -> None:
    """AUC and R50 (R20 with ``anomaly``, the anomaly score's working point) against jet pT,
    with bootstrap error bars, for every score of :func:`pt_bin_metrics`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = "r20" if anomaly else "r50"
    lo = np.array([b["pt_min"] for b in bins])
    hi = np.array([b["pt_max"] for b in bins])
    fig, axes = plt.subplots(2, 1, figsize=(8, 9), sharex=True)
    for k, (name, blocks) in enumerate(_series(bins).items()):
        x = (lo + hi) / 2 + (k - 2) * 0.01 * (hi - lo)  # offset so that error bars do not overlap
        for ax, key in zip(axes, ("auc", r), strict=True):
            v = np.array([np.nan if m is None else m[key] for m in blocks], dtype=np.float64)
            e = np.array([np.nan if m is None else m[key + "_err"] for m in blocks], dtype=np.float64)
            low = np.minimum(e, 0.9 * v) if key != "auc" else e  # a log axis cannot go below 0
            ax.errorbar(x, v, yerr=np.stack([low, e]), fmt="o-", capsize=3, label=name)
    axes[0].set_ylabel("AUC")
    axes[1].set_ylabel(f"{r.upper()} (1 / background efficiency)")
    axes[1].set_yscale("log")
    axes[1].set_xlabel("fat-jet pT (GeV)")
    for ax in axes:
        for edge in np.r_[lo, hi[-1]]:
            ax.axvline(edge, color="0.85", lw=0.8, zorder=0)
    axes[0].legend(fontsize=9)
    axes[0].set_title(title, fontsize=11)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
