"""Reading a training config: YAML (or a checkpoint's record of it) -> :class:`TrainConfig`.

The objective named by ``objective:`` is looked up in the registry, and the sections it
declares (:attr:`~jetclr_coffea.training.objectives.Objective.sections`) are parsed into
their dataclasses; a section that another objective reads is refused in one line (it would
do nothing).  Every path a config names is relative to the config file: ``data.fileset`` and
``data.cache`` here, and the objective's own (``supervised.init_from``) through
:meth:`~jetclr_coffea.training.objectives.Objective.resolve_paths`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from jetclr_coffea._io import JsonObject
from jetclr_coffea.errors import JetCLRError
from jetclr_coffea.strict_yaml import from_mapping, load_yaml

from .config import TrainConfig
from .objectives import OBJECTIVES, Objective, get_objective

__all__ = ["load_config", "parse_config"]

_FIELDS = frozenset(f.name for f in fields(TrainConfig)) - {"sections"}


def _objective(data: Mapping[str, Any]) -> Objective:
    name = data.get("objective", "jetclr")
    if not isinstance(name, str):
        raise JetCLRError(f"objective: expected a string, got {name!r}")
    return get_objective(name)


def _split_sections(data: Mapping[str, Any], objective: Objective, strict: bool
                    ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the run's common keys, the objective's sections) of ``data``; sections of other
    objectives refused (``strict``) or dropped (a checkpoint of an older version)."""
    common, own = {}, {}
    for key, value in data.items():
        if key in objective.sections:
            own[key] = value
        elif key in _FIELDS or key not in {s for o in OBJECTIVES.values() for s in o.sections}:
            common[key] = value  # unknown keys are refused by from_mapping, naming them
        elif strict:
            readers = [o.name for o in OBJECTIVES.values() if key in o.sections]
            raise JetCLRError(f"section {key} is read by objective {' or '.join(readers)}, not by "
                              f"{objective.name} (it reads: {', '.join(objective.sections) or 'none'})")
    return common, own


def parse_config(data: JsonObject, *, strict: bool = True) -> TrainConfig:
    """A checked :class:`TrainConfig` from a YAML mapping; ``model.n_features`` (and any
    section's ``n_features``) follow the feature list.  ``strict=False`` (a checkpoint's own
    record) drops sections the objective does not read instead of refusing them.

    Raises:
        JetCLRError: an unknown objective, key or section, a wrong type, a refused value.
    """
    objective = _objective(data)
    if "sections" in data:  # a field of TrainConfig, not a key of the YAML
        raise JetCLRError("unknown key sections (an objective's sections are top-level keys)")
    common, own = _split_sections(data, objective, strict)
    for name in ("model", *own):
        section = data.get(name)
        if isinstance(section, dict) and "n_features" in section and strict:
            raise JetCLRError(f"{name}.n_features is set from preprocessing.features; remove it")
    cfg = from_mapping(TrainConfig, common)
    n = len(cfg.preprocessing.features)
    sections: dict[str, object] = {}
    for name, kind in objective.sections.items():  # every declared section, defaults where not given
        value = own.get(name, {})
        if not isinstance(value, dict):
            raise JetCLRError(f"{name}: expected a mapping, got {type(value).__name__}")
        value = {k: v for k, v in value.items() if k != "n_features"}
        has_n = any(f.name == "n_features" for f in fields(kind))
        sections[name] = from_mapping(kind, {**value, **({"n_features": n} if has_n else {})}, name)
    cfg = replace(cfg, model=replace(cfg.model, n_features=n), sections=sections)
    try:
        objective.check(cfg)
    except ValueError as err:
        raise JetCLRError(f"config: {err}") from err
    return cfg


def load_config(path: str | os.PathLike[str]) -> TrainConfig:
    """Load and check a training config (:func:`parse_config`), its paths made absolute
    relative to the config file.

    Raises:
        JetCLRError: the file is missing or not YAML, or :func:`parse_config` refuses it;
            the message starts with the path.
    """
    data = load_yaml(path)
    base = Path(path).parent
    try:
        cfg = parse_config(data)
        if cfg.data.fileset:  # relative to the config file, as a fileset's files are to the fileset
            fileset = base / cfg.data.fileset
            if not fileset.is_file():
                raise JetCLRError(f"data.fileset {cfg.data.fileset!r}: no such file {fileset}")
            cfg = replace(cfg, data=replace(cfg.data, fileset=str(fileset.resolve())))
        if cfg.data.cache:
            cfg = replace(cfg, data=replace(cfg.data, cache=str((base / cfg.data.cache).resolve())))
        return get_objective(cfg.objective).resolve_paths(cfg, base)
    except JetCLRError as err:
        raise JetCLRError(f"{path}: {err}") from err
