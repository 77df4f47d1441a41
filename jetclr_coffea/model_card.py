"""The typed model card: what an exported model declares about itself.

Every ONNX file written by jetclr-coffea carries, in its ``metadata_props`` under the key
``jetclr_coffea``, a JSON document that :class:`ModelCard` reads strictly: unknown keys and
unknown format versions are refused, and the declared inputs and outputs are checked
against the graph when a model is loaded, so a card that does not describe its graph is
an error at load, never a wrong number later.

Outputs are declared with their per-jet shape: ``[]`` for a score (one number per jet),
``[D]`` for a vector (the embedding, the projection head), so a head of width 1 is a
vector of width 1, not a score.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from jetclr_coffea._io import JsonDict, JsonObject
from jetclr_coffea.errors import JetCLRError
from jetclr_coffea.preprocessing import MASK_KINDS, PreprocessSpec, check_jet_features

__all__ = [
    "FORMAT_VERSION",
    "KNOWN_FORMATS",
    "MASK_KINDS",
    "METADATA_KEY",
    "MODEL_KINDS",
    "PROBABILITY_SCORES",
    "JetWindow",
    "JsonObject",
    "ModelCard",
    "OutputSpec",
]



@dataclass(frozen=True)
class JetWindow:
    """The fat-jet selection a model was trained on (GeV)."""

    pt_min: float
    pt_max: float
    eta_max: float


#: The metadata key of the card in the ONNX file.
METADATA_KEY = "jetclr_coffea"
#: The card format this version writes.  Version 1 (outputs as ``{name: width}``, a width
#: of 1 for a score) is still read.
FORMAT_VERSION = 2
KNOWN_FORMATS = (1, 2)
#: Architectures: ``jetclr``: the transformer encoder of :mod:`jetclr_coffea.model` (its
#: outputs do not depend on trailing padding); ``ot_medoids``: optimal-transport distances
#: to QCD medoid jets computed in the graph (``jetclr_coffea.training.ot_medoids``);
#: ``emd_vae``: the Sinkhorn-EMD VAE of :mod:`jetclr_coffea.vae`; ``efn``: the Energy Flow
#: Network of :mod:`jetclr_coffea.efn`.
MODEL_KINDS = ("jetclr", "ot_medoids", "emd_vae", "efn")
#: Scores that are probabilities (a sigmoid's output) and so range over [0, 1] without a
#: declared range; every other score must declare one (its histogram axes and DDT maps).
PROBABILITY_SCORES = ("tagger_score", "decorrelated_score")
#: The inputs every model takes: constituents (jets, constituents, features) and mask; a
#: model with ``jet_features`` also takes ``jet`` (jets, len(jet_features)).
INPUTS = ("constituents", "mask")
JET_INPUT = "jet"


@dataclass(frozen=True)
class OutputSpec:
    """One output of a model.

    Attributes:
        name: the ONNX output name.
        shape: the per-jet shape: ``()`` for a score, ``(D,)`` for a D-vector.
    """

    name: str
    shape: tuple[int, ...] = ()

    @property
    def is_score(self) -> bool:
        """One number per jet."""
        return self.shape == ()


def _where(source: str) -> str:
    return f"{source}: " if source else ""


def _outputs_from(raw: Any, version: int, source: str) -> tuple[OutputSpec, ...]:
    if not isinstance(raw, Mapping) or not raw:
        raise JetCLRError(f"{_where(source)}model card: outputs must be a non-empty mapping")
    out = []
    for name, shape in raw.items():
        if version == 1:  # {name: width}; the writers of version 1 gave scores width 1
            if isinstance(shape, bool) or not isinstance(shape, int) or shape <= 0:
                raise JetCLRError(f"{_where(source)}model card: output {name!r} has width {shape!r}")
            spec = OutputSpec(name, () if (shape == 1 and name.endswith("_score")) else (shape,))
        else:
            if not isinstance(shape, list) or not all(
                    isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
                raise JetCLRError(f"{_where(source)}model card: output {name!r} needs a per-jet shape "
                                  f"list of positive widths, got {shape!r}")
            spec = OutputSpec(name, tuple(shape))
        out.append(spec)
    return tuple(out)


@dataclass(frozen=True)
class ModelCard:
    """The declared contract of an exported model (see the module docstring).

    Attributes:
        preprocessing: how constituents become inputs (stored with the model so a
            processor prepares jets exactly as training did).
        outputs: the outputs, in graph order.
        mask: one of :data:`MASK_KINDS`.
        model_kind: one of :data:`MODEL_KINDS`.
        code_version: the jetclr-coffea version that wrote the card.
        score_ranges: declared ranges of scores (histogram axes, DDT maps); required for
            every score but the probabilities of :data:`PROBABILITY_SCORES`, which range
            over [0, 1] where none is declared.
        encoder: the encoder's configuration.
        training: how the model was trained (config sections, epochs, loss, time).
        metrics: evaluation results recorded with the model.
        tagger: what a grafted ``tagger_score`` was fitted on.
        scores_info: what each score is (``{"anomaly_score": {"definition": ...}}``).
        jet_features: per-jet inputs besides the constituents (the graph input ``jet``), from
            :data:`~jetclr_coffea.preprocessing.jet_features.JET_FEATURES`; empty for most
            models.
        format_version: the card format.
    """

    preprocessing: PreprocessSpec
    outputs: tuple[OutputSpec, ...]
    mask: str = "binary"
    model_kind: str = "jetclr"
    code_version: str = ""
    score_ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    encoder: JsonObject = field(default_factory=dict)
    training: JsonObject = field(default_factory=dict)
    metrics: JsonObject = field(default_factory=dict)
    tagger: JsonObject | None = None
    scores_info: JsonObject = field(default_factory=dict)
    jet_features: tuple[str, ...] = ()
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "jet_features", check_jet_features(self.jet_features))
        except ValueError as err:
            raise JetCLRError(f"model card: {err}") from err
        if self.mask not in MASK_KINDS:
            raise JetCLRError(f"model card: unknown mask kind {self.mask!r} (known: {', '.join(MASK_KINDS)})")
        if self.model_kind not in MODEL_KINDS:
            raise JetCLRError(f"model card: unknown model kind {self.model_kind!r} "
                              f"(known: {', '.join(MODEL_KINDS)})")
        names = [o.name for o in self.outputs]
        if len(set(names)) != len(names):
            raise JetCLRError(f"model card: output names repeat ({names})")
        missing = [n for n in self.scores if n not in self.score_ranges and n not in PROBABILITY_SCORES]
        if missing:
            raise JetCLRError(f"model card: score {missing[0]!r} declares no range (score_ranges): only the "
                              f"probabilities {', '.join(PROBABILITY_SCORES)} default to [0, 1], and a "
                              "histogram of any other score on [0, 1] could hold every jet in its overflow")
        for name, (lo, hi) in self.score_ranges.items():
            if name not in self.scores:
                raise JetCLRError(f"model card: a range for {name!r}, which is not a score output")
            if not (math.isfinite(lo) and math.isfinite(hi)):
                raise JetCLRError(f"model card: score range of {name!r} must be finite ({lo}, {hi}): it sets "
                                  "histogram axes")
            if not lo < hi:
                raise JetCLRError(f"model card: score range of {name!r} is empty ({lo}, {hi})")

    # -- what the card declares ----------------------------------------------------------
    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.outputs)

    @property
    def scores(self) -> tuple[str, ...]:
        """The outputs with one number per jet."""
        return tuple(o.name for o in self.outputs if o.is_score)

    @property
    def input_names(self) -> tuple[str, ...]:
        """The graph's inputs, in order."""
        return (*INPUTS, JET_INPUT) if self.jet_features else INPUTS

    @property
    def n_features(self) -> int:
        return len(self.preprocessing.features)

    @property
    def has_representation(self) -> bool:
        """The model gives an ``embedding`` (a learned representation to fit on)."""
        return "embedding" in self.output_names

    @property
    def training_window(self) -> JetWindow | None:
        """The fat-jet window of the training record's ``data`` (None: it records none)."""
        data = self.training.get("data")
        if not isinstance(data, Mapping):
            return None
        values = [v for v in (data.get(k) for k in ("pt_min", "pt_max", "eta_max"))
                  if isinstance(v, int | float) and not isinstance(v, bool)]
        return JetWindow(*map(float, values)) if len(values) == 3 else None

    def output(self, name: str) -> OutputSpec:
        for o in self.outputs:
            if o.name == name:
                return o
        raise JetCLRError(f"the model has no output {name!r} (it has {', '.join(self.output_names)})")

    def score_range(self, name: str) -> tuple[float, float]:
        """The declared range of score ``name`` ([0, 1] for a probability that declares none)."""
        if name not in self.scores:
            raise JetCLRError(f"{name!r} is not a score of the model (scores: {', '.join(self.scores)})")
        lo, hi = self.score_ranges.get(name, (0.0, 1.0))
        return float(lo), float(hi)

    def with_output(self, spec: OutputSpec, *, score_range: tuple[float, float] | None = None,
                    **changes: Any) -> ModelCard:
        """A copy with output ``spec`` added (or replaced), and other fields changed."""
        outputs = (*(o for o in self.outputs if o.name != spec.name), spec)
        ranges = dict(self.score_ranges)
        if score_range is not None:
            ranges[spec.name] = score_range
        return replace(self, outputs=outputs, score_ranges=ranges, **changes)

    # -- checks against the graph --------------------------------------------------------
    def check_graph(self, inputs: Mapping[str, Sequence[Any]], outputs: Mapping[str, Sequence[Any]],
                    source: str = "") -> None:
        """Refuse a card that does not describe the graph (names, ranks, fixed widths).

        Args:
            inputs, outputs: graph input / output name -> shape (ints for fixed axes,
                strings or None for dynamic ones), in graph order.
            source: the file, for the message.
        """
        where = f"{_where(source)}model card does not match the graph: "
        if tuple(inputs) != self.input_names:
            raise JetCLRError(f"{where}inputs {list(inputs)}, expected {list(self.input_names)}")
        if self.jet_features:
            jet = list(inputs[JET_INPUT])
            if len(jet) != 2 or (isinstance(jet[1], int) and jet[1] != len(self.jet_features)):
                raise JetCLRError(f"{where}jet input has shape {jet}, the card declares the jet features "
                                  f"{list(self.jet_features)}")
        width = list(inputs["constituents"])[2:3]
        if len(inputs["constituents"]) != 3 or (isinstance(width[0], int) and width[0] != self.n_features):
            raise JetCLRError(f"{where}constituents input has shape {list(inputs['constituents'])}, the "
                              f"card declares {self.n_features} features {list(self.preprocessing.features)}")
        if set(outputs) != set(self.output_names):
            raise JetCLRError(f"{where}graph outputs {sorted(outputs)}, "
                              f"card outputs {sorted(self.output_names)}")
        for o in self.outputs:
            shape = list(outputs[o.name])[1:]
            fixed = [d if isinstance(d, int) else None for d in shape]
            if len(shape) != len(o.shape) or any(f is not None and f != d for f, d in zip(fixed, o.shape,
                                                                                           strict=True)):
                raise JetCLRError(f"{where}output {o.name!r} has per-jet shape {shape}, the card says "
                                  f"{list(o.shape)}")

    # -- (de)serialisation ---------------------------------------------------------------
    def to_dict(self) -> JsonDict:
        n = self.n_features
        return {
            "format_version": FORMAT_VERSION,
            "model_kind": self.model_kind,
            "code_version": self.code_version,
            "preprocessing": self.preprocessing.to_dict(),
            "mask": self.mask,
            "inputs": {"constituents": ["jets", "constituents", n], "mask": ["jets", "constituents"],
                       **({JET_INPUT: ["jets", len(self.jet_features)]} if self.jet_features else {})},
            **({"jet_features": list(self.jet_features)} if self.jet_features else {}),
            "outputs": {o.name: list(o.shape) for o in self.outputs},
            "score_ranges": {k: [float(lo), float(hi)] for k, (lo, hi) in self.score_ranges.items()},
            "encoder": dict(self.encoder),
            "training": dict(self.training),
            "metrics": dict(self.metrics),
            "tagger": dict(self.tagger) if self.tagger is not None else None,
            "scores_info": dict(self.scores_info),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Any, source: str = "") -> ModelCard:
        """Read a card strictly.

        Raises:
            JetCLRError: not a mapping, an unknown format version or key, a missing or
                malformed section.
        """
        where = _where(source)
        if not isinstance(data, Mapping):
            raise JetCLRError(f"{where}model card is not a JSON object")
        version = data.get("format_version")
        if version not in KNOWN_FORMATS:
            raise JetCLRError(f"{where}model card format_version {version!r} is not one this version of "
                              f"jetclr-coffea reads ({', '.join(map(str, KNOWN_FORMATS))}); upgrade it")
        values = dict(data)
        if version == 1 and "anomaly_score" in values:  # renamed in version 2
            values["scores_info"] = {"anomaly_score": values.pop("anomaly_score")}
        known = {f.name for f in fields(cls)} | {"inputs"}
        unknown = sorted(set(values) - known)
        if unknown:
            raise JetCLRError(f"{where}model card has unknown key(s) {unknown} (known: {sorted(known)})")
        for required in ("preprocessing", "outputs"):
            if required not in values:
                raise JetCLRError(f"{where}model card has no {required!r}")
        try:
            spec = PreprocessSpec.from_dict(values["preprocessing"])
        except (TypeError, ValueError, AttributeError) as err:
            raise JetCLRError(f"{where}model card has no usable preprocessing ({err})") from err
        values.pop("inputs", None)  # derived from the preprocessing, checked against the graph
        ranges = values.get("score_ranges") or {}
        if not isinstance(ranges, Mapping) or not all(
                isinstance(r, list | tuple) and len(r) == 2 for r in ranges.values()):
            raise JetCLRError(f"{where}model card: score_ranges must map scores to [low, high]")
        outputs = _outputs_from(values["outputs"], version, source)
        jet_features = values.get("jet_features") or []
        if not isinstance(jet_features, list):
            raise JetCLRError(f"{where}model card: jet_features must be a list of names, "
                              f"got {jet_features!r}")
        try:
            return cls(
                preprocessing=spec, outputs=outputs,
                mask=values.get("mask", "binary"), model_kind=values.get("model_kind", "jetclr"),
                code_version=str(values.get("code_version", "")),
                score_ranges={k: (float(lo), float(hi)) for k, (lo, hi) in ranges.items()},
                encoder=values.get("encoder") or {}, training=values.get("training") or {},
                metrics=values.get("metrics") or {}, tagger=values.get("tagger"),
                scores_info=values.get("scores_info") or {},
                jet_features=tuple(jet_features), format_version=version,
            )
        except JetCLRError as err:
            raise JetCLRError(f"{where}{err}") from err

    @classmethod
    def from_json(cls, text: str, source: str = "") -> ModelCard:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise JetCLRError(f"{_where(source)}model card is not valid JSON "
                              f"({err.msg} at char {err.pos})") from err
        return cls.from_dict(data, source)
