"""``jetclr-coffea export CHECKPOINT --output MODEL.onnx``: checkpoint -> ONNX.

The graph has dynamic batch and constituent axes, inputs ``constituents`` (N, C, F) and
``mask`` (N, C), outputs ``embedding`` (N, D) and ``head`` (N, D_out), and for the
``anomalyclr`` objective ``anomaly_score`` (N,): the norm of the embedding, DarkCLR's
anomaly score.  Everything needed to prepare inputs is embedded as metadata (see
:mod:`jetclr_coffea.onnx_io`).
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

__all__ = ["OPSET", "anomaly_score_range", "export", "load_checkpoint", "load_encoder"]

OPSET = 17


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
    objective = cfg.get("objective", "jetclr")
    outputs = {"embedding": cfg["model"]["d_model"], "head": cfg["model"]["d_out"]}
    extra: dict[str, Any] = {}
    if objective == "anomalyclr":
        if "embedding_norm" not in ckpt:
            raise JetCLRError("an anomalyclr checkpoint without embedding_norm: it was not written by train")
        outputs["anomaly_score"] = 1
        norm = ckpt["embedding_norm"]
        extra = {"score_ranges": {"anomaly_score": list(anomaly_score_range(norm))},
                 "anomaly_score": {"definition": "L2 norm of the embedding",
                                   "training_jets": norm,
                                   "anomalous_copies_of_them": ckpt.get("embedding_norm_anomalous")}}
    return {
        "format_version": 1,
        "model_kind": "jetclr",
        "code_version": __version__,
        "preprocessing": cfg["preprocessing"],
        "mask": "pt_fraction" if irc_safe else "binary",
        "inputs": {"constituents": ["jets", "constituents", len(cfg["preprocessing"]["features"])],
                   "mask": ["jets", "constituents"]},
        "outputs": outputs,
        **extra,
        "encoder": cfg["model"],
        "training": {
            "name": cfg["name"],
            "objective": objective,
            "anomaly": cfg.get("anomaly") if objective == "anomalyclr" else None,
            "pairs": cfg.get("pairs") if objective in ("vicreg", "barlow_twins") else None,
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
    def __init__(self, encoder: JetEncoder, anomaly_score: bool) -> None:
        super().__init__()
        self.encoder = encoder
        self.anomaly_score = anomaly_score

    def forward(self, constituents: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        embedding, head = self.encoder(constituents, mask)  # (N, D), (N, D_out)
        if self.anomaly_score:
            return embedding, head, torch.linalg.vector_norm(embedding, dim=1)  # ..., (N,)
        return embedding, head


def export(checkpoint: str | os.PathLike[str], output: str | os.PathLike[str]) -> Path:
    """Export the encoder of ``checkpoint`` to ONNX at ``output`` (written atomically)."""
    import onnx

    ckpt = load_checkpoint(checkpoint)
    encoder = load_encoder(ckpt)
    metadata = metadata_for(ckpt)
    names = list(metadata["outputs"])
    n_features = encoder.cfg.n_features
    x = torch.randn(3, 7, n_features)
    mask = torch.ones(3, 7)
    mask[0, 5:] = 0
    with atomic_path(output) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            _Export(encoder, "anomaly_score" in names), (x, mask), str(tmp),
            input_names=["constituents", "mask"],
            output_names=names,
            dynamic_axes={
                "constituents": {0: "jets", 1: "constituents"},
                "mask": {0: "jets", 1: "constituents"},
                **{name: {0: "jets"} for name in names},
            },
            opset_version=OPSET,
            dynamo=False,
        )
        model = load_onnx(tmp)
        write_metadata(model, metadata)
        onnx.checker.check_model(model)
        onnx.save(model, str(tmp))
    return Path(output)
