"""ONNX Runtime on CUDA (IOBinding) against ONNX Runtime on the CPU, at large batches.

Runs the shipped encoder through :class:`jetclr_coffea.inference.OnnxJetModel` on real
prepared jets at batch 1024 and 8192 with the CPU provider (ONNX Runtime's default
threads: all cores) and, when the GPU build of
ONNX Runtime and a CUDA device are present, with the CUDA provider (inputs bound with
IOBinding, outputs kept on the device until one copy back, full float32).  Checks that
both providers give the same outputs, measures CUDA also with TF32 on (which the default
``CUDA_OPTIONS`` turns off) and how far its outputs move, then prints and records
benchmarks/results/gpu_inference.json.
Without CUDA it measures the CPU side and records why CUDA was not measured.

    python benchmarks/bench_gpu_inference.py --files data/qcd_test.root data/top_test.root
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _record import best_time, prepared_jets, record

from jetclr_coffea import inference
from jetclr_coffea.inference import (
    OnnxJetModel,
    _cuda_driver_present,
    choose_providers,
    cuda_provider_problem,
)

CPU = ["CPUExecutionProvider"]
CUDA = ["CUDAExecutionProvider", "CPUExecutionProvider"]


def _rate(model: OnnxJetModel, x: np.ndarray, mask: np.ndarray, jet: np.ndarray | None) -> float:
    """Best jets/s of three passes (the first pays the session's set-up)."""
    return len(x) / best_time(lambda: model.run_arrays(x, mask, jet))[0]


def _with_tf32(model_path: str, batch: int, x: np.ndarray, mask: np.ndarray, jet: np.ndarray | None,
               want: dict[str, np.ndarray]) -> tuple[float, float]:
    """jets/s on CUDA with TF32 on (what the default, CUDA_OPTIONS, turns off), and the
    largest output difference to the CPU on the first 4096 jets."""
    saved = dict(inference.CUDA_OPTIONS)
    inference.CUDA_OPTIONS["use_tf32"] = "1"
    inference._SESSIONS.clear()
    try:
        model = OnnxJetModel(model_path, providers=CUDA, batch_size=batch)
        got = model.run_arrays(x[:4096], mask[:4096], None if jet is None else jet[:4096])
        diff = max(float(np.abs(got[n] - want[n]).max()) for n in want)
        return _rate(model, x, mask, jet), diff
    finally:
        inference.CUDA_OPTIONS.clear()
        inference.CUDA_OPTIONS.update(saved)
        inference._SESSIONS.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", nargs="+", required=True)
    parser.add_argument("--model", default="onnx_models/jetclr_top.onnx")
    parser.add_argument("--jets", type=int, default=65536, help="jets per pass")
    args = parser.parse_args()

    reference = OnnxJetModel(args.model, providers=CPU)
    x, mask, jet = prepared_jets(args.files, reference, args.jets)
    j4 = None if jet is None else jet[:4096]
    on_gpu = choose_providers()[0] == "CUDAExecutionProvider"
    results: dict[str, Any] = {"jets": len(x), "cuda": on_gpu, "jets_per_s": {}}
    if not on_gpu:
        import onnxruntime as ort

        if "CUDAExecutionProvider" not in ort.get_available_providers():
            why = "this ONNX Runtime has no CUDA provider (install onnxruntime-gpu)"
        elif not _cuda_driver_present():
            why = "no CUDA driver (libcuda.so.1 cannot be loaded)"
        else:
            why = f"ONNX Runtime's CUDA provider cannot load ({cuda_provider_problem()})"
        results["cuda_not_measured"] = why
        print(f"CUDA not measured: {results['cuda_not_measured']}")
    for batch in (1024, 8192):
        rates = {"cpu": _rate(OnnxJetModel(args.model, providers=CPU, batch_size=batch), x, mask, jet)}
        if on_gpu:
            gpu = OnnxJetModel(args.model, providers=CUDA, batch_size=batch)
            got = gpu.run_arrays(x[:4096], mask[:4096], j4)
            want = reference.run_arrays(x[:4096], mask[:4096], j4)
            for name in want:
                np.testing.assert_allclose(got[name], want[name], atol=1e-4, rtol=1e-4, err_msg=name)
            rates["cuda"] = _rate(gpu, x, mask, jet)
            rates["cuda_over_cpu"] = rates["cuda"] / rates["cpu"]
            tf32_rate, tf32_diff = _with_tf32(args.model, batch, x, mask, jet, want)
            rates["cuda_tf32"] = tf32_rate
            results.setdefault("tf32_max_abs_diff_vs_cpu", {})[batch] = tf32_diff
        results["jets_per_s"][batch] = rates
        line = f"batch {batch}: CPU {rates['cpu']:.0f} jets/s"
        if on_gpu:
            line += (f", CUDA {rates['cuda']:.0f} jets/s ({rates['cuda_over_cpu']:.1f}x); with TF32 "
                     f"{rates['cuda_tf32']:.0f} jets/s, outputs off by up to {tf32_diff:.1e}")
        print(line)
    print(f"recorded in {record('gpu_inference', results)}")


if __name__ == "__main__":
    main()
