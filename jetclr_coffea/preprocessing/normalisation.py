"""Transverse-momentum normalisation of jet constituents."""

from __future__ import annotations

from typing import Any

from jetclr_coffea.preprocessing._array import where0, xp

__all__ = ["pt_fraction"]


def pt_fraction(pt: Any, mask: Any) -> Any:
    """Each constituent's share of the jet's scalar pT sum (zero in padding).

    numpy arrays or torch tensors, (n_jets, n) each; ``mask`` boolean.
    """
    w = where0(mask, pt)
    total = w.sum(1, keepdims=True)
    safe = xp(total).where(total > 0, total, 1.0 + 0.0 * total)
    return where0(total > 0, w / safe)
