"""The trained models shipped with jetclr-coffea (installed as ``jetclr_coffea.models``).

Each ``*.onnx`` file carries its model card; ``README.md`` documents how each was trained
and what it achieves.  :func:`shipped_model` gives the path of one, from a source checkout
or from an installed wheel alike.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["shipped_model", "shipped_models"]


def shipped_models() -> list[str]:
    """Names of the shipped models (file names without ``.onnx``)."""
    return sorted(p.name[: -len(".onnx")] for p in resources.files(__name__).iterdir()
                  if p.name.endswith(".onnx"))


def shipped_model(name: str) -> Path:
    """The path of the shipped model ``name`` (``"jetclr_top"``, ``"darkclr_qcd"``).

    Raises:
        KeyError: no shipped model of that name.
    """
    res = resources.files(__name__) / f"{name}.onnx"
    if not res.is_file():
        raise KeyError(f"no shipped model {name!r} (shipped: {', '.join(shipped_models())})")
    return Path(str(res))
