"""ONNX model files: reading and writing their model card, grafting a linear tagger.

Everything a processor needs to prepare inputs exactly as in training lives in the ONNX
file's ``metadata_props`` under the key ``jetclr_coffea`` as JSON (the
:class:`~jetclr_coffea.model_card.ModelCard`), so there is no sidecar file to lose.
Reading a card from an ONNX Runtime session (:func:`card_from_session`) needs only
onnxruntime; the functions that edit graphs need the ``onnx`` package (the ``[train]``
extra).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from jetclr_coffea.errors import JetCLRError, MissingExtraError
from jetclr_coffea.model_card import METADATA_KEY, ModelCard

__all__ = ["METADATA_KEY", "add_linear_tagger", "card_from_session", "load_onnx", "read_card", "write_card"]


def _onnx() -> Any:
    try:
        import onnx
    except ImportError as err:
        raise MissingExtraError("onnx", "train") from err
    return onnx


def load_onnx(path: str | os.PathLike[str]) -> Any:
    """The ``onnx.ModelProto`` in ``path``.

    Raises:
        JetCLRError: missing file, or not an ONNX model.
    """
    onnx = _onnx()
    p = Path(path)
    if not p.is_file():
        raise JetCLRError(f"{p}: no such file")
    try:
        model = onnx.load(str(p))
    except Exception as err:  # protobuf raises DecodeError and friends
        raise JetCLRError(f"{p}: not an ONNX model ({type(err).__name__})") from err
    if len(model.graph.node) == 0:
        raise JetCLRError(f"{p}: not an ONNX model (empty graph)")
    return model


def read_card(path_or_model: str | os.PathLike[str] | Any) -> ModelCard:
    """The model card of an ONNX file (read as the processors read it, through ONNX Runtime:
    :func:`jetclr_coffea.inference.read_card`) or of a loaded ``onnx.ModelProto`` (during
    export), checked against its graph.

    Raises:
        JetCLRError: the file is not ONNX, has no card, or its card is malformed or does
            not describe the graph.
    """
    if isinstance(path_or_model, str | os.PathLike):  # a file: one reader, the processors' own
        from jetclr_coffea.inference import read_card as read_file_card

        return read_file_card(path_or_model)
    model: Any = path_or_model
    props = {p.key: p.value for p in model.metadata_props}
    if METADATA_KEY not in props:
        raise JetCLRError(f"the ONNX model: no '{METADATA_KEY}' metadata: not exported by jetclr-coffea")
    card = ModelCard.from_json(props[METADATA_KEY], "")

    def shapes(values: Any) -> dict[str, list[Any]]:
        return {v.name: [d.dim_value if d.HasField("dim_value") else d.dim_param
                         for d in v.type.tensor_type.shape.dim] for v in values}

    inits = {i.name for i in model.graph.initializer}
    card.check_graph(shapes(i for i in model.graph.input if i.name not in inits),
                     shapes(model.graph.output), "")
    return card


def card_from_session(session: Any, source: str = "") -> ModelCard:
    """The model card of a loaded ONNX Runtime ``InferenceSession``, checked against its graph."""
    meta = session.get_modelmeta().custom_metadata_map
    if METADATA_KEY not in meta:
        raise JetCLRError(f"{source or 'the ONNX model'}: no '{METADATA_KEY}' metadata: "
                          "not exported by jetclr-coffea")
    card = ModelCard.from_json(meta[METADATA_KEY], source)
    card.check_graph({i.name: i.shape for i in session.get_inputs()},
                     {o.name: o.shape for o in session.get_outputs()}, source)
    return card


def write_card(model: Any, card: ModelCard) -> None:
    """Set (replace) the model card of a loaded ``onnx.ModelProto``, in place, after checking
    it against the graph."""
    props = [p for p in model.metadata_props if p.key != METADATA_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(props)
    entry = model.metadata_props.add()
    entry.key = METADATA_KEY
    entry.value = card.to_json()
    read_card(model)  # the card must describe the graph


def add_linear_tagger(
    model: Any,
    weight: npt.NDArray[np.float64],
    bias: float,
    mean: npt.NDArray[np.float64],
    scale: npt.NDArray[np.float64],
    name: str = "tagger_score",
) -> Any:
    """Append ``sigmoid(((embedding - mean) / scale) @ weight + bias)`` as output ``name``.

    Args:
        model: an ``onnx.ModelProto`` with an ``embedding`` output of shape (N, D).
        weight: (D,) logistic-regression coefficients on the standardised embedding.
        bias: its intercept.
        mean: (D,) standardisation offsets.
        scale: (D,) standardisation scales.
        name: the new output, shape (N,).

    Returns:
        The same model, modified.
    """
    onnx = _onnx()
    from onnx import TensorProto, helper, numpy_helper

    outputs = [o.name for o in model.graph.output]
    if "embedding" not in outputs:
        raise JetCLRError("the ONNX model has no 'embedding' output to put a tagger on")
    for existing in [o for o in model.graph.output if o.name == name]:
        model.graph.output.remove(existing)
    nodes = [n for n in model.graph.node if not n.name.startswith(f"{name}/")]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    inits = [i for i in model.graph.initializer if not i.name.startswith(f"{name}/")]
    del model.graph.initializer[:]
    model.graph.initializer.extend(inits)

    def const(key: str, array: npt.NDArray[Any]) -> str:
        full = f"{name}/{key}"
        model.graph.initializer.append(numpy_helper.from_array(array, full))
        return full

    d = len(weight)
    p = f"{name}/"
    model.graph.node.extend([
        helper.make_node("Sub", ["embedding", const("mean", mean.astype(np.float32))],
                         [p + "centred"], name=p + "sub"),
        helper.make_node("Div", [p + "centred", const("scale", scale.astype(np.float32))],
                         [p + "scaled"], name=p + "div"),
        helper.make_node("MatMul", [p + "scaled",
                                    const("weight", weight.astype(np.float32).reshape(d, 1))],
                         [p + "logit2d"], name=p + "matmul"),
        helper.make_node("Add", [p + "logit2d", const("bias", np.array([bias], np.float32))],
                         [p + "biased"], name=p + "add"),
        helper.make_node("Sigmoid", [p + "biased"], [p + "prob2d"], name=p + "sigmoid"),
        helper.make_node("Squeeze", [p + "prob2d", const("axes", np.array([1], np.int64))],
                         [name], name=p + "squeeze"),
    ])
    model.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["jets"]))
    onnx.checker.check_model(model)
    return model
