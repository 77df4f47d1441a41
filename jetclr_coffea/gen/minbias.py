"""Premixed pile-up: a library of minimum-bias events, overlaid at random.

As in CMS premixing, minimum-bias events (Pythia ``SoftQCD:inelastic``) are generated
once into a library file and each hard event receives Poisson(mu) of them drawn at random
(with replacement) instead of freshly generated ones, which removes the cost of running
Pythia for every pile-up interaction.  The library stores every stable particle of each
event at generator level (momenta, PDG id, charge and the production vertex relative to
the interaction point); each overlaid copy gets its own vertex z drawn at overlay time,
and the same fast simulation then runs on the hard event and its pile-up together (cells
are shared, PUPPI weights see the pile-up tracks).

Reuse: with a library of L events and N hard events at mean mu, each library event is
used about N mu / L times, and two hard events share on average mu^2 / L pile-up events
(0.08 for L = 20 000 at mu = 40; each shared one is a 1/mu part of their pile-up, at a
different vertex and with its own detector smearing).  L >= 100 mu^2 brings it below a
percent (docs/data.md).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import awkward as ak
import numpy as np
import numpy.typing as npt

from jetclr_coffea._io import atomic_path, check_writable
from jetclr_coffea.errors import JetCLRError, ParameterError
from jetclr_coffea.gen.detector import Particles

__all__ = ["MINBIAS_TREE", "PileupLibrary", "write_minbias_library"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: Tree of a minimum-bias library file.
MINBIAS_TREE = "MinBias"
_FIELDS = ("px", "py", "pz", "e", "pdg", "charge", "vx", "vy", "vz")


def _library_record(p: Particles, n_events: int) -> ak.Array:
    """The jagged ``Particle`` record of a batch's stable particles, as the library stores it."""
    counts = np.bincount(p.event, minlength=n_events)
    values = {k: getattr(p, k).astype(np.int32 if k == "pdg" else np.float32) for k in _FIELDS}
    return ak.zip({k: ak.unflatten(v, counts) for k, v in values.items()})


def write_minbias_library(n_events: int, seed: int, output: str | os.PathLike[str], *,
                          ecm: float = 13600.0, batch_size: int = 500) -> float:
    """Generate ``n_events`` minimum-bias events into a library file; returns the seconds taken.

    The file has one tree, :data:`MINBIAS_TREE`, with a jagged ``Particle_*`` collection
    (px, py, pz, e in GeV; pdg; charge; vx, vy, vz in mm from the interaction point).

    Raises:
        JetCLRError: a bad number of events or seed, or an unwritable output.
    """
    import uproot

    from jetclr_coffea.gen.pythia import charges, make_pythia, pileup_lines, stable_particles

    if n_events <= 0:
        raise ParameterError("n_events", f"must be a positive number of events, got {n_events}")
    if not 1 <= seed <= 900_000_000:
        raise ParameterError("seed", f"must be between 1 and 900000000, got {seed}")
    target = check_writable(output)
    start = time.perf_counter()
    pythia = make_pythia(pileup_lines(seed, ecm))
    charge_of = charges(pythia)
    done = 0
    with atomic_path(target) as tmp, uproot.recreate(tmp) as fout:
        tree = None
        while done < n_events:
            n = min(batch_size, n_events - done)
            data = {"Particle": _library_record(stable_particles(pythia.nextBatch(n), charge_of), n)}
            if tree is None:
                tree = fout.mktree(MINBIAS_TREE, {"Particle": data["Particle"].type},
                                   field_name=lambda outer, inner: f"{outer}_{inner}",
                                   counter_name=lambda counted: f"n{counted}")
            tree.extend(data)
            done += n
    return time.perf_counter() - start


@dataclass(frozen=True)
class PileupLibrary:
    """Minimum-bias events held flat in memory, for overlay.

    Attributes:
        offsets: start of each library event in the flat arrays (length n_events + 1).
        columns: flat per-particle arrays, named as :class:`Particles` fields (``pdg``
            held as float64, exact for every PDG id).
        path: the file it was read from.
    """

    offsets: I64
    columns: dict[str, F64]
    path: str

    @property
    def n_events(self) -> int:
        return len(self.offsets) - 1

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PileupLibrary:
        """Read a library written by :func:`write_minbias_library`.

        Raises:
            JetCLRError: the file is missing, unreadable, not a library, or empty.
        """
        import uproot

        p = Path(path)
        if not p.is_file():
            raise JetCLRError(f"pile-up library {p} does not exist")
        try:
            with uproot.open(p) as f:
                if MINBIAS_TREE not in f:
                    raise JetCLRError(f"{p} is not a pile-up library (no {MINBIAS_TREE} tree; "
                                      "make one with: jetclr-coffea generate minbias)")
                arrays = f[MINBIAS_TREE].arrays([f"Particle_{k}" for k in _FIELDS])
        except JetCLRError:
            raise
        except Exception as err:  # uproot raises many kinds on a damaged file
            raise JetCLRError(f"cannot read pile-up library {p}: {err}") from err
        counts = ak.to_numpy(ak.num(arrays["Particle_px"], axis=1)).astype(np.int64)
        if len(counts) == 0:
            raise JetCLRError(f"pile-up library {p} has no events")
        columns = {}
        for k in _FIELDS:
            flat = ak.to_numpy(ak.flatten(arrays[f"Particle_{k}"]))
            columns[k] = flat.astype(np.float64)
        return cls(offsets=np.concatenate([[0], np.cumsum(counts)]), columns=columns, path=str(p))

    def draw(self, counts: I64, rng: np.random.Generator, sigma_z_mm: float) -> Particles:
        """Overlay ``counts[i]`` random library events on hard event ``i``.

        Each overlaid event gets its own vertex z ~ N(0, ``sigma_z_mm``); every random
        number comes from ``rng`` (the pile-up stream).
        """
        picks = rng.integers(0, self.n_events, size=int(counts.sum()))
        owner = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
        z = rng.normal(size=len(picks)) * sigma_z_mm
        sizes = self.offsets[picks + 1] - self.offsets[picks]
        # index of every particle of every pick: offsets[pick] + 0 .. size - 1
        starts = np.repeat(self.offsets[picks] - np.cumsum(np.concatenate([[0], sizes[:-1]])), sizes)
        index = starts + np.arange(int(sizes.sum()), dtype=np.int64)
        copy = np.repeat(np.arange(len(picks)), sizes)
        c = self.columns
        return Particles(
            event=owner[copy], px=c["px"][index], py=c["py"][index], pz=c["pz"][index],
            e=c["e"][index], pdg=np.asarray(c["pdg"][index], dtype=np.int64), charge=c["charge"][index],
            vx=c["vx"][index], vy=c["vy"][index], vz=c["vz"][index] + z[copy],
            pileup=np.ones(len(index), dtype=bool),
        )
