"""The fat-jet selections of the processors: the analysis's, and a model's own further cut."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from jetclr_coffea.errors import ParameterError

__all__ = ["FatJetSelection", "parse_model_selection"]


@dataclass(frozen=True)
class FatJetSelection:
    """Fat-jet selection applied before inference.

    Attributes:
        pt_min, pt_max: pT window, GeV (exclusive).
        eta_max: |eta| cut (exclusive).
        msd_min: msoftdrop cut in GeV (exclusive), applied only when positive.
        require_jet_id: keep only jets passing the tight jet ID (bit 2 of ``jetId``);
            ignored where the jets have no ``jetId`` (our generated files).
    """

    pt_min: float = 200.0
    pt_max: float = float("inf")
    eta_max: float = 2.4
    msd_min: float = 0.0
    require_jet_id: bool = True

    def __post_init__(self) -> None:
        for name in ("pt_min", "pt_max", "eta_max", "msd_min"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or math.isnan(v):
                raise ParameterError(name, f"must be a number, got {v!r}")
        if not (0 <= self.pt_min < self.pt_max) or math.isinf(self.pt_min):
            raise ParameterError("pt_min", f"needs 0 <= pt_min < pt_max (finite pt_min), got {self.pt_min}, "
                                           f"{self.pt_max}")
        if not self.eta_max > 0:
            raise ParameterError("eta_max", f"must be positive, got {self.eta_max}")
        if math.isinf(self.msd_min):
            raise ParameterError("msd_min", f"must be finite, got {self.msd_min}")
        if not isinstance(self.require_jet_id, bool):
            raise ParameterError("require_jet_id", f"must be True or False, got {self.require_jet_id!r}")

    def mask(self, fatjets: Any) -> Any:
        """The selection as a jagged boolean array (events x jets), of the same backend as
        ``fatjets`` (awkward, virtual or dask-awkward), for ``fatjets[mask]``."""
        sel = (fatjets.pt > self.pt_min) & (fatjets.pt < self.pt_max) & (np.abs(fatjets.eta) < self.eta_max)
        if self.msd_min > 0:
            sel = sel & (fatjets.msoftdrop > self.msd_min)
        if self.require_jet_id and "jetId" in fatjets.fields:
            sel = sel & ((fatjets.jetId & 2) != 0)
        return sel


def parse_model_selection(text: str) -> tuple[str, FatJetSelection]:
    """``"ot_medoids_qcd:msd_min=40,pt_min=300"`` -> (model name, its own selection); cuts not
    given are open (``pt_min`` 0, ``eta_max`` inf, no jet ID).

    Raises:
        ParameterError: not ``NAME:KEY=VALUE[,KEY=VALUE]`` with KEY among pt_min, pt_max,
            eta_max, msd_min and a number as VALUE.
    """
    name, sep, cuts = text.partition(":")
    if not sep or not name or not cuts:
        raise ParameterError("model_selection", f"expected NAME:KEY=VALUE[,KEY=VALUE], got {text!r}")
    values: dict[str, float] = {}
    for item in cuts.split(","):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or key not in ("pt_min", "pt_max", "eta_max", "msd_min") or key in values:
            raise ParameterError("model_selection", f"{text!r}: {item!r} is not one of pt_min=, pt_max=, "
                                                    "eta_max=, msd_min= (each once)")
        try:
            values[key] = float(value)
        except ValueError:
            raise ParameterError("model_selection", f"{text!r}: {value!r} is not a number") from None
    cuts_all = {"pt_min": 0.0, "pt_max": float("inf"), "eta_max": float("inf"), "msd_min": 0.0, **values}
    return name, FatJetSelection(pt_min=cuts_all["pt_min"], pt_max=cuts_all["pt_max"],
                                 eta_max=cuts_all["eta_max"], msd_min=cuts_all["msd_min"],
                                 require_jet_id=False)
