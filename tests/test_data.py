"""training/data.py: reading, selecting and weighting the jets a training or evaluation uses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from jetclr_coffea.training.data import load_jets, training_targets

from jetclr_coffea.inference import OnnxJetModel
from jetclr_coffea.preprocessing import PreprocessSpec
from jetclr_coffea.sculpting import MSD_EDGES
from jetclr_coffea.truth import QCD, TWO_PRONG

MODEL = Path(__file__).resolve().parents[1] / "onnx_models" / "jetclr_top.onnx"


def test_files_of_both_constituent_conventions_mix(real_files: dict[str, Path]) -> None:
    """PFNano (every PF candidate) and NanoAOD v15 (the fat jets' candidates) in one list:
    each file's jets as read alone, in file order, with the fields both files have."""
    spec = OnnxJetModel(MODEL).spec
    files = [real_files["pfnano.root"], real_files["nano_tt_v15.root"]]
    window = {"pt_min": 200.0, "pt_max": 3000.0, "eta_max": 2.5}
    both = load_jets(files, spec, **window)
    alone = [load_jets([f], spec, **window) for f in files]
    assert [int((both.source == i).sum()) for i in range(2)] == [len(a.pt) for a in alone]
    assert all(len(a.pt) > 5 for a in alone)
    np.testing.assert_array_equal(both.pt, np.concatenate([a.pt for a in alone]))
    np.testing.assert_allclose(both.observables, np.concatenate([a.observables for a in alone]))
    for name in ("pt", "deta", "dphi", "energy", "mask"):  # each jet's constituents, unchanged by the mixing
        np.testing.assert_array_equal(getattr(both.arrays, name),
                                      np.concatenate([getattr(a.arrays, name) for a in alone]))


def test_observables_and_jet_features_share_one_tau_ratio() -> None:
    """The LCT's/BDT's observables and the models' jet features compute tau21 and tau32 by
    one function: 0 where the denominator vanishes or the numerator is NaN."""
    import awkward as ak
    from jetclr_coffea.training.data import _observables

    from jetclr_coffea.preprocessing.jet_features import jet_features

    fields = {"msoftdrop": [50.0, 0.0, 80.0], "tau1": [0.3, 0.0, 0.4], "tau2": [0.15, 0.1, 0.2],
              "tau3": [0.05, float("nan"), 0.1], "n2b1": [0.1, 0.2, 0.3], "n3b1": [1.0, 2.0, 3.0],
              "pt": [500.0, 400.0, 600.0]}
    obs = _observables(ak.Array(fields))  # (3, 5): msoftdrop, tau21, tau32, n2b1, n3b1
    feats = jet_features({k: np.asarray(v) for k, v in fields.items()}, ("tau21", "tau32"))
    np.testing.assert_allclose(obs[:, 1:3], feats, rtol=1e-6)
    np.testing.assert_allclose(obs[:, 1], [0.5, 0.0, 0.5], rtol=1e-6)
    np.testing.assert_allclose(obs[:, 2], [1 / 3, 0.0, 0.5], rtol=1e-6)


def test_targets_flatten_the_signal_mass_to_qcd(samples: dict[str, Path]) -> None:
    files = [str(samples["qcd"]), str(samples["wprime-flat"])]
    sample = load_jets(files, PreprocessSpec(), pt_min=200.0, pt_max=5000.0, eta_max=2.4)
    keep, t = training_targets(sample, "two_prong", True)
    assert set(np.unique(sample.labels[keep])) <= {QCD, TWO_PRONG}
    y, msd, w = (a.numpy().astype(np.float64) for a in (t.label, t.msd, t.weight))
    assert np.array_equal(y == 1, sample.labels[keep] == TWO_PRONG)
    assert w[y == 1].sum() == pytest.approx((y == 0).sum(), rel=1e-5)  # classes balanced
    hs = np.histogram(msd[y == 1], MSD_EDGES, weights=w[y == 1])[0]
    hb = np.histogram(msd[y == 0], MSD_EDGES)[0].astype(np.float64)
    both = (hs > 0) & (hb > 0)
    # where both classes have jets, the weighted signal has QCD's msoftdrop shape
    np.testing.assert_allclose(hs[both] / hs[both].sum(), hb[both] / hb[both].sum(), rtol=1e-4)
    _, plain = training_targets(sample, "two_prong", False)
    assert len(np.unique(plain.weight[plain.label == 1].numpy())) == 1
