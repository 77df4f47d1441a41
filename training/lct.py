"""The jets an evaluation labels, and the fits and baselines on them.

The linear classifier test (LCT): a logistic regression on the standardised embedding of
signal and background jets (train/test split, seeded), and on the same jets' NanoAOD
observables (msoftdrop, tau21, tau32, n2b1, n3b1) as the baseline; a gradient-boosted
classifier on the same observables (the analyst's BDT); each observable alone and the
anomaly score with no fit.  :mod:`.evaluate` assembles the report from these.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from jetclr_coffea._io import JsonDict
from jetclr_coffea.errors import JetCLRError, ParameterError
from jetclr_coffea.inference import OnnxJetModel
from jetclr_coffea.metrics import Weights, area, bootstrap, r_at, roc
from jetclr_coffea.truth import QCD, SIGNAL_LABELS

from .data import HANDCRAFTED, JetSample, load_jets

__all__ = [
    "BOOTSTRAP", "SPLITS", "LCTResult", "LabelledJets", "LinearClassifier", "RocCurve", "anomaly_metrics",
    "fit_linear_classifier", "labelled_jets", "lct_metrics", "linear_classifier_test", "model_scores",
    "observables_bdt", "run_model", "score_roc", "select_label", "single_observables", "split_spread",
    "split_weights",
]

F64 = npt.NDArray[np.float64]


@dataclass
class RocCurve:
    """ROC of a score that needs no fit."""

    auc: float
    r50: float
    r20: float
    fpr: F64
    tpr: F64

def score_roc(signal: F64, background: F64) -> RocCurve:
    """ROC of ``signal`` against ``background`` scores (larger: more signal-like): the one
    ROC of :mod:`jetclr_coffea.metrics`."""
    fpr, tpr = roc(signal, background)
    return RocCurve(auc=area(fpr, tpr), r50=r_at(fpr, tpr, 0.5), r20=r_at(fpr, tpr, 0.2), fpr=fpr, tpr=tpr)

@dataclass(frozen=True)
class LinearClassifier:
    """A logistic regression on standardised features: ``weight . (x - mean) / scale + bias``."""

    weight: F64
    bias: float
    mean: F64
    scale: F64

    def decision(self, features: F64) -> F64:
        """The classifier's logit for ``features`` (monotonic in its probability)."""
        return np.asarray(((features - self.mean) / self.scale) @ self.weight + self.bias, dtype=np.float64)

def fit_linear_classifier(features: F64, labels: npt.NDArray[np.int64],
                          sample_weight: F64 | None = None) -> LinearClassifier:
    """The LCT's classifier fitted on ``features``: standardised on them (a constant feature
    keeps scale 1), L2-regularised logistic regression with C = 1."""
    from sklearn.linear_model import LogisticRegression

    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    clf = LogisticRegression(max_iter=5000, C=1.0)
    clf.fit((features - mean) / scale, labels, sample_weight=sample_weight)
    return LinearClassifier(weight=clf.coef_[0].astype(np.float64), bias=float(clf.intercept_[0]),
                            mean=mean, scale=scale)

@dataclass
class LCTResult:
    """Metrics of one linear classifier test, and its classifier (to reuse it)."""

    auc: float
    r50: float
    fpr: F64
    tpr: F64
    classifier: LinearClassifier
    test_scores: F64 = field(default_factory=lambda: np.zeros(0))
    test_labels: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    test_index: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))

    def decision(self, features: F64) -> F64:
        """The classifier's logit for ``features`` (monotonic in its probability)."""
        return self.classifier.decision(features)

def linear_classifier_test(
    features: F64, labels: npt.NDArray[np.int64], *, test_fraction: float = 0.5, seed: int = 1,
    sample_weight: F64 | None = None,
) -> LCTResult:
    """Logistic regression on standardised ``features``; metrics on the held-out part.

    ``sample_weight`` weights the jets in the fit only (e.g. :func:`mass_matching_weights`);
    the metrics count every held-out jet once.
    """
    from sklearn.metrics import roc_auc_score, roc_curve
    from sklearn.model_selection import train_test_split

    weights = np.ones(len(labels)) if sample_weight is None else sample_weight
    x_train, x_test, y_train, y_test, w_train, _, _, i_test = train_test_split(
        features, labels, weights, np.arange(len(labels)), test_size=test_fraction, random_state=seed,
        stratify=labels,
    )
    clf = fit_linear_classifier(x_train, y_train, w_train)
    score = clf.decision(x_test)
    fpr, tpr, _ = roc_curve(y_test, score)
    return LCTResult(
        auc=float(roc_auc_score(y_test, score)), r50=r_at(fpr, tpr), fpr=fpr, tpr=tpr,
        classifier=clf,
        test_scores=score, test_labels=np.asarray(y_test), test_index=np.asarray(i_test, np.int64),
    )

def select_label(sample: JetSample, label: int | None) -> npt.NDArray[np.bool_]:
    if label is None:
        return np.ones(len(sample), dtype=bool)
    if (sample.labels < 0).all():
        raise ParameterError("signal_label",
                             "must be any: the files have no GenPart collection, so no truth labels")
    return np.asarray(sample.labels == label)

def single_observables(obs: F64, labels: npt.NDArray[np.int64]) -> dict[str, JsonDict]:
    """ROC of each hand-engineered observable alone (no fit), its direction picked with the
    labels: an optimistic yardstick for a score that needs no labels."""
    out: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(HANDCRAFTED):
        ok = np.isfinite(obs[:, i])
        x, y = obs[ok, i], labels[ok]
        side = "high" if score_roc(x[y == 1], x[y == 0]).auc >= 0.5 else "low"
        sign = 1.0 if side == "high" else -1.0
        out[name] = {**bootstrap(sign * x[y == 1], sign * x[y == 0], BOOTSTRAP), "signal_is": side}
    return out

@dataclass
class LabelledJets:
    """Selected signal and background jets: model outputs, observables, labels (signal first)."""

    outputs: dict[str, F64]
    observables: F64
    labels: npt.NDArray[np.int64]
    pt: F64
    weight: F64  # genWeight-based, each class normalised to mean 1 (all 1 if unweighted)
    weighted: bool

def labelled_jets(model: OnnxJetModel, signal: list[str], background: list[str],
                   selection: tuple[float, float, float], max_jets: int, signal_label: str,
                   say: Callable[[str], None]) -> LabelledJets:
    """Read, label and run the model on the signal and background jets of the files."""
    lo, hi, eta = selection
    say(f"reading signal jets from {len(signal)} file(s)")
    sig = load_jets(signal, model.spec, pt_min=lo, pt_max=hi, eta_max=eta, max_jets=max_jets)
    say(f"reading background jets from {len(background)} file(s)")
    bkg = load_jets(background, model.spec, pt_min=lo, pt_max=hi, eta_max=eta, max_jets=max_jets)
    s_sel = select_label(sig, SIGNAL_LABELS[signal_label])
    b_sel = select_label(bkg, QCD) if (bkg.labels >= 0).any() else np.ones(len(bkg), dtype=bool)
    if s_sel.sum() < 10 or b_sel.sum() < 10:
        raise JetCLRError(f"too few jets for the LCT: {s_sel.sum()} signal, {b_sel.sum()} background")

    say(f"running {Path(model.path).name} on {s_sel.sum()} signal and {b_sel.sum()} background jets")
    s_out, b_out = run_model(model, sig, s_sel), run_model(model, bkg, b_sel)
    ws, wb = sig.weight[s_sel], bkg.weight[b_sel]
    for w, name in ((ws, "signal"), (wb, "background")):
        if w.sum() <= 0:
            raise JetCLRError(f"the {name} jets' genWeight sum to {w.sum():g}: nothing to weight with")
    return LabelledJets(
        outputs={k: np.concatenate([s_out[k], b_out[k]]) for k in s_out},
        observables=np.concatenate([sig.observables[s_sel], bkg.observables[b_sel]]),
        labels=np.concatenate([np.ones(s_sel.sum(), np.int64), np.zeros(b_sel.sum(), np.int64)]),
        pt=np.concatenate([sig.pt[s_sel], bkg.pt[b_sel]]),
        weight=np.concatenate([ws / ws.mean(), wb / wb.mean()]),
        weighted=bool(sig.weighted or bkg.weighted),
    )

#: Bootstrap resamples behind every uncertainty.
BOOTSTRAP = 200

def split_weights(w: F64 | None, rows: npt.NDArray[np.int64], y: npt.NDArray[np.int64]) -> Weights:
    """The weights of the jets ``rows`` (labels ``y``) as (signal, background), or None."""
    return None if w is None else (w[rows][y == 1], w[rows][y == 0])

def lct_metrics(res: LCTResult, other: LCTResult | None = None, w: F64 | None = None) -> dict[str, float]:
    """AUC, R50, R20 of an LCT on its test jets with bootstrap errors; with ``other`` (fitted
    on the same split) also the differences ``d_*`` and their errors, from the same resamples.
    ``w``: per-jet weights of all selected jets (None: unweighted)."""
    y, s = res.test_labels, res.test_scores
    paired = None if other is None else (other.test_scores[other.test_labels == 1],
                                          other.test_scores[other.test_labels == 0])
    return bootstrap(s[y == 1], s[y == 0], BOOTSTRAP, paired=paired,
                     weights=split_weights(w, res.test_index, y))

#: Other train/test splits an LCT is refitted on, for the spread the split adds.
SPLITS = 4

def split_spread(features: F64, y: npt.NDArray[np.int64], test_fraction: float, seed: int,
                  weights: F64 | None) -> dict[str, float]:
    """``auc_split_err`` and ``r50_split_err``: the standard deviation of the LCT's metrics over
    the fit on the default split and on :data:`SPLITS` other seeded splits."""
    fits = [linear_classifier_test(features, y, test_fraction=test_fraction, seed=seed + k,
                                   sample_weight=weights) for k in range(SPLITS + 1)]
    r50 = [f.r50 for f in fits if np.isfinite(f.r50)]
    return {"auc_split_err": float(np.std([f.auc for f in fits], ddof=1)),
            "r50_split_err": float(np.std(r50, ddof=1)) if len(r50) > 1 else float("nan")}

def anomaly_metrics(outputs: dict[str, F64], y: npt.NDArray[np.int64], w: F64 | None = None
                   ) -> tuple[F64, JsonDict]:
    """The anomaly score: the model's ``anomaly_score`` output where it has one, else DarkCLR's
    ||embedding|| computed here (to compare encoders trained without the AnomalyCLR term);
    its ROC with no fit, with bootstrap errors."""
    has_score = "anomaly_score" in outputs
    score = outputs["anomaly_score"] if has_score else np.linalg.norm(outputs["embedding"], axis=1)
    weights = None if w is None else (w[y == 1], w[y == 0])
    return score, {**bootstrap(score[y == 1], score[y == 0], BOOTSTRAP, weights=weights),
                   "jets": "all selected (no fit)",
                   "score": "anomaly_score output" if has_score else "norm of the embedding"}

def observables_bdt(obs: F64, y: npt.NDArray[np.int64], base: LCTResult, seed: int,
                     weights: F64 | None, w: F64 | None = None) -> tuple[JsonDict, F64]:
    """A gradient-boosted classifier on the five observables, fitted on the LCT's training
    jets, its metrics on the LCT's test jets (with errors and the difference to the
    observables' LCT): the best an analyst gets from NanoAOD alone.  Returns the metrics and
    the classifier's scores on the test jets; ``w``: the metrics' per-jet weights."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    test = np.zeros(len(y), dtype=bool)
    test[base.test_index] = True
    clf = HistGradientBoostingClassifier(max_iter=300, learning_rate=0.1, random_state=seed)
    clf.fit(obs[~test], y[~test], sample_weight=None if weights is None else weights[~test])
    s = np.asarray(clf.decision_function(obs[base.test_index]), np.float64)
    yt = y[base.test_index]
    ref = (base.test_scores[yt == 1], base.test_scores[yt == 0])
    return {"features": list(HANDCRAFTED),
            "classifier": "sklearn HistGradientBoostingClassifier(max_iter=300)",
            "jets": "the LCT's test jets; d_*: minus the observables' LCT",
            **bootstrap(s[yt == 1], s[yt == 0], BOOTSTRAP, paired=ref,
                        weights=split_weights(w, base.test_index, yt))}, s

def model_scores(outputs: dict[str, F64], scores: tuple[str, ...], base: LCTResult,
                  w: F64 | None = None, bdt: F64 | None = None) -> JsonDict:
    """Every score the model exports (but the anomaly score, which has its own section), with no
    fit, on the LCT's test jets: a supervised or decorrelated tagger against the observables'
    LCT on the same jets (``d_*``), and against their BDT (``vs_bdt``: its ``d_*``, given
    ``bdt``, the BDT's scores on the test jets)."""
    te, yt = base.test_index, base.test_labels
    ref = (base.test_scores[yt == 1], base.test_scores[yt == 0])
    weights = split_weights(w, te, yt)
    out: dict[str, Any] = {}
    for name in (s for s in scores if s != "anomaly_score"):
        sig, bkg = outputs[name][te][yt == 1], outputs[name][te][yt == 0]
        out[name] = bootstrap(sig, bkg, BOOTSTRAP, paired=ref, weights=weights)
        if bdt is not None:
            paired = bootstrap(sig, bkg, BOOTSTRAP, paired=(bdt[yt == 1], bdt[yt == 0]), weights=weights)
            out[name]["vs_bdt"] = {k: v for k, v in paired.items() if k.startswith("d_")}
    return out

def run_model(model: OnnxJetModel, sample: JetSample, sel: npt.NDArray[np.bool_]) -> dict[str, F64]:
    """The model's outputs on the jets ``sel`` of ``sample`` (with their jet features, where
    the model takes some)."""
    x, mask = model.inputs_from_arrays(sample.arrays)
    jet = model.jet_inputs({k: v[sel] for k, v in sample.jet_fields.items()})
    return {k: np.asarray(v, dtype=np.float64) for k, v in model.run_arrays(x[sel], mask[sel], jet).items()}
