"""Reading NanoAOD files with uproot, with one-line errors for bad input."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import awkward as ak

from jetclr_coffea.errors import JetCLRError
from jetclr_coffea.reader import CANDIDATE_FIELDS, CONVENTIONS, JET_FIELDS

__all__ = ["constituent_branches", "open_tree", "read_events"]


def open_tree(path: str | os.PathLike[str], tree: str = "Events") -> Any:
    """The ``tree`` of a ROOT file.

    Raises:
        JetCLRError: the file is missing, is not a ROOT file, or has no such tree.
    """
    import uproot

    p = Path(path)
    if not p.is_file():
        raise JetCLRError(f"{p}: no such file")
    try:
        f = uproot.open(p)
        if tree not in f:
            raise JetCLRError(f"{p}: no '{tree}' tree (has: {', '.join(f.keys(cycle=False)) or 'nothing'})")
        return f[tree]
    except JetCLRError:
        raise
    except Exception as err:  # uproot raises several types for non-ROOT or truncated input
        raise JetCLRError(f"{p}: not a readable ROOT file ({type(err).__name__})") from err


def constituent_branches(keys: list[str] | set[str], jet_collection: str = "FatJet") -> list[str]:
    """The branches the constituent reader needs, among ``keys``."""
    present = set(keys)
    wanted = [f"{jet_collection}_{n}" for n in JET_FIELDS]
    for conv in CONVENTIONS:
        wanted += [f"{conv.candidates}_{n}" for n in CANDIDATE_FIELDS]
        wanted += [f"{conv.link}_{conv.jet_index}", f"{conv.link}_{conv.cand_index}"]
    wanted += ["genWeight", "run", "luminosityBlock", "event"]
    wanted += [f"GenPart_{n}" for n in ("pt", "eta", "phi", "mass", "pdgId", "status",
                                         "statusFlags", "genPartIdxMother")]
    return [b for b in wanted if b in present]


def read_events(
    path: str | os.PathLike[str],
    entry_start: int | None = None,
    entry_stop: int | None = None,
) -> ak.Array:
    """The branches needed for jets and constituents, as flat-named awkward arrays."""
    tree = open_tree(path)
    branches = constituent_branches(tree.keys())
    try:
        return tree.arrays(branches, entry_start=entry_start, entry_stop=entry_stop)
    except Exception as err:  # truncated baskets, decompression errors, ...
        reason = " ".join(str(err).split())[:160]
        raise JetCLRError(f"{path}: cannot read its Events tree, truncated or corrupt? "
                          f"({type(err).__name__}: {reason})") from err
