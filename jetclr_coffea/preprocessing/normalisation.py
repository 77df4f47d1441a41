"""Transverse-momentum normalisation of jet constituents."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["pt_fraction"]

F64 = npt.NDArray[np.float64]


def pt_fraction(pt: F64, mask: npt.NDArray[np.bool_]) -> F64:
    """Each constituent's share of the jet's scalar pT sum (zero in padding)."""
    w = np.where(mask, pt, 0.0)
    total = w.sum(axis=1, keepdims=True)
    return np.asarray(np.where(total > 0, w / np.where(total > 0, total, 1.0), 0.0), dtype=np.float64)
