"""ROC metrics and their bootstrap uncertainties."""

from __future__ import annotations

import numpy as np
import pytest

from jetclr_coffea.metrics import bootstrap, roc, roc_metrics


def test_metrics_of_known_distributions() -> None:
    rng = np.random.default_rng(0)
    sig, bkg = rng.normal(1.0, 1.0, 20000), rng.normal(0.0, 1.0, 20000)
    m = roc_metrics(sig, bkg)
    # two unit Gaussians a distance 1 apart: AUC = Phi(1/sqrt 2) = 0.7602
    assert m["auc"] == pytest.approx(0.7602, abs=0.006)
    # at 50 % signal efficiency the cut is at 1.0: background efficiency 1 - Phi(1) = 0.1587
    assert m["r50"] == pytest.approx(1 / 0.1587, rel=0.05)
    fpr, tpr = roc(sig, bkg)
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1 and np.all(np.diff(tpr) >= 0)
    assert roc_metrics(bkg, bkg)["auc"] == pytest.approx(0.5)
    assert roc_metrics(np.ones(5), np.zeros(5))["auc"] == 1.0


def test_bootstrap_errors_shrink_like_one_over_sqrt_n_and_pair() -> None:
    rng = np.random.default_rng(1)
    small = bootstrap(rng.normal(1, 1, 1000), rng.normal(0, 1, 1000), n=100)
    large = bootstrap(rng.normal(1, 1, 16000), rng.normal(0, 1, 16000), n=100)
    assert 2.5 < small["auc_err"] / large["auc_err"] < 6.0  # sqrt(16) = 4
    assert large["auc_err"] == pytest.approx(0.0035, rel=0.35)  # Hanley-McNeil for AUC 0.76, n = 16 000
    sig, bkg = rng.normal(1, 1, 4000), rng.normal(0, 1, 4000)
    noisy = (sig + rng.normal(0, 0.3, 4000), bkg + rng.normal(0, 0.3, 4000))
    paired = bootstrap(sig, bkg, n=100, paired=noisy)
    assert paired["d_auc"] > 0  # the noisy copy is worse
    # the paired difference is more precise than the two errors added in quadrature
    alone = bootstrap(*noisy, n=100)
    assert paired["d_auc_err"] < 0.5 * np.hypot(paired["auc_err"], alone["auc_err"])
    assert bootstrap(sig, bkg, n=20, seed=3) == bootstrap(sig, bkg, n=20, seed=3)


def test_weights_count_like_repeated_jets() -> None:
    # a jet of weight k counts as k copies of it: weighted metrics equal the replicated sample's
    rng = np.random.default_rng(4)
    sig, bkg = rng.normal(1.0, 1.0, 300), rng.normal(0.0, 1.0, 400)
    ws, wb = rng.integers(1, 4, 300).astype(float), rng.integers(1, 4, 400).astype(float)
    weighted = roc_metrics(sig, bkg, (ws, wb))
    replicated = roc_metrics(np.repeat(sig, ws.astype(int)), np.repeat(bkg, wb.astype(int)))
    for k in ("auc", "r50", "r20"):
        assert weighted[k] == pytest.approx(replicated[k], rel=1e-12)
    assert roc_metrics(sig, bkg, (np.ones(300), np.ones(400))) == roc_metrics(sig, bkg)
    # only the weights' ratios matter, and a weighted bootstrap has errors of its own
    assert roc_metrics(sig, bkg, (3 * ws, 7 * wb))["auc"] == pytest.approx(weighted["auc"], rel=1e-12)
    boot = bootstrap(sig, bkg, 50, weights=(ws, wb), paired=(-sig, bkg))
    assert boot["auc"] == pytest.approx(weighted["auc"]) and boot["auc_err"] > 0 and boot["d_auc_err"] > 0


def test_the_lct_score_roc_is_the_one_roc() -> None:
    from jetclr_coffea.training.lct import score_roc

    from jetclr_coffea.metrics import auc, r_at, roc

    rng = np.random.default_rng(4)
    s, b = rng.normal(1.0, 1.0, 400), np.round(rng.normal(0.0, 1.0, 600), 1)  # ties in the background
    curve = score_roc(s, b)
    fpr, tpr = roc(s, b)
    assert curve.auc == auc(s, b) and curve.r50 == r_at(fpr, tpr, 0.5)
    np.testing.assert_array_equal(curve.fpr, fpr)
