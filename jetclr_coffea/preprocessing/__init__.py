"""Constituent preprocessing shared by training and inference.

Every model sees its inputs prepared by :func:`prepare` with the :class:`PreprocessSpec`
stored in its ONNX metadata, so a processor prepares jets exactly as training did.
Each step is a small pure function in its own module.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import awkward as ak
import numpy as np
import numpy.typing as npt

from jetclr_coffea.preprocessing.centring import centre, wrap_phi
from jetclr_coffea.preprocessing.features import FEATURES, ConstituentArrays, compute_features
from jetclr_coffea.preprocessing.normalisation import pt_fraction
from jetclr_coffea.preprocessing.padding import pad_fields, sort_by_pt
from jetclr_coffea.preprocessing.rotation import principal_angle, rotate

__all__ = [
    "FEATURES",
    "ConstituentArrays",
    "Prepared",
    "PreprocessSpec",
    "centre",
    "compute_features",
    "kinematics",
    "pad_fields",
    "prepare",
    "principal_angle",
    "pt_fraction",
    "rotate",
    "sort_by_pt",
    "wrap_phi",
]


@dataclass(frozen=True)
class PreprocessSpec:
    """How constituents become model inputs.

    Attributes:
        features: feature names, see :data:`FEATURES`.
        n_max: constituents kept per jet (the hardest ones).
        centre: centre on the pT-weighted centroid.
        rotate: rotate the principal axis onto Delta eta.
    """

    features: tuple[str, ...] = ("deta", "dphi", "log_pt_rel", "log_e_rel", "dr")
    n_max: int = 50
    centre: bool = True
    rotate: bool = True

    def __post_init__(self) -> None:
        unknown = [n for n in self.features if n not in FEATURES]
        if unknown:
            raise ValueError(f"unknown feature(s) {unknown}; known: {sorted(FEATURES)}")
        if self.n_max <= 0:
            raise ValueError(f"n_max must be positive, got {self.n_max}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["features"] = list(self.features)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreprocessSpec:
        known = {f.name for f in fields(cls)}
        extra = set(data) - known
        if extra:
            raise ValueError(f"unknown preprocessing keys {sorted(extra)}")
        values = dict(data)
        if "features" in values:
            values["features"] = tuple(values["features"])
        return cls(**values)


@dataclass(frozen=True)
class Prepared:
    """Model inputs for a batch of jets.

    Attributes:
        x: (n_jets, n_max, n_features) float32 features, zero in padding.
        mask: (n_jets, n_max) True for real constituents.
        weight: (n_jets, n_max) float32 pT fractions (for IRC-safe models).
    """

    x: npt.NDArray[np.float32]
    mask: npt.NDArray[np.bool_]
    weight: npt.NDArray[np.float32]


def kinematics(constituents: ak.Array, spec: PreprocessSpec) -> ConstituentArrays:
    """Sort by pT, truncate/pad to ``spec.n_max``, centre and rotate.

    Non-finite or non-positive-pT constituents are masked out.

    Args:
        constituents: jets x var records with pt, eta, phi, mass (charge optional).
        spec: the preprocessing.
    """
    ordered = sort_by_pt(constituents)
    names = ("pt", "eta", "phi", "mass") + (("charge",) if "charge" in ak.fields(ordered) else ())
    v, mask = pad_fields(ordered, names, spec.n_max)
    pt = np.nan_to_num(v["pt"], nan=0.0, posinf=0.0, neginf=0.0)
    mask = mask & (pt > 0) & np.isfinite(v["eta"]) & np.isfinite(v["phi"])
    pt = np.where(mask, pt, 0.0)
    eta = np.where(mask, v["eta"], 0.0)
    phi = np.where(mask, v["phi"], 0.0)
    mass = np.where(mask & np.isfinite(v["mass"]), v["mass"], 0.0)
    energy = np.sqrt((pt * np.cosh(eta)) ** 2 + mass**2)
    if spec.centre:
        deta, dphi = centre(eta, phi, pt, mask)
    else:
        deta, dphi = eta, wrap_phi(phi)
    if spec.rotate:
        deta, dphi = rotate(deta, dphi, principal_angle(deta, dphi, pt, mask))
        deta, dphi = np.where(mask, deta, 0.0), np.where(mask, dphi, 0.0)
    charge = np.where(mask, v["charge"], 0.0) if "charge" in v else np.zeros_like(pt)
    return ConstituentArrays(deta=deta, dphi=dphi, pt=pt, energy=energy, charge=charge, mask=mask)


def prepare(constituents: ak.Array, spec: PreprocessSpec) -> Prepared:
    """Model inputs: :func:`kinematics`, then :func:`compute_features`.

    Args:
        constituents: jets x var records with pt, eta, phi, mass (charge optional).
        spec: the preprocessing.
    """
    arrays = kinematics(constituents, spec)
    x = compute_features(arrays, spec.features)
    return Prepared(
        x=np.asarray(x, dtype=np.float32),
        mask=arrays.mask,
        weight=pt_fraction(arrays.pt, arrays.mask).astype(np.float32),
    )
