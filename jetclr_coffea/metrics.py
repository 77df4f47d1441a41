"""ROC metrics of a score, and their statistical uncertainties by bootstrap.

``auc``: the probability that a signal jet scores above a background jet; ``r50`` and
``r20``: the inverse background efficiency at 50 % and 20 % signal efficiency (larger:
better), interpolated on the ROC curve.  :func:`bootstrap` resamples the signal and the
background jets (with replacement, each on its own, seeded) and gives each metric's
standard deviation over the resamples as its uncertainty.

Every function takes optional per-jet weights (``genWeight`` of a biased-pT sample): the
efficiencies are then sums of weights, so the metrics are those of the physical spectrum;
resampled jets keep their weights.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["Weights", "area", "auc", "bootstrap", "r_at", "roc", "roc_metrics"]

F64 = npt.NDArray[np.float64]


#: Per-jet weights of the signal and of the background jets (``None``: all 1).
Weights = tuple[F64, F64] | None


def roc(signal: F64, background: F64, weights: Weights = None) -> tuple[F64, F64]:
    """(false-positive rate, true-positive rate) of ``score > threshold`` over all thresholds."""
    s = np.concatenate([np.asarray(signal, np.float64), np.asarray(background, np.float64)])
    y = np.concatenate([np.ones(len(signal)), np.zeros(len(background))])
    w = np.ones(len(s)) if weights is None else np.concatenate([weights[0], weights[1]]).astype(np.float64)
    order = np.argsort(-s, kind="stable")
    s, y, w = s[order], y[order], w[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # the last entry of each distinct score
    tp = np.cumsum(y * w)[last]
    fp = np.cumsum((1 - y) * w)[last]
    n_s, n_b = (tp[-1], fp[-1]) if len(s) else (0.0, 0.0)
    return np.r_[0.0, fp / (n_b if n_b > 0 else 1.0)], np.r_[0.0, tp / (n_s if n_s > 0 else 1.0)]


def auc(signal: F64, background: F64, weights: Weights = None) -> float:
    """P(signal score > background score) + P(equal) / 2: the area under the ROC curve
    (trapezoids: ties count one half, as in Mann-Whitney's U)."""
    return area(*roc(signal, background, weights))


def area(fpr: F64, tpr: F64) -> float:
    """The area under a ROC curve (trapezoids)."""
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def r_at(fpr: F64, tpr: F64, efficiency: float = 0.5) -> float:
    """Inverse background efficiency at signal efficiency ``efficiency`` (interpolated)."""
    eps_b = float(np.interp(efficiency, tpr, fpr))
    return 1.0 / eps_b if eps_b > 0 else float("inf")


def roc_metrics(signal: F64, background: F64, weights: Weights = None) -> dict[str, float]:
    """``{"auc", "r50", "r20"}`` of a score (larger: more signal-like)."""
    fpr, tpr = roc(signal, background, weights)
    area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    return {"auc": area, "r50": r_at(fpr, tpr, 0.5), "r20": r_at(fpr, tpr, 0.2)}


def bootstrap(signal: F64, background: F64, n: int = 200, seed: int = 0,
              paired: tuple[F64, F64] | None = None, weights: Weights = None) -> dict[str, float]:
    """``roc_metrics`` with ``<name>_err``: the standard deviation over ``n`` bootstrap resamples.

    With ``paired`` (another score of the same signal and background jets), the same
    resamples also give ``d_<name>`` and ``d_<name>_err``: the difference of the metrics
    (this score's minus the other's), its uncertainty taking the correlation into account.
    ``weights`` weight the jets of both scores alike.
    """
    signal, background = np.asarray(signal, np.float64), np.asarray(background, np.float64)
    ws, wb = (np.ones(len(signal)), np.ones(len(background))) if weights is None else weights
    out: dict[str, float] = dict(roc_metrics(signal, background, weights))
    other = None if paired is None else (np.asarray(paired[0], np.float64), np.asarray(paired[1], np.float64))
    if other is not None:
        ref = roc_metrics(*other, weights)
        for k in ("auc", "r50", "r20"):
            out[f"d_{k}"] = out[k] - ref[k]
    rng = np.random.default_rng(seed)
    samples: dict[str, list[float]] = {}
    for _ in range(n):
        i = rng.integers(0, len(signal), len(signal))
        j = rng.integers(0, len(background), len(background))
        w = None if weights is None else (ws[i], wb[j])
        m = roc_metrics(signal[i], background[j], w)
        for k, v in m.items():
            samples.setdefault(k, []).append(v)
        if other is not None:
            o = roc_metrics(other[0][i], other[1][j], w)
            for k in ("auc", "r50", "r20"):
                samples.setdefault(f"d_{k}", []).append(m[k] - o[k])
    for k, values in samples.items():
        finite = np.asarray(values)[np.isfinite(values)]
        out[f"{k}_err"] = float(np.std(finite, ddof=1)) if len(finite) > 1 else float("nan")
    return out
