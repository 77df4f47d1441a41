"""training/objectives/: each objective trains, exports its outputs and refuses what it
cannot train (anomalyclr, vicreg, barlow_twins, supervised with DisCo, the EFN tagger)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from jetclr_coffea.training.checkpoint import load_checkpoint, load_model
from jetclr_coffea.training.data import load_jets
from jetclr_coffea.training.evaluate import evaluate
from jetclr_coffea.training.export import export
from jetclr_coffea.training.loading import load_config
from jetclr_coffea.training.objectives.anomalyclr import anomaly_score_range
from jetclr_coffea.training.train import train

from jetclr_coffea.errors import JetCLRError
from jetclr_coffea.inference import OnnxJetModel
from jetclr_coffea.metrics import auc
from jetclr_coffea.onnx_io import read_card
from jetclr_coffea.truth import QCD, TWO_PRONG


def test_anomalyclr_train_export_evaluate_process(tiny_config: Callable[..., Path],
                                                  tmp_path: Path, samples: dict[str, Path]) -> None:
    """AnomalyCLR end to end: the exported anomaly_score is ||embedding||, evaluated and histogrammed."""
    from jetclr_coffea.processors import LearnedJetTagProcessor

    cfg = load_config(tiny_config(tmp_path, samples, name="anom", objective="anomalyclr",
                              anomaly={"drop_prob": 0.4}, model={"irc_safe": True},
                              preprocessing={"features": ["deta", "dphi", "dr"]}))
    result = train(cfg, progress=False)
    ckpt = load_checkpoint(result.checkpoint)
    norm = ckpt.extras["embedding_norm"]
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
            t_emb, _ = load_model(ckpt)(torch.from_numpy(x), torch.from_numpy(w))
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
    from jetclr_coffea.gen.generate import generate
    from jetclr_coffea.gen.pythia import ProcessConfig

    ddt_qcd = tmp_path / "qcd_ddt.root"  # the DDT maps' own QCD, not the test jets
    generate(ProcessConfig("qcd", seed=12), 100, ddt_qcd, progress=False)
    metrics = evaluate(onnx_path, [files[1]], [files[0]], tmp_path / "eval", signal_label="two_prong",
                       pt_range=(200.0, 5000.0), eta_max=2.4, ddt_background=[str(ddt_qcd)]).metrics
    assert set(metrics["scores"]) == {"decorrelated_score"}  # its score, no fit, on the test jets
    points = metrics["landscape"]["points"]  # its own DDT too, paired with tau21^DDT's
    own = points["decorrelated_score_ddt_wp"]["vs_tau21_ddt_wp"]
    assert own["r50_ratio"] == pytest.approx(points["decorrelated_score_ddt_wp"]["r50"]
                                             / points["tau21_ddt_wp"]["r50"]) and own["r50_ratio_err"] > 0
    assert 0.5 < metrics["observables_bdt"]["auc"] <= 1.0 and "d_auc_err" in metrics["observables_bdt"]
    vs = metrics["scores"]["decorrelated_score"]["vs_bdt"]  # paired with the BDT on the same test jets
    assert vs["d_auc"] == pytest.approx(metrics["scores"]["decorrelated_score"]["auc"]
                                        - metrics["observables_bdt"]["auc"]) and vs["d_auc_err"] > 0
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
    torch_model = load_model(load_checkpoint(ckpt_path))
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
