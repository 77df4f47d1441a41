"""Models that declare other scalar outputs (an anomaly score instead of a tagger score):
the processor attaches and histograms whatever the model declares, and ddt-map falls back
to ``anomaly_score``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
from jetclr_coffea.processors import FatJetSelection, LearnedJetTagProcessor
from jetclr_coffea.processors.run import RunOptions, load_fileset, make_ddt_map, run

from jetclr_coffea.onnx_io import load_onnx, read_metadata, write_metadata

MODEL = Path(__file__).resolve().parents[1] / "onnx_models" / "jetclr_top.onnx"


@pytest.fixture(scope="module")
def anomaly_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped encoder with ``anomaly_score = |head|^2`` in place of its tagger score."""
    import onnx
    from onnx import helper

    model = load_onnx(MODEL)
    graph = model.graph
    graph.node.append(helper.make_node("ReduceSumSquare", ["head"], ["anomaly_score"], axes=[1], keepdims=0))
    kept = [o for o in graph.output if o.name != "tagger_score"]
    del graph.output[:]
    score = helper.make_tensor_value_info("anomaly_score", onnx.TensorProto.FLOAT, ["jets"])
    graph.output.extend([*kept, score])
    meta = read_metadata(model)
    meta["outputs"] = {"embedding": 64, "head": 64, "anomaly_score": 1}
    meta["score_ranges"] = {"anomaly_score": [0.0, 200.0]}
    write_metadata(model, meta)
    path = tmp_path_factory.mktemp("anomaly") / "anomalyclr.onnx"
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def test_processor_attaches_declared_anomaly_score(anomaly_model: Path, samples: dict[str, Path],
                                                   open_nano: Any) -> None:
    proc = LearnedJetTagProcessor([anomaly_model, MODEL], FatJetSelection(pt_min=250.0))
    assert sorted(proc.scores) == ["anomalyclr_anomaly_score", "jetclr_top_tagger_score"]
    assert proc.scores["anomalyclr_anomaly_score"] == (0.0, 200.0)  # the declared range
    jets = proc.tag_fatjets(open_nano(samples["top"]))
    score = ak.to_numpy(ak.flatten(jets.anomalyclr_anomaly_score))
    head = ak.to_numpy(ak.flatten(jets.anomalyclr_head))
    ok = ~np.isnan(score)  # selected jets with stored constituents
    assert ok.sum() > 10
    # the attached score is the model's own output for that jet: |head|^2 of the same jet
    np.testing.assert_allclose(score[ok], (head[ok].astype(np.float64) ** 2).sum(axis=1), rtol=1e-4)
    # both models ran on the same jets: the shipped model's head equals the grafted one's
    np.testing.assert_allclose(ak.to_numpy(ak.flatten(jets.jetclr_top_head))[ok], head[ok], atol=1e-6)


def test_ddt_map_falls_back_to_anomaly_score(anomaly_model: Path, samples: dict[str, Path],
                                             tmp_path: Path) -> None:
    fs = tmp_path / "qcd.json"
    fs.write_text(json.dumps({"qcd": [str(samples["qcd"])]}))
    path = make_ddt_map(load_fileset(fs), str(anomaly_model), tmp_path / "ddt.json", score=None,
                        efficiency=0.05, opts=RunOptions())
    assert json.loads(path.read_text())["corrections"][0]["name"] == "ddt_anomalyclr_anomaly_score"
    out = run(load_fileset(fs), LearnedJetTagProcessor([anomaly_model], FatJetSelection(), path),
              RunOptions())["qcd"]
    passed = out["hists"]["anomalyclr_anomaly_score__ddt_msd_pt"].values(flow=True)  # pass x msd x pt
    assert passed.sum() == out["cutflow"]["scored"]  # every scored jet passes or fails
    assert 0.0 < passed[1].sum() / passed.sum() < 0.15  # ~5 % of QCD
