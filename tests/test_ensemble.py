"""training/ensemble.py: several supervised classifiers exported as one ONNX graph whose
scores are the mean of the members' and whose embedding is theirs side by side."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from jetclr_coffea.training.checkpoint import load_checkpoint, load_model
from jetclr_coffea.training.data import load_jets
from jetclr_coffea.training.ensemble import export_ensemble
from jetclr_coffea.training.export import export
from jetclr_coffea.training.loading import load_config
from jetclr_coffea.training.train import train

from jetclr_coffea.errors import JetCLRError
from jetclr_coffea.inference import OnnxJetModel


def _efn_run(tiny_config: Callable[..., Path], tmp_path: Path, samples: dict[str, Path],
             seed: int, features: tuple[str, ...] = ("deta", "dphi")) -> Path:
    """A two-epoch EFN tagger with one jet feature (its checkpoint)."""
    cfg = load_config(tiny_config(
        tmp_path, samples, name=f"efn_s{seed}_{len(features)}", objective="supervised",
        preprocessing={"features": list(features)},
        supervised={"arch": "efn", "output": "decorrelated_score"},
        efn={"hidden": 16, "latent": 8, "jet_features": ["msoftdrop_over_pt"]},
        optim={"epochs": 2, "batch_size": 32, "seed": seed}))
    cfg = replace(cfg, data=replace(cfg.data, files=(str(samples["qcd"]), str(samples["wprime-flat"]))))
    return train(cfg, progress=False).checkpoint


def test_ensemble_averages_the_members_scores(tiny_config: Callable[..., Path], tmp_path: Path,
                                              samples: dict[str, Path]) -> None:
    members = [_efn_run(tiny_config, tmp_path, samples, seed) for seed in (1, 2)]
    path = export_ensemble(members, tmp_path / "ens.onnx")
    model = OnnxJetModel(path)
    assert [m["seed"] for m in model.card.training["ensemble"]] == [1, 2]
    assert model.card.scores_info["decorrelated_score"]["ensemble"] == "mean over 2 members"
    sample = load_jets([str(samples["wprime-flat"])], model.spec, pt_min=200.0, pt_max=5000.0, eta_max=2.4)
    x, mask = model.inputs_from_arrays(sample.arrays)
    jet = model.jet_inputs(sample.jet_fields)
    out = model.run_arrays(x, mask, jet)
    probs, embeddings = [], []
    for ck in members:
        with torch.no_grad():
            emb, logit = load_model(load_checkpoint(ck))(*(torch.as_tensor(a) for a in (x, mask, jet)))
        probs.append(torch.sigmoid(logit[:, 0]).numpy())
        embeddings.append(emb.numpy())
    assert np.abs(probs[0] - probs[1]).max() > 1e-3  # two seeds: two different classifiers
    np.testing.assert_allclose(out["decorrelated_score"], np.mean(probs, axis=0), atol=1e-5)
    np.testing.assert_allclose(out["embedding"], np.concatenate(embeddings, axis=1), atol=1e-5)
    assert out["embedding"].shape == (len(sample), 16)
    # permutation invariance survives the ensemble: reversing constituent order changes nothing
    again = model.run_arrays(x[:, ::-1].copy(), mask[:, ::-1].copy(), jet)["decorrelated_score"]
    np.testing.assert_allclose(again, out["decorrelated_score"], atol=1e-5)


def test_ensemble_refuses_what_cannot_be_averaged(tiny_config: Callable[..., Path], tmp_path: Path,
                                                  samples: dict[str, Path]) -> None:
    one = _efn_run(tiny_config, tmp_path, samples, 1)
    other = _efn_run(tiny_config, tmp_path, samples, 1, features=("deta", "dphi", "dr"))
    contrastive = train(load_config(tiny_config(tmp_path, samples, name="clr", optim={"epochs": 1})),
                        progress=False).checkpoint
    with pytest.raises(JetCLRError, match="the same checkpoint is given twice"):
        export_ensemble([one, one], tmp_path / "a.onnx")
    with pytest.raises(JetCLRError, match="preprocessing differs"):
        export_ensemble([one, other], tmp_path / "b.onnx")
    with pytest.raises(JetCLRError, match="needs supervised classifiers"):
        export_ensemble([one, contrastive], tmp_path / "c.onnx")
    with pytest.raises(JetCLRError, match="at least two checkpoints"):
        export_ensemble([one], tmp_path / "d.onnx")
    before = one.read_bytes()
    with pytest.raises(JetCLRError, match="would overwrite one of the checkpoints"):
        export_ensemble([one, other], one)
    with pytest.raises(JetCLRError, match="would overwrite the checkpoint"):
        export(one, one)
    assert one.read_bytes() == before and not list(tmp_path.glob("*.onnx"))


def test_train_seed_option_makes_an_ensembles_members(tiny_config: Callable[..., Path], tmp_path: Path,
                                                      samples: dict[str, Path],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """``train --seed N``: the config's run with optim.seed N in <output>_sN; two such runs
    export as one ensemble from the command line, and a negative seed is a usage error."""
    from jetclr_coffea.cli import main

    cfg = tiny_config(tmp_path, samples, name="efn", objective="supervised",
                      preprocessing={"features": ["deta", "dphi"]}, supervised={"arch": "efn"},
                      efn={"hidden": 8, "latent": 4}, optim={"epochs": 1, "batch_size": 32})
    for seed in (3, 4):
        assert main(["train", str(cfg), "--seed", str(seed), "-q"]) == 0
        ck = load_checkpoint(tmp_path / f"efn_s{seed}" / "checkpoint.pt")
        assert ck.config.optim.seed == seed and ck.config.name == f"efn_s{seed}"
    assert not (tmp_path / "efn").exists()  # the config's own folder is left alone
    a, b = (load_checkpoint(tmp_path / f"efn_s{s}" / "checkpoint.pt").weights for s in (3, 4))
    assert any(not torch.equal(a[k], b[k]) for k in a)  # two seeds, two different networks
    out = tmp_path / "ens.onnx"
    members = [str(tmp_path / f"efn_s{s}" / "checkpoint.pt") for s in (3, 4)]
    assert main(["export", *members, "-o", str(out)]) == 0
    assert [m["name"] for m in OnnxJetModel(out).card.training["ensemble"]] == ["efn_s3", "efn_s4"]
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main(["train", str(cfg), "--seed", "-1", "-q"])
    assert exit_.value.code == 2
    assert "a seed is a non-negative integer, got -1" in capsys.readouterr().err
