"""``onnx_wrapper``: a coffea ``numpy_call_wrapper`` for exported jet encoders.

coffea ships wrappers for torch, triton and xgboost but none for ONNX.  This one runs an
exported jet encoder on jets x var constituent records, eagerly (awkward) or in coffea's
dask-awkward mode (``NanoEventsFactory.from_root(..., mode="dask")``,
``coffea.dataset_tools.apply_to_fileset``).  The awkward preparation (sort and pad to the
model's ``n_max``) happens in ``prepare_awkward`` with the array library of the input, the
numpy evaluation in ``numpy_call`` with the process-wide cached ONNX Runtime session, and
the session is never pickled, so each dask worker builds it once.

The constituents come from :func:`jetclr_coffea.lazy_reader.fatjet_constituents`, which
works on every backend::

    cands = fatjet_constituents(events)[selection]          # events x jets x constituents
    score = onnx_wrapper("model.onnx", output="tagger_score")(ak.flatten(cands, axis=1))
    score = ak.unflatten(score, ak.num(events.FatJet[selection], axis=1))  # events x jets

Several outputs from one inference: ``output=("tagger_score", "embedding")`` returns a dict
``{name: array}`` (dask-awkward arrays in dask mode), the model run once per jet.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import numpy.typing as npt

from jetclr_coffea.errors import JetCLRError
from jetclr_coffea.inference import OnnxJetModel
from jetclr_coffea.preprocessing import jet_feature_fields

__all__ = ["onnx_wrapper"]


def _numpy_call_wrapper() -> type:
    """coffea's ``numpy_call_wrapper``, without importing torch.

    ``coffea.ml_tools``'s package init imports every wrapper (torch's among them: 1.8 s and a
    torch dependency on workers that only run ONNX), so its ``helper`` module is loaded on
    its own, under its own name: a later ``import coffea.ml_tools`` finds it loaded.
    """
    name = "coffea.ml_tools.helper"
    module = sys.modules.get(name)
    if module is None:
        coffea_spec = importlib.util.find_spec("coffea")
        if coffea_spec is None or not coffea_spec.submodule_search_locations:  # pragma: no cover
            raise JetCLRError("onnx_wrapper needs coffea")
        path = Path(next(iter(coffea_spec.submodule_search_locations))) / "ml_tools" / "helper.py"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:  # pragma: no cover
            raise JetCLRError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return module.numpy_call_wrapper  # type: ignore[no-any-return]


class onnx_wrapper(_numpy_call_wrapper()):  # type: ignore[misc]
    """Run an exported encoder on jets x var constituent records.

    Call with a jets x var array of constituents (fields pt, eta, phi, mass; e.g. from
    :func:`jetclr_coffea.reader.read_constituents`), awkward or dask-awkward, and, for a
    model whose card declares jet features (``codec_twoprong.onnx``), the same jets' FatJet
    records as a second argument (``wrapper(cands, fatjets)``).  Returns one output per jet:
    ``output`` selects which ("embedding", "head", "tagger_score", ...); a sequence of names
    returns a dict of them from a single inference.

    Args:
        path: the ONNX file.
        output: the output to return, or several (a dict is returned).
        batch_size: jets per ONNX Runtime call (default: by provider).
    """

    def __init__(self, path: str, output: str | Sequence[str] = "embedding",
                 batch_size: int | None = None) -> None:
        super().__init__()
        self.model = OnnxJetModel(path, batch_size=batch_size)
        names = (output,) if isinstance(output, str) else tuple(output)
        if not names or len(set(names)) != len(names):
            raise JetCLRError(f"{path}: give each output once, got {list(names)}")
        for name in names:
            if name not in self.model.card.output_names:
                raise JetCLRError(f"{path}: the model has no output {name!r} "
                                  f"(it has {', '.join(self.model.card.output_names)})")
        #: the FatJet fields the model's jet features are computed from (none for most models)
        self.jet_fields = jet_feature_fields(self.model.card.jet_features)
        self.output = output
        self.outputs = names
        self.n_max = self.model.spec.n_max

    def validate_numpy_input(self, stacked: npt.NDArray[Any], *columns: npt.NDArray[Any]) -> None:
        if stacked.ndim != 3 or stacked.shape[2] != 4:
            raise ValueError(f"expected (jets, constituents, 4: pt eta phi mass), got {stacked.shape}")
        if len(columns) != len(self.jet_fields) or any(c.shape != stacked.shape[:1] for c in columns):
            raise ValueError(f"expected the jets' {list(self.jet_fields)}, one value per jet")

    def prepare_awkward(self, constituents: Any,
                        fatjets: Any = None) -> tuple[tuple[Any, ...], dict[str, object]]:
        lib = self.get_awkward_lib(constituents)
        if lib is None or constituents.ndim != 2:
            raise JetCLRError("onnx_wrapper takes jets x constituents records; flatten events x jets "
                              "x constituents first with ak.flatten(..., axis=1)")
        missing = [n for n in ("pt", "eta", "phi", "mass") if n not in constituents.fields]
        if missing:
            raise JetCLRError(f"onnx_wrapper: the constituents have no field(s) {missing}")
        spec = self.model.spec
        ordered = constituents[lib.argsort(constituents.pt, axis=1, ascending=False)]
        padded = lib.pad_none(ordered, spec.n_max, axis=1, clip=True)
        fields = {n: lib.fill_none(padded[n], 0.0) for n in ("pt", "eta", "phi", "mass")}
        stacked = lib.concatenate([fields[n][:, :, np.newaxis] for n in fields], axis=2)
        columns = []
        if self.jet_fields:  # the FatJet fields of the model's jet features, one column each
            have = [] if fatjets is None else fatjets.fields
            missing = [f for f in self.jet_fields if f not in have]
            if missing:
                raise JetCLRError(f"{self.model.path}: the model takes the jet features "
                                  f"{list(self.model.card.jet_features)}: call it with (constituents, "
                                  f"fatjets), the fat jets with {', '.join(missing)}")
            columns = [lib.values_astype(fatjets[f], np.float64) for f in self.jet_fields]
        return (lib.values_astype(stacked, np.float64), *columns), {}

    def numpy_call(self, stacked: npt.NDArray[np.float64], *columns: npt.NDArray[np.float64]
                   ) -> npt.NDArray[np.float32] | ak.Array:
        # padding (and any constituent without positive pT) is dropped entry by entry;
        # the model's own preprocessing then sorts, pads and masks exactly as in training
        real = stacked[:, :, 0] > 0
        flat = stacked[real]
        constituents = ak.unflatten(
            ak.zip({"pt": flat[:, 0], "eta": flat[:, 1], "phi": flat[:, 2], "mass": flat[:, 3]}),
            real.sum(axis=1),
        )
        jets = ak.zip(dict(zip(self.jet_fields, columns, strict=True))) if columns else None
        out = self.model(constituents, jets)
        if isinstance(self.output, str):
            return np.asarray(out[self.output], dtype=np.float32)
        # one record array (a row per jet, depth 1 so a (jets, D) output stays one field):
        # coffea's dask path passes it through as one partition and splits it into fields
        record: ak.Array = ak.zip({n: np.asarray(out[n], dtype=np.float32) for n in self.outputs},
                                  depth_limit=1)
        return record

    def postprocess_awkward(self, return_array: Any, *args: Any, **kwargs: Any) -> Any:
        """Several outputs: the record of :meth:`numpy_call` as a dict (dask mode has split it)."""
        if isinstance(self.output, str) or isinstance(return_array, dict):
            return return_array
        return {name: return_array[name] for name in return_array.fields}
