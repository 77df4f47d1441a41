"""ONNX model files: the metadata we embed, and grafting a linear tagger onto a graph.

Everything a processor needs to prepare inputs exactly as in training lives in the ONNX
file's ``metadata_props`` under the key ``jetclr_coffea`` as JSON, so there is no sidecar
file to lose.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from jetclr_coffea.errors import JetCLRError, MissingExtraError

__all__ = ["METADATA_KEY", "add_linear_tagger", "load_onnx", "read_metadata", "write_metadata"]

METADATA_KEY = "jetclr_coffea"


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


def read_metadata(path_or_model: str | os.PathLike[str] | Any) -> dict[str, Any]:
    """The jetclr-coffea metadata of an ONNX file (or loaded model).

    Raises:
        JetCLRError: the file is not ONNX or was not written by jetclr-coffea.
    """
    model = (load_onnx(path_or_model) if isinstance(path_or_model, str | os.PathLike)
             else path_or_model)
    for prop in model.metadata_props:
        if prop.key == METADATA_KEY:
            data: dict[str, Any] = json.loads(prop.value)
            return data
    raise JetCLRError(f"ONNX model has no '{METADATA_KEY}' metadata: not exported by jetclr-coffea")


def write_metadata(model: Any, metadata: dict[str, Any]) -> None:
    """Set (replace) the jetclr-coffea metadata of a loaded model, in place."""
    for prop in list(model.metadata_props):
        if prop.key == METADATA_KEY:
            model.metadata_props.remove(prop)
    entry = model.metadata_props.add()
    entry.key = METADATA_KEY
    entry.value = json.dumps(metadata, sort_keys=True)


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
