"""The typed model card: strict reading, checked against the graph, scores declared explicitly."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jetclr_coffea.errors import JetCLRError
from jetclr_coffea.inference import OnnxJetModel
from jetclr_coffea.model import EncoderConfig
from jetclr_coffea.model_card import METADATA_KEY, ModelCard, OutputSpec
from jetclr_coffea.onnx_io import load_onnx, read_card

pytest.importorskip("onnx", reason="needs the [train] extra")

MODEL = Path(__file__).resolve().parents[1] / "onnx_models" / "jetclr_top.onnx"


def _with_raw_card(tmp_path: Path, edit: Callable[[dict[str, Any]], Any]) -> Path:
    """The shipped model with its card's JSON edited (``edit`` may return a replacement text)."""
    import onnx

    model = load_onnx(MODEL)
    prop = next(p for p in model.metadata_props if p.key == METADATA_KEY)
    data = read_card(MODEL).to_dict()  # the current format
    replaced = edit(data)
    prop.value = replaced if isinstance(replaced, str) else json.dumps(data)
    out = tmp_path / "edited.onnx"
    onnx.save(model, str(out))
    return out


def test_shipped_cards_read_and_round_trip() -> None:
    card = read_card(MODEL)
    assert card.scores == ("tagger_score",)
    assert card.output("embedding").shape == (EncoderConfig(**card.encoder).embedding_width,)
    assert card.output("head").shape == (card.encoder["d_out"],)
    assert card.score_range("tagger_score") == (0.0, 1.0)
    again = ModelCard.from_json(card.to_json())
    assert again.outputs == card.outputs and again.preprocessing == card.preprocessing
    assert OnnxJetModel(MODEL).card.outputs == card.outputs  # the same card through ONNX Runtime


def test_a_head_of_width_one_is_a_vector_not_a_score() -> None:
    card = ModelCard.from_dict({"format_version": 2, "preprocessing": {"n_max": 4},
                                "outputs": {"embedding": [8], "head": [1], "anomaly_score": []},
                                "score_ranges": {"anomaly_score": [0.0, 10.0]}})
    assert card.scores == ("anomaly_score",) and card.output("head").shape == (1,)
    v1 = ModelCard.from_dict({"format_version": 1, "preprocessing": {"n_max": 4},
                              "outputs": {"embedding": 8, "head": 1, "tagger_score": 1}})
    assert v1.scores == ("tagger_score",) and v1.output("head").shape == (1,)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: "{not json", "model card is not valid JSON"),
        (lambda d: d.update(format_version=99), "format_version 99 is not one"),
        (lambda d: d.update(colour="red"), r"unknown key\(s\) \['colour'\]"),
        (lambda d: d["preprocessing"].update(features=["deta", "spin"]), "no usable preprocessing"),
        (lambda d: d["preprocessing"].update(features=["deta", "dphi"]),
         "constituents input has shape .* 2 features"),
        (lambda d: d["outputs"].pop("embedding"), "graph outputs"),
        (lambda d: d["outputs"].update(head=[32]), "output 'head' has per-jet shape \\[1\\]"),
        (lambda d: (d["outputs"].update(tagger_score=[1]), d["score_ranges"].pop("tagger_score")),
         "output 'tagger_score' has per-jet shape \\[\\]"),
        (lambda d: d.update(mask="fuzzy"), "unknown mask kind 'fuzzy'"),
        (lambda d: d.update(jet_features=["tau21"]),
         r"jet input has shape \['jets', 6\], the card declares the jet features \['tau21'\]"),
        (lambda d: d.pop("jet_features"), r"inputs \['constituents', 'mask', 'jet'\], expected "
                                          r"\['constituents', 'mask'\]"),
        (lambda d: d.update(jet_features=["spin"]), "jet_features must be distinct names"),
        (lambda d: d.update(jet_features=5), "jet_features must be a list of names, got 5"),
    ],
)
def test_bad_cards_are_refused_at_load(tmp_path: Path, edit: Callable[[dict[str, Any]], Any],
                                       message: str) -> None:
    path = _with_raw_card(tmp_path, edit)
    for load in (read_card, OnnxJetModel):
        with pytest.raises(JetCLRError, match=message) as info:
            load(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_no_card_names_the_file(tmp_path: Path) -> None:
    import onnx

    model = load_onnx(MODEL)
    del model.metadata_props[:]
    path = tmp_path / "plain.onnx"
    onnx.save(model, str(path))
    with pytest.raises(JetCLRError, match=f"{path}: no 'jetclr_coffea' metadata"):
        OnnxJetModel(path)


def test_with_output_adds_a_declared_score() -> None:
    card = read_card(MODEL).with_output(OutputSpec("other_score"), score_range=(2.0, 3.0))
    assert card.scores == ("tagger_score", "other_score") and card.score_range("other_score") == (2.0, 3.0)
    with pytest.raises(JetCLRError, match="not a score"):
        card.score_range("embedding")
    with pytest.raises(JetCLRError, match="score range of 'other_score' must be finite"):
        read_card(MODEL).with_output(OutputSpec("other_score"), score_range=(0.0, float("inf")))


def test_a_score_without_a_range_is_refused_unless_a_probability() -> None:
    """Issue 24 (item 14): an anomaly score with no declared range would fill a [0, 1] axis's
    overflow with every jet; the card is refused in one line.  Probabilities default to [0, 1]."""
    from jetclr_coffea.model_card import ModelCard, OutputSpec
    from jetclr_coffea.preprocessing import PreprocessSpec

    spec = PreprocessSpec(features=("deta", "dphi"))
    with pytest.raises(JetCLRError, match="score 'anomaly_score' declares no range"):
        ModelCard(preprocessing=spec, outputs=(OutputSpec("embedding", (8,)), OutputSpec("anomaly_score")))
    card = ModelCard(preprocessing=spec, outputs=(OutputSpec("embedding", (8,)), OutputSpec("tagger_score")))
    assert card.score_range("tagger_score") == (0.0, 1.0)
    ranged = ModelCard(preprocessing=spec, outputs=(OutputSpec("anomaly_score"),),
                       score_ranges={"anomaly_score": (0.0, 9.0)})
    assert ranged.score_range("anomaly_score") == (0.0, 9.0)
