"""Contrastive losses: NT-Xent (JetCLR), AnomalyCLR, and the regularised VICReg and Barlow
Twins losses that CoDec uses; DisCo's distance correlation, the penalty that decorrelates a
classifier from the jet mass by training."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["anomaly_clr", "barlow_twins", "distance_correlation", "flatness", "nt_xent", "vicreg"]


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


def _off_diagonal(m: torch.Tensor) -> torch.Tensor:
    return m - torch.diag_embed(torch.diagonal(m))


def vicreg(z: torch.Tensor, z_pair: torch.Tensor, invariance: float = 25.0, variance: float = 25.0,
           covariance: float = 1.0) -> torch.Tensor:
    """VICReg loss (Bardes, Ponce, LeCun, arXiv:2105.04906), as in CoDec:

        l = lambda s(Z, Z') + mu [v(Z) + v(Z')] + nu [c(Z) + c(Z')]

    s: mean squared distance of the pairs; v: mean over dimensions of
    relu(1 - sqrt(Var + 1e-4)) (keeps every dimension spread, no collapse); c: sum of the
    squared off-diagonal covariances over the dimension D (decorrelates the dimensions).
    No negative pairs.

    Args:
        z, z_pair: (N, D) head outputs of the two members of N positive pairs.
        invariance, variance, covariance: lambda, mu, nu.
    """
    n, d = z.shape
    s = F.mse_loss(z, z_pair)  # mean over N and D

    def v(a: torch.Tensor) -> torch.Tensor:
        return torch.relu(1.0 - torch.sqrt(a.var(dim=0) + 1e-4)).mean()

    def c(a: torch.Tensor) -> torch.Tensor:
        centred = a - a.mean(dim=0)
        cov = centred.T @ centred / (n - 1)  # (D, D)
        return _off_diagonal(cov).pow(2).sum() / d

    return invariance * s + variance * (v(z) + v(z_pair)) + covariance * (c(z) + c(z_pair))


def barlow_twins(z: torch.Tensor, z_pair: torch.Tensor, off_diagonal: float = 5.0e-3) -> torch.Tensor:
    """Barlow Twins loss (Zbontar et al., arXiv:2103.03230).

    With C the (D, D) cross-correlation of the batch-standardised outputs of the two
    members of each pair: sum_i (1 - C_ii)^2 + lambda sum_{i != j} C_ij^2.

    Args:
        z, z_pair: (N, D) head outputs of the two members of N positive pairs.
        off_diagonal: lambda.
    """
    n = z.shape[0]

    def standardise(a: torch.Tensor) -> torch.Tensor:
        return (a - a.mean(dim=0)) / (a.std(dim=0) + 1e-6)

    c = standardise(z).T @ standardise(z_pair) / (n - 1)  # (D, D)
    return (1.0 - torch.diagonal(c)).pow(2).sum() + off_diagonal * _off_diagonal(c).pow(2).sum()


def distance_correlation(x: torch.Tensor, y: torch.Tensor,
                         weight: torch.Tensor | None = None) -> torch.Tensor:
    """Squared distance correlation dCor^2(x, y) of two (N,) samples (Szekely et al. 2007).

    DisCo's penalty (Kasieczka & Shih, arXiv:2001.05310): zero if and only if x and y are
    independent (in the large-N limit), one for a linear relation; differentiable.  With
    weights w normalised to sum one, a = |x_i - x_j| is double-centred with weighted means,
    A = a - m_i - m_j + m, and dCov^2(x, y) = sum_ij w_i w_j A_ij B_ij; integer weights give
    the same value as repeating the entries.

    Args:
        x, y: (N,) samples (e.g. a classifier's output and the jet mass, background jets).
        weight: (N,) non-negative event weights (None: all one).
    """
    w = torch.ones_like(x) if weight is None else weight
    w = w / w.sum()

    def centred(v: torch.Tensor) -> torch.Tensor:
        a = (v[:, None] - v[None, :]).abs()  # (N, N)
        row = a @ w  # (N,) weighted mean over j
        return a - row[:, None] - row[None, :] + (row * w).sum()

    def dcov2(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        return (w[:, None] * w[None, :] * p * q).sum()

    a, b = centred(x), centred(y)
    return dcov2(a, b) / torch.sqrt(dcov2(a, a) * dcov2(b, b) + 1e-12)


def flatness(score: torch.Tensor, mass: torch.Tensor, n_bins: int = 8,
             edges: torch.Tensor | None = None) -> torch.Tensor:
    """The flatness penalty of MoDe[0] (Kitouni et al., arXiv:2010.09745; the flatness loss of
    Rogozhnikov et al., arXiv:1410.4140): how much the score's distribution in bins of the
    mass differs from its distribution over all jets.

    With F the empirical CDF of the (N,) scores and F_b that of the jets in mass bin b
    (``n_bins`` quantile bins of ``mass``), the value is sum_b (n_b / N) mean_{i in b}
    (F_b(s_i) - F(s_i))^2: zero when every bin's scores are distributed alike (a cut at any
    threshold keeps the same fraction of every mass bin), so it aims at the QCD efficiency's
    mass dependence directly, at every working point.  Its gradient is the flatness loss's,
    d/ds_i sum_b (n_b / N) int (F_b - F)^2 dt = -(2 / N) (F_b(s_i) - F(s_i)): a jet whose
    bin scores higher than all jets is pushed down, one whose bin scores lower is pushed up.
    The CDFs are step functions (no gradient of their own); the value is returned with
    that gradient attached.

    Args:
        score: (N,) classifier outputs of background jets.
        mass: (N,) their masses.
        n_bins: mass bins, quantiles of ``mass`` (bins with fewer than 2 jets are skipped).
        edges: fixed inner bin edges instead (masses below the first and above the last
            form the outer bins); quantile bins put most of a steeply falling spectrum's
            tail into one bin, where a cut can still sculpt.
    """
    n = score.shape[0]
    with torch.no_grad():
        below = (score[None, :] < score[:, None]).to(score.dtype)  # (N, N): s_j < s_i
        cdf_all = below.mean(1)  # F(s_i)
        m = mass.to(torch.float64)
        if edges is None:
            inner = torch.quantile(m, torch.linspace(0, 1, n_bins + 1, dtype=torch.float64))[1:-1]
        else:
            inner = edges.to(torch.float64)
        b = torch.bucketize(m, inner.contiguous(), right=True)  # (N,) bin index
        same = (b[None, :] == b[:, None]).to(score.dtype)  # (N, N)
        n_b = same.sum(1)  # jets in each jet's bin
        cdf_bin = (below * same).sum(1) / n_b  # F_b(s_i)
        d = torch.where(n_b >= 2, cdf_bin - cdf_all, torch.zeros_like(cdf_all))
        value = (d**2).sum() / n
    surrogate = -(2.0 / n) * (d * score).sum()
    return value + surrogate - surrogate.detach()
