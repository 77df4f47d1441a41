"""DisCo's distance correlation (jetclr_coffea.losses.distance_correlation)."""

from __future__ import annotations

import numpy as np
import torch

from jetclr_coffea.losses import distance_correlation


def _reference(x: np.ndarray, y: np.ndarray) -> float:
    """Szekely's unweighted dCor^2, written out term by term."""
    def centred(v: np.ndarray) -> np.ndarray:
        a = np.abs(v[:, None] - v[None, :])
        return a - a.mean(0)[None, :] - a.mean(1)[:, None] + a.mean()

    a, b = centred(x), centred(y)
    return float((a * b).mean() / np.sqrt((a * a).mean() * (b * b).mean()))


def test_matches_the_definition_and_its_limits() -> None:
    rng = np.random.default_rng(3)
    x, noise = rng.normal(size=400), rng.normal(size=400)
    y = x**2 + 0.3 * noise  # dependent but uncorrelated (Pearson ~ 0)
    t = torch.as_tensor
    assert abs(np.corrcoef(x, y)[0, 1]) < 0.15
    got = float(distance_correlation(t(x), t(y)))
    assert abs(got - _reference(x, y)) < 1e-9
    assert got > 0.2  # distance correlation sees the dependence Pearson misses
    assert float(distance_correlation(t(x), t(3.0 * x - 1.0))) > 1 - 1e-9  # linear: one
    assert float(distance_correlation(t(x), t(noise))) < 0.02  # independent: ~0


def test_integer_weights_equal_repeated_entries_and_gradients_flow() -> None:
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=60), rng.normal(size=60)
    reps = rng.integers(1, 4, 60)
    weighted = distance_correlation(torch.as_tensor(x), torch.as_tensor(y), torch.as_tensor(reps * 1.0))
    assert abs(float(weighted) - _reference(np.repeat(x, reps), np.repeat(y, reps))) < 1e-9
    xt = torch.tensor(x, requires_grad=True)
    distance_correlation(xt, torch.as_tensor(y)).backward()
    assert xt.grad is not None and torch.isfinite(xt.grad).all() and xt.grad.abs().sum() > 0


def test_flatness_penalty_value_and_gradient() -> None:
    """MoDe[0]'s flatness: the value against a direct computation, ~0 for a score independent
    of the mass, and a gradient that lowers the scores of the mass bins that score high."""
    from jetclr_coffea.losses import flatness

    g = torch.Generator().manual_seed(5)
    mass = torch.rand(1200, generator=g) * 200
    free = torch.rand(1200, generator=g)
    sculpted = (0.6 * mass / 200 + 0.4 * torch.rand(1200, generator=g)).requires_grad_()
    value = flatness(sculpted, mass, n_bins=6)
    value.backward()
    value = value.detach()
    assert sculpted.grad is not None
    # direct: bins of 200 jets (quantiles of a continuous mass), CDFs by counting
    s, m = sculpted.detach().numpy(), mass.numpy()
    order = np.argsort(m)
    want = 0.0
    for rows in np.array_split(order, 6):
        for i in rows:
            want += (np.mean(s[rows] < s[i]) - np.mean(s < s[i])) ** 2
    assert abs(float(value) - want / len(s)) < 1e-6
    assert float(flatness(free, mass, n_bins=6)) < 0.1 * float(value)
    # descent lowers the high-mass jets' scores: the gradient grows with the mass
    assert np.corrcoef(sculpted.grad.numpy(), m)[0, 1] > 0.5
