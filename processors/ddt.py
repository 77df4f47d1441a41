"""Designed decorrelated tagger (DDT) maps as correctionlib JSON.

A DDT map holds, in bins of rho = ln(msd^2 / pT^2) and pT, the value of a score above
which a fraction q of QCD jets lies.  ``score_ddt = score - threshold(rho, pT)`` then
selects the same QCD fraction everywhere in (rho, pT), so the QCD msoftdrop shape of
passing and failing jets is the same.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from jetclr_coffea._io import atomic_path
from jetclr_coffea.errors import JetCLRError

__all__ = ["DDTMap", "build_ddt_map", "load_ddt_map", "quantile_map", "smooth_map"]

F64 = npt.NDArray[np.float64]


def quantile_map(counts: F64, score_edges: F64, efficiency: float) -> tuple[F64, F64]:
    """Score threshold with a fraction ``efficiency`` of the weight above it, per bin.

    Score bins whose summed weight is negative (negative generator weights, e.g. NLO
    samples, outweighing the rest of the bin) count as empty: a cumulative distribution
    must not decrease, and a quantile of a non-monotonic one is not defined.

    Args:
        counts: (n_rho, n_pt, n_score) weighted counts.
        score_edges: (n_score + 1,) score bin edges.
        efficiency: the QCD fraction to keep, 0 < q < 1.

    Returns:
        ``(threshold, total)``: (n_rho, n_pt) thresholds (linear interpolation inside a
        score bin; NaN where a bin is empty) and the total weight per bin (negative score
        bins counted as zero).
    """
    counts = np.clip(counts, 0.0, None)
    total = counts.sum(axis=2)
    above = np.cumsum(counts[..., ::-1], axis=2)[..., ::-1]  # weight at or above each bin
    frac = np.where(total[..., None] > 0, above / np.where(total > 0, total, 1.0)[..., None], 0.0)
    threshold = np.full(total.shape, np.nan)
    for idx in np.ndindex(total.shape):
        if total[idx] <= 0:
            continue
        f = frac[idx]  # decreasing from 1 at the first bin
        # fraction above the lower edge of bin k is f[k]; above the upper edge is f[k+1]
        upper = np.append(f[1:], 0.0)
        k = int(np.searchsorted(-f, -efficiency, side="right")) - 1
        k = min(max(k, 0), len(f) - 1)
        lo_f, hi_f = f[k], upper[k]
        t = 0.0 if lo_f == hi_f else (lo_f - efficiency) / (lo_f - hi_f)
        threshold[idx] = score_edges[k] + t * (score_edges[k + 1] - score_edges[k])
    return threshold, total


def smooth_map(threshold: F64, weight: F64, min_weight: float, sigma: float = 1.0) -> F64:
    """Replace thresholds of bins with less than ``min_weight`` by a Gaussian-weighted mean
    of their neighbours (weighted by statistics), in bin-index space."""
    n_r, n_p = threshold.shape
    ok = np.isfinite(threshold) & (weight >= min_weight)
    if not ok.any():
        raise JetCLRError(f"no (rho, pT) bin has the {min_weight:g} QCD jets needed for a DDT map")
    out = threshold.copy()
    ri, pi = np.meshgrid(np.arange(n_r), np.arange(n_p), indexing="ij")
    for r, p in zip(*np.nonzero(~ok), strict=True):
        kernel = np.exp(-((ri - r) ** 2 + (pi - p) ** 2) / (2 * sigma**2)) * np.where(ok, weight, 0.0)
        if kernel.sum() <= 0:  # far from any good bin: nearest good bin
            d = (ri - r) ** 2 + (pi - p) ** 2 + np.where(ok, 0, 1e9)
            out[r, p] = threshold[np.unravel_index(np.argmin(d), d.shape)]
        else:
            out[r, p] = float((kernel * np.nan_to_num(threshold)).sum() / kernel.sum())
    return out


class DDTMap:
    """A loaded DDT map: ``threshold(rho, pt)`` through correctionlib."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        import correctionlib

        p = Path(path)
        if not p.is_file():
            raise JetCLRError(f"{p}: no such DDT map")
        try:
            cset = correctionlib.CorrectionSet.from_file(str(p))
        except Exception as err:
            raise JetCLRError(f"{p}: not a correctionlib JSON ({type(err).__name__})") from err
        names = [n for n in cset if n.startswith("ddt_")]
        if len(names) != 1:
            raise JetCLRError(f"{p}: expected one ddt_<score> correction, found {list(cset)}")
        self.path = str(p)
        self.name = names[0]
        self.score = self.name[len("ddt_"):]
        self._correction = cset[self.name]

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"])  # type: ignore[misc]

    def threshold(self, rho: F64, pt: F64) -> F64:
        return np.asarray(self._correction.evaluate(rho, pt), dtype=np.float64)


def build_ddt_map(
    counts: F64, rho_edges: F64, pt_edges: F64, score_edges: F64, *, score: str,
    efficiency: float, output: str | os.PathLike[str], min_weight: float = 20.0,
    description: str = "",
) -> Path:
    """Compute, smooth and write a DDT map as a correctionlib JSON (atomically).

    Args:
        counts: (n_rho, n_pt, n_score) QCD counts (weighted).
        rho_edges, pt_edges, score_edges: bin edges.
        score: the score's name (the correction is called ``ddt_<score>``).
        efficiency: QCD efficiency q of the selection ``score > threshold``.
        output: the JSON file.
        min_weight: bins with less QCD weight are filled from their neighbours.
        description: free text stored in the JSON.
    """
    import correctionlib.schemav2 as cs

    if not 0.0 < efficiency < 1.0:
        raise JetCLRError(f"--qcd-efficiency must be between 0 and 1, got {efficiency}")
    threshold, total = quantile_map(counts, score_edges, efficiency)
    smoothed = smooth_map(threshold, total, min_weight)
    corr = cs.Correction(
        name=f"ddt_{score}",
        version=1,
        description=description or f"DDT threshold of {score} at QCD efficiency {efficiency}",
        inputs=[cs.Variable(name="rho", type="real", description="ln(msoftdrop^2 / pt^2)"),
                cs.Variable(name="pt", type="real", description="fat-jet pT in GeV")],
        output=cs.Variable(name="threshold", type="real"),
        data=cs.MultiBinning(
            nodetype="multibinning", inputs=["rho", "pt"],
            edges=[list(map(float, rho_edges)), list(map(float, pt_edges))],
            content=[float(v) for v in smoothed.ravel()], flow="clamp",
        ),
    )
    cset = cs.CorrectionSet(schema_version=2, corrections=[corr],
                            description=f"jetclr-coffea DDT map, q = {efficiency}")
    with atomic_path(output) as tmp:
        tmp.write_text(json.dumps(cset.model_dump(mode="json", exclude_unset=True), indent=1))
    return Path(output)


def load_ddt_map(path: str | os.PathLike[str]) -> DDTMap:
    """Load a DDT map written by :func:`build_ddt_map`."""
    return DDTMap(path)
