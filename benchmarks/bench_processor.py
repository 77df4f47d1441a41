"""Processor throughput: reading, constituent preparation, inference; Runner scaling.

Prints and records (benchmarks/results/processor.json), on one machine in one run:

* jets/s through the processor's steps on one core: reading (NanoEvents + the
  constituent reader), preparation (sort/pad/centre/features) and ONNX Runtime inference,
  and the same jets through the same encoder in eager torch (ratio ORT/torch);
* that the Runner, which unpickles the processor for every chunk, builds one ONNX Runtime
  session per process (and what one per chunk would cost);
* events/s of the whole coffea Runner with the futures executor and 1 and 2 workers
  (scaling = 2-worker rate / 1-worker rate), on a warm process pool (started and
  imported beforehand: the steady state of a long run) and cold (the Runner starts its
  own pool, as ``jetclr-coffea run`` does: start-up included);
* events/s of the Runner with as many workers as cores, with the processor's default
  ONNX Runtime threads (one per worker process) and with ONNX Runtime's own default (every
  core in each worker).

    python benchmarks/bench_processor.py --files data/qcd_test.root data/top_test.root
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _record import best_time, record
from jetclr_coffea.processors import FatJetSelection, LearnedJetTagProcessor, QuietPFNanoAODSchema
from jetclr_coffea.processors.run import RunOptions, load_fileset, run

from jetclr_coffea.inference import OnnxJetModel
from jetclr_coffea.model import EncoderConfig, JetEncoder
from jetclr_coffea.preprocessing import prepare
from jetclr_coffea.reader import read_constituents


def steps(files: list[str], model_path: str) -> dict[str, Any]:
    """Per-step jets/s on one core (best of 3 per step), and eager torch on the same batches."""
    from coffea.nanoevents import NanoEventsFactory

    torch.set_num_threads(1)
    model = OnnxJetModel(model_path, threads=1)
    # the previous defaults, as the baseline: batches of 1024 jets, full padding
    before = OnnxJetModel(model_path, threads=1, batch_size=1024, trim_padding=False)
    t = {"read": 0.0, "prepare": 0.0, "inference": 0.0, "torch": 0.0,
         "inference_1024_padded": 0.0, "torch_1024_padded": 0.0}
    n_jets = 0
    enc = JetEncoder(EncoderConfig(**model.card.encoder)).eval()  # same architecture, eager torch
    for f in files:
        def read(f: str = f) -> Any:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                events = NanoEventsFactory.from_root({f: "Events"}, schemaclass=QuietPFNanoAODSchema,
                                                     mode="virtual").events()
            return read_constituents(events, events.FatJet.pt > 200)

        def eager(m: OnnxJetModel, x: np.ndarray, mask: np.ndarray) -> None:
            with torch.inference_mode():
                for rows, c in m.batches(mask):  # the same batches as ONNX Runtime
                    enc(torch.from_numpy(x[rows, :c]), torch.from_numpy(mask[rows, :c]))

        dt, jc = best_time(read)
        t["read"] += dt
        dt, prepared = best_time(lambda jc=jc: prepare(jc.constituents, model.spec, model.card.mask))
        t["prepare"] += dt
        x, mask = prepared
        t["inference"] += best_time(lambda x=x, mask=mask: model.run_arrays(x, mask))[0]
        t["torch"] += best_time(lambda x=x, mask=mask: eager(model, x, mask))[0]
        t["inference_1024_padded"] += best_time(lambda x=x, mask=mask: before.run_arrays(x, mask))[0]
        t["torch_1024_padded"] += best_time(lambda x=x, mask=mask: eager(before, x, mask))[0]
        n_jets += len(jc)
    proc_total = t["read"] + t["prepare"] + t["inference"]
    out = {
        "jets": n_jets,
        "jets_per_s": {k: n_jets / v for k, v in t.items()},
        "processor_jets_per_s": n_jets / proc_total,
        "share": {k: t[k] / proc_total for k in ("read", "prepare", "inference")},
        "ort_over_torch": t["torch"] / t["inference"],
        "batch": model.batch,
        "ort_over_torch_1024_padded": t["torch_1024_padded"] / t["inference_1024_padded"],
        "inference_speedup_over_1024_padded": t["inference_1024_padded"] / t["inference"],
    }
    print(f"{n_jets} jets on one core: processor {out['processor_jets_per_s']:.0f} jets/s; shares "
          + ", ".join(f"{k} {100 * v:.0f}%" for k, v in out["share"].items()))
    print(f"inference (batch {model.batch}): ORT {out['jets_per_s']['inference']:.0f} jets/s, eager torch "
          f"{out['jets_per_s']['torch']:.0f} jets/s, ratio ORT/torch {out['ort_over_torch']:.2f}")
    rates = out["jets_per_s"]
    print(f"previous defaults (batch 1024, full padding): ORT {rates['inference_1024_padded']:.0f} jets/s,"
          f" eager torch {rates['torch_1024_padded']:.0f} jets/s (ratio "
          f"{out['ort_over_torch_1024_padded']:.2f}); ORT now "
          f"{out['inference_speedup_over_1024_padded']:.2f}x faster")
    return out


def _warm_up() -> int:
    """Run in each worker of a fresh pool: the imports a first chunk would pay for."""
    import jetclr_coffea.processors  # noqa: F401 - coffea, awkward, uproot, onnxruntime

    time.sleep(1.0)  # keep this worker busy so that every worker gets one warm-up task
    return os.getpid()


def _runner_rate(fileset: dict[str, Any], model_path: str, chunksize: int, workers: int, *,
                 warm: bool, threads: int | None = 1) -> float:
    """events/s of the futures Runner; ``warm``: on a process pool started beforehand;
    ``threads``: the processor's ONNX Runtime threads per worker."""
    import loky
    from coffea import processor

    proc = LearnedJetTagProcessor([model_path], FatJetSelection(), threads=threads)
    if not warm:  # what `jetclr-coffea run` does: the Runner starts its own pool
        t0 = time.perf_counter()
        opts = RunOptions(executor="futures", workers=workers, chunksize=chunksize)
        events = sum(r.cutflow["events"] for k, r in run(fileset, proc, opts).datasets.items()
                     if not k.startswith("_"))
        return events / (time.perf_counter() - t0)
    pool = loky.ProcessPoolExecutor(max_workers=workers)
    try:
        pids = {f.result() for f in [pool.submit(_warm_up) for _ in range(workers)]}
        assert len(pids) == workers
        runner = processor.Runner(
            executor=processor.FuturesExecutor(pool=pool, workers=workers, status=False, retries=0),
            schema=QuietPFNanoAODSchema, chunksize=chunksize)
        t0 = time.perf_counter()
        out = runner(fileset, processor_instance=proc, treename="Events")  # the processor's own dicts
        seconds = time.perf_counter() - t0
    finally:
        pool.shutdown()
    return sum(r["cutflow"]["events"] for k, r in out.items() if not k.startswith("_")) / seconds


def _copies_fileset(files: list[str], tmp: str, copies: int) -> dict[str, Any]:
    """A fileset with each file ``copies`` times (links with other names): more chunks."""
    fileset_files: dict[str, list[str]] = {}
    for f in files:
        for i in range(copies):
            link = Path(tmp) / f"{Path(f).stem}_{i}.root"
            link.symlink_to(os.path.abspath(f))
            fileset_files.setdefault(Path(f).stem, []).append(str(link))
    fs = Path(tmp) / "fs.json"
    fs.write_text(json.dumps(fileset_files))
    return load_fileset(fs)


def scaling(files: list[str], model_path: str, chunksize: int, repeats: int = 3,
            copies: int = 3) -> dict[str, Any]:
    """Runner events/s with 1 and 2 workers, cold (pool started by the run) and warm."""
    results: dict[str, Any] = {"chunksize": chunksize, "file_copies": copies}
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fileset = _copies_fileset(files, tmp, copies)
        for mode in ("warm", "cold"):
            runs: dict[int, list[float]] = {1: [], 2: []}
            for _ in range(repeats):  # interleaved, so that a slow spell of the machine hits both
                for workers in (1, 2):
                    rate = _runner_rate(fileset, model_path, chunksize, workers, warm=mode == "warm")
                    runs[workers].append(rate)
            rates = {w: float(np.median(r)) for w, r in runs.items()}
            for workers, r in runs.items():
                print(f"Runner, futures, {mode} pool, {workers} worker(s): {rates[workers]:.0f} events/s "
                      f"(median of {repeats}: {', '.join(f'{v:.0f}' for v in r)})")
            print(f"scaling 2 workers / 1 worker, {mode} pool: {rates[2] / rates[1]:.2f}")
            results[mode] = {"events_per_s": rates, "all_runs": runs, "scaling_2_over_1": rates[2] / rates[1]}
    return results


def thread_defaults(files: list[str], model_path: str, chunksize: int, repeats: int = 3,
                    copies: int = 3) -> dict[str, Any]:
    """Runner events/s with as many workers as cores: the processor's default threads (one
    per worker process) against ONNX Runtime's default (every core in each worker, the
    library default before), on pools started by each run."""
    workers = os.cpu_count() or 1
    runs: dict[str, list[float]] = {"ort_default_all_cores": [], "default_one_per_worker": []}
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fileset = _copies_fileset(files, tmp, copies)
        env = os.environ.pop("OMP_NUM_THREADS", None)
        try:
            for _ in range(repeats):  # interleaved
                for key, threads in (("ort_default_all_cores", 0), ("default_one_per_worker", None)):
                    runs[key].append(_runner_rate(fileset, model_path, chunksize, workers, warm=False,
                                                  threads=threads))
        finally:
            if env is not None:
                os.environ["OMP_NUM_THREADS"] = env
    rates = {k: float(np.median(v)) for k, v in runs.items()}
    ratio = rates["default_one_per_worker"] / rates["ort_default_all_cores"]
    print(f"Runner, futures, {workers} workers on {workers} cores: default threads "
          f"{rates['default_one_per_worker']:.0f} events/s, ONNX Runtime's default "
          f"{rates['ort_default_all_cores']:.0f} events/s (medians of {repeats}): {ratio:.2f}x")
    return {"workers": workers, "events_per_s": rates, "all_runs": runs, "default_over_ort_default": ratio}


def sessions(files: list[str], model_path: str, chunksize: int) -> dict[str, Any]:
    """Sessions built by a Runner that unpickles the processor for every chunk, and what
    rebuilding one per chunk would cost."""
    from jetclr_coffea import inference

    inference._SESSIONS.clear()
    t0 = time.perf_counter()
    OnnxJetModel(model_path, threads=1).session  # noqa: B018 - builds and caches the session
    build = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        fs = Path(tmp) / "fs.json"
        fs.write_text(json.dumps({Path(f).stem: [os.path.abspath(f)] for f in files}))
        inference._SESSIONS.clear()
        proc = LearnedJetTagProcessor([model_path], FatJetSelection(), threads=1)
        t0 = time.perf_counter()
        out = run(load_fileset(fs), proc, RunOptions(executor="iterative", chunksize=chunksize)).datasets
        seconds = time.perf_counter() - t0
    chunks = sum(-(-int(r.cutflow["events"]) // chunksize)
                 for r in out.values())
    result = {"session_build_s": build, "chunks": chunks, "sessions_built": len(inference._SESSIONS),
              "run_s": seconds, "rebuild_per_chunk_overhead": build * chunks / seconds}
    print(f"Runner (iterative) over {chunks} chunks: {result['sessions_built']} session built; building "
          f"one takes {1e3 * build:.0f} ms, so one per chunk would add "
          f"{100 * result['rebuild_per_chunk_overhead']:.0f}% to this run")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", nargs="+", required=True)
    parser.add_argument("--model", default="onnx_models/darkclr_qcd.onnx",
                        help="an encoder without jet features (ORT against eager torch of the encoder)")
    parser.add_argument("--chunksize", type=int, default=1000)
    args = parser.parse_args()
    if OnnxJetModel(args.model).card.jet_features:
        parser.error(f"{args.model} takes jet features: the steps study runs the encoder alone")
    results = {"steps": steps(args.files, args.model),
               "sessions": sessions(args.files, args.model, args.chunksize),
               "runner": scaling(args.files, args.model, args.chunksize),
               "threads": thread_defaults(args.files, args.model, args.chunksize)}
    print(f"recorded in {record('processor', results)}")


if __name__ == "__main__":
    main()
