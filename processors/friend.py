"""NanoAOD friend trees of a run's scores (``run --friend DIR``).

For every input file, ``DIR/<input stem>_friend.root`` holds a TTree ``Friends`` with
exactly the input's entries in order, so that in ROOT

    Events->AddFriend("Friends", "qcd_friend.root");
    Events->Draw("FatJet_jetclr_top_tagger_score", "FatJet_pt > 400");

just works.  Branches: ``run``, ``luminosityBlock``, ``event`` (where the input has them),
the counter ``nFatJet`` (the input's), and per fat jet ``FatJet_<model>_<output>`` for every
scalar output (and ``<score>_ddt`` with a DDT map) and the embedding: NaN for jets outside
the selection or without stored constituents (a training head or the OT model's medoid
distances are left out).  A D-vector output (the embedding) is written as D branches
``FatJet_<model>_<output>_<k>``, k = 0 .. D-1, which ROOT's ``Draw`` and RDataFrame read
like any other.  Coffea's chunks may finish in any order: each carries its entry range, and
the writer assembles them in order and checks that they cover the file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import numpy.typing as npt

from jetclr_coffea._io import atomic_path, check_writable
from jetclr_coffea.errors import JetCLRError

from .result import Columns, Fileset

__all__ = ["EVENT_BRANCHES", "check_friend_names", "friend_chunk", "friend_path", "write_friends"]

#: Event-level branches copied from the input where it has them.
EVENT_BRANCHES = ("run", "luminosityBlock", "event")


def friend_path(folder: str | os.PathLike[str], input_file: str) -> Path:
    """``<folder>/<input stem>_friend.root``."""
    stem = Path(input_file.split("://")[-1]).name
    stem = stem[:-5] if stem.endswith(".root") else stem
    return Path(folder) / f"{stem}_friend.root"


def check_friend_names(fileset: Fileset, folder: str | os.PathLike[str]) -> None:
    """Before the first chunk: the folder must be (or be creatable as) a writable folder; two
    inputs whose friends would share a name, or a friend that would overwrite an input, are
    refused.

    Raises:
        JetCLRError: naming the folder or both files.
    """
    d = Path(folder)
    if d.exists() and not d.is_dir():
        raise JetCLRError(f"--friend {d} exists and is not a folder")
    check_writable(d / "_" if d.is_dir() else d)
    inputs = [f for entry in fileset.values() for f in entry["files"]]
    seen: dict[Path, str] = {}
    resolved = {Path(f).resolve() for f in inputs if "://" not in f}
    for f in inputs:
        target = friend_path(folder, f)
        if target in seen:
            raise JetCLRError(f"{seen[target]} and {f} would both have the friend {target}: rename one")
        if target.resolve() in resolved:
            raise JetCLRError(f"the friend of {f} would overwrite the input {target}: choose another "
                              "--friend folder")
        seen[target] = f


def _full(values: npt.NDArray[Any], flat_sel: npt.NDArray[np.bool_] | None, n_jets: int,
          width: tuple[int, ...]) -> npt.NDArray[np.float32]:
    out = np.full((n_jets, *width), np.nan, dtype=np.float32)
    if flat_sel is not None and flat_sel.any():  # no selected jet: the models may return (0,) arrays
        out[flat_sel] = values
    return out


def friend_chunk(events: Any, outputs: Mapping[str, tuple[int, ...]],
                 flat_sel: npt.NDArray[np.bool_] | None, values: Mapping[str, npt.NDArray[Any]]
                 ) -> Columns:
    """One chunk's friend columns: its file and entry range, the event branches, ``nFatJet``,
    and every output (``outputs``: name -> per-jet shape) over all the chunk's fat jets, NaN
    where ``values`` (rows: the jets ``flat_sel`` selects) has none or ``flat_sel`` is None."""
    md = events.metadata
    counts = (np.asarray(ak.to_numpy(ak.num(events.FatJet, axis=1)), dtype=np.int32)
              if "FatJet" in events.fields else np.zeros(len(events), np.int32))
    n_jets = int(counts.sum())
    chunk: dict[str, Any] = {"file": str(md["filename"]), "start": int(md["entrystart"]),
                             "stop": int(md["entrystop"]), "nFatJet": counts}
    for name in EVENT_BRANCHES:
        if name in events.fields:
            chunk[name] = np.asarray(ak.to_numpy(events[name]))
    for name, shape in outputs.items():
        v = values.get(name)
        chunk[f"FatJet_{name}"] = _full(v if v is not None else np.empty((0, *shape)),
                                        flat_sel if v is not None else None, n_jets, shape)
    return chunk


def _assemble(file: str, chunks: list[dict[str, Any]], n_entries: int) -> dict[str, Any]:
    chunks = sorted(chunks, key=lambda c: c["start"])
    edges = [(c["start"], c["stop"]) for c in chunks]
    expected = 0
    for start, stop in edges:
        if start != expected:
            raise JetCLRError(f"{file}: the chunks cover entries {edges}, not 0-{n_entries}: a friend "
                              "needs every entry (no --maxchunks)")
        expected = stop
    if expected != n_entries:
        raise JetCLRError(f"{file}: the chunks end at entry {expected} of {n_entries}: a friend needs "
                          "every entry (no --maxchunks)")
    skip = ("file", "start", "stop")
    return {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0] if k not in skip}


def _branches(columns: dict[str, Any]) -> dict[str, Any]:
    """The TTree's arrays: event branches flat, jet branches jagged by ``nFatJet`` (a
    D-vector split into D branches), under the record ``FatJet`` so uproot names them
    ``FatJet_<field>`` with the counter ``nFatJet``."""
    counts = columns["nFatJet"]
    jet: dict[str, Any] = {}
    for key, v in columns.items():
        if not key.startswith("FatJet_"):
            continue
        name = key[len("FatJet_"):]
        if v.ndim == 1:
            jet[name] = ak.unflatten(v, counts)
        else:
            for k in range(v.shape[1]):
                jet[f"{name}_{k}"] = ak.unflatten(np.ascontiguousarray(v[:, k]), counts)
    out: dict[str, Any] = {k: columns[k] for k in EVENT_BRANCHES if k in columns}
    if jet:
        out["FatJet"] = ak.zip(jet)
    return out


def write_friends(chunks: list[Columns], entries: Mapping[str, int], folder: str | os.PathLike[str]
                  ) -> list[Path]:
    """Write one friend file per input of ``entries`` (file -> its number of entries) from
    the run's friend chunks; each written under a temporary name, then renamed.

    Raises:
        JetCLRError: a file's chunks do not cover all its entries.
    """
    import uproot

    by_file: dict[str, list[dict[str, Any]]] = {}
    for c in chunks:
        by_file.setdefault(str(c["file"]), []).append(c)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    columns = {f: _assemble(f, by_file.get(f, []), n) for f, n in entries.items() if n > 0}
    if chunks:  # a 0-entry input (coffea makes no chunk of it) gets a 0-entry friend of the same branches
        template = {k: v[:0] for k, v in chunks[0].items() if isinstance(v, np.ndarray)}
        columns.update({f: template for f, n in entries.items() if n == 0})
    written = []
    for f, cols in columns.items():
        target = friend_path(out, f)
        branches = _branches(cols)
        with atomic_path(target) as tmp, uproot.recreate(tmp) as root:
            types = {k: v.type.content if k == "FatJet" else v.dtype for k, v in branches.items()}
            root.mktree("Friends", types, title=f"jetclr-coffea scores of {Path(f).name}")
            root["Friends"].extend(branches)
        written.append(target)
    return written
