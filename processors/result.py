"""What a run gives back for each dataset: the typed form of the processors' accumulated
output (coffea accumulates plain dicts, lists and sets across chunks; :func:`~.run.run`
turns each dataset's into a :class:`DatasetResult` once, at the end)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

__all__ = ["DatasetEntry", "DatasetResult", "Fileset"]


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

    hists: dict[str, Any] = field(default_factory=dict)
    cutflow: dict[str, float] = field(default_factory=dict)
    providers: set[str] = field(default_factory=set)
    jets: list[dict[str, Any]] = field(default_factory=list)
    friend: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_output(cls, output: Mapping[str, Any]) -> DatasetResult:
        """From a processor's accumulated output for one dataset (keys ``hists``,
        ``cutflow``, ``providers``, ``jets``, ``friend``; missing ones empty)."""
        return cls(hists=dict(output.get("hists", {})), cutflow=dict(output.get("cutflow", {})),
                   providers=set(output.get("providers", set())), jets=list(output.get("jets", [])),
                   friend=list(output.get("friend", [])))
