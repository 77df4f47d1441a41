"""The linearized-OT model: its embedding's distances are W_2, exactly for translations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ot", reason="needs the [ot] extra (POT)")
pytest.importorskip("kmedoids", reason="needs the [ot] extra")
torch = pytest.importorskip("torch", reason="needs the [train] extra")

from jetclr_coffea.cli import main  # noqa: E402
from jetclr_coffea.inference import OnnxJetModel  # noqa: E402
from jetclr_coffea.ot import JET_RADIUS  # noqa: E402


@pytest.fixture(scope="module")
def lot_model(samples: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lot") / "lot_test.onnx"
    assert main(["linear-ot", str(samples["qcd"]), "-o", str(out), "--k", "3", "--n-ref", "8",
                 "--ref-jets", "20", "--jets", "24", "--check-jets", "20", "--pt-min", "250",
                 "--pt-max", "2000", "--n-max", "30", "-q"]) == 0
    return out


def _jets(n: int, c: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.12, (n, c, 2)).astype(np.float32)
    w = rng.random((n, c)).astype(np.float32)
    return x, w / w.sum(1, keepdims=True)


def test_card_and_distances_against_exact(lot_model: Path) -> None:
    model = OnnxJetModel(lot_model)
    card = model.card
    assert card.model_kind == "ot_medoids" and card.has_representation
    n_ref = card.training["n_ref"]
    assert card.output("embedding").shape == (2 * n_ref,) and card.output("medoid_distances").shape == (3,)
    pairs = card.scores_info["anomaly_score"]["pairs"]
    assert pairs["pairs"] == 10 and pairs["pearson"] > 0.8 and 0.7 < pairs["ratio_median"] < 1.3
    x, w = _jets(12, 30, 1)
    out = model.run_arrays(x, w)
    np.testing.assert_allclose(out["anomaly_score"], out["medoid_distances"].min(axis=1), rtol=1e-6)
    e = out["embedding"]
    d = np.sqrt(((e[:, None] - model.run_arrays(x, w)["embedding"][None]) ** 2).sum(-1))
    np.testing.assert_allclose(np.diag(d), 0.0, atol=1e-6)  # deterministic: a jet is at zero from itself


def test_a_translation_is_its_length(lot_model: Path) -> None:
    """W_2 between a jet and the same jet moved by t is |t| / R; the barycentric projection
    moves with the jet, so the embedding gives it up to the entropic blur."""
    model = OnnxJetModel(lot_model)
    x, w = _jets(10, 30, 2)
    t = np.random.default_rng(3).normal(0, 0.03, (10, 1, 2)).astype(np.float32)
    moved = model.run_arrays(x + t, w)["embedding"]
    base = model.run_arrays(x, w)["embedding"]
    got = np.linalg.norm(moved - base, axis=1)
    want = np.linalg.norm(t[:, 0], axis=1) / JET_RADIUS
    np.testing.assert_allclose(got, want, rtol=0.1)
    # constituent order does not matter
    perm = np.random.default_rng(4).permutation(30)
    np.testing.assert_allclose(model.run_arrays(x[:, perm], w[:, perm])["embedding"], base, atol=1e-5)


def test_processor_takes_it(lot_model: Path, fileset: Path) -> None:
    from jetclr_coffea.processors import LearnedJetTagProcessor, RunOptions, hist_name, load_fileset, run

    proc = LearnedJetTagProcessor([lot_model])
    assert list(proc.scores) == ["lot_test_anomaly_score"]
    out = run(load_fileset(fileset), proc, RunOptions()).datasets
    h = out["top"].hists[hist_name("lot_test_anomaly_score", "score_msd_pt")]
    assert h.sum(flow=True).value == pytest.approx(out["top"].cutflow["scored"])


def test_refusals(samples: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "x.onnx"
    assert main(["linear-ot", str(samples["qcd"]), "-o", str(out), "--jets", "100000"]) == 2
    assert "--jets" in capsys.readouterr().err and not out.exists()
    assert main(["linear-ot", str(samples["qcd"]), "-o", str(out), "--n-ref", "1"]) == 2
    assert "--n-ref" in capsys.readouterr().err
