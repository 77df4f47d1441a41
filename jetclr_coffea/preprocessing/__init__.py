"""Constituent preprocessing shared by training and inference: one path to model inputs.

constituents (awkward, jets x var) --:func:`kinematics`--> padded kinematics in the jet
frame (:class:`ConstituentArrays`, numpy) --:func:`model_inputs`--> (x, mask).  Inference
runs both steps on numpy; training runs :func:`kinematics` once when it reads the files,
augments the kinematics as torch tensors, and runs the same :func:`model_inputs` on them;
:func:`prepare` is both steps in one call.  Every model stores its
:class:`PreprocessSpec` and mask kind in its model card, so a processor prepares jets
exactly as training did.  Each step is a small pure function in its own module.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import awkward as ak
import numpy as np
import numpy.typing as npt

from jetclr_coffea._io import JsonDict, JsonObject
from jetclr_coffea.preprocessing.centring import centre, shift_to_centroid, wrap_phi
from jetclr_coffea.preprocessing.features import FEATURES, ConstituentArrays, compute_features
from jetclr_coffea.preprocessing.inputs import MASK_KINDS, model_inputs
from jetclr_coffea.preprocessing.jet_features import (
    JET_FEATURES,
    check_jet_features,
    jet_feature_fields,
    jet_features,
)
from jetclr_coffea.preprocessing.normalisation import pt_fraction
from jetclr_coffea.preprocessing.padding import pad_fields, sort_by_pt
from jetclr_coffea.preprocessing.rotation import principal_angle, rotate
from jetclr_coffea.preprocessing.validity import bad_jets, physical

__all__ = [
    "FEATURES",
    "JET_FEATURES",
    "MASK_KINDS",
    "ConstituentArrays",
    "PreprocessSpec",
    "bad_jets",
    "centre",
    "check_jet_features",
    "compute_features",
    "jet_feature_fields",
    "jet_features",
    "kinematics",
    "model_inputs",
    "pad_fields",
    "physical",
    "prepare",
    "principal_angle",
    "pt_fraction",
    "rotate",
    "shift_to_centroid",
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

    @property
    def candidate_fields(self) -> tuple[str, ...]:
        """The PF-candidate fields these inputs are computed from (what a reader must read):
        pt, eta, phi always; mass for energy features; charge for the charge feature."""
        energy = any(f in ("log_e", "log_e_rel") for f in self.features)
        return ("pt", "eta", "phi") + (("mass",) if energy else ()) + (
            ("charge",) if "charge" in self.features else ())

    def to_dict(self) -> JsonDict:
        d = asdict(self)
        d["features"] = list(self.features)
        return d

    @classmethod
    def from_dict(cls, data: JsonObject) -> PreprocessSpec:
        known = {f.name for f in fields(cls)}
        extra = set(data) - known
        if extra:
            raise ValueError(f"unknown preprocessing keys {sorted(extra)}")
        values: dict[str, Any] = dict(data)  # checked by __post_init__
        if "features" in values:
            values["features"] = tuple(values["features"])
        return cls(**values)


def kinematics(constituents: ak.Array, spec: PreprocessSpec) -> ConstituentArrays:
    """Sort by pT, truncate/pad to ``spec.n_max``, centre and rotate.

    Constituents with non-positive pT or unphysical kinematics (:func:`physical`: NaN,
    infinite, |eta| >= 10, ...) are masked out; :func:`bad_jets` finds the jets that held
    such a constituent, which a model sets aside.

    Args:
        constituents: jets x var records with pt, eta, phi, mass (charge optional).
        spec: the preprocessing.
    """
    ordered = sort_by_pt(constituents)
    names = ("pt", "eta", "phi", "mass") + (("charge",) if "charge" in ak.fields(ordered) else ())
    v, mask = pad_fields(ordered, names, spec.n_max)
    mask = mask & physical(v["pt"], v["eta"], v["phi"], v["mass"]) & (np.nan_to_num(v["pt"]) > 0)
    pt = np.where(mask, v["pt"], 0.0)
    eta = np.where(mask, v["eta"], 0.0)
    phi = np.where(mask, v["phi"], 0.0)
    mass = np.where(mask, np.clip(v["mass"], 0.0, None), 0.0)
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


def prepare(constituents: ak.Array, spec: PreprocessSpec,
            mask_kind: str = "binary") -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Model inputs (x, mask) of jets: :func:`kinematics`, then :func:`model_inputs`.

    Args:
        constituents: jets x var records with pt, eta, phi, mass (charge optional).
        spec: the preprocessing.
        mask_kind: "binary" or "pt_fraction" (IRC-safe models), see :data:`MASK_KINDS`.
    """
    x, mask = model_inputs(kinematics(constituents, spec), spec.features, mask_kind)
    return np.asarray(x, dtype=np.float32), np.asarray(mask, dtype=np.float32)
