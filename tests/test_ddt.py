"""DDT maps: the QCD quantile per (rho, pT) bin, and closure of the written map."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from jetclr_coffea.processors.ddt import DDTMap, build_ddt_map, quantile_map
from jetclr_coffea.processors.tagging import PT_EDGES, RHO_AXIS, SCORE_BINS


def test_quantile_map() -> None:
    rng = np.random.default_rng(0)
    edges = np.linspace(0, 1, 101)
    counts = np.zeros((2, 1, 100))
    counts[0, 0], _ = np.histogram(rng.uniform(0, 1, 100000), edges)
    counts[1, 0], _ = np.histogram(rng.uniform(0, 0.5, 100000), edges)
    threshold, total = quantile_map(counts, edges, 0.1)
    np.testing.assert_allclose(threshold[:, 0], [0.9, 0.45], atol=0.01)
    assert total.shape == (2, 1)


def test_quantile_map_with_negative_weights() -> None:
    """Negative-weight score bins count as empty: the quantile of the clipped distribution."""
    edges = np.linspace(0, 1, 11)
    counts = np.full((1, 1, 10), 10.0)
    counts[0, 0, 8] = -3.0  # a negative bin below the last one
    clipped = counts.copy()
    clipped[0, 0, 8] = 0.0
    threshold, total = quantile_map(counts, edges, 0.1)
    expected, _ = quantile_map(clipped, edges, 0.1)
    assert total[0, 0] == 90.0
    # the last bin holds 10 of 90: 10% lies 0.1 of the way into it (unclipped: 0.765)
    assert threshold[0, 0] == pytest.approx(expected[0, 0]) == pytest.approx(0.91)
    only_negative = np.zeros((1, 1, 10))
    only_negative[0, 0, 0] = -5.0
    assert np.isnan(quantile_map(only_negative, edges, 0.1)[0][0, 0])


def test_ddt_map_closure_flat_in_every_bin(tmp_path: Path) -> None:
    """Synthetic QCD whose score rises with rho and pT: a fixed cut keeps very different
    fractions across (rho, pT); score - threshold(rho, pT) > 0 keeps q in every bin."""
    rng = np.random.default_rng(7)
    n, q = 400_000, 0.05
    rho = rng.uniform(RHO_AXIS[1], RHO_AXIS[2], n)
    pt = np.exp(rng.uniform(np.log(PT_EDGES[0]), np.log(PT_EDGES[-1]), n))
    # a Beta score whose mean moves from ~0.15 to ~0.75 with rho and pT (mass sculpting)
    a = 1.0 + 4.0 * (rho - RHO_AXIS[1]) / (RHO_AXIS[2] - RHO_AXIS[1]) + np.log(pt / PT_EDGES[0])
    score = rng.beta(a, 3.0)
    rho_edges = np.linspace(RHO_AXIS[1], RHO_AXIS[2], RHO_AXIS[0] + 1)
    pt_edges = np.asarray(PT_EDGES)
    score_edges = np.linspace(0.0, 1.0, SCORE_BINS + 1)
    counts, _ = np.histogramdd((rho, pt, score), bins=(rho_edges, pt_edges, score_edges))
    path = build_ddt_map(counts, rho_edges, pt_edges, score_edges, score="s", efficiency=q,
                         output=tmp_path / "ddt.json")
    ddt = DDTMap(path)
    assert ddt.score == "s"
    passed = score > ddt.threshold(rho, pt)
    idx_r = np.digitize(rho, rho_edges) - 1
    idx_p = np.digitize(pt, pt_edges) - 1
    per_bin, fixed_cut = [], []
    cut = np.quantile(score, 1 - q)  # the inclusive cut with the same overall efficiency
    for r in range(len(rho_edges) - 1):
        for p in range(len(pt_edges) - 1):
            sel = (idx_r == r) & (idx_p == p)
            if sel.sum() >= 500:
                per_bin.append(passed[sel].mean())
                fixed_cut.append((score[sel] > cut).mean())
    per_bin_eff, fixed_eff = np.array(per_bin), np.array(fixed_cut)
    assert len(per_bin_eff) > 150
    assert passed.mean() == pytest.approx(q, abs=0.002)
    # binomial spread of ~500-3000 jets per bin is 0.004-0.01: 0.03 is > 3 sigma everywhere
    assert np.abs(per_bin_eff - q).max() < 0.03
    assert fixed_eff.min() < q / 2 and fixed_eff.max() > 2 * q  # the sculpting the map removes
