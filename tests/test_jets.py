"""Clustering and substructure observables on hand-made jets."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from jetclr_coffea.gen.jets import JetConfig, cluster, nsubjettiness, substructure

pytest.importorskip("fastjet", reason="needs the [gen] extra")


def _vectors(pt: list[float], eta: list[float], phi: list[float]) -> dict[str, np.ndarray]:
    pt_a, eta_a, phi_a = np.array(pt), np.array(eta), np.array(phi)
    return {"px": pt_a * np.cos(phi_a), "py": pt_a * np.sin(phi_a),
            "pz": pt_a * np.sinh(eta_a), "E": pt_a * np.cosh(eta_a)}


def _jets(*jets: tuple[list[float], list[float], list[float]]) -> ak.Array:
    parts = [_vectors(*j) for j in jets]
    flat = {k: np.concatenate([p[k] for p in parts]) for k in ("px", "py", "pz", "E")}
    return ak.unflatten(ak.zip(flat), [len(j[0]) for j in jets])


def test_cluster_back_to_back_and_cuts() -> None:
    event = _jets(([300.0, 200.0, 100.0, 5.0], [0.1, 0.2, -0.3, 3.0], [0.0, 0.1, 3.1, 1.5]))
    jets, index = cluster(event, JetConfig(pt_min=150.0))
    assert ak.num(jets, axis=1).tolist() == [1]
    assert sorted(index[0][0].tolist()) == [0, 1]
    forward = _jets(([300.0, 200.0], [2.6, 2.7], [0.0, 0.1]))
    assert ak.num(cluster(forward, JetConfig())[0], axis=1).tolist() == [0]


def test_nsubjettiness_counts_prongs() -> None:
    # three hard, well separated prongs with a little spread
    rng = np.random.default_rng(0)
    eta, phi, pt = [], [], []
    for ce, cp in ((0.0, 0.0), (0.4, 0.1), (-0.1, 0.45)):
        eta += list(ce + rng.normal(0, 0.01, 5))
        phi += list(cp + rng.normal(0, 0.01, 5))
        pt += list(rng.uniform(20, 40, 5))
    tau1, tau2, tau3, tau4 = nsubjettiness(_jets((pt, eta, phi)), 4, 0.8)
    assert tau3[0] < 0.1 * tau2[0]
    assert tau2[0] < tau1[0]
    assert tau4[0] <= tau3[0]
    # a jet with N or fewer constituents has tau_N = 0
    two = nsubjettiness(_jets(([50.0, 40.0], [0.0, 0.3], [0.0, 0.0])), 4, 0.8)
    assert two[1][0] == 0.0 and two[0][0] > 0


def test_soft_drop_removes_soft_wide_radiation() -> None:
    core = ([200.0, 150.0, 0.5], [0.0, 0.05, 0.6], [0.0, 0.05, 0.5])
    sd = substructure(_jets(core), JetConfig())
    def mass(jet: tuple[list[float], list[float], list[float]]) -> float:
        v = {k: a.sum() for k, a in _vectors(*jet).items()}
        return float(np.sqrt(v["E"] ** 2 - v["px"] ** 2 - v["py"] ** 2 - v["pz"] ** 2))

    core_mass = mass((core[0][:2], core[1][:2], core[2][:2]))
    assert sd["msoftdrop"][0] == pytest.approx(core_mass, rel=1e-6)
    assert sd["msoftdrop"][0] < mass(core)
    assert set(sd) == {"msoftdrop", "tau1", "tau2", "tau3", "tau4", "n2b1", "n3b1"}
