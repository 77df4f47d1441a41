"""jetclr_coffea/inference.py and onnx_wrapper.py: ONNX Runtime sessions (one per process, per
forked worker, threads), batching that leaves outputs unchanged, IO binding, the CUDA path."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
import uproot
from jetclr_coffea.processors import FatJetSelection, LearnedJetTagProcessor
from jetclr_coffea.processors.run import RunOptions, load_fileset, run

from jetclr_coffea import inference
from jetclr_coffea.errors import JetCLRError
from jetclr_coffea.onnx_wrapper import onnx_wrapper
from jetclr_coffea.reader import read_constituents

MODEL = Path("onnx_models/jetclr_top.onnx")
SCORE = "jetclr_top_tagger_score"


def test_one_session_per_process(samples: dict[str, Path], fileset: Path) -> None:
    inference._SESSIONS.clear()
    proc = LearnedJetTagProcessor([MODEL], FatJetSelection(pt_min=250.0))
    assert len(inference._SESSIONS) == 0  # building it (the driver) reads the card, keeps no session
    run(load_fileset(fileset), proc, RunOptions(chunksize=20))  # many chunks, one process
    assert len(inference._SESSIONS) == 1
    restored = pickle.loads(pickle.dumps(proc))
    assert restored.models["jetclr_top"].session is proc.models["jetclr_top"].session


def _session_threads() -> tuple[int, int]:
    """(default_threads, the cached session's intra-op threads) in this process."""
    session = inference.OnnxJetModel(MODEL).session
    return inference.default_threads(), session.get_session_options().intra_op_num_threads


def _sessions_of_this_process() -> int:
    inference.OnnxJetModel(MODEL).session  # noqa: B018 - builds or finds the session
    return sum(key[-1] == os.getpid() for key in inference._SESSIONS)


def test_forked_worker_builds_its_own_session(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker forked after the parent built a session (same model, providers, threads)
    builds its own: an ONNX Runtime session's thread pool does not survive fork."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # same threads in parent and child
    assert _sessions_of_this_process() >= 1  # the parent's, built before the fork
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
        assert pool.submit(_sessions_of_this_process).result() == 1  # the child's own


def test_threads_one_per_worker_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """N workers on N cores do not oversubscribe: 1 ONNX Runtime thread in each worker
    process, every core (0) in the main one; OMP_NUM_THREADS, when set, wins."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert _session_threads() == (0, 0)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
        assert pool.submit(_session_threads).result() == (1, 1)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert _session_threads() == (3, 3)
    monkeypatch.setenv("OMP_NUM_THREADS", "many")  # not a count: ignored
    assert inference.default_threads() == 0


def test_onnx_wrapper_eager(samples: dict[str, Path]) -> None:
    events = uproot.open(samples["top"])["Events"].arrays()
    jc = read_constituents(events)
    wrapped = onnx_wrapper(str(MODEL), output="tagger_score")(jc.constituents, jc.jets)  # it reads the jets
    direct = inference.OnnxJetModel(MODEL)(jc.constituents, jc.jets)["tagger_score"]
    np.testing.assert_allclose(ak.to_numpy(wrapped), direct, atol=1e-6)


def test_outputs_do_not_depend_on_batching(samples: dict[str, Path]) -> None:
    """A jet's outputs are bit-identical whatever the batch size and the jets around it
    (so histograms cannot change with the chunk size), and trimming the padding changes
    them by rounding only."""
    jc = read_constituents(uproot.open(samples["qcd"])["Events"].arrays())
    default = inference.OnnxJetModel(MODEL)
    assert default.batch == inference.DEFAULT_BATCH["CPUExecutionProvider"] < len(jc)
    assert default.trim_padding
    lengths = ak.to_numpy(ak.num(jc.constituents, axis=1))
    assert (lengths < default.spec.n_max - inference.LENGTH_STEP).any()  # some batches are cut
    want = default(jc.constituents, jc.jets)
    for trim in (True, False):
        ref = want if trim else inference.OnnxJetModel(MODEL, trim_padding=False)(jc.constituents, jc.jets)
        for batch in (1, 2, 7, len(jc) + 5):
            got = inference.OnnxJetModel(MODEL, batch_size=batch, trim_padding=trim)(jc.constituents, jc.jets)
            for name in want:
                np.testing.assert_array_equal(got[name], ref[name], err_msg=f"{name} {batch} {trim}")
        part = inference.OnnxJetModel(MODEL, trim_padding=trim)(jc.constituents[17:60], jc.jets[17:60])
        for name in want:
            np.testing.assert_array_equal(part[name], ref[name][17:60], err_msg=f"{name} part {trim}")
            np.testing.assert_allclose(ref[name], want[name], atol=2e-6, rtol=1e-5, err_msg=name)
    with pytest.raises(JetCLRError, match="batch_size must be positive"):
        inference.OnnxJetModel(MODEL, batch_size=0)


def test_iobinding_path_matches_plain_run(samples: dict[str, Path]) -> None:
    """The IOBinding code that CUDA uses, exercised with CPU-bound outputs."""
    jc = read_constituents(uproot.open(samples["top"])["Events"].arrays())
    model = inference.OnnxJetModel(MODEL)
    x, mask = model.inputs(jc.constituents)
    jet = model.jet_inputs({f: ak.to_numpy(jc.jets[f]) for f in ak.fields(jc.jets)})
    assert jet is not None
    names = model.output_names
    feeds = {"constituents": x[:50], "mask": mask[:50], "jet": jet[:50]}
    bound = model._run_batch(model.session, names, feeds, device="cpu")
    plain = model._run_batch(model.session, names, feeds)
    assert len(bound) == len(plain) == len(names)
    for name, a, b in zip(names, bound, plain, strict=True):
        np.testing.assert_array_equal(a, b, err_msg=name)


def test_cuda_session_gets_full_float32(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CUDA provider is asked for full float32 (no TF32), the CPU provider for nothing."""
    import onnxruntime as ort

    seen: list[Any] = []

    class Recorder:
        def __init__(self, path: str, sess_options: Any = None, providers: Any = None) -> None:
            seen.append(providers)

        def get_providers(self) -> list[str]:
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]

    monkeypatch.setattr(ort, "InferenceSession", Recorder)
    monkeypatch.setattr(inference, "_SESSIONS", {})
    inference.get_session(MODEL, ["CUDAExecutionProvider", "CPUExecutionProvider"], threads=1)
    inference.get_session(MODEL, ["CPUExecutionProvider"], threads=1)
    assert seen == [[("CUDAExecutionProvider", {"use_tf32": "0"}), "CPUExecutionProvider"],
                    ["CPUExecutionProvider"]]


def test_cuda_fallback_is_one_warning_line(monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
                                          caplog: pytest.LogCaptureFixture) -> None:
    """A CUDA driver without the CUDA libraries of ONNX Runtime's CUDA provider: the CPU,
    one warning line naming the missing library, and none of ONNX Runtime's own errors."""
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("needs the GPU build of ONNX Runtime (onnxruntime-gpu)")
    if inference.cuda_provider_problem() is None:
        pytest.skip("the CUDA provider loads here: nothing falls back")
    monkeypatch.setattr(inference, "_cuda_driver_present", lambda: True)  # as on a GPU node
    monkeypatch.setattr(inference, "_CUDA_USABLE", None)
    monkeypatch.setattr(inference, "_SESSIONS", {})
    with caplog.at_level("WARNING", logger="jetclr_coffea.inference"):
        for _ in range(2):  # decided once per process
            model = inference.OnnxJetModel(MODEL)
            assert model.session.get_providers() == ["CPUExecutionProvider"]
            n_features = model.session.get_inputs()[0].shape[2]
            x = np.random.default_rng(3).normal(size=(4, 8, n_features)).astype(np.float32)
            jet = np.ones((4, len(model.card.jet_features)), np.float32)
            assert np.isfinite(model.run_arrays(x, np.ones((4, 8), np.float32), jet)["embedding"]).all()
    captured = capfd.readouterr()
    assert "onnxruntime" not in captured.out + captured.err
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1
    assert "CUDA provider cannot load" in warned[0]
    assert ".so" in warned[0]


@pytest.mark.gpu
def test_cuda_iobinding_matches_cpu(samples: dict[str, Path]) -> None:
    if "CUDAExecutionProvider" not in inference.choose_providers():
        pytest.skip("needs a CUDA device and the GPU build of ONNX Runtime")
    jc = read_constituents(uproot.open(samples["top"])["Events"].arrays())
    gpu = inference.OnnxJetModel(MODEL, providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
    cpu = inference.OnnxJetModel(MODEL, providers=["CPUExecutionProvider"])
    assert gpu.session.get_providers()[0] == "CUDAExecutionProvider"
    a, b = gpu(jc.constituents, jc.jets), cpu(jc.constituents, jc.jets)
    for name in a:
        np.testing.assert_allclose(a[name], b[name], atol=1e-4, rtol=1e-4)
