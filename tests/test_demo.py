"""The README's main command (`jetclr-coffea demo`) on tiny samples: the whole chain."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import uproot

from jetclr_coffea.demo import run_demo


def test_demo_runs_the_whole_chain(tmp_path: Path) -> None:
    pytest.importorskip("pythia8mc", reason="needs the [gen] extra")
    out = tmp_path / "demo"
    summary = run_demo(out, events=80, seed=5)
    for name in ("qcd.root", "top.root", "ddt_map.json", "scores.png", "roc.png", "ddt_map.png",
                 "qcd_pass_fail.png", "hists/hists.pkl", "hists/hists.root", "hists/cutflow.json"):
        assert (out / name).is_file(), name
    assert json.loads((out / "ddt_map.json").read_text())["corrections"][0]["name"] == \
        "ddt_jetclr_top_tagger_score"
    # the shipped tagger separates top from QCD even on a handful of jets
    assert float(summary["auc_all_jets"]) > 0.65  # type: ignore[arg-type]
    # the map was built from this QCD sample: it closes within the statistics
    eff, err = float(summary["qcd_ddt_efficiency"]), float(summary["qcd_ddt_efficiency_error"])  # type: ignore[arg-type]
    assert abs(eff - 0.05) < 4 * err + 0.01
    hists = pickle.loads((out / "hists" / "hists.pkl").read_bytes())["hists"]
    assert set(hists) == {"qcd", "top"}
    with uproot.open(out / "hists" / "hists.root") as f:
        assert "qcd/jetclr_top_tagger_score__ddt_msd_pt" in f
