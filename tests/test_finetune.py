"""JetCLR's fine-tuning (``supervised.init_from``) and a transformer head with jet features."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from jetclr_coffea.training.checkpoint import load_checkpoint, load_model
from jetclr_coffea.training.data import load_jets
from jetclr_coffea.training.export import export
from jetclr_coffea.training.loading import load_config
from jetclr_coffea.training.objectives.supervised import SupervisedConfig
from jetclr_coffea.training.train import initial_model, train

from jetclr_coffea.errors import JetCLRError
from jetclr_coffea.inference import OnnxJetModel
from jetclr_coffea.model import EncoderConfig, JetEncoder

ANGULAR = {"features": ["deta", "dphi", "dr"]}
JET = ["msoftdrop_over_pt", "log_pt", "tau32"]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory, samples: dict[str, Path],
               tiny_config: Callable[..., Path]) -> Path:
    """A tiny self-supervised IRC-safe JetCLR run's checkpoint (in runs/start/ of a folder)."""
    tmp = tmp_path_factory.mktemp("pretrain")
    path = tiny_config(tmp, samples, name="start", preprocessing=ANGULAR, model={"irc_safe": True},
                       optim={"epochs": 1}, output=str(tmp / "runs" / "start"))
    return train(load_config(path), progress=False).checkpoint


def _finetune_config(tiny_config: Callable[..., Path], tmp_path: Path, samples: dict[str, Path],
                     start: Path, **model: object) -> Path:
    return tiny_config(tmp_path, samples, name="ft", objective="supervised", preprocessing=ANGULAR,
                       model={"d_out": 1, "irc_safe": True, "jet_features": JET, **model},
                       truth={"signal_label": "top", "mass_flatten": False},
                       supervised={"init_from": str(start)}, optim={"epochs": 1, "batch_size": 32})


def test_jet_features_reach_the_head_only() -> None:
    torch.manual_seed(0)
    enc = JetEncoder(EncoderConfig(n_features=3, d_model=8, n_heads=2, n_layers=1, d_ff=16, d_out=1,
                                   irc_safe=True, jet_features=("log_pt", "tau21"))).eval()
    x, w = torch.randn(6, 5, 3), torch.rand(6, 5)
    w = w / w.sum(1, keepdim=True)
    jet = torch.randn(6, 2)
    emb, logit = enc(x, w, jet)
    emb2, logit2 = enc(x, w, jet + 1.0)
    torch.testing.assert_close(emb2, emb)  # the representation is the constituents' alone
    assert (logit2 - logit).abs().max() > 1e-4  # the head reads the jet features
    with pytest.raises(ValueError, match="takes the jet features"):
        enc(x, w)
    with pytest.raises(ValueError, match="jet_features must be distinct names"):
        EncoderConfig(jet_features=("log_pt", "log_pt"))


def test_finetuning_starts_from_the_pretrained_encoder(pretrained: Path, tiny_config: Callable[..., Path],
                                                       tmp_path: Path, samples: dict[str, Path]) -> None:
    cfg = load_config(_finetune_config(tiny_config, tmp_path, samples, pretrained))
    model = initial_model(cfg)
    start = load_checkpoint(pretrained).weights
    own = model.state_dict()
    body = [k for k in start if not k.startswith("head.")]
    assert body and all(torch.equal(own[k], start[k]) for k in body)  # every encoder weight taken
    assert own["head.0.weight"].shape[1] == 16 + len(JET)  # a new head: embedding ++ jet features


def test_finetuned_tagger_trains_exports_and_reads_the_jets(
        pretrained: Path, tiny_config: Callable[..., Path], tmp_path: Path, samples: dict[str, Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load_config(_finetune_config(tiny_config, tmp_path, samples, pretrained))
    ckpt = train(cfg, progress=False).checkpoint
    onnx_path = export(ckpt, tmp_path / "ft.onnx")
    model = OnnxJetModel(onnx_path)
    assert model.card.jet_features == tuple(JET) and model.card.model_kind == "jetclr"
    assert model.card.training["supervised"]["init_from"] == str(pretrained.resolve())
    monkeypatch.chdir(pretrained.parents[2])  # exported from the project holding the start: relative
    card = OnnxJetModel(export(ckpt, tmp_path / "ft_here.onnx")).card
    start = os.path.join("runs", "start", pretrained.name)
    assert card.training["supervised"]["init_from"] == start
    info = card.scores_info["tagger_score"]
    assert isinstance(info, dict) and info["fine_tuned_from"] == start
    sample = load_jets([str(samples["top"])], model.spec, pt_min=200.0, pt_max=5000.0, eta_max=2.4)
    x, mask = model.inputs_from_arrays(sample.arrays)
    jet = model.jet_inputs(sample.jet_fields)
    assert jet is not None
    out = model.run_arrays(x, mask, jet)["tagger_score"]
    with torch.no_grad():
        _, logit = load_model(load_checkpoint(ckpt))(torch.as_tensor(x), torch.as_tensor(mask),
                                                       torch.as_tensor(jet))
    np.testing.assert_allclose(out, torch.sigmoid(logit[:, 0]).numpy(), atol=1e-5)  # ORT = torch


def test_init_from_is_relative_to_the_config_and_checked(pretrained: Path, tiny_config: Callable[..., Path],
                                                         tmp_path: Path, samples: dict[str, Path]) -> None:
    import yaml

    data = yaml.safe_load(_finetune_config(tiny_config, tmp_path, samples, pretrained).read_text())
    data["supervised"]["init_from"] = "../runs/start/checkpoint.pt"  # as from <root>/configs/
    root = pretrained.parents[2]
    for folder in (root / "configs", tmp_path / "configs"):
        folder.mkdir(exist_ok=True)
        (folder / "ft.yaml").write_text(yaml.safe_dump(data))
    moved = load_config(root / "configs" / "ft.yaml")
    assert moved.section(SupervisedConfig).init_from == str(pretrained.resolve())
    elsewhere = load_config(tmp_path / "configs" / "ft.yaml")  # the same text: from its own folder
    with pytest.raises(JetCLRError, match="no such checkpoint"):
        initial_model(elsewhere)
    with pytest.raises(JetCLRError, match=r"model\.d_model is 16 there, 32 here"):
        initial_model(load_config(_finetune_config(
            tiny_config, tmp_path, samples, pretrained, d_model=32)))
    with pytest.raises(JetCLRError, match="objective jetclr takes none"):
        load_config(tiny_config(tmp_path, samples, name="c", model={"jet_features": ["log_pt"]}))


def test_log_pt_is_finite_for_any_jet() -> None:
    from jetclr_coffea.preprocessing import jet_features

    pt = np.array([450.0, 0.0, -3.0, np.nan])
    fields = {"pt": pt}
    got = jet_features(fields, ("log_pt",))[:, 0]
    np.testing.assert_allclose(got, [np.log(450.0), 0.0, 0.0, 0.0], rtol=1e-6)
    torch_got = jet_features({"pt": torch.as_tensor(pt)}, ("log_pt",))[:, 0].numpy()
    np.testing.assert_allclose(torch_got, got, rtol=1e-6)  # training and inference agree


def test_resumed_finetuning_needs_no_start_checkpoint(pretrained: Path, tiny_config: Callable[..., Path],
                                                      tmp_path: Path, samples: dict[str, Path]) -> None:
    """--resume takes every weight from the run's own checkpoint: the self-supervised start
    may have been deleted meanwhile; a fresh run without it is refused in one line."""
    start = tmp_path / "gone.pt"
    shutil.copyfile(pretrained, start)
    cfg = load_config(tiny_config(tmp_path, samples, name="ft", objective="supervised", preprocessing=ANGULAR,
                                  model={"d_out": 1, "irc_safe": True, "jet_features": JET},
                                  truth={"signal_label": "top", "mass_flatten": False},
                                  supervised={"init_from": str(start)},
                                  optim={"epochs": 2, "batch_size": 32}))
    train(cfg, progress=False, max_epochs=1)
    start.unlink()
    resumed = train(cfg, progress=False, resume=True).checkpoint
    assert load_checkpoint(resumed).epoch == 1  # the second epoch ran
    with pytest.raises(JetCLRError, match=r"gone\.pt"):
        initial_model(cfg)  # a fresh run needs its start
