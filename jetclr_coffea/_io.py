"""Atomic file output: write to a temporary name next to the target, then rename; strict JSON
and the types of JSON documents."""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from jetclr_coffea.errors import JetCLRError

__all__ = ["JsonDict", "JsonObject", "atomic_path", "check_writable", "probe_writable", "strict_json",
           "to_strict"]

#: A JSON document passed between layers (a report, a card's record, a YAML config): str keys,
#: JSON values.  Only the module that writes one reads it by key; every other layer passes it
#: on, prints it through that module's summary, or serialises it.
JsonObject = Mapping[str, object]
#: A JSON document being built (and returned by the module that owns its keys).
JsonDict = dict[str, object]


def probe_writable(folder: Path, target: str | os.PathLike[str]) -> None:
    """Refuse ``folder`` unless a file can be made in it: permissions alone do not say so (root
    passes every access check, and /proc or a read-only mount still refuse)."""
    if not os.access(folder, os.W_OK):
        raise JetCLRError(f"cannot write {target}: folder {folder} is not writable")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".probe.", dir=folder))
    except OSError as err:
        raise JetCLRError(f"cannot write {target}: folder {folder} is not writable "
                          f"({err.strerror or type(err).__name__})") from err


def check_writable(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` as a Path after checking that its folder exists and is writable.

    Raises:
        JetCLRError: the folder is missing, is not a folder, or cannot be written.
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise JetCLRError(f"cannot write {target}: folder {folder} does not exist")
    probe_writable(folder, target)
    if target.is_dir():
        raise JetCLRError(f"cannot write {target}: it is a folder")
    return target


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is left untouched, so a
    file the user already had is never lost or half-written.
    """
    target = check_writable(path)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".tmp", dir=target.parent if str(target.parent) else "."
    )
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp makes the file private (0600); give it the permissions a plain open() would
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def to_strict(obj: Any) -> Any:
    """``obj`` with every NaN or infinite float replaced by None (JSON ``null``), tuples as
    lists, numpy scalars as Python numbers: what a strict JSON parser accepts."""
    if isinstance(obj, dict):
        return {str(k): to_strict(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_strict(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", None) == 0:
        obj = obj.item()  # a numpy scalar
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def strict_json(obj: Any, *, indent: int | None = 2, default: Any = None) -> str:
    """Strict JSON text of ``obj`` (:func:`to_strict`: NaN and infinities as ``null``)."""
    return json.dumps(to_strict(obj), indent=indent, allow_nan=False, default=default)
