"""training/reweight.py: cross-section weights of a fileset, flat reweighting, weighted batches."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import uproot
import yaml
from jetclr_coffea.training.loading import load_config
from jetclr_coffea.training.reweight import fileset_weights, flat_weights
from jetclr_coffea.training.train import epoch_order, train

from jetclr_coffea.errors import JetCLRError

EDGES = [float(e) for e in np.linspace(300.0, 1500.0, 13)]


def _falling(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    pt = 300.0 * (1.0 - rng.uniform(0.0, 0.992, n)) ** (-1.0 / 3.0)  # ~ pT^-4, most jets at low pT
    pt = pt[pt < 1500.0]
    return pt, rng.uniform(0.5, 1.5, len(pt))  # and generator weights


def _chi2_flat(counts: np.ndarray) -> float:
    expected = counts.mean()
    return float(((counts - expected) ** 2 / expected).sum() / (len(counts) - 1))


def test_reweighted_batches_are_flat_in_pt() -> None:
    pt, w = _falling(60_000, 1)
    raw, _ = np.histogram(pt, EDGES)
    assert raw[0] > 20 * raw[-1]  # falling steeply before
    flat = flat_weights(w, pt, EDGES)
    summed, _ = np.histogram(pt, EDGES, weights=flat)
    np.testing.assert_allclose(summed, summed.mean(), rtol=1e-9)  # every bin the same total
    assert abs(flat.mean() - 1.0) < 1e-9
    g = torch.Generator().manual_seed(3)
    drawn = epoch_order(len(pt), g, torch.as_tensor(flat))[:6000]  # the jets of the first batches
    counts, _ = np.histogram(pt[drawn.numpy()], EDGES)
    assert _chi2_flat(counts) < 3.0  # flat within the Poisson errors (chi2/ndf ~ 1; 3.0: p ~ 3e-4 for 11 dof)
    raw_drawn, _ = np.histogram(pt[epoch_order(len(pt), g).numpy()[:6000]], EDGES)
    assert _chi2_flat(raw_drawn) > 50  # without weights: the falling spectrum


def test_flat_in_pt_and_msoftdrop_per_class() -> None:
    pt, w = _falling(40_000, 2)
    rng = np.random.default_rng(4)
    labels = (rng.uniform(size=len(pt)) < 0.3).astype(np.int64)
    msd = np.where(labels == 1, rng.normal(170.0, 15.0, len(pt)), rng.exponential(60.0, len(pt)))
    flat = flat_weights(w, pt, EDGES, msd=msd, msd_edges=[0.0, 100.0, 200.0, 300.0], classes=labels)
    for c in (0, 1):
        mine = labels == c
        h, _, _ = np.histogram2d(pt[mine], np.clip(msd[mine], 0.0, 299.0),
                                 [EDGES, [0.0, 100.0, 200.0, 300.0]], weights=flat[mine])
        filled = h[h > 0]
        np.testing.assert_allclose(filled, filled.mean(), rtol=1e-9)
        assert abs(flat[mine].mean() - 1.0) < 1e-9
    with pytest.raises(JetCLRError, match="NaN or infinite"):
        flat_weights(np.array([1.0, np.nan]), np.array([400.0, 500.0]), EDGES)


def test_fileset_weights_add_up_to_each_cross_section(samples: dict[str, Path]) -> None:
    files = [str(samples["qcd"]), str(samples["top"])]
    entries = [uproot.open(f)["Events"].num_entries for f in files]
    event = np.array([(i, e) for i, n in enumerate(entries) for e in range(n)], dtype=np.int64)
    w = fileset_weights(files, ["qcd", "top"], {"qcd": 2.0, "top": 0.5}, event)
    assert abs(w[event[:, 0] == 0].sum() - 2.0) < 1e-9 and abs(w[event[:, 0] == 1].sum() - 0.5) < 1e-9


def test_a_config_trains_from_a_weighted_fileset_of_both_conventions(tmp_path: Path,
                                                                     real_files: dict[str, Path]) -> None:
    """QCD "slices" with cross sections, of both constituent conventions, reweighted flat in pT;
    the fileset named relative to the config, its files relative to the fileset."""
    data = tmp_path / "data"
    data.mkdir()
    for name in ("pfnano.root", "nano_tt_v15.root"):
        (data / name).symlink_to(real_files[name])
    (data / "fs.json").write_text(json.dumps({
        "slice_a": {"files": ["pfnano.root"], "metadata": {"xsec": 100.0}},
        "slice_b": {"files": ["nano_tt_v15.root"], "metadata": {"xsec": 1.0}}}))
    cfg = {"name": "fs", "output": str(tmp_path / "run"),
           "data": {"fileset": "data/fs.json", "pt_min": 200.0, "pt_max": 3000.0, "eta_max": 2.5,
                    "reweight": "pt", "reweight_bins": 4},
           "preprocessing": {"features": ["deta", "dphi", "log_pt_rel", "log_e_rel", "dr"], "n_max": 20},
           "model": {"d_model": 8, "n_heads": 2, "n_layers": 1, "d_ff": 16, "d_out": 4},
           "optim": {"epochs": 1, "batch_size": 16, "seed": 1, "device": "cpu"}}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    loaded = load_config(path)
    assert loaded.data.fileset == str((data / "fs.json").resolve())
    result = train(loaded, progress=False)
    assert result.checkpoint.is_file()
    saved = torch.load(result.checkpoint, weights_only=False)
    assert saved["config"]["data"]["reweight"] == "pt" and saved["n_jets"] > 40
    for bad, match in (({"files": ["x.root"]}, "not both"), ({"fileset": ""}, "not neither"),
                       ({"fileset": "data/missing.json"}, "no such file"),
                       ({"reweight": "mass"}, "reweight must be")):
        path.write_text(yaml.safe_dump({**cfg, "data": {**cfg["data"], **bad}}))
        with pytest.raises(JetCLRError, match=match):
            load_config(path)
