"""Fat-jet clustering and the NanoAOD substructure observables, with FastJet.

All clustering goes through FastJet's awkward-array interface: one C++ call clusters a
whole batch of events (or of jets, for the reclustering steps), so no Python code runs
per particle or per jet.

Observables, as in CMS NanoAOD:

* ``msoftdrop``: soft drop (beta = 0, z_cut = 0.1, R0 = 0.8) on the Cambridge/Aachen
  reclustered constituents.
* ``tau1 .. tau4``: N-subjettiness with beta = 1 and R0 = 0.8, normalised by
  sum(pT) R0, with exclusive winner-take-all kT axes (the axes recommended for beta = 1;
  CMS starts from exclusive kT axes and refines them with a one-pass minimisation).
* ``n2b1``, ``n3b1``: the generalised energy-correlation ratios N2 and N3 with beta = 1
  on the soft-drop groomed constituents.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import awkward as ak
import numpy as np
import numpy.typing as npt

from jetclr_coffea.errors import MissingExtraError

__all__ = ["JetConfig", "cluster", "nsubjettiness", "substructure"]

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class JetConfig:
    """Fat-jet definition: anti-kT with radius ``r``, pT and |eta| cuts."""

    r: float = 0.8
    pt_min: float = 200.0
    eta_max: float = 2.4
    sd_beta: float = 0.0
    sd_zcut: float = 0.1


def _fastjet() -> Any:
    try:
        import fastjet
    except ImportError as err:
        raise MissingExtraError("fastjet", "gen") from err
    return fastjet


#: FastJet warns on every exclusive-jet call whatever the algorithm; we only use kT and C/A.
_EXCLUSIVE_WARNING = "dcut and exclusive jets for jet-finders other than kt"


def cluster(particles: ak.Array, cfg: JetConfig) -> tuple[ak.Array, ak.Array]:
    """Anti-kT fat jets of each event, sorted by pT, with |eta| and pT cuts.

    Args:
        particles: events x var records with px, py, pz, E.
        cfg: the jet definition.

    Returns:
        ``(jets, index)``: events x var records with px, py, pz, E (the E-scheme sums), and
        events x jets x var indices of each jet's constituents in ``particles``.
    """
    fj = _fastjet()
    jetdef = fj.JetDefinition(fj.antikt_algorithm, cfg.r)
    seq = fj.ClusterSequence(particles, jetdef)
    jets = seq.inclusive_jets(min_pt=cfg.pt_min)
    index = seq.constituent_index(min_pt=cfg.pt_min)
    pt = np.hypot(jets.px, jets.py)
    p = np.sqrt(pt**2 + jets.pz**2)
    eta = 0.5 * np.log((p + jets.pz) / np.maximum(p - jets.pz, 1e-12))
    keep = np.abs(eta) < cfg.eta_max
    jets, index, pt = jets[keep], index[keep], pt[keep]
    order = ak.argsort(pt, axis=1, ascending=False)
    return jets[order], index[order]


def nsubjettiness(constituents: ak.Array, n_max: int, r0: float) -> list[F64]:
    """N-subjettiness tau_1 .. tau_{n_max} (beta = 1) with exclusive WTA-kT axes.

    A jet with at most N constituents has tau_N = 0 (every constituent is an axis).

    Args:
        constituents: jets x var records with px, py, pz, E.
        n_max: highest N.
        r0: the jet radius in the normalisation.
    """
    fj = _fastjet()
    n_const = ak.to_numpy(ak.num(constituents, axis=1))
    c_pt = np.hypot(constituents.px, constituents.py)
    c_eta = np.arcsinh(constituents.pz / c_pt)
    c_phi = np.arctan2(constituents.py, constituents.px)
    norm = ak.to_numpy(ak.sum(c_pt, axis=1)) * r0
    taus = []
    for n in range(1, n_max + 1):
        tau = np.zeros(len(n_const))
        sel = n_const > n
        if np.any(sel):
            sub = constituents[sel]
            kt_wta = fj.JetDefinition(fj.kt_algorithm, r0, fj.WTA_pt_scheme)
            seq = fj.ClusterSequence(sub, kt_wta)
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=_EXCLUSIVE_WARNING)
                axes = seq.exclusive_jets(n_jets=n)
            a_pt = np.hypot(axes.px, axes.py)
            a_eta = np.arcsinh(axes.pz / a_pt)
            a_phi = np.arctan2(axes.py, axes.px)
            eta_s, phi_s = c_eta[sel], c_phi[sel]
            min_dr = None
            for k in range(n):  # distance of every constituent to its nearest axis
                deta = eta_s - a_eta[:, k]
                dphi = (phi_s - a_phi[:, k] + np.pi) % (2 * np.pi) - np.pi
                dr = np.sqrt(deta**2 + dphi**2)
                min_dr = dr if min_dr is None else np.minimum(min_dr, dr)
            tau[sel] = ak.to_numpy(ak.sum(c_pt[sel] * min_dr, axis=1)) / norm[sel]
        taus.append(tau)
    return taus


def substructure(constituents: ak.Array, cfg: JetConfig) -> dict[str, F64]:
    """NanoAOD FatJet substructure observables for each jet.

    Args:
        constituents: jets x var records with px, py, pz, E (at least one per jet).
        cfg: the jet definition (radius and soft-drop parameters).

    Returns:
        Arrays of length n_jets: msoftdrop, tau1..tau4, n2b1, n3b1.
    """
    fj = _fastjet()
    n_jets = len(constituents)
    out: dict[str, F64] = {}
    if n_jets == 0:
        return {k: np.zeros(0) for k in
                ("msoftdrop", "tau1", "tau2", "tau3", "tau4", "n2b1", "n3b1")}
    ca = fj.JetDefinition(fj.cambridge_algorithm, cfg.r)
    seq = fj.ClusterSequence(constituents, ca)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_EXCLUSIVE_WARNING)
        sd = seq.exclusive_jets_softdrop_grooming(
            njets=1, beta=cfg.sd_beta, symmetry_cut=cfg.sd_zcut, R0=cfg.r
        )
    # soft drop of a single-prong jet can round to a tiny negative mass (-1.4e-5): clipped at 0
    out["msoftdrop"] = np.clip(np.nan_to_num(ak.to_numpy(sd.msoftdrop)), 0.0, None)
    for n, tau in enumerate(nsubjettiness(constituents, 4, cfg.r), start=1):
        out[f"tau{n}"] = tau
    groomed = sd.constituents
    n_groomed = ak.to_numpy(ak.num(groomed, axis=1))
    for name, func, need in (("n2b1", "n2", 3), ("n3b1", "n3", 4)):
        values = np.zeros(n_jets)
        sel = n_groomed >= need
        if np.any(sel):
            gseq = fj.ClusterSequence(groomed[sel], ca)
            values[sel] = ak.to_numpy(
                gseq.exclusive_jets_energy_correlator(njets=1, beta=1, func=func)
            )
        out[name] = np.nan_to_num(values)
    return out
