"""``jetclr-coffea generate``: Pythia 8 -> fast simulation -> FastJet -> PFNano ROOT file."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import awkward as ak
import numpy as np
import numpy.typing as npt

from jetclr_coffea._io import atomic_path, check_writable
from jetclr_coffea.errors import ParameterError
from jetclr_coffea.gen.detector import DetectorConfig, Particles, simulate
from jetclr_coffea.gen.flat import MassDensity, pilot_density, resonance_mass
from jetclr_coffea.gen.jets import JetConfig, cluster, substructure
from jetclr_coffea.gen.pythia import (
    ProcessConfig,
    card_lines,
    charges,
    hard_process,
    make_pythia,
    pileup_lines,
)

__all__ = ["GenerateSummary", "generate", "process_batch"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: Width of the luminous region along z (mm), for primary and pile-up vertices.
BEAMSPOT_SIGMA_Z_MM = 35.0


@dataclass
class GenerateSummary:
    """What a generation run produced, and how fast."""

    output: str
    process: str
    events: int
    fat_jets: int
    pf_candidates: int
    seconds: float

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("nan")


def _flat_particles(events: ak.Array, charge_of: Callable[[Any], Any]) -> Particles:
    prt = events.prt
    fs = prt[prt.status > 0]
    counts = ak.to_numpy(ak.num(fs.id, axis=1))
    event = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    pdg = ak.to_numpy(ak.flatten(fs.id)).astype(np.int64)
    vprod = fs.vProd
    return Particles(
        event=event,
        px=ak.to_numpy(ak.flatten(fs.p.px)),
        py=ak.to_numpy(ak.flatten(fs.p.py)),
        pz=ak.to_numpy(ak.flatten(fs.p.pz)),
        e=ak.to_numpy(ak.flatten(fs.p.e)),
        pdg=pdg,
        charge=np.asarray(charge_of(pdg), dtype=np.float64),
        vx=ak.to_numpy(ak.flatten(ak.fill_none(vprod.px, 0.0))),
        vy=ak.to_numpy(ak.flatten(ak.fill_none(vprod.py, 0.0))),
        vz=ak.to_numpy(ak.flatten(ak.fill_none(vprod.pz, 0.0))),
        pileup=np.zeros(len(pdg), dtype=bool),
    )


def _merge(a: Particles, b: Particles) -> Particles:
    merged = {k: np.concatenate([getattr(a, k), getattr(b, k)]) for k in a.__dataclass_fields__}
    order = np.argsort(merged["event"], kind="stable")
    return Particles(**{k: v[order] for k, v in merged.items()})


def _jet_id(c: ak.Array, energy: ak.Array) -> ak.Array:
    """NanoAOD-style jetId bits: 2 = tight, 4 = tight lepton veto (values add)."""
    apdg = np.abs(c.pdg)
    total = ak.sum(energy, axis=-1)
    frac = {
        "nh": ak.sum(energy * ((apdg == 130) | (apdg == 1)), axis=-1) / total,
        "ne": ak.sum(energy * ((apdg == 22) | (apdg == 2)), axis=-1) / total,
        "ch": ak.sum(energy * (apdg == 211), axis=-1) / total,
        "ce": ak.sum(energy * (apdg == 11), axis=-1) / total,
        "mu": ak.sum(energy * (apdg == 13), axis=-1) / total,
    }
    n_const = ak.num(apdg, axis=-1)
    n_charged = ak.sum(c.charge != 0, axis=-1)
    tight = (frac["nh"] < 0.9) & (frac["ne"] < 0.9) & (n_const > 1) & (frac["ch"] > 0) & (
        n_charged > 0
    )
    lep_veto = tight & (frac["mu"] < 0.8) & (frac["ce"] < 0.8)
    return ak.values_astype(tight * 2 + lep_veto * 4, np.int32)


def process_batch(
    events: ak.Array,
    charge_of: Callable[[Any], Any],
    rng: np.random.Generator,
    *,
    pileup_events: ak.Array | None = None,
    pileup_counts: I64 | None = None,
    detector: DetectorConfig = DetectorConfig(),
    jets_cfg: JetConfig = JetConfig(),
) -> dict[str, Any]:
    """Turn one batch of Pythia events into NanoAOD collections.

    Args:
        events: a ``nextBatch`` array of hard-scatter events.
        charge_of: maps PDG ids to charges.
        rng: the detector's random generator.
        pileup_events: minimum-bias events to overlay, in order.
        pileup_counts: how many of ``pileup_events`` go on each hard event.
        detector: fast-simulation parameters.
        jets_cfg: fat-jet definition.

    Returns:
        Branch name -> array: ``FatJet``, ``PFCands``, ``FatJetPFCands``, ``GenPart``
        records and the ``nFatJet``-style counters implied by them.
    """
    n_ev = len(events)
    particles = _flat_particles(events, charge_of)
    pv_z = rng.normal(size=n_ev) * BEAMSPOT_SIGMA_Z_MM
    particles = Particles(
        **{**{k: getattr(particles, k) for k in particles.__dataclass_fields__},
           "vz": particles.vz + pv_z[particles.event]}
    )
    with_pu = pileup_events is not None and pileup_counts is not None and len(pileup_events) > 0
    if with_pu:
        assert pileup_events is not None and pileup_counts is not None
        pu = _flat_particles(pileup_events, charge_of)
        owner = np.repeat(np.arange(n_ev, dtype=np.int64), pileup_counts)
        pu_z = rng.normal(size=len(pileup_events)) * BEAMSPOT_SIGMA_Z_MM
        pu = Particles(
            **{**{k: getattr(pu, k) for k in pu.__dataclass_fields__},
               "event": owner[pu.event],
               "vz": pu.vz + pu_z[pu.event],
               "pileup": np.ones(len(pu.event), dtype=bool)}
        )
        particles = _merge(particles, pu)
    cands = simulate(particles, pv_z, rng, detector, with_pileup=with_pu)

    # PUPPI-weighted four-vectors of the candidates that enter the clustering
    used = np.flatnonzero(cands.puppi > 0)
    cu = cands.take(used)
    w = cu.puppi
    px, py = cu.pt * w * np.cos(cu.phi), cu.pt * w * np.sin(cu.phi)
    pz = cu.pt * w * np.sinh(cu.eta)
    e = np.sqrt(px**2 + py**2 + pz**2 + (cu.mass * w) ** 2)
    counts = np.bincount(cu.event, minlength=n_ev)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    vectors = ak.unflatten(ak.zip({"px": px, "py": py, "pz": pz, "E": e}), counts)
    jets, local = cluster(vectors, jets_cfg)

    # constituents of the kept jets, each jet's sorted by pT, as global candidate indices
    jets_per_event = ak.to_numpy(ak.num(jets.px, axis=1))
    jets_flat = ak.flatten(local, axis=1) + np.repeat(offsets, jets_per_event)  # jets x var
    n_per_jet = ak.to_numpy(ak.num(jets_flat, axis=1))
    weighted_pt = ak.unflatten((cu.pt * w)[ak.to_numpy(ak.flatten(jets_flat))], n_per_jet)
    jets_flat = jets_flat[ak.argsort(weighted_pt, axis=1, ascending=False)]
    glob = ak.unflatten(jets_flat, jets_per_event)  # events x jets x var
    flat_idx = ak.to_numpy(ak.flatten(jets_flat))
    const_vec = ak.unflatten(
        ak.zip({"px": px[flat_idx], "py": py[flat_idx], "pz": pz[flat_idx], "E": e[flat_idx]}),
        n_per_jet,
    )
    subs = substructure(const_vec, jets_cfg)
    jet_cands = ak.unflatten(
        ak.zip({"pdg": cu.pdg[flat_idx], "charge": cu.charge[flat_idx]}), n_per_jet
    )
    jet_id = _jet_id(jet_cands, ak.unflatten(e[flat_idx], n_per_jet))

    jpt = np.hypot(jets.px, jets.py)
    jp = np.sqrt(jpt**2 + jets.pz**2)
    jeta = np.arcsinh(jets.pz / jpt)
    jphi = np.arctan2(jets.py, jets.px)
    jmass = np.sqrt(np.maximum(jets.E**2 - jp**2, 0.0))

    def per_event(values: Any, dtype: type) -> ak.Array:
        return ak.values_astype(ak.unflatten(np.asarray(values), jets_per_event), dtype)

    fatjet = ak.zip(
        {
            "pt": ak.values_astype(jpt, np.float32),
            "eta": ak.values_astype(jeta, np.float32),
            "phi": ak.values_astype(jphi, np.float32),
            "mass": ak.values_astype(jmass, np.float32),
            "msoftdrop": per_event(subs["msoftdrop"], np.float32),
            "tau1": per_event(subs["tau1"], np.float32),
            "tau2": per_event(subs["tau2"], np.float32),
            "tau3": per_event(subs["tau3"], np.float32),
            "tau4": per_event(subs["tau4"], np.float32),
            "n2b1": per_event(subs["n2b1"], np.float32),
            "n3b1": per_event(subs["n3b1"], np.float32),
            "nConstituents": per_event(n_per_jet, np.int32),
            "jetId": ak.unflatten(ak.to_numpy(jet_id), jets_per_event),
            "rawFactor": per_event(np.zeros(len(n_per_jet)), np.float32),
        }
    )
    # PFCands of an event: its jets' constituents, jet by jet
    cands_per_event = ak.to_numpy(ak.sum(ak.num(glob, axis=2), axis=1))
    sel = cu.take(flat_idx)

    def per_cand(values: Any, dtype: type) -> ak.Array:
        return ak.unflatten(np.asarray(values).astype(dtype), cands_per_event)

    pfcands = ak.zip(
        {
            "pt": per_cand(sel.pt, np.float32),
            "eta": per_cand(sel.eta, np.float32),
            "phi": per_cand(sel.phi, np.float32),
            "mass": per_cand(sel.mass, np.float32),
            "charge": per_cand(sel.charge, np.int32),
            "pdgId": per_cand(sel.pdg, np.int32),
            "d0": per_cand(sel.d0, np.float32),
            "dz": per_cand(sel.dz, np.float32),
            "puppiWeight": per_cand(sel.puppi, np.float32),
        }
    )
    jet_idx = ak.flatten(ak.broadcast_arrays(ak.local_index(glob, axis=1), glob)[0], axis=2)
    link = ak.zip(
        {
            "jetIdx": ak.values_astype(jet_idx, np.int32),
            "pFCandsIdx": ak.values_astype(ak.local_index(jet_idx, axis=1), np.int32),
        }
    )
    return {
        "FatJet": fatjet,
        "PFCands": pfcands,
        "FatJetPFCands": link,
        "GenPart": hard_process(events.prt),
    }


def _validate(n_events: int, pileup: float, batch_size: int) -> None:
    if n_events <= 0:
        raise ParameterError("n_events", f"must be a positive number of events, got {n_events}")
    if pileup < 0:
        raise ParameterError("pileup", f"must be >= 0, got {pileup}")
    if batch_size <= 0:
        raise ParameterError("batch_size", f"must be positive, got {batch_size}")


def _progress_printer(total: int) -> Callable[[int, float], None]:
    interactive = sys.stderr.isatty()
    last = [0.0]

    def report(done: int, elapsed: float) -> None:
        if not interactive and done < total and elapsed - last[0] < 10.0:
            return
        last[0] = elapsed
        rate = done / elapsed if elapsed > 0 else 0.0
        end = "\n" if (done >= total or not interactive) else ""
        print(f"\r  {done}/{total} events, {rate:.1f} events/s", end=end, file=sys.stderr)

    return report


def generate(
    cfg: ProcessConfig,
    n_events: int,
    output: str | os.PathLike[str],
    *,
    pileup: float = 0.0,
    detector: DetectorConfig = DetectorConfig(),
    jets_cfg: JetConfig = JetConfig(),
    batch_size: int = 100,
    progress: bool = True,
) -> GenerateSummary:
    """Generate ``n_events`` events of ``cfg.process`` into a PFNano-format ROOT file.

    The file is written under a temporary name and renamed at the end, so ``output`` is
    either the complete new file or untouched.  The same ``cfg.seed`` gives identical
    arrays.

    Raises:
        JetCLRError: a bad argument or an unwritable output.
    """
    import uproot

    _validate(n_events, pileup, batch_size)
    target = check_writable(output)
    start = time.perf_counter()
    pythia = make_pythia(card_lines(cfg))
    charge_of = charges(pythia)
    pu_pythia = make_pythia(pileup_lines((cfg.seed + 4242) % 900_000_000 + 1, cfg.ecm)) if (
        pileup > 0
    ) else None
    density: MassDensity | None = pilot_density(cfg) if cfg.process == "wprime-flat" else None
    rng = np.random.default_rng(cfg.seed)
    report = _progress_printer(n_events) if progress else None
    n_jets = n_cands = done = 0
    with atomic_path(target) as tmp, uproot.recreate(tmp) as fout:
        tree = None
        while done < n_events:
            n = min(batch_size, n_events - done)
            events = pythia.nextBatch(n)
            pu_events, pu_counts = None, None
            if pu_pythia is not None:
                pu_counts = rng.poisson(pileup, size=n)
                if pu_counts.sum() > 0:
                    pu_events = pu_pythia.nextBatch(int(pu_counts.sum()))
            branches = process_batch(
                events, charge_of, rng, pileup_events=pu_events, pileup_counts=pu_counts,
                detector=detector, jets_cfg=jets_cfg,
            )
            gen_index = np.arange(done, done + n, dtype=np.int64)
            weight = np.ones(n)
            if density is not None:
                weight = density.weights(resonance_mass(events.prt))
            data: dict[str, Any] = {
                "run": np.ones(n, dtype=np.uint32),
                "luminosityBlock": (1 + gen_index // 1000).astype(np.uint32),
                "event": (gen_index + 1).astype(np.uint64),
                "genWeight": np.nan_to_num(weight, nan=0.0).astype(np.float32),
                **branches,
            }
            if tree is None:
                tree = fout.mktree(
                    "Events",
                    {k: (v.type if isinstance(v, ak.Array) else v.dtype) for k, v in data.items()},
                    field_name=lambda outer, inner: f"{outer}_{inner}",
                    counter_name=lambda counted: f"n{counted}",
                )
            tree.extend(data)
            n_jets += int(ak.sum(ak.num(branches["FatJet"].pt, axis=1)))
            n_cands += int(ak.sum(ak.num(branches["PFCands"].pt, axis=1)))
            done += n
            if report is not None:
                report(done, time.perf_counter() - start)
    return GenerateSummary(
        output=str(target),
        process=cfg.process,
        events=done,
        fat_jets=n_jets,
        pf_candidates=n_cands,
        seconds=time.perf_counter() - start,
    )
