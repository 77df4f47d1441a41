"""Peak memory per event of a chunk, and events/s, against chunk size, at real PF density.

    python benchmarks/bench_memory.py [--source pfnano.root] [--events-default 100000]

Inputs, made in --workdir (default data/memory): replicas of coffea's real CMS PFNano
file (tests/samples/pfnano.root, ~1 820 PF candidates an event; benchmarks/replicate_pfnano.py)
of 8 000 events and of --events-default events, and, where given (--generated), a
real-density generated file (jetclr-coffea generate --all-candidates --pileup ...)
replicated the same way.  Each measurement is one `jetclr-coffea run` (iterative
executor) in a fresh process, which reports its own peak RSS: the slope of peak RSS
against chunk size is the memory a chunk holds per event.  The baseline, measured in the
same run, is the reader as it was (every candidate column, read through the chunk's
NanoEvents, where it stays until the chunk ends).  Results: benchmarks/results/memory.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import record
from replicate_pfnano import read_source, write_replica

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "onnx_models" / "jetclr_top.onnx"
CHUNKS = (500, 1000, 2000, 4000, 8000)

CHILD = r"""
import json, sys, time
mode, fileset, out, chunk = sys.argv[1:5]
if mode == "baseline":  # the reader as it was: every candidate column, through NanoEvents
    import jetclr_coffea.reader as reader
    import jetclr_coffea.processors.tagging as tagging
    reader.ChunkColumns.for_events = classmethod(lambda cls, events: None)
    tagging.LearnedJetTagProcessor.columns = property(lambda self: None, lambda self, v: None)
from jetclr_coffea.cli import main
argv = ["run", fileset, "--model", sys.argv[5], "-o", out, "--pt-min", "0", "--eta-max", "5"]
if chunk != "default":
    argv += ["--chunksize", chunk]
t0 = time.perf_counter()
rc = main(argv)
seconds = time.perf_counter() - t0
# VmHWM: this process's own high-water mark (ru_maxrss would include the RSS of the parent
# it was forked from, which Linux carries across exec)
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({"rc": rc, "peak_mb": hwm / 1024, "seconds": seconds}))
"""


def _measure(mode: str, fileset: Path, chunk: str, work: Path) -> dict[str, Any]:
    out = work / f"out_{mode}_{chunk}"
    proc = subprocess.run([sys.executable, "-c", CHILD, mode, str(fileset), str(out), chunk, str(MODEL)],
                          capture_output=True, text=True, check=False)
    line = [x for x in proc.stdout.splitlines() if x.startswith("{")]
    if not line:
        raise RuntimeError(proc.stderr[-2000:])
    res: dict[str, Any] = json.loads(line[-1])
    summary = json.loads((out / "cutflow.json").read_text())
    res["events"] = sum(d["cutflow"]["events"] for d in summary["datasets"].values())
    res["chunksize_used"] = summary["chunksize"]
    res["events_per_s"] = res["events"] / res["seconds"]
    return res


def _fileset(work: Path, name: str, files: list[Path]) -> Path:
    fs = work / f"{name}.json"
    fs.write_text(json.dumps({"replica": [str(f) for f in files]}))
    return fs


def _replica(source: Path, events: int, path: Path) -> Path:
    if not path.is_file():
        data = read_source(source)
        n = len(data["event"])
        write_replica(data, -(-events // n), path)
    return path


def _scan(fileset: Path, work: Path, label: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mode in ("now", "baseline"):
        rows = [{"chunksize": c, **_measure(mode, fileset, str(c), work)} for c in CHUNKS]
        slope = np.polyfit([r["chunksize"] for r in rows], [r["peak_mb"] for r in rows], 1)[0] * 1000
        out[mode] = {"rows": rows, "kb_per_event_of_chunk": slope}
        print(f"{label} {mode}: " + ", ".join(f"{r['chunksize']}: {r['peak_mb']:.0f} MB "
                                              f"{r['events_per_s']:.0f} ev/s" for r in rows)
              + f"; slope {slope:.1f} KB per event of a chunk")
    out["slope_ratio_baseline_over_now"] = out["baseline"]["kb_per_event_of_chunk"] / out["now"][
        "kb_per_event_of_chunk"]
    return out


def _breakdown(path: Path, n: int) -> dict[str, float]:
    """Bytes per event of the arrays one chunk of ``n`` events holds, step by step."""
    import warnings

    from coffea.nanoevents import NanoEventsFactory
    from jetclr_coffea.processors import QuietPFNanoAODSchema

    from jetclr_coffea.inference import OnnxJetModel
    from jetclr_coffea.preprocessing import kinematics
    from jetclr_coffea.reader import read_constituents

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        events = NanoEventsFactory.from_root({str(path): "Events"}, schemaclass=QuietPFNanoAODSchema,
                                             mode="virtual", entry_stop=n).events()
    import awkward as ak

    model = OnnxJetModel(MODEL)
    n_cands = int(ak.sum(ak.num(events.PFCands, axis=1)))
    jc = read_constituents(events, columns=model.spec.candidate_fields, direct=False)
    links = int(ak.sum(ak.num(jc.constituents, axis=1)))
    constituent_bytes = sum(ak.to_numpy(ak.flatten(jc.constituents[f])).nbytes
                            for f in jc.constituents.fields)
    arrays = kinematics(jc.constituents, model.spec)
    x, mask = model.inputs_from_arrays(arrays)
    padded = sum(np.asarray(getattr(arrays, f)).nbytes
                 for f in ("deta", "dphi", "pt", "energy", "charge", "mask"))
    return {
        "events": n,
        "pf_candidates_per_event": n_cands / n,
        "constituents_per_event": links / n,
        "one_float32_candidate_column": 4 * n_cands / n,
        "every_candidate_column_read_before (9 fields)": 9 * 4 * n_cands / n,
        "gathered_constituents": constituent_bytes / n,
        "padded_kinematics (float64, n_max slots)": padded / n,
        "model_inputs (float32)": (x.nbytes + mask.nbytes) / n,
        "sliced column read (fixed, not per event)": 4 * n_cands / n * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cache = Path(os.environ.get("JETCLR_COFFEA_CACHE", Path.home() / ".cache" / "jetclr-coffea"))
    parser.add_argument("--source", type=Path,
                        default=cache / "coffea-2026.9.0-samples" / "pfnano.root")
    parser.add_argument("--generated", type=Path, default=None,
                        help="a real-density generated file (generate --all-candidates) to scan too")
    parser.add_argument("--workdir", type=Path, default=ROOT / "data" / "memory")
    parser.add_argument("--events-default", type=int, default=100_000)
    args = parser.parse_args()
    if not args.source.is_file():
        sys.exit(f"{args.source}: no such file; `make test` downloads coffea's real samples into "
                 "~/.cache/jetclr-coffea (or give --source)")
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"source": str(args.source)}
    small = _replica(args.source, 8000, work / "pfnano_8k.root")
    results["breakdown"] = _breakdown(small, 4000)
    print(json.dumps(results["breakdown"], indent=1))
    results["pfnano_replica"] = _scan(_fileset(work, "small", [small]), work, "pfnano replica")
    if args.generated is not None:
        gen = _replica(args.generated, 8000, work / "generated_8k.root")
        results["generated_real_density"] = _scan(_fileset(work, "gen", [gen]), work, "generated")
    big = _replica(args.source, args.events_default, work / f"pfnano_{args.events_default // 1000}k.root")
    default = _measure("now", _fileset(work, "big", [big]), "default", work)
    default["chunksize"] = json.loads((work / "out_now_default" / "cutflow.json").read_text())["chunksize"]
    default["within_2gb"] = default["peak_mb"] * 2**20 <= 2e9
    results["default_settings"] = default
    print(f"default settings over {default['events']:.0f} events (chunks of {default['chunksize']}): "
          f"peak {default['peak_mb']:.0f} MB, "
          f"{default['events_per_s']:.0f} events/s ({'within' if default['within_2gb'] else 'OVER'} 2 GB)")
    print(f"recorded {record('memory', results)}")


if __name__ == "__main__":
    main()
