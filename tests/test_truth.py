"""Fat-jet truth labels from GenPart, including the copies real NanoAOD stores."""

from __future__ import annotations

import awkward as ak

from jetclr_coffea.truth import DARK, QCD, TOP, TWO_PRONG, label_fatjets


def _genpart() -> ak.Array:
    # index: particle (mother)
    # 0 t (-1), 1 t copy (0), 2 W+ (1), 3 b (1), 4 W+ copy (2), 5 u (4), 6 dbar (4)
    # 7 Z' (-1), 8 q (7), 9 qbar (7), 10 dark quark (-1)
    parts = [
        (6, -1, 0.0, 0.0), (6, 0, 0.0, 0.0), (24, 1, 0.1, 0.1), (5, 1, -0.3, 0.0),
        (24, 2, 0.1, 0.1), (2, 4, 0.3, 0.2), (-1, 4, 0.0, 0.35),
        (32, -1, 2.0, 2.5), (1, 7, 2.0, 2.4), (-1, 7, 2.1, 2.6), (4900101, -1, -2.0, -2.0),
    ]
    return ak.Array([[{"pdgId": p, "genPartIdxMother": m, "eta": e, "phi": f}
                      for p, m, e, f in parts]])


def test_labels() -> None:
    jets = ak.Array([[
        {"eta": 0.0, "phi": 0.1},    # contains b, u, dbar -> top
        {"eta": 0.35, "phi": 0.5},   # contains u and dbar but not b -> two-prong (W)
        {"eta": 2.05, "phi": 2.5},   # Z' quarks -> two-prong
        {"eta": -2.0, "phi": -2.1},  # dark quark
        {"eta": -0.5, "phi": -3.0},  # nothing
    ]])
    labels = label_fatjets(jets, _genpart())
    assert labels.tolist() == [[TOP, TWO_PRONG, TWO_PRONG, DARK, QCD]]


def test_no_partons_and_no_jets() -> None:
    empty_gen = ak.Array([[{"pdgId": 21, "genPartIdxMother": -1, "eta": 0.0, "phi": 0.0}], []])
    jets = ak.Array([[{"eta": 0.0, "phi": 0.0}], []])
    assert label_fatjets(jets, empty_gen).tolist() == [[QCD], []]
