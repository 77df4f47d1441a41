"""The constituent reader on generated files and on real CMS NanoAOD."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
import uproot
import vector

from jetclr_coffea.errors import JetCLRError
from jetclr_coffea.reader import detect_convention, read_constituents

vector.register_awkward()


def _sum_p4(constituents: ak.Array) -> Any:
    p4 = ak.zip(
        {"pt": constituents.pt, "eta": constituents.eta, "phi": constituents.phi,
         "mass": constituents.mass},
        with_name="Momentum4D",
    )
    return ak.sum(p4, axis=1)


def _check_kinematics(jc: Any, pt_rtol: float, mass_atol: float) -> None:
    ok = jc.has_constituents
    total = _sum_p4(jc.constituents[ok])
    raw = 1.0 - jc.jets.rawFactor[ok]
    np.testing.assert_allclose(ak.to_numpy(total.pt), ak.to_numpy(jc.jets.pt[ok] * raw), rtol=pt_rtol)
    np.testing.assert_allclose(
        ak.to_numpy(total.mass), ak.to_numpy(jc.jets.mass[ok] * raw),
        atol=mass_atol, rtol=0.01,
    )
    np.testing.assert_allclose(ak.to_numpy(total.eta), ak.to_numpy(jc.jets.eta[ok]), atol=0.01)


@pytest.mark.parametrize("mode", ["eager", "virtual", "raw"])
def test_generated_file_all_input_kinds(samples: dict[str, Path], open_nano: Any, mode: str) -> None:
    path = samples["top"]
    events = uproot.open(path)["Events"].arrays() if mode == "raw" else open_nano(path, mode=mode)
    jc = read_constituents(events)
    assert jc.convention == "PFNano"
    assert len(jc) == int(ak.sum(ak.num(events["FatJet_pt"] if mode == "raw" else events.FatJet.pt)))
    assert np.array_equal(ak.to_numpy(ak.num(jc.constituents, axis=1)), ak.to_numpy(jc.jets.nConstituents))
    _check_kinematics(jc, pt_rtol=1e-4, mass_atol=0.05)


def test_jet_mask_selects_rows(samples: dict[str, Path], open_nano: Any) -> None:
    events = open_nano(samples["qcd"])
    mask = events.FatJet.pt > 400
    jc = read_constituents(events, mask)
    assert len(jc) == int(ak.sum(mask))
    assert ak.all(jc.jets.pt > 400)
    full = read_constituents(events)
    sel = ak.to_numpy(ak.flatten(mask))
    assert ak.array_equal(jc.constituents.pt, full.constituents[sel].pt)


def test_missing_branches_named(samples: dict[str, Path]) -> None:
    events = uproot.open(samples["qcd"])["Events"].arrays(filter_name=["FatJet_*", "nFatJet"])
    with pytest.raises(JetCLRError, match=r"FatJetPFCands_pFCandsIdx.*FatJetPFCand_pfCandIdx"):
        detect_convention(events)


@pytest.mark.network
def test_real_pfnano(real_files: dict[str, Path], open_nano: Any) -> None:
    events = open_nano(real_files["pfnano.root"], schema="PFNanoAODSchema")
    # coffea's own accessor refuses this real PFNano file; ours reads it
    with pytest.raises(RuntimeError, match="PF candidates"):
        _ = events.FatJet.constituents
    jc = read_constituents(events)
    assert jc.convention == "PFNano"
    assert len(jc) == 24 and jc.has_constituents.all()
    _check_kinematics(jc, pt_rtol=0.01, mass_atol=1.0)


@pytest.mark.network
@pytest.mark.parametrize("mode", ["eager", "raw"])
def test_real_nanoaod_v15(real_files: dict[str, Path], open_nano: Any, mode: str) -> None:
    path = real_files["nano_tt_v15.root"]
    events = (uproot.open(path)["Events"].arrays() if mode == "raw"
              else open_nano(path, schema="NanoAODSchema"))
    jc = read_constituents(events)
    assert jc.convention == "NanoAODv15"
    assert len(jc) == 64
    # two jets have no stored constituents: flagged, kept in place, empty
    assert (~jc.has_constituents).sum() == 2
    assert ak.all(ak.num(jc.constituents[~jc.has_constituents], axis=1) == 0)
    counts = ak.to_numpy(ak.num(jc.constituents, axis=1))
    n_const = ak.to_numpy(jc.jets.nConstituents)
    assert np.array_equal(counts[jc.has_constituents], n_const[jc.has_constituents])
    _check_kinematics(jc, pt_rtol=0.01, mass_atol=1.0)
