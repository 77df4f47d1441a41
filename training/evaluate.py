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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from jetclr_coffea._io import JsonObject, atomic_path, strict_json
from jetclr_coffea.errors import JetCLRError, ParameterError
from jetclr_coffea.inference import OnnxJetModel
from jetclr_coffea.metrics import bootstrap
from jetclr_coffea.model_card import JetWindow
from jetclr_coffea.sculpting import mass_matching_weights, mass_sculpting
from jetclr_coffea.truth import SIGNAL_LABELS

from .data import HANDCRAFTED
from .decorrelation import landscape_metrics
from .lct import (
    BOOTSTRAP,
    SPLITS,
    LabelledJets,
    LCTResult,
    RocCurve,
    anomaly_metrics,
    labelled_jets,
    lct_metrics,
    linear_classifier_test,
    model_scores,
    observables_bdt,
    score_roc,
    single_observables,
    split_spread,
)
from .pt_bins import BinnedScores, check_edges, plot_pt_bins, pt_bin_metrics

__all__ = ["MIN_SPLIT_JETS", "WEIGHTING", "EvaluationReport", "evaluate"]

F64 = npt.NDArray[np.float64]


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


def _compare(other: OnnxJetModel, signal: list[str], background: list[str],
             selection: tuple[float, float, float], max_jets: int, signal_label: str, jets: LabelledJets,
             rep: LCTResult, anomaly: F64, lct_args: dict[str, Any],
             say: Callable[[str], None]) -> dict[str, Any]:
    """Another model's LCT on the same jets and train/test split, and this model's LCT minus it
    (``d_*``, errors from the same bootstrap resamples of the test jets); likewise the anomaly
    scores (``anomaly_score``: no fit, all jets; ``anomaly`` is this model's)."""
    theirs = labelled_jets(other, signal, background, selection, max_jets, signal_label, say)
    if not (np.array_equal(theirs.labels, jets.labels) and np.array_equal(theirs.pt, jets.pt)):
        raise JetCLRError(f"{other.path} selects other jets than the model evaluated: compare models "
                          "with the same jet selection")
    their_rep = linear_classifier_test(theirs.outputs["embedding"], jets.labels, **lct_args)
    diff = lct_metrics(rep, their_rep)
    y = jets.labels
    their_anomaly, section = anomaly_metrics(theirs.outputs, y)
    paired = bootstrap(anomaly[y == 1], anomaly[y == 0], BOOTSTRAP,
                       paired=(their_anomaly[y == 1], their_anomaly[y == 0]))
    return {"model": other.path, "lct": lct_metrics(their_rep),
            **{k: v for k, v in diff.items() if k.startswith("d_")},
            "anomaly_score": {**section, **{k: v for k, v in paired.items() if k.startswith("d_")}}}


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
    window = model.card.training_window
    if pt_range is None and pt_bins is not None:
        pt_range = (pt_bins[0], pt_bins[-1])
    if window is None:
        if pt_range is None or eta_max is None:
            raise ParameterError("pt_range", f"not given, and {model.path} records no training selection")
        window = JetWindow(*pt_range, eta_max)
    lo, hi = pt_range or (window.pt_min, window.pt_max)
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 <= lo < hi):
        raise ParameterError("pt_range", f"needs 0 <= pT min < pT max, finite; got {lo:g}, {hi:g}")
    return float(lo), float(hi), float(eta_max if eta_max is not None else window.eta_max)


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


def _fit(jets: LabelledJets, mass_matched: bool, test_fraction: float, seed: int) -> _Fits:
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


def _sculpting(jets: LabelledJets, fits: _Fits, anomaly: F64) -> dict[str, Any]:
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


def _window_metrics(jets: LabelledJets, fits: _Fits, model: OnnxJetModel, test_fraction: float, seed: int
                    ) -> tuple[dict[str, Any], F64, F64]:
    """The whole-window blocks; also the anomaly score (all jets) and the BDT's test scores."""
    y, obs, outputs, w = jets.labels, jets.observables, jets.outputs, fits.metric_w
    rep, base = fits.rep, fits.base
    anomaly, anomaly_section = anomaly_metrics(outputs, y, w)
    bdt, bdt_scores = observables_bdt(obs, y, base, seed, fits.fit_w, w)
    blocks: dict[str, Any] = {
        "lct": (None if rep is None else {
            **lct_metrics(rep, base, w),
            **split_spread(outputs["embedding"], y, test_fraction, seed, fits.fit_w)}),
        "baseline": {"features": list(HANDCRAFTED), **lct_metrics(base, None, w),
                     **split_spread(obs, y, test_fraction, seed, fits.fit_w)},
        "anomaly_score": anomaly_section,
        "single_observables": single_observables(obs, y),
        "observables_bdt": bdt,
        "scores": model_scores(outputs, model.card.scores, base, w, bdt_scores),
        "mass_sculpting": _sculpting(jets, fits, anomaly),
    }
    return blocks, anomaly, bdt_scores


def _curves(jets: LabelledJets, fits: _Fits, anomaly: F64) -> dict[str, LCTResult | RocCurve]:
    curves: dict[str, LCTResult | RocCurve] = {} if fits.rep is None else {"JetCLR LCT": fits.rep}
    curves["hand-engineered LCT"] = fits.base
    if "anomaly_score" in jets.outputs:
        y = jets.labels
        curves["anomaly score (no fit)"] = score_roc(anomaly[y == 1], anomaly[y == 0])
    return curves


def _binned(jets: LabelledJets, fits: _Fits, anomaly: F64, bdt: F64, scores: tuple[str, ...]) -> BinnedScores:
    return BinnedScores(
        pt=jets.pt, labels=jets.labels, weight=jets.weight if jets.weighted else np.ones(len(jets.pt)),
        test_index=fits.base.test_index, lct=None if fits.rep is None else fits.rep.test_scores,
        baseline=fits.base.test_scores, bdt=bdt,
        scores={k: jets.outputs[k] for k in scores if k != "anomaly_score"}, anomaly=anomaly)


def _landscape_and_bins(metrics: dict[str, Any], model: OnnxJetModel, jets: LabelledJets, fits: _Fits,
                        scores: tuple[F64, F64], ddt_background: list[str] | None,
                        edges: tuple[float, ...] | None, out: Path, say: Callable[[str], None]) -> None:
    """The two-prong landscape and the per-pT-bin metrics (``scores``: the anomaly score of
    every jet and the BDT's test scores), with their plots, into ``metrics``."""
    sel = metrics["selection"]
    lo, hi, label = sel["pt_min"], sel["pt_max"], sel["signal_label"]
    name = Path(metrics["model"]).name
    points = None
    if label == "two_prong":
        metrics["landscape"], points = landscape_metrics(model, jets, fits.rep, fits.base, ddt_background,
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


@dataclass(frozen=True)
class EvaluationReport:
    """What :func:`evaluate` measured.

    Attributes:
        metrics: the JSON document written to ``metrics.json`` (strict JSON values; its
            keys are documented in the README and :mod:`.pt_bins`).
        lct: the LCT fitted on the model's embedding (None: the model has no embedding), what
            :func:`~jetclr_coffea.training.head.fit_head` grafts onto the graph.
        path: the ``metrics.json`` written.
        signal_label: the signal class the jets were selected as.
        signal_files, background_files: the files the jets came from.
    """

    metrics: JsonObject
    lct: LCTResult | None
    path: Path
    signal_label: str = "top"
    signal_files: tuple[str, ...] = ()
    background_files: tuple[str, ...] = ()


def _models(model_path: str | os.PathLike[str], compare: str | os.PathLike[str] | None
            ) -> tuple[OnnxJetModel, OnnxJetModel | None]:
    model = OnnxJetModel(model_path)
    other = None if compare is None else OnnxJetModel(compare)
    for m in () if other is None else (model, other):  # checked before any work
        if not m.card.has_representation:
            raise ParameterError("compare", f"needs a representation: {m.path} has no embedding")
    return model, other


def _header(model_path: str | os.PathLike[str], window: tuple[float, float, float], signal_label: str,
            jets: LabelledJets, split: tuple[float, int], mass_matched: bool) -> dict[str, Any]:
    lo, hi, eta = window
    return {
        "model": str(model_path),
        "selection": {"pt_min": lo, "pt_max": hi, "eta_max": eta, "signal_label": signal_label},
        "n_signal": int((jets.labels == 1).sum()), "n_background": int((jets.labels == 0).sum()),
        "test_fraction": split[0], "seed": split[1], "mass_matched": mass_matched,
        "weights": WEIGHTING if jets.weighted else "none: every jet counts once (the samples are unweighted)",
        "uncertainties": f"*_err: standard deviation over {BOOTSTRAP} bootstrap resamples of the (test) "
                         f"jets; *_split_err: over the LCT refitted on {SPLITS + 1} train/test splits",
    }


def evaluate(
    model_path: str | os.PathLike[str], signal: list[str], background: list[str],
    output_dir: str | os.PathLike[str], *, signal_label: str = "top",
    pt_range: tuple[float, float] | None = None, eta_max: float | None = None, test_fraction: float = 0.5,
    seed: int = 1, max_jets: int = 0, mass_matched: bool = False, ddt_background: list[str] | None = None,
    compare: str | os.PathLike[str] | None = None, pt_bins: list[float] | None = None, progress: bool = False,
) -> EvaluationReport:
    """Run the LCT of ``model_path`` and the hand-engineered baselines on the same jets.

    Args:
        model_path: an exported ONNX encoder; ``signal``, ``background``: ROOT files;
            ``output_dir``: where ``metrics.json`` and ``roc.png`` go.
        signal_label: "top" (fully merged tops), "two_prong" (both quarks of a W/Z/Z'/H),
            "dark" (a dark quark) or "any" (:data:`SIGNAL_LABELS`); background jets must be
            QCD-labelled when labels exist.
        pt_range, eta_max: jet selection (default: the range of ``pt_bins``, else the
            model's training selection).  ``max_jets``: at most this many jets a file (0: all).
        test_fraction, seed: the held-out fraction and the split's seed.
        mass_matched: fit the classifiers with the signal weighted to the background's
            msoftdrop spectrum (CoDec's mass flattening).
        ddt_background: QCD files for the DDT maps of the decorrelation landscape (two-prong).
        compare: another exported encoder: its LCT on the same jets and split, and the paired
            differences (``metrics["compare"]``).
        pt_bins: jet-pT bin edges: every metric also per bin (``metrics["pt_bins"]``,
            :mod:`.pt_bins`; the classifiers fitted once on the whole training half).
        progress: print what it is doing to stderr, step by step.

    Jets of weighted samples (``genWeight`` not all equal) are weighted as :data:`WEIGHTING`.

    Returns:
        The metrics (as written to ``metrics.json``) and the model's fitted LCT.
    """
    out = _prepare(output_dir, test_fraction, signal_label)
    _check_files(signal, background, ddt_background, signal_label, max_jets)
    say = _sayer(progress)
    model, other = _models(model_path, compare)
    edges = None if pt_bins is None else check_edges(pt_bins, (0.0, np.inf))
    window = _selection(model, pt_range, eta_max, edges)
    edges = None if edges is None else check_edges(edges, window[:2])
    jets = labelled_jets(model, signal, background, window, max_jets, signal_label, say)
    say("fitting the linear classifier tests and the observables' BDT")
    fits = _fit(jets, mass_matched, test_fraction, seed)
    say(f"bootstrapping the metrics ({BOOTSTRAP} resamples)")
    blocks, anomaly, bdt = _window_metrics(jets, fits, model, test_fraction, seed)
    metrics = {**_header(model_path, window, signal_label, jets, (test_fraction, seed), mass_matched),
               **blocks, "signal_files": [str(s) for s in signal],
               "background_files": [str(b) for b in background]}
    if other is not None and fits.rep is not None:
        say(f"the LCT of {Path(other.path).name} on the same jets")
        metrics["compare"] = _compare(other, signal, background, window, max_jets, signal_label, jets,
                                      fits.rep, anomaly, {"test_fraction": test_fraction, "seed": seed,
                                                          "sample_weight": fits.fit_w}, say)
    _landscape_and_bins(metrics, model, jets, fits, (anomaly, bdt), ddt_background, edges, out, say)
    with atomic_path(out / "metrics.json") as tmp:
        tmp.write_text(strict_json(metrics))
    _plot_roc(out / "roc.png", _curves(jets, fits, anomaly),
              f"{Path(model_path).name}: {window[0]:g} < pT < {window[1]:g} GeV")
    return EvaluationReport(metrics, fits.rep, out / "metrics.json", signal_label,
                            tuple(map(str, signal)), tuple(map(str, background)))
