"""Designed decorrelated tagger (DDT) maps as correctionlib JSON.

A DDT map holds, in bins of rho = ln(msd^2 / pT^2) and pT, the value of a score above
which a fraction q of QCD jets lies.  ``score_ddt = score - threshold(rho, pT)`` then
selects the same QCD fraction everywhere in (rho, pT), so the QCD msoftdrop shape of
passing and failing jets is the same.

Everything about DDT maps lives here: the QCD histogram a map is built from (summed over
datasets, weighted by cross section where given: :func:`qcd_histogram`), the builder
(:func:`build_ddt_map`) and the loaded map (:class:`DDTMap`).  A map records what it was
built for under the top-level key ``jetclr_coffea`` of the JSON (correctionlib ignores
it): the score, the model file's SHA-256, the jet selection and q; a processor refuses a
map built for another model and warns when its jet selection differs.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from jetclr_coffea._io import JsonDict, JsonObject, atomic_path
from jetclr_coffea.errors import JetCLRError, ParameterError

from .hists import hist_name, jet_rho

if TYPE_CHECKING:
    from jetclr_coffea.inference import OnnxJetModel

    from .result import DatasetResult, Fileset
    from .selection import FatJetSelection

__all__ = [
    "MAP_KEY",
    "MIN_TAIL_JETS",
    "RHO_STRETCH",
    "SIGMAS",
    "DDTMap",
    "build_ddt_map",
    "check_xsecs",
    "ddt_document",
    "effective_entries",
    "fold_flow",
    "pool_counts",
    "qcd_histogram",
    "quantile_map",
    "selection_record",
]

#: Top-level key of a map's JSON that records what it was built for.
MAP_KEY = "jetclr_coffea"
#: msoftdrop floor of :meth:`DDTMap.ddt_score` (rho ~ -130: below every map, no log(0) warning).
MSD_FLOOR = 1e-30

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


def fold_flow(values: F64) -> F64:
    """Histogram contents with flow bins (``values(flow=True)``) folded into the first and
    last regular bin of every axis.

    A DDT map clamps rho and pT outside its range to its edge bins, so the edge bins'
    thresholds must come from the jets that will be clamped into them (low-mass QCD jets
    below the rho range are many, and score lower than their neighbours); scores beyond
    the score axis count in its first or last bin.
    """
    out = np.array(values, dtype=np.float64)
    for axis in range(out.ndim):
        moved = np.moveaxis(out, axis, 0)  # a view: edits land in ``out``
        moved[1] += moved[0]
        moved[-2] += moved[-1]
        out = np.take(out, np.arange(1, out.shape[axis] - 1), axis=axis)
    return out


#: Gaussian kernel widths (in pT bins) tried, narrowest first, for a thinly filled bin.
SIGMAS = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 48.0, 64.0)

#: In the pooling kernel one rho bin is as far as this many pT bins.  rho is the variable
#: that a score's QCD distribution depends on most (the reason a DDT map is binned in
#: it), so a thin bin first pools jets of its own rho at other pT.  Isotropic pooling
#: borrowed jets from the populous lower-rho bins, and for a mass-dependent score (the
#: shipped anomaly score) gave thresholds too high at high rho: 0.028 instead of 0.05 in
#: the top rho bin of the closure benchmark, 0.046 with this (docs/performance.md).
RHO_STRETCH = 8.0

#: A bin's threshold is taken from enough jets that this many lie above it (min_jets >= 5/q).
MIN_TAIL_JETS = 5.0


def effective_entries(sum_w: F64, sum_w2: F64) -> F64:
    """Kish's effective number of entries (sum w)^2 / sum w^2 (0 where empty)."""
    return np.where(sum_w2 > 0, np.clip(sum_w, 0.0, None) ** 2 / np.where(sum_w2 > 0, sum_w2, 1.0), 0.0)


def pool_counts(counts: F64, min_jets: float, variances: F64 | None = None) -> F64:
    """Score distributions with at least ``min_jets`` effective QCD jets in every (rho, pT) bin.

    A bin holding ``min_jets`` or more keeps its own distribution.  A thinner one takes the
    Gaussian-weighted sum of its neighbours' distributions (itself with weight 1), with the
    narrowest kernel of :data:`SIGMAS` that gathers ``min_jets`` (distances in pT-bin
    units, a rho bin counting :data:`RHO_STRETCH`, so jets of the same rho come first): its
    threshold is then a real quantile of nearby QCD jets, not an average of other bins'
    thresholds, and the map keeps its resolution where the statistics allow it.  Jets are
    counted as effective entries, :func:`effective_entries`, so the generator weights'
    normalisation does not matter.

    Args:
        counts: (n_rho, n_pt, n_score) summed weights (negative bins count as empty).
        min_jets: effective jets a bin's distribution must hold.
        variances: (n_rho, n_pt, n_score) summed squared weights (None: unit weights).

    Raises:
        JetCLRError: the whole sample holds fewer than ``min_jets`` effective jets.
    """
    counts = np.clip(counts, 0.0, None)
    var = counts if variances is None else np.clip(variances, 0.0, None)
    sum_w, sum_w2 = counts.sum(axis=2), var.sum(axis=2)
    n_all = float(effective_entries(sum_w.sum(), sum_w2.sum()))
    if n_all < min_jets:
        raise JetCLRError(f"the QCD sample holds {n_all:.0f} effective jets, fewer than the "
                          f"{min_jets:g} a DDT-map bin needs")
    n_r, n_p = sum_w.shape
    ri, pi = np.meshgrid(np.arange(n_r), np.arange(n_p), indexing="ij")
    pooled = counts.copy()
    for r, p in zip(*np.nonzero(effective_entries(sum_w, sum_w2) < min_jets), strict=True):
        d2 = (RHO_STRETCH * (ri - r)) ** 2 + (pi - p) ** 2
        for sigma in (*SIGMAS, float("inf")):
            kernel = np.exp(-d2 / (2 * sigma**2))  # (n_rho, n_pt); 1 everywhere for inf
            # the kernel scales each jet's weight: sum w -> k sum w, sum w^2 -> k^2 sum w^2
            if effective_entries((kernel * sum_w).sum(), (kernel**2 * sum_w2).sum()) >= min_jets:
                break
        pooled[r, p] = np.tensordot(kernel, counts, axes=([0, 1], [0, 1]))
    return pooled


class DDTMap:
    """A loaded DDT map: ``threshold(rho, pt)`` through correctionlib.

    Attributes:
        score: the score it thresholds (``<model>_<output>``).
        built_for: what it was built for: ``model`` (name), ``model_sha256``,
            ``selection``, ``efficiency`` (empty for a map that records none, which
            :meth:`check` refuses).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        p = Path(path)
        if not p.is_file():
            raise JetCLRError(f"{p}: no such DDT map")
        try:
            raw = json.loads(p.read_text())
        except Exception as err:
            raise JetCLRError(f"{p}: not a correctionlib JSON ({type(err).__name__})") from err
        self._load(raw, str(p))

    @classmethod
    def from_document(cls, doc: JsonObject, where: str = "<in memory>") -> DDTMap:
        """A map from the JSON document :func:`ddt_document` makes (held in memory: the
        landscape's maps are the processors' maps without a file)."""
        self = cls.__new__(cls)
        self._load(dict(doc), where)
        return self

    def _load(self, raw: dict[str, Any], where: str) -> None:
        import correctionlib

        try:
            cset = correctionlib.CorrectionSet.from_string(json.dumps(raw))
        except Exception as err:
            raise JetCLRError(f"{where}: not a correctionlib JSON ({type(err).__name__})") from err
        names = [n for n in cset if n.startswith("ddt_")]
        if len(names) != 1:
            raise JetCLRError(f"{where}: expected one ddt_<score> correction, found {list(cset)}")
        built_for = raw.get(MAP_KEY) if isinstance(raw, dict) else None
        self.path = where
        self.name = names[0]
        self.score = self.name[len("ddt_"):]
        self.built_for: dict[str, Any] = built_for if isinstance(built_for, dict) else {}
        self._doc = raw
        self._correction = cset[self.name]

    def __getstate__(self) -> dict[str, Any]:  # the document travels: a worker need not see the file
        return {"path": self.path, "doc": self._doc}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._load(state["doc"], state["path"])

    def threshold(self, rho: F64, pt: F64) -> F64:
        """The score threshold at (rho, pT); rho and pT outside the map take its edge bins
        (rho = -inf, jets with msoftdrop <= 0, its lowest rho bin)."""
        return np.asarray(self._correction.evaluate(rho, pt), dtype=np.float64)

    def ddt_score(self, score: Any, msd: Any, pt: Any) -> Any:
        """``score - threshold(rho, pT)`` (pass: > 0) for numpy, awkward or dask-awkward
        arrays of any nesting (``events.FatJet`` fields in coffea's dask mode: lazy, through
        coffea's correctionlib lookup).  msoftdrop <= 0 takes the map's lowest rho bin, as in
        the processor."""
        from coffea.lookup_tools.correctionlib_wrapper import correctionlib_wrapper

        rho = 2.0 * np.log(np.maximum(msd, MSD_FLOOR) / pt)  # below every map's rho range at msd <= 0
        return score - correctionlib_wrapper(self._correction)(rho, pt)

    def ddt_values(self, score: F64, msd: F64, pt: F64) -> F64:
        """``score - threshold(rho, pT)`` for numpy arrays of jets: the lookup of the processor
        (``<score>_ddt``) and of the decorrelation landscape.  One policy: msoftdrop <= 0
        (rho = -inf) takes the map's lowest rho bin; NaN where the score is not finite or rho
        is undefined (pT <= 0, a non-finite msoftdrop or pT)."""
        score = np.asarray(score, dtype=np.float64)
        rho = jet_rho(msd, pt)
        ok = np.isfinite(score) & ~np.isnan(rho)
        out = np.full(score.shape, np.nan)
        out[ok] = score[ok] - self.threshold(rho[ok], np.asarray(pt, dtype=np.float64)[ok])
        return out

    def check(self, models: Mapping[str, OnnxJetModel], scores: JsonObject,
              selection: FatJetSelection) -> None:
        """Refuse a map whose score or model is not among ``models``; warn (one line) when the
        jet selection differs from the one it was built with.

        Raises:
            JetCLRError: the score is not given by the models, or the model of that name is
                another file than the map was built from (its SHA-256 differs).
        """
        if self.score not in scores:
            raise JetCLRError(f"{self.path}: DDT map is for score {self.score!r} but the models give "
                              f"{sorted(scores)}")
        if not {"model", "model_sha256", "selection"} <= set(self.built_for):
            raise JetCLRError(f"{self.path}: the map does not record the model and selection it was built "
                              "for (made by an older jetclr-coffea?); rebuild it with ddt-map")
        model = models.get(self.built_for["model"])
        if model is None:
            raise JetCLRError(f"{self.path}: DDT map was built for model {self.built_for['model']!r}, "
                              f"not among {sorted(models)}")
        if model.fingerprint != self.built_for["model_sha256"]:
            raise JetCLRError(
                f"{self.path}: DDT map was built for another model file than {model.path} (sha256 "
                f"{self.built_for['model_sha256'][:12]} built from {self.built_for.get('model_path', '?')}, "
                f"{model.fingerprint[:12]} given); rebuild it with ddt-map")
        built, given = self.built_for["selection"], selection_record(selection)
        diff = [f"{k} {built.get(k)} -> {given.get(k)}" for k in sorted(set(built) | set(given))
                if built.get(k) != given.get(k)]
        if diff:
            warnings.warn(f"{self.path}: DDT map was built with another fat-jet selection "
                          f"({'; '.join(diff)})", UserWarning, stacklevel=3)


def selection_record(selection: FatJetSelection) -> JsonDict:
    """A jet selection as plain JSON values (an infinite cut as the string "inf")."""
    def plain(v: Any) -> Any:
        if isinstance(v, bool) or not isinstance(v, int | float):
            return v
        return float(v) if np.isfinite(v) else str(float(v))

    return {k: plain(v) for k, v in asdict(selection).items()}


def check_xsecs(fileset: Fileset) -> dict[str, float] | None:
    """The datasets' ``metadata.xsec`` (all or none given), checked; None where none is.

    Raises:
        JetCLRError: some datasets give one and others not, or one is not a positive number.
    """
    xsecs = {ds: (entry.get("metadata") or {}).get("xsec") for ds, entry in fileset.items()}
    given = [ds for ds, x in xsecs.items() if x is not None]
    if not given:
        return None
    if len(given) != len(xsecs):
        raise JetCLRError(f"xsec given for {sorted(given)} but not for "
                          f"{sorted(set(xsecs) - set(given))}: give it for every dataset or none")
    for ds in given:
        x = xsecs[ds]
        if isinstance(x, bool) or not isinstance(x, int | float) or not x > 0:
            raise JetCLRError(f"dataset {ds!r}: metadata xsec must be a positive number, got {x!r}")
    return {ds: float(x) for ds, x in xsecs.items()}  # type: ignore[arg-type]


def qcd_histogram(datasets: Mapping[str, DatasetResult], score: str, xsecs: Mapping[str, float] | None,
                  kind: str = "rho_pt_score") -> Any:
    """The summed QCD histogram ``kind`` of ``score`` (default the (rho, pT, score) one) over
    the processor's per-dataset results: as they are (genWeight-weighted), or each dataset
    weighted by its cross section over its sum of generator weights (``xsecs``, e.g.
    HT-binned QCD).

    Raises:
        JetCLRError: a weighted dataset's generator weights do not sum to a positive number,
            or no jet was scored.
    """
    total = None
    for ds, res in datasets.items():
        h = res.hists[hist_name(score, kind)]
        if xsecs is not None:
            sum_w = res.cutflow["events_weighted"]
            if sum_w <= 0:
                raise JetCLRError(f"dataset {ds!r}: generator weights sum to {sum_w:g}, cannot normalise")
            h = h * (xsecs[ds] / sum_w)
        total = h if total is None else total + h
    if total is None or total.sum(flow=True).value <= 0:
        raise JetCLRError("no scored jets in the fileset")
    return total


def ddt_document(
    counts: F64, rho_edges: F64, pt_edges: F64, score_edges: F64, *, score: str,
    efficiency: float, min_jets: float = 20.0, variances: F64 | None = None,
    description: str = "", built_for: JsonObject | None = None,
) -> JsonDict:
    """Compute and smooth a DDT map: the correctionlib JSON document (see :func:`build_ddt_map`)."""
    import correctionlib.schemav2 as cs

    if not 0.0 < efficiency < 1.0:
        raise ParameterError("efficiency", f"must be between 0 and 1, got {efficiency}")
    needed = max(min_jets, MIN_TAIL_JETS / efficiency)
    smoothed, _ = quantile_map(pool_counts(counts, needed, variances), score_edges, efficiency)
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
    doc: dict[str, Any] = cset.model_dump(mode="json", exclude_unset=True)
    doc[MAP_KEY] = {"score": score, "efficiency": efficiency, **(built_for or {})}
    return doc


def build_ddt_map(
    counts: F64, rho_edges: F64, pt_edges: F64, score_edges: F64, *, score: str,
    efficiency: float, output: str | os.PathLike[str], min_jets: float = 20.0,
    variances: F64 | None = None, description: str = "", built_for: JsonObject | None = None,
) -> Path:
    """Compute, smooth and write a DDT map as a correctionlib JSON (atomically).

    Args:
        counts: (n_rho, n_pt, n_score) QCD counts (weighted).
        rho_edges, pt_edges, score_edges: bin edges.
        score: the score's name (the correction is called ``ddt_<score>``).
        efficiency: QCD efficiency q of the selection ``score > threshold``.
        output: the JSON file.
        min_jets: bins with fewer effective QCD jets pool their neighbours' jets (see
            :func:`pool_counts`); raised to ``MIN_TAIL_JETS / efficiency`` where that is
            more, so that several jets lie above every threshold.
        variances: summed squared weights, as ``counts`` (None: unit weights).
        description: free text stored in the JSON.
        built_for: what the map is for (model name, ``model_sha256``, selection), stored
            under :data:`MAP_KEY`; :class:`DDTMap` refuses maps without it.
    """
    doc = ddt_document(counts, rho_edges, pt_edges, score_edges, score=score, efficiency=efficiency,
                       min_jets=min_jets, variances=variances, description=description,
                       built_for=built_for)
    with atomic_path(output) as tmp:
        tmp.write_text(json.dumps(doc, indent=1))
    return Path(output)
