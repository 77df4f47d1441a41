"""The README's main command (`jetclr-coffea demo`) on tiny samples: the whole chain, all six models."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
from jetclr_coffea.models import shipped_models

from jetclr_coffea.demo import run_demo
from jetclr_coffea.errors import JetCLRError

TAGGER, CODEC = "jetclr_top_tagger_score", "codec_twoprong_decorrelated_score"


def test_demo_runs_the_whole_chain_with_every_shipped_model(tmp_path: Path) -> None:
    pytest.importorskip("pythia8mc", reason="needs the [gen] extra")
    out = tmp_path / "demo"
    summary = run_demo(out, events=80, seed=5)
    names = ["qcd.root", "top.root", "hists/hists.pkl", "hists/hists.root", "hists/cutflow.json",
             "friends/qcd_friend.root", "friends/top_friend.root", "ddt_map_jetclr_top.json",
             "ddt_map_codec_twoprong.json"]
    names += [f"{kind}_{score}.png" for score in (TAGGER, CODEC) for kind in ("ddt_map", "qcd_pass_fail")]
    for name in names:
        assert (out / name).is_file(), name
    assert len(shipped_models()) == 6 and len(summary.auc) == 6  # every model's score, plotted
    for score in summary.auc:
        assert (out / f"scores_{score}.png").is_file() and (out / f"roc_{score}.png").is_file()
    doc = json.loads((out / "ddt_map_jetclr_top.json").read_text())
    assert doc["corrections"][0]["name"] == f"ddt_{TAGGER}"
    # the shipped tagger separates top from QCD even on a handful of jets
    assert summary.auc[TAGGER] > 0.65
    for score in (TAGGER, CODEC):  # each map was built from this QCD sample: it closes within the statistics
        eff, err = summary.qcd_ddt_efficiency[score], summary.qcd_ddt_efficiency_error[score]
        assert abs(eff - 0.05) < 4 * err + 0.01
    hists = pickle.loads((out / "hists" / "hists.pkl").read_bytes())["hists"]
    assert set(hists) == {"qcd", "top"}
    with uproot.open(out / "hists" / "hists.root") as f:
        assert f"qcd/{TAGGER}__ddt_msd_pt" in f and f"qcd/{CODEC}__ddt_msd_pt" in f
    with uproot.open(out / "friends" / "top_friend.root") as f, uproot.open(out / "top.root") as ev:
        friend = f["Friends"].arrays()
        assert len(friend) == ev["Events"].num_entries  # aligned entry by entry
        for name in shipped_models():
            assert any(k.startswith(f"FatJet_{name}_") for k in friend.fields), name
        score = ak.flatten(friend[f"FatJet_{TAGGER}"]).to_numpy()
        assert np.isfinite(score).sum() > 20 and np.isnan(score).sum() > 0  # NaN outside the selection


def test_demo_refuses_bad_models(tmp_path: Path) -> None:
    with pytest.raises(JetCLRError, match="no such model"):
        run_demo(tmp_path / "a", models=[tmp_path / "missing.onnx"])
    shipped = Path(__file__).resolve().parents[1] / "onnx_models" / "jetclr_top.onnx"
    with pytest.raises(JetCLRError, match="two models named 'jetclr_top'"):
        run_demo(tmp_path / "b", models=[shipped, shipped])
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()  # refused before writing
