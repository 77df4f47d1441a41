"""training/export.py: checkpoint -> ONNX, parity of ONNX Runtime with torch, bad input."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from jetclr_coffea.training.checkpoint import load_checkpoint, load_model
from jetclr_coffea.training.export import export
from jetclr_coffea.training.loading import load_config
from jetclr_coffea.training.train import train

from jetclr_coffea.cli import main


def test_not_onnx_and_not_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake = tmp_path / "model.onnx"
    fake.write_text("hello")
    assert main(["evaluate", str(fake), "--signal", "a.root", "--background", "b.root"]) == 2
    assert "not an ONNX model" in capsys.readouterr().err
    assert main(["export", str(fake), "-o", str(tmp_path / "x.onnx")]) == 2
    assert "not a readable checkpoint" in capsys.readouterr().err


def test_onnx_parity_with_torch(tiny_config: Callable[..., Path],
                                tmp_path: Path, samples: dict[str, Path]) -> None:
    for irc in (False, True):
        features = ["deta", "dphi", "dr"] if irc else ["deta", "dphi", "log_pt_rel", "log_e_rel", "dr"]
        # the IRC-safe one with a representation wider than the transformer (model.d_repr)
        model = {"irc_safe": irc, "n_layers": 2, **({"d_repr": 24} if irc else {})}
        path = tiny_config(tmp_path, samples, name=f"parity{int(irc)}", model=model, optim={"epochs": 1},
                       preprocessing={"features": features})
        result = train(load_config(path), progress=False)
        onnx_path = export(result.checkpoint, tmp_path / f"p{int(irc)}.onnx")
        encoder = load_model(load_checkpoint(result.checkpoint))
        sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        rng = np.random.default_rng(1)
        for n_jets, n_const in ((1, 1), (5, 7), (33, 50), (200, 23)):
            x = rng.normal(size=(n_jets, n_const, len(features))).astype(np.float32)
            counts = rng.integers(1, n_const + 1, n_jets)
            real = np.arange(n_const)[None, :] < counts[:, None]
            x[~real] = 0.0
            w = np.where(real, rng.random((n_jets, n_const)), 0.0)
            mask = (w / w.sum(1, keepdims=True) if irc else real).astype(np.float32)
            emb, head = sess.run(["embedding", "head"], {"constituents": x, "mask": mask})
            with torch.no_grad():
                t_emb, t_head = encoder(torch.from_numpy(x), torch.from_numpy(mask))
            assert emb.shape == (n_jets, 24 if irc else 16)
            assert np.abs(emb - t_emb.numpy()).max() < 1e-4
            assert np.abs(head - t_head.numpy()).max() < 1e-4


def test_card_paths_are_relative_to_the_project(tmp_path: Path) -> None:
    from jetclr_coffea.training.export import portable

    root = tmp_path / "repo"
    files = [str(root / "data" / "a.root"), "/elsewhere/b.root", "rel.root"]
    record = {"data": {"fileset": str(root / "training" / "f.json"), "files": files},
              "n": 3, "init_from": str(tmp_path / "repository" / "x.pt")}  # a sibling sharing the prefix
    assert portable(record, root) == {"data": {"fileset": "training/f.json",
                                               "files": ["data/a.root", "/elsewhere/b.root", "rel.root"]},
                                      "n": 3, "init_from": str(tmp_path / "repository" / "x.pt")}
