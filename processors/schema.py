"""``QuietPFNanoAODSchema``: coffea's PFNano schema without a warning per missing collection.

coffea's ``PFNanoAODSchema`` warns, for every chunk, about each cross-reference whose
collections a file lacks (``Electron_genPartIdx => GenPart``, ...): dozens of lines per chunk
and worker for PFNano skims and for the generated samples, which hold only what jet
tagging needs.  This subclass switches those warnings off (coffea's class-level
``warn_missing_crossrefs``); being a class of an installed module, it reaches worker
processes of every start method (fork, spawn, dask) by reference, unlike a warnings filter
or an attribute set on coffea's class in the main process.
"""

from __future__ import annotations

from coffea.nanoevents import PFNanoAODSchema

__all__ = ["QuietPFNanoAODSchema"]


class QuietPFNanoAODSchema(PFNanoAODSchema):  # type: ignore[misc]
    """``PFNanoAODSchema`` that does not warn about missing optional cross-references."""

    warn_missing_crossrefs = False
