"""Per-constituent input features, selectable by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["FEATURES", "ConstituentArrays", "compute_features"]

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ConstituentArrays:
    """Padded (n_jets, n_max) arrays of one batch of jets after centring/rotation."""

    deta: F64
    dphi: F64
    pt: F64
    energy: F64
    charge: F64
    mask: npt.NDArray[np.bool_]


def _log(x: F64, mask: npt.NDArray[np.bool_]) -> F64:
    return np.where(mask, np.log(np.where(mask & (x > 0), x, 1.0)), 0.0)


def _rel(x: F64, mask: npt.NDArray[np.bool_]) -> F64:
    total = np.where(mask, x, 0.0).sum(axis=1, keepdims=True)
    return np.where(mask, x / np.where(total > 0, total, 1.0), 0.0)


FEATURES: dict[str, Callable[[ConstituentArrays], F64]] = {
    "deta": lambda c: c.deta,
    "dphi": lambda c: c.dphi,
    "dr": lambda c: np.hypot(c.deta, c.dphi),
    "log_pt": lambda c: _log(c.pt, c.mask),
    "log_e": lambda c: _log(c.energy, c.mask),
    "pt_rel": lambda c: _rel(c.pt, c.mask),
    "log_pt_rel": lambda c: _log(_rel(c.pt, c.mask), c.mask),
    "log_e_rel": lambda c: _log(_rel(c.energy, c.mask), c.mask),
    "charge": lambda c: np.where(c.mask, c.charge, 0.0),
}


def compute_features(arrays: ConstituentArrays, names: tuple[str, ...]) -> F64:
    """Stack the named features into (n_jets, n_max, len(names)); padding is zero.

    Raises:
        ValueError: an unknown feature name.
    """
    unknown = [n for n in names if n not in FEATURES]
    if unknown:
        raise ValueError(f"unknown feature(s) {unknown}; known: {sorted(FEATURES)}")
    out = np.stack([FEATURES[n](arrays) for n in names], axis=-1)
    return np.where(arrays.mask[..., None], out, 0.0)
