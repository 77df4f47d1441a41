"""``jetclr-coffea evaluate``: the linear classifier test (LCT) of a frozen representation.

A logistic regression is trained on the standardised embedding of signal and background
jets (train/test split, seeded), and on the same jets' hand-engineered NanoAOD observables
(msoftdrop, tau21, tau32, n2b1, n3b1) as the baseline.  Reported on the test half: the
ROC AUC and R50, the inverse background efficiency at 50% signal efficiency.

DarkCLR's anomaly score, the norm of the embedding (the ``anomaly_score`` output of an
``objective: anomalyclr`` model; computed from the embedding for other models, for
comparison), is evaluated too, unsupervised (no fit: every selected jet counts): its AUC,
R50 and R20 (at 20% signal efficiency, the working point DarkCLR quotes), next to each
hand-engineered observable alone (no fit either, its direction picked with the labels).
For each score, how much a cut at 50% signal efficiency sculpts the QCD msoftdrop
spectrum (:func:`jetclr_coffea.sculpting.mass_sculpting`) is reported too.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from jetclr_coffea._io import atomic_path, strict_json, to_strict
from jetclr_coffea.errors import JetCLRError, ParameterError
from jetclr_coffea.inference import OnnxJetModel
from jetclr_coffea.metrics import Weights, bootstrap, r_at
from jetclr_coffea.sculpting import mass_matching_weights, mass_sculpting
from jetclr_coffea.truth import QCD, SIGNAL_LABELS

from .data import HANDCRAFTED, JetSample, load_jets
from .pt_bins import BinnedScores, check_edges, plot_pt_bins, pt_bin_metrics

__all__ = [
    "SIGNAL_LABELS", "LCTResult", "RocCurve", "evaluate", "linear_classifier_test", "r_at", "score_roc",
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
    """ROC of ``signal`` against ``background`` scores (larger: more signal-like)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    y = np.concatenate([np.ones(len(signal)), np.zeros(len(background))])
    s = np.concatenate([signal, background])
    fpr, tpr, _ = roc_curve(y, s)
    return RocCurve(auc=float(roc_auc_score(y, s)), r50=r_at(fpr, tpr, 0.5), r20=r_at(fpr, tpr, 0.2),
                    fpr=fpr, tpr=tpr)


@dataclass
class LCTResult:
    """Metrics of one linear classifier test, and what is needed to reuse the classifier."""

    auc: float
    r50: float
    fpr: F64
    tpr: F64
    weight: F64
    bias: float
    mean: F64
    scale: F64
    test_scores: F64 = field(default_factory=lambda: np.zeros(0))
    test_labels: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    test_index: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))

    def decision(self, features: F64) -> F64:
        """The classifier's logit for ``features`` (monotonic in its probability)."""
        return np.asarray(((features - self.mean) / self.scale) @ self.weight + self.bias, dtype=np.float64)


def linear_classifier_test(
    features: F64, labels: npt.NDArray[np.int64], *, test_fraction: float = 0.5, seed: int = 1,
    sample_weight: F64 | None = None,
) -> LCTResult:
    """Logistic regression on standardised ``features``; metrics on the held-out part.

    ``sample_weight`` weights the jets in the fit only (e.g. :func:`mass_matching_weights`);
    the metrics count every held-out jet once.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score, roc_curve
    from sklearn.model_selection import train_test_split

    weights = np.ones(len(labels)) if sample_weight is None else sample_weight
    x_train, x_test, y_train, y_test, w_train, _, _, i_test = train_test_split(
        features, labels, weights, np.arange(len(labels)), test_size=test_fraction, random_state=seed,
        stratify=labels,
    )
    mean = x_train.mean(axis=0)
    scale = x_train.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    clf = LogisticRegression(max_iter=5000, C=1.0)
    clf.fit((x_train - mean) / scale, y_train, sample_weight=w_train)
    score = clf.decision_function((x_test - mean) / scale)
    fpr, tpr, _ = roc_curve(y_test, score)
    return LCTResult(
        auc=float(roc_auc_score(y_test, score)), r50=r_at(fpr, tpr), fpr=fpr, tpr=tpr,
        weight=clf.coef_[0].astype(np.float64), bias=float(clf.intercept_[0]),
        mean=mean, scale=scale, test_scores=np.asarray(score, np.float64), test_labels=np.asarray(y_test),
        test_index=np.asarray(i_test, np.int64),
    )


def _select(sample: JetSample, label: int | None) -> npt.NDArray[np.bool_]:
    if label is None:
        return np.ones(len(sample), dtype=bool)
    if (sample.labels < 0).all():
        raise ParameterError("signal_label",
                             "must be any: the files have no GenPart collection, so no truth labels")
    return np.asarray(sample.labels == label)


def _single_observables(obs: F64, labels: npt.NDArray[np.int64]) -> dict[str, dict[str, Any]]:
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


def _plot_roc(path: Path, curves: dict[str, LCTResult | RocCurve], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep

    plt.style.use(mplhep.style.CMS)
    fig, ax = plt.subplots(figsize=(8, 7))
    for name, res in curves.items():
        ok = res.fpr > 0
        ax.plot(res.tpr[ok], 1.0 / res.fpr[ok], label=f"{name} (AUC {res.auc:.3f}, R50 {res.r50:.0f})")
    ax.set_yscale("log")
    ax.set_xlabel("signal efficiency")
    ax.set_ylabel("1 / background efficiency")
    ax.set_xlim(0, 1)
    ax.legend(fontsize=14)
    ax.set_title(title, fontsize=16)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)


@dataclass
class _Labelled:
    """Selected signal and background jets: model outputs, observables, labels (signal first)."""

    outputs: dict[str, F64]
    observables: F64
    labels: npt.NDArray[np.int64]
    pt: F64
    weight: F64  # genWeight-based, each class normalised to mean 1 (all 1 if unweighted)
    weighted: bool


def _labelled_jets(model: OnnxJetModel, signal: list[str], background: list[str],
                   selection: tuple[float, float, float], max_jets: int, signal_label: str,
                   say: Callable[[str], None]) -> _Labelled:
    """Read, label and run the model on the signal and background jets of the files."""
    lo, hi, eta = selection
    say(f"reading signal jets from {len(signal)} file(s)")
    sig = load_jets(signal, model.spec, pt_min=lo, pt_max=hi, eta_max=eta, max_jets=max_jets)
    say(f"reading background jets from {len(background)} file(s)")
    bkg = load_jets(background, model.spec, pt_min=lo, pt_max=hi, eta_max=eta, max_jets=max_jets)
    s_sel = _select(sig, SIGNAL_LABELS[signal_label])
    b_sel = _select(bkg, QCD) if (bkg.labels >= 0).any() else np.ones(len(bkg), dtype=bool)
    if s_sel.sum() < 10 or b_sel.sum() < 10:
        raise JetCLRError(f"too few jets for the LCT: {s_sel.sum()} signal, {b_sel.sum()} background")

    say(f"running {Path(model.path).name} on {s_sel.sum()} signal and {b_sel.sum()} background jets")
    s_out, b_out = _run(model, sig, s_sel), _run(model, bkg, b_sel)
    ws, wb = sig.weight[s_sel], bkg.weight[b_sel]
    for w, name in ((ws, "signal"), (wb, "background")):
        if w.sum() <= 0:
            raise JetCLRError(f"the {name} jets' genWeight sum to {w.sum():g}: nothing to weight with")
    return _Labelled(
        outputs={k: np.concatenate([s_out[k], b_out[k]]) for k in s_out},
        observables=np.concatenate([sig.observables[s_sel], bkg.observables[b_sel]]),
        labels=np.concatenate([np.ones(s_sel.sum(), np.int64), np.zeros(b_sel.sum(), np.int64)]),
        pt=np.concatenate([sig.pt[s_sel], bkg.pt[b_sel]]),
        weight=np.concatenate([ws / ws.mean(), wb / wb.mean()]),
        weighted=bool(sig.weighted or bkg.weighted),
    )


#: Bootstrap resamples behind every uncertainty.
BOOTSTRAP = 200


def _split_weights(w: F64 | None, rows: npt.NDArray[np.int64], y: npt.NDArray[np.int64]) -> Weights:
    """The weights of the jets ``rows`` (labels ``y``) as (signal, background), or None."""
    return None if w is None else (w[rows][y == 1], w[rows][y == 0])


def _lct_metrics(res: LCTResult, other: LCTResult | None = None, w: F64 | None = None) -> dict[str, float]:
    """AUC, R50, R20 of an LCT on its test jets with bootstrap errors; with ``other`` (fitted
    on the same split) also the differences ``d_*`` and their errors, from the same resamples.
    ``w``: per-jet weights of all selected jets (None: unweighted)."""
    y, s = res.test_labels, res.test_scores
    paired = None if other is None else (other.test_scores[other.test_labels == 1],
                                          other.test_scores[other.test_labels == 0])
    return bootstrap(s[y == 1], s[y == 0], BOOTSTRAP, paired=paired,
                     weights=_split_weights(w, res.test_index, y))


#: Other train/test splits an LCT is refitted on, for the spread the split adds.
SPLITS = 4


def _split_spread(features: F64, y: npt.NDArray[np.int64], test_fraction: float, seed: int,
                  weights: F64 | None) -> dict[str, float]:
    """``auc_split_err`` and ``r50_split_err``: the standard deviation of the LCT's metrics over
    the fit on the default split and on :data:`SPLITS` other seeded splits."""
    fits = [linear_classifier_test(features, y, test_fraction=test_fraction, seed=seed + k,
                                   sample_weight=weights) for k in range(SPLITS + 1)]
    r50 = [f.r50 for f in fits if np.isfinite(f.r50)]
    return {"auc_split_err": float(np.std([f.auc for f in fits], ddof=1)),
            "r50_split_err": float(np.std(r50, ddof=1)) if len(r50) > 1 else float("nan")}


def _anomaly_score(outputs: dict[str, F64], y: npt.NDArray[np.int64], w: F64 | None = None
                   ) -> tuple[F64, dict[str, Any]]:
    """The anomaly score: the model's ``anomaly_score`` output where it has one, else DarkCLR's
    ||embedding|| computed here (to compare encoders trained without the AnomalyCLR term);
    its ROC with no fit, with bootstrap errors."""
    has_score = "anomaly_score" in outputs
    score = outputs["anomaly_score"] if has_score else np.linalg.norm(outputs["embedding"], axis=1)
    weights = None if w is None else (w[y == 1], w[y == 0])
    return score, {**bootstrap(score[y == 1], score[y == 0], BOOTSTRAP, weights=weights),
                   "jets": "all selected (no fit)",
                   "score": "anomaly_score output" if has_score else "norm of the embedding"}


def _observables_bdt(obs: F64, y: npt.NDArray[np.int64], base: LCTResult, seed: int,
                     weights: F64 | None, w: F64 | None = None) -> tuple[dict[str, Any], F64]:
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
                        weights=_split_weights(w, base.test_index, yt))}, s


def _model_scores(outputs: dict[str, F64], scores: tuple[str, ...], base: LCTResult,
                  w: F64 | None = None) -> dict[str, Any]:
    """Every score the model exports (but the anomaly score, which has its own section), with no
    fit, on the LCT's test jets: a supervised or decorrelated tagger against the observables'
    LCT on the same jets (``d_*``)."""
    te, yt = base.test_index, base.test_labels
    ref = (base.test_scores[yt == 1], base.test_scores[yt == 0])
    weights = _split_weights(w, te, yt)
    return {name: bootstrap(outputs[name][te][yt == 1], outputs[name][te][yt == 0], BOOTSTRAP, paired=ref,
                            weights=weights)
            for name in scores if name != "anomaly_score"}


#: Landscape names of the observables (N2 as ``n2``, so that N2^DDT reads ``n2_ddt``).
_SHORT = {"msoftdrop": "msoftdrop", "tau21": "tau21", "tau32": "tau32", "n2b1": "n2", "n3b1": "n3"}
#: Observables whose DDT enters the landscape.
DDT_OBSERVABLES = ("n2b1", "tau21")
#: The fewest QCD jets the landscape's DDT maps are fitted on.
MIN_DDT_JETS = 50
#: QCD efficiency of the landscape's DDT maps (CMS's N2^DDT uses 26 %); each map is also
#: built at the working point itself (``*_ddt_wp``).
DDT_EFFICIENCY = 0.26


def _compare(other: OnnxJetModel, signal: list[str], background: list[str],
             selection: tuple[float, float, float], max_jets: int, signal_label: str, jets: _Labelled,
             rep: LCTResult, anomaly: F64, lct_args: dict[str, Any],
             say: Callable[[str], None]) -> dict[str, Any]:
    """Another model's LCT on the same jets and train/test split, and this model's LCT minus it
    (``d_*``, errors from the same bootstrap resamples of the test jets); likewise the anomaly
    scores (``anomaly_score``: no fit, all jets; ``anomaly`` is this model's)."""
    theirs = _labelled_jets(other, signal, background, selection, max_jets, signal_label, say)
    if not (np.array_equal(theirs.labels, jets.labels) and np.array_equal(theirs.pt, jets.pt)):
        raise JetCLRError(f"{other.path} selects other jets than the model evaluated: compare models "
                          "with the same jet selection")
    their_rep = linear_classifier_test(theirs.outputs["embedding"], jets.labels, **lct_args)
    diff = _lct_metrics(rep, their_rep)
    y = jets.labels
    their_anomaly, section = _anomaly_score(theirs.outputs, y)
    paired = bootstrap(anomaly[y == 1], anomaly[y == 0], BOOTSTRAP,
                       paired=(their_anomaly[y == 1], their_anomaly[y == 0]))
    return {"model": other.path, "lct": _lct_metrics(their_rep),
            **{k: v for k, v in diff.items() if k.startswith("d_")},
            "anomaly_score": {**section, **{k: v for k, v in paired.items() if k.startswith("d_")}}}


def _run(model: OnnxJetModel, sample: JetSample, sel: npt.NDArray[np.bool_]) -> dict[str, F64]:
    """The model's outputs on the jets ``sel`` of ``sample`` (with their jet features, where
    the model takes some)."""
    x, mask = model.inputs_from_arrays(sample.arrays)
    jet = model.jet_inputs({k: v[sel] for k, v in sample.jet_fields.items()})
    return {k: np.asarray(v, dtype=np.float64) for k, v in model.run_arrays(x[sel], mask[sel], jet).items()}


def _landscape(model: OnnxJetModel, jets: _Labelled, rep: LCTResult | None, base: LCTResult,
               ddt_background: list[str] | None, selection: tuple[float, float, float],
               say: Callable[[str], None]) -> tuple[dict[str, Any], Callable[[npt.NDArray[np.bool_]], Any]]:
    """The decorrelation landscape (:mod:`.landscape`) on the LCT's test jets: every
    observable alone, N2^DDT and tau21^DDT, both LCTs, the model LCT's DDT and every score
    the model exports; DDT maps fitted on ``ddt_background`` (QCD) at :data:`DDT_EFFICIENCY`
    and at the QCD efficiency of each score's own cut at 50 % signal efficiency.

    Returns the section and a function giving the landscape's points on a subset of the test
    jets (a boolean mask over them; the DDT maps stay those fitted on all the QCD jets)."""
    from .landscape import fit_ddt, landscape, working_point_efficiency

    te = base.test_index
    y, obs, msd = jets.labels[te], jets.observables[te], jets.observables[te, HANDCRAFTED.index("msoftdrop")]
    pt = jets.pt[te]
    raw: dict[str, F64] = {}  # larger = more signal-like, on the test jets
    sign: dict[str, float] = {}
    for i, name in enumerate(HANDCRAFTED):
        x = np.nan_to_num(obs[:, i], nan=float(np.nanmedian(obs[:, i])))
        sign[name] = 1.0 if score_roc(x[y == 1], x[y == 0]).auc >= 0.5 else -1.0
        raw[_SHORT[name]] = sign[name] * x
    raw["observables_lct"] = base.test_scores  # its decision on these jets
    if rep is not None:
        raw["lct"] = rep.decision(jets.outputs["embedding"][te])
    for name in model.card.scores:
        raw[name] = jets.outputs[name][te]
    section: dict[str, Any] = {"jets": "the LCT's test jets", "n_signal": int((y == 1).sum()),
                               "n_background": int((y == 0).sum())}
    if ddt_background:
        lo, hi, eta = selection
        say(f"reading QCD jets for the DDT maps from {len(ddt_background)} file(s)")
        qcd = load_jets(ddt_background, model.spec, pt_min=lo, pt_max=hi, eta_max=eta)
        keep = (qcd.labels == QCD) if (qcd.labels >= 0).any() else np.ones(len(qcd), dtype=bool)
        if keep.sum() < MIN_DDT_JETS:
            raise JetCLRError(f"{', '.join(ddt_background)}: {int(keep.sum())} QCD jets in the selection; "
                              f"the landscape's DDT maps need at least {MIN_DDT_JETS}")
        q_obs, q_pt = qcd.observables[keep], qcd.pt[keep]
        q_msd = q_obs[:, HANDCRAFTED.index("msoftdrop")]
        sources: dict[str, F64] = {}
        for name in DDT_OBSERVABLES:
            i = HANDCRAFTED.index(name)
            col = q_obs[:, i]
            sources[_SHORT[name]] = sign[name] * np.nan_to_num(col, nan=float(np.nanmedian(col)))
        if rep is not None:
            sources["lct"] = rep.decision(_run(model, qcd, keep)["embedding"])
        efficiency = {}
        for name, q_score in sources.items():
            q_wp = working_point_efficiency(raw[name][y == 1], raw[name][y == 0])
            for suffix, q in (("_ddt", DDT_EFFICIENCY), ("_ddt_wp", q_wp)):
                raw[name + suffix] = fit_ddt(q_score, q_msd, q_pt, q).ddt_values(raw[name], msd, pt)
                efficiency[name + suffix] = q
        section["ddt"] = {"files": [str(f) for f in ddt_background], "qcd_jets": int(keep.sum()),
                          "efficiency": efficiency,
                          "note": f"*_ddt: the map at QCD efficiency {DDT_EFFICIENCY} (CMS's N2^DDT); "
                                  f"*_ddt_wp: at the QCD efficiency of the score's own cut at 50% signal "
                                  f"efficiency, where the landscape is measured (the flattest it can be)"}
    say(f"bootstrapping the decorrelation landscape ({BOOTSTRAP} resamples)")

    def points(t_in: npt.NDArray[np.bool_]) -> dict[str, Any]:
        s, b = t_in & (y == 1), t_in & (y == 0)
        return {"n_signal": int(s.sum()), "n_background": int(b.sum()),
                "points": landscape({k: (v[s], v[b]) for k, v in raw.items()}, msd[b], BOOTSTRAP,
                                    reference="n2_ddt")}

    section["points"] = points(np.ones(len(y), dtype=bool))["points"]
    return section, points


def _prepare(output_dir: str | os.PathLike[str], test_fraction: float, signal_label: str) -> Path:
    """Check the arguments that need no file, and create the output folder."""
    if not 0.0 < test_fraction < 1.0:
        raise ParameterError("test_fraction", f"must be between 0 and 1, got {test_fraction}")
    if signal_label not in SIGNAL_LABELS:
        raise ParameterError("signal_label",
                             f"must be one of {', '.join(SIGNAL_LABELS)}, got {signal_label!r}")
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise ParameterError("output_dir", f"{out} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise JetCLRError(f"cannot create {out} ({err.strerror})") from err
    return out


def _sayer(progress: bool) -> Callable[[str], None]:
    """A function printing a progress line to stderr when ``progress``, else nothing."""
    def say(text: str) -> None:
        if progress:
            print(f"  {text}", file=sys.stderr, flush=True)

    return say


def _same(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two paths name one file (a link or another spelling of the path included)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def _check_files(signal: list[str], background: list[str], ddt_background: list[str] | None,
                 signal_label: str, max_jets: int) -> None:
    """Refuse inputs that would give a wrong number silently: a file given twice (its jets in
    both the training and the test half), one file as signal and background, the DDT sample
    equal to a test file, a DDT sample where no landscape is made, a negative jet limit.

    Raises:
        ParameterError: naming the option and the file.
    """
    if max_jets < 0:
        raise ParameterError("max_jets", f"must be >= 0 (0: all), got {max_jets}")
    named = (("signal", signal), ("background", background), ("ddt_background", ddt_background or []))
    for name, files in named:
        for i, f in enumerate(files):
            if any(_same(f, g) for g in files[:i]):
                raise ParameterError(name, f"lists {f} twice: its jets would be counted twice")
    for f in signal:
        if any(_same(f, g) for g in background):
            raise ParameterError("background",
                                 f"{f} is also a signal file: signal and background must differ")
    if ddt_background:
        if signal_label != "two_prong":
            raise ParameterError("ddt_background", f"applies to --signal-label two_prong only (the "
                                                   f"decorrelation landscape), not {signal_label}")
        for f in ddt_background:
            if any(_same(f, g) for g in (*signal, *background)):
                raise ParameterError("ddt_background", f"{f} is a test file: the DDT maps need QCD jets the "
                                                       "landscape is not measured on")


def _selection(model: OnnxJetModel, pt_range: tuple[float, float] | None, eta_max: float | None,
               pt_bins: tuple[float, ...] | None) -> tuple[float, float, float]:
    """(pT min, pT max, |eta| max): as given, else the bins' range, else the model's training
    selection."""
    data = model.card.training.get("data", {})
    if pt_range is None and pt_bins is not None:
        pt_range = (pt_bins[0], pt_bins[-1])
    missing = (pt_range is None and not {"pt_min", "pt_max"} <= set(data)) or \
        (eta_max is None and "eta_max" not in data)
    if missing:
        raise ParameterError("pt_range", f"not given, and {model.path} records no training selection")
    lo, hi = pt_range or (data["pt_min"], data["pt_max"])
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 <= lo < hi):
        raise ParameterError("pt_range", f"needs 0 <= pT min < pT max, finite; got {lo:g}, {hi:g}")
    eta = eta_max if eta_max is not None else data["eta_max"]
    return float(lo), float(hi), float(eta)


#: How the jets are weighted, for ``metrics.json`` and the help.
WEIGHTING = ("each jet weighted by its event's genWeight * xsec_pb / genEventSumw (Runs tree; genWeight "
             "alone without one), normalised to mean 1 in signal and in background, in the classifiers' "
             "fits (times the mass-matching weight with --mass-matched) and in every metric "
             "(efficiencies are sums of weights); the landscape's points are unweighted")


#: The fewest signal or background jets the training or the test half may hold.
MIN_SPLIT_JETS = 10


@dataclass
class _Fits:
    """The classifiers of one evaluation, fitted once on the training half."""

    rep: LCTResult | None
    base: LCTResult
    fit_w: F64 | None  # the fits' sample weights
    metric_w: F64 | None  # the metrics' per-jet weights (None: unweighted sample)


def _fit(jets: _Labelled, mass_matched: bool, test_fraction: float, seed: int) -> _Fits:
    y, obs, outputs = jets.labels, jets.observables, jets.outputs
    fit_w = jets.weight.copy() if jets.weighted else None
    if mass_matched:
        msd = obs[:, HANDCRAFTED.index("msoftdrop")]
        fit_w = np.ones(len(y)) if fit_w is None else fit_w
        fit_w[y == 1] *= mass_matching_weights(msd[y == 1], msd[y == 0])
    rep = (linear_classifier_test(outputs["embedding"], y, test_fraction=test_fraction, seed=seed,
                                  sample_weight=fit_w) if "embedding" in outputs else None)
    base = linear_classifier_test(obs, y, test_fraction=test_fraction, seed=seed, sample_weight=fit_w)
    n_test = (int((base.test_labels == 1).sum()), int((base.test_labels == 0).sum()))
    n_train = (int((y == 1).sum()) - n_test[0], int((y == 0).sum()) - n_test[1])
    if min(*n_test, *n_train) < MIN_SPLIT_JETS:
        raise ParameterError("test_fraction", f"{test_fraction:g} leaves {n_test[0]} signal and {n_test[1]} "
                                              f"background test jets and {n_train[0]} and {n_train[1]} to "
                                              f"fit on: each needs {MIN_SPLIT_JETS} or more")
    return _Fits(rep, base, fit_w, jets.weight if jets.weighted else None)


def _sculpting(jets: _Labelled, fits: _Fits, anomaly: F64) -> dict[str, Any]:
    """QCD mass sculpting of a cut at 50 % signal efficiency (JSD of the QCD msoftdrop spectra
    passing and failing; all jets, the classifiers applied as fitted)."""
    y, obs, rep, base = jets.labels, jets.observables, fits.rep, fits.base
    msd_b = obs[y == 0, HANDCRAFTED.index("msoftdrop")]
    emb = jets.outputs.get("embedding")
    return {
        "measure": "JSD of QCD msoftdrop passing vs failing, cut at 50% signal efficiency",
        "lct": None if rep is None or emb is None else mass_sculpting(
            rep.decision(emb[y == 1]), rep.decision(emb[y == 0]), msd_b),
        "baseline": mass_sculpting(base.decision(obs[y == 1]), base.decision(obs[y == 0]), msd_b),
        "anomaly_score": mass_sculpting(anomaly[y == 1], anomaly[y == 0], msd_b),
    }


def _window_metrics(jets: _Labelled, fits: _Fits, model: OnnxJetModel, test_fraction: float, seed: int
                    ) -> tuple[dict[str, Any], F64, F64]:
    """The whole-window blocks; also the anomaly score (all jets) and the BDT's test scores."""
    y, obs, outputs, w = jets.labels, jets.observables, jets.outputs, fits.metric_w
    rep, base = fits.rep, fits.base
    anomaly, anomaly_section = _anomaly_score(outputs, y, w)
    bdt, bdt_scores = _observables_bdt(obs, y, base, seed, fits.fit_w, w)
    blocks: dict[str, Any] = {
        "lct": (None if rep is None else {
            **_lct_metrics(rep, base, w),
            **_split_spread(outputs["embedding"], y, test_fraction, seed, fits.fit_w)}),
        "baseline": {"features": list(HANDCRAFTED), **_lct_metrics(base, None, w),
                     **_split_spread(obs, y, test_fraction, seed, fits.fit_w)},
        "anomaly_score": anomaly_section,
        "single_observables": _single_observables(obs, y),
        "observables_bdt": bdt,
        "scores": _model_scores(outputs, model.card.scores, base, w),
        "mass_sculpting": _sculpting(jets, fits, anomaly),
    }
    return blocks, anomaly, bdt_scores


def _curves(jets: _Labelled, fits: _Fits, anomaly: F64) -> dict[str, LCTResult | RocCurve]:
    curves: dict[str, LCTResult | RocCurve] = {} if fits.rep is None else {"JetCLR LCT": fits.rep}
    curves["hand-engineered LCT"] = fits.base
    if "anomaly_score" in jets.outputs:
        y = jets.labels
        curves["anomaly score (no fit)"] = score_roc(anomaly[y == 1], anomaly[y == 0])
    return curves


def _binned(jets: _Labelled, fits: _Fits, anomaly: F64, bdt: F64, scores: tuple[str, ...]) -> BinnedScores:
    return BinnedScores(
        pt=jets.pt, labels=jets.labels, weight=jets.weight if jets.weighted else np.ones(len(jets.pt)),
        test_index=fits.base.test_index, lct=None if fits.rep is None else fits.rep.test_scores,
        baseline=fits.base.test_scores, bdt=bdt,
        scores={k: jets.outputs[k] for k in scores if k != "anomaly_score"}, anomaly=anomaly)


def _landscape_and_bins(metrics: dict[str, Any], model: OnnxJetModel, jets: _Labelled, fits: _Fits,
                        scores: tuple[F64, F64], ddt_background: list[str] | None,
                        edges: tuple[float, ...] | None, out: Path, say: Callable[[str], None]) -> None:
    """The two-prong landscape and the per-pT-bin metrics (``scores``: the anomaly score of
    every jet and the BDT's test scores), with their plots, into ``metrics``."""
    sel = metrics["selection"]
    lo, hi, label = sel["pt_min"], sel["pt_max"], sel["signal_label"]
    name = Path(metrics["model"]).name
    points = None
    if label == "two_prong":
        metrics["landscape"], points = _landscape(model, jets, fits.rep, fits.base, ddt_background,
                                                  (lo, hi, sel["eta_max"]), say)
        from .landscape import plot_landscape

        plot_landscape(metrics["landscape"]["points"], out / "landscape.png",
                       f"{name}: two-prong vs QCD, {lo:g} < pT < {hi:g} GeV")
    if edges is not None:
        say(f"the metrics in {len(edges) - 1} pT bins")
        metrics["pt_bins"] = pt_bin_metrics(edges, _binned(jets, fits, *scores, model.card.scores),
                                            BOOTSTRAP, points)
        plot_pt_bins(metrics["pt_bins"], out / "pt_bins.png", f"{name}: {label} vs QCD",
                     anomaly=label == "dark")


def evaluate(
    model_path: str | os.PathLike[str],
    signal: list[str],
    background: list[str],
    output_dir: str | os.PathLike[str],
    *,
    signal_label: str = "top",
    pt_range: tuple[float, float] | None = None,
    eta_max: float | None = None,
    test_fraction: float = 0.5,
    seed: int = 1,
    max_jets: int = 0,
    mass_matched: bool = False,
    ddt_background: list[str] | None = None,
    compare: str | os.PathLike[str] | None = None,
    pt_bins: list[float] | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Run the LCT of ``model_path`` and the hand-engineered baseline on the same jets.

    Args:
        model_path: an exported ONNX encoder.
        signal, background: ROOT files.
        output_dir: where ``metrics.json`` and ``roc.png`` go.
        signal_label: "top" keeps only fully merged tops in the signal files, "two_prong"
            only jets holding both quarks of a W/Z/Z'/H decay, "dark" only jets holding a
            dark quark (semi-visible jets), "any" all jets (see
            :data:`SIGNAL_LABELS`); background jets must be QCD-labelled when labels exist.
        pt_range, eta_max: jet selection (default: the range of ``pt_bins``, else the
            model's training selection).
        test_fraction: held-out fraction.
        seed: split seed.
        max_jets: at most this many jets per file (0: all).
        mass_matched: fit both classifiers with the signal weighted to the background's
            msoftdrop spectrum (CoDec's mass flattening), so neither can prefer a jet for
            its mass alone.
        ddt_background: QCD files for the DDT maps of the decorrelation landscape (two-prong
            signal only; without them the landscape has no DDT entries).
        compare: another exported encoder (e.g. the previous version): its LCT on the same jets
            and split, and the paired differences (``metrics["compare"]``).
        pt_bins: jet-pT bin edges: every metric also per bin (``metrics["pt_bins"]``, see
            :mod:`.pt_bins`; the classifiers fitted once on the whole training half) and
            ``pt_bins.png``.
        progress: print what it is doing to stderr, step by step.

    Jets of weighted samples (``genWeight`` not all equal) are weighted as :data:`WEIGHTING`.

    Returns:
        The metrics (also written to ``metrics.json``), with the fitted LCT of the model
        under the key ``"_lct"`` (not written).
    """
    out = _prepare(output_dir, test_fraction, signal_label)
    _check_files(signal, background, ddt_background, signal_label, max_jets)

    say = _sayer(progress)
    model = OnnxJetModel(model_path)
    other = None if compare is None else OnnxJetModel(compare)
    for m in () if other is None else (model, other):  # checked before any work
        if not m.card.has_representation:
            raise ParameterError("compare", f"needs a representation: {m.path} has no embedding")
    edges = None if pt_bins is None else check_edges(pt_bins, (0.0, np.inf))
    lo, hi, eta = _selection(model, pt_range, eta_max, edges)
    edges = None if edges is None else check_edges(edges, (lo, hi))
    jets = _labelled_jets(model, signal, background, (lo, hi, eta), max_jets, signal_label, say)
    say("fitting the linear classifier tests and the observables' BDT")
    fits = _fit(jets, mass_matched, test_fraction, seed)
    say(f"bootstrapping the metrics ({BOOTSTRAP} resamples)")
    blocks, anomaly, bdt = _window_metrics(jets, fits, model, test_fraction, seed)
    metrics: dict[str, Any] = {
        "model": str(model_path),
        "selection": {"pt_min": lo, "pt_max": hi, "eta_max": eta, "signal_label": signal_label},
        "n_signal": int((jets.labels == 1).sum()), "n_background": int((jets.labels == 0).sum()),
        "test_fraction": test_fraction, "seed": seed, "mass_matched": mass_matched,
        "weights": WEIGHTING if jets.weighted else "none: every jet counts once (the samples are unweighted)",
        "uncertainties": f"*_err: standard deviation over {BOOTSTRAP} bootstrap resamples of the (test) "
                         f"jets; *_split_err: over the LCT refitted on {SPLITS + 1} train/test splits",
        **blocks,
        "signal_files": [str(s) for s in signal], "background_files": [str(b) for b in background],
    }
    if other is not None and fits.rep is not None:
        say(f"the LCT of {Path(other.path).name} on the same jets")
        metrics["compare"] = _compare(other, signal, background, (lo, hi, eta), max_jets, signal_label,
                                      jets, fits.rep, anomaly, {"test_fraction": test_fraction,
                                                                "seed": seed, "sample_weight": fits.fit_w},
                                      say)
    _landscape_and_bins(metrics, model, jets, fits, (anomaly, bdt), ddt_background, edges, out, say)
    with atomic_path(out / "metrics.json") as tmp:
        tmp.write_text(strict_json(metrics))
    _plot_roc(out / "roc.png", _curves(jets, fits, anomaly),
              f"{Path(model_path).name}: {lo:g} < pT < {hi:g} GeV")
    metrics["_lct"] = fits.rep
    return metrics


def fit_head(model_path: str | os.PathLike[str], metrics: dict[str, Any],
             output: str | os.PathLike[str]) -> Path:
    """Write ``model_path`` plus the LCT of ``metrics`` as output ``tagger_score``.

    The metrics go into the new file's metadata.
    """
    import onnx

    from jetclr_coffea.model_card import OutputSpec
    from jetclr_coffea.onnx_io import add_linear_tagger, load_onnx, read_card, write_card

    lct: LCTResult = metrics["_lct"]
    model = load_onnx(model_path)
    card = read_card(model_path)
    add_linear_tagger(model, lct.weight, lct.bias, lct.mean, lct.scale)
    card = card.with_output(
        OutputSpec("tagger_score"),
        tagger={"kind": "logistic regression on the standardised embedding",
                "signal": metrics["selection"]["signal_label"],
                "signal_files": metrics["signal_files"],
                "background_files": metrics["background_files"]},
        metrics=to_strict({k: v for k, v in metrics.items() if not k.startswith("_")}))
    write_card(model, card)
    with atomic_path(output) as tmp:
        onnx.save(model, str(tmp))
    return Path(output)
