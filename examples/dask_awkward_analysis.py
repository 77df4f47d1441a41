"""The same tagger in coffea's dask-awkward mode (``apply_to_fileset``), no Runner.

    python examples/dask_awkward_analysis.py MODEL.onnx qcd.root [top.root ...]

Builds one lazy task graph per file (dataset = file stem): select fat jets, read their
constituents lazily, score them with the ONNX model, fill a ``hist.dask`` histogram of
score x msoftdrop; then computes all graphs at once.  dask-awkward reads only the branches
the graph touches.
"""

import sys
from pathlib import Path
from typing import Any

import awkward as ak
import dask
import hist.dask as hda
import numpy as np
from coffea.dataset_tools import apply_to_fileset
from jetclr_coffea.processors import FatJetSelection, QuietPFNanoAODSchema

from jetclr_coffea.lazy_reader import fatjet_constituents
from jetclr_coffea.onnx_wrapper import onnx_wrapper


def tag_fatjets(events: Any, model: str, pt_min: float = 300.0) -> dict[str, Any]:
    """Histogram of the model's tagger_score x msoftdrop for selected fat jets (genWeight)."""
    fatjets = events.FatJet
    sel = FatJetSelection(pt_min=pt_min).mask(fatjets)
    cands = ak.flatten(fatjet_constituents(events)[sel], axis=1)  # jets x constituents
    jets = ak.flatten(fatjets[sel], axis=1)
    # the fat jets too: a model with jet features (the shipped top tagger) reads their msoftdrop,
    # pT, tau ratios, N2, N3; one without ignores them.  NaN: no stored constituents
    score = onnx_wrapper(model, output="tagger_score")(cands, jets)
    weight = ak.flatten(ak.broadcast_arrays(events.genWeight, fatjets.pt)[0][sel], axis=1)
    ok = ~np.isnan(score)
    h = hda.Hist.new.Reg(100, 0.0, 1.0, name="score").Reg(40, 0.0, 400.0, name="msd").Weight()
    return {"hist": h.fill(score=score[ok], msd=jets.msoftdrop[ok], weight=weight[ok])}


if __name__ == "__main__":
    model, files = str(Path(sys.argv[1]).resolve()), sys.argv[2:]
    fileset = {Path(f).stem: {"files": {f: "Events"}} for f in files}
    graphs = apply_to_fileset(lambda ev: tag_fatjets(ev, model), fileset, schemaclass=QuietPFNanoAODSchema)
    (out,) = dask.compute(graphs)
    for dataset, result in out.items():
        h = result["hist"]
        print(f"{dataset}: {h.sum().value:.0f} jets, mean score "
              f"{(h.project('score').values() * h.axes[0].centers).sum() / h.sum().value:.3f}")
