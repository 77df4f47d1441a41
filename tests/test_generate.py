"""Generated samples: format, reproducibility and the physics of each process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
import uproot

from jetclr_coffea.truth import DARK, QCD, TOP, TWO_PRONG, label_fatjets

pytest.importorskip("pythia8mc", reason="needs the [gen] extra")


def _labels_and_msd(events: Any) -> tuple[np.ndarray, np.ndarray]:
    labels = ak.to_numpy(ak.flatten(label_fatjets(events.FatJet, events.GenPart)))
    msd = ak.to_numpy(ak.flatten(events.FatJet.msoftdrop))
    return labels, msd


@pytest.mark.parametrize("process", ["qcd", "top", "wprime-flat", "svj"])
def test_file_opens_with_pfnano_schema(samples: dict[str, Path], open_nano: Any, process: str) -> None:
    events = open_nano(samples[process])
    assert len(events) > 0
    for name in ("run", "luminosityBlock", "event", "genWeight"):
        assert name in events.fields
    fj = events.FatJet
    assert ak.all(fj.pt > 200) and ak.all(np.abs(fj.eta) < 2.4)
    # NanoAOD order: pT-descending within each event
    assert ak.all(fj.pt[:, :-1] >= fj.pt[:, 1:])
    # every jet lists exactly nConstituents constituents, each candidate used once
    links = events.FatJetPFCands
    n_links = ak.to_numpy(ak.flatten(ak.run_lengths(ak.sort(links.jetIdx, axis=1)), axis=None))
    assert np.array_equal(n_links, ak.to_numpy(ak.flatten(fj.nConstituents)))
    assert ak.all(ak.num(events.PFCands, axis=1) == ak.num(links, axis=1))
    # N-subjettiness falls with N (WTA-kT axes are nested); soft drop only removes mass;
    # N2, N3 are positive ratios
    raw = ak.flatten(fj)
    for a, b in (("tau1", "tau2"), ("tau2", "tau3"), ("tau3", "tau4")):
        assert ak.all(raw[b] >= 0)
        assert ak.all(raw[a] >= raw[b] - 1e-6)
    assert ak.all(raw.msoftdrop <= raw.mass + 1e-3)
    assert ak.all(raw.n2b1 >= 0) and ak.all(raw.n3b1 >= 0)


def test_constituents_add_up_to_the_jet(samples: dict[str, Path], open_nano: Any) -> None:
    import vector

    vector.register_awkward()
    events = open_nano(samples["top"])
    c = events.PFCands[events.FatJetPFCands.pFCandsIdx]
    jet_idx = events.FatJetPFCands.jetIdx
    for j in range(2):
        sel = jet_idx == j
        p4 = ak.zip({"pt": c.pt[sel] * c.puppiWeight[sel], "eta": c.eta[sel], "phi": c.phi[sel],
                     "mass": c.mass[sel] * c.puppiWeight[sel]}, with_name="Momentum4D")
        total = ak.sum(p4, axis=1)
        has = ak.num(events.FatJet) > j
        jets = events.FatJet[has][:, j]
        np.testing.assert_allclose(ak.to_numpy(total.pt[has]), ak.to_numpy(jets.pt), rtol=1e-4)
        np.testing.assert_allclose(ak.to_numpy(total.mass[has]), ak.to_numpy(jets.mass), atol=0.05)


def test_top_mass_peak_and_w_peak(samples: dict[str, Path], open_nano: Any) -> None:
    labels, msd = _labels_and_msd(open_nano(samples["top"]))
    assert (labels == TOP).sum() >= 40
    assert 155 < np.median(msd[labels == TOP]) < 190
    assert (labels == TWO_PRONG).sum() >= 10
    assert 65 < np.median(msd[labels == TWO_PRONG]) < 95


def test_qcd_mass_falls_smoothly(samples: dict[str, Path], open_nano: Any) -> None:
    labels, msd = _labels_and_msd(open_nano(samples["qcd"]))
    assert np.all(labels == QCD)
    counts, _ = np.histogram(msd, bins=[0, 50, 100, 150, 200])
    assert counts[0] > counts[1] > counts[3]


def test_wprime_flat_weights_flatten_the_mass(samples: dict[str, Path], open_nano: Any) -> None:
    events = open_nano(samples["wprime-flat"])
    z = events.GenPart[events.GenPart.pdgId == 23]
    mass = ak.to_numpy(ak.firsts(z.mass))
    weight = ak.to_numpy(events.genWeight)
    assert np.isfinite(mass).all() and (weight > 0).all()
    edges = np.linspace(40, 250, 5)
    unweighted, _ = np.histogram(mass, bins=edges)
    weighted, _ = np.histogram(mass, bins=edges, weights=weight)
    # the raw spectrum is peaked; the weighted one is flat within statistics
    assert weighted.max() / weighted.min() < 1.6
    assert unweighted.max() / unweighted.min() > weighted.max() / weighted.min()
    labels, msd = _labels_and_msd(events)
    prong = labels == TWO_PRONG
    assert prong.sum() > 30
    # merged two-prong jets spread over the whole window, not one peak
    assert np.percentile(msd[prong], 10) < 90 and np.percentile(msd[prong], 90) > 160


def test_svj_has_dark_jets_and_invisible_energy(samples: dict[str, Path], open_nano: Any) -> None:
    events = open_nano(samples["svj"])
    labels, _ = _labels_and_msd(events)
    assert (labels == DARK).sum() > 0
    assert ak.any(events.GenPart.pdgId == 4900023)


def test_same_seed_same_arrays(tmp_path: Path) -> None:
    from jetclr_coffea.gen.generate import generate
    from jetclr_coffea.gen.pythia import ProcessConfig

    paths = [tmp_path / "a.root", tmp_path / "b.root", tmp_path / "c.root"]
    for path, seed in zip(paths, (5, 5, 6), strict=True):
        generate(ProcessConfig("qcd", seed=seed), 12, path, progress=False, batch_size=5)
    a, b, c = (uproot.open(p)["Events"].arrays() for p in paths)
    for field in a.fields:
        assert ak.array_equal(a[field], b[field]), field
    assert not ak.array_equal(a["PFCands_pt"], c["PFCands_pt"])


def test_pileup_overlay(tmp_path: Path) -> None:
    from jetclr_coffea.gen.generate import generate
    from jetclr_coffea.gen.pythia import ProcessConfig

    clean, noisy = tmp_path / "clean.root", tmp_path / "pu.root"
    generate(ProcessConfig("qcd", seed=4), 8, clean, progress=False)
    generate(ProcessConfig("qcd", seed=4), 8, noisy, pileup=20.0, progress=False)
    a = uproot.open(clean)["Events"].arrays()
    b = uproot.open(noisy)["Events"].arrays()
    # without pile-up every stored candidate has weight 1; with it, PU tracks (weight 0) are
    # dropped from the jets and neutrals near PU tracks get weights below 1
    assert ak.all(a["PFCands_puppiWeight"] == 1)
    w = ak.flatten(b["PFCands_puppiWeight"])
    assert ak.all((w > 0) & (w <= 1)) and ak.any(w < 1)
    dz = ak.flatten(b["PFCands_dz"][b["PFCands_charge"] != 0])
    assert ak.all(np.abs(dz) < 0.3)


def test_all_candidates_mode_stores_every_candidate_and_the_same_constituents(tmp_path: Path) -> None:
    """Real density (as CMS PFNano): every PF candidate of the event is stored, pile-up
    included, and the link table points into them, so each fat jet reads the very
    constituents of the sparse mode."""
    from jetclr_coffea.gen.generate import generate
    from jetclr_coffea.gen.pythia import ProcessConfig
    from jetclr_coffea.reader import read_constituents

    cfg = ProcessConfig("qcd", seed=21)
    sparse = generate(cfg, 30, tmp_path / "sparse.root", pileup=10.0, progress=False)
    dense = generate(cfg, 30, tmp_path / "dense.root", pileup=10.0, progress=False, all_candidates=True)
    assert dense.fat_jets == sparse.fat_jets > 0
    assert dense.pf_candidates > 5 * sparse.pf_candidates  # pile-up and out-of-jet candidates
    a = uproot.open(tmp_path / "sparse.root")["Events"].arrays()
    b = uproot.open(tmp_path / "dense.root")["Events"].arrays()
    for name in ("FatJet_pt", "FatJet_msoftdrop", "FatJet_nConstituents"):
        assert ak.all(ak.flatten(a[name]) == ak.flatten(b[name]))
    assert ak.all(ak.num(b["PFCands_pt"]) >= ak.num(a["PFCands_pt"]))
    assert ak.all(b["FatJetPFCands_pFCandsIdx"] < ak.num(b["PFCands_pt"]))
    ja, jb = read_constituents(a), read_constituents(b)
    for field in ("pt", "eta", "phi", "mass", "charge", "puppiWeight"):
        assert ak.all(ak.flatten(ja.constituents[field]) == ak.flatten(jb.constituents[field])), field
    np.testing.assert_array_equal(ak.to_numpy(ak.num(jb.constituents)),
                                  ak.to_numpy(ak.flatten(b["FatJet_nConstituents"])))


def _leading_pt_hist(path: Path, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f = uproot.open(path)
    ev = f["Events"].arrays(["FatJet_pt", "genWeight"])
    runs = f["Runs"].arrays(library="np")
    lead = ak.to_numpy(ak.fill_none(ak.firsts(ev.FatJet_pt), 0.0))
    w = ak.to_numpy(ev.genWeight).astype(np.float64) * runs["xsec_pb"][0] / runs["genEventSumw"][0]
    return np.histogram(lead, edges, weights=w)[0], np.histogram(lead, edges, weights=w**2)[0]


@pytest.mark.slow
def test_flat_pthat_weighted_spectrum_matches_slices(tmp_path: Path) -> None:
    """A biased broad sample reweighted by genWeight x xsec / sum(genWeight) gives the same
    leading-jet spectrum as unbiased narrow slices with their cross sections, and puts
    far more events at high pT."""
    from jetclr_coffea.gen.generate import generate
    from jetclr_coffea.gen.pythia import ProcessConfig

    edges = np.array([450.0, 700.0, 1000.0])
    broad = ProcessConfig("qcd", seed=61, pthat_min=400, pthat_max=1200, flat_pthat=True, bias_power=5)
    generate(broad, 300, tmp_path / "broad.root", progress=False)
    slices = [ProcessConfig("qcd", seed=62, pthat_min=400, pthat_max=650),
              ProcessConfig("qcd", seed=63, pthat_min=650, pthat_max=1200)]
    h_b, v_b = _leading_pt_hist(tmp_path / "broad.root", edges)
    h_s, v_s = np.zeros(2), np.zeros(2)
    for i, cfg in enumerate(slices):
        generate(cfg, 200, tmp_path / f"s{i}.root", progress=False)
        h, v = _leading_pt_hist(tmp_path / f"s{i}.root", edges)
        h_s, v_s = h_s + h, v_s + v
    pull = (h_b - h_s) / np.sqrt(v_b + v_s + (0.1 * h_s) ** 2)  # 10 %: Pythia's xsec estimates
    assert np.all(np.abs(pull) < 3), (h_b, h_s)
    lead = ak.to_numpy(ak.firsts(uproot.open(tmp_path / "broad.root")["Events"]["FatJet_pt"].array()))
    assert np.mean(lead[~np.isnan(lead)] > 700) > 0.3
    w = uproot.open(tmp_path / "broad.root")["Events"]["genWeight"].array(library="np")
    assert w.min() > 0 and w.max() / w.min() > 10


def test_flat_pthat_refuses_svj() -> None:
    from jetclr_coffea.errors import JetCLRError
    from jetclr_coffea.gen.pythia import ProcessConfig

    with pytest.raises(JetCLRError, match="mzprime"):
        ProcessConfig("svj", flat_pthat=True)
