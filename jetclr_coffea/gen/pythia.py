"""Pythia 8 set-up from the process cards, and batch generation into awkward arrays.

Events come out of Pythia through ``Pythia.nextBatch``, which translates a whole batch of
event records into one awkward array in C++, so no Python code runs per particle.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import awkward as ak
import numpy as np
import numpy.typing as npt

from jetclr_coffea.errors import JetCLRError, MissingExtraError
from jetclr_coffea.gen.detector import Particles

__all__ = [
    "PROCESSES",
    "ProcessConfig",
    "card_lines",
    "charges",
    "hard_process",
    "make_pythia",
    "pileup_lines",
    "stable_particles",
]

PROCESSES: tuple[str, ...] = ("qcd", "top", "wprime-flat", "svj")

#: NanoAOD GenPart statusFlags bits (PhysicsTools/NanoAOD genparticles_cff).
IS_HARD_PROCESS = 1 << 7
FROM_HARD_PROCESS = 1 << 8
IS_FIRST_COPY = 1 << 12


@dataclass(frozen=True)
class ProcessConfig:
    """Physics settings of one generated sample.

    Attributes:
        process: one of :data:`PROCESSES`.
        seed: Pythia random seed (1 .. 900000000).
        ecm: centre-of-mass energy in GeV.
        pthat_min: lower edge of the hard-process pT window (qcd, top, wprime-flat), GeV.
        pthat_max: upper edge of the hard-process pT window, GeV.
        mass_min: lower edge of the flat resonance-mass window (wprime-flat), GeV.
        mass_max: upper edge of the flat resonance-mass window (wprime-flat), GeV.
        mzprime: Z' mass of the semi-visible-jet model (svj), GeV.
        rinv: invisible fraction of the dark mesons (svj).
        flat_pthat: bias the hard-process pT spectrum by (pT-hat / pthat_min)^bias_power
            (Pythia's ``PhaseSpace:bias2Selection``), as CMS's "Flat" samples; each event's
            ``genWeight`` is the inverse bias, so weighted distributions are physical.
        bias_power: the bias exponent (6 puts about half the events above 800 GeV in a
            300-1600 GeV window).
    """

    process: str
    seed: int = 1
    ecm: float = 13600.0
    pthat_min: float = 500.0
    pthat_max: float = 700.0
    mass_min: float = 40.0
    mass_max: float = 250.0
    mzprime: float = 2000.0
    rinv: float = 0.75
    flat_pthat: bool = False
    bias_power: float = 6.0

    def __post_init__(self) -> None:
        if self.process not in PROCESSES:
            raise JetCLRError(
                f"unknown process {self.process!r}; choose one of {', '.join(PROCESSES)}"
            )
        if not 1 <= self.seed <= 900_000_000:
            raise JetCLRError(f"seed must be between 1 and 900000000, got {self.seed}")
        if not 0.0 < self.pthat_min < self.pthat_max:
            raise JetCLRError(
                f"need 0 < pthat_min < pthat_max, got {self.pthat_min} and {self.pthat_max}"
            )
        if not 0.0 < self.mass_min < self.mass_max:
            raise JetCLRError(
                f"need 0 < mass_min < mass_max, got {self.mass_min} and {self.mass_max}"
            )
        if not 0.0 <= self.rinv <= 1.0:
            raise JetCLRError(f"rinv must be in [0, 1], got {self.rinv}")
        if self.ecm <= 0:
            raise JetCLRError(f"ecm must be positive, got {self.ecm}")
        if self.flat_pthat and self.process == "svj":
            raise JetCLRError("svj has no pT-hat window to flatten: cover a jet-pT range with "
                              "several --mzprime values instead")
        if not 0.0 < self.bias_power <= 10.0:
            raise JetCLRError(f"bias power must be in (0, 10], got {self.bias_power}")


def _read_card(name: str) -> list[str]:
    text = importlib.resources.files("jetclr_coffea.gen").joinpath(f"cards/{name}.cmnd")
    lines = []
    for raw in text.read_text().splitlines():
        line = raw.split("!", 1)[0].strip()
        if line:
            lines.append(line)
    return lines


def card_lines(cfg: ProcessConfig) -> list[str]:
    """The Pythia settings for ``cfg``: the common card, then the process card, filled in."""
    window = cfg.mass_max - cfg.mass_min
    values = {
        "ecm": cfg.ecm,
        "seed": cfg.seed,
        "pthat_min": cfg.pthat_min,
        "pthat_max": cfg.pthat_max,
        "mass_min": cfg.mass_min,
        "mass_max": cfg.mass_max,
        "mass_centre": 0.5 * (cfg.mass_min + cfg.mass_max),
        "width": 2.0 * window,
        "mzprime": cfg.mzprime,
        "mzprime_min": 0.9 * cfg.mzprime,
        "mzprime_max": 1.1 * cfg.mzprime,
        "rinv": cfg.rinv,
        "rvis": 1.0 - cfg.rinv,
    }
    lines = [line.format(**values) for line in _read_card("common") + _read_card(cfg.process)]
    if cfg.flat_pthat:
        lines += ["PhaseSpace:bias2Selection = on", f"PhaseSpace:bias2SelectionPow = {cfg.bias_power}",
                  f"PhaseSpace:bias2SelectionRef = {cfg.pthat_min}"]
    return lines


def pileup_lines(seed: int, ecm: float) -> list[str]:
    """Settings of the minimum-bias (SoftQCD:inelastic) generator used for pile-up."""
    lines = [
        line.format(ecm=ecm, seed=seed)
        for line in _read_card("common")
    ]
    return [*lines, "SoftQCD:inelastic = on"]


def make_pythia(lines: list[str]) -> Any:
    """A configured and initialised ``pythia8mc.Pythia``.

    Raises:
        MissingExtraError: pythia8mc is not installed.
        JetCLRError: Pythia refuses a setting or fails to initialise.
    """
    try:
        import pythia8mc
    except ImportError as err:
        raise MissingExtraError("pythia8mc", "gen") from err
    pythia = pythia8mc.Pythia("", False)
    for line in lines:
        if not pythia.readString(line):
            raise JetCLRError(f"Pythia refused the setting {line!r}")
    if not pythia.init():
        raise JetCLRError("Pythia failed to initialise; check the process settings")
    return pythia


class _ChargeTable:
    """Electric charge per PDG id, looked up once per id in Pythia's particle data."""

    def __init__(self, pythia: Any) -> None:
        self._data = pythia.particleData
        self._cache: dict[int, float] = {}

    def __call__(self, pdg: npt.NDArray[np.int32]) -> npt.NDArray[np.float32]:
        uniq, inverse = np.unique(pdg, return_inverse=True)
        table = np.empty(len(uniq), dtype=np.float32)
        for i, pid in enumerate(uniq.tolist()):
            if pid not in self._cache:
                self._cache[pid] = float(self._data.charge(pid))
            table[i] = self._cache[pid]
        return table[inverse]


def charges(pythia: Any) -> _ChargeTable:
    """A callable mapping an array of PDG ids to electric charges (units of e)."""
    return _ChargeTable(pythia)


def hard_process(prt: ak.Array) -> ak.Array:
    """NanoAOD-style ``GenPart`` records of the hard process of each event.

    Keeps the particles of the hardest subprocess and of the resonance decays in it
    (Pythia status 21-29: incoming partons, t, W, Z', their decay quarks, dark quarks),
    with their mother index remapped into the kept list (-1 where the mother is not kept).

    Args:
        prt: the ``prt`` field of a ``nextBatch`` array (events x particles).

    Returns:
        events x var records with pt, eta, phi, mass, pdgId, status, statusFlags,
        genPartIdxMother.
    """
    status = np.abs(prt.status)
    keep = (status >= 21) & (status <= 29)
    index = ak.local_index(prt.status, axis=1)
    kept_index = index[keep]
    hard = prt[keep]
    # position of each kept particle in the kept list, looked up by Pythia index
    n_all = ak.num(prt.status, axis=1)
    offsets = np.concatenate([[0], np.cumsum(ak.to_numpy(n_all))[:-1]])
    lookup = np.full(int(ak.sum(n_all)), -1, dtype=np.int32)
    counts = ak.to_numpy(ak.num(kept_index, axis=1))
    flat_kept = ak.to_numpy(ak.flatten(kept_index)) + np.repeat(offsets, counts)
    lookup[flat_kept] = ak.to_numpy(ak.flatten(ak.local_index(kept_index, axis=1)))
    # a decay product's mother is often a recoiled copy of the resonance (after showering);
    # climb through copies (same pdgId) to the hard-process one
    all_id = ak.to_numpy(ak.flatten(prt.id)).astype(np.int64)
    all_mother = ak.to_numpy(ak.flatten(prt.mother1)).astype(np.int64)
    all_event_offset = np.repeat(offsets, ak.to_numpy(n_all))
    all_mother = np.where(all_mother > 0, all_mother + all_event_offset, -1)
    mother = all_mother[flat_kept]
    for _ in range(100):
        climb = (mother >= 0) & (lookup[np.maximum(mother, 0)] < 0)
        climb &= all_mother[np.maximum(mother, 0)] >= 0
        climb &= all_id[np.maximum(all_mother[np.maximum(mother, 0)], 0)] == all_id[
            np.maximum(mother, 0)
        ]
        if not climb.any():
            break
        mother = np.where(climb, all_mother[np.maximum(mother, 0)], mother)
    mother_idx = np.where(mother >= 0, lookup[np.maximum(mother, 0)], -1)
    px, py, pz = hard.p.px, hard.p.py, hard.p.pz
    pt = np.hypot(px, py)
    eta = np.arcsinh(pz / np.maximum(pt, 1e-9))
    phi = np.arctan2(py, px)
    flags = IS_HARD_PROCESS | FROM_HARD_PROCESS | IS_FIRST_COPY
    return ak.zip(
        {
            "pt": ak.values_astype(pt, np.float32),
            "eta": ak.values_astype(eta, np.float32),
            "phi": ak.values_astype(phi, np.float32),
            "mass": ak.values_astype(hard.m, np.float32),
            "pdgId": ak.values_astype(hard.id, np.int32),
            "status": ak.values_astype(np.abs(hard.status), np.int32),
            "statusFlags": ak.values_astype(ak.full_like(hard.id, flags), np.int32),
            "genPartIdxMother": ak.unflatten(mother_idx.astype(np.int32), counts),
        }
    )


def stable_particles(events: ak.Array, charge_of: Callable[[Any], Any]) -> Particles:
    """The stable particles of a ``nextBatch`` array, flat, with their event index and
    production vertex (mm; the event's own origin), not yet marked as pile-up."""
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
