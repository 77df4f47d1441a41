"""A VAE whose reconstruction loss is the energy mover's distance (Collins, arXiv:2109.10919).

    x (N, C, 2) positions, w (N, C) pT fractions
      --per-particle MLP--> (N, C, H) --pT-weighted sum--> (N, H) --MLP--> mu, log sigma^2 (N, L)
    z = mu + sigma * eps  --MLP--> decoded jet: n_out positions (N, n_out, 2) and
                                   weights softmax(logits) (N, n_out), summing to one

Loss per jet: EMD(x, w; x', w')^2 / (2 beta^2) + KL(q(z|x) || N(0, 1)), the EMD the
log-domain Sinkhorn of :mod:`jetclr_coffea.ot` (W_1 with ground distance Delta R / 0.8), so
beta is a resolution in the units of the EMD and the KL does not depend on it.  The
encoder pools with the pT fractions, so the latent space is IRC safe: a collinear split or a
zero-pT particle moves nothing.  The representation is ``mu``; the anomaly score is the
reconstruction EMD of the jet decoded from ``mu``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from jetclr_coffea._io import JsonDict
from jetclr_coffea.mlp import mlp

__all__ = ["EMDVAE", "VAEConfig", "kl_divergence"]


@dataclass(frozen=True)
class VAEConfig:
    """Architecture and resolution of :class:`EMDVAE`.

    Attributes:
        hidden: width of every hidden layer.
        latent: latent dimensions (Collins: 256, most collapsing to the prior).
        n_out: particles of the decoded jet.
        beta: the EMD resolution beta of the loss EMD^2 / (2 beta^2).
    """

    hidden: int = 128
    latent: int = 32
    n_out: int = 50
    beta: float = 0.05

    def __post_init__(self) -> None:
        if min(self.hidden, self.latent, self.n_out) < 1:
            raise ValueError("hidden, latent and n_out must be positive")
        if not self.beta > 0:
            raise ValueError(f"beta must be positive, got {self.beta}")

    def to_dict(self) -> JsonDict:
        return asdict(self)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, 1)) per jet and latent dimension (N, L)."""
    return 0.5 * (mu**2 + torch.exp(logvar) - 1.0 - logvar)


class EMDVAE(nn.Module):
    """The VAE of the module docstring."""

    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        h = cfg.hidden
        self.particle = mlp(2, h, h, 2, nn.GELU)  # per particle: (Delta eta, Delta phi)
        self.jet = mlp(h, h, 2 * cfg.latent, 2, nn.GELU)  # pooled -> (mu, logvar)
        self.decoder = mlp(cfg.latent, h, 3 * cfg.n_out, 3, nn.GELU)

    def encode(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) (N, L) of constituents x (N, C, 2) with pT fractions ``mask`` (N, C)."""
        pooled = (mask[..., None] * self.particle(x)).sum(1)  # (N, H), IRC safe
        mu, logvar = self.jet(pooled).chunk(2, dim=-1)
        return mu, torch.clamp(logvar, -12.0, 8.0)

    def decode(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(positions (N, n_out, 2), weights (N, n_out) summing to one) of latents z (N, L)."""
        out = self.decoder(z).reshape(-1, self.cfg.n_out, 3)  # (N, n_out, 3); N stays dynamic in ONNX
        return out[..., :2], torch.softmax(out[..., 2], dim=-1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encode(x, mask)
