"""training/train.py: a run end to end, resume, the same-class pairs, interruptions, NaN,
existing and broken checkpoints, data without constituents."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import torch
from jetclr_coffea.training.checkpoint import load_checkpoint
from jetclr_coffea.training.evaluate import evaluate
from jetclr_coffea.training.export import export
from jetclr_coffea.training.loading import load_config
from jetclr_coffea.training.train import train

from jetclr_coffea.cli import main
from jetclr_coffea.errors import JetCLRError
from jetclr_coffea.onnx_io import read_card


def test_train_export_evaluate(tiny_config: Callable[..., Path],
                               tmp_path: Path, samples: dict[str, Path]) -> None:
    cfg = load_config(tiny_config(tmp_path, samples))
    result = train(cfg, progress=False)
    assert np.isfinite(result.final_loss)
    log = (result.output_dir / "log.csv").read_text().splitlines()
    assert len(log) == 3  # header + 2 epochs
    onnx_path = export(result.checkpoint, tmp_path / "tiny.onnx")
    metrics = evaluate(onnx_path, [str(samples["top"])], [str(samples["qcd"])], tmp_path / "eval",
                       test_fraction=0.5).metrics
    assert 0.0 <= metrics["lct"]["auc"] <= 1.0 and 0.5 < metrics["baseline"]["auc"] <= 1.0
    sculpting = metrics["mass_sculpting"]
    assert all(0.0 <= sculpting[k] <= 1.0 for k in ("lct", "baseline", "anomaly_score"))
    assert (tmp_path / "eval" / "roc.png").stat().st_size > 1000
    saved = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert saved["lct"]["auc"] == metrics["lct"]["auc"]
    # the tagger grafted on the graph reproduces the LCT decision
    out = tmp_path / "tagged.onnx"
    assert main(["evaluate", str(onnx_path), "--signal", str(samples["top"]), "--background",
                 str(samples["qcd"]), "--output-dir", str(tmp_path / "eval2"), "--fit-head", str(out)]) == 0
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [o.name for o in sess.get_outputs()] == ["embedding", "head", "tagger_score"]
    x = np.random.default_rng(0).normal(size=(40, 9, 5)).astype(np.float32)
    mask = np.ones((40, 9), np.float32)
    emb, score = sess.run(["embedding", "tagger_score"], {"constituents": x, "mask": mask})
    assert score.shape == (40,) and np.all((score >= 0) & (score <= 1))
    # the grafted output is the fitted LCT's own probability: sigmoid of its decision function
    lct = evaluate(onnx_path, [str(samples["top"])], [str(samples["qcd"])], tmp_path / "eval3").lct
    want = 1.0 / (1.0 + np.exp(-lct.decision(emb.astype(np.float64))))
    np.testing.assert_allclose(score, want, rtol=1e-4, atol=1e-6)
    assert read_card(out).scores == ("tagger_score",)
    # --compare: another encoder's LCT on the same jets and split, and the paired differences
    other = train(load_config(tiny_config(tmp_path, samples, name="other", optim={"epochs": 1, "seed": 9})),
                  progress=False)
    other_path = export(other.checkpoint, tmp_path / "other.onnx")
    vs = evaluate(onnx_path, [str(samples["top"])], [str(samples["qcd"])], tmp_path / "eval4",
                  compare=other_path).metrics["compare"]
    alone = evaluate(other_path, [str(samples["top"])], [str(samples["qcd"])], tmp_path / "eval5").metrics
    assert vs["lct"]["auc"] == pytest.approx(alone["lct"]["auc"], abs=1e-12)
    assert vs["d_auc"] == pytest.approx(metrics["lct"]["auc"] - alone["lct"]["auc"], abs=1e-12)
    assert vs["d_auc"] != 0.0 and vs["d_auc_err"] > 0.0
    assert vs["anomaly_score"]["d_auc"] == pytest.approx(
        metrics["anomaly_score"]["auc"] - alone["anomaly_score"]["auc"], abs=1e-12)
    itself = evaluate(onnx_path, [str(samples["top"])], [str(samples["qcd"])], tmp_path / "eval6",
                      compare=out).metrics["compare"]  # the same embedding: no difference in any resample
    assert itself["d_auc"] == 0.0 and itself["d_auc_err"] == 0.0
    assert itself["anomaly_score"]["d_auc"] == 0.0
    with pytest.raises(JetCLRError, match=r"missing\.onnx: no such model file"):  # fails before any work
        evaluate(onnx_path, [str(samples["top"])], [str(samples["qcd"])], tmp_path / "eval7",
                 compare=tmp_path / "missing.onnx")
    assert not (tmp_path / "eval7" / "metrics.json").exists()
    no_embedding = Path(__file__).resolve().parents[1] / "onnx_models" / "ot_medoids_qcd.onnx"
    with pytest.raises(JetCLRError, match=r"ot_medoids_qcd\.onnx has no embedding"):
        evaluate(onnx_path, [str(samples["top"])], [str(samples["qcd"])], tmp_path / "eval8",
                 compare=no_embedding)
    assert not (tmp_path / "eval8" / "metrics.json").exists()


def test_same_class_partners() -> None:
    """CoDec pairs: each jet's partner is another jet of its own truth class, drawn uniformly."""
    from jetclr_coffea.training.train import _same_class_partners

    labels = np.array([0, 2, 0, 0, 2, 1, 1, 0, 2, 2, 0], dtype=np.int64)
    draw = _same_class_partners(labels, torch.device("cpu"))
    g = torch.Generator().manual_seed(0)
    rows = torch.arange(len(labels)).repeat(2000)
    partner = draw(rows, g).numpy()
    rows_np = rows.numpy()
    assert np.array_equal(labels[partner], labels[rows_np]) and not np.any(partner == rows_np)
    picks = np.bincount(partner[rows_np == 0], minlength=len(labels))  # jet 0: class 0 has 5 jets
    assert set(np.flatnonzero(picks)) == {2, 3, 7, 10} and picks.min(initial=2000, where=picks > 0) > 400
    with pytest.raises(JetCLRError, match="no GenPart"):
        _same_class_partners(np.array([0, -1, 0]), torch.device("cpu"))
    with pytest.raises(JetCLRError, match="class 1 has one jet"):
        _same_class_partners(np.array([0, 1, 0]), torch.device("cpu"))


@pytest.mark.parametrize("objective", ["jetclr", "anomalyclr"])
def test_resume_equals_uninterrupted(tiny_config: Callable[..., Path],
                                     tmp_path: Path, samples: dict[str, Path], objective: str) -> None:
    full = load_config(tiny_config(tmp_path, samples, name="full", objective=objective))
    train(full, progress=False)
    split = load_config(tiny_config(tmp_path, samples, name="split", objective=objective))
    train(split, progress=False, max_epochs=1)
    assert load_checkpoint(tmp_path / "split" / "checkpoint.pt").epoch == 0
    done = train(split, resume=True, progress=False)
    again = train(split, resume=True, progress=False)  # a finished run resumed: nothing to do
    assert np.isfinite(again.final_loss) and again.final_loss == done.final_loss
    a = load_checkpoint(tmp_path / "full" / "checkpoint.pt")
    b = load_checkpoint(tmp_path / "split" / "checkpoint.pt")
    for key in a.weights:
        assert torch.equal(a.weights[key], b.weights[key]), key
    assert a.extras == b.extras


def test_nan_loss_stops_and_keeps_checkpoint(tiny_config: Callable[..., Path],
    tmp_path: Path, samples: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = load_config(tiny_config(tmp_path, samples, name="nan"))
    train(cfg, progress=False, max_epochs=1)
    ckpt = tmp_path / "nan" / "checkpoint.pt"
    before = ckpt.read_bytes()
    monkeypatch.setattr("jetclr_coffea.training.objectives.jetclr.nt_xent",
                        lambda *a: torch.tensor(float("nan")))
    with pytest.raises(JetCLRError, match="loss is nan at epoch 2 step 1"):
        train(cfg, resume=True, progress=False)
    assert ckpt.read_bytes() == before


def test_ctrl_c_saves_a_checkpoint(tiny_config: Callable[..., Path],
    tmp_path: Path, samples: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = load_config(tiny_config(tmp_path, samples, name="intr"))
    train(cfg, progress=False, max_epochs=1)
    before = (tmp_path / "intr" / "checkpoint.pt").read_bytes()

    def interrupt(*args: Any) -> torch.Tensor:
        raise KeyboardInterrupt

    monkeypatch.setattr("jetclr_coffea.training.objectives.jetclr.nt_xent", interrupt)
    with pytest.raises(JetCLRError, match=r"interrupted in epoch 2.*resuming continues"):
        train(cfg, resume=True, progress=False)
    assert (tmp_path / "intr" / "checkpoint_interrupted.pt").is_file()
    assert (tmp_path / "intr" / "checkpoint.pt").read_bytes() == before


def test_existing_run_and_incompatible_checkpoint(tiny_config: Callable[..., Path],
                                                  tmp_path: Path, samples: dict[str, Path]) -> None:
    cfg_path = tiny_config(tmp_path, samples, name="run")
    cfg = load_config(cfg_path)
    train(cfg, progress=False, max_epochs=1)
    log = (tmp_path / "run" / "log.csv").read_text()
    with pytest.raises(JetCLRError, match="exists: resume it"):
        train(cfg, progress=False)
    wider = replace(cfg, model=replace(cfg.model, d_model=32))
    with pytest.raises(JetCLRError, match=r"different model.*d_model: 16 vs 32"):
        train(wider, resume=True, progress=False)
    assert (tmp_path / "run" / "log.csv").read_text() == log


def test_data_without_constituents(tiny_config: Callable[..., Path],
    tmp_path: Path, samples: dict[str, Path], no_pf_candidates: Path
) -> None:
    cfg = load_config(tiny_config(tmp_path, samples, name="nocands"))
    cfg = replace(cfg, data=replace(cfg.data, files=(str(no_pf_candidates),)))
    with pytest.raises(JetCLRError, match="no PF-candidate branches"):
        train(cfg, progress=False)
    assert not (tmp_path / "nocands").exists()


def test_resume_from_a_broken_or_foreign_checkpoint(tiny_config: Callable[..., Path],
                                                    tmp_path: Path, samples: dict[str, Path]) -> None:
    cfg = load_config(tiny_config(tmp_path, samples, name="broken"))
    train(cfg, progress=False, max_epochs=1)
    ckpt = tmp_path / "broken" / "checkpoint.pt"
    good = ckpt.read_bytes()
    for content in (b"", good[: len(good) // 2]):
        ckpt.write_bytes(content)
        with pytest.raises(JetCLRError, match="not a readable checkpoint"):
            train(cfg, resume=True, progress=False)
    ckpt.write_bytes(good)
    wider = replace(cfg, model=replace(cfg.model, d_ff=48))  # another architecture, same output folder
    with pytest.raises(JetCLRError, match=r"made with a different model \(d_ff: 32 vs 48\)"):
        train(wider, resume=True, progress=False)
