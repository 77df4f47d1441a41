"""No silent losses, no silent wrong results (issue #10's list), each checked."""

from __future__ import annotations

import importlib
import json
import pickle
import shutil
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
import uproot
from jetclr_coffea.processors import FatJetSelection, LearnedJetTagProcessor, hist_name, jet_rho
from jetclr_coffea.processors.run import RunOptions, load_fileset, make_ddt_map, run, write_outputs

from jetclr_coffea.cli import main
from jetclr_coffea.errors import JetCLRError

MODEL = Path(__file__).resolve().parents[1] / "onnx_models" / "jetclr_top.onnx"
SCORE = "jetclr_top_tagger_score"


@pytest.fixture
def two_datasets(samples: dict[str, Path], tmp_path: Path) -> Path:
    fs = tmp_path / "fs.json"
    fs.write_text(json.dumps({"_signal": [str(samples["top"])], "qcd": [str(samples["qcd"])]}))
    return fs


def test_dataset_names_starting_with_underscore_are_kept(two_datasets: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["run", str(two_datasets), "--model", str(MODEL), "-o", str(out)]) == 0
    hists = pickle.loads((out / "hists.pkl").read_bytes())["hists"]
    assert set(hists) == {"_signal", "qcd"}
    with uproot.open(out / "hists.root") as f:
        assert f"_signal/{hist_name(SCORE, 'score_msd_pt')}" in f
    summary = json.loads((out / "cutflow.json").read_text())
    assert set(summary["datasets"]) == {"_signal", "qcd"}
    assert summary["datasets"]["_signal"]["cutflow"]["scored"] > 0
    # ddt-map sums every dataset, "_signal" included
    fs = load_fileset(two_datasets)
    both = json.loads(make_ddt_map(fs, str(MODEL), tmp_path / "both.json", score=None, efficiency=0.05,
                                   opts=RunOptions()).read_text())
    assert both["jetclr_coffea"]["datasets"] == ["_signal", "qcd"]


def test_two_models_of_one_name_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for d in ("a", "b"):
        shutil.copy(MODEL, tmp_path / d / "jetclr_top.onnx")
    with pytest.raises(JetCLRError, match=r"two models named 'jetclr_top'.*a/jetclr_top\.onnx and .*b/"):
        LearnedJetTagProcessor([tmp_path / "a" / "jetclr_top.onnx", tmp_path / "b" / "jetclr_top.onnx"])


def test_ddt_map_is_tied_to_its_model(samples: dict[str, Path], tmp_path: Path) -> None:
    pytest.importorskip("onnx", reason="needs the [train] extra")
    import onnx

    from jetclr_coffea.onnx_io import load_onnx, read_card, write_card

    fs = tmp_path / "qcd.json"
    fs.write_text(json.dumps({"qcd": [str(samples["qcd"])]}))
    ddt = make_ddt_map(load_fileset(fs), str(MODEL), tmp_path / "ddt.json", score=None, efficiency=0.05,
                       opts=RunOptions())
    recorded = json.loads(ddt.read_text())["jetclr_coffea"]
    assert recorded["selection"]["pt_min"] == 200.0 and recorded["model"] == "jetclr_top"
    LearnedJetTagProcessor([MODEL], FatJetSelection(), ddt)  # its own model: accepted
    other = tmp_path / "other" / "jetclr_top.onnx"  # same name, another model (other card)
    other.parent.mkdir()
    model = load_onnx(MODEL)
    write_card(model, read_card(MODEL).with_output(read_card(MODEL).output("tagger_score"),
                                                  metrics={"changed": True}))
    onnx.save(model, str(other))
    with pytest.raises(JetCLRError, match=r"built for another model file than .*other/jetclr_top.onnx"):
        LearnedJetTagProcessor([other], FatJetSelection(), ddt)
    with pytest.warns(UserWarning, match="another fat-jet selection .*pt_min 200.0 -> 300.0"):
        LearnedJetTagProcessor([MODEL], FatJetSelection(pt_min=300.0), ddt)


def test_absurd_constituents_are_set_aside_and_counted(samples: dict[str, Path], tmp_path: Path,
                                                       rewrite: Any, open_nano: Any) -> None:
    def corrupt(data: dict[str, Any]) -> None:
        eta = ak.to_numpy(ak.flatten(data["PFCands"].eta)).copy()
        eta[::50] = 1e30  # a few constituents of a few jets
        data["PFCands"] = ak.with_field(data["PFCands"], ak.unflatten(eta, ak.num(data["PFCands"])), "eta")

    bad = rewrite(samples["top"], tmp_path / "bad.root", corrupt)
    proc = LearnedJetTagProcessor([MODEL], FatJetSelection(pt_min=250.0))
    clean = proc.process(open_nano(samples["top"]))["unknown"]["cutflow"]
    events = open_nano(bad)
    out = proc.process(events)["unknown"]
    c = out["cutflow"]
    assert c["bad_constituents"] > 0 and clean["bad_constituents"] == 0
    assert c["scored"] + c["bad_constituents"] + c["no_constituents"] == c["selected"] == clean["selected"]
    assert out["hists"][hist_name(SCORE, "score_msd_pt")].sum(flow=True).value == pytest.approx(c["scored"])
    tagged = proc.tag_fatjets(events)
    scores = ak.to_numpy(ak.flatten(tagged[SCORE]))
    finite = scores[np.isfinite(scores)]
    assert len(finite) == c["scored"]
    # no plateau of one identical output (the embedding: the sigmoid score may saturate at 0 or 1)
    embedding = ak.to_numpy(ak.flatten(tagged["jetclr_top_embedding"]))[np.isfinite(scores)]
    assert len(np.unique(embedding, axis=0)) == len(finite)


def test_msd_nonpositive_jets_are_counted_and_take_the_lowest_rho_bin(samples: dict[str, Path],
                                                                      tmp_path: Path, rewrite: Any,
                                                                      open_nano: Any) -> None:
    def zero_mass(data: dict[str, Any]) -> None:
        msd = ak.to_numpy(ak.flatten(data["FatJet"].msoftdrop)).copy()
        msd[::3] = np.where(np.arange(len(msd[::3])) % 2 == 0, 0.0, -1.4e-5)
        data["FatJet"] = ak.with_field(data["FatJet"], ak.unflatten(msd, ak.num(data["FatJet"])), "msoftdrop")

    path = rewrite(samples["qcd"], tmp_path / "msd0.root", zero_mass)
    assert np.isneginf(jet_rho(np.array([0.0, -1.4e-5]), np.array([300.0, 300.0]))).all()
    fs = tmp_path / "qcd.json"
    fs.write_text(json.dumps({"qcd": [str(samples["qcd"])]}))
    ddt = make_ddt_map(load_fileset(fs), str(MODEL), tmp_path / "ddt.json", score=None, efficiency=0.05,
                       opts=RunOptions())
    proc = LearnedJetTagProcessor([MODEL], FatJetSelection(), ddt)
    out = proc.process(open_nano(path))["unknown"]
    c = out["cutflow"]
    assert c["msd_nonpositive"] > 0
    # every scored jet, msd <= 0 included, passes or fails the DDT cut
    assert out["hists"][hist_name(SCORE, "ddt_msd_pt")].sum(flow=True).value == pytest.approx(c["scored"])
    jets = proc.tag_fatjets(open_nano(path))
    ddt_score = ak.to_numpy(ak.flatten(jets[f"{SCORE}_ddt"]))
    msd = ak.to_numpy(ak.flatten(jets.msoftdrop))
    scored = np.isfinite(ak.to_numpy(ak.flatten(jets[SCORE])))
    assert np.isfinite(ddt_score[scored & (msd <= 0)]).all()


def test_epochs_zero_is_a_config_error(samples: dict[str, Path], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"name: x\noutput: {tmp_path / 'run'}\ndata: {{files: [{samples['qcd']}]}}\n"
                   "optim: {epochs: 0}\n")
    assert main(["train", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "epochs must be at least 1, got 0" in err and not (tmp_path / "run").exists()


def test_an_output_folder_holds_one_run(fileset: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    assert main(["run", str(fileset), "--model", str(MODEL), "-o", str(out), "--skim"]) == 0
    assert (out / "skim.root").is_file()
    assert main(["run", str(fileset), "--model", str(MODEL), "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["cutflow.json", "hists.pkl", "hists.root"]
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    # an interrupt in the middle of writing the next run leaves the previous one whole
    run_module = importlib.import_module("jetclr_coffea.processors.run")
    calls = {"n": 0}
    real = run_module.to_root_writable

    def interrupted(*args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(run_module, "to_root_writable", interrupted)
    assert main(["run", str(fileset), "--model", str(MODEL), "-o", str(out), "--skim"]) == 130
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging folder left


def test_output_folder_with_other_files_is_refused_before_any_chunk(
        fileset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    run_module = importlib.import_module("jetclr_coffea.processors.run")

    def no_run(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("processed before the output was checked")

    monkeypatch.setattr(run_module, "run", no_run)
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("precious")
    assert main(["run", str(fileset), "--model", str(MODEL), "-o", str(home)]) == 2
    assert "holds files that are not a run's outputs (thesis.tex)" in capsys.readouterr().err
    assert (home / "thesis.tex").read_text() == "precious"
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["run", str(fileset), "--model", str(MODEL), "-o", str(afile)]) == 2
    assert main(["ddt-map", str(fileset), "--model", str(MODEL), "-o", str(tmp_path / "no" / "m.json")]) == 2
    assert main(["ddt-map", str(fileset), "--model", str(MODEL), "-o", str(tmp_path / "m.json"),
                 "--qcd-efficiency", "2"]) == 2
    errs = capsys.readouterr().err.splitlines()
    assert "exists and is not a folder" in errs[0] and "does not exist" in errs[1]
    assert "--qcd-efficiency must be between 0 and 1, got 2.0" in errs[2]


def test_skipped_files_are_listed(samples: dict[str, Path], tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "truncated.root"
    bad.write_bytes(samples["qcd"].read_bytes()[:5000])
    fs = tmp_path / "fs.json"
    fs.write_text(json.dumps({"qcd": [str(samples["qcd"]), str(bad)]}))
    out = tmp_path / "out"
    assert main(["run", str(fs), "--model", str(MODEL), "-o", str(out), "--skipbadfiles"]) == 0
    printed = capsys.readouterr().out
    assert f"skipped {bad} (qcd): cannot read the file" in printed
    skipped = json.loads((out / "cutflow.json").read_text())["skipped_files"]
    assert [s["file"] for s in skipped] == [str(bad)] and skipped[0]["reason"].startswith("cannot read")


def test_root_output_speaks_root(fileset: Path, tmp_path: Path, samples: dict[str, Path]) -> None:
    qcd = tmp_path / "qcd.json"
    qcd.write_text(json.dumps({"qcd": [str(samples["qcd"])]}))
    ddt = make_ddt_map(load_fileset(qcd), str(MODEL), tmp_path / "ddt.json", score=None, efficiency=0.05,
                       opts=RunOptions())
    result = run(load_fileset(fileset), LearnedJetTagProcessor([MODEL], FatJetSelection(), ddt), RunOptions())
    write_outputs(result, tmp_path / "out")
    with uproot.open(tmp_path / "out" / "hists.root") as f:
        h = f[f"qcd/{hist_name(SCORE, 'ddt_msd_pt')}"]
        assert h.member("fTitle") == f"qcd: {hist_name(SCORE, 'ddt_msd_pt')}"
        assert [str(x) for x in h.member("fXaxis").member("fLabels")] == ["fail", "pass"]
        assert h.member("fYaxis").member("fTitle") == "m_{SD} [GeV]"
        rho = f[f"qcd/{hist_name(SCORE, 'rho_pt_score')}"]
        assert rho.member("fXaxis").member("fTitle").startswith("#rho")
        assert "$" not in rho.member("fYaxis").member("fTitle")
        # same contents as the hist object
        want = result.datasets["qcd"].hists[hist_name(SCORE, "ddt_msd_pt")].values()
        np.testing.assert_allclose(h.values(), want)


def test_onnx_wrapper_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = "import sys, jetclr_coffea.onnx_wrapper; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_file_listed_twice_is_refused(tmp_path: Path, samples: dict[str, Path]) -> None:
    qcd = str(samples["qcd"])
    for entries, match in (({"qcd": [qcd, qcd]}, "lists .* twice"),
                           ({"a": [qcd], "b": {"files": [qcd]}}, "listed in datasets 'a' and 'b'")):
        fs = tmp_path / "fs.json"
        fs.write_text(json.dumps(entries))
        with pytest.raises(JetCLRError, match=match):
            load_fileset(fs)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"pt_min": "300"}, "pt_min must be a number"), ({"msd_min": float("nan")}, "msd_min must be a number"),
    ({"pt_min": 500.0, "pt_max": 400.0}, "pt_min < pt_max"), ({"eta_max": 0.0}, "eta_max must be positive"),
    ({"msd_min": float("inf")}, "msd_min must be finite"), ({"require_jet_id": 1}, "True or False"),
])
def test_fatjet_selection_checks_its_values(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(JetCLRError, match=match):
        FatJetSelection(**kwargs)


def test_processor_arguments_checked_at_construction(capsys: pytest.CaptureFixture[str]) -> None:
    assert list(LearnedJetTagProcessor(MODEL).models) == ["jetclr_top"]  # one path, not a list
    with pytest.raises(JetCLRError, match="selection must be a FatJetSelection, got NoneType"):
        LearnedJetTagProcessor([MODEL], None)  # type: ignore[arg-type]
    with pytest.raises(JetCLRError, match="selection must be a FatJetSelection, got dict"):
        LearnedJetTagProcessor([MODEL], {"pt_min": 300})  # type: ignore[arg-type]
    with pytest.raises(JetCLRError, match=r"batch_size must be a positive whole number, got 2\.5"):
        LearnedJetTagProcessor([MODEL], batch_size=2.5)  # type: ignore[arg-type]
    assert main(["run", "fs.json", "--model", str(MODEL), "--msd-min", "nan", "-o", "out"]) == 2
    assert "--msd-min must be a number, got nan" in capsys.readouterr().err


def test_an_empty_file_adds_no_jets_to_evaluate(tmp_path: Path, samples: dict[str, Path]) -> None:
    from jetclr_coffea.training.evaluate import evaluate

    empty = tmp_path / "empty.root"
    with uproot.recreate(empty) as f:
        f.mktree("Events", {"run": np.int32})
    both = evaluate(MODEL, [str(empty), str(samples["top"])], [str(samples["qcd"])], tmp_path / "a").metrics
    alone = evaluate(MODEL, [str(samples["top"])], [str(samples["qcd"])], tmp_path / "b").metrics
    assert both["n_signal"] == alone["n_signal"] and both["lct"]["auc"] == alone["lct"]["auc"]
    with pytest.raises(JetCLRError, match="no fat jet with"):
        evaluate(MODEL, [str(empty)], [str(samples["qcd"])], tmp_path / "c")


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_an_unwritable_output_folder_is_refused_before_any_work(tmp_path: Path) -> None:
    """/proc passes os.access for root but takes no file: refused up front in one line."""
    from jetclr_coffea.processors.run import check_output_dir

    from jetclr_coffea._io import check_writable

    with pytest.raises(JetCLRError, match=r"cannot write /proc/out: folder /proc is not writable"):
        check_output_dir("/proc/out")
    with pytest.raises(JetCLRError, match=r"cannot write /proc/m.json: folder /proc is not writable"):
        check_writable("/proc/m.json")
    assert check_writable(tmp_path / "ok.json") == tmp_path / "ok.json"
    assert list(tmp_path.iterdir()) == []  # the probe leaves nothing behind


def _zero_entries(source: Path, path: Path) -> Path:
    """``source``'s Events branches (PF candidates, links, fat jets, truth) with 0 entries."""
    arrays = uproot.open(source)["Events"].arrays()[:0]
    collections: dict[str, dict[str, Any]] = {}
    data: dict[str, Any] = {}
    for name in arrays.fields:
        if name.startswith("n"):
            continue  # counters: uproot writes them for the collections
        if "_" in name:
            coll, field = name.split("_", 1)
            collections.setdefault(coll, {})[field] = arrays[name]
        else:
            data[name] = arrays[name]
    data.update({coll: ak.zip(fields) for coll, fields in collections.items()})
    with uproot.recreate(path) as f:
        tree = f.mktree("Events", {k: v.type for k, v in data.items()},
                        field_name=lambda o, i: f"{o}_{i}", counter_name=lambda c: f"n{c}")
        tree.extend(data)
    return path


def test_a_zero_entry_pfnano_file(tmp_path: Path, samples: dict[str, Path],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Every PFNano branch and no entry: inspect summarises it, run gives it a 0-entry friend
    with the same branches as its neighbour's, evaluate and ot-medoids say in one line."""
    empty = _zero_entries(samples["qcd"], tmp_path / "empty.root")
    assert "PFCands" in " ".join(uproot.open(empty)["Events"].keys())
    assert main(["inspect", str(empty)]) == 0
    assert "fat jets:                  0" in capsys.readouterr().out
    fs = tmp_path / "fs.json"
    fs.write_text(json.dumps({"e": [str(empty)], "q": [str(samples["qcd"])]}))
    assert main(["run", str(fs), "--model", str(MODEL), "-o", str(tmp_path / "o"),
                 "--friend", str(tmp_path / "fr")]) == 0
    friends = {p: uproot.open(tmp_path / "fr" / f"{p}_friend.root")["Friends"] for p in ("empty", "qcd")}
    assert friends["empty"].num_entries == 0 and friends["qcd"].num_entries == 100
    assert friends["empty"].keys() == friends["qcd"].keys()
    capsys.readouterr()
    assert main(["ot-medoids", str(empty), "--k", "2", "-o", str(tmp_path / "ot.onnx")]) == 2
    assert main(["evaluate", str(MODEL), "--signal", str(empty), "--background", str(samples["qcd"]),
                 "--output-dir", str(tmp_path / "ev")]) == 2
    errors = [e for e in capsys.readouterr().err.splitlines() if "error" in e]  # (evaluate's progress too)
    assert len(errors) == 2 and all("no fat jet with" in e and str(empty) in e for e in errors)
