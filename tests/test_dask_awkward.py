"""The lazy constituent reader and the ONNX wrapper in coffea's dask-awkward mode."""

from __future__ import annotations

import importlib.util
import json
import warnings
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
import uproot
from jetclr_coffea.processors import FatJetSelection, LearnedJetTagProcessor
from jetclr_coffea.processors.run import RunOptions, load_fileset, run

from jetclr_coffea.errors import JetCLRError
from jetclr_coffea.inference import OnnxJetModel
from jetclr_coffea.lazy_reader import fatjet_constituents
from jetclr_coffea.onnx_io import read_card
from jetclr_coffea.onnx_wrapper import onnx_wrapper
from jetclr_coffea.reader import read_constituents

dak = pytest.importorskip("dask_awkward", reason="needs the [dask] extra")

MODEL = Path("onnx_models/jetclr_top.onnx")
SCORE = "tagger_score"


def _assert_same_constituents(lazy: ak.Array, eager: ak.Array) -> None:
    """lazy: events x jets x constituents; eager: jets x constituents (reader order)."""
    flat = ak.flatten(lazy, axis=1)
    assert ak.to_list(ak.num(flat, axis=1)) == ak.to_list(ak.num(eager, axis=1))
    for name in ("pt", "eta", "phi", "mass"):
        np.testing.assert_array_equal(ak.to_numpy(ak.flatten(flat[name])),
                                      ak.to_numpy(ak.flatten(eager[name])), err_msg=name)


@pytest.mark.parametrize("process", ["top", "qcd"])
def test_lazy_reader_matches_eager_reader(samples: dict[str, Path], process: str, open_nano: Any) -> None:
    raw = uproot.open(samples[process])["Events"].arrays()
    _assert_same_constituents(fatjet_constituents(raw), read_constituents(raw).constituents)
    for mode in ("eager", "virtual"):
        events = open_nano(samples[process], mode=mode)
        lazy = fatjet_constituents(events)
        assert ak.to_list(ak.num(lazy, axis=1)) == ak.to_list(ak.num(events.FatJet, axis=1))
        _assert_same_constituents(lazy, read_constituents(events).constituents)


def test_lazy_reader_sums_to_raw_jet(samples: dict[str, Path], open_nano: Any) -> None:
    """PUPPI-weighted constituents add up to the raw (uncorrected) fat-jet four-momentum."""
    events = open_nano(samples["top"], mode="eager")
    c = fatjet_constituents(events)
    px, py = ak.sum(c.pt * np.cos(c.phi), axis=2), ak.sum(c.pt * np.sin(c.phi), axis=2)
    total_pt = np.hypot(px, py)
    raw_pt = events.FatJet.pt * (1 - events.FatJet.rawFactor)
    has = ak.num(c, axis=2) > 0
    np.testing.assert_allclose(ak.to_numpy(ak.flatten(total_pt[has])),
                               ak.to_numpy(ak.flatten(raw_pt[has])), rtol=2e-3)


@pytest.mark.network
def test_lazy_reader_real_cms_files(real_files: dict[str, Path], open_nano: Any) -> None:
    import dask

    for name, schema in (("pfnano.root", "PFNanoAODSchema"), ("nano_tt_v15.root", "NanoAODSchema")):
        events = open_nano(real_files[name], schema, "virtual")
        jc = read_constituents(events)
        _assert_same_constituents(fatjet_constituents(events), jc.constituents)
        dask_events = open_nano(real_files[name], schema, "dask")
        lazy = fatjet_constituents(dask_events)
        assert isinstance(lazy, dak.Array)
        score = onnx_wrapper(str(MODEL), output=SCORE)(ak.flatten(lazy, axis=1),
                                                       ak.flatten(dask_events.FatJet, axis=1))
        constituents, score = dask.compute(lazy, score)
        _assert_same_constituents(constituents, jc.constituents)
        # scores for every jet with stored constituents, NaN for the others, as eagerly
        score = ak.to_numpy(score)
        assert np.isfinite(score[jc.has_constituents]).all()
        assert np.isnan(score[~jc.has_constituents]).all()
        np.testing.assert_allclose(score, OnnxJetModel(MODEL)(jc.constituents, jc.jets)[SCORE], atol=1e-6)


@pytest.mark.network
def test_lazy_reader_rntuple_virtual(real_files: dict[str, Path], open_nano: Any) -> None:
    """The RNTuple copy of pfnano.root through the awkward-only reader (virtual mode): the
    same constituents as the eager reader of the TTree."""
    lazy = fatjet_constituents(open_nano(real_files["pfnano_rntuple.root"], "PFNanoAODSchema", "virtual"))
    _assert_same_constituents(lazy, read_constituents(open_nano(real_files["pfnano.root"])).constituents)


@pytest.mark.network
@pytest.mark.xfail(raises=AttributeError, strict=True,
                   reason="uproot 5.7.7 cannot build dask forms of RNTuple fields ('RField' object has no "
                          "attribute 'title', uproot/models/RNTuple.py field_form); passes once uproot does")
def test_lazy_reader_rntuple_dask(real_files: dict[str, Path], open_nano: Any) -> None:
    import dask

    lazy = fatjet_constituents(open_nano(real_files["pfnano_rntuple.root"], "PFNanoAODSchema", "dask"))
    (constituents,) = dask.compute(lazy)
    eager = read_constituents(open_nano(real_files["pfnano.root"])).constituents
    _assert_same_constituents(constituents, eager)


def test_dask_reader_reads_only_what_it_needs(samples: dict[str, Path], open_nano: Any) -> None:
    events = open_nano(samples["top"], mode="dask", steps_per_file=3)
    lazy = fatjet_constituents(events)
    (columns,) = dak.necessary_columns(lazy).values()
    assert {"PFCands_pt", "PFCands_puppiWeight", "FatJetPFCands_jetIdx"} <= columns
    assert not any(c.startswith(("GenPart", "FatJet_tau", "PFCands_pdgId")) for c in columns)
    assert lazy.npartitions == 3
    eager = read_constituents(open_nano(samples["top"], mode="eager")).constituents
    _assert_same_constituents(lazy.compute(), eager)


def test_dask_reader_without_pf_candidates(no_pf_candidates: Path, open_nano: Any) -> None:
    with pytest.raises(JetCLRError, match="PFCands_pt"):
        fatjet_constituents(open_nano(no_pf_candidates, mode="dask"))


@pytest.mark.parametrize("output", ["tagger_score", "embedding"])
def test_onnx_wrapper_dask_matches_eager(samples: dict[str, Path], output: str, open_nano: Any) -> None:
    events = open_nano(samples["top"], mode="dask", steps_per_file=3)
    sel = FatJetSelection(pt_min=250.0).mask(events.FatJet)
    cands = ak.flatten(fatjet_constituents(events)[sel], axis=1)
    lazy = onnx_wrapper(str(MODEL), output=output)(cands, ak.flatten(events.FatJet[sel], axis=1))
    assert isinstance(lazy, dak.Array)
    got = ak.to_numpy(lazy.compute())
    eager = open_nano(samples["top"], mode="eager")
    jc = read_constituents(eager, FatJetSelection(pt_min=250.0).mask(eager.FatJet))
    want = OnnxJetModel(MODEL)(jc.constituents, jc.jets)[output]
    assert got.shape == want.shape
    assert len(got) > 100
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=1e-6)


def test_onnx_wrapper_odd_inputs() -> None:
    plain = Path("onnx_models/darkclr_qcd.onnx")  # a transformer that reads the constituents alone
    wrapper = onnx_wrapper(str(plain), output="embedding")
    empty = ak.Array([[], [{"pt": 50.0, "eta": 0.1, "phi": 0.2, "mass": 0.0}],
                      [{"pt": np.nan, "eta": 0.0, "phi": 0.0, "mass": 0.0},
                       {"pt": 30.0, "eta": 0.3, "phi": 0.1, "mass": 0.1}]])
    out = ak.to_numpy(wrapper(empty))
    width = read_card(plain).output("embedding").shape[0]
    assert out.shape == (3, width)
    assert np.isnan(out[0]).all()
    assert np.isfinite(out[1:]).all()
    # the NaN constituent is dropped: the third jet is the single 30 GeV constituent, and a
    # one-constituent jet's angular features are zero after centring, whatever its position
    np.testing.assert_allclose(out[2], out[1], atol=1e-5)
    none = ak.Array([[{"pt": 1.0, "eta": 0.0, "phi": 0.0, "mass": 0.0}]])[:0]
    assert ak.to_numpy(wrapper(none)).shape == (0, width)
    with pytest.raises(JetCLRError, match="flatten events x jets"):
        wrapper(ak.Array([[[{"pt": 1.0, "eta": 0.0, "phi": 0.0, "mass": 0.0}]]]))
    with pytest.raises(JetCLRError, match=r"no field\(s\) \['mass'\]"):
        wrapper(ak.Array([[{"pt": 1.0, "eta": 0.0, "phi": 0.0}]]))
    with pytest.raises(JetCLRError, match="no output 'anomaly_score'"):
        onnx_wrapper(str(MODEL), output="anomaly_score")
    with pytest.raises(JetCLRError, match="call it with \\(constituents, fatjets\\)"):
        onnx_wrapper(str(MODEL), output="tagger_score")(empty)  # the top tagger needs the jets


def _example() -> Any:
    """examples/dask_awkward_analysis.py as a module (the test runs the analyst's code)."""
    path = Path(__file__).resolve().parents[1] / "examples" / "dask_awkward_analysis.py"
    spec = importlib.util.spec_from_file_location("dask_awkward_analysis", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_apply_to_fileset_matches_runner(samples: dict[str, Path], tmp_path: Path) -> None:
    """The dask-awkward analysis, run on a 2-process LocalCluster, fills the same
    histogram as the Runner's processor."""
    import dask
    from coffea.dataset_tools import apply_to_fileset
    from coffea.nanoevents import PFNanoAODSchema
    from distributed import Client, LocalCluster

    files = {"qcd": samples["qcd"], "top": samples["top"]}
    fileset = {ds: {"files": {str(p): "Events"}} for ds, p in files.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        tag = _example().tag_fatjets
        graphs = apply_to_fileset(lambda ev: tag(ev, str(MODEL.resolve())), fileset,
                                  schemaclass=PFNanoAODSchema)
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster):
            (computed,) = dask.compute(graphs)  # on the 2 worker processes
    fs_json = tmp_path / "fs.json"
    fs_json.write_text(json.dumps({ds: [str(p)] for ds, p in files.items()}))
    reference = run(load_fileset(fs_json), LearnedJetTagProcessor([MODEL], FatJetSelection(pt_min=300.0)),
                    RunOptions(chunksize=40)).datasets
    for ds in files:
        want = reference[ds].hists[f"jetclr_top_{SCORE}__score_msd_pt"].project("score", "msd")
        got = computed[ds]["hist"]
        assert got.sum().value == pytest.approx(reference[ds].cutflow["scored"])
        np.testing.assert_allclose(got.values(), want.values(), atol=1e-9)


def test_onnx_wrapper_passes_the_jet_features(samples: dict[str, Path], open_nano: Any) -> None:
    """A model with jet features (the shipped decorrelated tagger) takes the fat jets as a
    second argument, eagerly and in dask mode, and gives the processor's numbers."""
    model = Path("onnx_models/codec_twoprong.onnx")
    events = open_nano(samples["wprime-flat"], mode="dask", steps_per_file=2)
    sel = FatJetSelection(pt_min=250.0).mask(events.FatJet)
    cands = ak.flatten(fatjet_constituents(events)[sel], axis=1)
    fatjets = ak.flatten(events.FatJet[sel], axis=1)
    wrapper = onnx_wrapper(str(model), output="decorrelated_score")
    got = ak.to_numpy(wrapper(cands, fatjets).compute())
    eager = open_nano(samples["wprime-flat"], mode="eager")
    jc = read_constituents(eager, FatJetSelection(pt_min=250.0).mask(eager.FatJet))
    want = OnnxJetModel(model)(jc.constituents, jc.jets)["decorrelated_score"]
    assert len(got) == len(want) > 50
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=1e-6)
    eager_sel = FatJetSelection(pt_min=250.0).mask(eager.FatJet)
    eager_cands = ak.flatten(fatjet_constituents(eager)[eager_sel], axis=1)
    with pytest.raises(JetCLRError, match=r"call it with \(constituents, fatjets\)"):
        wrapper(eager_cands)


def test_ddt_score_in_dask_mode_equals_the_processors(samples: dict[str, Path], open_nano: Any,
                                                      tmp_path: Path) -> None:
    """DDTMap.ddt_score on dask-awkward FatJet fields gives the processor's <score>_ddt."""
    from jetclr_coffea.processors.ddt import DDTMap
    from jetclr_coffea.processors.run import make_ddt_map

    fs = tmp_path / "qcd.json"
    fs.write_text(json.dumps({"qcd": [str(samples["qcd"])]}))
    ddt = DDTMap(make_ddt_map(load_fileset(fs), str(MODEL), tmp_path / "m.json", score=None,
                              efficiency=0.2, opts=RunOptions(), selection=FatJetSelection(pt_min=300.0)))
    events = open_nano(samples["qcd"], mode="dask", steps_per_file=2)
    sel = FatJetSelection(pt_min=300.0).mask(events.FatJet)
    cands = ak.flatten(fatjet_constituents(events)[sel], axis=1)
    jets = ak.flatten(events.FatJet[sel], axis=1)
    score = onnx_wrapper(str(MODEL), output=SCORE)(cands, jets)
    got = ak.to_numpy(ddt.ddt_score(score, jets.msoftdrop, jets.pt).compute())
    eager = open_nano(samples["qcd"], mode="eager")
    proc = LearnedJetTagProcessor([MODEL], FatJetSelection(pt_min=300.0), ddt.path)
    tagged = proc.tag_fatjets(eager)
    in_sel = FatJetSelection(pt_min=300.0).mask(tagged)
    want = ak.to_numpy(ak.flatten(tagged[f"jetclr_top_{SCORE}_ddt"][in_sel]))
    assert len(got) == len(want) > 50
    np.testing.assert_allclose(got, want, atol=1e-5, equal_nan=True)


def test_onnx_wrapper_several_outputs_from_one_inference(samples: dict[str, Path], open_nano: Any,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """``output=(a, b)`` returns both, equal to one output at a time, from one model call,
    eagerly and in dask mode; a repeated or empty list is refused."""
    eager = open_nano(samples["top"], mode="eager")
    sel = FatJetSelection(pt_min=250.0).mask(eager.FatJet)
    cands, jets = ak.flatten(fatjet_constituents(eager)[sel], axis=1), ak.flatten(eager.FatJet[sel], axis=1)
    names = ("tagger_score", "embedding")
    calls = {"n": 0}
    real_call = OnnxJetModel.__call__

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        return real_call(self, *args, **kwargs)

    both = onnx_wrapper(str(MODEL), output=names)
    monkeypatch.setattr(OnnxJetModel, "__call__", counting)
    got = both(cands, jets)
    assert calls["n"] == 1 and set(got) == set(names)
    for name in names:
        alone = onnx_wrapper(str(MODEL), output=name)(cands, jets)
        np.testing.assert_array_equal(ak.to_numpy(got[name]), ak.to_numpy(alone))
    events = open_nano(samples["top"], mode="dask", steps_per_file=2)
    dsel = FatJetSelection(pt_min=250.0).mask(events.FatJet)
    lazy = onnx_wrapper(str(MODEL), output=names)(ak.flatten(fatjet_constituents(events)[dsel], axis=1),
                                                  ak.flatten(events.FatJet[dsel], axis=1))
    assert set(lazy) == set(names) and all(isinstance(v, dak.Array) for v in lazy.values())
    for name in names:
        np.testing.assert_allclose(ak.to_numpy(lazy[name].compute()), ak.to_numpy(got[name]), atol=1e-6)
    for bad in ((), ("embedding", "embedding")):
        with pytest.raises(JetCLRError, match="give each output once"):
            onnx_wrapper(str(MODEL), output=bad)
