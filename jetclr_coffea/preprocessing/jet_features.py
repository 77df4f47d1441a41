"""Per-jet inputs a model may take besides its constituents: the fat jet's own NanoAOD observables.

A mass-decorrelated tagger that sees the jet's groomed mass can learn, under a decorrelation
penalty, to move its cut with the mass, as a DDT map does after the fact; one that also sees
the NanoAOD substructure observables can learn to combine them with what it reads from the
constituents (docs/codec.md).  Each feature is a pure function of FatJet fields, computed
with the same code on numpy arrays (inference) and torch tensors (training).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from jetclr_coffea.preprocessing._array import xp

__all__ = ["JET_FEATURES", "check_jet_features", "jet_feature_fields", "jet_features", "ratio"]

#: Known per-jet features and the NanoAOD FatJet fields each is computed from:
#: ``msoftdrop_over_pt``: msoftdrop / pT (0 where msoftdrop is missing or not positive; the
#: square root of the DDT's exp(rho)); ``log_pt``: ln(pT / GeV) (0 where pT is not positive
#: or NaN); ``tau21``, ``tau32``:
#: N-subjettiness ratios (0 where the denominator is not positive); ``n2b1``, ``n3b1``:
#: the energy-correlation ratios (0 where missing).
JET_FEATURES: dict[str, tuple[str, ...]] = {
    "msoftdrop_over_pt": ("msoftdrop", "pt"),
    "log_pt": ("pt",),
    "tau21": ("tau1", "tau2"),
    "tau32": ("tau2", "tau3"),
    "n2b1": ("n2b1",),
    "n3b1": ("n3b1",),
}


def check_jet_features(names: Iterable[str]) -> tuple[str, ...]:
    """``names`` as a tuple, if they are distinct names of :data:`JET_FEATURES` (a model's
    declared jet features).

    Raises:
        ValueError: an unknown or repeated name.
    """
    checked = tuple(names)
    if any(n not in JET_FEATURES for n in checked) or len(set(checked)) != len(checked):
        raise ValueError(f"jet_features must be distinct names of {', '.join(JET_FEATURES)}, "
                         f"got {list(checked)}")
    return checked


def jet_feature_fields(names: tuple[str, ...]) -> tuple[str, ...]:
    """The FatJet fields the features ``names`` are computed from, each once."""
    return tuple(dict.fromkeys(f for n in names for f in JET_FEATURES[n]))


def ratio(num: Any, den: Any) -> Any:
    """num / den where den > 0, else 0 (a NaN numerator counts as 0): the N-subjettiness
    ratios and msoftdrop / pT, one definition for the models' inputs and the observables
    (numpy, torch or awkward-compatible arrays)."""
    lib = xp(den)
    ok = den > 0
    return lib.where(ok, lib.nan_to_num(num, nan=0.0) / lib.where(ok, den, 1.0 + 0.0 * den), 0.0 * den)


def jet_features(fields: Mapping[str, npt.ArrayLike], names: tuple[str, ...]) -> Any:
    """(N, len(names)) float32 features of N jets from their FatJet ``fields`` (GeV): numpy
    arrays (inference) or torch tensors (training), one per field.

    Raises:
        ValueError: an unknown feature name, or a field it needs missing from ``fields``.
    """
    unknown = [n for n in names if n not in JET_FEATURES]
    if unknown:
        raise ValueError(f"unknown jet feature(s) {unknown}; known: {', '.join(JET_FEATURES)}")
    missing = [f for f in jet_feature_fields(names) if f not in fields]
    if missing:
        raise ValueError(f"the jet features {list(names)} need the FatJet field(s) {missing}")
    lib = xp(fields[JET_FEATURES[names[0]][0]])
    columns = []
    for name in names:
        if name == "msoftdrop_over_pt":
            m = lib.nan_to_num(fields["msoftdrop"], nan=0.0)
            columns.append(ratio(lib.where(m > 0, m, 0.0 * m), fields["pt"]))
        elif name == "log_pt":
            pt = lib.nan_to_num(fields["pt"], nan=0.0)
            columns.append(lib.log(lib.where(pt > 0, pt, 1.0 + 0.0 * pt)))  # 0 where pT is not positive
        elif name == "tau21":
            columns.append(ratio(fields["tau2"], fields["tau1"]))
        elif name == "tau32":
            columns.append(ratio(fields["tau3"], fields["tau2"]))
        else:  # n2b1, n3b1
            columns.append(lib.nan_to_num(fields[name], nan=0.0))
    out = lib.stack(columns, 1)
    return out.astype(np.float32) if lib is np else out.float()
