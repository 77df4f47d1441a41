"""The array namespace of an argument: numpy for arrays, torch for tensors.

The preprocessing functions that run in training (on torch tensors, after augmentation)
and in inference (on numpy arrays) take their array library from their inputs, as
scikit-hep/vector's ``_compute`` functions do, so both compute the same numbers with the
same code.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["where0", "xp"]


def xp(a: Any) -> Any:
    """The array namespace of ``a``: torch for tensors, numpy otherwise."""
    if type(a).__module__.startswith("torch"):
        import torch

        return torch
    return np


def where0(mask: Any, x: Any) -> Any:
    """``x`` where ``mask``, else 0 (in ``x``'s library and dtype)."""
    return xp(x).where(mask, x, 0.0 * x)
