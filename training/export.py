"""``jetclr-coffea export CHECKPOINT --output MODEL.onnx``: checkpoint -> ONNX.

The graph has dynamic batch and constituent axes, inputs ``constituents`` (N, C, F) and
``mask`` (N, C), outputs ``embedding`` (N, D) and ``head`` (N, D_out); everything needed to
prepare inputs is embedded as metadata (see :mod:`jetclr_coffea.onnx_io`).
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
from jetclr_coffea.model import EncoderConfig, JetEncoder
from jetclr_coffea.onnx_io import load_onnx, write_metadata

__all__ = ["OPSET", "export", "load_checkpoint", "load_encoder"]

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


def load_encoder(ckpt: dict[str, Any]) -> JetEncoder:
    """The encoder of a checkpoint, in eval mode, on the CPU."""
    cfg = EncoderConfig(**ckpt["config"]["model"])
    model = JetEncoder(cfg)
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as err:
        reason = str(err).splitlines()[0]
        raise JetCLRError(f"checkpoint weights do not fit its model config: {reason}") from err
    return model.eval()


def metadata_for(ckpt: dict[str, Any]) -> dict[str, Any]:
    """The metadata dictionary of a model exported from ``ckpt``."""
    cfg = ckpt["config"]
    history = ckpt.get("history", [])
    irc_safe = bool(cfg["model"]["irc_safe"])
    return {
        "format_version": 1,
        "model_kind": "jetclr",
        "code_version": __version__,
        "preprocessing": cfg["preprocessing"],
        "mask": "pt_fraction" if irc_safe else "binary",
        "inputs": {"constituents": ["jets", "constituents", len(cfg["preprocessing"]["features"])],
                   "mask": ["jets", "constituents"]},
        "outputs": {"embedding": cfg["model"]["d_model"], "head": cfg["model"]["d_out"]},
        "encoder": cfg["model"],
        "training": {
            "name": cfg["name"],
            "data": cfg["data"],
            "augment": cfg["augment"],
            "optim": cfg["optim"],
            "epochs_done": ckpt["epoch"] + 1,
            "n_jets": ckpt.get("n_jets"),
            "final_loss": history[-1]["loss"] if history else None,
            "seconds": sum(h["seconds"] for h in history),
        },
        "metrics": {},
    }


class _Export(torch.nn.Module):
    def __init__(self, encoder: JetEncoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, constituents: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embedding, head = self.encoder(constituents, mask)
        return embedding, head


def export(checkpoint: str | os.PathLike[str], output: str | os.PathLike[str]) -> Path:
    """Export the encoder of ``checkpoint`` to ONNX at ``output`` (written atomically)."""
    import onnx

    ckpt = load_checkpoint(checkpoint)
    encoder = load_encoder(ckpt)
    n_features = encoder.cfg.n_features
    x = torch.randn(3, 7, n_features)
    mask = torch.ones(3, 7)
    mask[0, 5:] = 0
    with atomic_path(output) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            _Export(encoder), (x, mask), str(tmp),
            input_names=["constituents", "mask"],
            output_names=["embedding", "head"],
            dynamic_axes={
                "constituents": {0: "jets", 1: "constituents"},
                "mask": {0: "jets", 1: "constituents"},
                "embedding": {0: "jets"},
                "head": {0: "jets"},
            },
            opset_version=OPSET,
            dynamo=False,
        )
        model = load_onnx(tmp)
        write_metadata(model, metadata_for(ckpt))
        onnx.checker.check_model(model)
        onnx.save(model, str(tmp))
    return Path(output)
