"""What could make ONNX Runtime (CPU) faster than eager torch on the shipped encoder?

The processor benchmark finds ONNX Runtime only ~1.2x faster than eager torch at batch
1024 (target 2x).  This script measures, in one run on real prepared jets and one thread,
the candidate remedies against the shipped graph and against eager torch:

* ``torch``: eager torch, and ``torch_tuned_malloc`` the same in a child process whose
  glibc malloc keeps large blocks (``TUNED_MALLOC``): eager torch allocates fresh
  attention temporaries for every call, and at batch 1024 these are large enough that
  glibc maps and unmaps them each time, so page faults, not arithmetic, decide part of
  torch's speed;
* ``ort``: the shipped graph (ONNX Runtime's own fusions, ORT_ENABLE_ALL);
* ``ort_transformers``: after ``onnxruntime.transformers.optimizer`` (BERT fusions:
  SkipLayerNormalization, BiasGelu; it finds no Attention pattern in this encoder);
* ``ort_int8``: dynamic int8 quantisation of the weights (changes the outputs: the
  largest score and embedding differences are recorded);
* ``attention``: one attention block at the encoder's shapes, decomposed ONNX ops (as
  exported) versus the fused ``com.microsoft.MultiHeadAttention`` kernel with the same
  additive key bias.

Prints and records benchmarks/results/ort_variants.json.

    python benchmarks/bench_ort_variants.py --files data/qcd_test.root data/top_test.root
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _record import prepared_jets, record

from jetclr_coffea.inference import OnnxJetModel
from jetclr_coffea.model import EncoderConfig, JetEncoder


def _session(model: str | bytes) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def _rate(fn: Callable[[int, int], Any], n: int, batch: int, repeats: int = 3) -> float:
    """Best jets/s of ``repeats`` passes over n jets in batches (first pass warms up)."""
    fn(0, min(batch, n))
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        for s in range(0, n, batch):
            fn(s, min(s + batch, n))
        best = max(best, n / (time.perf_counter() - t0))
    return best


def _ort_runner(sess: ort.InferenceSession, x: np.ndarray, mask: np.ndarray) -> Callable[[int, int], Any]:
    names = [o.name for o in sess.get_outputs()]
    return lambda a, b: sess.run(names, {"constituents": x[a:b], "mask": mask[a:b]})


def _outputs(sess: ort.InferenceSession, x: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, {"constituents": x, "mask": mask}), strict=True))


def _attention_graphs(n_heads: int, seq: int, d: int) -> dict[str, bytes]:
    """One attention block with an additive key bias: decomposed ops versus the fused kernel."""
    from onnx import TensorProto, helper, numpy_helper

    def model(nodes: list[Any], inits: list[Any], domains: list[Any]) -> bytes:
        inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", seq, d]) for n in "qkv"]
        inputs.append(helper.make_tensor_value_info("logw", TensorProto.FLOAT, ["N", seq]))
        out = [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", seq, d])]
        graph = helper.make_graph(nodes, "attention", inputs, out, inits)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), *domains],
                                 ir_version=9).SerializeToString()  # type: ignore[no-any-return]

    const = numpy_helper.from_array
    axes = const(np.array([1, 2], np.int64), "axes")
    fused = model(
        [helper.make_node("Unsqueeze", ["logw", "axes"], ["bias4"]),  # (N, 1, 1, C)
         helper.make_node("Expand", ["bias4", "shape"], ["bias"]),  # (N, 1, C, C)
         helper.make_node("MultiHeadAttention", ["q", "k", "v", "", "", "bias"], ["y"],
                          domain="com.microsoft", num_heads=n_heads)],
        [axes, const(np.array([1, 1, seq, seq], np.int64), "shape")],
        [helper.make_opsetid("com.microsoft", 1)])
    dh = d // n_heads
    split = const(np.array([0, seq, n_heads, dh], np.int64), "split")
    merge = const(np.array([0, seq, d], np.int64), "merge")
    scale = const(np.array(1 / np.sqrt(dh), np.float32), "scale")
    nodes = []
    for name, perm in (("q", [0, 2, 1, 3]), ("k", [0, 2, 3, 1]), ("v", [0, 2, 1, 3])):
        nodes += [helper.make_node("Reshape", [name, "split"], [name + "4"]),
                  helper.make_node("Transpose", [name + "4"], [name + "t"], perm=perm)]
    nodes += [helper.make_node("MatMul", ["qt", "kt"], ["l0"]),
              helper.make_node("Mul", ["l0", "scale"], ["l1"]),
              helper.make_node("Unsqueeze", ["logw", "axes"], ["bias4"]),
              helper.make_node("Add", ["l1", "bias4"], ["l2"]),
              helper.make_node("Softmax", ["l2"], ["att"], axis=-1),
              helper.make_node("MatMul", ["att", "vt"], ["y4"]),
              helper.make_node("Transpose", ["y4"], ["yt"], perm=[0, 2, 1, 3]),
              helper.make_node("Reshape", ["yt", "merge"], ["y"])]
    return {"decomposed": model(nodes, [axes, split, merge, scale], []), "fused": fused}


def encoder_flops(cfg: EncoderConfig, n_const: int) -> float:
    """Floating-point operations (multiply-adds count 2) of one jet through the encoder."""
    c, d = n_const, cfg.d_model
    per_layer = 2 * c * d * (3 * d + d + 2 * cfg.d_ff) + 2 * 2 * c * c * d  # linears + QK^T, AV
    head = 2 * d * d * (cfg.head_layers - 1) + 2 * d * cfg.d_out
    return float(2 * c * cfg.n_features * d + cfg.n_layers * per_layer + head)


def _eager(cfg: EncoderConfig, x: np.ndarray, mask: np.ndarray) -> Callable[[int, int], Any]:
    encoder = JetEncoder(cfg).eval()
    xt, mt = torch.from_numpy(x), torch.from_numpy(mask)

    def run(a: int, b: int) -> None:
        with torch.inference_mode():
            encoder(xt[a:b], mt[a:b])

    return run


#: glibc malloc kept from returning large blocks to the system (no mmap/munmap, hence no
#: page faults, for eager torch's fresh ~26 MB attention temporaries at batch 1024)
TUNED_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "4294967296", "MALLOC_TRIM_THRESHOLD_": "4294967296",
                "MALLOC_TOP_PAD_": "268435456"}
BATCHES = (64, 1024)


def _torch_tuned_malloc(args: argparse.Namespace) -> dict[int, float]:
    """Eager torch rates measured in a child process started with TUNED_MALLOC."""
    cmd = [sys.executable, __file__, "--torch-only", "--model", args.model, "--jets", str(args.jets),
           "--files", *args.files]
    out = subprocess.run(cmd, env={**os.environ, **TUNED_MALLOC}, check=True, capture_output=True, text=True)
    return {int(k): v for k, v in json.loads(out.stdout.strip().splitlines()[-1]).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", nargs="+", required=True)
    parser.add_argument("--model", default="onnx_models/darkclr_qcd.onnx",
                        help="an encoder without jet features (the shipped JetCLR architecture)")
    parser.add_argument("--jets", type=int, default=8192, help="jets per measurement")
    parser.add_argument("--torch-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    torch.set_num_threads(1)
    model = OnnxJetModel(args.model, threads=1)
    cfg = EncoderConfig(**model.card.encoder)
    if model.card.jet_features:
        parser.error(f"{args.model} takes jet features: this study runs the encoder alone")
    x, mask, _ = prepared_jets(args.files, model, args.jets)
    n = len(x)
    eager = _eager(cfg, x, mask)
    if args.torch_only:
        print(json.dumps({b: _rate(eager, n, b) for b in BATCHES}))
        return

    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model

    print(f"{n} jets x {x.shape[1]} constituents (mean {np.mean((mask > 0).sum(axis=1)):.1f} real), "
          f"d_model {cfg.d_model}, {cfg.n_layers} layers, 1 thread")
    tuned = _torch_tuned_malloc(args)

    with tempfile.TemporaryDirectory() as tmp:
        int8 = str(Path(tmp) / "int8.onnx")
        quantize_dynamic(args.model, int8, weight_type=QuantType.QInt8)
        fused = optimize_model(args.model, model_type="bert", num_heads=cfg.n_heads,
                               hidden_size=cfg.d_model, opt_level=1)
        fusions = {k: v for k, v in fused.get_fused_operator_statistics().items() if v}
        transformers = str(Path(tmp) / "transformers.onnx")
        fused.save_model_to_file(transformers)
        sessions = {name: _session(p) for name, p in
                    (("ort", args.model), ("ort_transformers", transformers), ("ort_int8", int8))}
        reference = _outputs(sessions["ort"], x[:2048], mask[:2048])
        deviation = {}
        for name, sess in sessions.items():
            got = _outputs(sess, x[:2048], mask[:2048])
            deviation[name] = {k: float(np.nanmax(np.abs(got[k] - reference[k]))) for k in reference}
        results: dict[str, Any] = {"jets": n, "transformers_fusions": fusions, "max_abs_deviation": deviation,
                                   "jets_per_s": {}, "over_torch": {}}
        for batch in BATCHES:
            rates = {"torch": _rate(eager, n, batch), "torch_tuned_malloc": tuned[batch]}
            for name, sess in sessions.items():
                rates[name] = _rate(_ort_runner(sess, x, mask), n, batch)
            results["jets_per_s"][batch] = rates
            results["over_torch"][batch] = {k: v / rates["torch"] for k, v in rates.items()}
            print(f"batch {batch}: " + ", ".join(f"{k} {v:.0f} jets/s ({v / rates['torch']:.2f}x torch)"
                                                 for k, v in rates.items()))
    flops = encoder_flops(cfg, x.shape[1])
    best_torch = max(max(r["torch"], r["torch_tuned_malloc"]) for r in results["jets_per_s"].values())
    best_ort = max(r["ort"] for r in results["jets_per_s"].values())
    results["flops_per_jet"] = flops
    results["gflops_per_s"] = {"ort_best": best_ort * flops / 1e9, "torch_best": best_torch * flops / 1e9,
                               "needed_for_2x_torch": 2 * best_torch * flops / 1e9}
    print(f"{flops / 1e6:.2f} MFLOP per jet: ORT runs at {best_ort * flops / 1e9:.1f} GFLOP/s, torch at "
          f"{best_torch * flops / 1e9:.1f}; 2x torch needs {2 * best_torch * flops / 1e9:.1f} GFLOP/s "
          "on one core in the matrix products alone")
    print(f"transformers optimizer fusions: {fusions}")
    for name, dev in deviation.items():
        print(f"{name}: max |output - shipped graph| " + ", ".join(f"{k} {v:.2g}" for k, v in dev.items()))

    rng = np.random.default_rng(0)
    n_att = 1024
    feed = {c: rng.normal(size=(n_att, x.shape[1], cfg.d_model)).astype(np.float32) for c in "qkv"}
    feed["logw"] = np.log(rng.dirichlet(np.ones(x.shape[1]), size=n_att)).astype(np.float32)
    graphs = _attention_graphs(cfg.n_heads, x.shape[1], cfg.d_model)
    att_sessions = {k: _session(v) for k, v in graphs.items()}
    att_out = {k: s.run(None, feed)[0] for k, s in att_sessions.items()}
    att_rates = {k: _rate(lambda a, b, s=s: s.run(None, {c: v[a:b] for c, v in feed.items()}), n_att, 256)
                 for k, s in att_sessions.items()}
    results["attention_block"] = {
        "jets_per_s": att_rates,
        "fused_over_decomposed": att_rates["fused"] / att_rates["decomposed"],
        "max_abs_difference": float(np.abs(att_out["fused"] - att_out["decomposed"]).max()),
    }
    print(f"one attention block, batch 256: decomposed {att_rates['decomposed']:.0f} jets/s, "
          f"MultiHeadAttention {att_rates['fused']:.0f} jets/s "
          f"({results['attention_block']['fused_over_decomposed']:.2f}x)")
    print(f"recorded in {record('ort_variants', results)}")


if __name__ == "__main__":
    main()
