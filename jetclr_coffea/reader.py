"""The constituent reader: fat jets and their particle-flow constituents from NanoAOD.

Works on coffea NanoEvents (eager or virtual) and on raw uproot/awkward arrays with flat
branch names, for both conventions found in real CMS files:

=============  ==============  =================  ====================================
convention     candidates      link collection    link fields
=============  ==============  =================  ====================================
PFNano         ``PFCands``     ``FatJetPFCands``  ``jetIdx``, ``pFCandsIdx``
NanoAOD v15    ``PFCand``      ``FatJetPFCand``   ``jetIdx``, ``pfCandIdx``
=============  ==============  =================  ====================================

Everything is vectorised: the link table is turned into per-jet lists with one stable
sort and a gather over flat numpy arrays; there is no Python loop over events or jets.

Memory: real PFNano stores every PF candidate of the event (~1 800), while a fat jet's
constituents are ~100 of them.  ``columns`` reads only the candidate fields a model needs,
and where the events come from coffea's Runner (their metadata names the file and entry
range) the candidate columns are read straight from the file one at a time, gathered to
the jets' constituents and released: the full-length columns never pile up in the
chunk's NanoEvents cache (:class:`ChunkColumns`).

PUPPI: CMS AK8 jets are PUPPI jets.  Where the candidates carry ``puppiWeight`` (PFNano),
constituent four-momenta are scaled by it (``apply_puppi=True``, the default), so the
constituents add up to the raw jet four-momentum; NanoAOD v15 stores candidates already
weighted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import awkward as ak
import numpy as np
import numpy.typing as npt

from jetclr_coffea.errors import JetCLRError

__all__ = [
    "CANDIDATE_FIELDS",
    "CONVENTIONS",
    "ChunkColumns",
    "Convention",
    "JetConstituents",
    "detect_convention",
    "read_constituents",
]


@dataclass(frozen=True)
class Convention:
    """Branch names of one PF-candidate convention."""

    name: str
    candidates: str
    link: str
    cand_index: str
    jet_index: str = "jetIdx"

    def branches(self) -> list[str]:
        return [
            f"{self.candidates}_pt",
            f"{self.link}_{self.jet_index}",
            f"{self.link}_{self.cand_index}",
        ]


CONVENTIONS: tuple[Convention, ...] = (
    Convention("PFNano", "PFCands", "FatJetPFCands", "pFCandsIdx"),
    Convention("NanoAODv15", "PFCand", "FatJetPFCand", "pfCandIdx"),
)

#: Candidate fields read when present (pt, eta, phi, mass are required).
CANDIDATE_FIELDS = ("pt", "eta", "phi", "mass", "charge", "pdgId", "d0", "dz", "puppiWeight")
JET_FIELDS = ("pt", "eta", "phi", "mass", "msoftdrop", "tau1", "tau2", "tau3", "tau4",
              "n2b1", "n3b1", "rawFactor", "jetId", "nConstituents")


class _Fields:
    """Uniform access to ``collection.field`` for NanoEvents and flat branch names."""

    def __init__(self, events: Any) -> None:
        self.events = events
        self.top = set(ak.fields(events))

    def has(self, collection: str, field: str) -> bool:
        if collection in self.top:
            return field in ak.fields(self.events[collection])
        return f"{collection}_{field}" in self.top

    def has_collection(self, collection: str) -> bool:
        return collection in self.top or any(f.startswith(f"{collection}_") for f in self.top)

    def get(self, collection: str, field: str) -> ak.Array:
        if collection in self.top:
            return self.events[collection][field]
        return self.events[f"{collection}_{field}"]


class ChunkColumns:
    """Candidate columns of a chunk read straight from its file, in slices of events.

    For events made by coffea's Runner (``events.metadata`` holds ``filename``,
    ``treename``, ``entrystart`` and ``entrystop``; TTree or RNTuple).  :meth:`get` reads one
    branch for a slice of the chunk's events and keeps nothing (uproot's caches are off),
    so at most one slice of one full-length column is in memory while the reader gathers
    the jets' constituents from it, whatever the chunk size.  :meth:`for_events` gives None
    for other events.
    """

    #: events per slice: 1 000 events of real PFNano are ~7 MB per float32 column
    SLICE = 1000

    def __init__(self, filename: str, treename: str, start: int, stop: int) -> None:
        self.filename, self.treename, self.start, self.stop = filename, treename, start, stop
        self._file: Any = None
        self._tree: Any = None

    @classmethod
    def for_events(cls, events: Any) -> ChunkColumns | None:
        meta = getattr(events, "metadata", None) or {}
        keys = ("filename", "treename", "entrystart", "entrystop")
        if not all(meta.get(k) is not None for k in keys):
            return None
        return cls(str(meta["filename"]), str(meta["treename"]), int(meta["entrystart"]),
                   int(meta["entrystop"]))

    def __enter__(self) -> ChunkColumns:
        import uproot

        self._file = uproot.open(self.filename, array_cache=None, object_cache=None)
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()
        self._file = self._tree = None

    def get(self, collection: str, field: str, first: int, last: int) -> ak.Array:
        """``collection_field`` of the chunk's events ``first`` to ``last`` (chunk-relative)."""
        # one branch (TTree) or field (RNTuple) at a time: the tree's ``arrays`` would build the
        # form of every field (slow for RNTuple's 1 800)
        if self._tree is None:
            self._tree = self._file[self.treename]
        branch = self._tree[f"{collection}_{field}"]
        return branch.array(entry_start=self.start + first, entry_stop=self.start + last)


def _gather_sliced(source: ChunkColumns, collection: str, name: str, n_cand_ev: npt.NDArray[np.int64],
                   link_event: npt.NDArray[np.int64], local_cand: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
    """``collection_name`` at the links' candidates, read slice by slice of events.

    ``link_event`` (sorted) and ``local_cand`` give each link's event and its candidate's
    index within the event.
    """
    n_ev = len(n_cand_ev)
    step = ChunkColumns.SLICE
    edges = np.searchsorted(link_event, np.arange(0, n_ev + step, step))
    out: npt.NDArray[Any] | None = None
    for k, first in enumerate(range(0, max(n_ev, 1), step)):
        last = min(first + step, n_ev)
        col = _flat(source.get(collection, name, first, last))
        lo, hi = edges[k], edges[k + 1]
        starts = np.concatenate([[0], np.cumsum(n_cand_ev[first:last])[:-1]]).astype(np.int64)
        part = col[starts[link_event[lo:hi] - first] + local_cand[lo:hi]]
        if out is None:
            out = np.empty(len(local_cand), dtype=part.dtype)
        out[lo:hi] = part
    assert out is not None
    return out


def detect_convention(events: Any) -> Convention:
    """The PF-candidate convention of ``events``.

    Raises:
        JetCLRError: no supported convention is present; the message names the branches
            looked for.
    """
    fields = _Fields(events)
    for conv in CONVENTIONS:
        if (
            fields.has(conv.candidates, "pt")
            and fields.has(conv.link, conv.jet_index)
            and fields.has(conv.link, conv.cand_index)
        ):
            return conv
    looked = "; ".join(f"{c.name}: {', '.join(c.branches())}" for c in CONVENTIONS)
    raise JetCLRError(f"no PF-candidate branches for fat-jet constituents found (looked for {looked})")


@dataclass
class JetConstituents:
    """Selected fat jets and their constituents.

    Attributes:
        constituents: jets x var records (pt, eta, phi, mass and whatever of charge,
            pdgId, d0, dz, puppiWeight the file has), in file order.
        jets: one record per selected jet with its NanoAOD fields plus ``event`` (row in
            the input) and ``index`` (position in the event's FatJet list).
        has_constituents: True where the file stores at least one constituent for the jet
            (real files skip some jets); such jets have an empty constituent list.
        convention: name of the convention read.
    """

    constituents: ak.Array
    jets: ak.Array
    has_constituents: npt.NDArray[np.bool_]
    convention: str

    def __len__(self) -> int:
        return len(self.jets)


def _flat(array: ak.Array) -> npt.NDArray[Any]:
    return np.asarray(ak.to_numpy(ak.flatten(array, axis=None)))


I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class _Links:
    """The candidate links of a chunk's fat jets, sorted by jet (every array per link)."""

    n_cand_ev: I64  # (n_events,) candidates an event stores
    link_event: I64  # event of each link
    local: I64  # candidate index within its event
    global_cand: I64  # candidate index over the chunk
    per_jet: I64  # (n_jets,) links of every jet of the chunk


def _offsets(counts: I64) -> I64:
    """Where each list starts (0 lists: none)."""
    c = np.asarray(counts, dtype=np.int64)
    return np.cumsum(c) - c


def _candidate_counts(f: _Fields, conv: Convention) -> I64:
    counter = f"n{conv.candidates}"
    if conv.candidates in f.top:  # NanoEvents: the counts alone (no candidate column is read)
        return np.asarray(ak.to_numpy(ak.num(f.events[conv.candidates], axis=1)), dtype=np.int64)
    if counter in f.top:
        return np.asarray(ak.to_numpy(f.events[counter]), dtype=np.int64)
    return np.asarray(ak.to_numpy(ak.num(f.get(conv.candidates, "pt"), axis=1)), dtype=np.int64)


def _links(f: _Fields, conv: Convention, n_jets_ev: I64) -> _Links:
    """The valid jet-candidate links (indices inside their event's collections), by jet."""
    n_cand_ev = _candidate_counts(f, conv)
    link_jet = f.get(conv.link, conv.jet_index)
    n_link_ev = np.asarray(ak.to_numpy(ak.num(link_jet, axis=1)), dtype=np.int64)
    link_event = np.repeat(np.arange(len(n_jets_ev), dtype=np.int64), n_link_ev)
    lj = _flat(link_jet).astype(np.int64)
    lc = _flat(f.get(conv.link, conv.cand_index)).astype(np.int64)
    valid = (lj >= 0) & (lj < n_jets_ev[link_event]) & (lc >= 0) & (lc < n_cand_ev[link_event])
    global_jet = _offsets(n_jets_ev)[link_event[valid]] + lj[valid]
    order = np.argsort(global_jet, kind="stable")
    ev, local = link_event[valid][order], lc[valid][order]
    return _Links(n_cand_ev, ev, local, _offsets(n_cand_ev)[ev] + local,
                  np.bincount(global_jet, minlength=int(n_jets_ev.sum())).astype(np.int64))


def _candidate_values(f: _Fields, conv: Convention, links: _Links, wanted: tuple[str, ...],
                      source: ChunkColumns | None, apply_puppi: bool) -> dict[str, Any]:
    """The ``wanted`` candidate columns the file has, one entry per link (PUPPI applied)."""
    values: dict[str, Any] = {}
    present = [name for name in wanted if f.has(conv.candidates, name)]
    if source is not None:  # one full-length column at a time, straight from the file
        with source:
            for name in present:
                values[name] = _gather_sliced(source, conv.candidates, name, links.n_cand_ev,
                                              links.link_event, links.local)
    else:
        for name in present:
            values[name] = _flat(f.get(conv.candidates, name))[links.global_cand]
    for name in ("pt", "eta", "phi") + (("mass",) if "mass" in wanted else ()):
        if name not in values:
            raise JetCLRError(f"missing branch {conv.candidates}_{name}")
    if "mass" not in values:
        values["mass"] = np.zeros(len(links.global_cand), dtype=np.float32)
    if apply_puppi and "puppiWeight" in values:
        values["pt"] = values["pt"] * values["puppiWeight"]
        values["mass"] = values["mass"] * values["puppiWeight"]
    return values


def _jet_records(f: _Fields, jet_collection: str, n_jets_ev: I64) -> ak.Array:
    """One record per fat jet: its :data:`JET_FIELDS` the file has, ``event`` and ``index``."""
    jet_values: dict[str, Any] = {}
    for name in JET_FIELDS:
        if f.has(jet_collection, name):
            jet_values[name] = _flat(f.get(jet_collection, name))
    total = int(n_jets_ev.sum())
    jet_values["event"] = np.repeat(np.arange(len(n_jets_ev), dtype=np.int64), n_jets_ev)
    jet_values["index"] = np.arange(total, dtype=np.int64) - np.repeat(_offsets(n_jets_ev), n_jets_ev)
    return ak.zip(jet_values, depth_limit=1)


def read_constituents(
    events: Any,
    jet_mask: ak.Array | None = None,
    *,
    jet_collection: str = "FatJet",
    apply_puppi: bool = True,
    columns: tuple[str, ...] | None = None,
    direct: bool = True,
) -> JetConstituents:
    """Read the fat jets of ``events`` and group their PF candidates per jet.

    Args:
        events: coffea NanoEvents, or an awkward record array of flat NanoAOD branches
            (e.g. ``uproot.open(f)["Events"].arrays()``).
        jet_mask: events x jets booleans selecting jets (default: all).
        jet_collection: the fat-jet collection name.
        apply_puppi: scale candidate pt and mass by ``puppiWeight`` where present.
        columns: the candidate fields to read (default: all of :data:`CANDIDATE_FIELDS`
            the file has); pt, eta and phi always, ``puppiWeight`` with ``apply_puppi``;
            a ``mass`` not read is zero.
        direct: read the candidate columns straight from the file when the events come
            from coffea's Runner (:class:`ChunkColumns`), so they do not stay in memory.

    Returns:
        The selected jets, in event order then jet order, with their constituents.

    Raises:
        JetCLRError: the events have no fat jets or no PF-candidate branches.
    """
    conv = detect_convention(events)
    f = _Fields(events)
    if not f.has(jet_collection, "pt"):
        raise JetCLRError(f"no {jet_collection}_pt branch: the file has no {jet_collection} collection")
    n_jets_ev = np.asarray(ak.to_numpy(ak.num(f.get(jet_collection, "pt"), axis=1)), dtype=np.int64)
    links = _links(f, conv, n_jets_ev)
    wanted = CANDIDATE_FIELDS if columns is None else tuple(
        dict.fromkeys(("pt", "eta", "phi", *columns, *(("puppiWeight",) if apply_puppi else ()))))
    source = ChunkColumns.for_events(events) if direct else None
    values = _candidate_values(f, conv, links, wanted, source, apply_puppi)
    constituents = ak.unflatten(ak.zip(values, depth_limit=1), links.per_jet)
    jets = _jet_records(f, jet_collection, n_jets_ev)
    per_jet = links.per_jet
    if jet_mask is not None:
        selected = np.asarray(_flat(jet_mask), dtype=bool)
        if len(selected) != len(per_jet):
            raise JetCLRError(
                f"jet_mask selects among {len(selected)} jets but the events have {len(per_jet)}"
            )
        constituents, jets, per_jet = constituents[selected], jets[selected], per_jet[selected]
    return JetConstituents(
        constituents=constituents,
        jets=jets,
        has_constituents=per_jet > 0,
        convention=conv.name,
    )
