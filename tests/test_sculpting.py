"""Mass sculpting: the JSD of the QCD mass spectra passing and failing a cut."""

from __future__ import annotations

import numpy as np
import pytest

from jetclr_coffea.sculpting import MSD_EDGES, jensen_shannon, mass_matching_weights, mass_sculpting


def test_jensen_shannon_limits() -> None:
    p = np.array([1.0, 2.0, 3.0, 0.0])
    assert jensen_shannon(p, 10 * p) == pytest.approx(0.0, abs=1e-12)  # normalised
    assert jensen_shannon(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1.0)
    q = np.array([3.0, 2.0, 1.0, 1.0])
    assert jensen_shannon(p, q) == pytest.approx(jensen_shannon(q, p))
    assert 0.0 < jensen_shannon(p, q) < 1.0


def test_mass_sculpting_of_a_mass_cut_and_of_an_independent_score() -> None:
    rng = np.random.default_rng(3)
    msd = rng.exponential(40.0, 200_000)  # a falling QCD spectrum
    signal = rng.normal(1.0, 1.0, 5_000)
    independent = rng.normal(0.0, 1.0, len(msd))  # a score that knows nothing of the mass
    assert mass_sculpting(signal, independent, msd) < 2e-3  # statistical floor only
    # a score that is the mass itself: passing QCD jets are the heavy ones
    sig_mass = rng.normal(80.0, 10.0, 5_000)
    assert mass_sculpting(sig_mass, msd, msd) > 0.5
    # partly mass-correlated: in between
    mixed = independent + msd / 40.0
    assert 2e-3 < mass_sculpting(signal + 1.0, mixed, msd) < 0.5
    assert np.isnan(mass_sculpting(signal, np.full(10, -99.0), np.full(10, 50.0)))


def test_mass_matching_weights_give_the_signal_the_background_spectrum() -> None:
    rng = np.random.default_rng(4)
    background = rng.exponential(50.0, 100_000)
    signal = rng.uniform(40.0, 250.0, 20_000)  # a flat-mass signal
    w = mass_matching_weights(signal, background)
    assert w.mean() == pytest.approx(1.0)
    h_sig, _ = np.histogram(signal, MSD_EDGES, weights=w)
    h_bkg, _ = np.histogram(np.clip(background, 0, MSD_EDGES[-1] - 1e-9), MSD_EDGES)
    covered = (MSD_EDGES[:-1] >= 40.0) & (MSD_EDGES[1:] <= 250.0)  # where the signal lives
    np.testing.assert_allclose(h_sig[covered] / h_sig.sum(), h_bkg[covered] / h_bkg[covered].sum(), rtol=1e-9)
