"""Optimal transport between jets: Sinkhorn against POT's exact EMD, and its invariants."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("ot", reason="needs the [ot] extra (POT)")
torch = pytest.importorskip("torch", reason="needs the [train] extra")

from jetclr_coffea.ot import (  # noqa: E402
    NearestConfig,
    SinkhornConfig,
    emd_exact,
    emd_matrix,
    ground_cost,
    sinkhorn,
    sinkhorn_nearest,
    sinkhorn_scaling,
)


def _generated_jets(samples: dict[str, Path], n: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, 50, 2) positions and (n, 50) pT fractions of generated top and QCD jets."""
    import uproot

    from jetclr_coffea.preprocessing import PreprocessSpec, kinematics, pt_fraction
    from jetclr_coffea.reader import read_constituents

    xs, ws = [], []
    for process in ("top", "qcd"):
        jc = read_constituents(uproot.open(samples[process])["Events"].arrays())
        arrays = kinematics(jc.constituents[jc.has_constituents], PreprocessSpec(features=("deta", "dphi")))
        xs.append(np.stack([arrays.deta, arrays.dphi], -1))
        ws.append(pt_fraction(arrays.pt, arrays.mask))
    x, w = np.concatenate(xs), np.concatenate(ws)
    pick = np.random.default_rng(3).permutation(len(x))[:n]
    return x[pick], w[pick]


def _t(a: np.ndarray) -> Any:
    return torch.tensor(a, dtype=torch.float64)


@pytest.mark.parametrize("p", [1.0, 0.5])
def test_sinkhorn_matches_exact_emd_on_generated_jets(samples: dict[str, Path], p: float) -> None:
    x, w = _generated_jets(samples, 80)
    a, b = slice(0, 40), slice(40, 80)
    exact = np.array([emd_exact(x[i], w[i], x[i + 40], w[i + 40], p) for i in range(40)])
    approx = sinkhorn(_t(x[a]), _t(w[a]), _t(x[b]), _t(w[b]), p, grad=False).numpy()
    rel = np.abs(approx / exact - 1)
    assert rel.mean() <= 0.01 and np.quantile(rel, 0.95) <= 0.02, (rel.mean(), rel.max())


def test_invariants(samples: dict[str, Path]) -> None:
    x, w = _generated_jets(samples, 6)
    # symmetric, zero on identical jets, exactly and with Sinkhorn
    m = emd_matrix(x, w)
    np.testing.assert_allclose(m, m.T)
    assert np.all(np.diag(m) == 0) and np.all(m[~np.eye(6, dtype=bool)] > 0)
    ab = sinkhorn(_t(x[:3]), _t(w[:3]), _t(x[3:]), _t(w[3:]), grad=False)
    ba = sinkhorn(_t(x[3:]), _t(w[3:]), _t(x[:3]), _t(w[:3]), grad=False)
    np.testing.assert_allclose(ab.numpy(), ba.numpy(), rtol=2e-3)
    same = sinkhorn(_t(x[:3]), _t(w[:3]), _t(x[:3]), _t(w[:3]), grad=False).numpy()
    assert np.all(same < 0.02 * ab.numpy().mean())
    # the order of the constituents does not matter
    perm = np.random.default_rng(1).permutation(x.shape[1])
    assert emd_exact(x[0][perm], w[0][perm], x[1], w[1]) == pytest.approx(m[0, 1], rel=1e-9)
    shuffled = sinkhorn(_t(x[:3][:, perm]), _t(w[:3][:, perm]), _t(x[3:]), _t(w[3:]), grad=False)
    np.testing.assert_allclose(shuffled.numpy(), ab.numpy(), rtol=1e-6)
    # a matrix to other jets is the pairwise one
    np.testing.assert_allclose(emd_matrix(x[:2], w[:2], others=(x[2:], w[2:])), m[:2, 2:])


def test_gradients_are_finite_and_point_downhill(samples: dict[str, Path]) -> None:
    x, w = _generated_jets(samples, 8)
    xa = _t(x[:4]).requires_grad_(True)
    logits = torch.log(_t(w[:4]) + 1e-9).requires_grad_(True)
    wa = torch.softmax(logits, dim=-1)
    cost = sinkhorn(xa, wa, _t(x[4:]), _t(w[4:]))
    cost.sum().backward()
    assert torch.isfinite(xa.grad).all() and torch.isfinite(logits.grad).all()
    assert xa.grad.abs().sum() > 0 and logits.grad.abs().sum() > 0
    # a small step against the gradient lowers the distance
    with torch.no_grad():
        moved = sinkhorn(xa - 1e-3 * xa.grad / xa.grad.norm(), wa, _t(x[4:]), _t(w[4:]), grad=False)
    assert moved.sum() < cost.sum()


@pytest.mark.parametrize("p", [1.0, 0.5])
def test_scaling_domain_matches_exact_emd_in_float32(samples: dict[str, Path], p: float) -> None:
    """The scaling-domain Sinkhorn, in the float32 an ONNX graph runs, reaches the exact W_p
    as closely as the log domain does with the same schedule (both blurred by the final eps)."""
    x, w = _generated_jets(samples, 80)
    exact = np.array([emd_exact(x[i], w[i], x[i + 40], w[i + 40], p) for i in range(40)])
    f32 = [torch.tensor(v, dtype=torch.float32) for v in (x[:40], w[:40], x[40:], w[40:])]
    cfg = SinkhornConfig(1.0, 0.001, 15, 20)
    scaled = sinkhorn_scaling(ground_cost(f32[0], f32[2], p), f32[1], f32[3], cfg).numpy()
    logd = sinkhorn(*f32, p, cfg=cfg, grad=False).numpy()
    assert np.isfinite(scaled).all()
    rel = np.abs(scaled / exact - 1)
    assert rel.mean() <= 0.01 and np.quantile(rel, 0.95) <= 0.03, (rel.mean(), rel.max())
    assert rel.mean() <= 1.5 * np.abs(logd / exact - 1).mean() + 1e-3


def test_scaling_domain_ignores_padding_and_order(samples: dict[str, Path]) -> None:
    x, w = _generated_jets(samples, 8)
    xa, wa, xb, wb = (torch.tensor(v, dtype=torch.float32) for v in (x[:4], w[:4], x[4:], w[4:]))
    base = sinkhorn_scaling(ground_cost(xa, xb), wa, wb).numpy()
    # ten more zero-weight slots, far away: no mass, no NaN, the same cost
    pad_x = torch.cat([xa, torch.full((4, 10, 2), 3.0)], 1)
    pad_w = torch.cat([wa, torch.zeros(4, 10)], 1)
    padded = sinkhorn_scaling(ground_cost(pad_x, xb), pad_w, wb).numpy()
    np.testing.assert_allclose(padded, base, rtol=1e-4)
    perm = torch.randperm(xa.shape[1], generator=torch.Generator().manual_seed(1))
    shuffled = sinkhorn_scaling(ground_cost(xa[:, perm], xb), wa[:, perm], wb).numpy()
    np.testing.assert_allclose(shuffled, base, rtol=1e-4)
    same = sinkhorn_scaling(ground_cost(xa, xa), wa, wa).numpy()
    assert np.all(same < 0.05 * base)
    # broadcasting over medoids: (jets, 1, C) against (1, K, M) is each pair on its own
    grid = sinkhorn_scaling(ground_cost(xa[:, None], xb[None]), wa[:, None], wb[None]).numpy()  # (4, 4)
    np.testing.assert_allclose(np.diag(grid), base, rtol=1e-5)


def _targets(samples: dict[str, Path]) -> tuple[Any, Any, Any, Any, np.ndarray]:
    """30 jets and 6 targets (float32 tensors) and the exact W_1 (30, 6) between them."""
    x, w = _generated_jets(samples, 36)
    exact = emd_matrix(x[:30], w[:30], others=(x[30:], w[30:]))
    xa, wa, xb, wb = (torch.tensor(v, dtype=torch.float32) for v in (x[:30], w[:30], x[30:], w[30:]))
    return xa, wa, xb, wb, exact


def test_nearest_refines_the_nearest_target_to_the_whole_schedule(samples: dict[str, Path]) -> None:
    """Keeping every target is the whole schedule for all (the coarse/fine split changes
    nothing); with the shipped OT graph's split, the nearest target's cost is within issue
    23's bounds of the exact one (3 % mean, 8 % at the 95th percentile), and the others keep
    their coarse (blurred, larger) costs."""
    xa, wa, xb, wb, exact = _targets(samples)
    cost = ground_cost(xa[:, None], xb[None])  # (30, 6, C, C)
    sched = SinkhornConfig(0.3, 0.002, 8, 20)
    whole = sinkhorn_scaling(cost, wa[:, None], wb[None], sched).numpy()
    every, idx = sinkhorn_nearest(cost, wa, wb, NearestConfig(sched, 3, 20, keep=6))
    np.testing.assert_allclose(every.numpy(), whole, rtol=1e-5)
    assert sorted(idx[0].tolist()) == list(range(6))
    from jetclr_coffea.training.ot_medoids import GRAPH_SINKHORN  # the shipped OT model's

    assert GRAPH_SINKHORN.keep == 2
    two, idx2 = sinkhorn_nearest(cost, wa, wb, GRAPH_SINKHORN)
    two = two.numpy()
    rows = np.arange(30)[:, None]
    assert np.isin(exact.argmin(1), idx2.numpy()).mean() >= 0.9  # the nearest was refined
    rel = np.abs(two.min(1) / exact.min(1) - 1)
    assert rel.mean() < 0.03 and np.quantile(rel, 0.95) < 0.08, (rel.mean(), rel.max())
    refined = np.zeros((30, 6), bool)
    refined[rows, idx2.numpy()] = True
    assert np.all(two[~refined] > exact[~refined])  # coarse costs: blurred upwards
    rel_refined, rel_coarse = np.abs(two / exact - 1)[refined], np.abs(two / exact - 1)[~refined]
    assert rel_refined.mean() < rel_coarse.mean()


def test_nearest_ignores_padding_and_refuses_bad_splits(samples: dict[str, Path]) -> None:
    xa, wa, xb, wb, _ = _targets(samples)
    cfg = NearestConfig(SinkhornConfig(0.3, 0.002, 8, 20), 3, 3, keep=2)
    base = sinkhorn_nearest(ground_cost(xa[:, None], xb[None]), wa, wb, cfg)[0].numpy()
    pad_x = torch.cat([xb, torch.full((6, 7, 2), 2.0)], 1)  # 7 empty target slots, far away
    pad_w = torch.cat([wb, torch.zeros(6, 7)], 1)
    padded = sinkhorn_nearest(ground_cost(xa[:, None], pad_x[None]), wa, pad_w, cfg)[0].numpy()
    np.testing.assert_allclose(padded, base, rtol=1e-4)
    assert np.isfinite(base).all()
    for bad in ({"coarse_stages": 0}, {"coarse_stages": 8}, {"keep": 0}, {"coarse_iterations": 0}):
        args = {"schedule": cfg.schedule, "coarse_stages": 3, "coarse_iterations": 3, "keep": 2, **bad}
        with pytest.raises(ValueError, match=r"coarse|keep"):
            NearestConfig(**args)  # type: ignore[arg-type]
