"""Training end to end (train -> export -> evaluate), resume, export parity, bad input."""

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
from jetclr_coffea.training.config import load_config
from jetclr_coffea.training.data import load_jets, training_targets
from jetclr_coffea.training.evaluate import evaluate
from jetclr_coffea.training.export import export, load_checkpoint, load_encoder
from jetclr_coffea.training.objectives.anomalyclr import anomaly_score_range
from jetclr_coffea.training.train import train

from jetclr_coffea.cli import main
from jetclr_coffea.errors import JetCLRError
from jetclr_coffea.inference import OnnxJetModel
from jetclr_coffea.metrics import auc
from jetclr_coffea.onnx_io import read_card
from jetclr_coffea.preprocessing import PreprocessSpec
from jetclr_coffea.sculpting import MSD_EDGES
from jetclr_coffea.truth import QCD, TWO_PRONG


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


def test_anomalyclr_train_export_evaluate_process(tiny_config: Callable[..., Path],
                                                  tmp_path: Path, samples: dict[str, Path]) -> None:
    """AnomalyCLR end to end: the exported anomaly_score is ||embedding||, evaluated and histogrammed."""
    from jetclr_coffea.processors import LearnedJetTagProcessor

    cfg = load_config(tiny_config(tmp_path, samples, name="anom", objective="anomalyclr",
                              anomaly={"drop_prob": 0.4}, model={"irc_safe": True},
                              preprocessing={"features": ["deta", "dphi", "dr"]}))
    result = train(cfg, progress=False)
    ckpt = load_checkpoint(result.checkpoint)
    norm = ckpt["embedding_norm"]
    assert 0 < norm["min"] <= norm["median"] <= norm["max"]
    onnx_path = export(result.checkpoint, tmp_path / "anom.onnx")
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    assert [o.name for o in sess.get_outputs()] == ["embedding", "head", "anomaly_score"]
    rng = np.random.default_rng(2)
    for n_jets, n_const in ((1, 4), (17, 40)):
        x = rng.normal(size=(n_jets, n_const, 3)).astype(np.float32)
        w = rng.random((n_jets, n_const)).astype(np.float32)
        w /= w.sum(1, keepdims=True)
        emb, score = sess.run(["embedding", "anomaly_score"], {"constituents": x, "mask": w})
        assert score.shape == (n_jets,)
        np.testing.assert_allclose(score, np.linalg.norm(emb, axis=1), rtol=1e-5)
        with torch.no_grad():
            t_emb, _ = load_encoder(ckpt)(torch.from_numpy(x), torch.from_numpy(w))
        np.testing.assert_allclose(score, t_emb.norm(dim=1).numpy(), rtol=1e-4)
    # the processor histograms it over the range recorded from the training jets
    proc = LearnedJetTagProcessor([onnx_path])
    lo, hi = proc.scores["anom_anomaly_score"]
    assert (lo, hi) == pytest.approx(anomaly_score_range(norm)) and lo < norm["min"] and hi > norm["max"]
    metrics = evaluate(onnx_path, [str(samples["svj"])], [str(samples["qcd"])], tmp_path / "eval",
                       signal_label="dark").metrics
    assert metrics["anomaly_score"]["score"] == "anomaly_score output"
    assert 0.0 <= metrics["anomaly_score"]["auc"] <= 1.0 and metrics["n_signal"] >= 10
    # a run of another objective cannot resume it
    with pytest.raises(JetCLRError, match="trained with objective anomalyclr, not jetclr"):
        train(replace(cfg, objective="jetclr"), resume=True, progress=False)


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


@pytest.mark.parametrize("objective", ["vicreg", "barlow_twins"])
def test_codec_objectives_train_and_export(tiny_config: Callable[..., Path],
                                           tmp_path: Path, samples: dict[str, Path], objective: str) -> None:
    """VICReg / Barlow Twins on same-class pairs of QCD and flat-mass two-prong jets."""
    cfg = load_config(tiny_config(tmp_path, samples, name=objective, objective=objective,
                              pairs={"pairing": "same_class"}, optim={"epochs": 1}))
    cfg = replace(cfg, data=replace(cfg.data, files=(str(samples["qcd"]), str(samples["wprime-flat"]))))
    result = train(cfg, progress=False)
    assert np.isfinite(result.final_loss)
    onnx_path = export(result.checkpoint, tmp_path / "c.onnx")
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    assert [o.name for o in sess.get_outputs()] == ["embedding", "head"]
    training = read_card(onnx_path).training
    assert training["objective"] == objective and training["pairs"]["pairing"] == "same_class"
    if objective == "vicreg":  # the mass-matched LCT of a two-prong tagger on it
        from jetclr_coffea.gen.generate import generate
        from jetclr_coffea.gen.pythia import ProcessConfig

        ddt_qcd = tmp_path / "qcd_ddt.root"  # the DDT maps' own QCD, not the test jets
        generate(ProcessConfig("qcd", seed=12), 100, ddt_qcd, progress=False)
        metrics = evaluate(onnx_path, [str(samples["wprime-flat"])], [str(samples["qcd"])],
                           tmp_path / "eval", signal_label="two_prong", mass_matched=True,
                           ddt_background=[str(ddt_qcd)]).metrics
        assert metrics["mass_matched"] and metrics["n_signal"] >= 10
        assert 0.0 <= metrics["mass_sculpting"]["baseline"] <= 1.0
        points = metrics["landscape"]["points"]  # the decorrelation landscape, DDT maps included
        assert {"n2", "n2_ddt", "n2_ddt_wp", "tau21_ddt", "lct", "lct_ddt", "observables_lct"} <= set(points)
        assert all(p["r50"] >= 1.0 and p["inv_jsd"] >= 1.0 for p in points.values())
        assert (tmp_path / "eval" / "landscape.png").stat().st_size > 0


@pytest.mark.parametrize("objective", ["jetclr", "anomalyclr"])
def test_resume_equals_uninterrupted(tiny_config: Callable[..., Path],
                                     tmp_path: Path, samples: dict[str, Path], objective: str) -> None:
    full = load_config(tiny_config(tmp_path, samples, name="full", objective=objective))
    train(full, progress=False)
    split = load_config(tiny_config(tmp_path, samples, name="split", objective=objective))
    train(split, progress=False, max_epochs=1)
    assert load_checkpoint(tmp_path / "split" / "checkpoint.pt")["epoch"] == 0
    done = train(split, resume=True, progress=False)
    again = train(split, resume=True, progress=False)  # a finished run resumed: nothing to do
    assert np.isfinite(again.final_loss) and again.final_loss == done.final_loss
    a = load_checkpoint(tmp_path / "full" / "checkpoint.pt")
    b = load_checkpoint(tmp_path / "split" / "checkpoint.pt")
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert a.get("embedding_norm") == b.get("embedding_norm")


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


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model": {"colour": 3}}, "unknown key model.colour"),
        ({"optim": {"lr": "fast"}}, "optim.lr: expected a number"),
        ({"optim": {"epochs": 2.5}}, "optim.epochs: expected a whole number"),
        ({"preprocessing": {"features": ["deta", "spin"]}}, "unknown feature"),
        ({"model": {"irc_safe": True}}, "IRC-safe model may only use angular features"),
        ({"objective": "simclr"}, "objective must be one of jetclr, anomalyclr"),
        ({"anomaly": {"drop_prob": 1.0}}, r"drop_prob must be in \(0, 1\)"),
        ({"pairs": {"pairing": "friends"}}, "pairing must be one of augmented, same_class"),
        ({"pairs": {"pairing": "same_class"}}, "same_class needs objective vicreg or barlow_twins"),
    ],
)
def test_bad_config(tiny_config: Callable[..., Path],
                    tmp_path: Path, samples: dict[str, Path], change: dict[str, Any], message: str) -> None:
    with pytest.raises(JetCLRError, match=message):
        load_config(tiny_config(tmp_path, samples, **change))


def test_data_without_constituents(tiny_config: Callable[..., Path],
    tmp_path: Path, samples: dict[str, Path], no_pf_candidates: Path
) -> None:
    cfg = load_config(tiny_config(tmp_path, samples, name="nocands"))
    cfg = replace(cfg, data=replace(cfg.data, files=(str(no_pf_candidates),)))
    with pytest.raises(JetCLRError, match="no PF-candidate branches"):
        train(cfg, progress=False)
    assert not (tmp_path / "nocands").exists()


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
        encoder = load_encoder(load_checkpoint(result.checkpoint))
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


# --- objective: supervised (the supervised ceiling, the DisCo tagger) and mass-matched pairs


def test_targets_flatten_the_signal_mass_to_qcd(samples: dict[str, Path]) -> None:
    files = [str(samples["qcd"]), str(samples["wprime-flat"])]
    sample = load_jets(files, PreprocessSpec(), pt_min=200.0, pt_max=5000.0, eta_max=2.4)
    keep, t = training_targets(sample, "two_prong", True)
    assert set(np.unique(sample.labels[keep])) <= {QCD, TWO_PRONG}
    y, msd, w = (a.numpy().astype(np.float64) for a in (t.label, t.msd, t.weight))
    assert np.array_equal(y == 1, sample.labels[keep] == TWO_PRONG)
    assert w[y == 1].sum() == pytest.approx((y == 0).sum(), rel=1e-5)  # classes balanced
    hs = np.histogram(msd[y == 1], MSD_EDGES, weights=w[y == 1])[0]
    hb = np.histogram(msd[y == 0], MSD_EDGES)[0].astype(np.float64)
    both = (hs > 0) & (hb > 0)
    # where both classes have jets, the weighted signal has QCD's msoftdrop shape
    np.testing.assert_allclose(hs[both] / hs[both].sum(), hb[both] / hb[both].sum(), rtol=1e-4)
    _, plain = training_targets(sample, "two_prong", False)
    assert len(np.unique(plain.weight[plain.label == 1].numpy())) == 1


def test_supervised_disco_trains_exports_and_separates(tiny_config: Callable[..., Path],
                                                       tmp_path: Path, samples: dict[str, Path]) -> None:
    cfg = load_config(tiny_config(
        tmp_path, samples, name="disco", objective="supervised", model={"d_out": 1, "irc_safe": True},
        preprocessing={"features": ["deta", "dphi", "dr"]},
        supervised={"output": "decorrelated_score", "disco": 0.01}, optim={"epochs": 10, "batch_size": 32}))
    files = (str(samples["qcd"]), str(samples["wprime-flat"]))
    cfg = replace(cfg, data=replace(cfg.data, files=files))
    result = train(cfg, progress=False)
    onnx_path = export(result.checkpoint, tmp_path / "d.onnx")
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    assert [o.name for o in sess.get_outputs()] == ["embedding", "head", "decorrelated_score"]
    model = OnnxJetModel(onnx_path)
    assert model.card.score_range("decorrelated_score") == (0.0, 1.0)
    assert model.card.training["supervised"]["disco"] == 0.01
    sample = load_jets(list(files), model.spec, pt_min=200.0, pt_max=5000.0, eta_max=2.4)
    x, mask = model.inputs_from_arrays(sample.arrays)
    score = model.run_arrays(x, mask)["decorrelated_score"]
    assert ((score >= 0) & (score <= 1)).all()
    sig, bkg = score[sample.labels == TWO_PRONG], score[sample.labels == QCD]
    assert auc(sig, bkg) > 0.6  # it learned from the labels (training jets)
    metrics = evaluate(onnx_path, [files[1]], [files[0]], tmp_path / "eval", signal_label="two_prong",
                       pt_range=(200.0, 5000.0), eta_max=2.4).metrics
    assert set(metrics["scores"]) == {"decorrelated_score"}  # its score, no fit, on the test jets
    assert 0.5 < metrics["observables_bdt"]["auc"] <= 1.0 and "d_auc_err" in metrics["observables_bdt"]
    assert "decorrelated_score" in metrics["landscape"]["points"]


def test_supervised_needs_one_logit_and_labels(tiny_config: Callable[..., Path],
                                               tmp_path: Path, samples: dict[str, Path]) -> None:
    with pytest.raises(JetCLRError, match="d_out: 1"):
        load_config(tiny_config(tmp_path, samples, name="wide", objective="supervised"))
    with pytest.raises(JetCLRError, match="output must be a name other than"):
        load_config(tiny_config(tmp_path, samples, name="o", objective="supervised", model={"d_out": 1},
                            supervised={"output": "embedding"}))


def test_mass_matched_pairs_train(tiny_config: Callable[..., Path],
                                  tmp_path: Path, samples: dict[str, Path]) -> None:
    cfg = load_config(tiny_config(tmp_path, samples, name="mm", objective="vicreg",
                              pairs={"pairing": "mass_matched"}, optim={"epochs": 1}))
    cfg = replace(cfg, data=replace(cfg.data, files=(str(samples["qcd"]), str(samples["wprime-flat"]))))
    assert np.isfinite(train(cfg, progress=False).final_loss)


def test_efn_is_irc_safe_and_permutation_invariant() -> None:
    from jetclr_coffea.efn import EFNConfig, EnergyFlowNetwork

    torch.manual_seed(0)
    efn = EnergyFlowNetwork(EFNConfig(n_features=2, hidden=16, latent=8))
    g = torch.Generator().manual_seed(1)
    x = torch.randn(5, 10, 2, generator=g)
    w = torch.rand(5, 10, generator=g)
    w = w / w.sum(1, keepdim=True)
    emb, logit = efn(x, w)
    perm = torch.randperm(10, generator=g)
    torch.testing.assert_close(efn(x[:, perm], w[:, perm])[0], emb)  # order does not matter
    split_x = torch.cat([x, x[:, :1]], 1)  # the first particle split collinearly in two halves
    split_w = torch.cat([w, w[:, :1] / 2], 1)
    split_w[:, 0] /= 2
    torch.testing.assert_close(efn(split_x, split_w)[0], emb)
    soft = torch.cat([x, torch.randn(5, 1, 2, generator=g)], 1)  # a zero-pT particle anywhere
    torch.testing.assert_close(efn(soft, torch.cat([w, torch.zeros(5, 1)], 1))[1], logit)


def test_supervised_efn_with_disco_warmup_trains_and_exports(tiny_config: Callable[..., Path], tmp_path: Path,
                                                             samples: dict[str, Path]) -> None:
    cfg = load_config(tiny_config(
        tmp_path, samples, name="efn", objective="supervised",
        preprocessing={"features": ["deta", "dphi"]},
        supervised={"arch": "efn", "output": "decorrelated_score", "disco": 1.0, "disco_warmup": 1},
        efn={"hidden": 16, "latent": 8}, optim={"epochs": 2, "batch_size": 32}))
    cfg = replace(cfg, data=replace(cfg.data, files=(str(samples["qcd"]), str(samples["wprime-flat"]))))
    onnx_path = export(train(cfg, progress=False).checkpoint, tmp_path / "efn.onnx")
    model = OnnxJetModel(onnx_path)
    assert model.card.model_kind == "efn" and model.card.encoder["latent"] == 8
    assert model.card.encoder["n_features"] == 2 and model.card.mask == "pt_fraction"
    sample = load_jets([str(samples["wprime-flat"])], model.spec, pt_min=200.0, pt_max=5000.0, eta_max=2.4)
    x, mask = model.inputs_from_arrays(sample.arrays)
    out = model.run_arrays(x, mask)
    assert out["embedding"].shape == (len(sample), 8)
    assert ((out["decorrelated_score"] >= 0) & (out["decorrelated_score"] <= 1)).all()
    with pytest.raises(JetCLRError, match="efn is IRC safe"):
        load_config(tiny_config(tmp_path, samples, name="bad", objective="supervised",
                            supervised={"arch": "efn"}))


def test_efn_with_jet_features_trains_exports_and_needs_the_jets(tiny_config: Callable[..., Path],
                                                                 tmp_path: Path,
                                                                 samples: dict[str, Path]) -> None:
    """A tagger that also sees msoftdrop/pT: the ONNX graph takes it as input ``jet``, the
    card declares it, ONNX Runtime agrees with torch, and the jets are required."""
    from jetclr_coffea.files import read_events
    from jetclr_coffea.preprocessing import jet_features
    from jetclr_coffea.reader import read_constituents

    cfg = load_config(tiny_config(
        tmp_path, samples, name="efn_jet", objective="supervised",
        preprocessing={"features": ["deta", "dphi"]},
        supervised={"arch": "efn", "output": "decorrelated_score", "disco": 1.0, "disco_warmup": 1},
        efn={"hidden": 16, "latent": 8, "jet_features": ["msoftdrop_over_pt"]},
        optim={"epochs": 2, "batch_size": 32}))
    cfg = replace(cfg, data=replace(cfg.data, files=(str(samples["qcd"]), str(samples["wprime-flat"]))))
    ckpt_path = train(cfg, progress=False).checkpoint
    onnx_path = export(ckpt_path, tmp_path / "efn_jet.onnx")
    model = OnnxJetModel(onnx_path)
    assert model.card.jet_features == ("msoftdrop_over_pt",)
    assert model.card.input_names == ("constituents", "mask", "jet")
    sample = load_jets([str(samples["wprime-flat"])], model.spec, pt_min=200.0, pt_max=5000.0, eta_max=2.4)
    x, mask = model.inputs_from_arrays(sample.arrays)
    msd = sample.observables[:, 0]
    jet = model.jet_inputs(sample.jet_fields)
    assert jet is not None and jet.shape == (len(sample), 1)
    np.testing.assert_allclose(jet[:, 0], np.where(np.nan_to_num(msd) > 0, np.nan_to_num(msd), 0) / sample.pt,
                               rtol=1e-6)
    out = model.run_arrays(x, mask, jet)
    torch_model = load_encoder(load_checkpoint(ckpt_path))
    with torch.no_grad():
        _, logit = torch_model(torch.as_tensor(x), torch.as_tensor(mask), torch.as_tensor(jet))
    np.testing.assert_allclose(out["decorrelated_score"], torch.sigmoid(logit[:, 0]).numpy(), atol=1e-5)
    # the score moves with the jet feature alone (constituents fixed): the input is used
    shifted = model.run_arrays(x, mask, jet + np.float32(0.2))["decorrelated_score"]
    assert np.abs(shifted - out["decorrelated_score"]).max() > 1e-4
    tensors = {"msoftdrop": torch.as_tensor(msd), "pt": torch.as_tensor(sample.pt)}
    torch.testing.assert_close(jet_features(tensors, ("msoftdrop_over_pt",)), torch.as_tensor(jet))
    with pytest.raises(JetCLRError, match="jet feature"):
        model.run_arrays(x, mask)
    events = read_events(samples["wprime-flat"])
    jc = read_constituents(events)
    with pytest.raises(JetCLRError, match="pass the fat jets with msoftdrop"):
        model(jc.constituents)
    scores = model(jc.constituents, jc.jets)["decorrelated_score"]
    assert scores.shape == (len(jc),) and np.isfinite(scores[jc.has_constituents]).all()


def test_jet_features_are_checked() -> None:
    from jetclr_coffea.efn import EFNConfig
    from jetclr_coffea.preprocessing import jet_features

    with pytest.raises(ValueError, match="jet_features must be distinct names"):
        EFNConfig(jet_features=("rho",))
    with pytest.raises(ValueError, match="unknown jet feature"):
        jet_features({"pt": np.ones(2)}, ("rho",))
    with pytest.raises(ValueError, match=r"need the FatJet field\(s\) \['tau1'\]"):
        jet_features({"tau2": np.ones(2)}, ("tau21",))
    fields = {"msoftdrop": np.array([60.0, np.nan, -1.0]), "pt": np.array([600.0, 500.0, 400.0]),
              "tau1": np.array([0.2, 0.0, 0.1]), "tau2": np.array([0.1, 0.1, 0.05]),
              "tau3": np.array([0.05, 0.05, 0.0]), "n2b1": np.array([0.2, np.nan, 0.3])}
    got = jet_features(fields, ("msoftdrop_over_pt", "log_pt", "tau21", "tau32", "n2b1"))
    np.testing.assert_allclose(got, [[0.1, np.log(600), 0.5, 0.5, 0.2], [0.0, np.log(500), 0.0, 0.5, 0.0],
                                     [0.0, np.log(400), 0.5, 0.0, 0.3]], rtol=1e-6)
    # the torch path gives the same numbers (training computes them on tensors)
    torch.testing.assert_close(jet_features({k: torch.as_tensor(v) for k, v in fields.items()},
                                            ("msoftdrop_over_pt", "tau21", "n2b1")),
                               torch.as_tensor(got[:, [0, 2, 4]]))


def test_efn_control_without_constituents_reads_the_jet_features_only() -> None:
    from jetclr_coffea.efn import EFNConfig, EnergyFlowNetwork

    with pytest.raises(ValueError, match="without constituents needs jet_features"):
        EFNConfig(constituents=False)
    torch.manual_seed(0)
    efn = EnergyFlowNetwork(EFNConfig(n_features=3, hidden=8, latent=4, jet_features=("tau21", "n2b1"),
                                      constituents=False))
    assert efn.cfg.embedding_width == 2 and efn.phi is None
    jet = torch.rand(6, 2)
    emb, logit = efn(torch.randn(6, 5, 3), torch.rand(6, 5), jet)
    torch.testing.assert_close(emb, jet)
    torch.testing.assert_close(efn(torch.randn(6, 9, 3), torch.rand(6, 9), jet)[1], logit)


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
