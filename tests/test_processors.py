"""The tagging processor, DDT maps and the Runner with every executor."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
import uproot
from jetclr_coffea.processors import DatasetResult, FatJetSelection, LearnedJetTagProcessor, jet_rho
from jetclr_coffea.processors.run import RunOptions, RunResult, load_fileset, make_ddt_map, run

from jetclr_coffea import inference
from jetclr_coffea.cli import main
from jetclr_coffea.errors import JetCLRError
from jetclr_coffea.reader import read_constituents

MODEL = Path("onnx_models/jetclr_top.onnx")
SCORE = "jetclr_top_tagger_score"


def _contents(output: RunResult | dict[str, Any]) -> dict[str, np.ndarray]:
    datasets = output.datasets if isinstance(output, RunResult) else output
    hists = {ds: res.hists if isinstance(res, DatasetResult) else res["hists"]  # run's, or a processor's own
             for ds, res in datasets.items()}
    return {f"{ds}/{name}": h.values() for ds, per in hists.items() for name, h in per.items()}


def test_processor_scores_every_selected_jet(samples: dict[str, Path], open_nano: Any) -> None:
    events = open_nano(samples["top"])
    events.metadata["dataset"] = "top"
    proc = LearnedJetTagProcessor([MODEL], FatJetSelection(pt_min=250.0))
    out = proc.process(events)["top"]
    n_sel = int(ak.sum((events.FatJet.pt > 250) & (np.abs(events.FatJet.eta) < 2.4)
                       & ((events.FatJet.jetId & 2) != 0)))
    assert out["cutflow"]["selected"] == n_sel == out["cutflow"]["scored"]
    h = out["hists"][f"{SCORE}__score_msd_pt"]
    assert h.sum().value == pytest.approx(n_sel)
    assert out["providers"] == {"CPUExecutionProvider"}
    # fresh output every call, nothing kept between chunks
    again = proc.process(events)["top"]
    assert again["hists"][f"{SCORE}__score_msd_pt"].sum().value == pytest.approx(n_sel)


def test_tagger_separates_top_from_qcd(fileset: Path) -> None:
    out = run(load_fileset(fileset), LearnedJetTagProcessor([MODEL], FatJetSelection(pt_min=500)),
              RunOptions()).datasets
    mean = {ds: out[ds].hists[f"{SCORE}__score_msd_pt"].project("score") for ds in ("qcd", "top")}
    centres = mean["qcd"].axes[0].centers
    avg = {ds: (h.values() * centres).sum() / h.values().sum() for ds, h in mean.items()}
    assert avg["top"] > avg["qcd"] + 0.2


def test_executors_and_chunk_sizes_agree(fileset: Path) -> None:
    proc = LearnedJetTagProcessor([MODEL], FatJetSelection(pt_min=250.0))
    fs = load_fileset(fileset)
    ref = _contents(run(fs, proc, RunOptions(chunksize=1000)))
    for opts in (RunOptions(chunksize=37), RunOptions(executor="futures", workers=2, chunksize=50),
                 RunOptions(executor="dask", workers=2, chunksize=50)):
        got = _contents(run(fs, proc, opts))
        assert got.keys() == ref.keys()
        for key in ref:
            np.testing.assert_allclose(got[key], ref[key], rtol=1e-6, atol=1e-9, err_msg=f"{opts} {key}")


def test_ddt_map_gives_flat_qcd_efficiency(samples: dict[str, Path], fileset: Path, tmp_path: Path) -> None:
    qcd = tmp_path / "qcd.json"
    qcd.write_text(json.dumps({"qcd": [str(samples["qcd"])]}))
    # the default q = 5% and min_jets, on ~200 jets: most (rho, pT) bins pool neighbours
    ddt = make_ddt_map(load_fileset(qcd), str(MODEL), tmp_path / "ddt.json", score=None,
                       efficiency=0.05, opts=RunOptions())
    proc = LearnedJetTagProcessor([MODEL], FatJetSelection(), ddt)
    out = run(load_fileset(qcd), proc, RunOptions()).datasets["qcd"]
    h = out.hists[f"{SCORE}__ddt_msd_pt"].values(flow=True)  # pass x msd x pt, all jets
    frac = h[1].sum() / h.sum()
    sigma = (0.05 * 0.95 / h.sum()) ** 0.5
    assert abs(frac - 0.05) < 2.5 * sigma  # 5% within the statistics of a tiny sample


def test_cli_run_writes_outputs(fileset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["run", str(fileset), "--model", str(MODEL), "--output", str(out), "--skim"]) == 0
    assert {p.name for p in out.iterdir()} == {"hists.pkl", "hists.root", "cutflow.json", "skim.root"}
    with uproot.open(out / "hists.root") as f:
        assert f[f"top/{SCORE}__score_msd_pt"].values().sum() > 0
    with uproot.open(out / "skim.root") as f:
        assert f.classname_of("top_jets") == "TTree"
        jets = f["top_jets"].arrays()
        assert {"run", "luminosityBlock", "event", "entry", "jetIdx", "eta", "phi", SCORE} <= set(jets.fields)
        assert f["top_jets"]["jetclr_top_embedding"].array(library="np").shape[1] == 512
    with uproot.open(json.loads(fileset.read_text())["top"][0]) as f:
        events = f["Events"].arrays(["event", "FatJet_eta"])
    # entry and jetIdx point back at the input jet
    entry, idx = jets["entry"].to_numpy(), jets["jetIdx"].to_numpy()
    assert np.array_equal(events["event"].to_numpy()[entry], jets["event"].to_numpy())
    eta = [events["FatJet_eta"][e][j] for e, j in zip(entry, idx, strict=True)]
    np.testing.assert_allclose(eta, jets["eta"].to_numpy(), rtol=1e-6)
    assert "CPUExecutionProvider" in capsys.readouterr().out


@pytest.mark.network
def test_real_cms_files(real_files: dict[str, Path], tmp_path: Path) -> None:
    fs = tmp_path / "real.json"
    # the RNTuple copy is left to test_memory.py and test_dask_awkward.py: opening it costs ~30 s
    files = {name: path for name, path in real_files.items() if name != "pfnano_rntuple.root"}
    fs.write_text(json.dumps({name: [str(path)] for name, path in files.items()}))
    proc = LearnedJetTagProcessor([MODEL], FatJetSelection(pt_min=0.0, eta_max=5.0, require_jet_id=False),
                                  keep_jets=True)
    out = run(load_fileset(fs), proc, RunOptions()).datasets
    for name in files:
        c = out[name].cutflow
        assert c["selected"] == c["fatjets"] > 0
        assert c["scored"] == c["selected"] - c["no_constituents"]
        scores = np.concatenate([j[SCORE] for j in out[name].jets])
        assert np.isfinite(scores).sum() == c["scored"]
    assert out["nano_tt_v15.root"].cutflow["no_constituents"] == 2


def test_missing_pf_candidates(no_pf_candidates: Path) -> None:
    fs = {"x": {"files": [str(no_pf_candidates)], "treename": "Events"}}
    with pytest.raises(JetCLRError, match="PFCands_pt, FatJetPFCands_jetIdx"):
        run(fs, LearnedJetTagProcessor([MODEL]), RunOptions())
    out = run(fs, LearnedJetTagProcessor([MODEL], missing_constituents="skip"), RunOptions()).datasets
    assert out["x"].cutflow["skipped_no_pf_candidates"] == out["x"].cutflow["selected"] > 0


def test_bad_and_missing_files(samples: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.root"
    bad.write_bytes(b"root" * 100)
    fs = {"x": {"files": [str(samples["qcd"]), str(bad)], "treename": "Events"}}
    with pytest.raises(JetCLRError, match=r"corrupt\.root: cannot read the file"):
        run(fs, LearnedJetTagProcessor([MODEL]), RunOptions())
    out = run(fs, LearnedJetTagProcessor([MODEL]), RunOptions(skipbadfiles=True))
    assert out.datasets["x"].cutflow["events"] == 100
    assert [(s["file"], s["reason"].split(" (")[0]) for s in out.skipped_files] == [
        (str(bad), "cannot read the file")]


def test_empty_and_odd_jets(samples: dict[str, Path]) -> None:
    events = uproot.open(samples["qcd"])["Events"].arrays()
    jc = read_constituents(events)
    model = inference.OnnxJetModel(MODEL)
    odd = ak.concatenate([
        jc.constituents[:3],
        ak.Array([[], [{"pt": 50.0, "eta": 0.1, "phi": 0.2, "mass": 0.0, "charge": 1, "pdgId": 211,
                        "d0": 0.0, "dz": 0.0, "puppiWeight": 1.0}]]),
        ak.Array([[{"pt": float("nan"), "eta": 0.1, "phi": 0.2, "mass": 0.0, "charge": 0, "pdgId": 22,
                    "d0": 0.0, "dz": 0.0, "puppiWeight": 1.0},
                   {"pt": 30.0, "eta": float("inf"), "phi": 0.2, "mass": 0.0, "charge": 0, "pdgId": 22,
                    "d0": 0.0, "dz": 0.0, "puppiWeight": 1.0}]]),
    ])
    jets = jc.jets[[0, 1, 2, 3, 4, 5]]  # the jet features of six real jets
    out = model(odd, jets)
    score = out["tagger_score"]
    assert np.isfinite(score[:3]).all() and np.isnan(score[3]) and np.isfinite(score[4])
    assert np.isnan(score[5])  # no finite constituent left
    assert model(jc.constituents[:0], jc.jets[:0])["tagger_score"].shape == (0,)


def test_missing_ddt_map_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(JetCLRError, match="no such DDT map"):
        LearnedJetTagProcessor([MODEL], ddt_map=tmp_path / "nope.json")


class _SlowProcessor(LearnedJetTagProcessor):
    """Takes a while per chunk, so that a worker can be killed in the middle of a run."""

    def process(self, events: Any) -> dict[str, Any]:
        time.sleep(0.3)
        return super().process(events)  # type: ignore[no-any-return]


def _kill_worker() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def test_dask_worker_killed_mid_run(fileset: Path) -> None:
    import cloudpickle
    from distributed import Client, LocalCluster

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    fs = load_fileset(fileset)
    reference = _contents(run(fs, LearnedJetTagProcessor([MODEL]), RunOptions()))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        result: dict[str, Any] = {}
        runner = threading.Thread(target=lambda: result.update(run(
            fs, _SlowProcessor([MODEL]),
            RunOptions(executor="dask", scheduler=cluster.scheduler_address, chunksize=10)).datasets))
        runner.start()
        deadline = time.time() + 60
        while not client.processing() or not any(client.processing().values()):
            assert time.time() < deadline
            time.sleep(0.05)
        time.sleep(0.5)
        victim = next(w for w, tasks in client.processing().items() if tasks)
        with contextlib.suppress(Exception):
            client.run(_kill_worker, workers=[victim])
        runner.join(timeout=120)
        assert not runner.is_alive()
        # the killed worker is gone (its nanny started a new one with a new address)
        assert victim not in client.scheduler_info()["workers"]
    got = _contents(result)
    assert got.keys() == reference.keys()
    for key in reference:
        np.testing.assert_allclose(got[key], reference[key], rtol=1e-6, atol=1e-9, err_msg=key)


def test_tag_fatjets_attaches_the_processor_outputs(samples: dict[str, Path], open_nano: Any,
                                                     tmp_path: Path) -> None:
    events = open_nano(samples["top"])
    events.metadata["dataset"] = "top"
    selection = FatJetSelection(pt_min=300.0)
    qcd = tmp_path / "qcd.json"
    qcd.write_text(json.dumps({"qcd": [str(samples["qcd"])]}))
    ddt_map = make_ddt_map(load_fileset(qcd), str(MODEL), tmp_path / "ddt.json", score=None,
                           efficiency=0.2, opts=RunOptions(), min_jets=3, selection=selection)
    proc = LearnedJetTagProcessor([MODEL], selection, ddt_map=ddt_map, keep_jets=True)
    tagged = proc.tag_fatjets(events)
    assert ak.to_list(ak.num(tagged, axis=1)) == ak.to_list(ak.num(events.FatJet, axis=1))
    np.testing.assert_array_equal(ak.to_numpy(ak.flatten(tagged.pt)),
                                  ak.to_numpy(ak.flatten(events.FatJet.pt)))
    sel = ak.to_numpy(ak.flatten(selection.mask(events.FatJet)))
    assert 0 < sel.sum() < len(sel)
    jets = proc.process(events)["top"]["jets"][0]
    for key in (SCORE, f"{SCORE}_ddt", "jetclr_top_embedding"):
        values = ak.to_numpy(ak.flatten(tagged[key]))
        assert np.isnan(values[~sel]).all(), key
        np.testing.assert_allclose(values[sel], jets[key], rtol=1e-6, err_msg=key)
    width = proc.models["jetclr_top"].card.output("embedding").shape[0]
    assert ak.to_numpy(ak.flatten(tagged.jetclr_top_embedding)).shape == (len(sel), width)
    # the DDT score is the tagger score minus the map's threshold at the jet's (rho, pT)
    jet = ak.flatten(tagged)[sel]
    pt, msd = ak.to_numpy(jet.pt).astype(float), ak.to_numpy(jet.msoftdrop).astype(float)
    rho = jet_rho(msd, pt)
    ok = np.isfinite(rho)
    assert ok.sum() > 10
    threshold = ak.to_numpy(jet[SCORE] - jet[f"{SCORE}_ddt"])[ok]
    np.testing.assert_allclose(threshold, proc.ddts[SCORE].threshold(rho[ok], pt[ok]), atol=1e-6)
    assert 0 < (ak.to_numpy(jet[f"{SCORE}_ddt"])[ok] > 0).mean() < 1


def test_a_model_runs_on_its_own_selection_only(fileset: Path) -> None:
    from jetclr_coffea.processors.selection import parse_model_selection

    name, own = parse_model_selection("jetclr_top:msd_min=40,pt_min=400")
    assert name == "jetclr_top" and own.msd_min == 40.0 and own.pt_min == 400.0
    assert own.eta_max == float("inf")
    codec = Path(__file__).resolve().parents[1] / "onnx_models" / "codec_twoprong.onnx"
    proc = LearnedJetTagProcessor([MODEL, codec], FatJetSelection(pt_min=250.0), model_selections={name: own})
    out = run(load_fileset(fileset), proc, RunOptions()).datasets["qcd"]
    c = out.cutflow
    h = out.hists
    n_top = h[f"{SCORE}__score_msd_pt"].values().sum()
    n_codec = h["codec_twoprong_decorrelated_score__score_msd_pt"].values().sum()
    assert 0 < n_top < n_codec == c["scored"]  # the other model still sees every jet
    assert c["not_selected_jetclr_top"] == c["scored"] - n_top > 0
    # the same jets as a processor whose global selection is that cut
    cut = FatJetSelection(pt_min=400.0, msd_min=40.0)
    alone = run(load_fileset(fileset), LearnedJetTagProcessor([MODEL], cut),
                RunOptions()).datasets["qcd"].hists[f"{SCORE}__score_msd_pt"]
    np.testing.assert_allclose(h[f"{SCORE}__score_msd_pt"].values(), alone.values())
    for bad, match in (("nomodel", "expected NAME"), ("x:msd=4", "not one of"),
                       ("x:msd_min=a", "not a number")):
        with pytest.raises(JetCLRError, match=match):
            parse_model_selection(bad)
    with pytest.raises(JetCLRError, match="names 'other', not one of the models"):
        LearnedJetTagProcessor([MODEL], model_selections={"other": own})
