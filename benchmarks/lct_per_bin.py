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
from jetclr_coffea.training.lct import labelled_jets, linear_classifier_test

from jetclr_coffea.metrics import bootstrap

F64 = npt.NDArray[np.float64]
PT_BINS = (300.0, 450.0, 600.0, 800.0, 1000.0, 1500.0)


def fit_decisions(features: F64, y: npt.NDArray[np.int64], w: F64, train: npt.NDArray[np.bool_],
                  groups: list[npt.NDArray[np.bool_]]) -> F64:
    """Logistic-regression logits of every jet, fitted (standardised, C = 1, weights ``w``) on
    the ``train`` jets of each group separately."""
    from sklearn.linear_model import LogisticRegression

    out = np.full(len(y), np.nan)
    for g in groups:
        fit = g & train
        mean, scale = features[fit].mean(0), features[fit].std(0)
        scale = np.where(scale > 0, scale, 1.0)
        clf = LogisticRegression(max_iter=5000, C=1.0).fit((features[fit] - mean) / scale, y[fit],
                                                           sample_weight=w[fit])
        out[g] = clf.decision_function((features[g] - mean) / scale)
    return out


def compare(jets: Any, seed: int = 1) -> list[dict[str, Any]]:
    """Per bin: the representation's and the observables' LCT, fitted over the window and per
    bin, on the same test jets; differences paired."""
    y, w = jets.labels, jets.weight
    split = linear_classifier_test(jets.observables, y, test_fraction=0.5, seed=seed, sample_weight=w)
    test = np.zeros(len(y), bool)
    test[split.test_index] = True
    bins = [(jets.pt >= lo) & (jets.pt < hi) for lo, hi in itertools.pairwise(PT_BINS)]
    window = [np.ones(len(y), bool)]
    feats = {"representation": jets.outputs["embedding"], "observables": jets.observables}
    logit = {(f, mode): fit_decisions(x, y, w, ~test, window if mode == "window" else bins)
             for f, x in feats.items() for mode in ("window", "per_bin")}
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
