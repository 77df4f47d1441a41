"""Contrastive losses."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["anomaly_clr", "nt_xent"]


def nt_xent(z: torch.Tensor, z_aug: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent loss of JetCLR (Dillon et al., arXiv:2108.04253).

    For each of the 2N views z_i (the N jets and their N augmented copies), with cosine
    similarity s and temperature tau:

        L_i = -log exp(s(z_i, z'_i)/tau) / sum_{j != i} [exp(s(z_i, z_j)/tau) + exp(s(z_i, z'_j)/tau)]

    where z'_i is the other view of the same jet and z_j, z'_j run over the other jets'
    views (self-pairs and the positive pair are not in the denominator, as in the JetCLR
    talk).  Returns the mean over all 2N views.

    Args:
        z: (N, D) head outputs of the jets.
        z_aug: (N, D) head outputs of their augmented copies.
        temperature: tau > 0.
    """
    n = z.shape[0]
    views = F.normalize(torch.cat([z, z_aug], dim=0), dim=1)  # (2N, D)
    sim = views @ views.T / temperature  # (2N, 2N)
    idx = torch.arange(2 * n, device=z.device)
    partner = (idx + n) % (2 * n)
    positive = sim[idx, partner]  # (2N,)
    # exclude self-similarity and the positive pair from the denominator
    excluded = torch.zeros_like(sim, dtype=torch.bool)
    excluded[idx, idx] = True
    excluded[idx, partner] = True
    denominator = torch.logsumexp(sim.masked_fill(excluded, float("-inf")), dim=1)
    return (denominator - positive).mean()


def anomaly_clr(z: torch.Tensor, z_aug: torch.Tensor, z_anom: torch.Tensor,
                temperature: float) -> torch.Tensor:
    """AnomalyCLR loss (Dillon, Favaro, Feiden, Modak, Plehn, arXiv:2301.04660).

    NT-Xent with the similarity of each view to its jet's *anomalous* copy z*_i (an
    anomaly augmentation, e.g. dropped constituents) subtracted in the numerator:

        L_i = -log exp([s(z_i, z'_i) - s(z_i, z*_i)]/tau)
                   / sum_{j != i} [exp(s(z_i, z_j)/tau) + exp(s(z_i, z'_j)/tau)]
            = NT-Xent_i + s(z_i, z*_i) / tau

    so physical augmentations pull together and the anomalous copy is pushed away.  Both
    views of a jet are pushed from the same z*_i.  Returns the mean over all 2N views.

    Args:
        z: (N, D) head outputs of the jets.
        z_aug: (N, D) head outputs of their (physically) augmented copies.
        z_anom: (N, D) head outputs of their anomalous copies.
        temperature: tau > 0.
    """
    anom = F.normalize(z_anom, dim=1)  # (N, D)
    s_anom = (F.normalize(z, dim=1) * anom).sum(1) + (F.normalize(z_aug, dim=1) * anom).sum(1)  # (N,)
    return nt_xent(z, z_aug, temperature) + s_anom.mean() / (2 * temperature)
