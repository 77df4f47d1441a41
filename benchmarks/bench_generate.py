"""Generation speed per process, and where the time goes.

Prints and records (benchmarks/results/generate.json) events/s for each process and the
share of time in Pythia (nextBatch), the fast simulation, anti-kT clustering, the
substructure observables (soft drop, N-subjettiness, ECFs; FastJet C++), and writing.
The Python-side per-particle work is the fast simulation: it must not dominate.

    python benchmarks/bench_generate.py [--events 300]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _record import record

from jetclr_coffea.gen.generate import generate
from jetclr_coffea.gen.pythia import PROCESSES, ProcessConfig

STAGES = {
    "pythia": "nextBatch",
    "detector": "simulate",
    "clustering": "cluster",
    "substructure": "substructure",
    "writing": "extend",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for process in PROCESSES:
            prof = cProfile.Profile()
            prof.enable()
            summary = generate(ProcessConfig(process, seed=7), args.events,
                               Path(tmp) / f"{process}.root", progress=False)
            prof.disable()
            stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
            shares = {}
            for stage, func in STAGES.items():
                # Python functions are keyed by name, C functions as "<built-in method ...>"
                cum = max((v[3] for k, v in stats.items()
                           if k[2] == func or (k[0] == "~" and f".{func}" in k[2])), default=0.0)
                shares[stage] = cum / summary.seconds
            shares["other"] = max(0.0, 1.0 - sum(shares.values()))
            results[process] = {"events": summary.events, "seconds": summary.seconds,
                                "events_per_s": summary.events_per_second,
                                "fat_jets": summary.fat_jets, "share": shares}
            line = ", ".join(f"{k} {100 * v:.0f}%" for k, v in shares.items())
            print(f"{process:12s} {summary.events_per_second:6.1f} events/s  ({line})")
    print(f"recorded in {record('generate', results)}")


if __name__ == "__main__":
    main()
