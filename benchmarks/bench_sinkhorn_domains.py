"""Sinkhorn in the log domain against the scaling domain with absorption, inside ONNX graphs.

    python benchmarks/bench_sinkhorn_domains.py --files data/qcd_heldout.root

Issue 23's first step: the OT model's graph (training/ot_medoids.py; W_1 of each jet to K = 8 medoid jets, 40
constituents, float32) exported twice from the same medoids (the first K jets of the file,
a stand-in for FasterPAM's, which do not change the cost per jet) with
:func:`jetclr_coffea.ot.sinkhorn` (log-sum-exp updates) and
:func:`jetclr_coffea.ot.sinkhorn_scaling` (matrix-vector updates on one kernel a stage), and
run by ONNX Runtime on one thread in batches of 128.  For each eps schedule: jets/s, and the
relative error of the score (distance to the nearest medoid) against POT's exact W_1 on 200
jets.  Results: benchmarks/results/sinkhorn_domains.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import best_time, record
from jetclr_coffea.training.data import load_jets
from jetclr_coffea.training.ot_medoids import _Graph, jet_clouds

from jetclr_coffea.ot import SinkhornConfig, emd_exact
from jetclr_coffea.preprocessing import PreprocessSpec

K = 8
OUTPUTS = ["score", "distances"]  # of training/ot_medoids.py's graph
SCHEDULES = {  # name: (domain, eps_start, eps_end, stages, iterations)
    "log, the shipped graph (1 -> 0.005, 10 x 10)": ("log", 1.0, 0.005, 10, 10),
    "scaling, 1 -> 0.005, 10 x 10": ("scaling", 1.0, 0.005, 10, 10),
    "scaling, 1 -> 0.002, 12 x 10": ("scaling", 1.0, 0.002, 12, 10),
    "scaling, 1 -> 0.001, 15 x 20": ("scaling", 1.0, 0.001, 15, 20),
}


def _session(graph: torch.nn.Module, x: np.ndarray, w: np.ndarray, path: str) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(graph, (torch.tensor(x[:3]), torch.tensor(w[:3])), path,
                          input_names=["constituents", "mask"], output_names=OUTPUTS,
                          dynamic_axes={n: {0: "jets"} for n in ("constituents", "mask", *OUTPUTS)},
                          opset_version=17, dynamo=False)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", nargs="+", required=True)
    parser.add_argument("--jets", type=int, default=1024)
    args = parser.parse_args()
    torch.set_num_threads(1)
    spec = PreprocessSpec(features=("deta", "dphi"), n_max=40, centre=True, rotate=True)
    x64, w64 = jet_clouds(load_jets(args.files, spec, pt_min=550.0, pt_max=650.0, eta_max=2.0).arrays)
    x, w = x64.astype(np.float32), w64.astype(np.float32)
    xs, ws = x[K:K + args.jets], w[K:K + args.jets]
    exact = np.array([min(emd_exact(x64[K + i], w64[K + i], x64[k], w64[k]) for k in range(K))
                      for i in range(200)])
    results: dict[str, Any] = {"jets": len(xs), "medoids": K, "schedules": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (domain, e0, e1, stages, its) in SCHEDULES.items():
            graph = _Graph(x64[:K], w64[:K], 1.0, SinkhornConfig(e0, e1, stages, its), domain).eval()
            s = _session(graph, xs, ws, f"{tmp}/g.onnx")

            def run(s: Any = s) -> np.ndarray:
                return np.concatenate([s.run(None, {"constituents": xs[b:b + 128], "mask": ws[b:b + 128]})[0]
                                       for b in range(0, len(xs), 128)])

            dt, out = best_time(run, 2)
            rel = np.abs(out[:200] / exact - 1)
            results["schedules"][name] = {"jets_per_s": len(xs) / dt, "rel_error_mean": float(rel.mean()),
                                          "rel_error_q95": float(np.quantile(rel, 0.95)),
                                          "rel_error_max": float(rel.max()),
                                          "finite": bool(np.isfinite(out).all())}
            r = results["schedules"][name]
            print(f"{name:48s} {r['jets_per_s']:7.0f} jets/s  error mean {r['rel_error_mean']:.2%}  "
                  f"q95 {r['rel_error_q95']:.2%}  max {r['rel_error_max']:.2%}")
    base = results["schedules"][next(iter(SCHEDULES))]["jets_per_s"]
    for r in results["schedules"].values():
        r["speed_over_log"] = r["jets_per_s"] / base
    record("sinkhorn_domains", results)


if __name__ == "__main__":
    main()
