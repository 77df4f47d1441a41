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
from pathlib import Path
from typing import Any

import torch

from jetclr_coffea import __version__
from jetclr_coffea._io import atomic_path
from jetclr_coffea.errors import JetCLRError
from jetclr_coffea.model_card import ModelCard, OutputSpec
from jetclr_coffea.onnx_io import load_onnx, write_card
from jetclr_coffea.preprocessing import PreprocessSpec

from .objectives import get_objective

__all__ = ["OPSET", "card_for", "export", "load_checkpoint", "load_encoder"]

OPSET = 17


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A training checkpoint.

    Raises:
        JetCLRError: missing, unreadable, or not a jetclr-coffea checkpoint.
    """
    p = Path(path)
    if not p.is_file():
        raise JetCLRError(f"{p}: no such checkpoint")
    try:
        data = torch.load(p, map_location="cpu", weights_only=False)
    except Exception as err:
        raise JetCLRError(f"{p}: not a readable checkpoint ({type(err).__name__})") from err
    if not isinstance(data, dict) or not {"model", "config", "epoch"} <= set(data):
        raise JetCLRError(f"{p}: not a jetclr-coffea training checkpoint")
    return data


def load_encoder(ckpt: dict[str, Any]) -> torch.nn.Module:
    """The model of a checkpoint (built by its objective), in eval mode, on the CPU."""
    model = get_objective(ckpt["config"].get("objective", "jetclr")).rebuild(ckpt["config"])
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as err:
        reason = str(err).splitlines()[0]
        raise JetCLRError(f"checkpoint weights do not fit its model config: {reason}") from err
    return model.eval()


def card_for(ckpt: dict[str, Any], outputs: list[OutputSpec],
             score_ranges: dict[str, tuple[float, float]], scores_info: dict[str, Any]) -> ModelCard:
    """The model card of a model exported from ``ckpt`` with these outputs."""
    cfg = ckpt["config"]
    history = ckpt.get("history", [])
    objective = get_objective(cfg.get("objective", "jetclr"))
    kind = objective.kind(cfg)
    irc_safe = kind != "jetclr" or bool(cfg["model"]["irc_safe"])
    return ModelCard(
        preprocessing=PreprocessSpec.from_dict(cfg["preprocessing"]),
        outputs=tuple(outputs),
        mask="pt_fraction" if irc_safe else "binary",
        model_kind=kind,
        code_version=__version__,
        score_ranges=score_ranges,
        scores_info=scores_info,
        jet_features=objective.jet_features(cfg),
        encoder=objective.model_config(cfg),
        training={
            "name": cfg["name"],
            "objective": objective.name,
            **{section: cfg.get(section) for section in objective.config_sections},
            "data": cfg["data"],
            "augment": cfg["augment"],
            "optim": cfg["optim"],
            "epochs_done": ckpt["epoch"] + 1,
            "n_jets": ckpt.get("n_jets"),
            "final_loss": history[-1]["loss"] if history else None,
            "seconds": sum(h["seconds"] for h in history),
        },
    )


def export(checkpoint: str | os.PathLike[str], output: str | os.PathLike[str]) -> Path:
    """Export the encoder of ``checkpoint`` to ONNX at ``output`` (written atomically)."""
    import onnx

    ckpt = load_checkpoint(checkpoint)
    model = load_encoder(ckpt)
    objective = get_objective(ckpt["config"].get("objective", "jetclr"))
    graph, outputs, ranges, info = objective.export(model, ckpt)
    card = card_for(ckpt, outputs, ranges, info)
    names = list(card.output_names)
    n_features = card.n_features
    x = torch.randn(3, 7, n_features)
    mask = torch.ones(3, 7)
    mask[0, 5:] = 0
    inputs: tuple[torch.Tensor, ...] = (x, mask)
    if card.jet_features:
        inputs = (x, mask, torch.rand(3, len(card.jet_features)))
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
