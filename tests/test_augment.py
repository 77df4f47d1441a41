"""Each augmentation keeps the invariant it should, batched and seeded."""

from __future__ import annotations

import pytest
import torch

from jetclr_coffea.augment import (
    AnomalyConfig,
    AugmentConfig,
    JetBatch,
    anomaly_augment,
    augment,
    collinear_split,
    drop_constituents,
    drop_soft,
    rotate,
    smear,
    translate,
)


def _batch(n: int = 64, c: int = 30, seed: int = 0) -> JetBatch:
    g = torch.Generator().manual_seed(seed)
    counts = torch.randint(1, c + 1, (n,), generator=g)
    mask = torch.arange(c)[None, :] < counts[:, None]
    pt = torch.where(mask, torch.rand(n, c, generator=g) * 50 + 0.1, 0.0)
    pt, _ = torch.sort(pt, dim=1, descending=True)
    deta = torch.where(mask, torch.randn(n, c, generator=g) * 0.2, 0.0)
    dphi = torch.where(mask, torch.randn(n, c, generator=g) * 0.2, 0.0)
    energy = pt * 1.3
    charge = torch.where(mask, torch.randint(-1, 2, (n, c), generator=g).float(), 0.0)
    return JetBatch(deta=deta, dphi=dphi, pt=pt, energy=energy, charge=charge, mask=mask)


def _sums(b: JetBatch) -> tuple[torch.Tensor, ...]:
    return (b.pt.sum(1), b.energy.sum(1), (b.pt * b.deta).sum(1), (b.pt * b.dphi).sum(1))


def test_rotation_keeps_distances_and_axis() -> None:
    b = _batch()
    total = b.pt.sum(1, keepdim=True)
    centred = JetBatch(
        deta=torch.where(b.mask, b.deta - (b.pt * b.deta).sum(1, keepdim=True) / total, 0.0),
        dphi=torch.where(b.mask, b.dphi - (b.pt * b.dphi).sum(1, keepdim=True) / total, 0.0),
        pt=b.pt, energy=b.energy, charge=b.charge, mask=b.mask,
    )
    r = rotate(centred, torch.Generator().manual_seed(1))
    torch.testing.assert_close(torch.hypot(r.deta, r.dphi), torch.hypot(centred.deta, centred.dphi))
    # the pT-weighted centroid (jet axis) stays at the origin
    torch.testing.assert_close((r.pt * r.deta).sum(1), torch.zeros(len(r.pt)), atol=1e-4, rtol=0)
    assert not torch.allclose(r.deta, centred.deta)
    assert torch.equal(r.pt, b.pt) and torch.equal(r.mask, b.mask)


def test_translation_shifts_rigidly() -> None:
    b = _batch()
    t = translate(b, torch.Generator().manual_seed(2), 0.5)
    shift = (t.deta - b.deta)[:, :1]
    torch.testing.assert_close(torch.where(b.mask, t.deta - b.deta, shift), shift.expand_as(b.deta))
    assert torch.all(t.deta[~b.mask] == 0)


def test_smearing_moves_soft_constituents_most() -> None:
    b = _batch()
    s = smear(b, torch.Generator().manual_seed(3), 0.1)
    move = torch.hypot(s.deta - b.deta, s.dphi - b.dphi)
    hard = b.mask & (b.pt > 30)
    soft = b.mask & (b.pt < 1)
    assert move[hard].max() < 0.05
    assert move[soft].mean() > 10 * move[hard].mean()
    assert torch.equal(s.pt, b.pt)


def test_collinear_split_conserves_momentum_and_never_splits_padding() -> None:
    b = _batch()
    s = collinear_split(b, torch.Generator().manual_seed(4), 0.3)
    for before, after in zip(_sums(b), _sums(s), strict=True):
        torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-4)
    added = s.mask.sum(1) - b.mask.sum(1)
    free = (~b.mask).sum(1)
    assert torch.all(added >= 0) and torch.all(added <= free) and added.sum() > 0
    assert torch.all(s.mask | ~b.mask)  # real constituents stay real
    # new constituents sit exactly on the direction of an existing one
    new = s.mask & ~b.mask
    rows = torch.nonzero(new)[:, 0]
    for r, col in torch.nonzero(new)[:5].tolist():
        same = (b.deta[r] == s.deta[r, col]) & (b.dphi[r] == s.dphi[r, col]) & b.mask[r]
        assert same.any()
    # a full jet has no free slot and is untouched
    full = JetBatch(*(getattr(b, f)[:, :1] for f in b.__dataclass_fields__))
    full = JetBatch(full.deta, full.dphi, full.pt, full.energy, full.charge, torch.ones_like(full.mask))
    unchanged = collinear_split(full, torch.Generator().manual_seed(4), 1.0)
    assert torch.equal(unchanged.pt, full.pt)
    assert len(rows) > 0


def test_drop_soft_only_drops_soft() -> None:
    b = _batch()
    d = drop_soft(b, torch.Generator().manual_seed(5), 0.02, 1.0)
    frac = b.pt / b.pt.sum(1, keepdim=True)
    assert torch.equal(d.mask, b.mask & (frac >= 0.02))
    assert torch.all(d.pt[~d.mask] == 0)


def test_drop_constituents_drops_hard_ones_keeps_the_hardest_and_recentres() -> None:
    b = _batch(n=400)
    d = drop_constituents(b, torch.Generator().manual_seed(6), 0.5)
    assert torch.all(d.mask <= b.mask)  # only removes
    hardest = torch.argmax(torch.where(b.mask, b.pt, -1.0), dim=1)
    rows = torch.arange(len(hardest))
    assert torch.all(d.mask[rows, hardest])
    droppable = b.mask.clone()
    droppable[rows, hardest] = False
    dropped = droppable & ~d.mask
    assert abs(float(dropped.sum() / droppable.sum()) - 0.5) < 0.03
    frac = b.pt / b.pt.sum(1, keepdim=True)
    assert float(frac[dropped].max()) > 0.1  # hard constituents go too, unlike drop_soft
    # the jet loses pT and is re-centred on what is left
    assert torch.all(d.pt.sum(1) <= b.pt.sum(1))
    assert torch.allclose((d.pt * d.deta).sum(1), torch.zeros(len(rows)), atol=1e-4)
    assert torch.allclose((d.pt * d.dphi).sum(1), torch.zeros(len(rows)), atol=1e-4)
    assert torch.all(d.pt[~d.mask] == 0) and torch.all(d.deta[~d.mask] == 0)
    # distances between surviving constituents are kept (a rigid shift)
    kept = d.mask[0]
    assert torch.allclose(d.deta[0, kept][:, None] - d.deta[0, kept][None, :],
                          b.deta[0, kept][:, None] - b.deta[0, kept][None, :], atol=1e-5)
    again = anomaly_augment(b, torch.Generator().manual_seed(6), AnomalyConfig(drop_prob=0.5))
    assert torch.equal(again.mask, d.mask)


def test_anomaly_config_checks() -> None:
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match="drop_prob must be in"):
            AnomalyConfig(drop_prob=bad)


def test_augment_is_seeded() -> None:
    b = _batch()
    cfg = AugmentConfig(translation=0.1, drop_soft_fraction=0.01)
    a1 = augment(b, torch.Generator().manual_seed(9), cfg)
    a2 = augment(b, torch.Generator().manual_seed(9), cfg)
    a3 = augment(b, torch.Generator().manual_seed(10), cfg)
    assert torch.equal(a1.deta, a2.deta) and not torch.equal(a1.deta, a3.deta)
