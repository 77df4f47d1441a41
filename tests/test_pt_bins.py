"""Every metric per jet-pT bin (training/pt_bins.py and ``evaluate --pt-bins``)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from jetclr_coffea.training.evaluate import evaluate
from jetclr_coffea.training.pt_bins import BinnedScores, check_edges, pt_bin_metrics

from jetclr_coffea.cli import main
from jetclr_coffea.errors import ParameterError
from jetclr_coffea.metrics import roc_metrics

SHIPPED = Path(__file__).resolve().parents[1] / "onnx_models"
BIN_KEYS = {"pt_min", "pt_max", "n_signal", "n_background", "lct", "baseline", "observables_bdt", "scores",
            "anomaly_score"}


def _scores(n: int = 4000, seed: int = 0) -> BinnedScores:
    """Jets whose score separates signal better at low pT: AUC falls with pT by construction."""
    rng = np.random.default_rng(seed)
    pt = rng.uniform(300, 1500, n)
    y = rng.integers(0, 2, n).astype(np.int64)
    sep = 3.0 * (1500 - pt) / 1200  # 3 sigma at 300 GeV, 0 at 1500 GeV
    score = rng.normal(0, 1, n) + y * sep
    test = np.sort(rng.choice(n, n // 2, replace=False)).astype(np.int64)
    return BinnedScores(pt=pt, labels=y, weight=np.ones(n), test_index=test, lct=score[test],
                        baseline=rng.normal(0, 1, len(test)) + y[test], bdt=score[test] * 2,
                        scores={"tagger_score": score}, anomaly=score)


def test_bins_partition_the_jets_and_track_the_physics() -> None:
    d = _scores()
    bins = pt_bin_metrics((300, 600, 900, 1200, 1500), d, 30)
    assert [set(b) >= BIN_KEYS for b in bins] == [True] * 4
    assert sum(b["n_test_signal"] + b["n_test_background"] for b in bins) == len(d.test_index)
    assert sum(b["n_signal"] + b["n_background"] for b in bins) == len(d.pt)
    aucs = [b["lct"]["auc"] for b in bins]
    assert aucs == sorted(aucs, reverse=True) and aucs[0] > 0.9 and aucs[-1] < 0.65
    # a bin's block is the score's metrics on that bin's test jets, nothing refitted
    t = d.test_index
    sel = (d.pt[t] >= 600) & (d.pt[t] < 900)
    y = d.labels[t][sel]
    want = roc_metrics(d.lct[sel][y == 1], d.lct[sel][y == 0])
    assert bins[1]["lct"]["auc"] == pytest.approx(want["auc"], abs=1e-12)
    # a monotonic transform (the BDT is 2x the LCT here) has the same AUC: d_auc vs the baseline agrees
    assert bins[1]["observables_bdt"]["auc"] == pytest.approx(want["auc"], abs=1e-12)
    assert bins[1]["lct"]["d_auc"] == pytest.approx(bins[1]["lct"]["auc"] - bins[1]["baseline"]["auc"])
    assert bins[1]["scores"]["tagger_score"]["auc"] == pytest.approx(want["auc"], abs=1e-12)


def test_empty_and_thin_bins_and_weights() -> None:
    d = _scores(400)
    bins = pt_bin_metrics((300, 310, 1500), d, 10)
    assert bins[0]["lct"] is None and "fewer than" in bins[0]["note"]
    assert bins[1]["lct"] is not None
    # weights: doubling the weight of every signal jet changes nothing (ratios within a class)
    w = np.where(d.labels == 1, 2.0, 1.0)
    again = pt_bin_metrics((300, 1500), BinnedScores(**{**d.__dict__, "weight": w}), 10)
    assert again[0]["lct"]["auc"] == pytest.approx(pt_bin_metrics((300, 1500), d, 10)[0]["lct"]["auc"])


@pytest.mark.parametrize(("edges", "match"), [
    ((300,), "at least two"), ((300, 300, 500), "increase strictly"),
    ((500, 300), "increase strictly"),
    ((300, float("nan")), "finite"), ((300, float("inf")), "finite"),
    ((200, 600), "outside the jet selection"),
])
def test_bad_edges(edges: tuple[float, ...], match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        check_edges(edges, (250.0, 2000.0))


def test_evaluate_pt_bins_on_generated_jets(tmp_path: Path, samples: dict[str, Path]) -> None:
    model = SHIPPED / "jetclr_top.onnx"
    edges = [300.0, 550.0, 650.0, 1000.0]
    m = evaluate(model, [str(samples["top"])], [str(samples["qcd"])], tmp_path / "ev", pt_bins=edges).metrics
    assert m["selection"]["pt_min"] == 300.0 and m["selection"]["pt_max"] == 1000.0  # the bins' range
    bins = json.loads((tmp_path / "ev" / "metrics.json").read_text())["pt_bins"]
    assert [(b["pt_min"], b["pt_max"]) for b in bins] == list(itertools.pairwise(edges))
    assert sum(b["n_signal"] for b in bins) == m["n_signal"]
    assert all(set(b) >= BIN_KEYS for b in bins)
    full = [b for b in bins if b["lct"] is not None]
    assert full and all(0.5 < b["scores"]["tagger_score"]["auc"] <= 1 for b in full)
    assert all(b["observables_bdt"]["auc_err"] > 0 for b in full)
    assert (tmp_path / "ev" / "pt_bins.png").stat().st_size > 5000
    assert m["weights"].startswith("none")  # the fixture samples are unweighted


def test_evaluate_pt_bins_cli_errors(tmp_path: Path, samples: dict[str, Path],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    base = ["evaluate", str(SHIPPED / "jetclr_top.onnx"), "--signal", str(samples["top"]), "--background",
            str(samples["qcd"]), "--output-dir", str(tmp_path / "e")]
    with pytest.raises(SystemExit) as usage:  # a usage error, as argparse gives
        main([*base, "--pt-bins", "300", "600", "--pt-bins", "600", "900"])
    assert usage.value.code == 2 and "--pt-bins given more than once" in capsys.readouterr().err
    assert main([*base, "--pt-bins", "300", "600", "--pt-min", "400", "--pt-max", "700"]) == 2
    assert "outside the jet selection" in capsys.readouterr().err
    assert main([*base, "--pt-bins", "600", "300"]) == 2
    assert "increase strictly" in capsys.readouterr().err
    assert not (tmp_path / "e" / "metrics.json").exists()
