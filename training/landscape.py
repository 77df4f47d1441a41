"""The decorrelation landscape: background rejection against QCD mass sculpting.

As in the MoDe (arXiv:2010.09745) and DisCo (arXiv:2001.05310) papers, every score is one
point: R50, the inverse QCD efficiency at 50 % signal efficiency, against 1/JSD, the inverse
Jensen-Shannon divergence of the QCD msoftdrop spectra passing and failing the same cut
(:func:`jetclr_coffea.sculpting.mass_sculpting`); up and right is better.  Uncertainties:
the standard deviation over bootstrap resamples of the signal and QCD jets (the same
resamples for every score).

A designed decorrelated tagger (DDT, Dolen et al., arXiv:1603.00027) of a score subtracts
the score's QCD quantile in bins of rho = ln(msd^2/pT^2) and pT: :func:`fit_ddt` builds that
map from a separate QCD sample, as an analysis would, with the binning, pooling of thin bins
and quantile of the processors' DDT maps (:mod:`jetclr_coffea.processors.ddt`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from jetclr_coffea.processors.ddt import DDTMap, ddt_document
from jetclr_coffea.processors.hists import PT_EDGES, RHO_AXIS, jet_rho

from jetclr_coffea._io import JsonDict, atomic_path
from jetclr_coffea.metrics import roc_metrics
from jetclr_coffea.sculpting import mass_sculpting

__all__ = ["fit_ddt", "landscape", "plot_landscape", "working_point_efficiency"]

F64 = npt.NDArray[np.float64]

#: score bins of the DDT sample's histogram (quantiles of its scores)
SCORE_BINS = 400


def fit_ddt(score: F64, msd: F64, pt: F64, efficiency: float, min_jets: float = 20.0) -> DDTMap:
    """The DDT map of ``score`` (larger: more signal-like) on QCD jets: in every (rho, pT) bin
    the value a fraction ``efficiency`` of them lies above.

    The processors' map (:class:`~jetclr_coffea.processors.ddt.DDTMap`, held in memory):
    their rho axis and pT edges (jets outside counted in the edge bins, msoftdrop <= 0 in the
    lowest rho bin), their pooling of thin bins and tail minimum
    (:func:`~jetclr_coffea.processors.ddt.ddt_document`); apply it with ``ddt_values``.
    Jets with an undefined rho (pT <= 0, non-finite inputs) or score are left out.
    """
    n, lo, hi = RHO_AXIS
    rho_edges = np.linspace(lo, hi, n + 1)
    pt_edges = np.asarray(PT_EDGES, dtype=np.float64)
    rho = jet_rho(msd, pt)
    ok = ~np.isnan(rho) & np.isfinite(score)
    score, rho, pt = score[ok], rho[ok], pt[ok]
    score_edges = np.unique(np.quantile(score, np.linspace(0.0, 1.0, SCORE_BINS + 1)))
    r = np.clip(rho, lo, np.nextafter(hi, lo))
    p = np.clip(pt, pt_edges[0], np.nextafter(pt_edges[-1], 0.0))
    s = np.clip(score, score_edges[0], np.nextafter(score_edges[-1], score_edges[0]))
    counts, _ = np.histogramdd(np.stack([r, p, s], 1), bins=[rho_edges, pt_edges, score_edges])
    doc = ddt_document(counts, rho_edges, pt_edges, score_edges, score="landscape",
                       efficiency=efficiency, min_jets=min_jets)
    return DDTMap.from_document(doc)


def working_point_efficiency(signal: F64, background: F64, signal_efficiency: float = 0.5) -> float:
    """The QCD fraction a cut keeping ``signal_efficiency`` of the signal keeps."""
    cut = np.quantile(signal, 1.0 - signal_efficiency)
    return float(np.mean(background > cut))


def _point(sig: F64, bkg: F64, msd_bkg: F64) -> tuple[float, float]:
    jsd = mass_sculpting(sig, bkg, msd_bkg)
    return roc_metrics(sig, bkg)["r50"], (1.0 / jsd if jsd > 0 else float("inf"))


def landscape(scores: dict[str, tuple[F64, F64]], msd_bkg: F64, n_boot: int = 200,
              seed: int = 0, reference: str | None = None,
              others: tuple[str, ...] = ()) -> dict[str, JsonDict]:
    """R50 and 1/JSD of every score, with bootstrap errors.

    Args:
        scores: name -> (signal scores, background scores), larger = more signal-like, the
            same jets in the same order for every score.
        msd_bkg: the background jets' msoftdrop.
        n_boot: bootstrap resamples.
        reference: a score of ``scores``: every other score also gets its paired differences
            to it (the same resamples, so the jets' common fluctuations cancel).
        others: further references (scores of ``scores``): each gets a ``vs_<name>`` block
            of the same form in every other score.

    Returns:
        ``{name: {"r50", "r50_err", "inv_jsd", "inv_jsd_err", "jsd"}}``, plus, with a
        reference, ``"vs": {"score": reference, "d_r50", "d_r50_err", "d_inv_jsd",
        "d_inv_jsd_err", "r50_ratio", "r50_ratio_err"}`` (the ratio of R50s and its
        paired error), and ``"vs_<other>"`` likewise.
    """
    out: dict[str, dict[str, Any]] = {}
    boot: dict[str, F64] = {}  # name -> (n_boot, 2): R50 and 1/JSD of each resample
    n_s = len(next(iter(scores.values()))[0])
    rng = np.random.default_rng(seed)
    draws = [(rng.integers(0, n_s, n_s), rng.integers(0, len(msd_bkg), len(msd_bkg))) for _ in range(n_boot)]
    for name, (sig, bkg) in scores.items():
        r50, inv = _point(sig, bkg, msd_bkg)
        b = boot[name] = np.array([_point(sig[i], bkg[j], msd_bkg[j]) for i, j in draws])
        finite = np.isfinite(b)
        out[name] = {"r50": r50, "r50_err": float(np.std(b[finite[:, 0], 0])),
                     "inv_jsd": inv, "inv_jsd_err": float(np.std(b[finite[:, 1], 1])),
                     "jsd": 1.0 / inv if inv > 0 else float("inf")}
    refs = [(reference, "vs")] if reference is not None else []
    for ref_name, key in [*refs, *((o, f"vs_{o}") for o in others)]:
        if ref_name not in scores:
            continue
        for name in scores:
            if name != ref_name:
                out[name][key] = _paired(out[name], out[ref_name], boot[name], boot[ref_name], ref_name)
    return out


def _paired(point: dict[str, Any], ref: dict[str, Any], b: F64, b_ref: F64, ref_name: str) -> dict[str, Any]:
    """A score's paired differences (and R50 ratio) to a reference from the same resamples
    (``b``, ``b_ref``: (n_boot, 2) of R50 and 1/JSD)."""
    d = b - b_ref
    ok = np.isfinite(d)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = b[:, 0] / b_ref[:, 0]
    fine = np.isfinite(ratio)
    return {"score": ref_name, "d_r50": point["r50"] - ref["r50"], "d_r50_err": float(np.std(d[ok[:, 0], 0])),
            "d_inv_jsd": point["inv_jsd"] - ref["inv_jsd"], "d_inv_jsd_err": float(np.std(d[ok[:, 1], 1])),
            "r50_ratio": point["r50"] / ref["r50"] if ref["r50"] > 0 else float("inf"),
            "r50_ratio_err": float(np.std(ratio[fine])) if fine.any() else float("nan")}


def plot_landscape(points: dict[str, dict[str, float]], path: str | Path, title: str) -> None:
    """R50 against 1/JSD, log-log, one labelled point with error bars per score."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9.5, 6))
    colours = plt.get_cmap("tab20")
    for k, (name, p) in enumerate(points.items()):
        style: dict[str, Any] = {"marker": "*" if "decorrelated" in name else ("s" if "ddt" in name else "o"),
                                 "ms": 13 if "decorrelated" in name else 7, "color": colours(k % 20)}
        ax.errorbar(p["inv_jsd"], p["r50"], xerr=p["inv_jsd_err"], yerr=p["r50_err"], ls="none",
                    capsize=2, label=name, **style)
    ax.set(xscale="log", yscale="log", xlabel="1 / JSD (QCD msoftdrop, pass vs fail at 50% signal eff.)",
           ylabel="R50 = 1 / QCD efficiency at 50% signal efficiency", title=title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    with atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
