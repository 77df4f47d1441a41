"""The Sinkhorn-EMD VAE (Collins, arXiv:2109.10919): loss EMD^2 / (2 beta^2) + KL.

Trained on un-augmented jets; exported with ``embedding`` = the latent mean, ``anomaly_score``
= the reconstruction EMD of the jet decoded from it (Sinkhorn in the graph) and ``kl_score``
= the KL of the jet's posterior to the prior, summed over the latent dimensions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import ClassVar

import numpy as np
import torch

from jetclr_coffea.augment import JetBatch
from jetclr_coffea.errors import JetCLRError
from jetclr_coffea.model_card import OutputSpec
from jetclr_coffea.ot import SinkhornConfig, ground_cost, sinkhorn, sinkhorn_scaling
from jetclr_coffea.vae import EMDVAE, VAEConfig, kl_divergence

from ..config import TrainConfig
from ..data import JetSource, Targets, batch_inputs
from .base import Export, Objective, Summary

__all__ = ["GRAPH_SINKHORN", "TRAIN_SINKHORN", "VAEEMD", "reconstruction_emd"]

#: The Sinkhorn of the loss: eps annealed from 1 to 0.01 in 10 stages (as Collins), 5 updates each.
TRAIN_SINKHORN = SinkhornConfig(eps_start=1.0, eps_end=0.01, stages=10, iterations=5)
#: The Sinkhorn of the exported anomaly score, in the scaling domain (:func:`reconstruction_emd`).
GRAPH_SINKHORN = SinkhornConfig(eps_start=1.0, eps_end=0.005, stages=10, iterations=10)
#: Training jets whose reconstruction EMD is recorded with each checkpoint (the score's range).
SCORE_JETS = 2048


def reconstruction_emd(x: torch.Tensor, w: torch.Tensor, xh: torch.Tensor, wh: torch.Tensor) -> torch.Tensor:
    """The anomaly score: W_1 of jets (N, C, 2), (N, C) to their reconstructions (N, n_out, 2),
    (N, n_out) -> (N,), by :data:`GRAPH_SINKHORN` in the scaling domain (until issue 23 the log
    domain, with the same schedule: the same costs to float rounding, 9x faster in the graph)."""
    emd: torch.Tensor = sinkhorn_scaling(ground_cost(x, xh), w, wh, GRAPH_SINKHORN)
    return emd


def _positions(x: torch.Tensor) -> torch.Tensor:
    return x[..., :2]  # (N, C, 2): Delta eta, Delta phi


class _Graph(torch.nn.Module):
    def __init__(self, vae: EMDVAE) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, constituents: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        w = mask / torch.clamp(mask.sum(1, keepdim=True), min=1e-12)
        x = _positions(constituents)
        mu, logvar = self.vae.encode(x, w)  # (N, L)
        xh, wh = self.vae.decode(mu)
        emd = reconstruction_emd(x, w, xh, wh)  # (N,)
        return mu, emd, kl_divergence(mu, logvar).sum(1)


@torch.no_grad()
def scores(model: EMDVAE, jets: JetBatch, cfg: TrainConfig,
           batch: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """(reconstruction EMD from the latent mean, summed KL) of un-augmented jets, as exported."""
    was = model.training
    model.eval()
    emd, kl = [], []
    for start in range(0, len(jets), batch):
        b = jets.index(torch.arange(start, min(start + batch, len(jets)), device=jets.device))
        x, w = batch_inputs(b, cfg.preprocessing.features, True)
        mu, logvar = model.encode(_positions(x), w)
        emd.append(reconstruction_emd(_positions(x), w, *model.decode(mu)))
        kl.append(kl_divergence(mu, logvar).sum(1))
    model.train(was)
    return torch.cat(emd).cpu(), torch.cat(kl).cpu()


def _summary(v: torch.Tensor) -> dict[str, float]:
    a = v.double().numpy()
    return {"n_jets": len(a), "median": float(np.median(a)), "q999": float(np.quantile(a, 0.999)),
            "max": float(a.max())}


class VAEEMD(Objective):
    """``objective: vae_emd``: the VAE of ``vae`` (:class:`~jetclr_coffea.vae.VAEConfig`)."""

    name = "vae_emd"
    sections: ClassVar[Mapping[str, type]] = {"vae": VAEConfig}
    model_kind = "emd_vae"

    def check(self, cfg: TrainConfig) -> None:
        if tuple(cfg.preprocessing.features[:2]) != ("deta", "dphi"):
            raise ValueError("objective vae_emd reads positions: preprocessing.features must start "
                             "with deta, dphi")

    def build_model(self, cfg: TrainConfig) -> torch.nn.Module:
        return EMDVAE(cfg.section(VAEConfig))

    def model_config(self, cfg: TrainConfig) -> dict[str, object]:
        return asdict(cfg.section(VAEConfig))

    def step(self, cfg: TrainConfig, model: torch.nn.Module, b: JetBatch, b2: JetBatch,
             g: torch.Generator, targets: Targets | None = None, epoch: int = 0) -> torch.Tensor:
        assert isinstance(model, EMDVAE)
        x, w = batch_inputs(b, cfg.preprocessing.features, True)  # pT fractions as weights
        x = _positions(x)
        mu, logvar = model.encode(x, w)
        eps = torch.randn(mu.shape, generator=g, device=mu.device)
        xh, wh = model.decode(mu + torch.exp(0.5 * logvar) * eps)
        emd = sinkhorn(x, w, xh, wh, 1.0, cfg=TRAIN_SINKHORN)  # (N,), differentiable
        beta = cfg.section(VAEConfig).beta
        loss: torch.Tensor = (emd**2 / (2 * beta**2) + kl_divergence(mu, logvar).sum(1)).mean()
        return loss

    def checkpoint_extras(self, cfg: TrainConfig, jets: JetSource, device: torch.device
                          ) -> Callable[[torch.nn.Module], dict[str, Summary]] | None:
        sample = jets.index(torch.arange(min(len(jets), SCORE_JETS), device=device))

        def extras(model: torch.nn.Module) -> dict[str, Summary]:
            assert isinstance(model, EMDVAE)
            emd, kl = scores(model, sample, cfg)
            return {"reconstruction_emd": _summary(emd), "kl": _summary(kl)}

        return extras

    def export(self, model: torch.nn.Module, cfg: TrainConfig, extras: Mapping[str, Summary]) -> Export:
        assert isinstance(model, EMDVAE)
        if "reconstruction_emd" not in extras or "kl" not in extras:
            raise JetCLRError("a vae_emd checkpoint without reconstruction_emd: it was not written by train")
        rec, kl = extras["reconstruction_emd"], extras["kl"]
        outputs = [OutputSpec("embedding", (model.cfg.latent,)), OutputSpec("anomaly_score"),
                   OutputSpec("kl_score")]
        info: dict[str, dict[str, object]] = {
            "anomaly_score": {"definition": "reconstruction EMD (W_1, Delta R / 0.8) of the jet decoded from "
                                            "its latent mean, Sinkhorn in the graph", "training_jets": rec},
            "kl_score": {"definition": "KL of the posterior to the prior, summed over latent dimensions",
                         "training_jets": kl}}
        ranges = {"anomaly_score": (0.0, 1.5 * rec["max"]), "kl_score": (0.0, 1.5 * kl["max"])}
        return Export(_Graph(model), outputs, ranges, info)
