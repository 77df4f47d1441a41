"""training/checkpoint.py: a typed checkpoint that reads back what train wrote."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from jetclr_coffea.training.checkpoint import Checkpoint, load_checkpoint, load_model
from jetclr_coffea.training.loading import load_config
from jetclr_coffea.training.train import train

from jetclr_coffea.errors import JetCLRError
from jetclr_coffea.model import JetEncoder


def test_a_checkpoint_reads_back_typed(tiny_config: Callable[..., Path], tmp_path: Path,
                                       samples: dict[str, Path]) -> None:
    cfg = load_config(tiny_config(tmp_path, samples, objective="anomalyclr", optim={"epochs": 1}))
    result = train(cfg, progress=False)
    ckpt = load_checkpoint(result.checkpoint)
    assert isinstance(ckpt, Checkpoint) and ckpt.config == cfg and ckpt.epoch == 0
    assert ckpt.n_jets > 0 and [h["epoch"] for h in ckpt.history] == [1]
    norm = ckpt.extras["embedding_norm"]  # the objective's record, kept apart from the weights
    assert set(ckpt.extras) == {"embedding_norm", "embedding_norm_anomalous"}
    assert norm["max"] >= norm["min"] > 0
    assert ckpt.optimizer is not None and ckpt.scheduler is not None
    model = load_model(ckpt)
    assert isinstance(model, JetEncoder) and not model.training
    assert all(torch.equal(model.state_dict()[k], v) for k, v in ckpt.weights.items())
    # an older checkpoint that recorded every objective's section still reads (they are dropped)
    raw = ckpt.to_dict()
    raw["config"] = {**ckpt.config.to_dict(), "vae": {"beta": 0.1}}
    torch.save(raw, tmp_path / "old.pt")
    assert load_checkpoint(tmp_path / "old.pt").config == cfg


def test_bad_checkpoints_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(JetCLRError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a pickle")
    with pytest.raises(JetCLRError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"model": {}, "epoch": 0}, tmp_path / "foreign.pt")
    with pytest.raises(JetCLRError, match="not a jetclr-coffea training checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    torch.save({"model": {}, "epoch": 0, "config": {"name": "x", "objective": "simclr"}}, tmp_path / "obj.pt")
    with pytest.raises(JetCLRError, match="its config: objective must be one of"):
        load_checkpoint(tmp_path / "obj.pt")
