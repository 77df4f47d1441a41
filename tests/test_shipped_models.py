"""The trained encoders shipped in ``onnx_models/``: documented, self-describing, IRC safe."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from jetclr_coffea.inference import OnnxJetModel

MODELS_DIR = Path(__file__).resolve().parents[1] / "onnx_models"
SHIPPED = sorted(MODELS_DIR.glob("*.onnx"))


def test_models_are_shipped() -> None:
    assert {p.name for p in SHIPPED} >= {"jetclr_top.onnx", "darkclr_qcd.onnx"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_card_and_metrics(path: Path) -> None:
    """Each model has its card (linked from the index, at most 200 lines) and the evaluate
    output its card quotes."""
    assert f"({path.stem}.md)" in (MODELS_DIR / "README.md").read_text()
    card = (MODELS_DIR / f"{path.stem}.md").read_text()
    assert card.startswith(f"# `{path.name}`") and len(card.splitlines()) <= 200
    model = OnnxJetModel(path, threads=1)
    metrics = json.loads((MODELS_DIR / f"{path.stem}_eval" / "metrics.json").read_text())
    assert metrics["n_signal"] > 100 and metrics["n_background"] > 100
    if model.card.has_representation:
        assert f"{metrics['lct']['auc']:.4f}" in card
    else:  # no representation, no LCT: the score's own ROC
        assert metrics["lct"] is None
    for score in set(model.card.scores) & {"tagger_score", "decorrelated_score"}:  # the shipped score, no fit
        auc = metrics["scores"][score]["auc"]
        assert f"{auc:.4f}" in card or f"{auc:.3f}" in card
    if "anomaly_score" in model.card.scores:
        assert f"{metrics['anomaly_score']['auc']:.3f}" in card
        lo, hi = model.card.score_range("anomaly_score")
        info = model.card.scores_info["anomaly_score"]
        band = info.get("training_jets", {})
        if "min" in band:  # DarkCLR's norm: the training jets' band inside the range
            assert lo < band["min"] < band["max"] < hi
        else:  # a distance (OT, VAE reconstruction): from zero, holding the training jets' scores
            top = band["max"] if band else info["train_score_quantiles"]["0.999"]
            assert lo == 0.0 and top < hi


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_irc_safety_through_onnx_runtime(path: Path) -> None:
    """A collinear split and a zero-pT constituent change no output of the exported graph."""
    model = OnnxJetModel(path, threads=1, trim_padding=False)
    assert model.mask_kind == "pt_fraction"
    rng = np.random.default_rng(4)
    n, c, f = 16, 20, model.card.n_features
    x = np.zeros((n, c, 3), np.float32)
    w = np.zeros((n, c), np.float32)
    deta, dphi = rng.normal(0, 0.2, (n, c - 2)), rng.normal(0, 0.2, (n, c - 2))
    x[:, :-2] = np.stack([deta, dphi, np.hypot(deta, dphi)], axis=-1)
    w[:, :-2] = rng.random((n, c - 2))
    w /= w.sum(1, keepdims=True)
    split_x, split_w = x.copy(), w.copy()
    split_x[:, -2] = x[:, 0]  # constituent 0 split collinearly 30/70
    split_w[:, 0], split_w[:, -2] = 0.3 * w[:, 0], 0.7 * w[:, 0]
    split_x[:, -1] = [0.3, -0.2, np.hypot(0.3, 0.2)]  # and a zero-pT emission
    # a model's jet features (NanoAOD observables of the fat jet) are the same for both
    n_jet = len(model.card.jet_features)
    jet = rng.random((n, n_jet)).astype(np.float32) if n_jet else None
    ref = model.run_arrays(x[..., :f].copy(), w, jet)  # (deta, dphi, dR), or the first f of them
    split = model.run_arrays(split_x[..., :f].copy(), split_w, jet)
    for name, value in ref.items():
        np.testing.assert_allclose(split[name], value, atol=2e-5, rtol=1e-4, err_msg=name)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_trimmed_padding_gives_the_outputs_of_full_padding(path: Path) -> None:
    """Every shipped model's kind is padding-invariant, so the runner cuts batches to their
    longest jet: jets of 3 to n_max constituents give the outputs of full padding."""
    from jetclr_coffea.inference import PADDING_INVARIANT_KINDS

    full = OnnxJetModel(path, threads=1, trim_padding=False)
    trimmed = OnnxJetModel(path, threads=1)
    assert trimmed.trim_padding and full.card.model_kind in PADDING_INVARIANT_KINDS
    rng = np.random.default_rng(5)
    n, c, f = 24, full.spec.n_max, full.card.n_features
    lengths = rng.integers(3, c + 1, n)
    real = np.arange(c)[None, :] < lengths[:, None]  # (n, c)
    deta, dphi = rng.normal(0, 0.15, (n, c)) * real, rng.normal(0, 0.15, (n, c)) * real
    x = np.stack([deta, dphi, np.hypot(deta, dphi)], axis=-1)[..., :f].astype(np.float32)
    w = np.where(real, rng.random((n, c)), 0.0)
    w = (w / w.sum(1, keepdims=True)).astype(np.float32)
    n_jet = len(full.card.jet_features)
    jet = rng.random((n, n_jet)).astype(np.float32) if n_jet else None
    ref, got = full.run_arrays(x, w, jet), trimmed.run_arrays(x, w, jet)
    assert len(set(c for _, c in trimmed.batches(w))) > 1  # several trimmed lengths were run
    for name, value in ref.items():
        np.testing.assert_allclose(got[name], value, atol=1e-5, rtol=1e-4, err_msg=name)


@pytest.mark.network
@pytest.mark.parametrize("path", [p for p in SHIPPED if p.stem != "jetclr_top"], ids=lambda p: p.stem)
def test_scores_on_real_cms_files(path: Path, real_files: dict[str, Path], tmp_path: Path) -> None:
    """The processor attaches and histograms every score of every shipped model but the top
    tagger (which the processor tests cover) on coffea's real CMS files (PFNano and NanoAOD v15):
    anomaly scores (non-negative) and the decorrelated tagger (a probability)."""
    from jetclr_coffea.processors import (
        FatJetSelection,
        LearnedJetTagProcessor,
        RunOptions,
        hist_name,
        load_fileset,
        run,
    )

    fs = tmp_path / "real.json"
    fs.write_text(json.dumps({name: [str(p)] for name, p in real_files.items()
                              if name != "pfnano_rntuple.root"}))
    proc = LearnedJetTagProcessor([path], FatJetSelection(pt_min=0.0, eta_max=5.0, require_jet_id=False),
                                  keep_jets=True)
    out = run(load_fileset(fs), proc, RunOptions()).datasets
    scores = OnnxJetModel(path, threads=1).card.scores
    assert scores
    for name, res in out.items():
        c = res.cutflow
        assert c["scored"] == c["selected"] - c["no_constituents"] > 0, name
        for output in scores:
            score = f"{path.stem}_{output}"
            filled = res.hists[hist_name(score, "score_msd_pt")].sum(flow=True).value
            assert filled != 0  # genWeight-weighted
            values = np.concatenate([j[score] for j in res.jets])
            ok = values[np.isfinite(values)]
            assert len(ok) == c["scored"] and np.all(ok >= 0), score
            if output == "decorrelated_score":
                assert np.all(ok <= 1)
