"""Physical augmentations of batches of jets, batched on the torch device.

Every function takes a :class:`JetBatch` of padded (N, C) tensors in the jet's centred
frame and a ``torch.Generator`` and returns a new batch; nothing loops over jets in
Python.  Each has a test of the invariant it keeps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from jetclr_coffea.preprocessing.centring import shift_to_centroid

__all__ = [
    "AnomalyConfig",
    "AugmentConfig",
    "JetBatch",
    "anomaly_augment",
    "augment",
    "collinear_split",
    "drop_constituents",
    "drop_soft",
    "recentre",
    "rotate",
    "smear",
    "translate",
]


@dataclass(frozen=True)
class JetBatch:
    """Padded constituents: (N, C) tensors; ``mask`` is boolean, padding holds zeros."""

    deta: torch.Tensor
    dphi: torch.Tensor
    pt: torch.Tensor
    energy: torch.Tensor
    charge: torch.Tensor
    mask: torch.Tensor

    def __len__(self) -> int:
        return len(self.mask)

    @property
    def device(self) -> torch.device:
        return self.mask.device

    def to(self, device: torch.device | str) -> JetBatch:
        return JetBatch(*(getattr(self, f).to(device) for f in self.__dataclass_fields__))

    def index(self, rows: torch.Tensor) -> JetBatch:
        return JetBatch(*(getattr(self, f)[rows] for f in self.__dataclass_fields__))

    def subset(self, rows: torch.Tensor) -> JetBatch:
        """The jets ``rows`` (the same as :meth:`index`; a streamed source keeps them on disk)."""
        return self.index(rows)


@dataclass(frozen=True)
class AugmentConfig:
    """Which augmentations make a positive pair, and how strong they are.

    Attributes:
        rotation: rotate each jet by a uniform random angle about its axis.
        translation: width (in eta and phi) of a Gaussian shift of each jet; 0 = off.
        smear_scale: soft smearing: each constituent moves by N(0, smear_scale / pT[GeV]);
            0 = off (JetCLR uses 0.1 GeV).
        collinear_prob: probability to split each constituent collinearly (into a free slot).
        drop_soft_fraction: constituents below this pT fraction may be dropped; 0 = off.
        drop_soft_prob: probability to drop each such soft constituent.
    """

    rotation: bool = True
    translation: float = 0.0
    smear_scale: float = 0.1
    collinear_prob: float = 0.1
    drop_soft_fraction: float = 0.0
    drop_soft_prob: float = 0.5


@dataclass(frozen=True)
class AnomalyConfig:
    """How AnomalyCLR / DarkCLR make a jet's *anomalous* copy (the loss pushes it away).

    Attributes:
        drop_prob: drop each constituent but the hardest with this probability and
            re-centre the jet on what is left: a jet that lost part of its particles to
            invisible states, as a semi-visible (dark-shower) jet does (the "dropping
            probability" of DarkCLR); must be in (0, 1).
    """

    drop_prob: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 < self.drop_prob < 1.0:
            raise ValueError(f"drop_prob must be in (0, 1), got {self.drop_prob}")


def _zero_padding(b: JetBatch) -> JetBatch:
    m = b.mask
    return JetBatch(
        deta=torch.where(m, b.deta, 0.0), dphi=torch.where(m, b.dphi, 0.0),
        pt=torch.where(m, b.pt, 0.0), energy=torch.where(m, b.energy, 0.0),
        charge=torch.where(m, b.charge, 0.0), mask=m,
    )


def rotate(b: JetBatch, g: torch.Generator) -> JetBatch:
    """Rotate every jet by its own uniform random angle about the jet axis (the origin)."""
    angle = torch.rand(b.deta.shape[0], 1, generator=g, device=b.deta.device) * (2 * math.pi)
    c, s = torch.cos(angle), torch.sin(angle)
    return _zero_padding(replace(b, deta=c * b.deta - s * b.dphi, dphi=s * b.deta + c * b.dphi))


def translate(b: JetBatch, g: torch.Generator, width: float) -> JetBatch:
    """Shift every jet by its own Gaussian (Delta eta, Delta phi) offset of ``width``."""
    n = b.deta.shape[0]
    shift = torch.randn(n, 2, 1, generator=g, device=b.deta.device) * width
    return _zero_padding(replace(b, deta=b.deta + shift[:, 0], dphi=b.dphi + shift[:, 1]))


def smear(b: JetBatch, g: torch.Generator, scale: float) -> JetBatch:
    """Move each constituent by N(0, scale / pT) in eta and phi: soft ones move most."""
    width = scale / torch.clamp(b.pt, min=1e-3)
    noise = torch.randn((2, *b.deta.shape), generator=g, device=b.deta.device)
    return _zero_padding(replace(b, deta=b.deta + noise[0] * width, dphi=b.dphi + noise[1] * width))


def collinear_split(b: JetBatch, g: torch.Generator, prob: float) -> JetBatch:
    """Split constituents collinearly into free (padding) slots.

    Each real constituent is chosen with probability ``prob``; the r-th chosen one of a
    jet moves a fraction 1 - z (z uniform) of its pT and energy into the jet's r-th free
    slot, at the same angles.  Jets without free slots are unchanged; padding is never
    split; the jet's four-momentum is conserved.
    """
    n, c = b.mask.shape
    dev = b.mask.device
    chosen = b.mask & (torch.rand(n, c, generator=g, device=dev) < prob)
    free = ~b.mask
    n_moves = torch.minimum(chosen.sum(1), free.sum(1))  # (N,)
    pos = torch.arange(c, device=dev).expand(n, c)
    chosen_rank = torch.cumsum(chosen.long(), 1) - 1
    free_rank = torch.cumsum(free.long(), 1) - 1
    # src[j, r] = position of the r-th chosen constituent, dst[j, r] = of the r-th free slot
    big = torch.full((n, c), c, dtype=torch.long, device=dev)
    src = big.scatter(1, torch.where(chosen, chosen_rank, c - 1), torch.where(chosen, pos, c))
    dst = big.scatter(1, torch.where(free, free_rank, c - 1), torch.where(free, pos, c))
    rank = torch.arange(c, device=dev).expand(n, c)
    valid = rank < n_moves[:, None]  # (N, C) over ranks
    src = torch.where(valid, src, 0)
    dst = torch.where(valid, dst, 0)
    z = torch.rand(n, c, generator=g, device=dev)
    rows = torch.arange(n, device=dev)[:, None].expand(n, c)
    r, s, d = rows[valid], src[valid], dst[valid]
    zz = z[valid]
    pt, energy = b.pt.clone(), b.energy.clone()
    deta, dphi, charge, mask = b.deta.clone(), b.dphi.clone(), b.charge.clone(), b.mask.clone()
    pt[r, d], energy[r, d] = (1 - zz) * b.pt[r, s], (1 - zz) * b.energy[r, s]
    pt[r, s], energy[r, s] = zz * b.pt[r, s], zz * b.energy[r, s]
    deta[r, d], dphi[r, d] = b.deta[r, s], b.dphi[r, s]
    charge[r, d] = 0.0
    mask[r, d] = True
    return JetBatch(deta=deta, dphi=dphi, pt=pt, energy=energy, charge=charge, mask=mask)


def drop_soft(b: JetBatch, g: torch.Generator, fraction: float, prob: float) -> JetBatch:
    """Drop, with probability ``prob``, constituents carrying less than ``fraction`` of the pT."""
    total = b.pt.sum(1, keepdim=True)
    soft = b.mask & (b.pt < fraction * total)
    drop = soft & (torch.rand(b.mask.shape, generator=g, device=b.mask.device) < prob)
    return _zero_padding(replace(b, mask=b.mask & ~drop))


def recentre(b: JetBatch) -> JetBatch:
    """Shift every jet so that its pT-weighted centroid in (eta, phi) is the origin again."""
    deta, dphi = shift_to_centroid(b.deta, b.dphi, b.pt, b.mask)
    return _zero_padding(replace(b, deta=deta, dphi=dphi))


def drop_constituents(b: JetBatch, g: torch.Generator, prob: float) -> JetBatch:
    """Drop each constituent with probability ``prob``, never a jet's hardest, and re-centre.

    An anomaly augmentation: unlike :func:`drop_soft` it removes hard particles too, so
    the jet's pT, mass and energy flow change, as when particles escape undetected.
    """
    hardest = torch.argmax(torch.where(b.mask, b.pt, -1.0), dim=1)  # (N,)
    drop = b.mask & (torch.rand(b.mask.shape, generator=g, device=b.mask.device) < prob)
    drop[torch.arange(len(hardest), device=hardest.device), hardest] = False
    return recentre(_zero_padding(replace(b, mask=b.mask & ~drop)))


def anomaly_augment(b: JetBatch, g: torch.Generator, cfg: AnomalyConfig) -> JetBatch:
    """A jet's anomalous copy (see :class:`AnomalyConfig`)."""
    return drop_constituents(b, g, cfg.drop_prob)


def augment(b: JetBatch, g: torch.Generator, cfg: AugmentConfig) -> JetBatch:
    """Apply the configured augmentations in a fixed order."""
    if cfg.drop_soft_fraction > 0:
        b = drop_soft(b, g, cfg.drop_soft_fraction, cfg.drop_soft_prob)
    if cfg.collinear_prob > 0:
        b = collinear_split(b, g, cfg.collinear_prob)
    if cfg.smear_scale > 0:
        b = smear(b, g, cfg.smear_scale)
    if cfg.rotation:
        b = rotate(b, g)
    if cfg.translation > 0:
        b = translate(b, g, cfg.translation)
    return b
