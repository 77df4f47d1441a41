"""The linearized-OT model's distances against the exact W_2, on jets of a file of its own.

    python benchmarks/bench_linear_ot.py --model onnx_models/lot_qcd.onnx --files data/qcd_heldout.root

Pairs of QCD jets (550 < pT < 650 GeV) from a sample the model never saw: the exact W_2 (POT,
ground cost (Delta R / 0.8)^2, square root of the cost) against the Euclidean distance of the
shipped model's embeddings (ONNX Runtime, one thread): Pearson and Spearman correlation,
relative error, bootstrap errors on the correlations; exact pairs/s and embedded jets/s.
Results: benchmarks/results/linear_ot.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import record
from jetclr_coffea.training.data import load_jets
from jetclr_coffea.training.linear_ot import distance_accuracy
from jetclr_coffea.training.ot_medoids import jet_clouds

from jetclr_coffea.inference import OnnxJetModel
from jetclr_coffea.ot import emd_exact


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--files", nargs="+", required=True)
    parser.add_argument("--pairs", type=int, default=1000)
    args = parser.parse_args()
    model = OnnxJetModel(args.model, threads=1)
    x, w = jet_clouds(load_jets(args.files, model.spec, pt_min=550.0, pt_max=650.0, eta_max=2.0).arrays)
    n = min(args.pairs, len(x) // 2)
    t0 = time.perf_counter()
    exact = np.array([np.sqrt(emd_exact(x[i], w[i], x[n + i], w[n + i], 2.0)) for i in range(n)])
    t_exact = time.perf_counter() - t0
    model.run_arrays(x[:8].astype(np.float32), w[:8].astype(np.float32))  # builds the session
    t0 = time.perf_counter()
    e = model.run_arrays(x[:2 * n].astype(np.float32), w[:2 * n].astype(np.float32))["embedding"]
    lot = np.sqrt(((e[:n] - e[n:]) ** 2).sum(1)).astype(np.float64)
    t_lot = time.perf_counter() - t0
    rng = np.random.default_rng(1)
    boot = [distance_accuracy(lot[b], exact[b]) for b in (rng.integers(0, n, n) for _ in range(200))]
    results: dict[str, Any] = {"model": args.model, "files": args.files, **distance_accuracy(lot, exact),
                               "pearson_err": float(np.std([b["pearson"] for b in boot])),
                               "spearman_err": float(np.std([b["spearman"] for b in boot])),
                               "exact_pairs_per_s": n / t_exact, "embedding_jets_per_s": 2 * n / t_lot}
    print(f"{n} held-out QCD pairs: Pearson {results['pearson']:.4f} +- {results['pearson_err']:.4f}, "
          f"Spearman {results['spearman']:.4f} +- {results['spearman_err']:.4f}, relative error "
          f"{100 * results['rel_error_mean']:.1f} % mean, {100 * results['rel_error_q95']:.1f} % q95; "
          f"exact {results['exact_pairs_per_s']:.0f} pairs/s; "
          f"embedding {results['embedding_jets_per_s']:.0f} jets/s "
          "(then any pair is one vector difference)")
    record("linear_ot", results)


if __name__ == "__main__":
    main()
