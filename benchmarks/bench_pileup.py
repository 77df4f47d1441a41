"""Pile-up generation speed: events/s at mu = 0, 40, 60, premixed (a minimum-bias library)
against fresh minimum-bias Pythia events for every hard event, in one run on one core.

Prints and records (benchmarks/results/pileup.json) the events/s of each setting and the
ratio library / fresh.  The library is generated once at the start (its time is recorded
too: it is paid once per sample, not per event).

    python benchmarks/bench_pileup.py [--events 200] [--process qcd] [--library-events 4000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _record import record

from jetclr_coffea.gen.generate import generate
from jetclr_coffea.gen.minbias import write_minbias_library
from jetclr_coffea.gen.pythia import ProcessConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--process", default="qcd")
    parser.add_argument("--library-events", type=int, default=4000)
    args = parser.parse_args()
    results: dict[str, object] = {"events": args.events, "process": args.process}
    with tempfile.TemporaryDirectory() as tmp:
        lib = Path(tmp) / "lib.root"
        lib_s = write_minbias_library(args.library_events, 9001, lib)
        results["library"] = {"events": args.library_events, "seconds": lib_s}
        print(f"library: {args.library_events} minimum-bias events in {lib_s:.1f} s")
        cfg = ProcessConfig(args.process, seed=11)
        for mu in (0, 40, 60):
            row = {}
            for mode in (("library", "fresh") if mu else ("none",)):
                s = generate(cfg, args.events, Path(tmp) / "out.root", pileup=float(mu),
                             pileup_library=lib if mode == "library" else None, progress=False)
                row[mode] = s.events_per_second
            if mu:
                row["ratio"] = row["library"] / row["fresh"]
            results[f"mu{mu}"] = row
            print(f"mu = {mu:2d}: " + ", ".join(f"{k} {v:.2f}" for k, v in row.items()))
    print(f"recorded in {record('pileup', results)}")


if __name__ == "__main__":
    main()
