"""``jetclr-coffea export CHECKPOINT --output MODEL.onnx``: checkpoint -> ONNX.

The graph has dynamic batch and constituent axes, inputs ``constituents`` (N, C, F) and
``mask`` (N, C) (and ``jet`` (N, J) for a model with jet features), outputs ``embedding``
(N, D) and ``head`` (N, D_out), and the outputs the objective adds
(:meth:`~jetclr_coffea.training.objectives.Objective.extra_outputs`; for ``anomalyclr``
``anomaly_score`` (N,): the norm of the embedding, DarkCLR's anomaly score).
Everything needed to prepare inputs is embedded as the model card (see
:mod:`jetclr_coffea.model_card`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from jetclr_coffea import __version__
from jetclr_coffea._io import JsonDict, atomic_path
from jetclr_coffea.errors import JetCLRError
from jetclr_coffea.model_card import ModelCard
from jetclr_coffea.onnx_io import load_onnx, write_card

from .checkpoint import Checkpoint, load_checkpoint, load_model
from .objectives import Export

__all__ = ["OPSET", "card_for", "example_inputs", "export", "portable", "write_graph"]

OPSET = 17


def portable(value: object, root: str | os.PathLike[str] | None = None) -> object:
    """``value`` (a JSON record) with every absolute path under ``root`` (default: the working
    directory, the repository root of a shipped model) made relative to it: a card says where
    its inputs were in the project, not on the machine that trained it."""
    prefix = os.path.join(os.path.abspath(root or os.getcwd()), "")
    if isinstance(value, str) and value.startswith(prefix):
        return value[len(prefix):]
    if isinstance(value, dict):
        return {k: portable(v, prefix) for k, v in value.items()}
    if isinstance(value, list):
        return [portable(v, prefix) for v in value]
    return value


def _portable_record(record: Mapping[str, object]) -> JsonDict:
    """:func:`portable` of a JSON object (a score's description), typed as one."""
    return {key: portable(value) for key, value in record.items()}


def card_for(ckpt: Checkpoint, spec: Export) -> ModelCard:
    """The model card of the model exported from ``ckpt`` as ``spec`` (its paths relative to
    the working directory where they lie under it, :func:`portable`)."""
    cfg, objective = ckpt.config, ckpt.objective
    kind = objective.kind(cfg)
    irc_safe = kind != "jetclr" or cfg.model.irc_safe
    record: Any = portable(cfg.to_dict())
    history = ckpt.history
    return ModelCard(
        preprocessing=cfg.preprocessing,
        outputs=tuple(spec.outputs),
        mask="pt_fraction" if irc_safe else "binary",
        model_kind=kind,
        code_version=__version__,
        score_ranges=spec.score_ranges,
        scores_info={name: _portable_record(info) for name, info in spec.scores_info.items()},
        jet_features=objective.jet_features(cfg),
        encoder=objective.model_config(cfg),
        training={
            "name": cfg.name,
            "objective": objective.name,
            **{section: record[section] for section in objective.sections},
            "data": record["data"],
            "augment": record["augment"],
            "optim": record["optim"],
            "epochs_done": ckpt.epoch + 1,
            "n_jets": ckpt.n_jets,
            "final_loss": history[-1]["loss"] if history else None,
            "seconds": sum(h["seconds"] for h in history),
        },
    )


def export(checkpoint: str | os.PathLike[str], output: str | os.PathLike[str]) -> Path:
    """Export the encoder of ``checkpoint`` to ONNX at ``output`` (written atomically)."""
    if Path(output).resolve() == Path(checkpoint).resolve():
        raise JetCLRError(f"{output}: the output would overwrite the checkpoint")
    ckpt = load_checkpoint(checkpoint)
    spec = ckpt.objective.export(load_model(ckpt), ckpt.config, ckpt.extras)
    card = card_for(ckpt, spec)
    return write_graph(spec.graph, example_inputs(card), card, output)


def example_inputs(card: ModelCard) -> tuple[torch.Tensor, ...]:
    """Inputs to trace a graph of ``card`` on: constituents (3, 7, F), mask (3, 7) with one
    jet of five constituents, and jet features (3, J) where the card has them."""
    x = torch.randn(3, 7, card.n_features)
    mask = torch.ones(3, 7)
    mask[0, 5:] = 0
    if card.jet_features:
        return x, mask, torch.rand(3, len(card.jet_features))
    return x, mask


def write_graph(graph: torch.nn.Module, inputs: tuple[torch.Tensor, ...], card: ModelCard,
                output: str | os.PathLike[str]) -> Path:
    """Trace ``graph`` on example ``inputs`` (constituents, mask[, jet]) to ONNX with dynamic
    jet and constituent axes, the card's input and output names and :data:`OPSET`, embed the
    card, check the model, and write it to ``output`` atomically: the one ONNX writer of
    every model the project exports (encoders, OT medoids, linearized OT)."""
    import onnx

    names = list(card.output_names)
    with atomic_path(output) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            graph, inputs, str(tmp),
            input_names=list(card.input_names),
            output_names=names,
            dynamic_axes={
                "constituents": {0: "jets", 1: "constituents"},
                "mask": {0: "jets", 1: "constituents"},
                **({"jet": {0: "jets"}} if card.jet_features else {}),
                **{name: {0: "jets"} for name in names},
            },
            opset_version=OPSET,
            dynamo=False,
        )
        model = load_onnx(tmp)
        write_card(model, card)
        onnx.checker.check_model(model)
        onnx.save(model, str(tmp))
    return Path(output)
