"""The encoder's symmetries (permutation, IRC safety) and the losses: NT-Xent, AnomalyCLR,
VICReg, Barlow Twins."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from jetclr_coffea.losses import anomaly_clr, barlow_twins, nt_xent, vicreg
from jetclr_coffea.model import EncoderConfig, JetEncoder


def _inputs(n: int = 6, c: int = 12, f: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, f, generator=g)
    pt = torch.rand(n, c, generator=g)
    pt[:, -3:] = 0  # padding
    x[:, -3:] = 0
    return x, pt / pt.sum(1, keepdim=True)


@pytest.mark.parametrize("d_repr", [None, 40])
def test_permutation_invariance(d_repr: int | None) -> None:
    torch.manual_seed(0)
    model = JetEncoder(EncoderConfig(n_features=3, d_model=16, n_heads=2, n_layers=2, d_repr=d_repr)).eval()
    x, w = _inputs()
    mask = (w > 0).float()
    perm = torch.randperm(x.shape[1])
    e1, h1 = model(x, mask)
    e2, h2 = model(x[:, perm], mask[:, perm])
    torch.testing.assert_close(e1, e2, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(h1, h2, atol=1e-5, rtol=1e-5)


def test_padding_is_ignored() -> None:
    torch.manual_seed(0)
    model = JetEncoder(EncoderConfig(n_features=3, d_model=16, n_heads=2, n_layers=2)).eval()
    x, w = _inputs()
    mask = (w > 0).float()
    garbage = x.clone()
    garbage[:, -3:] = 100.0
    torch.testing.assert_close(model(x, mask)[0], model(garbage, mask)[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("d_repr", [None, 40])
def test_irc_safety_collinear_split_and_soft_emission(d_repr: int | None) -> None:
    torch.manual_seed(1)
    cfg = EncoderConfig(n_features=3, d_model=16, n_heads=2, n_layers=2, irc_safe=True, d_repr=d_repr)
    model = JetEncoder(cfg).eval()
    x, w = _inputs()
    ref, _ = model(x, w)
    assert ref.shape == (x.shape[0], cfg.embedding_width)
    assert cfg.embedding_width == (16 if d_repr is None else d_repr)
    # collinear split: constituent 0 becomes two with the same angular features
    xs, ws = x.clone(), w.clone()
    xs[:, -1] = x[:, 0]
    ws[:, 0], ws[:, -1] = 0.3 * w[:, 0], 0.7 * w[:, 0]
    split, _ = model(xs, ws)
    torch.testing.assert_close(split, ref, atol=1e-5, rtol=1e-5)
    # soft emission: a zero-pT constituent anywhere changes nothing
    xz = x.clone()
    xz[:, -2] = torch.randn(x.shape[0], x.shape[2])
    soft, _ = model(xz, w)
    torch.testing.assert_close(soft, ref, atol=1e-6, rtol=1e-6)
    # whereas a standard (binary-mask) model does see the split
    plain = JetEncoder(EncoderConfig(n_features=3, d_model=16, n_heads=2, n_layers=2)).eval()
    assert not torch.allclose(plain(xs, (ws > 0).float())[0], plain(x, (w > 0).float())[0], atol=1e-3)


def _reference_nt_xent(
    z: torch.Tensor, za: torch.Tensor, tau: float, zs: torch.Tensor | None = None
) -> float:
    """NT-Xent as the JetCLR talk writes it, term by term, for all 2N views; with ``zs``,
    AnomalyCLR as the darkCLR talk writes it (s(z_i, z*_i) subtracted in the numerator)."""
    views = [v / v.norm() for v in torch.cat([z, za])]
    n = len(z)
    total = 0.0
    for i in range(2 * n):
        partner = (i + n) % (2 * n)
        s_pos = float(views[i] @ views[partner])
        s_anom = 0.0 if zs is None else float(views[i] @ (zs[i % n] / zs[i % n].norm()))
        num = math.exp((s_pos - s_anom) / tau)
        den = sum(math.exp(float(views[i] @ views[j]) / tau)
                  for j in range(2 * n) if j not in (i, partner))
        total += -math.log(num / den)
    return total / (2 * n)


@pytest.mark.parametrize("tau", [0.1, 0.5])
def test_nt_xent_matches_reference(tau: float) -> None:
    g = torch.Generator().manual_seed(3)
    z, za = torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g)
    assert float(nt_xent(z, za, tau)) == pytest.approx(_reference_nt_xent(z, za, tau), rel=1e-5)


def test_nt_xent_rewards_alignment() -> None:
    g = torch.Generator().manual_seed(4)
    z = torch.randn(8, 16, generator=g)
    aligned = nt_xent(z, z + 0.01 * torch.randn(8, 16, generator=g), 0.1)
    shuffled = nt_xent(z, z[torch.randperm(8, generator=g)], 0.1)
    assert aligned < shuffled


@pytest.mark.parametrize("tau", [0.1, 0.5])
def test_anomaly_clr_matches_reference(tau: float) -> None:
    g = torch.Generator().manual_seed(5)
    z, za, zs = (torch.randn(5, 4, generator=g) for _ in range(3))
    reference = _reference_nt_xent(z, za, tau, zs)
    assert float(anomaly_clr(z, za, zs, tau)) == pytest.approx(reference, rel=1e-5)


def test_anomaly_clr_pushes_the_anomalous_copy_away() -> None:
    g = torch.Generator().manual_seed(6)
    z = torch.randn(8, 16, generator=g)
    za = z + 0.01 * torch.randn(8, 16, generator=g)
    # same positives: the loss is lower when the anomalous copies point away from their jets
    assert anomaly_clr(z, za, -z, 0.1) < anomaly_clr(z, za, torch.randn(8, 16, generator=g), 0.1) \
        < anomaly_clr(z, za, z, 0.1)
    # and its gradient moves z* away from z: cos(z, z*) falls after one step
    zs = torch.randn(8, 16, generator=g, requires_grad=True)
    anomaly_clr(z, za, zs, 0.1).backward()  # type: ignore[no-untyped-call]
    assert zs.grad is not None
    before = torch.cosine_similarity(z, zs.detach()).mean()
    after = torch.cosine_similarity(z, zs.detach() - 0.1 * zs.grad).mean()
    assert after < before


def _reference_vicreg(z: np.ndarray, zp: np.ndarray, lam: float, mu: float, nu: float) -> float:
    n, d = z.shape
    inv = sum((z[i, j] - zp[i, j]) ** 2 for i in range(n) for j in range(d)) / (n * d)

    def var(a: np.ndarray) -> float:
        return sum(max(0.0, 1.0 - math.sqrt(np.var(a[:, j], ddof=1) + 1e-4)) for j in range(d)) / d

    def cov(a: np.ndarray) -> float:
        c = np.cov(a, rowvar=False)
        return sum(c[i, j] ** 2 for i in range(d) for j in range(d) if i != j) / d

    return lam * inv + mu * (var(z) + var(zp)) + nu * (cov(z) + cov(zp))


def test_vicreg_matches_reference() -> None:
    g = torch.Generator().manual_seed(7)
    z, zp = 0.7 * torch.randn(9, 4, generator=g), 0.7 * torch.randn(9, 4, generator=g)
    expected = _reference_vicreg(z.double().numpy(), zp.double().numpy(), 25.0, 25.0, 1.0)
    assert float(vicreg(z, zp)) == pytest.approx(expected, rel=1e-5)
    assert float(vicreg(z, zp, 1.0, 2.0, 5.0)) == pytest.approx(
        _reference_vicreg(z.double().numpy(), zp.double().numpy(), 1.0, 2.0, 5.0), rel=1e-5)


def test_vicreg_terms() -> None:
    """Identical, spread, decorrelated pairs cost nothing; collapse and correlation do."""
    g = torch.Generator().manual_seed(8)
    x = torch.randn(400, 6, generator=g, dtype=torch.float64)
    white = torch.linalg.qr(x - x.mean(0))[0] * math.sqrt(399)  # zero mean, unit variance, no covariance
    assert float(vicreg(white, white)) == pytest.approx(0.0, abs=1e-4)
    collapsed = torch.zeros(400, 6, dtype=torch.float64)
    assert float(vicreg(collapsed, collapsed)) == pytest.approx(25.0 * 2 * (1 - 0.01), rel=1e-4)
    correlated = white[:, [0, 0, 1, 2, 3, 4]]
    assert float(vicreg(correlated, correlated)) > 0.1
    assert float(vicreg(white, white.roll(1, dims=0))) > 1.0  # pairs that disagree


def _reference_barlow_twins(z: np.ndarray, zp: np.ndarray, lam: float) -> float:
    n, d = z.shape
    a = (z - z.mean(0)) / (z.std(0, ddof=1) + 1e-6)
    b = (zp - zp.mean(0)) / (zp.std(0, ddof=1) + 1e-6)
    c = a.T @ b / (n - 1)
    return sum((1 - c[i, i]) ** 2 for i in range(d)) + lam * sum(
        c[i, j] ** 2 for i in range(d) for j in range(d) if i != j)


def test_barlow_twins_matches_reference_and_is_zero_for_identical_white_pairs() -> None:
    g = torch.Generator().manual_seed(9)
    z, zp = torch.randn(11, 5, generator=g), torch.randn(11, 5, generator=g)
    expected = _reference_barlow_twins(z.double().numpy(), zp.double().numpy(), 5e-3)
    assert float(barlow_twins(z, zp)) == pytest.approx(expected, rel=1e-4)
    x = torch.randn(300, 5, generator=g, dtype=torch.float64)
    white = torch.linalg.qr(x - x.mean(0))[0] * math.sqrt(299)
    assert float(barlow_twins(white, white)) < 0.05
    assert float(barlow_twins(white, -white)) == pytest.approx(20.0, rel=0.01)  # C_ii = -1


def test_encoder_config_checks() -> None:
    with pytest.raises(ValueError, match="divisible"):
        EncoderConfig(d_model=10, n_heads=3)
    with pytest.raises(ValueError, match="n_layers must be positive"):
        EncoderConfig(n_layers=0)
    with pytest.raises(ValueError, match="d_repr must be positive"):
        EncoderConfig(d_repr=0)
