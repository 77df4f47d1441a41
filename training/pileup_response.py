"""How a model's outputs respond to pile-up, jet by jet (``jetclr-coffea pileup-response``).

Two samples generated with the same ``--seed`` at two pile-up values hold the same hard
events (the generator draws pile-up from its own random stream), so every jet of the
reference sample can be matched to its pile-up twin: same file position, same event, the
nearest jet within ΔR < 0.2.  For every score (the model's outputs and the NanoAOD
observables, for comparison) this reports the shift ``score(pile-up) - score(reference)``
(median and the 68 % interval, signal and background apart) and the AUC at each pile-up
value on the matched jets, with the paired difference and its bootstrap error.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from jetclr_coffea._io import JsonDict, JsonObject, atomic_path, strict_json
from jetclr_coffea.errors import JetCLRError, ParameterError
from jetclr_coffea.inference import OnnxJetModel
from jetclr_coffea.metrics import bootstrap
from jetclr_coffea.model_card import JetWindow
from jetclr_coffea.truth import QCD, SIGNAL_LABELS

from .data import HANDCRAFTED, JetSample, load_jets
from .evaluate import _same, _sayer
from .lct import run_model

__all__ = ["match_jets", "pileup_response", "response_lines", "shift_summary"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: Matching radius between a jet and its pile-up twin.
MAX_DR = 0.2
#: Bootstrap resamples of the matched jets.
BOOTSTRAP = 200
#: Reference jets with fewer matched than this fraction: the files are not from one seed.
MIN_MATCHED = 0.5


def match_jets(ref: JetSample, pu: JetSample, max_dr: float = MAX_DR) -> tuple[I64, I64]:
    """Indices (into ``ref``, into ``pu``) of matched jets: same (file, entry), the nearest
    ``pu`` jet within ``max_dr`` of each ``ref`` jet, each ``pu`` jet used once (reference
    jets taken in order of decreasing pT)."""
    key_pu = pu.event[:, 0] * (1 << 40) + pu.event[:, 1]
    order = np.argsort(key_pu, kind="stable")
    sorted_keys = key_pu[order]
    used = np.zeros(len(pu), dtype=bool)
    out_ref, out_pu = [], []
    for i in np.argsort(-ref.pt, kind="stable"):
        key = ref.event[i, 0] * (1 << 40) + ref.event[i, 1]
        lo, hi = np.searchsorted(sorted_keys, key, "left"), np.searchsorted(sorted_keys, key, "right")
        cand = order[lo:hi][~used[order[lo:hi]]]
        if len(cand) == 0:
            continue
        dphi = (pu.phi[cand] - ref.phi[i] + np.pi) % (2 * np.pi) - np.pi
        dr = np.hypot(pu.eta[cand] - ref.eta[i], dphi)
        k = int(np.argmin(dr))
        if dr[k] < max_dr:
            used[cand[k]] = True
            out_ref.append(i)
            out_pu.append(cand[k])
    a, b = np.asarray(out_ref, np.int64), np.asarray(out_pu, np.int64)
    keep = np.argsort(a, kind="stable")
    return a[keep], b[keep]


def shift_summary(ref: F64, pu: F64) -> dict[str, float]:
    """Median and 68 % interval (16th, 84th percentiles) of ``pu - ref``."""
    d = pu - ref
    if len(d) == 0:
        return {"median": float("nan"), "q16": float("nan"), "q84": float("nan")}
    q16, q50, q84 = np.percentile(d, [16, 50, 84])
    return {"median": float(q50), "q16": float(q16), "q84": float(q84)}


def _response(s_ref: F64, s_pu: F64, y: I64) -> dict[str, Any]:
    """Shift per class, and the AUC at both pile-up values with the paired difference."""
    sig, bkg = y == 1, y == 0
    at_ref = bootstrap(s_ref[sig], s_ref[bkg], BOOTSTRAP)
    at_pu = bootstrap(s_pu[sig], s_pu[bkg], BOOTSTRAP, paired=(s_ref[sig], s_ref[bkg]))
    return {"shift_signal": shift_summary(s_ref[sig], s_pu[sig]),
            "shift_background": shift_summary(s_ref[bkg], s_pu[bkg]),
            "auc_reference": at_ref["auc"], "auc_reference_err": at_ref["auc_err"],
            "auc_pileup": at_pu["auc"], "auc_pileup_err": at_pu["auc_err"],
            "d_auc": at_pu["d_auc"], "d_auc_err": at_pu["d_auc_err"]}


def _oriented(name: str, model: OnnxJetModel, s_ref: F64, s_pu: F64, y: I64) -> dict[str, Any]:
    """:func:`_response`; an observable or the embedding's norm (no direction of its own) is
    negated where the signal lies low at the reference pile-up (``signal_is``)."""
    if name in model.card.scores:
        return _response(s_ref, s_pu, y)
    low = bool(np.median(s_ref[y == 1]) < np.median(s_ref[y == 0]))
    sign = -1.0 if low else 1.0
    out = _response(sign * s_ref, sign * s_pu, y)
    for key in ("shift_signal", "shift_background"):  # the shifts in the observable's own units
        d = out[key]
        out[key] = {"median": sign * d["median"], "q16": sign * (d["q84"] if low else d["q16"]),
                    "q84": sign * (d["q16"] if low else d["q84"])}
    return {**out, "signal_is": "low" if low else "high"}


def _pairs(model: OnnxJetModel, ref_files: list[str], pu_files: list[str],
           selection: tuple[float, float, float], keep: Callable[[JetSample], npt.NDArray[np.bool_]],
           say: Callable[[str], None], max_events: int = 0) -> tuple[JetSample, JetSample, I64, I64]:
    """The selected reference jets (``keep``) and their matched pile-up twins."""
    lo, hi, eta = selection
    ref = load_jets(ref_files, model.spec, pt_min=lo, pt_max=hi, eta_max=eta, max_events=max_events)
    # the twins may have crossed the window's edges: read them with a wide one
    pu = load_jets(pu_files, model.spec, pt_min=0.0, pt_max=np.inf, eta_max=eta + 2 * MAX_DR,
                   max_events=max_events)
    i_ref, i_pu = match_jets(ref, pu)
    sel = keep(ref)[i_ref]
    n_kept = int(keep(ref).sum())
    say(f"matched {int(sel.sum())} of {n_kept} jets of {', '.join(ref_files)}")
    if n_kept == 0 or sel.sum() < MIN_MATCHED * n_kept:
        raise JetCLRError(f"only {int(sel.sum())} of {n_kept} selected jets of {', '.join(ref_files)} have "
                          f"a twin in {', '.join(pu_files)}: were both made with the same --seed and "
                          "process?")
    return ref, pu, i_ref[sel], i_pu[sel]


def _outputs(model: OnnxJetModel, sample: JetSample, rows: I64) -> dict[str, F64]:
    sel = np.zeros(len(sample), dtype=bool)
    sel[rows] = True
    out = run_model(model, sample, sel)
    inv = np.argsort(np.argsort(rows))  # run_model returns the jets in sample order
    return {k: v[inv] for k, v in out.items()}


def _scores(model: OnnxJetModel, sample: JetSample, rows: I64) -> dict[str, F64]:
    """The model's scalar outputs, its embedding's norm (DarkCLR's score), and the observables."""
    outputs = _outputs(model, sample, rows)
    scores = {name: outputs[name] for name in model.card.scores}
    if "embedding" in outputs:
        scores["embedding_norm"] = np.linalg.norm(outputs["embedding"], axis=1)
    for i, name in enumerate(HANDCRAFTED):
        scores[name] = np.nan_to_num(sample.observables[rows, i])
    return scores


def _embedding_shift(model: OnnxJetModel, ref: JetSample, pu: JetSample, i_ref: I64, i_pu: I64
                     ) -> dict[str, float] | None:
    """How far the representation moves: |e_pu - e_ref| / |e_ref| and the cosine similarity."""
    if not model.card.has_representation:
        return None
    e_ref, e_pu = _outputs(model, ref, i_ref)["embedding"], _outputs(model, pu, i_pu)["embedding"]
    norm = np.maximum(np.linalg.norm(e_ref, axis=1), 1e-12)
    rel = np.linalg.norm(e_pu - e_ref, axis=1) / norm
    cos = np.sum(e_ref * e_pu, axis=1) / norm / np.maximum(np.linalg.norm(e_pu, axis=1), 1e-12)
    return {"relative_shift_median": float(np.median(rel)),
            "relative_shift_q84": float(np.percentile(rel, 84)), "cosine_median": float(np.median(cos))}


def _check_pairs(name: str, ref: list[str], pu: list[str]) -> None:
    if len(ref) != len(pu):
        raise ParameterError(name, f"needs one pile-up file per reference file, got {len(ref)} and {len(pu)}")
    same = [r for r, p in zip(ref, pu, strict=True) if _same(r, p)]
    if same:
        raise ParameterError(name, f"{same[0]} is both the reference and the pile-up file")


def _check_arguments(model_path: str | os.PathLike[str], signal: tuple[list[str], list[str]],
                     background: tuple[list[str], list[str]], output: str | os.PathLike[str],
                     signal_label: str, max_events: int) -> None:
    if max_events < 0:
        raise ParameterError("max_events", f"must be >= 0 (0: all), got {max_events}")
    _check_pairs("signal_pileup", *signal)
    _check_pairs("background_pileup", *background)
    inputs = {Path(f).resolve() for f in (*signal[0], *signal[1], *background[0], *background[1], model_path)}
    if Path(output).resolve() in inputs:
        raise ParameterError("output", f"{output} is one of the inputs: choose another file")
    if signal_label not in SIGNAL_LABELS:
        raise ParameterError("signal_label",
                             f"must be one of {', '.join(SIGNAL_LABELS)}, got {signal_label!r}")


def response_lines(doc: JsonObject) -> list[str]:
    """The terminal summary of a :func:`pileup_response` report."""
    report: Mapping[str, Any] = doc  # this module writes the document: it reads its keys
    lines = [f"{report['n_signal']} signal and {report['n_background']} background jets matched"]
    for name, r in report["scores"].items():
        sb = r["shift_background"]
        lines.append(f"{name:>18}: AUC {r['auc_reference']:.4f} -> {r['auc_pileup']:.4f} (dAUC "
                     f"{r['d_auc']:+.4f} +- {r['d_auc_err']:.4f}); QCD shift median {sb['median']:+.3g} "
                     f"[{sb['q16']:+.3g}, {sb['q84']:+.3g}]")
    return lines


def pileup_response(
    model_path: str | os.PathLike[str], signal: tuple[list[str], list[str]],
    background: tuple[list[str], list[str]], output: str | os.PathLike[str], *,
    signal_label: str = "top",
    pt_range: tuple[float, float] | None = None, eta_max: float | None = None, max_events: int = 0,
    progress: bool = False,
) -> JsonDict:
    """The pile-up response of every output of ``model_path`` (and of the observables).

    Args:
        model_path: an exported ONNX model.
        signal, background: (reference files, pile-up files), paired in order: each pair
            made by ``generate`` with the same process and ``--seed`` at two ``--pileup``.
        output: the JSON report to write.
        signal_label: which reference jets are signal (:data:`SIGNAL_LABELS`); background
            jets are the QCD-labelled ones (all, where the files have no truth).
        pt_range, eta_max: the reference jets' selection (default: the model's training one).
        max_events: read only the first events of each file (0: all).
        progress: say what it does on stderr.

    Raises:
        ParameterError: unpaired or identical files, an unknown signal label.
        JetCLRError: too few jets matched (files not from one seed).
    """
    _check_arguments(model_path, signal, background, output, signal_label, max_events)
    model = OnnxJetModel(model_path)
    window = model.card.training_window or JetWindow(0.0, np.inf, 2.4)
    lo, hi = pt_range or (window.pt_min, window.pt_max)
    selection = (float(lo), float(hi), float(eta_max if eta_max is not None else window.eta_max))

    say = _sayer(progress)
    label = SIGNAL_LABELS[signal_label]
    parts = [_pairs(model, *signal, selection,
                    lambda s: np.ones(len(s), bool) if label is None else s.labels == label, say, max_events),
             _pairs(model, *background, selection,
                    lambda s: s.labels == QCD if (s.labels >= 0).any() else np.ones(len(s), bool), say,
                    max_events)]
    s_ref = [_scores(model, ref, i_ref) for ref, _, i_ref, _ in parts]
    s_pu = [_scores(model, pu, i_pu) for _, pu, _, i_pu in parts]
    y = np.r_[np.ones(len(parts[0][2]), np.int64), np.zeros(len(parts[1][2]), np.int64)]
    say(f"bootstrapping the AUCs ({BOOTSTRAP} resamples)")
    report: dict[str, Any] = {
        "model": str(model_path), "signal_files": signal, "background_files": background,
        "selection": {"pt_min": selection[0], "pt_max": selection[1], "eta_max": selection[2],
                      "signal_label": signal_label, "on": "the reference jets"},
        "matching": f"same file position and event, nearest jet with dR < {MAX_DR}",
        "max_events": max_events,
        "n_signal": int((y == 1).sum()), "n_background": int((y == 0).sum()),
        "note": "shift: score(pile-up) - score(reference) per matched jet; d_auc: auc_pileup - "
                f"auc_reference, error from {BOOTSTRAP} paired bootstrap resamples",
        "scores": {name: _oriented(name, model, np.r_[s_ref[0][name], s_ref[1][name]],
                                   np.r_[s_pu[0][name], s_pu[1][name]], y) for name in s_ref[0]},
        "embedding": {name: _embedding_shift(model, ref, pu, i_ref, i_pu)
                      for name, (ref, pu, i_ref, i_pu) in zip(("signal", "background"), parts, strict=True)},
    }
    with atomic_path(output) as tmp:
        tmp.write_text(strict_json(report))
    return report
