"""The decorrelation landscape: DDT maps held in memory, R50 against 1/JSD."""

from __future__ import annotations

import numpy as np
from jetclr_coffea.processors.hists import jet_rho
from jetclr_coffea.training.landscape import fit_ddt, landscape, working_point_efficiency


def _qcd(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    msd = rng.uniform(20.0, 250.0, n)
    pt = rng.uniform(550.0, 650.0, n)
    score = jet_rho(msd, pt) + rng.normal(0.0, 0.5, n)  # a score that follows the mass
    return score, msd, pt


def test_ddt_keeps_the_same_qcd_fraction_at_every_mass() -> None:
    score, msd, pt = _qcd(40_000, 1)
    ddt = fit_ddt(score, msd, pt, 0.2)
    t_score, t_msd, t_pt = _qcd(40_000, 2)  # an independent QCD sample
    raw_pass = t_score > np.quantile(t_score, 0.8)
    ddt_pass = ddt.ddt_values(t_score, t_msd, t_pt) > 0
    assert abs(ddt_pass.mean() - 0.2) < 0.01
    for lo in (20.0, 70.0, 120.0, 170.0, 220.0):  # msoftdrop slices
        in_bin = (t_msd >= lo) & (t_msd < lo + 30.0)
        assert abs(ddt_pass[in_bin].mean() - 0.2) < 0.04
    assert raw_pass[t_msd < 50].mean() < 0.02 and raw_pass[t_msd > 200].mean() > 0.5  # it sculpted


def test_landscape_orders_sculpting_and_rejection() -> None:
    rng = np.random.default_rng(3)
    n = 6000
    msd_b = rng.uniform(20.0, 250.0, n)
    sig_x, bkg_x = rng.normal(1.5, 1.0, n), rng.normal(0.0, 1.0, n)  # independent of the mass
    points = landscape({
        "independent": (sig_x, bkg_x),
        "mass": (rng.uniform(150.0, 250.0, n), msd_b),  # the mass itself: sculpts maximally
        "stronger": (sig_x + 1.0, bkg_x),
    }, msd_b, n_boot=50)
    ind, mass, strong = points["independent"], points["mass"], points["stronger"]
    assert mass["inv_jsd"] < 3 and ind["inv_jsd"] > 30  # the mass cut sculpts; the other does not
    assert strong["r50"] > ind["r50"] + 3 * max(strong["r50_err"], ind["r50_err"])
    assert all(p["r50_err"] > 0 and p["inv_jsd_err"] > 0 for p in points.values())
    assert abs(working_point_efficiency(sig_x, bkg_x) - 1 / ind["r50"]) < 0.01


def test_paired_differences_to_a_reference_cancel_common_fluctuations() -> None:
    """Two scores that share most of their fluctuations: the paired difference is the
    difference of the points, with an error smaller than the errors added in quadrature."""
    rng = np.random.default_rng(8)
    n = 4000
    msd_b = rng.uniform(20.0, 250.0, n)
    sig, bkg = rng.normal(1.5, 1.0, n), rng.normal(0.0, 1.0, n)
    points = landscape({
        "ref": (sig, bkg),
        "better": (sig + 0.2 + 0.05 * rng.normal(size=n), bkg + 0.05 * rng.normal(size=n)),
    }, msd_b, n_boot=60, reference="ref")
    ref, better = points["ref"], points["better"]
    assert "vs" not in ref and better["vs"]["score"] == "ref"
    assert better["vs"]["d_r50"] == better["r50"] - ref["r50"] > 0
    assert better["vs"]["d_r50_err"] < 0.75 * np.hypot(better["r50_err"], ref["r50_err"])


def test_further_references_give_paired_r50_ratios() -> None:
    """``others``: a ``vs_<name>`` block per further reference, with the R50 ratio and its paired
    error (smaller than the ratio's unpaired error, both R50s' relative errors in quadrature)."""
    rng = np.random.default_rng(9)
    n = 4000
    msd_b = rng.uniform(20.0, 250.0, n)
    sig, bkg = rng.normal(1.5, 1.0, n), rng.normal(0.0, 1.0, n)
    points = landscape({"ref": (sig, bkg), "alt": (sig + 0.3, bkg + 0.02 * rng.normal(size=n)),
                        "other": (sig + 0.1, bkg)}, msd_b, n_boot=60, reference="ref", others=("other",))
    alt, other = points["alt"], points["other"]
    assert "vs_other" not in other and alt["vs_other"]["score"] == "other"
    ratio = alt["vs_other"]["r50_ratio"]
    assert ratio == alt["r50"] / other["r50"] > 1
    unpaired = ratio * np.hypot(alt["r50_err"] / alt["r50"], other["r50_err"] / other["r50"])
    assert 0 < alt["vs_other"]["r50_ratio_err"] < 0.75 * unpaired
    assert alt["vs"]["r50_ratio"] == alt["r50"] / points["ref"]["r50"]
