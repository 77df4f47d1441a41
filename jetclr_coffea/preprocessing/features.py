"""Per-constituent input features, selectable by name.

The feature functions work on numpy arrays (inference) and on torch tensors (training,
after augmentation) alike, so both compute exactly the same features.

``deta_pt``, ``dphi_pt`` and ``dr_pt`` are the angles times the jet's pT in TeV (the sum of
its kept constituents' pT): a decay's opening angle is ~ 2 m / pT, so in these coordinates a
boosted top or W makes the same pattern at every pT, and the jet mass is a function of them
and the pT fractions (m^2 ~ pT^2 sum_ij z_i z_j dR_ij^2 / 2).  They stay IRC-safe: the jet's
pT does not change when a constituent splits collinearly or a soft one is added.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jetclr_coffea.preprocessing._array import where0, xp

__all__ = ["FEATURES", "ConstituentArrays", "compute_features"]


@dataclass(frozen=True)
class ConstituentArrays:
    """Padded (n_jets, n_max) arrays of one batch of jets after centring/rotation.

    numpy arrays or torch tensors; ``mask`` is boolean.
    """

    deta: Any
    dphi: Any
    pt: Any
    energy: Any
    charge: Any
    mask: Any


_xp = xp
_where = where0


def _log(x: Any, mask: Any) -> Any:
    xp = _xp(x)
    ok = mask & (x > 0)
    return _where(mask, xp.log(xp.where(ok, x, 1.0 + 0.0 * x)))


def _rel(x: Any, mask: Any) -> Any:
    xp = _xp(x)
    masked = _where(mask, x)
    total = masked.sum(axis=1, keepdims=True)
    return _where(mask, masked / xp.where(total > 0, total, 1.0 + 0.0 * total))


def _jet_pt_tev(c: ConstituentArrays) -> Any:
    """(n_jets, 1) sum of the kept constituents' pT in TeV."""
    return _where(c.mask, c.pt).sum(axis=1, keepdims=True) / 1000.0


FEATURES: dict[str, Callable[[ConstituentArrays], Any]] = {
    "deta": lambda c: c.deta,
    "dphi": lambda c: c.dphi,
    "dr": lambda c: _xp(c.deta).hypot(c.deta, c.dphi),
    "deta_pt": lambda c: c.deta * _jet_pt_tev(c),
    "dphi_pt": lambda c: c.dphi * _jet_pt_tev(c),
    "dr_pt": lambda c: _xp(c.deta).hypot(c.deta, c.dphi) * _jet_pt_tev(c),
    "log_pt": lambda c: _log(c.pt, c.mask),
    "log_e": lambda c: _log(c.energy, c.mask),
    "pt_rel": lambda c: _rel(c.pt, c.mask),
    "log_pt_rel": lambda c: _log(_rel(c.pt, c.mask), c.mask),
    "log_e_rel": lambda c: _log(_rel(c.energy, c.mask), c.mask),
    "charge": lambda c: _where(c.mask, c.charge),
}


def compute_features(arrays: ConstituentArrays, names: tuple[str, ...]) -> Any:
    """Stack the named features into (n_jets, n_max, len(names)); padding is zero.

    Raises:
        ValueError: an unknown feature name.
    """
    unknown = [n for n in names if n not in FEATURES]
    if unknown:
        raise ValueError(f"unknown feature(s) {unknown}; known: {sorted(FEATURES)}")
    xp = _xp(arrays.deta)
    out = xp.stack([_where(arrays.mask, FEATURES[n](arrays)) for n in names], -1)
    return out
