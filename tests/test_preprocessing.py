"""Each preprocessing step, and the invariances of the whole chain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest

from jetclr_coffea.preprocessing import (
    PreprocessSpec,
    centre,
    compute_features,
    pad_fields,
    prepare,
    principal_angle,
    pt_fraction,
    rotate,
    sort_by_pt,
    wrap_phi,
)
from jetclr_coffea.preprocessing.features import ConstituentArrays


def _random_jets(rng: np.random.Generator, n_jets: int = 20) -> ak.Array:
    counts = rng.integers(1, 80, n_jets)
    n = int(counts.sum())
    eta0 = np.repeat(rng.uniform(-2, 2, n_jets), counts)
    phi0 = np.repeat(rng.uniform(-np.pi, np.pi, n_jets), counts)
    return ak.unflatten(
        ak.zip({
            "pt": rng.exponential(10.0, n) + 0.5,
            "eta": eta0 + rng.normal(0, 0.2, n),
            "phi": wrap_phi(phi0 + rng.normal(0, 0.2, n)),
            "mass": np.zeros(n),
        }),
        counts,
    )


def test_wrap_phi_range() -> None:
    phi = np.linspace(-10, 10, 101)
    w = wrap_phi(phi)
    assert np.all(w >= -np.pi) and np.all(w < np.pi)
    np.testing.assert_allclose(np.cos(w), np.cos(phi), atol=1e-12)


def test_sort_and_pad() -> None:
    jets = ak.Array([[{"pt": 1.0}, {"pt": 5.0}, {"pt": 3.0}], [], [{"pt": 2.0}]])
    ordered = sort_by_pt(jets)
    values, mask = pad_fields(ordered, ("pt",), 2)
    np.testing.assert_array_equal(values["pt"], [[5.0, 3.0], [0.0, 0.0], [2.0, 0.0]])
    np.testing.assert_array_equal(mask, [[True, True], [False, False], [True, False]])


def test_centre_puts_centroid_at_origin_across_phi_wrap() -> None:
    pt = np.array([[3.0, 1.0, 2.0]])
    eta = np.array([[0.5, 0.7, 0.4]])
    phi = np.array([[3.1, -3.1, 3.0]])  # straddles +-pi
    mask = np.ones_like(pt, dtype=bool)
    deta, dphi = centre(eta, phi, pt, mask)
    assert abs((pt * deta).sum()) < 1e-12 and abs((pt * dphi).sum()) < 1e-12
    assert np.abs(dphi).max() < 0.2


def test_rotation_aligns_principal_axis() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 30)) * 0.3
    y = rng.normal(size=(5, 30)) * 0.05
    angle = rng.uniform(-1.5, 1.5, 5)
    c, s = np.cos(angle)[:, None], np.sin(angle)[:, None]
    deta, dphi = c * x - s * y, s * x + c * y  # elongated blobs at random angles
    pt = rng.exponential(1.0, (5, 30))
    mask = np.ones_like(pt, dtype=bool)
    r_eta, r_phi = rotate(deta, dphi, principal_angle(deta, dphi, pt, mask))
    assert np.allclose((pt * r_eta * r_phi).sum(axis=1), 0.0, atol=1e-10)
    assert np.all((pt * r_eta**2).sum(axis=1) > (pt * r_phi**2).sum(axis=1))
    # rotation keeps distances
    np.testing.assert_allclose(np.hypot(r_eta, r_phi), np.hypot(deta, dphi), atol=1e-12)


def test_pt_fraction_sums_to_one() -> None:
    pt = np.array([[1.0, 3.0, 0.0], [0.0, 0.0, 0.0]])
    mask = np.array([[True, True, False], [False, False, False]])
    f = pt_fraction(pt, mask)
    np.testing.assert_allclose(f.sum(axis=1), [1.0, 0.0])


def test_features_zero_in_padding_and_unknown_names() -> None:
    mask = np.array([[True, False]])
    arrays = ConstituentArrays(
        deta=np.array([[0.1, 0.0]]), dphi=np.array([[0.2, 0.0]]), pt=np.array([[10.0, 0.0]]),
        energy=np.array([[20.0, 0.0]]), charge=np.array([[1.0, 0.0]]), mask=mask,
    )
    x = compute_features(arrays, ("log_pt", "log_e_rel", "dr", "charge"))
    np.testing.assert_allclose(x[0, 0], [np.log(10.0), 0.0, np.hypot(0.1, 0.2), 1.0])
    assert np.all(x[0, 1] == 0)
    with pytest.raises(ValueError, match="unknown feature"):
        compute_features(arrays, ("nope",))


def test_prepare_is_invariant_under_translation_and_rotation() -> None:
    rng = np.random.default_rng(2)
    jets = _random_jets(rng)
    spec = PreprocessSpec(features=("deta", "dphi", "log_pt_rel"), n_max=40)
    ref_x, ref_mask = prepare(jets, spec)
    # translate in eta and phi (with wrap-around)
    moved = ak.zip({"pt": jets.pt, "eta": jets.eta + 1.3,
                    "phi": (jets.phi + 2.5 + np.pi) % (2 * np.pi) - np.pi,
                    "mass": jets.mass})
    np.testing.assert_allclose(prepare(moved, spec)[0], ref_x, atol=1e-5)
    # rotate about the jet centroid: same inputs up to the 180 degree axis ambiguity
    no_rot = PreprocessSpec(features=("deta", "dphi"), n_max=40, rotate=False)
    centred_x, centred_mask = prepare(jets, no_rot)
    theta = 0.7
    deta, dphi = centred_x[..., 0], centred_x[..., 1]
    counts = ak.num(jets, axis=1)
    keep = centred_mask > 0
    rot_eta = np.cos(theta) * deta - np.sin(theta) * dphi
    rot_phi = np.sin(theta) * deta + np.cos(theta) * dphi
    pt_sorted = ak.to_numpy(ak.fill_none(ak.pad_none(sort_by_pt(jets).pt, 40, clip=True), 0.0))
    rotated = ak.unflatten(ak.zip({
        "pt": pt_sorted[keep], "eta": rot_eta[keep], "phi": rot_phi[keep],
        "mass": np.zeros(int(keep.sum())),
    }), np.minimum(ak.to_numpy(counts), 40))
    out_x, out_mask = prepare(rotated, spec)
    np.testing.assert_allclose(np.abs(out_x), np.abs(ref_x), atol=1e-4)
    np.testing.assert_array_equal(out_mask, ref_mask)


def test_prepare_handles_nan_and_empty_jets() -> None:
    jets = ak.Array([
        [{"pt": 10.0, "eta": 0.1, "phi": 0.2, "mass": 0.0},
         {"pt": float("nan"), "eta": 0.0, "phi": 0.0, "mass": 0.0}],
        [],
    ])
    x, mask = prepare(jets, PreprocessSpec(n_max=4))
    assert np.isfinite(x).all()
    np.testing.assert_array_equal(mask.sum(axis=1), [1, 0])


def test_spec_round_trip_and_errors() -> None:
    spec = PreprocessSpec(features=("deta", "dphi"), n_max=7, rotate=False)
    assert PreprocessSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(ValueError, match="unknown preprocessing keys"):
        PreprocessSpec.from_dict({"n_max": 3, "colour": "red"})
    with pytest.raises(ValueError, match="n_max"):
        PreprocessSpec(n_max=0)


@pytest.mark.parametrize("mask_kind", ["pt_fraction", "binary"])
def test_training_and_inference_build_the_same_inputs(samples: dict[str, Any], mask_kind: str) -> None:
    """The inputs training builds for a jet (load_jets -> tensors -> batch_inputs) equal those a
    processor builds for it (read_constituents -> OnnxJetModel.inputs)."""
    pytest.importorskip("torch", reason="needs the [train] extra")
    import uproot
    from jetclr_coffea.training.data import batch_inputs, load_jets, to_batch

    from jetclr_coffea.inference import OnnxJetModel
    from jetclr_coffea.reader import read_constituents

    model = OnnxJetModel(Path(__file__).resolve().parents[1] / "onnx_models" / "jetclr_top.onnx")
    model.mask_kind = mask_kind
    features = ("deta", "dphi", "log_pt_rel", "log_e_rel", "dr", "charge", "dr_pt")
    spec = PreprocessSpec(features=features, n_max=30)
    model.spec = spec
    sample = load_jets([samples["top"]], spec, pt_min=300.0, pt_max=1e4, eta_max=2.0)
    x_train, m_train = batch_inputs(to_batch(sample.arrays), spec.features, mask_kind == "pt_fraction")
    events = uproot.open(samples["top"])["Events"].arrays()
    sel = (events["FatJet_pt"] > 300.0) & (events["FatJet_pt"] < 1e4) & (np.abs(events["FatJet_eta"]) < 2.0)
    jc = read_constituents(events, sel)
    x_inf, m_inf = model.inputs(jc.constituents[jc.has_constituents])
    assert len(x_inf) == len(sample) > 20
    np.testing.assert_allclose(x_train.numpy(), x_inf, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(m_train.numpy(), m_inf, rtol=1e-5, atol=1e-7)
