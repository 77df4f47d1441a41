"""How much a cut on a score sculpts the QCD jet-mass spectrum.

A tagger used in a bump hunt must not turn the smoothly falling QCD msoftdrop spectrum
into a peak: the standard figure is the Jensen-Shannon divergence between the QCD mass
distributions of the jets that pass and that fail a cut on the score, at a fixed signal
efficiency (0: the same shape, no sculpting; 1: disjoint).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["MSD_EDGES", "jensen_shannon", "mass_matching_weights", "mass_sculpting"]

F64 = npt.NDArray[np.float64]

#: msoftdrop bins (GeV) of the pass and fail distributions.
MSD_EDGES = np.linspace(0.0, 300.0, 31)


def jensen_shannon(p: F64, q: F64) -> float:
    """Jensen-Shannon divergence (base 2, in [0, 1]) of two histograms (normalised here)."""
    p = np.asarray(p, dtype=np.float64) / np.sum(p)
    q = np.asarray(q, dtype=np.float64) / np.sum(q)
    m = 0.5 * (p + q)

    def kl(a: F64) -> float:
        ok = a > 0
        return float(np.sum(a[ok] * np.log2(a[ok] / m[ok])))

    return 0.5 * kl(p) + 0.5 * kl(q)


def _msd_histogram(msd: F64, edges: F64) -> F64:
    """Counts of ``msd`` in ``edges``, values outside the range in the first or last bin."""
    h, _ = np.histogram(np.clip(msd, edges[0], edges[-1] - 1e-9), edges)
    return np.asarray(h, dtype=np.float64)


def mass_sculpting(signal: F64, background: F64, background_msd: F64, *,
                   signal_efficiency: float = 0.5, edges: F64 = MSD_EDGES) -> float:
    """JSD of the background's msoftdrop spectrum passing vs failing ``score > cut``.

    Args:
        signal: signal jets' scores (larger: more signal-like); they set the cut.
        background: background jets' scores.
        background_msd: the background jets' msoftdrop (GeV); overflow goes to the last bin.
        signal_efficiency: the fraction of signal jets the cut keeps.
        edges: msoftdrop bin edges.

    Returns:
        The divergence; NaN when the cut passes or fails every background jet.
    """
    cut = np.quantile(signal, 1.0 - signal_efficiency)
    passed = background > cut
    if passed.all() or not passed.any():
        return float("nan")
    return jensen_shannon(_msd_histogram(background_msd[passed], edges),
                          _msd_histogram(background_msd[~passed], edges))


def mass_matching_weights(signal_msd: F64, background_msd: F64, edges: F64 = MSD_EDGES) -> F64:
    """Per-signal-jet weights that give the signal the background's msoftdrop spectrum.

    CoDec's "1D flattening": a classifier fitted with these weights cannot prefer a jet
    for its mass alone.  Weights are the ratio of the two normalised histograms in the
    jet's mass bin (overflow in the last bin), normalised to a mean of 1; signal jets in
    bins without background get 0.
    """
    def shape(m: F64) -> F64:
        h = _msd_histogram(m, edges)
        return np.asarray(h / max(h.sum(), 1.0), dtype=np.float64)

    sig, bkg = shape(signal_msd), shape(background_msd)
    ratio = np.where(sig > 0, bkg / np.where(sig > 0, sig, 1.0), 0.0)
    idx = np.clip(np.digitize(signal_msd, edges) - 1, 0, len(edges) - 2)
    w: F64 = np.asarray(ratio[idx], dtype=np.float64)
    return w / w.mean() if w.sum() > 0 else w
