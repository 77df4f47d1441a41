"""The prepared-input cache: a training set larger than memory, streamed from disk.

``data.cache`` (a folder) makes :func:`~jetclr_coffea.training.data.load_jets` write each
file's padded kinematics there as it reads it (float32, the precision training uses),
instead of holding every file's constituents and kinematics in memory at once; the jets'
small per-jet fields (pT, labels, weights, observables, event) stay in memory.  Training
then reads each batch's rows from the memory-mapped arrays
(:class:`~jetclr_coffea.training.data.MappedJets`), so its
memory is the per-jet fields and the batches, not the whole training set: a few million
jets (about 1 kB each at 50 constituents) fit on a 24 GB machine.

A cache is keyed by what it was made from (each file's path, size and modification time,
the jet window, ``max_jets``, the preprocessing): a second run with the same data reads no
ROOT file; a change of any of them makes a new entry beside the old.  Each entry is
written under a temporary name and renamed when complete, so an interrupted build leaves
no entry that looks whole.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path

import numpy as np
import numpy.typing as npt

from jetclr_coffea.errors import JetCLRError
from jetclr_coffea.preprocessing import PreprocessSpec
from jetclr_coffea.preprocessing.features import ConstituentArrays

__all__ = ["CACHE_VERSION", "CacheWriter", "cache_entry", "read_cache"]

#: Bumped when the layout or what load_jets stores changes (old entries are then not read).
CACHE_VERSION = 1
_ARRAYS = tuple(f.name for f in fields(ConstituentArrays))  # the mask is boolean, the rest float32
_FLOATS = tuple(name for name in _ARRAYS if name != "mask")
_INDEX = "index.json"
_FIELDS = "jets.npz"


def cache_entry(cache: str | os.PathLike[str], files: Sequence[str | os.PathLike[str]],
                window: tuple[float, float, float], max_jets: int, max_events: int,
                spec: PreprocessSpec) -> Path:
    """The folder of the cache entry for these inputs (not necessarily existing)."""
    stats = []
    for f in files:
        p = Path(f)
        s = p.stat() if p.is_file() else None
        stats.append([str(p.resolve()), s.st_size if s else -1, s.st_mtime_ns if s else -1])
    material = json.dumps({"version": CACHE_VERSION, "files": stats, "window": list(window),
                           "max_jets": max_jets, "max_events": max_events, "spec": spec.to_dict()},
                          sort_keys=True)
    return Path(cache) / hashlib.sha256(material.encode()).hexdigest()[:20]


class CacheWriter:
    """Appends each file's padded kinematics to one entry; :meth:`finish` makes it whole."""

    def __init__(self, entry: Path, n_max: int) -> None:
        entry.parent.mkdir(parents=True, exist_ok=True)
        self.entry, self.n_max, self.n_jets = entry, n_max, 0
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=entry.parent))
        self.handles = {name: (self.tmp / f"{name}.bin").open("wb") for name in _ARRAYS}

    def append(self, arrays: ConstituentArrays) -> None:
        for name in _FLOATS:
            self.handles[name].write(np.ascontiguousarray(getattr(arrays, name), np.float32).tobytes())
        self.handles["mask"].write(np.ascontiguousarray(arrays.mask, np.bool_).tobytes())
        self.n_jets += len(arrays.mask)

    def finish(self, fields: dict[str, npt.NDArray[np.generic]]) -> ConstituentArrays:
        """Write the per-jet ``fields``, rename the entry into place, return its arrays."""
        for handle in self.handles.values():
            handle.close()
        names = sorted(fields)
        np.savez(self.tmp / _FIELDS, *(fields[k] for k in names))  # arr_0, arr_1, ... in ``names`` order
        (self.tmp / _INDEX).write_text(json.dumps({"version": CACHE_VERSION, "n_jets": self.n_jets,
                                                   "n_max": self.n_max, "fields": names}))
        if self.entry.exists():  # made meanwhile by another run from the same inputs
            shutil.rmtree(self.tmp)
        else:
            os.replace(self.tmp, self.entry)
        found = read_cache(self.entry)
        assert found is not None
        return found[0]

    def abort(self) -> None:
        for handle in self.handles.values():
            handle.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def read_cache(entry: Path) -> tuple[ConstituentArrays, dict[str, npt.NDArray[np.generic]]] | None:
    """(memory-mapped kinematics, per-jet fields) of a complete entry; None where there is none.

    Raises:
        JetCLRError: the entry is there but damaged (sizes that do not match its index).
    """
    try:
        index = json.loads((entry / _INDEX).read_text())
    except (OSError, ValueError):
        return None
    if index.get("version") != CACHE_VERSION:
        return None
    n, c = int(index["n_jets"]), int(index["n_max"])
    try:
        maps = {name: np.memmap(entry / f"{name}.bin", dtype=np.float32 if name != "mask" else np.bool_,
                                mode="r", shape=(n, c)) for name in _ARRAYS}
        with np.load(entry / _FIELDS) as saved:
            fields = {k: saved[f"arr_{i}"] for i, k in enumerate(index["fields"])}
    except (OSError, ValueError, KeyError) as err:
        raise JetCLRError(f"{entry}: a damaged training cache entry ({err}); delete it to rebuild") from err
    return ConstituentArrays(**maps), fields
