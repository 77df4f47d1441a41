"""Leading fat-jet pT spectra of generated files, unweighted and genWeight-weighted (docs/data.md).

Prints one markdown row per file and weighting: the fraction of events whose leading fat
jet lies in each pT bin, and above 800 GeV.

    python benchmarks/leading_jet_spectra.py data/phase_space/svj_m1000_mu0_0.root ...
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

EDGES = (200.0, 300.0, 450.0, 600.0, 800.0, 1000.0, 1500.0, 2000.0)


def fractions(pt: np.ndarray, w: np.ndarray) -> list[float]:
    """Weighted fraction of events per bin of :data:`EDGES`, then above 800 GeV."""
    total = w.sum()
    counts, _ = np.histogram(pt, bins=EDGES, weights=w)
    return [*(counts / total), float(w[pt > 800].sum() / total)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args()
    heads = [f"{a:g}-{b:g}" for a, b in itertools.pairwise(EDGES)]
    print("| file | weighting | " + " | ".join(heads) + " | > 800 GeV |")
    print("|---|---|" + "---|" * (len(heads) + 1))
    for path in args.files:
        with uproot.open(path) as f:
            ev = f["Events"].arrays(["FatJet_pt", "genWeight"])
        lead = ak.to_numpy(ak.fill_none(ak.max(ev["FatJet_pt"], axis=1), 0.0)).astype(float)
        w = ak.to_numpy(ev["genWeight"]).astype(float)
        for name, weights in (("unweighted", np.ones_like(w)), ("genWeight", w)):
            row = " | ".join(f"{x:.3f}" for x in fractions(lead, weights))
            print(f"| `{path.name}` | {name} | {row} |")


if __name__ == "__main__":
    main()
