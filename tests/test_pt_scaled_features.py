"""The pT-scaled angles (deta_pt, dphi_pt, dr_pt): the jet mass is a function of them and the
pT fractions, a decay makes the same pattern at every pT, and they are IRC-safe."""

from __future__ import annotations

import numpy as np

from jetclr_coffea.model import IRC_SAFE_FEATURES
from jetclr_coffea.preprocessing.features import ConstituentArrays, compute_features

SCALED = ("deta_pt", "dphi_pt", "dr_pt")


def _arrays(deta: np.ndarray, dphi: np.ndarray, pt: np.ndarray) -> ConstituentArrays:
    mask = pt > 0
    return ConstituentArrays(deta=deta, dphi=dphi, pt=pt, energy=pt * np.cosh(deta),
                             charge=np.zeros_like(pt), mask=mask)


def _mass(deta: np.ndarray, dphi: np.ndarray, pt: np.ndarray) -> np.ndarray:
    """Invariant mass (GeV) of massless constituents at eta = deta, phi = dphi."""
    px, py = pt * np.cos(dphi), pt * np.sin(dphi)
    pz, e = pt * np.sinh(deta), pt * np.cosh(deta)
    m2 = e.sum(1) ** 2 - px.sum(1) ** 2 - py.sum(1) ** 2 - pz.sum(1) ** 2
    return np.sqrt(np.clip(m2, 0.0, None))


def test_mass_is_a_function_of_scaled_angles_and_pt_fractions() -> None:
    rng = np.random.default_rng(5)
    n, c = 200, 20
    pt_jet = rng.uniform(300.0, 1500.0, (n, 1))
    z = rng.dirichlet(np.full(c, 0.5), n)
    deta, dphi = rng.normal(0.0, 0.08, (n, c)), rng.normal(0.0, 0.08, (n, c))
    pt = z * pt_jet
    x = compute_features(_arrays(deta, dphi, pt), SCALED)  # (n, c, 3)
    # m^2 ~ pT^2 sum_{i<j} z_i z_j dR_ij^2 at small angles; here with pT in TeV inside the features
    d2 = ((x[:, :, None, :2] - x[:, None, :, :2]) ** 2).sum(-1)  # (n, c, c)
    m_scaled = 1000.0 * np.sqrt(0.5 * np.einsum("ni,nj,nij->n", z, z, d2))
    np.testing.assert_allclose(m_scaled, _mass(deta, dphi, pt), rtol=0.03)


def test_a_decay_makes_the_same_pattern_at_every_pt() -> None:
    m = 80.4
    rows = []
    for pt_jet in (400.0, 1200.0):
        opening = 2.0 * m / pt_jet  # two prongs of z = 1/2 at dR ~ 2 m / pT
        deta = np.array([[opening / 2, -opening / 2]])
        rows.append(compute_features(_arrays(deta, np.zeros_like(deta), np.full((1, 2), pt_jet / 2)),
                                     SCALED))
    np.testing.assert_allclose(rows[0], rows[1], rtol=1e-12)  # unscaled, it shrinks 3x
    np.testing.assert_allclose(rows[0][0, :, 2], m / 1000.0)


def test_scaled_angles_are_irc_safe() -> None:
    assert set(SCALED) <= IRC_SAFE_FEATURES
    deta = np.array([[0.10, -0.20, 0.05, 0.0]])
    dphi = np.array([[0.00, 0.10, -0.30, 0.0]])
    pt = np.array([[500.0, 200.0, 100.0, 0.0]])
    ref = compute_features(_arrays(deta, dphi, pt), SCALED)
    # collinear split of constituent 0 into 0.3 / 0.7 of its pT: same features for both halves
    split_pt = np.array([[150.0, 200.0, 100.0, 350.0]])
    split = compute_features(_arrays(np.array([[0.10, -0.20, 0.05, 0.10]]),
                                     np.array([[0.00, 0.10, -0.30, 0.00]]), split_pt), SCALED)
    np.testing.assert_allclose(split[0, :3], ref[0, :3], rtol=1e-12)
    np.testing.assert_allclose(split[0, 3], ref[0, 0], rtol=1e-12)
    # a zero-pT constituent is padding: it changes nothing and its features are zero
    soft = compute_features(_arrays(np.array([[0.10, -0.20, 0.05, 0.6]]), dphi, pt), SCALED)
    np.testing.assert_array_equal(soft, ref)
    # and doubling every pT doubles the scaled angles
    np.testing.assert_allclose(compute_features(_arrays(deta, dphi, 2 * pt), SCALED), 2 * ref)
