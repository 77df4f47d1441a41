"""Make a real-density PFNano file by repeating the events of a small one.

    python benchmarks/replicate_pfnano.py SOURCE.root --copies 200 -o replica.root

Each copy of the source's events gets unique event numbers (the source's shifted by the
copy number times the largest one), so the replica reads like a longer run of the same
data.  Only the branches a jetclr-coffea processor can read are kept (event ids, weights,
FatJet, PF candidates and their links, GenPart), in the source's own collections, so real
CMS PFNano (coffea's tests/samples/pfnano.root, ~1 820 PF candidates an event) becomes a
file of any length at its real density.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import uproot

KEEP_SCALARS = ("run", "luminosityBlock", "event", "genWeight")
KEEP_COLLECTIONS = ("FatJet", "PFCands", "FatJetPFCands", "GenPart")


def read_source(path: Path) -> dict[str, Any]:
    """The kept branches of ``path``: scalars as numpy, collections as records."""
    tree = uproot.open(path)["Events"]
    keys = set(tree.keys())
    data: dict[str, Any] = {}
    for name in KEEP_SCALARS:
        if name in keys:
            data[name] = tree[name].array(library="np")
    for coll in KEEP_COLLECTIONS:
        fields = [k for k in keys if k.startswith(coll + "_")]
        if fields:
            arrays = tree.arrays(fields)
            data[coll] = ak.zip({f[len(coll) + 1:]: arrays[f] for f in fields})
    return data


def write_replica(data: dict[str, Any], copies: int, output: Path, basket_events: int = 200) -> int:
    """Write ``copies`` copies of ``data`` to ``output``; returns the number of events."""
    n = len(data["event"])
    step = int(np.max(data["event"])) + 1
    per_basket = max(1, basket_events // n)
    with uproot.recreate(output) as fout:
        tree = None
        for start in range(0, copies, per_basket):
            k = min(per_basket, copies - start)
            block: dict[str, Any] = {}
            for name, value in data.items():
                if isinstance(value, ak.Array):
                    block[name] = ak.concatenate([value] * k)
                else:
                    block[name] = np.concatenate([value] * k)
            shift = np.repeat(np.arange(start, start + k, dtype=np.uint64), n) * np.uint64(step)
            block["event"] = (np.concatenate([data["event"]] * k).astype(np.uint64) + shift)
            if tree is None:
                tree = fout.mktree("Events", {key: (v.type if isinstance(v, ak.Array) else v.dtype)
                                              for key, v in block.items()},
                                   field_name=lambda o, i: f"{o}_{i}", counter_name=lambda c: f"n{c}")
            tree.extend(block)
    return n * copies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("--copies", type=int, default=200)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    n = write_replica(read_source(args.source), args.copies, args.output)
    print(f"wrote {args.output}: {n} events ({args.output.stat().st_size / 1e6:.0f} MB)")


if __name__ == "__main__":
    main()
