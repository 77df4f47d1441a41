"""Pile-up response jet by jet (training/pileup_response.py, ``jetclr-coffea pileup-response``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from jetclr_coffea.training.data import JetSample
from jetclr_coffea.training.pileup_response import match_jets, pileup_response, shift_summary

from jetclr_coffea.cli import main
from jetclr_coffea.errors import JetCLRError, ParameterError
from jetclr_coffea.preprocessing import ConstituentArrays

SHIPPED = Path(__file__).resolve().parents[1] / "onnx_models"


def _sample(event: list[tuple[int, int]], eta: list[float], phi: list[float], pt: list[float]) -> JetSample:
    n = len(pt)
    z = np.zeros((n, 1))
    arrays = ConstituentArrays(deta=z, dphi=z, pt=z, energy=z, charge=z, mask=np.ones((n, 1), bool))
    return JetSample(arrays=arrays, observables=np.zeros((n, 5)), labels=np.zeros(n, np.int64),
                     source=np.array([e[0] for e in event]), pt=np.asarray(pt, float), jet_fields={},
                     weight=np.ones(n), event=np.asarray(event, np.int64), eta=np.asarray(eta, float),
                     phi=np.asarray(phi, float))


def test_match_jets_same_event_nearest_within_dr_once() -> None:
    ref = _sample([(0, 0), (0, 0), (0, 1), (1, 0)], [0.0, 1.0, 0.5, 0.0], [3.1, 0.0, 0.0, 0.0],
                  [500, 400, 300, 200])
    # event (0,0): twins swapped in order, the first across phi = pi; (0,1): too far; (1,0): another file's
    pu = _sample([(0, 0), (0, 0), (0, 1), (0, 0), (1, 0)], [1.05, 0.02, 0.9, 0.0, 0.1],
                 [0.0, -3.1, 0.0, 3.0, 0.0], [410, 520, 310, 50, 205])
    i_ref, i_pu = match_jets(ref, pu)
    assert i_ref.tolist() == [0, 1, 3] and i_pu.tolist() == [1, 0, 4]
    # the same jet is never used twice: two reference jets on top of one twin
    twice = _sample([(0, 0), (0, 0)], [0.0, 0.01], [0.0, 0.0], [500, 490])
    assert match_jets(twice, _sample([(0, 0)], [0.0], [0.0], [500]))[0].tolist() == [0]


def test_shift_summary() -> None:
    ref = np.arange(1000.0)
    s = shift_summary(ref, ref + np.random.default_rng(0).normal(2.0, 1.0, 1000))
    assert s["median"] == pytest.approx(2.0, abs=0.1) and s["q84"] - s["q16"] == pytest.approx(2.0, rel=0.15)


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """QCD and top at mu = 0 and mu = 20 from the same seeds (premixed from a small library)."""
    pytest.importorskip("pythia8mc", reason="needs the [gen] extra")
    from jetclr_coffea.gen.generate import generate
    from jetclr_coffea.gen.minbias import write_minbias_library
    from jetclr_coffea.gen.pythia import ProcessConfig

    d = tmp_path_factory.mktemp("twins")
    write_minbias_library(300, 5, d / "lib.root")
    out = {}
    for proc, seed in (("qcd", 21), ("top", 22)):
        for mu in (0, 20):
            out[f"{proc}{mu}"] = d / f"{proc}{mu}.root"
            generate(ProcessConfig(proc, seed=seed), 60, out[f"{proc}{mu}"], pileup=mu,
                     pileup_library=d / "lib.root" if mu else None, progress=False)
    return out


def test_response_to_pileup(tmp_path: Path, twins: dict[str, Path]) -> None:
    model = SHIPPED / "jetclr_top.onnx"
    r = pileup_response(model, ([str(twins["top0"])], [str(twins["top20"])]),
                        ([str(twins["qcd0"])], [str(twins["qcd20"])]), tmp_path / "r.json",
                        pt_range=(300, 1000))
    assert json.loads((tmp_path / "r.json").read_text())["n_signal"] == r["n_signal"] > 10
    s = r["scores"]
    assert {"tagger_score", "embedding_norm", "msoftdrop", "n2b1"} <= set(s)
    # PUPPI and grooming keep the median groomed mass where it was, but jets do move
    m = s["msoftdrop"]["shift_background"]
    assert abs(m["median"]) < 5.0 and m["q84"] - m["q16"] > 0.1
    json.dumps(r, allow_nan=False)
    t = s["tagger_score"]
    assert t["d_auc"] == pytest.approx(t["auc_pileup"] - t["auc_reference"]) and t["d_auc_err"] > 0
    assert 0 < r["embedding"]["background"]["relative_shift_median"] < 1


def test_same_events_give_no_shift(tmp_path: Path, twins: dict[str, Path]) -> None:
    copy = tmp_path / "qcd0_copy.root"
    shutil.copy(twins["qcd0"], copy)
    top_copy = tmp_path / "top0_copy.root"
    shutil.copy(twins["top0"], top_copy)
    r = pileup_response(SHIPPED / "jetclr_top.onnx", ([str(twins["top0"])], [str(top_copy)]),
                        ([str(twins["qcd0"])], [str(copy)]), tmp_path / "r.json", pt_range=(300, 1000))
    for block in r["scores"].values():
        assert block["shift_background"] == {"median": 0.0, "q16": 0.0, "q84": 0.0}
        assert block["d_auc"] == 0.0 and block["d_auc_err"] == 0.0


def test_bad_pairs(tmp_path: Path, twins: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    model = SHIPPED / "jetclr_top.onnx"
    with pytest.raises(ParameterError, match="both the reference and the pile-up"):
        pileup_response(model, ([str(twins["top0"])], [str(twins["top0"])]),
                        ([str(twins["qcd0"])], [str(twins["qcd20"])]), tmp_path / "r.json")
    with pytest.raises(ParameterError, match="one pile-up file per reference"):
        pileup_response(model, ([str(twins["top0"])], [str(twins["top20"]), str(twins["qcd20"])]),
                        ([str(twins["qcd0"])], [str(twins["qcd20"])]), tmp_path / "r.json")
    with pytest.raises(ParameterError, match="one of the inputs"):
        pileup_response(model, ([str(twins["top0"])], [str(twins["top20"])]),
                        ([str(twins["qcd0"])], [str(twins["qcd20"])]), twins["qcd20"])
    with pytest.raises(JetCLRError, match="same --seed"):  # other events: the top file as QCD's twin
        pileup_response(model, ([str(twins["top0"])], [str(twins["top20"])]),
                        ([str(twins["qcd0"])], [str(twins["top20"])]), tmp_path / "r.json",
                        pt_range=(300, 1000))
    assert not (tmp_path / "r.json").exists()
    assert main(["pileup-response", str(model), "--signal", str(twins["top0"]), "--signal-pileup",
                 str(twins["top20"]), "--background", str(twins["qcd0"]), "--background-pileup",
                 str(twins["qcd20"]), "--pt-min", "300", "-o", str(tmp_path / "r.json")]) == 2
    assert "needs both --pt-min and --pt-max" in capsys.readouterr().err
