"""A DDT analysis with a learned jet tagger, as an analyst would write it.

    python examples/analysis.py FILESET.json MODEL.onnx DDT_MAP.json

FILESET.json maps dataset names to NanoAOD/PFNano files, e.g. {"qcd": ["qcd.root"]}.
"""

import sys

import matplotlib.pyplot as plt
import mplhep
from coffea import processor
from jetclr_coffea.processors import (
    FatJetSelection,
    LearnedJetTagProcessor,
    QuietPFNanoAODSchema,
    hist_name,
    load_fileset,
)

if __name__ == "__main__":  # needed for process-based executors (futures, dask)
    fileset, model, ddt_map = load_fileset(sys.argv[1]), sys.argv[2], sys.argv[3]
    runner = processor.Runner(executor=processor.FuturesExecutor(workers=2),
                              schema=QuietPFNanoAODSchema, chunksize=50_000)
    output = runner(fileset, processor_instance=LearnedJetTagProcessor(
        [model], FatJetSelection(pt_min=300), ddt_map), treename="Events")
    h = output["qcd"]["hists"][hist_name("jetclr_top_tagger_score", "ddt_msd_pt")]  # pass x msd x pt
    plt.style.use(mplhep.style.CMS)
    mplhep.histplot([h[0, :, sum], h[1, :, sum]], label=["fail", "pass"], density=True)
    plt.xlabel("$m_{SD}$ [GeV]")
    plt.legend()
    plt.savefig("qcd_pass_fail.png")
