"""Models that declare other scalar outputs (the shipped anomaly model's ``anomaly_score``
instead of a tagger score): the processor attaches and histograms whatever the model
declares, and ddt-map falls back to ``anomaly_score``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
from jetclr_coffea.processors import FatJetSelection, LearnedJetTagProcessor
from jetclr_coffea.processors.run import RunOptions, load_fileset, make_ddt_map, run

from jetclr_coffea.onnx_io import read_card

MODELS = Path(__file__).resolve().parents[1] / "onnx_models"
MODEL = MODELS / "jetclr_top.onnx"


@pytest.fixture(scope="module")
def anomaly_model() -> Path:
    """The shipped DarkCLR-style model: outputs embedding, head and anomaly_score (no tagger)."""
    return MODELS / "darkclr_qcd.onnx"


def test_processor_attaches_declared_anomaly_score(anomaly_model: Path, samples: dict[str, Path],
                                                   open_nano: Any) -> None:
    proc = LearnedJetTagProcessor([anomaly_model, MODEL], FatJetSelection(pt_min=250.0))
    assert sorted(proc.scores) == ["darkclr_qcd_anomaly_score", "jetclr_top_tagger_score"]
    declared = read_card(anomaly_model).score_range("anomaly_score")
    assert proc.scores["darkclr_qcd_anomaly_score"] == declared  # the declared range
    jets = proc.tag_fatjets(open_nano(samples["top"]))
    score = ak.to_numpy(ak.flatten(jets.darkclr_qcd_anomaly_score))
    embedding = ak.to_numpy(ak.flatten(jets.darkclr_qcd_embedding))
    ok = ~np.isnan(score)  # selected jets with stored constituents
    assert ok.sum() > 10
    # the attached score is the model's own output for that jet: the norm of its embedding
    np.testing.assert_allclose(score[ok], np.linalg.norm(embedding[ok].astype(np.float64), axis=1), rtol=1e-5)
    # both models ran on the same jets, each with its own outputs
    other = ak.to_numpy(ak.flatten(jets.jetclr_top_embedding))[ok]
    assert np.isfinite(other).all()
    assert other.shape[1] != embedding.shape[1] or not np.allclose(other, embedding[ok])


def test_ddt_map_falls_back_to_anomaly_score(anomaly_model: Path, samples: dict[str, Path],
                                             tmp_path: Path) -> None:
    fs = tmp_path / "qcd.json"
    fs.write_text(json.dumps({"qcd": [str(samples["qcd"])]}))
    path = make_ddt_map(load_fileset(fs), str(anomaly_model), tmp_path / "ddt.json", score=None,
                        efficiency=0.05, opts=RunOptions())
    assert json.loads(path.read_text())["corrections"][0]["name"] == "ddt_darkclr_qcd_anomaly_score"
    out = run(load_fileset(fs), LearnedJetTagProcessor([anomaly_model], FatJetSelection(), path),
              RunOptions()).datasets["qcd"]
    passed = out.hists["darkclr_qcd_anomaly_score__ddt_msd_pt"].values(flow=True)  # pass x msd x pt
    assert passed.sum() == out.cutflow["scored"]  # every scored jet passes or fails
    assert 0.0 < passed[1].sum() / passed.sum() < 0.15  # ~5 % of QCD
