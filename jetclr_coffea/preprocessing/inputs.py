"""Model inputs from padded constituent kinematics: the one path training and inference share.

:func:`model_inputs` turns the padded kinematics of a batch of jets (numpy arrays in
inference, torch tensors in training after augmentation) into the two inputs of every
exported model: the features (n_jets, n_max, n_features) and the mask (n_jets, n_max),
binary or the pT fractions (IRC-safe models).
"""

from __future__ import annotations

from typing import Any

from jetclr_coffea.preprocessing._array import xp
from jetclr_coffea.preprocessing.features import ConstituentArrays, compute_features
from jetclr_coffea.preprocessing.normalisation import pt_fraction

__all__ = ["MASK_KINDS", "model_inputs"]

#: ``binary``: 1 for real constituents; ``pt_fraction``: their share of the jet's pT.
MASK_KINDS = ("binary", "pt_fraction")


def model_inputs(arrays: ConstituentArrays, features: tuple[str, ...], mask_kind: str) -> tuple[Any, Any]:
    """(x, mask): features (n_jets, n_max, F) and mask (n_jets, n_max), float32.

    Args:
        arrays: padded kinematics in the jet frame (numpy or torch, see
            :func:`jetclr_coffea.preprocessing.kinematics`).
        features: feature names (:data:`jetclr_coffea.preprocessing.FEATURES`).
        mask_kind: one of :data:`MASK_KINDS`.
    """
    if mask_kind not in MASK_KINDS:
        raise ValueError(f"mask_kind must be one of {', '.join(MASK_KINDS)}, got {mask_kind!r}")
    lib = xp(arrays.deta)
    x = compute_features(arrays, features)
    mask = pt_fraction(arrays.pt, arrays.mask) if mask_kind == "pt_fraction" else arrays.mask
    if lib.__name__ == "torch":
        return x.to(lib.float32), mask.to(lib.float32)
    return x.astype("float32"), mask.astype("float32")
