"""The Sinkhorn-EMD VAE: its loss, training through the objective registry, the exported graph."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

torch = pytest.importorskip("torch", reason="needs the [train] extra")

from jetclr_coffea.training.checkpoint import load_checkpoint  # noqa: E402
from jetclr_coffea.training.export import export  # noqa: E402
from jetclr_coffea.training.loading import load_config  # noqa: E402
from jetclr_coffea.training.train import train  # noqa: E402

from jetclr_coffea.errors import JetCLRError  # noqa: E402
from jetclr_coffea.inference import OnnxJetModel  # noqa: E402
from jetclr_coffea.vae import EMDVAE, VAEConfig, kl_divergence  # noqa: E402


def _config(tmp_path: Path, samples: dict[str, Path], name: str = "vae", **vae: Any) -> Path:
    data = {"name": name, "output": str(tmp_path / name), "objective": "vae_emd",
            "data": {"files": [str(samples["qcd"])], "pt_min": 200.0, "pt_max": 5000.0},
            "preprocessing": {"features": ["deta", "dphi"], "n_max": 20},
            "vae": {"hidden": 32, "latent": 8, "n_out": 16, "beta": 0.05, **vae},
            "optim": {"epochs": 2, "batch_size": 64, "lr": 1.0e-3, "seed": 3}}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_kl_and_irc_safe_latent() -> None:
    mu, logvar = torch.zeros(3, 4), torch.zeros(3, 4)
    assert torch.all(kl_divergence(mu, logvar) == 0)
    assert torch.all(kl_divergence(mu + 1, logvar) > 0)
    vae = EMDVAE(VAEConfig(hidden=16, latent=4, n_out=8)).eval()
    x = torch.randn(5, 6, 2) * 0.2
    w = torch.rand(5, 6)
    w = w / w.sum(1, keepdim=True)
    split_x = torch.cat([x, x[:, :1]], 1)  # constituent 0 split collinearly 40/60
    split_w = torch.cat([w, w[:, :1] * 0.6], 1)
    split_w[:, 0] *= 0.4
    a, b = vae.encode(x, w)[0], vae.encode(split_x, split_w)[0]
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    xh, wh = vae.decode(torch.randn(5, 4))
    assert xh.shape == (5, 8, 2) and torch.allclose(wh.sum(1), torch.ones(5))


def test_train_export_and_graph(tmp_path: Path, samples: dict[str, Path]) -> None:
    from jetclr_coffea.training.objectives.vae_emd import scores

    cfg = load_config(_config(tmp_path, samples))
    result = train(cfg, progress=False)
    assert np.isfinite(result.final_loss)
    ckpt = load_checkpoint(result.checkpoint)
    assert ckpt.extras["reconstruction_emd"]["max"] > ckpt.extras["reconstruction_emd"]["median"] > 0
    onnx_path = export(result.checkpoint, tmp_path / "vae.onnx")
    model = OnnxJetModel(onnx_path)
    card = model.card
    assert card.model_kind == "emd_vae" and card.scores == ("anomaly_score", "kl_score")
    assert card.output("embedding").shape == (8,) and card.mask == "pt_fraction"
    assert card.encoder["latent"] == 8 and card.training["objective"] == "vae_emd"
    # the graph computes what the objective does, on the same jets
    import uproot
    from jetclr_coffea.training.checkpoint import load_model
    from jetclr_coffea.training.data import load_jets, to_batch

    from jetclr_coffea.reader import read_constituents

    jc = read_constituents(uproot.open(samples["top"])["Events"].arrays())
    cons = jc.constituents[jc.has_constituents][:40]
    out = model(cons)
    sample = load_jets([samples["top"]], cfg.preprocessing, pt_min=0.0, pt_max=1e9, eta_max=10.0)
    emd, kl = scores(load_model(ckpt), to_batch(sample.arrays), cfg)
    assert len(emd) >= 40
    np.testing.assert_allclose(out["anomaly_score"], emd[:40].numpy(), rtol=2e-3, atol=1e-5)
    np.testing.assert_allclose(out["kl_score"], kl[:40].numpy(), rtol=1e-3, atol=1e-4)


def test_resume_equals_uninterrupted(tmp_path: Path, samples: dict[str, Path]) -> None:
    full = load_config(_config(tmp_path, samples, name="full"))
    train(full, progress=False)
    split = load_config(_config(tmp_path, samples, name="split"))
    train(split, progress=False, max_epochs=1)
    train(split, resume=True, progress=False)
    a, b = (load_checkpoint(tmp_path / n / "checkpoint.pt") for n in ("full", "split"))
    for key in a.weights:
        assert torch.equal(a.weights[key], b.weights[key]), key


def test_bad_vae_configs(tmp_path: Path, samples: dict[str, Path]) -> None:
    with pytest.raises(JetCLRError, match="beta must be positive"):
        load_config(_config(tmp_path, samples, beta=0.0))
    path = _config(tmp_path, samples, name="feat")
    data = yaml.safe_load(path.read_text())
    data["preprocessing"]["features"] = ["dr", "deta"]
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(JetCLRError, match="must start with deta, dphi"):
        load_config(path)
