"""Strict loading of frozen-dataclass configurations from YAML.

Unknown keys and wrong types are refused with a one-line message that names the key;
nothing is evaluated (no ``eval``), only plain YAML scalars, lists and mappings are read.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from jetclr_coffea._io import JsonDict
from jetclr_coffea.errors import JetCLRError

__all__ = ["from_mapping", "load_yaml"]

T = TypeVar("T")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


#: A number written without a dot (``1e-3``), which YAML 1.1 leaves a string.
_FLOAT_TEXT = re.compile(r"[-+]?\d+(\.\d*)?[eE][-+]?\d+")


def _convert(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, dict):
            raise JetCLRError(f"{where}: expected a mapping, got {type(value).__name__}")
        return from_mapping(tp, value, where)
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, list | tuple):
            raise JetCLRError(f"{where}: expected a list, got {type(value).__name__}")
        return tuple(_convert(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        key_type, value_type = typing.get_args(tp)
        if not isinstance(value, dict):
            raise JetCLRError(f"{where}: expected a mapping, got {type(value).__name__}")
        return {_convert(k, key_type, f"{where} key"): _convert(v, value_type, f"{where}.{k}")
                for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _convert(value, options[0], where)
    if tp is bool:
        if not isinstance(value, bool):
            raise JetCLRError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise JetCLRError(f"{where}: expected a whole number, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str) and _FLOAT_TEXT.fullmatch(value.strip()):
            value = float(value)  # PyYAML reads 1e-3 (no dot) as a string: take it as the number
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise JetCLRError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise JetCLRError(f"{where}: expected a string, got {value!r}")
        return value
    raise JetCLRError(f"{where}: unsupported type {_type_name(tp)}")  # pragma: no cover


def from_mapping(cls: type[T], data: JsonDict, where: str = "") -> T:
    """Build the frozen dataclass ``cls`` from ``data``, strictly.

    Raises:
        JetCLRError: an unknown key, a missing required key, a wrong type, or a value the
            dataclass itself refuses.
    """
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    prefix = f"{where}." if where else ""
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise JetCLRError(
            f"unknown key {prefix}{unknown[0]} (known in {where or 'the top level'}: "
            f"{', '.join(sorted(fields))})"
        )
    values = {}
    for name, f in fields.items():
        if name in data:
            values[name] = _convert(data[name], hints[name], f"{prefix}{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise JetCLRError(f"missing key {prefix}{name}")
    try:
        return cls(**values)
    except (TypeError, ValueError) as err:
        raise JetCLRError(f"{where or 'config'}: {err}") from err


def load_yaml(path: str | os.PathLike[str]) -> JsonDict:
    """Read a YAML mapping (safe loader)."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise JetCLRError(f"{p}: no such config file")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as err:
        raise JetCLRError(f"{p}: not valid YAML ({str(err).splitlines()[0]})") from err
    if not isinstance(data, dict):
        raise JetCLRError(f"{p}: expected a mapping at the top level")
    return data
