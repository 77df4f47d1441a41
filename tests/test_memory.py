"""Memory per chunk: a budget per worker, the chunk size chosen from it, sliced column reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
from jetclr_coffea.processors import FatJetSelection, LearnedJetTagProcessor, RunOptions, load_fileset, run
from jetclr_coffea.processors.memory import (
    BASE_BYTES,
    CHUNK_STEP,
    Density,
    bytes_per_event,
    choose_chunksize,
    file_density,
    parse_size,
)

from jetclr_coffea.cli import main
from jetclr_coffea.errors import JetCLRError, ParameterError

MODEL = Path(__file__).resolve().parents[1] / "onnx_models" / "jetclr_top.onnx"
PFNANO = Density(candidates=1820.0, links=108.0, fatjets=2.4)  # coffea's real pfnano.root


def test_parse_size() -> None:
    assert parse_size("2GB") == 2_000_000_000 and parse_size("500 MB") == 500_000_000
    assert parse_size("1GiB") == 2**30 and parse_size("3e9") == 3_000_000_000
    for bad in ("lots", "-1GB", "0"):
        with pytest.raises(JetCLRError, match="memory_budget"):
            parse_size(bad)


def test_chunk_size_fits_the_budget_and_scales_with_density() -> None:
    sparse = Density(candidates=120.0, links=110.0, fatjets=2.0)
    dense_chunk = choose_chunksize({"real.root": PFNANO}, 2_000_000_000, 40)
    sparse_chunk = choose_chunksize({"ours.root": sparse}, 2_000_000_000, 40)
    assert dense_chunk % CHUNK_STEP == 0 and sparse_chunk > dense_chunk >= CHUNK_STEP
    assert BASE_BYTES + dense_chunk * bytes_per_event(PFNANO, 40) <= 2_000_000_000
    # the densest file decides
    assert choose_chunksize({"ours.root": sparse, "real.root": PFNANO}, 2_000_000_000, 40) == dense_chunk
    # twice the budget above the base: about twice the chunk
    double = choose_chunksize({"real.root": PFNANO}, 2 * 2_000_000_000 - BASE_BYTES, 40)
    assert abs(double - 2 * dense_chunk) <= 2 * CHUNK_STEP
    with pytest.raises(JetCLRError, match="memory_budget must exceed"):
        choose_chunksize({"real.root": PFNANO}, 100_000_000, 40)
    # a given chunk size is checked, not changed
    assert choose_chunksize({"real.root": PFNANO}, 2_000_000_000, 40, chunksize=5000) == 5000
    with pytest.raises(JetCLRError, match=r"chunks of 1000000 events need about .* at most \d+"):
        choose_chunksize({"real.root": PFNANO}, 2_000_000_000, 40, chunksize=1_000_000)


def test_each_model_after_the_first_takes_its_share_of_the_budget() -> None:
    """Six models (the shipped set) leave five MODEL_BYTES less for chunks than one does."""
    from jetclr_coffea.processors.memory import MODEL_BYTES

    one = choose_chunksize({"real.root": PFNANO}, 2_000_000_000, 40)
    six = choose_chunksize({"real.root": PFNANO}, 2_000_000_000, 40, n_models=6)
    per_event = bytes_per_event(PFNANO, 40)
    assert six < one and abs((one - six) * per_event - 5 * MODEL_BYTES) < 2 * CHUNK_STEP * per_event
    with pytest.raises(ParameterError, match="with 6 models before its first chunk"):
        choose_chunksize({"real.root": PFNANO}, BASE_BYTES + 5 * MODEL_BYTES, 40, n_models=6)


def test_file_density_reads_the_counters(samples: dict[str, Path]) -> None:
    import uproot

    d = file_density(str(samples["top"]))
    assert d is not None
    arrays = uproot.open(samples["top"])["Events"].arrays(["nPFCands", "nFatJet"])
    assert d.candidates == pytest.approx(float(np.mean(arrays["nPFCands"])))
    assert d.fatjets == pytest.approx(float(np.mean(arrays["nFatJet"])))


def test_run_chooses_and_records_the_chunk_size(fileset: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    result = run(load_fileset(fileset), LearnedJetTagProcessor([MODEL]), RunOptions())
    assert result.chunksize >= CHUNK_STEP
    out = tmp_path / "o"
    assert main(["run", str(fileset), "--model", str(MODEL), "-o", str(out),
                 "--chunksize", "10_000_000"]) == 2
    err = capsys.readouterr().err
    assert "chunks of 10000000 events need about" in err and "over the memory budget of 2.0 GB" in err
    assert not out.exists()  # refused before anything was read or written
    assert main(["run", str(fileset), "--model", str(MODEL), "-o", str(out), "--memory-budget", "1TB"]) == 0
    assert "memory budget 1TB" in capsys.readouterr().out


def test_sliced_direct_reads_equal_the_events_path(fileset: Path, samples: dict[str, Path],
                                                   monkeypatch: pytest.MonkeyPatch, open_nano: Any) -> None:
    """Through the Runner the candidate columns are read from the file in slices of events;
    the constituents (and so every histogram) are the same as read through NanoEvents."""
    from jetclr_coffea import reader

    monkeypatch.setattr(reader.ChunkColumns, "SLICE", 7)  # many slices, ragged last one
    calls = {"n": 0}
    real_get = reader.ChunkColumns.get

    def counting(self: Any, *args: Any) -> Any:
        calls["n"] += 1
        return real_get(self, *args)

    monkeypatch.setattr(reader.ChunkColumns, "get", counting)
    proc = LearnedJetTagProcessor([MODEL], FatJetSelection(pt_min=250.0))
    sliced = run(load_fileset(fileset), proc, RunOptions(chunksize=45)).datasets
    assert calls["n"] > 20
    events = open_nano(samples["top"], mode="virtual")
    whole = proc.process(events)[events.metadata.get("dataset", "unknown")]  # no file metadata: NanoEvents
    for name, h in whole["hists"].items():
        np.testing.assert_array_equal(sliced["top"].hists[name].values(flow=True), h.values(flow=True),
                                      err_msg=name)
    # and column for column, with the file metadata a Runner chunk carries
    events.metadata.update(filename=str(samples["top"]), treename="Events", entrystart=0,
                           entrystop=len(events))
    direct = reader.read_constituents(events, columns=("mass", "charge"))
    plain = reader.read_constituents(events, columns=("mass", "charge"), direct=False)
    for field in ("pt", "eta", "phi", "mass", "charge", "puppiWeight"):
        assert ak.all(ak.flatten(direct.constituents[field]) == ak.flatten(plain.constituents[field])), field
    assert set(direct.constituents.fields) == {"pt", "eta", "phi", "mass", "charge", "puppiWeight"}


def test_columns_read_follow_the_models_inputs() -> None:
    proc = LearnedJetTagProcessor([MODEL])
    assert set(proc.columns) == {"pt", "eta", "phi"} | set(
        proc.models["jetclr_top"].spec.candidate_fields)
    assert "pdgId" not in proc.columns and "d0" not in proc.columns


@pytest.mark.network
def test_rntuple_reads_and_scores_as_the_ttree(real_files: dict[str, Path], open_nano: Any,
                                               tmp_path: Path) -> None:
    """coffea's pfnano_rntuple.root holds the events of pfnano.root as an RNTuple, the format CMS
    NanoAOD moves to: the same constituents, and through the Runner the same scores, bit for bit."""
    from jetclr_coffea.reader import read_constituents

    ttree, rntuple = real_files["pfnano.root"], real_files["pfnano_rntuple.root"]
    a = read_constituents(open_nano(ttree, mode="virtual"))
    b = read_constituents(open_nano(rntuple, mode="virtual"))
    for field in ("pt", "eta", "phi", "mass"):
        assert ak.all(ak.flatten(a.constituents[field]) == ak.flatten(b.constituents[field])), field
    fs = tmp_path / "fs.json"
    fs.write_text(json.dumps({"ttree": [str(ttree)], "rntuple": [str(rntuple)]}))
    proc = LearnedJetTagProcessor([MODEL], FatJetSelection(pt_min=0.0, eta_max=5.0, require_jet_id=False),
                                  keep_jets=True)
    out = run(load_fileset(fs), proc, RunOptions()).datasets
    scores = {ds: np.concatenate([j["jetclr_top_tagger_score"] for j in out[ds].jets]) for ds in out}
    assert len(scores["ttree"]) == 24 and np.isfinite(scores["ttree"]).all()
    np.testing.assert_array_equal(scores["ttree"], scores["rntuple"])


def test_kept_bytes_bound_what_a_skim_and_friend_hold(samples: dict[str, Path], open_nano: Any) -> None:
    """The estimate of what a run keeps to its end covers the skim's and friend's real
    arrays (within 3x: a bound, not a guess), and is zero without either."""
    from jetclr_coffea.processors.memory import KEPT_COPIES, kept_bytes

    events = open_nano(samples["top"], mode="virtual")
    events.metadata.update(filename=str(samples["top"]), treename="Events", entrystart=0,
                           entrystop=len(events))
    assert LearnedJetTagProcessor([MODEL]).kept_bytes() == (0.0, 0.0)
    proc = LearnedJetTagProcessor([MODEL], FatJetSelection(pt_min=0.0, eta_max=5.0, require_jet_id=False),
                                  keep_jets=True, friend=True)
    out = proc.process(events)[events.metadata.get("dataset", "unknown")]
    held = sum(np.asarray(v).nbytes for part in ("jets", "friend") for chunk in out[part]
               for v in chunk.values() if isinstance(v, np.ndarray))
    density = Density(candidates=0.0, links=0.0, fatjets=float(ak.mean(ak.num(events.FatJet, axis=1))),
                      entries=len(events))
    estimate = kept_bytes({"top.root": density}, *proc.kept_bytes()) / KEPT_COPIES
    assert held <= estimate <= 3 * held, (held, estimate)
    assert kept_bytes({"top.root": density}, 0.0, 0.0) == 0.0


def test_the_budget_counts_what_the_run_keeps(fileset: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A skim and friend trees take the whole run's kept columns from the chunks' share;
    a budget that holds the models but not them is refused before the first chunk."""
    chunk = choose_chunksize({"real.root": PFNANO}, 2_000_000_000, 40, n_models=6)
    with_kept = choose_chunksize({"real.root": PFNANO}, 2_000_000_000, 40, n_models=6, kept=500e6)
    assert with_kept < chunk and abs((chunk - with_kept) * bytes_per_event(PFNANO, 40) - 500e6) < 3e7
    with pytest.raises(ParameterError, match=r"0\.90 GB of skim and friend columns"):
        choose_chunksize({"real.root": PFNANO}, 1_000_000_000, 40, n_models=2, kept=900e6)
    proc = LearnedJetTagProcessor([MODEL], keep_jets=True)
    per_jet, _ = proc.kept_bytes()
    n_jets = sum(float(np.sum(counts)) for counts in _fatjet_counts(fileset))
    need = BASE_BYTES + 2 * n_jets * per_jet
    out = tmp_path / "o"
    budget = f"{(need - 1e5) / 1e6:.1f}MB"
    assert main(["run", str(fileset), "--model", str(MODEL), "-o", str(out), "--skim",
                 "--memory-budget", budget]) == 2
    err = capsys.readouterr().err.strip()
    assert "skim and friend columns this run keeps to its end" in err and len(err.splitlines()) == 1
    assert not out.exists()
    assert main(["run", str(fileset), "--model", str(MODEL), "-o", str(out), "--memory-budget", budget]) == 0


def _fatjet_counts(fileset: Path) -> list[Any]:
    import uproot

    return [uproot.open(f)["Events"]["nFatJet"].array(library="np")
            for files in json.loads(fileset.read_text()).values() for f in files]
