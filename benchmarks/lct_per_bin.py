"""The linear classifier test fitted per pT bin, beside the one fitted over the whole window.

``evaluate --pt-bins`` fits each LCT (the representation's, the observables') once over the
window and measures it per bin.  A single hyperplane over 300-1 500 GeV is a handicap for a
representation of angles and pT fractions, which sees a top quark's prongs close up with pT
while msoftdrop stays at the top mass.  This refits both LCTs on each bin's training jets
(the same split, seed and weights as ``evaluate``) and gives both readings with paired
bootstrap errors, so neither is chosen after the fact.

Usage: python benchmarks/lct_per_bin.py ENCODER.onnx --signal TOP.root... --background QCD.root...
       [--record NAME]
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
from jetclr_coffea.training.lct import fit_linear_classifier, labelled_jets, linear_classifier_test

from jetclr_coffea.metrics import bootstrap

F64 = npt.NDArray[np.float64]
PT_BINS = (300.0, 450.0, 600.0, 800.0, 1000.0, 1500.0)


def per_bin_decisions(features: F64, y: npt.NDArray[np.int64], w: F64, test: npt.NDArray[np.bool_],
                      bins: list[npt.NDArray[np.bool_]]) -> F64:
    """The LCT's logits of every jet in the bins, its classifier fitted
    (:func:`fit_linear_classifier`, weights ``w``) on each bin's training (non-``test``) jets."""
    out = np.full(len(y), np.nan)
    for b in bins:
        fit = b & ~test
        out[b] = fit_linear_classifier(features[fit], y[fit], w[fit]).decision(features[b])
    return out


def compare(jets: Any, seed: int = 1) -> list[dict[str, Any]]:
    """Per bin: the representation's and the observables' LCT, fitted over the window (as
    ``evaluate``) and per bin, on the same test jets; differences paired."""
    y, w = jets.labels, jets.weight
    feats = {"representation": jets.outputs["embedding"], "observables": jets.observables}
    bins = [(jets.pt >= lo) & (jets.pt < hi) for lo, hi in itertools.pairwise(PT_BINS)]
    logit: dict[tuple[str, str], F64] = {}
    for f, x in feats.items():  # the split depends on the labels and the seed only: one test set
        window = linear_classifier_test(x, y, test_fraction=0.5, seed=seed, sample_weight=w)
        test = np.zeros(len(y), bool)
        test[window.test_index] = True
        logit[(f, "window")] = np.full(len(y), np.nan)
        logit[(f, "window")][window.test_index] = window.test_scores
        logit[(f, "per_bin")] = per_bin_decisions(x, y, w, test, bins)
    rows = []
    for (lo, hi), b in zip(itertools.pairwise(PT_BINS), bins, strict=True):
        t = b & test
        s, q = t & (y == 1), t & (y == 0)
        row: dict[str, Any] = {"pt_min": lo, "pt_max": hi, "n_signal": int(s.sum()),
                               "n_background": int(q.sum())}
        for mode in ("window", "per_bin"):
            rep, obs = logit[("representation", mode)], logit[("observables", mode)]
            m = bootstrap(rep[s], rep[q], 200, paired=(obs[s], obs[q]), weights=(w[s], w[q]))
            o = bootstrap(obs[s], obs[q], 200, weights=(w[s], w[q]))
            row[mode] = {"representation": m["auc"], "representation_err": m["auc_err"],
                         "observables": o["auc"], "observables_err": o["auc_err"],
                         "difference": m["d_auc"], "difference_err": m["d_auc_err"]}
        rows.append(row)
        print(f"{lo:5.0f}-{hi:5.0f} " + "  ".join(
            f"{mode}: rep {row[mode]['representation']:.4f} obs {row[mode]['observables']:.4f} "
            f"diff {row[mode]['difference']:+.4f}±{row[mode]['difference_err']:.4f}"
            for mode in ("window", "per_bin")), flush=True)
    return rows


def main() -> None:
    from jetclr_coffea.inference import OnnxJetModel

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--signal", nargs="+", required=True)
    parser.add_argument("--background", nargs="+", required=True)
    parser.add_argument("--signal-label", default="top")
    parser.add_argument("--record", metavar="NAME", help="write benchmarks/results/NAME.json")
    args = parser.parse_args()
    model = OnnxJetModel(args.model)
    jets = labelled_jets(model, args.signal, args.background, (PT_BINS[0], PT_BINS[-1], 2.0), 0,
                         args.signal_label, lambda text: print(text, flush=True))
    rows = compare(jets)
    if args.record:
        doc = {"model": args.model, "signal": args.signal, "background": args.background, "bins": rows}
        print(f"recorded {record(args.record, doc)}")


if __name__ == "__main__":
    main()
