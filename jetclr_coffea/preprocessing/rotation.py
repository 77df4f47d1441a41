"""Rotate centred constituents so the jet's principal axis lies along Delta eta."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["principal_angle", "rotate"]

F64 = npt.NDArray[np.float64]


def principal_angle(deta: F64, dphi: F64, pt: F64, mask: npt.NDArray[np.bool_]) -> F64:
    """Angle of the principal axis of the pT-weighted (Delta eta, Delta phi) inertia tensor.

    Returns:
        (n_jets,) angles in (-pi/2, pi/2].
    """
    w = np.where(mask, pt, 0.0)
    sxx = (w * deta * deta).sum(axis=1)
    syy = (w * dphi * dphi).sum(axis=1)
    sxy = (w * deta * dphi).sum(axis=1)
    return np.asarray(0.5 * np.arctan2(2.0 * sxy, sxx - syy), dtype=np.float64)


def rotate(deta: F64, dphi: F64, angle: F64) -> tuple[F64, F64]:
    """Rotate each jet's constituents by ``-angle`` about the jet axis."""
    c = np.cos(angle)[:, None]
    s = np.sin(angle)[:, None]
    return c * deta + s * dphi, -s * deta + c * dphi
