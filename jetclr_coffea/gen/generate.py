"""``jetclr-coffea generate``: Pythia 8 -> fast simulation -> FastJet -> PFNano ROOT file."""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import awkward as ak
import numpy as np
import numpy.typing as npt

from jetclr_coffea._io import JsonDict, atomic_path, check_writable
from jetclr_coffea.errors import ParameterError
from jetclr_coffea.gen.detector import Candidates, CellNoise, DetectorConfig, Particles, simulate
from jetclr_coffea.gen.flat import MassDensity, pilot_density, resonance_mass
from jetclr_coffea.gen.jets import JetConfig, cluster, substructure
from jetclr_coffea.gen.minbias import PileupLibrary
from jetclr_coffea.gen.pythia import (
    ProcessConfig,
    card_lines,
    charges,
    hard_process,
    make_pythia,
    pileup_lines,
    stable_particles,
)

__all__ = ["GenerateSummary", "PileupSource", "generate", "process_batch"]

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


def _vertices_and_pileup(
    events: ak.Array, charge_of: Callable[[Any], Any], rng: np.random.Generator,
    pileup: Particles | None,
) -> tuple[Particles, F64, bool]:
    """The batch's stable particles at their primary vertices, with pile-up overlaid:
    (particles, primary-vertex z per event, whether pile-up is there)."""
    n_ev = len(events)
    particles = stable_particles(events, charge_of)
    pv_z = rng.normal(size=n_ev) * BEAMSPOT_SIGMA_Z_MM
    particles = dataclasses.replace(particles, vz=particles.vz + pv_z[particles.event])
    if pileup is None or len(pileup.event) == 0:
        return particles, pv_z, False
    return _merge(particles, pileup), pv_z, True


class PileupSource:
    """Where a batch's pile-up comes from: Poisson(mu) interactions per hard event, from a
    premixed library or from a minimum-bias Pythia run alongside, every random number
    (counts, picks, vertices) from the pile-up stream ``rng``."""

    def __init__(self, mu: float, rng: np.random.Generator, *, library: PileupLibrary | None = None,
                 pythia: Any = None, charge_of: Callable[[Any], Any] | None = None) -> None:
        self.mu, self.rng, self.library = mu, rng, library
        self.pythia, self.charge_of = pythia, charge_of

    def draw(self, n_events: int) -> Particles | None:
        """Pile-up particles of ``n_events`` hard events (their ``event`` is the owner)."""
        counts = self.rng.poisson(self.mu, size=n_events).astype(np.int64)
        if counts.sum() == 0:
            return None
        if self.library is not None:
            return self.library.draw(counts, self.rng, BEAMSPOT_SIGMA_Z_MM)
        assert self.pythia is not None and self.charge_of is not None
        pu = stable_particles(self.pythia.nextBatch(int(counts.sum())), self.charge_of)
        owner = np.repeat(np.arange(n_events, dtype=np.int64), counts)
        z = self.rng.normal(size=int(counts.sum())) * BEAMSPOT_SIGMA_Z_MM
        return dataclasses.replace(pu, event=owner[pu.event], vz=pu.vz + z[pu.event],
                            pileup=np.ones(len(pu.event), dtype=bool))


@dataclass(frozen=True)
class _Clustered:
    """Fat jets of a batch and their constituents.

    Attributes:
        used: indices (into the batch's candidates) of those that enter the clustering.
        px, py, pz, e: their PUPPI-weighted four-vectors.
        jets: the kept jets (events x jets records px, py, pz, E).
        jets_per_event: kept jets per event.
        n_per_jet: constituents per kept jet.
        members: constituents of every kept jet, hardest first, as indices into ``used``
            (events x jets x var).
    """

    used: I64
    px: F64
    py: F64
    pz: F64
    e: F64
    jets: ak.Array
    jets_per_event: I64
    n_per_jet: I64
    members: ak.Array

    @property
    def flat_members(self) -> I64:
        return np.asarray(ak.to_numpy(ak.flatten(self.members, axis=None)), dtype=np.int64)


def _cluster_candidates(cands: Candidates, n_ev: int, jets_cfg: JetConfig) -> _Clustered:
    """Anti-kT fat jets of the PUPPI-weighted candidates."""
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
    # constituents of the kept jets, each jet's sorted by weighted pT, as indices into ``used``
    jets_per_event = np.asarray(ak.to_numpy(ak.num(jets.px, axis=1)), dtype=np.int64)
    jets_flat = ak.flatten(local, axis=1) + np.repeat(offsets, jets_per_event)  # jets x var
    n_per_jet = np.asarray(ak.to_numpy(ak.num(jets_flat, axis=1)), dtype=np.int64)
    weighted_pt = ak.unflatten((cu.pt * w)[ak.to_numpy(ak.flatten(jets_flat))], n_per_jet)
    jets_flat = jets_flat[ak.argsort(weighted_pt, axis=1, ascending=False)]
    return _Clustered(used=used, px=px, py=py, pz=pz, e=e, jets=jets, jets_per_event=jets_per_event,
                      n_per_jet=n_per_jet, members=ak.unflatten(jets_flat, jets_per_event))


def _fatjets(c: _Clustered, cands: Candidates, jets_cfg: JetConfig) -> ak.Array:
    """The ``FatJet`` collection: kinematics, substructure, jet ID."""
    idx = c.flat_members
    const_vec = ak.unflatten(ak.zip({"px": c.px[idx], "py": c.py[idx], "pz": c.pz[idx], "E": c.e[idx]}),
                             c.n_per_jet)
    subs = substructure(const_vec, jets_cfg)
    member = cands.take(c.used[idx])
    jet_id = _jet_id(ak.unflatten(ak.zip({"pdg": member.pdg, "charge": member.charge}), c.n_per_jet),
                     ak.unflatten(c.e[idx], c.n_per_jet))
    jets = c.jets
    jpt = np.hypot(jets.px, jets.py)
    jp = np.sqrt(jpt**2 + jets.pz**2)

    def per_event(values: Any, dtype: type) -> ak.Array:
        return ak.values_astype(ak.unflatten(np.asarray(values), c.jets_per_event), dtype)

    return ak.zip({
        "pt": ak.values_astype(jpt, np.float32),
        "eta": ak.values_astype(np.arcsinh(jets.pz / jpt), np.float32),
        "phi": ak.values_astype(np.arctan2(jets.py, jets.px), np.float32),
        "mass": ak.values_astype(np.sqrt(np.maximum(jets.E**2 - jp**2, 0.0)), np.float32),
        **{name: per_event(subs[name], np.float32)
           for name in ("msoftdrop", "tau1", "tau2", "tau3", "tau4", "n2b1", "n3b1")},
        "nConstituents": per_event(c.n_per_jet, np.int32),
        "jetId": ak.unflatten(ak.to_numpy(jet_id), c.jets_per_event),
        "rawFactor": per_event(np.zeros(len(c.n_per_jet)), np.float32),
    })


def _pf_candidates(c: _Clustered, cands: Candidates, n_ev: int,
                   all_candidates: bool) -> tuple[ak.Array, ak.Array]:
    """``PFCands`` and the ``FatJetPFCands`` link table (jetIdx, pFCandsIdx).

    ``all_candidates``: every PF candidate of the event, as CMS PFNano stores them (pile-up
    and candidates outside any jet included), the links pointing into them; else only the
    fat jets' constituents, jet by jet (a fifteenth of the real density).
    """
    members = c.used[c.flat_members]  # indices into cands, jet by jet
    if all_candidates:
        stored = np.arange(len(cands.event))  # simulate() returns candidates sorted by event
        per_event = np.bincount(cands.event, minlength=n_ev)
        first = np.concatenate([[0], np.cumsum(per_event)[:-1]])
        in_event = members - first[cands.event[members]]
    else:
        stored = members
        per_event = np.asarray(ak.to_numpy(ak.sum(ak.num(c.members, axis=2), axis=1)), dtype=np.int64)
        in_event = np.asarray(ak.to_numpy(ak.flatten(ak.local_index(ak.flatten(c.members, axis=2), axis=1))))
    sel = cands.take(stored)

    def per_cand(values: Any, dtype: type) -> ak.Array:
        return ak.unflatten(np.asarray(values).astype(dtype), per_event)

    pfcands = ak.zip({
        "pt": per_cand(sel.pt, np.float32), "eta": per_cand(sel.eta, np.float32),
        "phi": per_cand(sel.phi, np.float32), "mass": per_cand(sel.mass, np.float32),
        "charge": per_cand(sel.charge, np.int32), "pdgId": per_cand(sel.pdg, np.int32),
        "d0": per_cand(sel.d0, np.float32), "dz": per_cand(sel.dz, np.float32),
        "puppiWeight": per_cand(sel.puppi, np.float32),
    })
    links_per_event = np.asarray(ak.to_numpy(ak.sum(ak.num(c.members, axis=2), axis=1)), dtype=np.int64)
    jet_idx = ak.flatten(ak.broadcast_arrays(ak.local_index(c.members, axis=1), c.members)[0], axis=2)
    link = ak.zip({
        "jetIdx": ak.values_astype(jet_idx, np.int32),
        "pFCandsIdx": ak.unflatten(in_event.astype(np.int32), links_per_event),
    })
    return pfcands, link


def process_batch(
    events: ak.Array,
    charge_of: Callable[[Any], Any],
    rng: np.random.Generator,
    *,
    pileup: Particles | None = None,
    pileup_rng: np.random.Generator | None = None,
    cell_noise: CellNoise | None = None,
    detector: DetectorConfig = DetectorConfig(),
    jets_cfg: JetConfig = JetConfig(),
    all_candidates: bool = False,
) -> JsonDict:
    """Turn one batch of Pythia events into NanoAOD collections.

    Args:
        events: a ``nextBatch`` array of hard-scatter events.
        charge_of: maps PDG ids to charges.
        rng: the hard event's random generator (primary vertex, detector).
        pileup: pile-up particles to overlay (``event`` = the hard event they go on), from
            :meth:`PileupSource.draw`.
        pileup_rng: the stream for the pile-up particles' detector response.
        cell_noise: keyed calorimeter noise (see :func:`simulate`).
        detector: fast-simulation parameters.
        jets_cfg: fat-jet definition.
        all_candidates: store every PF candidate of the event (CMS PFNano's density),
            not only the fat jets' constituents.

    Returns:
        Branch name -> array: ``FatJet``, ``PFCands``, ``FatJetPFCands``, ``GenPart``
        records and the ``nFatJet``-style counters implied by them.
    """
    n_ev = len(events)
    particles, pv_z, with_pu = _vertices_and_pileup(events, charge_of, rng, pileup)
    cands = simulate(particles, pv_z, rng, detector, with_pileup=with_pu, pileup_rng=pileup_rng,
                     cell_noise=cell_noise)
    clustered = _cluster_candidates(cands, n_ev, jets_cfg)
    pfcands, link = _pf_candidates(clustered, cands, n_ev, all_candidates)
    return {
        "FatJet": _fatjets(clustered, cands, jets_cfg),
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


#: Offset of the pile-up stream's seed: ``default_rng([seed, PILEUP_STREAM])``.
PILEUP_STREAM = 0x5055


@dataclass
class _Sample:
    """Everything one generation run draws from, set up once."""

    pythia: Any
    charge_of: Callable[[Any], Any]
    rng: np.random.Generator
    pileup: PileupSource | None
    density: MassDensity | None
    seed: int

    @classmethod
    def open(cls, cfg: ProcessConfig, pileup: float, library: PileupLibrary | None) -> _Sample:
        pythia = make_pythia(card_lines(cfg))
        charge_of = charges(pythia)
        source = None
        if pileup > 0:
            pu_rng = np.random.default_rng([cfg.seed, PILEUP_STREAM])
            if library is not None:
                source = PileupSource(pileup, pu_rng, library=library)
            else:
                pu_pythia = make_pythia(pileup_lines((cfg.seed + 4242) % 900_000_000 + 1, cfg.ecm))
                source = PileupSource(pileup, pu_rng, pythia=pu_pythia, charge_of=charges(pu_pythia))
        density = pilot_density(cfg) if cfg.process == "wprime-flat" else None
        return cls(pythia, charge_of, np.random.default_rng(cfg.seed), source, density, cfg.seed)

    def batch(self, n: int, first: int, detector: DetectorConfig, jets_cfg: JetConfig,
              all_candidates: bool) -> dict[str, Any]:
        """The branches of events ``first .. first + n - 1``."""
        events = self.pythia.nextBatch(n)
        pu = self.pileup.draw(n) if self.pileup is not None else None
        branches = process_batch(
            events, self.charge_of, self.rng, pileup=pu,
            pileup_rng=self.pileup.rng if self.pileup is not None else None,
            cell_noise=CellNoise(self.seed, first) if self.pileup is not None else None,
            detector=detector, jets_cfg=jets_cfg,
            all_candidates=all_candidates,
        )
        weight = np.asarray(ak.to_numpy(events.info.weights[:, 0]), dtype=np.float64)
        if self.density is not None:
            weight = weight * self.density.weights(resonance_mass(events.prt))
        gen_index = np.arange(first, first + n, dtype=np.int64)
        return {
            "run": np.ones(n, dtype=np.uint32),
            "luminosityBlock": (1 + gen_index // 1000).astype(np.uint32),
            "event": (gen_index + 1).astype(np.uint64),
            "genWeight": np.nan_to_num(weight, nan=0.0).astype(np.float32),
            **branches,
        }

    def runs_tree(self, weights: F64) -> dict[str, Any]:
        """The NanoAOD ``Runs`` entry: event count, sums of weights, and Pythia's cross
        section estimate of the generated phase space (pb; unbiased with ``--flat-pthat``)."""
        return {
            "run": np.ones(1, dtype=np.uint32),
            "genEventCount": np.array([len(weights)], dtype=np.int64),
            "genEventSumw": np.array([weights.sum()]),
            "genEventSumw2": np.array([(weights**2).sum()]),
            "xsec_pb": np.array([self.pythia.infoPython().sigmaGen() * 1e9]),
        }


def generate(
    cfg: ProcessConfig,
    n_events: int,
    output: str | os.PathLike[str],
    *,
    pileup: float = 0.0,
    pileup_library: str | os.PathLike[str] | None = None,
    detector: DetectorConfig = DetectorConfig(),
    jets_cfg: JetConfig = JetConfig(),
    batch_size: int = 100,
    progress: bool = True,
    all_candidates: bool = False,
) -> GenerateSummary:
    """Generate ``n_events`` events of ``cfg.process`` into a PFNano-format ROOT file.

    The file is written under a temporary name and renamed at the end, so ``output`` is
    either the complete new file or untouched.  The same ``cfg.seed`` gives identical
    arrays, and the same hard-scatter events at any ``pileup`` (the pile-up has its own
    random stream, the calorimeter noise is keyed by cell).  ``pileup_library`` overlays
    premixed minimum-bias events (:mod:`jetclr_coffea.gen.minbias`) instead of generating
    them.  ``all_candidates`` stores every PF candidate of each event, as CMS PFNano does
    (see :func:`process_batch`), instead of only the fat jets' constituents.  A ``Runs``
    tree holds the sums of weights and the cross section.

    Raises:
        JetCLRError: a bad argument, an unwritable output or an unreadable library.
    """
    import uproot

    _validate(n_events, pileup, batch_size)
    target = check_writable(output)
    library = PileupLibrary.load(pileup_library) if pileup_library is not None and pileup > 0 else None
    start = time.perf_counter()
    sample = _Sample.open(cfg, pileup, library)
    report = _progress_printer(n_events) if progress else None
    n_jets = n_cands = done = 0
    weights: list[F64] = []
    with atomic_path(target) as tmp, uproot.recreate(tmp) as fout:
        tree = None
        while done < n_events:
            n = min(batch_size, n_events - done)
            data = sample.batch(n, done, detector, jets_cfg, all_candidates)
            if tree is None:
                tree = fout.mktree(
                    "Events",
                    {k: (v.type if isinstance(v, ak.Array) else v.dtype) for k, v in data.items()},
                    field_name=lambda outer, inner: f"{outer}_{inner}",
                    counter_name=lambda counted: f"n{counted}",
                )
            tree.extend(data)
            weights.append(data["genWeight"].astype(np.float64))
            n_jets += int(ak.sum(ak.num(data["FatJet"].pt, axis=1)))
            n_cands += int(ak.sum(ak.num(data["PFCands"].pt, axis=1)))
            done += n
            if report is not None:
                report(done, time.perf_counter() - start)
        fout["Runs"] = sample.runs_tree(np.concatenate(weights))
    return GenerateSummary(output=str(target), process=cfg.process, events=done, fat_jets=n_jets,
                           pf_candidates=n_cands, seconds=time.perf_counter() - start)
