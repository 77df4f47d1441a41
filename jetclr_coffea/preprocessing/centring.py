"""Centre constituents on the pT-weighted centroid of the jet in (eta, phi)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["centre", "wrap_phi"]

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
