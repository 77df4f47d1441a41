"""Centre constituents on the pT-weighted centroid of the jet in (eta, phi)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from jetclr_coffea.preprocessing._array import where0, xp

__all__ = ["centre", "shift_to_centroid", "wrap_phi"]

F64 = npt.NDArray[np.float64]


def wrap_phi(phi: F64) -> F64:
    """Map angles into [-pi, pi)."""
    return np.asarray((phi + np.pi) % (2.0 * np.pi) - np.pi, dtype=np.float64)


def centre(eta: F64, phi: F64, pt: F64, mask: npt.NDArray[np.bool_]) -> tuple[F64, F64]:
    """Delta eta and Delta phi of each constituent from the pT-weighted centroid.

    Azimuths are first taken relative to the hardest constituent, so jets that straddle
    phi = +-pi are centred correctly.  Padded entries (``mask`` False) stay at zero.

    Args:
        eta, phi, pt: (n_jets, n) padded constituent arrays; the hardest first.
        mask: (n_jets, n) True for real constituents.
    """
    w = np.where(mask, pt, 0.0)
    total = w.sum(axis=1, keepdims=True)
    total = np.where(total > 0, total, 1.0)
    rel_phi = wrap_phi(phi - phi[:, :1])
    eta_c = (w * eta).sum(axis=1, keepdims=True) / total
    phi_c = (w * rel_phi).sum(axis=1, keepdims=True) / total
    deta = np.where(mask, eta - eta_c, 0.0)
    dphi = np.where(mask, wrap_phi(rel_phi - phi_c), 0.0)
    return deta, dphi


def shift_to_centroid(deta: Any, dphi: Any, pt: Any, mask: Any) -> tuple[Any, Any]:
    """Shift already centred constituents so that their pT-weighted centroid is the origin.

    For jets in their own frame (no azimuth wrap needed), numpy arrays or torch tensors:
    augmentations that remove constituents (DarkCLR's anomalous copies) re-centre with it.
    """
    w = where0(mask, pt)
    total = w.sum(1, keepdims=True)
    total = xp(total).where(total > 0, total, 1.0 + 0.0 * total)
    eta0 = (w * deta).sum(1, keepdims=True) / total
    phi0 = (w * dphi).sum(1, keepdims=True) / total
    return where0(mask, deta - eta0), where0(mask, dphi - phi0)
