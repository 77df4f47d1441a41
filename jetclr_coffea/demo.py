"""The embedded default run (``jetclr-coffea demo``): the README's main command.

Generates small QCD and top samples, reads them back with coffea's PFNanoAODSchema and
the constituent reader, and prints what they hold: constituent counts, the soft-drop
mass by truth label, and the preprocessed input shape a model would see.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import awkward as ak
import numpy as np

from jetclr_coffea.errors import JetCLRError
from jetclr_coffea.inspect_file import summarise
from jetclr_coffea.preprocessing import PreprocessSpec, prepare
from jetclr_coffea.reader import read_constituents
from jetclr_coffea.truth import DARK, QCD, TOP, TWO_PRONG, label_fatjets

__all__ = ["run_demo"]

_LABEL_NAMES = {QCD: "QCD", TOP: "top", TWO_PRONG: "W/Z'", DARK: "dark"}


def _load_nanoevents(path: Path) -> ak.Array:
    from coffea.nanoevents import NanoEventsFactory, PFNanoAODSchema

    with warnings.catch_warnings():
        # PFNanoAODSchema warns about the many optional PFNano collections we do not write
        warnings.simplefilter("ignore", RuntimeWarning)
        return NanoEventsFactory.from_root(
            {str(path): "Events"}, schemaclass=PFNanoAODSchema, mode="eager"
        ).events()


def run_demo(output: Path, events: int = 300, seed: int = 1) -> None:
    """Run the embedded default chain into ``output``."""
    from jetclr_coffea.gen.generate import generate
    from jetclr_coffea.gen.pythia import ProcessConfig

    if output.exists() and not output.is_dir():
        raise JetCLRError(f"{output} exists and is not a folder")
    output.mkdir(parents=True, exist_ok=True)
    for process in ("qcd", "top"):
        path = output / f"{process}.root"
        print(f"== generating {events} {process} events -> {path}")
        s = generate(ProcessConfig(process, seed=seed), events, path, progress=True)
        print(f"   {s.events_per_second:.1f} events/s")
        print(summarise(path).format())
        ev = _load_nanoevents(path)
        labels = ak.to_numpy(ak.flatten(label_fatjets(ev.FatJet, ev.GenPart)))
        msd = ak.to_numpy(ak.flatten(ev.FatJet.msoftdrop))
        for label, name in _LABEL_NAMES.items():
            sel = labels == label
            if sel.any():
                print(f"   {name:5s} jets: {sel.sum():5d}, median soft-drop mass "
                      f"{np.median(msd[sel]):6.1f} GeV")
        prepared = prepare(read_constituents(ev).constituents, PreprocessSpec())
        print(f"   model input: {prepared.x.shape} (jets, constituents, features)")
