"""Choose the OT anomaly model's settings on a validation sample (exact W_p, no ONNX).

    python benchmarks/ot_select.py --train data/qcd_train.root \\
        --val-signal data/top_val.root --val-background data/qcd_val.root

For p in {1, 1/2} and K medoids in --ks: the medoids of --jets QCD training jets (FasterPAM
on the exact W_p matrix, as `jetclr-coffea ot-medoids` does), and the exact W_p of every
validation jet (top-labelled signal, QCD background, 550 < pT < 650 GeV) to its nearest
medoid; the AUC and R20 of that score with bootstrap errors.  The held-out test samples are
not read.  Results: benchmarks/results/ot_selection.json; the best AUC is printed last.
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
from jetclr_coffea.training.ot_medoids import OTMedoidConfig, choose_medoids, jet_clouds

from jetclr_coffea.metrics import bootstrap
from jetclr_coffea.ot import emd_matrix
from jetclr_coffea.truth import QCD, TOP


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", nargs="+", required=True)
    parser.add_argument("--val-signal", nargs="+", required=True)
    parser.add_argument("--val-background", nargs="+", required=True)
    parser.add_argument("--jets", type=int, default=1000)
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 4, 8],
                        help="medoid counts tried (the graph solves K Sinkhorn problems a jet: "
                             "K <= 8 keeps it near 90 jets/s on a core)")
    parser.add_argument("--val-jets", type=int, default=1500, help="per class")
    args = parser.parse_args()
    base = OTMedoidConfig(files=tuple(args.train), n_jets=args.jets)
    sel = {"pt_min": base.pt_min, "pt_max": base.pt_max, "eta_max": base.eta_max}
    train = load_jets(args.train, base.spec, **sel)
    x, w = jet_clouds(train.arrays)
    pick = np.random.default_rng(base.seed).permutation(len(x))[:args.jets]
    xt, wt = x[pick], w[pick]
    sig = load_jets(args.val_signal, base.spec, **sel)
    bkg = load_jets(args.val_background, base.spec, **sel)
    xs, ws = jet_clouds(sig.arrays)
    xb, wb = jet_clouds(bkg.arrays)
    s_idx = np.flatnonzero(sig.labels == TOP)[:args.val_jets]
    b_idx = np.flatnonzero(bkg.labels == QCD)[:args.val_jets]
    results: dict[str, Any] = {"train_jets": args.jets, "val_signal_jets": len(s_idx),
                               "val_background_jets": len(b_idx), "settings": []}
    for p in (1.0, 0.5):
        t0 = time.perf_counter()
        dist = emd_matrix(xt, wt, p)
        print(f"W_{p:g} matrix of {args.jets} jets: {time.perf_counter() - t0:.0f} s", flush=True)
        for k in args.ks:
            medoids = choose_medoids(dist, k, base.seed)
            others = (xt[medoids], wt[medoids])
            score_s = emd_matrix(xs[s_idx], ws[s_idx], p, others=others).min(axis=1)
            score_b = emd_matrix(xb[b_idx], wb[b_idx], p, others=others).min(axis=1)
            m = bootstrap(score_s, score_b, 200)
            row = {"p": p, "k": k, **{key: m[key] for key in ("auc", "auc_err", "r20", "r20_err", "r50",
                                                              "r50_err")}}
            results["settings"].append(row)
            print(f"p {p:g} K {k:2d}: AUC {m['auc']:.4f} +- {m['auc_err']:.4f}  R20 {m['r20']:.1f} "
                  f"+- {m['r20_err']:.1f}", flush=True)
    best = max(results["settings"], key=lambda r: r["auc"])
    results["best"] = best
    path = record("ot_selection", results)
    print(f"best: p {best['p']:g} K {best['k']} (AUC {best['auc']:.4f}); recorded {path}")


if __name__ == "__main__":
    main()
