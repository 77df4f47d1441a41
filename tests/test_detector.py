"""The fast simulation: acceptance, tracks, calorimeter cells, resolution and seeding."""

from __future__ import annotations

import numpy as np

from jetclr_coffea.gen.detector import DetectorConfig, Particles, simulate, visible


def _particles(rows: list[tuple[int, float, float, float, int, float]]) -> Particles:
    """rows of (event, pt, eta, phi, pdgId, charge), prompt, massless."""
    a = np.array(rows, dtype=np.float64)
    pt, eta, phi = a[:, 1], a[:, 2], a[:, 3]
    return Particles(
        event=a[:, 0].astype(np.int64), px=pt * np.cos(phi), py=pt * np.sin(phi),
        pz=pt * np.sinh(eta), e=pt * np.cosh(eta), pdg=a[:, 4].astype(np.int64), charge=a[:, 5],
        vx=np.zeros(len(a)), vy=np.zeros(len(a)), vz=np.zeros(len(a)),
        pileup=np.zeros(len(a), dtype=bool),
    )


def test_visible() -> None:
    pdg = np.array([12, -14, 16, 51, 4900111, -4900211, 1000022, 211, 22, 130, 13, -11])
    assert visible(pdg).tolist() == [False] * 7 + [True] * 5


def test_each_particle_kind_becomes_the_right_candidate() -> None:
    p = _particles([
        (0, 50.0, 0.3, 0.1, 211, 1.0),    # charged pion in tracker -> track 211
        (0, 40.0, -1.0, 2.0, 22, 0.0),    # photon -> ECAL 22
        (0, 30.0, 1.5, -2.0, 2112, 0.0),  # neutron -> HCAL 130
        (0, 20.0, 3.5, 0.5, -211, -1.0),  # pion beyond tracker -> HF hadronic 1
        (0, 25.0, 0.0, 1.0, 12, 0.0),     # neutrino -> nothing
        (0, 35.0, 1.0, -1.0, 13, -1.0),   # muon -> track 13
        (0, 15.0, 6.0, 0.0, 22, 0.0),     # outside |eta| < 5 -> nothing
    ])
    c = simulate(p, np.zeros(1), np.random.default_rng(0))
    assert sorted(c.pdg.tolist()) == [1, 13, 22, 130, 211]
    track = c.pdg == 211
    assert c.charge[track].tolist() == [1] and abs(c.pt[track][0] / 50.0 - 1) < 0.05
    assert np.all(c.charge[np.isin(c.pdg, [1, 22, 130])] == 0)
    assert np.all(c.puppi == 1.0)


def test_same_cell_deposits_merge_and_energy_is_conserved_on_average() -> None:
    # two photons 0.001 apart share an ECAL crystal; many events give the mean response
    rows = []
    for ev in range(400):
        rows += [(ev, 20.0, 0.5001, 0.3001, 22, 0.0), (ev, 30.0, 0.5005, 0.3005, 22, 0.0)]
    c = simulate(_particles(rows), np.zeros(400), np.random.default_rng(1))
    assert len(c.pt) == 400  # one candidate per event
    ratio = c.pt / 50.0
    assert abs(ratio.mean() - 1) < 0.005
    # resolution close to the configured stochastic (+) constant term at E = 50 cosh(0.5)
    e = 50.0 * np.cosh(0.5)
    cfg = DetectorConfig()
    expected = np.hypot(cfg.ecal_stochastic / np.sqrt(e), cfg.ecal_constant)
    assert 0.8 * expected < ratio.std() < 1.2 * expected


def test_seeded() -> None:
    p = _particles([(0, 50.0, 0.3, 0.1, 211, 1.0), (0, 30.0, 1.5, -2.0, 2112, 0.0)])
    a = simulate(p, np.zeros(1), np.random.default_rng(7))
    b = simulate(p, np.zeros(1), np.random.default_rng(7))
    c = simulate(p, np.zeros(1), np.random.default_rng(8))
    assert np.array_equal(a.pt, b.pt) and not np.array_equal(a.pt, c.pt)


def test_pileup_tracks_get_zero_puppi_weight() -> None:
    p = _particles([(0, 10.0, 0.2, 0.1, 211, 1.0), (0, 10.0, 0.25, 0.12, 211, 1.0),
                    (0, 10.0, 0.22, 0.11, 2112, 0.0)])
    # second track comes from a vertex 5 cm away
    p = Particles(**{**{k: getattr(p, k) for k in p.__dataclass_fields__},
                     "vz": np.array([0.0, 50.0, 0.0])})
    c = simulate(p, np.zeros(1), np.random.default_rng(3), with_pileup=True)
    tracks = c.pdg == 211
    assert sorted(c.puppi[tracks].tolist()) == [0.0, 1.0]
    neutral = c.puppi[c.pdg == 130]
    assert 0.3 < neutral[0] < 0.7  # half of the nearby track pT is from the primary vertex
