"""NanoAOD friend trees (processors/friend.py, ``run --friend``): aligned with their inputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
from jetclr_coffea.processors import FatJetSelection, LearnedJetTagProcessor
from jetclr_coffea.processors.run import RunOptions, load_fileset, run, write_friend_trees

from jetclr_coffea.cli import main
from jetclr_coffea.errors import JetCLRError

SHIPPED = Path(__file__).resolve().parents[1] / "onnx_models"
MODELS = [SHIPPED / "jetclr_top.onnx", SHIPPED / "codec_twoprong.onnx"]


def _friends(fileset: dict[str, object], folder: Path, opts: RunOptions, models: list[Path] = MODELS
             ) -> dict[str, ak.Array]:
    proc = LearnedJetTagProcessor(models, FatJetSelection(pt_min=450.0), friend=True)
    written = write_friend_trees(run(fileset, proc, opts), fileset, folder)  # type: ignore[arg-type]
    out = {}
    for path in written:
        with uproot.open(path) as f:
            out[path.name] = f["Friends"].arrays()
    return out


def _check_aligned(friend: ak.Array, source: Path, pt_min: float) -> None:
    with uproot.open(source) as f:
        events = f["Events"].arrays(["nFatJet", "FatJet_pt", "event"])
    assert len(friend) == len(events)
    assert ak.all(friend["nFatJet"] == events["nFatJet"]) and ak.all(friend["event"] == events["event"])
    score = ak.flatten(friend["FatJet_jetclr_top_tagger_score"]).to_numpy()
    pt = ak.flatten(events["FatJet_pt"]).to_numpy()
    assert np.all(np.isnan(score[pt <= pt_min]))  # outside the selection: NaN
    assert np.isfinite(score[pt > pt_min]).mean() > 0.9 and ((score >= 0) & (score <= 1))[pt > pt_min].all()
    emb = np.stack([ak.flatten(friend[f"FatJet_jetclr_top_embedding_{k}"]).to_numpy() for k in range(512)], 1)
    assert np.array_equal(np.isnan(emb[:, 0]), np.isnan(score))


def test_friend_trees_agree_for_every_executor(fileset: Path, samples: dict[str, Path],
                                               tmp_path: Path) -> None:
    fs = load_fileset(fileset)
    ref = _friends(fs, tmp_path / "it", RunOptions(chunksize=37))
    assert sorted(ref) == ["qcd_friend.root", "top_friend.root"]
    for name, source in (("qcd_friend.root", samples["qcd"]), ("top_friend.root", samples["top"])):
        _check_aligned(ref[name], source, 450.0)
    # the same numbers as tag_fatjets, the API for analysts' own processors
    from coffea.nanoevents import NanoEventsFactory
    from jetclr_coffea.processors.schema import QuietPFNanoAODSchema

    events = NanoEventsFactory.from_root({str(samples["top"]): "Events"},
                                         schemaclass=QuietPFNanoAODSchema, mode="eager").events()
    tagged = LearnedJetTagProcessor(MODELS, FatJetSelection(pt_min=450.0)).tag_fatjets(events)
    friend_score = ak.flatten(ref["top_friend.root"]["FatJet_codec_twoprong_decorrelated_score"]).to_numpy()
    np.testing.assert_allclose(friend_score, ak.flatten(tagged.codec_twoprong_decorrelated_score).to_numpy(),
                               rtol=1e-5, equal_nan=True)
    for k, opts in enumerate((RunOptions(executor="futures", workers=2, chunksize=50),
                              RunOptions(executor="dask", workers=2, chunksize=23))):
        got = _friends(fs, tmp_path / f"x{k}", opts)
        for name in ref:
            for field in ref[name].fields:
                a, b = (ak.to_numpy(ak.flatten(x[name][field], axis=None)) for x in (got, ref))
                np.testing.assert_allclose(a, b, rtol=1e-5, equal_nan=True,
                                           err_msg=f"{opts.executor} {field}")


@pytest.mark.slow
def test_friend_trees_of_real_cms_files(real_files: dict[str, Path], tmp_path: Path) -> None:
    fs = tmp_path / "fs.json"
    fs.write_text(json.dumps({"tt": [str(real_files["nano_tt_v15.root"])],
                              "pf": [str(real_files["pfnano.root"])]}))
    friends = _friends(load_fileset(fs), tmp_path / "fr", RunOptions(chunksize=120), MODELS[:1])  # 2 chunks
    _check_aligned(friends["nano_tt_v15_friend.root"], real_files["nano_tt_v15.root"], 450.0)
    _check_aligned(friends["pfnano_friend.root"], real_files["pfnano.root"], 450.0)


def test_friend_refusals(samples: dict[str, Path], tmp_path: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    from jetclr_coffea.processors.friend import check_friend_names

    (tmp_path / "b").mkdir()
    twin = tmp_path / "b" / "qcd.root"
    shutil.copy(samples["qcd"], twin)
    fs = tmp_path / "fs.json"
    fs.write_text(json.dumps({"a": [str(samples["qcd"])], "b": [str(twin)]}))
    base = ["run", str(fs), "--model", str(MODELS[0]), "-o", str(tmp_path / "out")]
    assert main([*base, "--friend", str(tmp_path / "fr")]) == 2
    assert "would both have the friend" in capsys.readouterr().err
    one = tmp_path / "one.json"
    one.write_text(json.dumps({"a": [str(samples["qcd"])]}))
    base[1] = str(one)
    assert main([*base, "--friend", str(tmp_path / "fr"), "--maxchunks", "1"]) == 2
    assert "drop --maxchunks" in capsys.readouterr().err
    assert main([*base, "--friend", str(one)]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    named = tmp_path / "x_friend.root"
    shutil.copy(samples["qcd"], named)
    with pytest.raises(JetCLRError, match="overwrite the input"):
        check_friend_names({"a": {"files": [str(tmp_path / "x.root"), str(named)]}}, tmp_path)
