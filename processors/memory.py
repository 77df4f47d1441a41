"""A memory budget per worker, and the chunk size that keeps a chunk within it.

A chunk's memory grows with its events: the reader holds, per event, the fat jets' links
and constituents (a slice of the full-length candidate columns at a time, see
``jetclr_coffea.reader.ChunkColumns``), and the preprocessing holds padded (jets, n_max)
arrays.  :func:`bytes_per_event` is a deliberately generous model of that (about twice
the growth measured on real CMS PFNano, docs/performance.md); :func:`file_density` reads
a file's candidates, links and fat jets per event from its first entries' counters,
cheaply; :func:`choose_chunksize` gives the largest chunk that fits the budget.

A skim (``--skim``) and friend trees (``--friend``) are different: their columns are kept
until the run ends and are merged once more when written, so they grow with the whole run,
not a chunk.  :func:`kept_bytes` estimates them from every file's entries and fat jets, and
the chunks get what the budget leaves after them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import awkward as ak
import numpy as np

from jetclr_coffea.errors import JetCLRError, ParameterError

__all__ = [
    "BASE_BYTES",
    "DEFAULT_BUDGET",
    "MODEL_BYTES",
    "Density",
    "bytes_per_event",
    "choose_chunksize",
    "file_density",
    "kept_bytes",
    "parse_size",
    "tree_density",
]

#: Default memory budget per worker: what batch-system slots give a core.
DEFAULT_BUDGET = 2_000_000_000
#: What a worker holds before its first chunk: Python, coffea, ONNX Runtime and its
#: sessions (~290 MB measured, with room for larger models).
BASE_BYTES = 450_000_000
#: What each model after the first adds to a worker: its ONNX Runtime session and arena
#: (measured, one thread, batches of 1 000 jets: 9-58 MB for the shipped models after
#: ``jetclr_top``; docs/performance.md).
MODEL_BYTES = 60_000_000
#: Entries whose counters give a file's density.
SAMPLE_ENTRIES = 2000
#: Chunk sizes are rounded down to a multiple of this (and never below it).
CHUNK_STEP = 1000
#: The kept columns are held twice at the end of a run: the accumulated chunks and their
#: merge into one array per column (skim) or per file (friend trees).
KEPT_COPIES = 2


@dataclass(frozen=True)
class Density:
    """Mean PF candidates, fat-jet-to-candidate links and fat jets per event of a file, and
    its entries (events)."""

    candidates: float
    links: float
    fatjets: float
    entries: int = 0


def bytes_per_event(d: Density, n_max: int) -> float:
    """Generous estimate of a chunk's memory per event (bytes).

    Per link (a fat-jet constituent): its two int32 indices, their int64 forms, the
    gathered candidate fields and the awkward lists, ~80 bytes; per fat jet and padded
    constituent slot, ~12 float64 arrays of the preprocessing (~100 bytes); per stored
    candidate, the chunk's counts and a share of the sliced column reads (~4 bytes); and
    1 KB of per-event columns (event ids, weights, fat-jet fields, histograms' inputs).
    """
    return 80.0 * d.links + 100.0 * n_max * d.fatjets + 4.0 * d.candidates + 1000.0


def _branch(tree: Any, name: str) -> Any:
    """The branch (TTree) or field (RNTuple) ``name``, or None (no listing of every key:
    slow for an RNTuple of 1 800 fields)."""
    try:
        return tree[name]
    except (KeyError, ValueError):
        return None


def _counts(tree: Any, collection: str, stop: int) -> float | None:
    counter = _branch(tree, f"n{collection}")
    if counter is not None:
        return float(np.mean(np.asarray(counter.array(library="np", entry_stop=stop))))
    for field in ("pt", "jetIdx"):
        branch = _branch(tree, f"{collection}_{field}")
        if branch is not None:
            return float(ak.mean(ak.num(branch.array(entry_stop=min(stop, 200)), axis=1)))
    return None


def tree_density(tree: Any) -> Density | None:
    """The density of an open ``Events`` tree (TTree or RNTuple) from its first entries'
    counters (None if it has no PF candidates)."""
    from jetclr_coffea.reader import CONVENTIONS

    entries = int(tree.num_entries)
    stop = min(entries, SAMPLE_ENTRIES)
    if stop == 0:
        return Density(0.0, 0.0, 0.0, 0)
    for conv in CONVENTIONS:
        cands = _counts(tree, conv.candidates, stop)
        if cands is not None:
            links = _counts(tree, conv.link, stop) or 0.0
            return Density(cands, links, _counts(tree, "FatJet", stop) or 0.0, entries)
    return None


def file_density(path: str) -> Density | None:
    """:func:`tree_density` of a file's ``Events`` tree."""
    import uproot

    with uproot.open(path, array_cache=None, object_cache=None) as f:
        return tree_density(f["Events"])


def parse_size(text: str) -> int:
    """``"2GB"``, ``"1.5 GB"``, ``"500MB"``, ``"2e9"`` -> bytes.

    Raises:
        ParameterError: not a positive size.
    """
    units = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
             "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}
    t = text.strip().upper().replace(" ", "")
    number = t.rstrip("KMGTIB")
    unit = t[len(number):]
    try:
        value = float(number) * units[unit]
    except (ValueError, KeyError):
        raise ParameterError("memory_budget", f"must be a size such as 2GB or 500MB, got {text!r}") from None
    if not value > 0:
        raise ParameterError("memory_budget", f"must be positive, got {text!r}")
    if not math.isfinite(value) or value > 2**62:
        raise ParameterError("memory_budget", f"must be a finite size, got {text!r}")
    return int(value)


def kept_bytes(densities: dict[str, Density], per_jet: float, per_event: float) -> float:
    """Bytes of the columns a run keeps to its end (skim, friend trees) over every file:
    ``per_jet`` for each fat jet (an upper bound on the selected ones) and ``per_event`` for
    each event, held :data:`KEPT_COPIES` times when written."""
    return KEPT_COPIES * sum(d.entries * (d.fatjets * per_jet + per_event) for d in densities.values())


def _refuse_base(budget: int, base: float, n_models: int, kept: float) -> None:
    if budget > base + kept:
        return
    with_models = f" with {n_models} models" if n_models > 1 else ""
    if budget <= base:
        raise ParameterError("memory_budget", f"must exceed the {base / 1e9:.2f} GB a worker needs"
                                              f"{with_models} before its first chunk, "
                                              f"got {budget / 1e9:.2f} GB")
    raise ParameterError("memory_budget", f"must exceed the {(base + kept) / 1e9:.2f} GB a worker needs"
                                          f"{with_models} and the {kept / 1e9:.2f} GB of skim and friend "
                                          f"columns this run keeps to its end, got {budget / 1e9:.2f} GB: "
                                          "give a larger budget, or split the fileset")


def choose_chunksize(densities: dict[str, Density], budget: int, n_max: int,
                     chunksize: int | None = None, n_models: int = 1, kept: float = 0.0) -> int:
    """The chunk size for ``densities`` (file -> density) within ``budget`` bytes a worker
    running ``n_models`` models (each after the first adds :data:`MODEL_BYTES`) that keeps
    ``kept`` bytes of output to the end of the run (:func:`kept_bytes`; counted in the worker
    because the iterative executor's worker is the process that accumulates them).

    With ``chunksize`` given, check it instead.

    Raises:
        JetCLRError: the budget does not hold the worker's base memory and the kept output,
            or the given ``chunksize`` needs more than the budget (reported before any chunk
            is read).
    """
    workers_own = float(BASE_BYTES + MODEL_BYTES * max(n_models - 1, 0))
    _refuse_base(budget, workers_own, n_models, kept)
    base = workers_own + kept
    if not densities:
        return chunksize or 100_000
    densest = max(densities, key=lambda f: bytes_per_event(densities[f], n_max))
    per_event = bytes_per_event(densities[densest], n_max)
    fits = int((budget - base) // per_event)
    if chunksize is not None:
        if chunksize > fits:
            raise JetCLRError(
                f"chunks of {chunksize} events need about "
                f"{(base + chunksize * per_event) / 1e9:.1f} GB "
                f"a worker for {densest} ({densities[densest].candidates:.0f} PF candidates an event), "
                f"over the memory budget of {budget / 1e9:.1f} GB: use a chunk size of at most {fits}, "
                "or a larger budget")
        return chunksize
    return max(CHUNK_STEP, fits // CHUNK_STEP * CHUNK_STEP)
