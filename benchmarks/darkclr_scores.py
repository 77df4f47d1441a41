"""Anomaly scores from one DarkCLR encoder, compared on a validation sample (issue 22).

DarkCLR's score is the norm of the embedding.  This compares it with scores that model the
QCD jets' embeddings instead (fitted on the model's own QCD training jets, no signal):
the Mahalanobis distance to them, the Euclidean distance to their mean, the mean distance to
the k nearest of them, and the distance outside their leading principal components.  Each is
measured per pT bin on semi-visible (dark) jets against QCD jets that no training used, with
bootstrap errors paired against the norm.  Choosing among them here, on a validation sample,
keeps the held-out test sample for the one chosen.

Usage: python benchmarks/darkclr_scores.py MODEL.onnx --fit QCD.root... --signal SVJ.root...
       --background QCD.root... [--record NAME]
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

F64 = npt.NDArray[np.float64]
PT_BINS = (300.0, 450.0, 600.0, 800.0, 1000.0, 1500.0)
#: The pT bins a score is measured in, and the whole window last.
RANGES = (*itertools.pairwise(PT_BINS), (PT_BINS[0], PT_BINS[-1]))
#: The anomalous copies' drop probability: the shipped model's (darkclr_qcd_phase_space.yaml).
DROP_PROB = 0.5


def anomalous_inputs(model: Any, sample: Any, sel: npt.NDArray[np.bool_], prob: float,
                     seed: int) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Model inputs of the jets' anomalous copies: training's own anomaly augmentation
    (:func:`jetclr_coffea.augment.drop_constituents`: every constituent but the hardest
    dropped with probability ``prob``, the jet re-centred), no other augmentation."""
    import torch
    from jetclr_coffea.training.data import batch_inputs, subset, to_batch

    from jetclr_coffea.augment import drop_constituents

    batch = to_batch(subset(sample.arrays, np.flatnonzero(sel)))
    copy = drop_constituents(batch, torch.Generator().manual_seed(seed), prob)
    x, mask = batch_inputs(copy, model.spec.features, model.mask_kind == "pt_fraction")
    return x.numpy().astype(np.float32), mask.numpy().astype(np.float32)


def _sample(model: Any, files: list[str], label: str | None,
            max_jets: int) -> tuple[Any, npt.NDArray[np.bool_]]:
    """The selected jets of ``files`` and which of them to use (``label``: a truth label's
    jets only, e.g. ``dark``; None: all jets)."""
    from jetclr_coffea.training.data import load_jets
    from jetclr_coffea.training.lct import select_label

    from jetclr_coffea.truth import SIGNAL_LABELS

    sample = load_jets(files, model.spec, pt_min=PT_BINS[0], pt_max=PT_BINS[-1], eta_max=2.0,
                       max_jets=max_jets)
    sel = np.ones(len(sample), bool) if label is None else select_label(sample, SIGNAL_LABELS[label])
    return sample, sel


def embeddings(model: Any, files: list[str], label: str | None, max_jets: int) -> tuple[F64, F64, F64]:
    """(embedding, pT, weight) of the jets of ``files`` (``label`` as in :func:`_sample`)."""
    from jetclr_coffea.training.lct import run_model

    sample, sel = _sample(model, files, label, max_jets)
    return run_model(model, sample, sel)["embedding"], sample.pt[sel], sample.weight[sel]


def fit_embeddings(model: Any, files: list[str], max_jets: int) -> tuple[F64, F64]:
    """The embeddings of the QCD jets of ``files`` and of their anomalous copies (one read)."""
    from jetclr_coffea.training.lct import run_model

    sample, sel = _sample(model, files, None, max_jets)
    xa, ma = anomalous_inputs(model, sample, sel, DROP_PROB, seed=1)
    anom = np.asarray(model.run_arrays(xa, ma, None)["embedding"], np.float64)
    return run_model(model, sample, sel)["embedding"], anom


def fitted_scores(fit: F64, anom: F64, k: int = 16, n_pc: int = 32) -> dict[str, Any]:
    """Score functions (embedding (N, D) -> (N,)) fitted on the QCD embeddings ``fit`` (and
    ``anom``, those of their anomalous copies)."""
    def shrunk(c: F64) -> F64:  # shrinkage towards the mean variance: a stable inverse
        return c + 1e-3 * np.trace(c) / len(c) * np.eye(len(c))

    mean = fit.mean(axis=0)
    cov_fit = np.cov(fit, rowvar=False)
    pooled = shrunk((cov_fit + np.cov(anom, rowvar=False)) / 2)
    lda = np.linalg.solve(pooled, anom.mean(axis=0) - mean)  # Fisher's direction QCD -> anomalous
    cov = shrunk(cov_fit)
    prec = np.linalg.inv(cov)
    _, vecs = np.linalg.eigh(cov)
    lead = vecs[:, -n_pc:]  # (D, n_pc) leading principal directions
    ref = fit[:: max(1, len(fit) // 8000)]

    def knn(e: F64) -> F64:
        out = np.empty(len(e))
        for s in range(0, len(e), 2048):
            b = e[s:s + 2048]
            d2 = np.clip((b**2).sum(1)[:, None] + (ref**2).sum(1)[None] - 2 * b @ ref.T, 0.0, None)
            out[s:s + 2048] = np.sqrt(np.sort(d2, axis=1)[:, :k]).mean(axis=1)
        return out

    def resid(e: F64) -> F64:
        c = e - mean
        return np.linalg.norm(c - (c @ lead) @ lead.T, axis=1)

    return {
        "norm": lambda e: np.linalg.norm(e, axis=1),
        "lda_to_anomalous_copies": lambda e: e @ lda,
        "mean_shift_direction": lambda e: e @ (anom.mean(axis=0) - mean),
        "mahalanobis": lambda e: np.sqrt(np.einsum("nd,de,ne->n", e - mean, prec, e - mean)),
        "distance_to_mean": lambda e: np.linalg.norm(e - mean, axis=1),
        f"knn{k}": knn,
        f"pca{n_pc}_residual": resid,
    }


Jets = tuple[F64, F64, F64]  # embedding, pT, weight


def per_bin(name: str, score: Any, sig: Jets, bkg: Jets) -> list[dict[str, float]]:
    """AUC per pT bin (and over all) of ``score``, paired with the norm."""
    from jetclr_coffea.metrics import bootstrap

    ss, sb = score(sig[0]), score(bkg[0])
    ns, nb = np.linalg.norm(sig[0], axis=1), np.linalg.norm(bkg[0], axis=1)
    rows = []
    for lo, hi in RANGES:
        i, j = (sig[1] >= lo) & (sig[1] < hi), (bkg[1] >= lo) & (bkg[1] < hi)
        m = bootstrap(ss[i], sb[j], n=100, paired=(ns[i], nb[j]), weights=(sig[2][i], bkg[2][j]))
        rows.append({"pt_min": lo, "pt_max": hi, "n_signal": int(i.sum()), "n_background": int(j.sum()),
                     **{k: m[k] for k in ("auc", "auc_err", "d_auc", "d_auc_err")}})
    return rows


def model_scores(path: str, args: argparse.Namespace) -> dict[str, list[dict[str, float]]]:
    """Per-bin AUCs of the norm of the model at ``path`` (and, with ``args.fit``, of the
    fitted scores), printed as they come."""
    from jetclr_coffea.inference import OnnxJetModel

    model = OnnxJetModel(path)
    sig = embeddings(model, args.signal, "dark", args.max_jets)
    bkg = embeddings(model, args.background, None, args.max_jets)
    print(f"{path}: {len(sig[0])} dark and {len(bkg[0])} QCD jets")
    scores = {"norm": lambda e: np.linalg.norm(e, axis=1)}
    if args.fit:
        fit, anom = fit_embeddings(model, args.fit, args.max_jets)
        print(f"  scores fitted on {len(fit)} QCD jets and their anomalous copies")
        scores = fitted_scores(fit, anom)
    results = {}
    for name, score in scores.items():
        results[name] = per_bin(name, score, sig, bkg)
        cells = " ".join(f"{r['auc']:.3f}±{r['auc_err']:.3f} ({r['d_auc']:+.3f}±{r['d_auc_err']:.3f})"
                         for r in results[name])
        print(f"  {name:24s} {cells}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="ONNX files (the fitted scores: of each)")
    parser.add_argument("--fit", nargs="+",
                        help="QCD files the fitted scores are fitted on (none: the norm only)")
    parser.add_argument("--signal", nargs="+", required=True)
    parser.add_argument("--background", nargs="+", required=True)
    parser.add_argument("--max-jets", type=int, default=30000)
    parser.add_argument("--record", metavar="NAME", help="write benchmarks/results/NAME.json")
    args = parser.parse_args()
    bins = ", ".join(f"{lo:g}-{hi:g}" for lo, hi in RANGES)
    print(f"AUC ± error (minus the norm's, paired) per pT bin: {bins} GeV")
    results = {path: model_scores(path, args) for path in args.models}
    if args.record:
        doc = {"signal": args.signal, "background": args.background, "fit": args.fit, "models": results}
        print(f"recorded {record(args.record, doc)}")


if __name__ == "__main__":
    main()
