"""Truth labels of fat jets from the NanoAOD ``GenPart`` collection.

As analysts do with real NanoAOD, a fat jet is labelled by which hard-process partons it
contains within Delta R < 0.8 of its axis:

* ``TOP`` (1): a fully merged top, i.e. the b quark and both quarks of the W from the same
  top quark;
* ``TWO_PRONG`` (2): both quarks of a W, Z, H or Z' decay (including the W of a top whose
  b quark is outside the jet);
* ``DARK`` (3): a dark quark (pdgId 4900101) of a Hidden Valley model;
* ``QCD`` (0): none of these.

Decay chains are followed through the copies that real NanoAOD stores (a particle whose
mother has the same pdgId is a copy), so the function works on generated files and on
CMS NanoAOD alike.  Everything is vectorised over flat arrays.
"""

from __future__ import annotations

from typing import Any

import awkward as ak
import numpy as np
import numpy.typing as npt

__all__ = ["DARK", "QCD", "SIGNAL_LABELS", "TOP", "TWO_PRONG", "label_fatjets"]

QCD, TOP, TWO_PRONG, DARK = 0, 1, 2, 3
#: Names of the signal classes (``evaluate --signal-label``); "any": every jet of the files.
SIGNAL_LABELS: dict[str, int | None] = {"top": TOP, "two_prong": TWO_PRONG, "dark": DARK, "any": None}
TWO_PRONG_PARENTS = (23, 24, 25, 32, 34)
DARK_QUARK = 4900101
MAX_COPIES = 50

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


def _flat(a: Any) -> npt.NDArray[Any]:
    return np.asarray(ak.to_numpy(ak.flatten(a, axis=None)))


def _first_copy(index: I64, mother: I64, pdg: I64) -> I64:
    """Follow mothers while they have the same pdgId (-1 stays -1)."""
    out = index.copy()
    for _ in range(MAX_COPIES):
        m = np.where(out >= 0, mother[np.maximum(out, 0)], -1)
        same = (out >= 0) & (m >= 0) & (pdg[np.maximum(m, 0)] == pdg[np.maximum(out, 0)])
        if not same.any():
            break
        out = np.where(same, m, out)
    return out


def _groups(genpart: Any) -> tuple[I64, I64, I64, F64, F64, I64]:
    """Parton groups a jet must contain: (event, group id, kind, eta, phi, group size)."""
    n_per_event = np.asarray(ak.to_numpy(ak.num(genpart.pdgId, axis=1)), dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(n_per_event)[:-1]]).astype(np.int64)
    event = np.repeat(np.arange(len(n_per_event), dtype=np.int64), n_per_event)
    pdg = _flat(genpart.pdgId).astype(np.int64)
    apdg = np.abs(pdg)
    local_mother = _flat(genpart.genPartIdxMother).astype(np.int64)
    mother = np.where(local_mother >= 0, local_mother + offsets[event], -1)
    eta, phi = _flat(genpart.eta).astype(np.float64), _flat(genpart.phi).astype(np.float64)
    idx = np.arange(len(pdg), dtype=np.int64)
    first = _first_copy(idx, mother, pdg)
    is_first = first == idx
    parent = np.where(mother[first] >= 0, _first_copy(mother[first], mother, pdg), -1)
    parent_pdg = np.where(parent >= 0, apdg[np.maximum(parent, 0)], 0)
    grandparent = np.where(
        parent >= 0, mother[np.maximum(parent, 0)], -1
    )
    grandparent = np.where(grandparent >= 0, _first_copy(grandparent, mother, pdg), -1)
    gp_pdg = np.where(grandparent >= 0, apdg[np.maximum(grandparent, 0)], 0)
    quark = is_first & (apdg >= 1) & (apdg <= 5)

    # top groups: b from the top, and the W's quarks with the top as grandparent
    b_of_top = quark & (apdg == 5) & (parent_pdg == 6)
    q_of_top_w = quark & (parent_pdg == 24) & (gp_pdg == 6)
    top_members = b_of_top | q_of_top_w
    top_id = np.where(b_of_top, parent, grandparent)
    # two-prong groups: quarks of a W/Z/H/Z'
    prong = quark & np.isin(parent_pdg, TWO_PRONG_PARENTS)
    dark = is_first & (apdg == DARK_QUARK)
    n = len(pdg)
    sel = [
        (top_members, top_id, TOP),
        (prong, parent + n, TWO_PRONG),
        (dark, idx + 2 * n, DARK),
    ]
    ev, gid, kind, g_eta, g_phi = [], [], [], [], []
    for mask, group, k in sel:
        ev.append(event[mask])
        gid.append(group[mask])
        kind.append(np.full(int(mask.sum()), k, dtype=np.int64))
        g_eta.append(eta[mask])
        g_phi.append(phi[mask])
    gid_all = np.concatenate(gid)
    _, inverse, size = np.unique(gid_all, return_inverse=True, return_counts=True)
    kind_all = np.concatenate(kind)
    # a top is complete with 3 partons, a two-prong with 2, a dark quark with 1
    needed = np.where(kind_all == TOP, 3, np.where(kind_all == TWO_PRONG, 2, 1))
    complete = size[inverse] == needed
    return (
        np.concatenate(ev)[complete],
        inverse[complete].astype(np.int64),
        kind_all[complete],
        np.concatenate(g_eta)[complete],
        np.concatenate(g_phi)[complete],
        needed[complete],
    )


def label_fatjets(fatjets: Any, genpart: Any, radius: float = 0.8) -> ak.Array:
    """Truth label of every fat jet (events x jets int32, see module constants).

    Args:
        fatjets: events x jets with ``eta`` and ``phi`` (NanoEvents or awkward records).
        genpart: events x particles with pdgId, genPartIdxMother, eta, phi.
        radius: matching radius.
    """
    n_jets = np.asarray(ak.to_numpy(ak.num(fatjets.eta, axis=1)), dtype=np.int64)
    j_event = np.repeat(np.arange(len(n_jets), dtype=np.int64), n_jets)
    j_eta, j_phi = _flat(fatjets.eta).astype(np.float64), _flat(fatjets.phi).astype(np.float64)
    labels = np.zeros(len(j_eta), dtype=np.int32)
    m_event, m_group, m_kind, m_eta, m_phi, m_size = _groups(genpart)
    if len(m_event) and len(j_eta):
        # all (jet, member) pairs in the same event
        order = np.argsort(m_event, kind="stable")
        m_event, m_group, m_kind = m_event[order], m_group[order], m_kind[order]
        m_eta, m_phi, m_size = m_eta[order], m_phi[order], m_size[order]
        n_events = len(n_jets)
        m_count = np.bincount(m_event, minlength=n_events)
        m_start = np.concatenate([[0], np.cumsum(m_count)[:-1]])
        pairs_per_jet = m_count[j_event]
        jet_of_pair = np.repeat(np.arange(len(j_eta)), pairs_per_jet)
        pair_start = np.concatenate([[0], np.cumsum(pairs_per_jet)[:-1]])
        member = m_start[j_event[jet_of_pair]] + (np.arange(len(jet_of_pair)) - pair_start[jet_of_pair])
        dphi = (j_phi[jet_of_pair] - m_phi[member] + np.pi) % (2 * np.pi) - np.pi
        inside = (j_eta[jet_of_pair] - m_eta[member]) ** 2 + dphi**2 < radius**2
        key = jet_of_pair[inside] * (m_group.max() + 1) + m_group[member[inside]]
        keys, counts = np.unique(key, return_counts=True)
        jet = keys // (m_group.max() + 1)
        group = keys % (m_group.max() + 1)
        group_kind = np.zeros(m_group.max() + 1, dtype=np.int64)
        group_size = np.zeros(m_group.max() + 1, dtype=np.int64)
        group_kind[m_group] = m_kind
        group_size[m_group] = m_size
        contained = counts == group_size[group]
        # priority: top > two-prong > dark
        priority = np.array([0, 3, 2, 1])
        best = np.zeros(len(j_eta), dtype=np.int64)
        np.maximum.at(best, jet[contained], priority[group_kind[group[contained]]])
        labels = np.array([QCD, DARK, TWO_PRONG, TOP], dtype=np.int32)[best]
    return ak.unflatten(labels, n_jets)
