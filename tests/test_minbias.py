"""Premixed pile-up (jetclr_coffea.gen.minbias) and the separate pile-up random stream."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from jetclr_coffea.errors import JetCLRError

pytest.importorskip("pythia8mc", reason="needs the [gen] extra")


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from jetclr_coffea.gen.minbias import write_minbias_library

    path = tmp_path_factory.mktemp("pu") / "lib.root"
    write_minbias_library(120, 17, path)
    return path


def test_library_is_reproducible_and_holds_stable_particles(library: Path, tmp_path: Path) -> None:
    from jetclr_coffea.gen.minbias import MINBIAS_TREE, write_minbias_library

    again = tmp_path / "again.root"
    write_minbias_library(120, 17, again)
    a = uproot.open(library)[MINBIAS_TREE].arrays()
    b = uproot.open(again)[MINBIAS_TREE].arrays()
    for field in a.fields:
        assert ak.array_equal(a[field], b[field]), field
    # energy >= |p| for every particle, and minimum-bias events are soft
    p = np.sqrt(a.Particle_px**2 + a.Particle_py**2 + a.Particle_pz**2)
    assert ak.all(a.Particle_e >= p * (1 - 1e-5) - 1e-4)
    assert float(ak.mean(ak.sum(np.hypot(a.Particle_px, a.Particle_py), axis=1))) < 100.0


def test_pileup_counts_are_poisson(tmp_path: Path) -> None:
    """PileupSource draws Poisson(mu) interactions per hard event from its own stream."""
    from jetclr_coffea.gen.generate import PileupSource
    from jetclr_coffea.gen.minbias import PileupLibrary

    lib = PileupLibrary(offsets=np.arange(11), path="x", columns={
        k: np.zeros(10)
        for k in ("px", "py", "pz", "e", "pdg", "charge", "vx", "vy", "vz")})
    source = PileupSource(40.0, np.random.default_rng(5), library=lib)
    counts = np.array([np.count_nonzero(source.draw(1).event == 0) for _ in range(400)])
    assert abs(counts.mean() - 40.0) < 3 * np.sqrt(40.0 / 400)
    assert abs(counts.var() / 40.0 - 1) < 0.25


def test_draw_is_poisson_with_a_vertex_spread(library: Path) -> None:
    from jetclr_coffea.gen.minbias import PileupLibrary

    lib = PileupLibrary.load(library)
    rng = np.random.default_rng(3)
    counts = rng.poisson(40.0, size=400)
    pu = lib.draw(counts, np.random.default_rng(4), 35.0)
    assert pu.pileup.all()
    assert np.array_equal(np.unique(pu.event), np.flatnonzero(counts > 0))
    # one vertex z per overlaid interaction (displaced decays only add millimetres)
    z = pu.vz
    assert 30.0 < np.std(z) < 40.0
    # the particles of the first hard event are whole library events
    n0 = np.count_nonzero(pu.event == 0)
    sizes = np.diff(lib.offsets)
    assert n0 >= counts[0] * sizes.min()


def test_bad_library_is_one_line_error(tmp_path: Path) -> None:
    from jetclr_coffea.gen.minbias import PileupLibrary

    with pytest.raises(JetCLRError, match="does not exist"):
        PileupLibrary.load(tmp_path / "missing.root")
    other = tmp_path / "other.root"
    with uproot.recreate(other) as f:
        f["Events"] = {"x": np.zeros(3)}
    with pytest.raises(JetCLRError, match="not a pile-up library"):
        PileupLibrary.load(other)


def _events(path: Path) -> ak.Array:
    return uproot.open(path)["Events"].arrays()


def test_same_seed_same_hard_events_at_any_pileup(library: Path, tmp_path: Path) -> None:
    """The hard scatter, its vertex and its tracks' smearing do not depend on mu: the
    generator-level record is identical and every hard-event track is found again."""
    from jetclr_coffea.gen.generate import generate
    from jetclr_coffea.gen.pythia import ProcessConfig

    cfg = ProcessConfig("qcd", seed=23)
    paths = {mu: tmp_path / f"mu{mu}.root" for mu in (0, 20, 40)}
    for mu, path in paths.items():
        generate(cfg, 10, path, pileup=float(mu), pileup_library=library if mu else None,
                 progress=False, all_candidates=True)
    ev = {mu: _events(p) for mu, p in paths.items()}
    for mu in (20, 40):
        for field in ("GenPart_pt", "GenPart_pdgId", "event"):
            assert ak.array_equal(ev[0][field], ev[mu][field]), field
    # within a batch the hard tracks' smearing precedes every other draw: every mu = 0 track
    # is found again at mu > 0 (across batches only mu > 0 samples share it, docs/data.md)
    for mu in (20, 40):
        for i in range(10):
            a, b = ev[0][i], ev[mu][i]
            trk_a = np.stack([ak.to_numpy(a.PFCands_pt), ak.to_numpy(a.PFCands_dz)], 1)[
                ak.to_numpy(a.PFCands_charge) != 0]
            trk_b = {tuple(r) for r in np.stack([ak.to_numpy(b.PFCands_pt),
                                                  ak.to_numpy(b.PFCands_dz)], 1).tolist()}
            assert all(tuple(r) in trk_b for r in trk_a.tolist())
    # more pile-up, more candidates
    n = [int(ak.sum(ak.num(ev[mu].PFCands_pt))) for mu in (0, 20, 40)]
    assert n[0] < n[1] < n[2]


def test_library_and_fresh_pileup_look_alike(library: Path, tmp_path: Path) -> None:
    from jetclr_coffea.gen.generate import generate
    from jetclr_coffea.gen.pythia import ProcessConfig

    cfg = ProcessConfig("qcd", seed=31)
    a = generate(cfg, 10, tmp_path / "lib.root", pileup=20.0, pileup_library=library,
                 progress=False, all_candidates=True)
    b = generate(cfg, 10, tmp_path / "fresh.root", pileup=20.0, progress=False, all_candidates=True)
    assert 0.8 < a.pf_candidates / b.pf_candidates < 1.25
