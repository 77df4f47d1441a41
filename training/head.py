"""Grafting the LCT onto an exported encoder (``evaluate --fit-head``): the fitted linear
tagger becomes the model's ``tagger_score`` output, with the evaluation in its card.
Beside :mod:`.export` (torch-free: it edits the ONNX graph)."""

from __future__ import annotations

import os
from pathlib import Path

from jetclr_coffea._io import atomic_path, to_strict
from jetclr_coffea.errors import ParameterError

from .evaluate import EvaluationReport

__all__ = ["fit_head"]


def fit_head(model_path: str | os.PathLike[str], report: EvaluationReport,
             output: str | os.PathLike[str]) -> Path:
    """Write ``model_path`` plus the LCT that :func:`.evaluate.evaluate` fitted on its embedding
    (``report.lct``; its metrics go into the new file's card) as output ``tagger_score``.

    Raises:
        ParameterError: the report has no LCT (the model has no embedding).
    """
    import onnx

    from jetclr_coffea.model_card import OutputSpec
    from jetclr_coffea.onnx_io import add_linear_tagger, load_onnx, read_card, write_card

    lct = report.lct
    if lct is None:
        raise ParameterError("fit_head", f"needs a representation: {model_path} has no embedding")
    model = load_onnx(model_path)
    card = read_card(model_path)
    clf = lct.classifier
    add_linear_tagger(model, clf.weight, clf.bias, clf.mean, clf.scale)
    card = card.with_output(
        OutputSpec("tagger_score"),
        tagger={"kind": "logistic regression on the standardised embedding", "signal": report.signal_label,
                "signal_files": list(report.signal_files), "background_files": list(report.background_files)},
        metrics=to_strict(report.metrics))
    write_card(model, card)
    with atomic_path(output) as tmp:
        onnx.save(model, str(tmp))
    return Path(output)
