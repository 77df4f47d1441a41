"""Optimal-transport speed: exact EMD vs batched Sinkhorn, and the ONNX OT model vs the encoder.

    python benchmarks/bench_ot.py --files data/qcd_heldout.root [--ot-model onnx_models/ot_medoids_qcd.onnx]

One core (torch and ONNX Runtime on one thread).  Pairs of real generated QCD jets (40
hardest constituents, 550 < pT < 650 GeV): exact W_1 through POT, one pair at a time, against
the log-domain Sinkhorn of jetclr_coffea.ot in batches of 256 pairs, with its default
settings and with the cheaper ones the ONNX graph uses, and their errors against the exact
costs.  Then jets/s of the ONNX OT model (Sinkhorn to K medoids in the graph) against the
JetCLR encoder on the same jets.  Results: benchmarks/results/ot.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import best_time, record
from jetclr_coffea.training.data import load_jets
from jetclr_coffea.training.ot_medoids import LOG_GRAPH_SINKHORN, jet_clouds

from jetclr_coffea.inference import OnnxJetModel
from jetclr_coffea.ot import SinkhornConfig, emd_exact, sinkhorn
from jetclr_coffea.preprocessing import PreprocessSpec

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", nargs="+", required=True)
    parser.add_argument("--pairs", type=int, default=512)
    parser.add_argument("--ot-model", default=str(ROOT / "onnx_models" / "ot_medoids_qcd.onnx"))
    parser.add_argument("--encoder", default=str(ROOT / "onnx_models" / "darkclr_qcd.onnx"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    spec = PreprocessSpec(features=("deta", "dphi"), n_max=40)
    sample = load_jets(args.files, spec, pt_min=550.0, pt_max=650.0, eta_max=2.0)
    x, w = jet_clouds(sample.arrays)
    n = min(args.pairs, len(x) // 2)
    a, b = slice(0, n), slice(n, 2 * n)
    t0 = time.perf_counter()
    exact = np.array([emd_exact(x[i], w[i], x[n + i], w[n + i]) for i in range(n)])
    t_exact = time.perf_counter() - t0
    results: dict[str, Any] = {"pairs": n, "exact_pairs_per_s": n / t_exact, "sinkhorn": {}}
    print(f"exact W_1 (POT): {n / t_exact:.0f} pairs/s")
    ta = [torch.tensor(v, dtype=torch.float32) for v in (x[a], w[a], x[b], w[b])]
    for name, cfg in (("default", SinkhornConfig()), ("log graph until #23", LOG_GRAPH_SINKHORN)):
        dt, approx = best_time(lambda cfg=cfg: sinkhorn(*ta, cfg=cfg, grad=False).numpy(), 2)
        rel = np.abs(approx / exact - 1)
        results["sinkhorn"][name] = {
            "pairs_per_s": n / dt, "ratio_to_exact": (n / dt) / (n / t_exact),
            "rel_error_mean": float(rel.mean()), "rel_error_q95": float(np.quantile(rel, 0.95)),
            "iterations": cfg.stages * cfg.iterations}
        print(f"Sinkhorn {name} ({cfg.stages * cfg.iterations} updates, batch {n}): {n / dt:.0f} pairs/s "
              f"({(n / dt) / (n / t_exact):.2f}x exact), error {100 * rel.mean():.2f} % mean")
    if Path(args.ot_model).is_file():
        import uproot

        from jetclr_coffea.reader import read_constituents

        jc = read_constituents(uproot.open(args.files[0])["Events"].arrays(entry_stop=2000))
        cons = jc.constituents[jc.has_constituents][:1000]
        rates = {}
        for label, path in (("ot_model", args.ot_model), ("encoder", args.encoder)):
            model = OnnxJetModel(path, threads=1)
            xin, mask = model.inputs(cons)
            dt, _ = best_time(lambda m=model, xin=xin, mask=mask: m.run_arrays(xin, mask), 2)
            rates[label] = len(cons) / dt
        results["onnx_jets_per_s"] = rates
        results["ot_over_encoder"] = rates["ot_model"] / rates["encoder"]
        print(f"ONNX Runtime, one thread: OT model {rates['ot_model']:.0f} jets/s, encoder "
              f"{rates['encoder']:.0f} jets/s ({results['ot_over_encoder']:.3f}x)")
    print(f"recorded {record('ot', results)}")


if __name__ == "__main__":
    main()
