"""Fat-jet constituents with awkward operations only: eager, virtual, typetracer or dask.

:func:`jetclr_coffea.reader.read_constituents` is the fast eager reader (flat numpy
gathers); it cannot run on coffea's dask-awkward NanoEvents, whose partitions are first
traced with typetracers (arrays without data).  :func:`fatjet_constituents` gives the same
constituents, in the same order and with the same PUPPI weighting, using awkward
operations only, so that it runs on every backend:

* on an awkward array (NanoEvents eager/virtual, or flat uproot branches) it returns
  events x jets x constituents;
* on a dask-awkward array (``NanoEventsFactory.from_root(..., mode="dask")``,
  ``coffea.dataset_tools.apply_to_fileset``) it maps the same function over the
  partitions and returns a dask-awkward events x jets x constituents array; dask-awkward's
  column optimisation reads only the branches it touches.

The link table (``FatJetPFCands`` in PFNano, ``FatJetPFCand`` in NanoAOD v15) is honoured
entry by entry (``jetIdx``, candidate index); entries pointing outside the event's jets or
candidates are dropped, as in the eager reader.
"""

from __future__ import annotations

from typing import Any

import awkward as ak

from jetclr_coffea.errors import JetCLRError, MissingExtraError
from jetclr_coffea.reader import _Fields, detect_convention

__all__ = ["fatjet_constituents"]

_KINEMATICS = ("pt", "eta", "phi", "mass")


def _constituents_partition(events: ak.Array, jet_collection: str, apply_puppi: bool) -> ak.Array:
    """events x jets x constituents (pt, eta, phi, mass) of one awkward partition."""
    conv = detect_convention(events)
    f = _Fields(events)
    if not f.has(jet_collection, "pt"):
        raise JetCLRError(f"no {jet_collection}_pt branch: the file has no {jet_collection} collection")
    for name in _KINEMATICS:
        if not f.has(conv.candidates, name):
            raise JetCLRError(f"missing branch {conv.candidates}_{name}")
    jet_pt = f.get(jet_collection, "pt")  # events x jets
    n_jets = ak.num(jet_pt, axis=1)  # (events,)
    cand = {name: f.get(conv.candidates, name) for name in _KINEMATICS}  # events x cands
    n_cands = ak.num(cand["pt"], axis=1)
    link_jet = f.get(conv.link, conv.jet_index)  # events x links
    link_cand = f.get(conv.link, conv.cand_index)
    valid = (link_jet >= 0) & (link_jet < n_jets) & (link_cand >= 0) & (link_cand < n_cands)
    link_jet, link_cand = link_jet[valid], link_cand[valid]
    order = ak.argsort(link_jet, axis=1, stable=True)  # group links by jet, keep file order
    link_jet, link_cand = link_jet[order], link_cand[order]
    values = {name: cand[name][link_cand] for name in _KINEMATICS}  # events x links
    if apply_puppi and f.has(conv.candidates, "puppiWeight"):
        weight = f.get(conv.candidates, "puppiWeight")[link_cand]
        values["pt"] = values["pt"] * weight
        values["mass"] = values["mass"] * weight
    # links per jet, in O(links + jets): with every jet index added once, the sorted link
    # indices form one run per jet, one longer than its number of links
    jet_index = ak.local_index(jet_pt, axis=1)  # events x jets
    per_jet = ak.run_lengths(ak.sort(ak.concatenate([link_jet, jet_index], axis=1), axis=1)) - 1
    links = ak.flatten(ak.zip(values, depth_limit=2), axis=1)  # (all links,)
    per_jet_flat = ak.flatten(per_jet, axis=1)  # (all jets,)
    jets = ak.unflatten(links, per_jet_flat)  # jets x constituents
    return ak.unflatten(jets, n_jets)  # events x jets x constituents


def fatjet_constituents(events: Any, *, jet_collection: str = "FatJet", apply_puppi: bool = True) -> Any:
    """Constituents of every fat jet: events x jets x records (pt, eta, phi, mass).

    Args:
        events: coffea NanoEvents (eager, virtual or dask mode), or an awkward record array
            of flat NanoAOD branches; PFNano or NanoAOD v15 conventions.
        jet_collection: the fat-jet collection.
        apply_puppi: scale candidate pt and mass by ``puppiWeight`` where present.

    Returns:
        An array of the input's kind (awkward or dask-awkward), aligned with
        ``events[jet_collection]``: flatten it with ``ak.flatten(..., axis=1)`` (after a jet
        selection) for :class:`jetclr_coffea.onnx_wrapper.onnx_wrapper`.

    Raises:
        JetCLRError: no fat jets or no PF-candidate branches (for dask input, when the
            graph is built).
    """
    if type(events).__module__.startswith("dask_awkward"):
        try:
            from dask_awkward.lib.core import map_partitions
        except ImportError as err:  # pragma: no cover - a dask-awkward array implies it
            raise MissingExtraError("dask-awkward", "dask") from err
        return map_partitions(_constituents_partition, events, jet_collection, apply_puppi,
                              label="fatjet-constituents")
    return _constituents_partition(events, jet_collection, apply_puppi)
