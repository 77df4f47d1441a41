"""DDT closure across pT (processors/closure.py, ``jetclr-coffea ddt-closure``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from jetclr_coffea.processors.closure import closure_table, ddt_closure, summary

from jetclr_coffea.cli import main
from jetclr_coffea.errors import JetCLRError

MODEL = str(Path(__file__).resolve().parents[1] / "onnx_models" / "jetclr_top.onnx")


def test_closure_table_weighted_binomial() -> None:
    # one (msd, pT) bin: 30 passing jets of weight 1, 70 failing ones of weight 2
    values = np.array([[[140.0]], [[30.0]]])  # (pass, msd, pt)
    variances = np.array([[[280.0]], [[30.0]]])
    (row,) = closure_table(values, variances, np.array([0.0, 10.0]), np.array([300.0, 400.0]), 0.2)
    eps = 30 / 170
    assert row.pass_fraction == pytest.approx(eps)
    assert row.err == pytest.approx(np.sqrt((1 - eps) ** 2 * 30 + eps**2 * 280) / 170)
    assert row.n_effective == pytest.approx(170**2 / 310) and row.pull == pytest.approx((eps - 0.2) / row.err)
    # unit weights: the binomial error sqrt(eps (1 - eps) / n)
    (unit,) = closure_table(np.array([[[70.0]], [[30.0]]]), np.array([[[70.0]], [[30.0]]]),
                            np.array([0.0, 10.0]), np.array([300.0, 400.0]), 0.3)
    assert unit.err == pytest.approx(np.sqrt(0.3 * 0.7 / 100)) and unit.pull == pytest.approx(0.0, abs=1e-12)
    (empty,) = closure_table(np.zeros((2, 1, 1)), np.zeros((2, 1, 1)), np.array([0.0, 1.0]),
                             np.array([0.0, 1.0]), 0.3)
    assert empty.pass_fraction is None and empty.pull is None
    s = summary(values, variances, np.array([300.0, 400.0]), [row], 0.2)
    assert s["per_pt"][0]["pass_fraction"] == pytest.approx(eps) and s["ndf"] == 1


def test_closure_on_the_maps_own_and_an_independent_sample(samples: dict[str, Path], tmp_path: Path) -> None:
    from jetclr_coffea.processors.run import RunOptions, load_fileset, make_ddt_map

    pytest.importorskip("pythia8mc", reason="needs the [gen] extra")
    from jetclr_coffea.gen.generate import generate
    from jetclr_coffea.gen.pythia import ProcessConfig

    other = tmp_path / "qcd_other.root"
    generate(ProcessConfig("qcd", seed=77), 100, other, progress=False)
    own, indep = tmp_path / "own.json", tmp_path / "indep.json"
    own.write_text(json.dumps({"qcd": [str(samples["qcd"])]}))
    indep.write_text(json.dumps({"qcd_other": [str(other)]}))
    q = 0.3
    ddt = make_ddt_map(load_fileset(own), MODEL, tmp_path / "ddt.json", score=None, efficiency=q,
                       opts=RunOptions())
    (tmp_path / "indep").mkdir()  # an existing output folder is written into
    built: set[float] = set()
    for name, fs in (("own", own), ("indep", indep)):
        r = ddt_closure(load_fileset(fs), MODEL, ddt, tmp_path / name, opts=RunOptions())
        saved = json.loads((tmp_path / name / "closure.json").read_text())
        assert saved["summary"] == r["summary"] and (tmp_path / name / "closure.png").stat().st_size > 5000
        filled = [b for b in r["summary"]["per_pt"] if b["n_effective"] >= 20]
        built = built or {b["pt_min"] for b in filled}  # the map's own sample comes first
        filled = [b for b in filled if b["pt_min"] in built]  # a pT bin the map was built from:
        assert filled  # elsewhere it clamps, and a score that rises with pT passes more or less
        for b in filled:  # every well-filled pT bin passes q of its QCD jets, within errors
            assert abs(b["pass_fraction"] - q) < 4 * b["err"] + 0.05
        rows = [b for b in r["bins"] if b["pass_fraction"] is not None]
        assert all(0.0 <= b["pass_fraction"] <= 1.0 and b["err"] >= 0 for b in rows)
    assert main(["ddt-closure", str(indep), "--model", MODEL, "--ddt-map", str(ddt), "-o", str(ddt)]) == 2
    with pytest.raises(JetCLRError, match="no such DDT map"):
        ddt_closure(load_fileset(indep), MODEL, tmp_path / "missing.json", tmp_path / "x", opts=RunOptions())
