"""What a run gives back for each dataset: the typed form of the processors' accumulated
output (coffea accumulates plain dicts, lists and sets across chunks; :func:`~.run.run`
turns each dataset's into a :class:`DatasetResult` once, at the end)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypedDict

import numpy.typing as npt

if TYPE_CHECKING:
    from .hists import WeightHist

__all__ = ["ChunkOutput", "Columns", "DatasetEntry", "DatasetResult", "Fileset"]

#: One chunk's columns: name -> per-jet (or per-event) array; a friend chunk also holds its
#: file name and entry range.
Columns = dict[str, npt.ArrayLike]


class ChunkOutput(TypedDict):
    """What the processor returns for one dataset and chunk; coffea adds the chunks' up
    (histograms and cutflow values sum, sets unite, lists concatenate).

    Attributes:
        hists: histogram name (:func:`~.hists.hist_name`) -> ``hist.Hist``.
        cutflow: counter -> value.
        providers: the ONNX Runtime execution providers that ran the models.
        jets: the skim's columns (one entry: this chunk's, or none).
        friend: the friend trees' columns (likewise).
    """

    hists: dict[str, WeightHist]
    cutflow: dict[str, float]
    providers: set[str]
    jets: list[Columns]
    friend: list[Columns]


class DatasetEntry(TypedDict, total=False):
    """One dataset of a fileset, as :func:`~.run.load_fileset` gives it (coffea's form).

    Attributes:
        files: the files, absolute (or remote) paths.
        treename: always ``Events``.
        metadata: the JSON's own, e.g. ``{"xsec": 831.8}`` (pb).
    """

    files: list[str]
    treename: str
    metadata: dict[str, object]


#: dataset -> its files and metadata: what ``run`` and the DDT builders take.
Fileset = Mapping[str, DatasetEntry]


@dataclass
class DatasetResult:
    """One dataset's result.

    Attributes:
        hists: histogram name (:func:`~.hists.hist_name`) -> ``hist.Hist``.
        cutflow: counter -> value (``events``, ``events_weighted``, ``selected``, ``scored``...).
        providers: the ONNX Runtime execution providers that ran the models.
        jets: the skim's columns, one mapping of column -> array per chunk (``skim=True``).
        friend: the friend trees' columns, one mapping per chunk (``friend=True``).
    """

    hists: dict[str, WeightHist] = field(default_factory=dict)
    cutflow: dict[str, float] = field(default_factory=dict)
    providers: set[str] = field(default_factory=set)
    jets: list[Columns] = field(default_factory=list)
    friend: list[Columns] = field(default_factory=list)

    @classmethod
    def from_output(cls, output: ChunkOutput) -> DatasetResult:
        """From a processor's accumulated output for one dataset."""
        return cls(hists=dict(output["hists"]), cutflow=dict(output["cutflow"]),
                   providers=set(output["providers"]), jets=list(output["jets"]),
                   friend=list(output["friend"]))
