"""AnomalyCLR (DarkCLR on jets): NT-Xent that also pushes each jet away from an anomalous
copy of itself, and exports ``anomaly_score`` = ||embedding||."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import ClassVar

import torch

from jetclr_coffea.augment import AnomalyConfig, JetBatch, anomaly_augment, augment
from jetclr_coffea.errors import JetCLRError
from jetclr_coffea.losses import anomaly_clr
from jetclr_coffea.model import JetEncoder

from ..config import TrainConfig
from ..data import JetSource, batch_inputs
from .base import ExtraOutput, Objective, Summary

__all__ = ["NORM_JETS", "AnomalyCLR", "anomaly_score_range", "embedding_norms", "norm_summary"]

#: Jets whose embedding norms are recorded with each checkpoint.
NORM_JETS = 8192


def anomaly_score_range(norm: dict[str, float]) -> tuple[float, float]:
    """The declared range of ``anomaly_score`` (histogram axes, DDT maps).

    The norms of the training jets span a narrow band (7.6-8.1 for the shipped 64-wide
    IRC-safe encoder), so [0, max] would leave a histogram's bins empty.  Their upper
    end is a ceiling: with pT-weighted pooling of layer-normed constituent vectors, the
    norm is largest for a jet whose constituents all map to the same vector, and the
    top 5 % of QCD jets (where a DDT threshold lies) crowd just below it.  So the range
    is the training jets' [min, max], widened by its width below (anomalies with a
    smaller norm) and by a twentieth of it above: the DDT histogram's score bins, which
    are finest near the ends of the range, then resolve that crowded top.  Scores
    outside the range go into the histograms' flow bins.
    """
    width = norm["max"] - norm["min"]
    return max(0.0, norm["min"] - width), norm["max"] + width / 20


@torch.no_grad()
def embedding_norms(model: JetEncoder, jets: JetBatch, cfg: TrainConfig, batch: int = 1024) -> torch.Tensor:
    """||embedding|| (DarkCLR's anomaly score) of un-augmented jets, in eval mode."""
    was_training = model.training
    model.eval()
    norms = []
    for start in range(0, len(jets), batch):
        b = jets.index(torch.arange(start, min(start + batch, len(jets)), device=jets.device))
        emb, _ = model(*batch_inputs(b, cfg.preprocessing.features, cfg.model.irc_safe))
        norms.append(torch.linalg.vector_norm(emb, dim=1))
    model.train(was_training)
    return torch.cat(norms).cpu()


def norm_summary(norms: torch.Tensor) -> dict[str, float]:
    """min, 0.1 %, median, 99.9 % and max of some norms."""
    q = torch.quantile(norms.double(), torch.tensor([0.001, 0.5, 0.999], dtype=torch.float64))
    return {"n_jets": len(norms), "min": float(norms.min()), "q001": float(q[0]), "median": float(q[1]),
            "q999": float(q[2]), "max": float(norms.max())}


def _norm(embedding: torch.Tensor, head: torch.Tensor) -> torch.Tensor:
    norm: torch.Tensor = torch.linalg.vector_norm(embedding, dim=1)  # (N,)
    return norm


class AnomalyCLR(Objective):
    """The AnomalyCLR loss with the anomaly augmentation of ``anomaly`` (dropped
    constituents); records the embedding norms of training jets and of their anomalous
    copies with each checkpoint, which set the declared range of ``anomaly_score``."""

    name = "anomalyclr"
    sections: ClassVar[Mapping[str, type]] = {"anomaly": AnomalyConfig}

    def loss(self, cfg: TrainConfig, model: JetEncoder, b: JetBatch, g: torch.Generator,
             z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        anom = anomaly_augment(augment(b, g, cfg.augment), g, cfg.section(AnomalyConfig))
        _, z3 = model(*batch_inputs(anom, cfg.preprocessing.features, cfg.model.irc_safe))
        return anomaly_clr(z1, z2, z3, cfg.optim.temperature)

    def checkpoint_extras(self, cfg: TrainConfig, jets: JetSource, device: torch.device
                          ) -> Callable[[torch.nn.Module], dict[str, Summary]] | None:
        norm_jets = jets.index(torch.arange(min(len(jets), NORM_JETS), device=device))
        g = torch.Generator(device=device).manual_seed(cfg.optim.seed)
        batches = {"embedding_norm": norm_jets,
                   "embedding_norm_anomalous": anomaly_augment(norm_jets, g, cfg.section(AnomalyConfig))}

        def extras(model: torch.nn.Module) -> dict[str, Summary]:
            assert isinstance(model, JetEncoder)
            return {key: norm_summary(embedding_norms(model, b, cfg)) for key, b in batches.items()}

        return extras

    def extra_outputs(self, cfg: TrainConfig, extras: Mapping[str, Summary]) -> list[ExtraOutput]:
        if "embedding_norm" not in extras:
            raise JetCLRError("an anomalyclr checkpoint without embedding_norm: it was not written by train")
        norm = extras["embedding_norm"]
        return [ExtraOutput(
            "anomaly_score", _norm, anomaly_score_range(norm),
            {"definition": "L2 norm of the embedding", "training_jets": norm,
             "anomalous_copies_of_them": extras.get("embedding_norm_anomalous")})]
