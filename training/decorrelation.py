"""The decorrelation landscape of an evaluation (``evaluate --signal-label two_prong``):
R50 against 1/JSD for the model's scores and the observables, raw and through DDT maps
fitted on separate QCD files (:mod:`.landscape` holds the metrics and the map fit)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from jetclr_coffea._io import JsonDict
from jetclr_coffea.errors import JetCLRError
from jetclr_coffea.inference import OnnxJetModel
from jetclr_coffea.truth import QCD

from .data import HANDCRAFTED, load_jets
from .lct import BOOTSTRAP, LabelledJets, LCTResult, run_model, score_roc

__all__ = ["DDT_EFFICIENCY", "DDT_OBSERVABLES", "MIN_DDT_JETS", "SHORT_NAMES", "landscape_metrics"]

F64 = npt.NDArray[np.float64]


#: Landscape names of the observables (N2 as ``n2``, so that N2^DDT reads ``n2_ddt``).
SHORT_NAMES = {"msoftdrop": "msoftdrop", "tau21": "tau21", "tau32": "tau32", "n2b1": "n2", "n3b1": "n3"}

#: Observables whose DDT enters the landscape.
DDT_OBSERVABLES = ("n2b1", "tau21")

#: The fewest QCD jets the landscape's DDT maps are fitted on.
MIN_DDT_JETS = 50

#: QCD efficiency of the landscape's DDT maps (CMS's N2^DDT uses 26 %); each map is also
#: built at the working point itself (``*_ddt_wp``).
DDT_EFFICIENCY = 0.26

def _add_ddt_scores(raw: dict[str, F64], sign: dict[str, float], test: tuple[Any, F64, F64],
                    model: OnnxJetModel, rep: LCTResult | None, ddt_background: list[str],
                    selection: tuple[float, float, float], say: Callable[[str], None]) -> dict[str, Any]:
    """Add to ``raw`` the DDT of N2, tau21, the LCT and every score of the model (maps fitted on
    ``ddt_background``) on the test jets ``test`` = (labels, msoftdrop, pT); returns the
    landscape's ``ddt`` section."""
    from .landscape import fit_ddt, working_point_efficiency

    y, msd, pt = test
    lo, hi, eta = selection
    say(f"reading QCD jets for the DDT maps from {len(ddt_background)} file(s)")
    qcd = load_jets(ddt_background, model.spec, pt_min=lo, pt_max=hi, eta_max=eta)
    keep = (qcd.labels == QCD) if (qcd.labels >= 0).any() else np.ones(len(qcd), dtype=bool)
    if keep.sum() < MIN_DDT_JETS:
        raise JetCLRError(f"{', '.join(ddt_background)}: {int(keep.sum())} QCD jets in the selection; "
                          f"the landscape's DDT maps need at least {MIN_DDT_JETS}")
    q_obs, q_pt = qcd.observables[keep], qcd.pt[keep]
    q_msd = q_obs[:, HANDCRAFTED.index("msoftdrop")]
    sources: dict[str, F64] = {}
    for name in DDT_OBSERVABLES:
        i = HANDCRAFTED.index(name)
        col = q_obs[:, i]
        sources[SHORT_NAMES[name]] = sign[name] * np.nan_to_num(col, nan=float(np.nanmedian(col)))
    q_out = run_model(model, qcd, keep)
    if rep is not None:
        sources["lct"] = rep.decision(q_out["embedding"])
    for name in model.card.scores:  # the model's own scores with a DDT map, as the processor applies
        sources[name] = q_out[name]
    efficiency = {}
    for name, q_score in sources.items():
        q_wp = working_point_efficiency(raw[name][y == 1], raw[name][y == 0])
        for suffix, q in (("_ddt", DDT_EFFICIENCY), ("_ddt_wp", q_wp)):
            raw[name + suffix] = fit_ddt(q_score, q_msd, q_pt, q).ddt_values(raw[name], msd, pt)
            efficiency[name + suffix] = q
    return {"files": [str(f) for f in ddt_background], "qcd_jets": int(keep.sum()), "efficiency": efficiency,
            "note": f"*_ddt: the map at QCD efficiency {DDT_EFFICIENCY} (CMS's N2^DDT); *_ddt_wp: at the QCD "
                    f"efficiency of the score's own cut at 50% signal efficiency, where the landscape is "
                    f"measured (the flattest it can be)"}


def landscape_metrics(model: OnnxJetModel, jets: LabelledJets, rep: LCTResult | None, base: LCTResult,
                      ddt_background: list[str] | None, selection: tuple[float, float, float],
                      say: Callable[[str], None]
                      ) -> tuple[JsonDict, Callable[[npt.NDArray[np.bool_]], Any]]:
    """The decorrelation landscape (:mod:`.landscape`) on the LCT's test jets: every
    observable alone, N2^DDT and tau21^DDT, both LCTs, the model LCT's DDT and every score
    the model exports; DDT maps fitted on ``ddt_background`` (QCD) at :data:`DDT_EFFICIENCY`
    and at the QCD efficiency of each score's own cut at 50 % signal efficiency.

    Returns the section and a function giving the landscape's points on a subset of the test
    jets (a boolean mask over them; the DDT maps stay those fitted on all the QCD jets)."""
    from .landscape import landscape

    te = base.test_index
    y, obs, msd = jets.labels[te], jets.observables[te], jets.observables[te, HANDCRAFTED.index("msoftdrop")]
    pt = jets.pt[te]
    raw: dict[str, F64] = {}  # larger = more signal-like, on the test jets
    sign: dict[str, float] = {}
    for i, name in enumerate(HANDCRAFTED):
        x = np.nan_to_num(obs[:, i], nan=float(np.nanmedian(obs[:, i])))
        sign[name] = 1.0 if score_roc(x[y == 1], x[y == 0]).auc >= 0.5 else -1.0
        raw[SHORT_NAMES[name]] = sign[name] * x
    raw["observables_lct"] = base.test_scores  # its decision on these jets
    if rep is not None:
        raw["lct"] = rep.decision(jets.outputs["embedding"][te])
    for name in model.card.scores:
        raw[name] = jets.outputs[name][te]
    section: dict[str, Any] = {"jets": "the LCT's test jets", "n_signal": int((y == 1).sum()),
                               "n_background": int((y == 0).sum())}
    if ddt_background:
        section["ddt"] = _add_ddt_scores(raw, sign, (y, msd, pt), model, rep, ddt_background, selection, say)
    say(f"bootstrapping the decorrelation landscape ({BOOTSTRAP} resamples)")

    def points(t_in: npt.NDArray[np.bool_]) -> dict[str, Any]:
        s, b = t_in & (y == 1), t_in & (y == 0)
        return {"n_signal": int(s.sum()), "n_background": int(b.sum()),
                "points": landscape({k: (v[s], v[b]) for k, v in raw.items()}, msd[b], BOOTSTRAP,
                                    reference="n2_ddt", others=("tau21_ddt", "tau21_ddt_wp"))}

    section["points"] = points(np.ones(len(y), dtype=bool))["points"]
    return section, points
