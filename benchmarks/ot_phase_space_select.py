"""How the OT anomaly model's medoids could follow pT: variants on validation jets (exact W_p).

    python benchmarks/ot_phase_space_select.py [--val-jets 150] [--jets 600]

Medoids (FasterPAM on the exact W_p matrix, as `jetclr-coffea ot-medoids`) from the broad-pT
mu = 40 QCD training file of seed 8101; every variant scored on the same validation jets, top
(seed 8201) and QCD (seed 8102) from the training files' other events, per pT bin of
300/450/600/800/1000/1500 GeV (the held-out samples are not read):

* ``window``: 8 medoids of 550-650 GeV jets (the shipped model's window);
* ``broad``: 8 medoids of 300-1500 GeV jets; ``broad_k16``: 16; ``broad_p05``: W_1/2;
* ``broad_scaled``: positions scaled by pT / 600 GeV (a boost to the window), medoids likewise;
* ``per_bin``: 8 medoids per pT bin, each jet scored against its own bin's.

AUC per bin with bootstrap errors; recorded in benchmarks/results/ot_phase_space_selection.json.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import record
from jetclr_coffea.training.data import JetSample, load_jets
from jetclr_coffea.training.ot_medoids import OTMedoidConfig, choose_medoids, jet_clouds

from jetclr_coffea.metrics import bootstrap
from jetclr_coffea.ot import emd_matrix
from jetclr_coffea.truth import QCD, TOP

BINS = (300.0, 450.0, 600.0, 800.0, 1000.0, 1500.0)
F64 = npt.NDArray[np.float64]
Idx = npt.NDArray[np.int64]


def clouds(s: JetSample, scale: bool) -> tuple[F64, F64]:
    x, w = jet_clouds(s.arrays)
    return (x * (s.pt / 600.0)[:, None, None] if scale else x), w


def per_bin(s: JetSample, label: int, n: int, rng: np.random.Generator) -> list[Idx]:
    return [rng.permutation(np.flatnonzero((s.labels == label) & (s.pt >= lo) & (s.pt < hi)))[:n]
            for lo, hi in itertools.pairwise(BINS)]


def medoids(train: JetSample, idx: Idx, k: int, p: float, scale: bool) -> tuple[F64, F64]:
    x, w = clouds(train, scale)
    m = choose_medoids(emd_matrix(x[idx], w[idx], p), k, 1)
    return x[idx][m], w[idx][m]


def scores(val: tuple[JetSample, JetSample], idx: tuple[list[Idx], list[Idx]], meds: list[tuple[F64, F64]],
           p: float, scale: bool) -> list[dict[str, float]]:
    out = []
    (top, qcd), (ti, qi) = val, idx
    (xt, wt), (xq, wq) = clouds(top, scale), clouds(qcd, scale)
    for b, (mx, mw) in enumerate(meds):
        s = emd_matrix(xt[ti[b]], wt[ti[b]], p, others=(mx, mw)).min(1)
        q = emd_matrix(xq[qi[b]], wq[qi[b]], p, others=(mx, mw)).min(1)
        m = bootstrap(s, q, 100)
        out.append({"pt_min": BINS[b], "auc": m["auc"], "auc_err": m["auc_err"]})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--val-jets", type=int, default=150, help="per class and pT bin")
    parser.add_argument("--jets", type=int, default=600, help="QCD jets the medoids are chosen among")
    args = parser.parse_args()
    spec, sel = OTMedoidConfig(files=("-",)).spec, {"pt_min": 300.0, "pt_max": 1500.0, "eta_max": 2.0}
    train = load_jets(["data/retrain/qcd_mu40_8101.root"], spec, **sel)
    val = (load_jets(["data/retrain/top_mu40_8201.root"], spec, **sel),
           load_jets(["data/retrain/qcd_mu40_8102.root"], spec, **sel))
    rng = np.random.default_rng(1)
    idx = (per_bin(val[0], TOP, args.val_jets, rng), per_bin(val[1], QCD, args.val_jets, rng))
    broad = rng.permutation(len(train.pt))[:args.jets]
    window = rng.permutation(np.flatnonzero((train.pt > 550) & (train.pt < 650)))[:args.jets]
    bins = [b[:args.jets // 3] for b in per_bin(train, QCD, len(train.pt), rng)]
    variants = {"window": (window, 8, 1.0, False), "broad": (broad, 8, 1.0, False),
                "broad_scaled": (broad, 8, 1.0, True), "broad_p05": (broad, 8, 0.5, False),
                "broad_k16": (broad, 16, 1.0, False)}
    results: dict[str, Any] = {}
    for name, (pick, k, p, scale) in variants.items():
        results[name] = scores(val, idx, [medoids(train, pick, k, p, scale)] * 5, p, scale)
        print(name, " ".join(f"{r['auc']:.3f}+-{r['auc_err']:.3f}" for r in results[name]), flush=True)
    results["per_bin"] = scores(val, idx, [medoids(train, b, 8, 1.0, False) for b in bins], 1.0, False)
    print("per_bin", " ".join(f"{r['auc']:.3f}+-{r['auc_err']:.3f}" for r in results["per_bin"]))
    print(f"recorded {record('ot_phase_space_selection', results)}")


if __name__ == "__main__":
    main()
