"""The histograms of a DDT analysis: their axes, their names, and their ROOT form.

Every histogram the processor fills is named by :func:`hist_name`:

* ``fatjet_msd_pt`` (msd x pT) of all selected jets;
* ``<score>__score_msd_pt`` (score x msd x pT) for every score of every model;
* ``<score>__rho_pt_score`` (rho x pT x score), what DDT maps are built from; its score
  axis is uniform in logit of the score's declared range (see :func:`ddt_score_edges`);
* ``<score>__ddt_msd_pt`` (pass x msd x pT) of every score whose DDT map is applied.

``<score>`` is ``<model>_<output>`` (``jetclr_top_tagger_score``).  Axis labels are
matplotlib notation (mplhep plots); :func:`to_root` gives ROOT's notation for
``hists.root``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import hist
import numpy as np
import numpy.typing as npt

__all__ = [
    "DDT_LOGIT_RANGE",
    "DDT_SCORE_BINS",
    "HIST_KINDS",
    "MSD_AXIS",
    "PT_EDGES",
    "RHO_AXIS",
    "SCORE_BINS",
    "WeightHist",
    "ddt_score_edges",
    "hist_name",
    "jet_rho",
    "new_hists",
    "to_root",
    "to_root_writable",
]

F64 = npt.NDArray[np.float64]
#: The processors' histograms: weighted (sums of weights and of their squares).
WeightHist = hist.Hist[hist.storage.Weight]

#: Binning of the standard histograms.
MSD_AXIS = (40, 0.0, 400.0)
PT_EDGES = (200.0, 300.0, 400.0, 500.0, 550.0, 600.0, 650.0, 700.0, 800.0, 1000.0, 1500.0)
#: rho = ln(msd^2 / pT^2) from -10: jets of msoftdrop >= 10 GeV up to pT 1.5 TeV have their own
#: bins; below, jets whose soft drop kept ~one particle share the first (underflow folded in).
#: From -8 (before 2026-12-04), the msd 10-20 GeV jets above 1 TeV shared a threshold with
#: msd ~ 0 jets, and darkclr_qcd's map did not close there (docs/phase_space.md).
RHO_AXIS = (36, -10.0, -1.0)
SCORE_BINS = 100
#: Score bins of the (rho, pT, score) histogram that DDT maps are built from, and the
#: logit range they span: a tagger's QCD scores pile up at one end of the range (half of
#: them below 1e-3 for the shipped tagger) and a quantile is read off this histogram, so
#: its edges are uniform in logit((score - lo) / (hi - lo)): 5 % of the distance to the
#: end near either end (down to 5e-5 of the range), 1.25 % of the range in the middle.
DDT_SCORE_BINS = 400
DDT_LOGIT_RANGE = 10.0

#: The per-score histogram kinds (see the module docstring).
HIST_KINDS = ("score_msd_pt", "rho_pt_score", "ddt_msd_pt")

#: Axis titles in ROOT's notation (TLatex), for ``hists.root``.
ROOT_AXIS_TITLES = {
    "msd": "m_{SD} [GeV]",
    "pt": "fat-jet p_{T} [GeV]",
    "rho": "#rho = ln(m_{SD}^{2}/p_{T}^{2})",
    "pass": "passes DDT",
}


def hist_name(score: str | None, kind: str) -> str:
    """The name of a histogram: ``hist_name("jetclr_top_tagger_score", "ddt_msd_pt")``;
    ``hist_name(None, "fatjet_msd_pt")`` for the score-less one."""
    if score is None:
        if kind != "fatjet_msd_pt":
            raise ValueError(f"kind {kind!r} needs a score")
        return kind
    if kind not in HIST_KINDS:
        raise ValueError(f"unknown histogram kind {kind!r} (known: {', '.join(HIST_KINDS)})")
    return f"{score}__{kind}"


def jet_rho(msd: F64, pt: F64) -> F64:
    """rho = ln(msd^2 / pT^2).

    Jets with msd <= 0 (soft drop kept a single prong; the generator and CMS also write
    rounding negatives such as -1.4e-5) get rho = -inf: below every map's range, so a DDT
    map takes them in its lowest rho bin, as it does every jet below its range, and the
    histograms count them in the rho underflow.  NaN only where pT <= 0 or an input is
    not finite.
    """
    msd = np.asarray(msd, dtype=np.float64)
    pt = np.asarray(pt, dtype=np.float64)
    ok = np.isfinite(msd) & np.isfinite(pt) & (pt > 0)
    pos = ok & (msd > 0)
    rho = np.where(pos, 2.0 * np.log(np.where(pos, msd, 1.0) / np.where(pos, pt, 1.0)), -np.inf)
    return np.where(ok, rho, np.nan)


def ddt_score_edges(lo: float, hi: float) -> F64:
    """Edges of the DDT histogram's score axis: uniform in logit, ``lo`` and ``hi`` included."""
    t = np.linspace(-DDT_LOGIT_RANGE, DDT_LOGIT_RANGE, DDT_SCORE_BINS + 1)
    edges = lo + (hi - lo) / (1.0 + np.exp(-t))
    edges[0], edges[-1] = lo, hi
    return edges


def _axes() -> tuple[Any, Any, Any]:
    pt_axis = hist.axis.Variable(PT_EDGES, name="pt", label="fat-jet $p_T$ [GeV]")
    msd_axis = hist.axis.Regular(*MSD_AXIS, name="msd", label="$m_{SD}$ [GeV]")
    rho_axis = hist.axis.Regular(*RHO_AXIS, name="rho", label=r"$\rho = \ln(m_{SD}^2/p_T^2)$")
    return pt_axis, msd_axis, rho_axis


def new_hists(scores: dict[str, tuple[float, float]], ddt: str | Sequence[str] | None
              ) -> dict[str, WeightHist]:
    """Empty histograms for ``scores`` (name -> declared range) and the DDT score(s) ``ddt``."""
    pt_axis, msd_axis, rho_axis = _axes()
    weight = hist.storage.Weight()
    out: dict[str, WeightHist] = {
        hist_name(None, "fatjet_msd_pt"): hist.Hist(msd_axis, pt_axis, storage=weight)}
    for name, (lo, hi) in scores.items():
        out[hist_name(name, "score_msd_pt")] = hist.Hist(
            hist.axis.Regular(SCORE_BINS, lo, hi, name="score", label=name), msd_axis, pt_axis,
            storage=weight)
        out[hist_name(name, "rho_pt_score")] = hist.Hist(
            rho_axis, pt_axis, hist.axis.Variable(ddt_score_edges(lo, hi), name="score", label=name),
            storage=weight)
    for name in (() if ddt is None else (ddt,) if isinstance(ddt, str) else ddt):
        passed = hist.axis.Integer(0, 2, name="pass", label="passes DDT", underflow=False, overflow=False)
        out[hist_name(name, "ddt_msd_pt")] = hist.Hist(passed, msd_axis, pt_axis, storage=weight)
    return out


def to_root(h: Any, name: str, dataset: str) -> Any:
    """A copy of ``h`` for ROOT: a title (``<dataset>: <name>``), axis titles in ROOT's
    notation, and the pass axis as labelled bins ``fail``, ``pass``."""
    axes = []
    for ax in h.axes:
        title = ROOT_AXIS_TITLES.get(ax.name, ax.label)
        if ax.name == "pass":
            axes.append(hist.axis.StrCategory(["fail", "pass"], name="pass", label=title, overflow=False))
        else:
            axes.append(_relabel(ax, title))
    out = hist.Hist(*axes, storage=hist.storage.Weight(), name=f"{dataset}: {name}")
    view = out.view(flow=True)
    src = h.view(flow=True)
    view["value"] = src["value"]
    view["variance"] = src["variance"]
    return out


def _set_member(obj: Any, key: str, value: float) -> bool:
    """Set a streamed member of an uproot model, wherever in its bases it lives."""
    if key in obj._members:
        obj._members[key] = value
        return True
    return any(_set_member(base, key, value) for base in obj._bases)


def to_root_writable(h: Any, name: str, dataset: str) -> Any:
    """:func:`to_root` as the uproot object written to ``hists.root``, with ROOT's global
    statistics right for weighted fills: ``fTsumw2`` the sum of squared weights in range
    (uproot sets it to the sum of weights), ``fEntries`` the effective entries
    ``(sum w)^2 / sum w^2`` over every bin, flow included (the number of fills for unit
    weights; the histograms keep no count of fills)."""
    import uproot.writing.identify

    out = uproot.writing.identify.to_writable(to_root(h, name, dataset))
    view = h.view(flow=True)
    sumw_flow, sumw2_flow = float(view["value"].sum()), float(view["variance"].sum())
    _set_member(out, "fTsumw2", float(h.variances().sum()))
    _set_member(out, "fEntries", sumw_flow**2 / sumw2_flow if sumw2_flow > 0 else 0.0)
    return out


def _relabel(ax: Any, title: str) -> Any:
    kwargs = {"name": ax.name, "label": title, "underflow": ax.traits.underflow,
              "overflow": ax.traits.overflow}
    if isinstance(ax, hist.axis.Regular):
        return hist.axis.Regular(len(ax), ax.edges[0], ax.edges[-1], **kwargs)
    if isinstance(ax, hist.axis.Variable):
        return hist.axis.Variable(ax.edges, **kwargs)
    if isinstance(ax, hist.axis.Integer):
        return hist.axis.Integer(int(ax.edges[0]), int(ax.edges[-1]), **kwargs)
    raise TypeError(f"no ROOT form for axis {ax!r}")  # pragma: no cover
