"""``jetclr-coffea export A.pt B.pt ... --output MODEL.onnx``: several classifiers, one ONNX.

Members are supervised runs of one recipe that differ only in their seed (or data): the
exported graph feeds every member the same inputs and returns the mean of their scores and
heads, and their embeddings side by side.  Averaging the probabilities of independently
trained classifiers removes the part of each score that is seed noise, which is what limits
a small network's background rejection at fixed efficiency; the model card lists the members.

Only ``objective: supervised`` members average meaningfully: a contrastive embedding's axes
and norm differ from seed to seed, so two encoders' anomaly scores are not on one scale.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import torch

from jetclr_coffea.errors import JetCLRError
from jetclr_coffea.model_card import ModelCard, OutputSpec

from .checkpoint import Checkpoint, load_checkpoint, load_model
from .export import card_for, example_inputs, write_graph

__all__ = ["EnsembleGraph", "export_ensemble"]


class EnsembleGraph(torch.nn.Module):
    """Members' graphs (embedding, head, *scores each) run on the same inputs: embeddings
    concatenated, head and scores averaged."""

    def __init__(self, members: Sequence[torch.nn.Module]) -> None:
        super().__init__()
        self.members = torch.nn.ModuleList(members)

    def forward(self, constituents: torch.Tensor, mask: torch.Tensor,
                jet: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """constituents (N, C, F), mask (N, C), jet (N, J) where the members take jet features."""
        inputs = (constituents, mask) if jet is None else (constituents, mask, jet)
        outs = [m(*inputs) for m in self.members]  # K x (embedding (N, D), head (N, 1), *(N,))
        embedding = torch.cat([o[0] for o in outs], dim=1)  # (N, K*D)
        rest = [torch.stack(column).mean(dim=0) for column in zip(*(o[1:] for o in outs), strict=True)]
        return embedding, *rest


def _check_members(paths: Sequence[Path], ckpts: Sequence[Checkpoint]) -> None:
    """One-line errors for members that cannot be averaged."""
    if len(set(p.resolve() for p in paths)) < len(paths):
        raise JetCLRError("ensemble export: the same checkpoint is given twice")
    first = ckpts[0]
    for path, ck in zip(paths, ckpts, strict=True):
        if ck.objective.name != "supervised":
            raise JetCLRError(f"{path}: ensemble export needs supervised classifiers, "
                              f"this run's objective is {ck.objective.name}")
        if ck.config.preprocessing != first.config.preprocessing:
            raise JetCLRError(f"{path}: its preprocessing differs from {paths[0]}'s")
        if ck.objective.jet_features(ck.config) != first.objective.jet_features(first.config):
            raise JetCLRError(f"{path}: its jet features differ from {paths[0]}'s")


def _member(card: ModelCard) -> dict[str, object]:
    """What the ensemble's card records of one member's training."""
    optim = card.training.get("optim")
    seed = optim.get("seed") if isinstance(optim, Mapping) else None
    return {"name": card.training.get("name"), "seed": seed,
            **{key: card.training.get(key) for key in ("epochs_done", "final_loss", "seconds")}}


def _ensemble_card(cards: Sequence[ModelCard]) -> ModelCard:
    """The first member's card with the concatenated embedding and the members listed."""
    first = cards[0]
    if any(c.output_names != first.output_names for c in cards):
        raise JetCLRError("ensemble export: the members' outputs differ")
    outputs = tuple(OutputSpec(o.name, (o.shape[0] * len(cards),)) if o.name == "embedding" else o
                    for o in first.outputs)
    members = [_member(c) for c in cards]
    seconds = sum(float(m["seconds"]) for m in members if isinstance(m["seconds"], (int, float)))
    info = {name: {**value, "ensemble": f"mean over {len(cards)} members"} if isinstance(value, Mapping)
            else value for name, value in first.scores_info.items()}
    training = {**first.training, "ensemble": members, "seconds": seconds}
    return replace(first, outputs=outputs, training=training, scores_info=info)


def export_ensemble(checkpoints: Sequence[str | os.PathLike[str]],
                    output: str | os.PathLike[str]) -> Path:
    """Export the mean of the supervised classifiers ``checkpoints`` (two or more) to ONNX at
    ``output`` (written atomically; never over one of the checkpoints)."""
    paths = [Path(c) for c in checkpoints]
    if len(paths) < 2:
        raise JetCLRError("ensemble export needs at least two checkpoints")
    if Path(output).resolve() in {p.resolve() for p in paths}:
        raise JetCLRError(f"{output}: the output would overwrite one of the checkpoints")
    ckpts = [load_checkpoint(p) for p in paths]
    _check_members(paths, ckpts)
    specs = [ck.objective.export(load_model(ck), ck.config, ck.extras) for ck in ckpts]
    card = _ensemble_card([card_for(ck, s) for ck, s in zip(ckpts, specs, strict=True)])
    return write_graph(EnsembleGraph([s.graph for s in specs]), example_inputs(card), card, output)
