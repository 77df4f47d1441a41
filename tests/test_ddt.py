"""DDT maps: the QCD quantile per (rho, pT) bin, and closure of the written map."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from jetclr_coffea.processors.ddt import (
    RHO_STRETCH,
    DDTMap,
    build_ddt_map,
    fold_flow,
    pool_counts,
    quantile_map,
)
from jetclr_coffea.processors.hists import PT_EDGES, RHO_AXIS, SCORE_BINS, ddt_score_edges

from jetclr_coffea.errors import JetCLRError


def test_quantile_map() -> None:
    rng = np.random.default_rng(0)
    edges = np.linspace(0, 1, 101)
    counts = np.zeros((2, 1, 100))
    counts[0, 0], _ = np.histogram(rng.uniform(0, 1, 100000), edges)
    counts[1, 0], _ = np.histogram(rng.uniform(0, 0.5, 100000), edges)
    threshold, total = quantile_map(counts, edges, 0.1)
    np.testing.assert_allclose(threshold[:, 0], [0.9, 0.45], atol=0.01)
    assert total.shape == (2, 1)


def test_quantile_map_with_negative_weights() -> None:
    """Negative-weight score bins count as empty: the quantile of the clipped distribution."""
    edges = np.linspace(0, 1, 11)
    counts = np.full((1, 1, 10), 10.0)
    counts[0, 0, 8] = -3.0  # a negative bin below the last one
    clipped = counts.copy()
    clipped[0, 0, 8] = 0.0
    threshold, total = quantile_map(counts, edges, 0.1)
    expected, _ = quantile_map(clipped, edges, 0.1)
    assert total[0, 0] == 90.0
    # the last bin holds 10 of 90: 10% lies 0.1 of the way into it (unclipped: 0.765)
    assert threshold[0, 0] == pytest.approx(expected[0, 0]) == pytest.approx(0.91)
    only_negative = np.zeros((1, 1, 10))
    only_negative[0, 0, 0] = -5.0
    assert np.isnan(quantile_map(only_negative, edges, 0.1)[0][0, 0])


def test_ddt_map_closure_flat_in_every_bin(tmp_path: Path) -> None:
    """Synthetic QCD whose score rises with rho and pT: a fixed cut keeps very different
    fractions across (rho, pT); score - threshold(rho, pT) > 0 keeps q in every bin."""
    rng = np.random.default_rng(7)
    n, q = 400_000, 0.05
    rho = rng.uniform(RHO_AXIS[1], RHO_AXIS[2], n)
    pt = np.exp(rng.uniform(np.log(PT_EDGES[0]), np.log(PT_EDGES[-1]), n))
    # a Beta score whose mean moves from ~0.15 to ~0.75 with rho and pT (mass sculpting)
    a = 1.0 + 4.0 * (rho - RHO_AXIS[1]) / (RHO_AXIS[2] - RHO_AXIS[1]) + np.log(pt / PT_EDGES[0])
    score = rng.beta(a, 3.0)
    rho_edges = np.linspace(RHO_AXIS[1], RHO_AXIS[2], RHO_AXIS[0] + 1)
    pt_edges = np.asarray(PT_EDGES)
    score_edges = np.linspace(0.0, 1.0, SCORE_BINS + 1)
    counts, _ = np.histogramdd((rho, pt, score), bins=(rho_edges, pt_edges, score_edges))
    path = build_ddt_map(counts, rho_edges, pt_edges, score_edges, score="s", efficiency=q,
                         output=tmp_path / "ddt.json")
    ddt = DDTMap(path)
    assert ddt.score == "s"
    passed = score > ddt.threshold(rho, pt)
    idx_r = np.digitize(rho, rho_edges) - 1
    idx_p = np.digitize(pt, pt_edges) - 1
    per_bin, fixed_cut = [], []
    cut = np.quantile(score, 1 - q)  # the inclusive cut with the same overall efficiency
    for r in range(len(rho_edges) - 1):
        for p in range(len(pt_edges) - 1):
            sel = (idx_r == r) & (idx_p == p)
            if sel.sum() >= 500:
                per_bin.append(passed[sel].mean())
                fixed_cut.append((score[sel] > cut).mean())
    per_bin_eff, fixed_eff = np.array(per_bin), np.array(fixed_cut)
    assert len(per_bin_eff) > 150
    assert passed.mean() == pytest.approx(q, abs=0.002)
    # binomial spread of ~500-3000 jets per bin is 0.004-0.01: 0.03 is > 3 sigma everywhere
    assert np.abs(per_bin_eff - q).max() < 0.03
    assert fixed_eff.min() < q / 2 and fixed_eff.max() > 2 * q  # the sculpting the map removes


def test_fold_flow_keeps_every_jet_in_the_edge_bins() -> None:
    values = np.arange(4 * 5 * 3, dtype=float).reshape(4, 5, 3)  # flow bins on both ends
    folded = fold_flow(values)
    assert folded.shape == (2, 3, 1)
    assert folded.sum() == values.sum()
    # rho underflow (row 0) and overflow (row 3) land in the first and last rho bin
    assert folded[0].sum() == values[:2].sum() and folded[1].sum() == values[2:].sum()


def test_pool_counts_counts_effective_jets() -> None:
    """Thin bins pool their neighbours until they hold min_jets effective jets; a common
    scale of the generator weights changes nothing."""
    rng = np.random.default_rng(2)
    counts = np.zeros((6, 4, 20))
    counts[2, 1] = rng.poisson(5, size=20)  # the one well-filled bin (~100 jets)
    counts[2, 2, 3] = 2.0  # a thin neighbour with 2 jets of its own
    pooled = pool_counts(counts, 25.0)
    assert np.array_equal(pooled[2, 1], counts[2, 1])  # keeps its own distribution
    # an empty bin next to it in pT: the narrowest kernel (sigma 0.5 bins) already holds enough
    np.testing.assert_allclose(pooled[2, 0], np.exp(-2.0) * counts[2, 1] + np.exp(-8.0) * counts[2, 2])
    # the thin one: its 2 jets with weight 1 and its neighbour's, weighted enough to count
    k = (pooled[2, 2] - counts[2, 2]).sum() / counts[2, 1].sum()
    n = counts[2, 1].sum()
    assert 0 < k < 1
    assert (2 + k * n) ** 2 / (2 + k**2 * n) >= 25.0  # effective entries of the pool
    scaled = pool_counts(1000.0 * counts, 25.0, variances=1e6 * counts)
    np.testing.assert_allclose(scaled, 1000.0 * pooled)
    with pytest.raises(JetCLRError, match="effective jets"):
        pool_counts(np.ones((2, 2, 3)), 25.0)


def test_pool_counts_prefers_jets_of_the_same_rho() -> None:
    """A thin bin pools its own rho at other pT before other rho: a score's QCD distribution
    moves with rho (mass sculpting), so jets of another rho would bias its quantile."""
    counts = np.zeros((5, 5, 10))
    counts[1, 2, 7] = 100.0  # one rho bin below: high scores
    counts[2, 3, 2] = 100.0  # same rho, one pT bin up: low scores
    pooled = pool_counts(counts, 25.0)
    assert RHO_STRETCH > 1
    assert pooled[2, 2, 2] == pytest.approx(100.0 * np.exp(-2.0))
    assert pooled[2, 2, 7] < 1e-6 * pooled[2, 2, 2]


def test_ddt_score_edges_resolve_both_ends() -> None:
    edges = ddt_score_edges(0.0, 1.0)
    assert edges[0] == 0.0 and edges[-1] == 1.0
    assert np.all(np.diff(edges) > 0)
    assert edges[1] < 1e-4 and 1.0 - edges[-2] < 1e-4  # a tagger's QCD pile-up near 0 is resolved
    assert np.diff(edges).max() < 0.013


def test_ddt_map_weights_datasets_by_cross_section(samples: dict[str, Path], tmp_path: Path) -> None:
    """Slices of a QCD sample are combined by cross section / sum of generator weights:
    a slice with a negligible cross section barely moves the map, while summing the same
    datasets as they are mixes it in fully."""
    from jetclr_coffea.processors.run import RunOptions, load_fileset, make_ddt_map

    model = str(Path(__file__).resolve().parents[1] / "onnx_models" / "jetclr_top.onnx")

    def build(name: str, entries: dict[str, object]) -> DDTMap:
        fs = tmp_path / f"{name}.json"
        fs.write_text(json.dumps(entries))
        return DDTMap(make_ddt_map(load_fileset(fs), model, tmp_path / f"{name}_ddt.json", score=None,
                                   efficiency=0.05, opts=RunOptions()))

    qcd, top = str(samples["qcd"]), str(samples["top"])
    alone = build("alone", {"qcd": [qcd]})
    weighted = build("weighted", {"qcd": {"files": [qcd], "metadata": {"xsec": 1.0}},
                                  "other": {"files": [top], "metadata": {"xsec": 1e-6}}})
    mixed = build("mixed", {"qcd": [qcd], "other": [top]})
    rho, pt = np.meshgrid(np.linspace(-7.5, -1.5, 13), [250.0, 450.0, 700.0, 1200.0])
    t_alone, t_weighted, t_mixed = (m.threshold(rho.ravel(), pt.ravel()) for m in (alone, weighted, mixed))
    assert np.abs(t_weighted - t_alone).max() < 0.02
    assert np.abs(t_mixed - t_alone).max() > 0.1  # top jets score high: mixed in, they move it
    with pytest.raises(JetCLRError, match="every dataset or none"):
        build("partial", {"qcd": {"files": [qcd], "metadata": {"xsec": 1.0}}, "other": [top]})
    with pytest.raises(JetCLRError, match="'qcd': metadata xsec must be a positive number, got '1 pb'"):
        build("text", {"qcd": {"files": [qcd], "metadata": {"xsec": "1 pb"}}})


def test_ddt_map_of_the_decorrelated_tagger(samples: dict[str, Path], tmp_path: Path) -> None:
    """ddt-map takes the shipped decorrelated tagger's score by default; its thresholds are cuts
    on a probability."""
    from jetclr_coffea.processors.run import RunOptions, load_fileset, make_ddt_map

    model = str(Path(__file__).resolve().parents[1] / "onnx_models" / "codec_twoprong.onnx")
    fs = tmp_path / "qcd.json"
    fs.write_text(json.dumps({"qcd": [str(samples["qcd"])]}))
    path = make_ddt_map(load_fileset(fs), model, tmp_path / "codec_ddt.json", score=None, efficiency=0.3,
                        opts=RunOptions())
    doc = json.loads(Path(path).read_text())
    assert doc["jetclr_coffea"]["score"] == "codec_twoprong_decorrelated_score"
    thresholds = DDTMap(path).threshold(np.array([-6.0, -4.0, -2.5]), np.array([600.0, 600.0, 600.0]))
    assert np.all((thresholds >= 0.0) & (thresholds <= 1.0))  # cuts on a probability


def test_several_ddt_maps_in_one_processor(samples: dict[str, Path], tmp_path: Path) -> None:
    from jetclr_coffea.processors import FatJetSelection, LearnedJetTagProcessor, hist_name
    from jetclr_coffea.processors.run import RunOptions, load_fileset, make_ddt_map, run

    shipped = Path(__file__).resolve().parents[1] / "onnx_models"
    models = [str(shipped / "jetclr_top.onnx"), str(shipped / "codec_twoprong.onnx")]
    fs = tmp_path / "qcd.json"
    fs.write_text(json.dumps({"qcd": [str(samples["qcd"])]}))
    maps = [make_ddt_map(load_fileset(fs), m, tmp_path / f"{k}.json", score=None, efficiency=q,
                         opts=RunOptions()) for k, (m, q) in enumerate(zip(models, (0.2, 0.4), strict=True))]
    proc = LearnedJetTagProcessor(models, FatJetSelection(), maps)
    hists = run(load_fileset(fs), proc, RunOptions()).datasets["qcd"].hists
    for score, q in (("jetclr_top_tagger_score", 0.2), ("codec_twoprong_decorrelated_score", 0.4)):
        h = hists[hist_name(score, "ddt_msd_pt")].values()
        n = h.sum()
        assert n > 50 and abs(h[1].sum() / n - q) < 4 * np.sqrt(q * (1 - q) / n) + 0.03  # its own target
    with pytest.raises(JetCLRError, match="are both DDT maps of jetclr_top_tagger_score"):
        LearnedJetTagProcessor(models, FatJetSelection(), [maps[0], maps[0]])


def test_jets_with_an_undefined_ddt_score_are_counted(samples: dict[str, Path], tmp_path: Path) -> None:
    from jetclr_coffea.processors import FatJetSelection, LearnedJetTagProcessor, hist_name
    from jetclr_coffea.processors.run import RunOptions, load_fileset, make_ddt_map, run

    model = str(Path(__file__).resolve().parents[1] / "onnx_models" / "jetclr_top.onnx")
    fs = tmp_path / "qcd.json"
    fs.write_text(json.dumps({"qcd": [str(samples["qcd"])]}))
    path = make_ddt_map(load_fileset(fs), model, tmp_path / "m.json", score=None, efficiency=0.2,
                        opts=RunOptions())
    doc = json.loads(path.read_text())

    def poison(node: object) -> None:  # every threshold NaN
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "content" and isinstance(v, list) and v and isinstance(v[0], float):
                    node[k] = [float("nan")] * len(v)
                else:
                    poison(v)
        elif isinstance(node, list):
            for v in node:
                poison(v)

    poison(doc)
    path.write_text(json.dumps(doc))
    res = run(load_fileset(fs), LearnedJetTagProcessor([model], FatJetSelection(), path), RunOptions())
    c = res.datasets["qcd"].cutflow
    h = res.datasets["qcd"].hists[hist_name("jetclr_top_tagger_score", "ddt_msd_pt")]
    assert c["ddt_undefined"] == c["scored"] > 0 and h.values().sum() == 0


def test_the_landscape_and_the_processor_share_one_ddt_lookup(samples: dict[str, Path],
                                                              tmp_path: Path) -> None:
    """One DDT: the processor's ``<score>_ddt`` is the map's ``ddt_values`` on the same jets
    (what the landscape applies), a map the landscape fits on the same QCD jets gives the
    written map's thresholds, and both treat msoftdrop <= 0 and an undefined rho alike."""
    import awkward as ak
    from coffea.nanoevents import NanoEventsFactory
    from jetclr_coffea.processors import FatJetSelection, LearnedJetTagProcessor
    from jetclr_coffea.processors.run import RunOptions, load_fileset, make_ddt_map
    from jetclr_coffea.processors.schema import QuietPFNanoAODSchema
    from jetclr_coffea.training.landscape import fit_ddt

    model = str(Path(__file__).resolve().parents[1] / "onnx_models" / "jetclr_top.onnx")
    fs = tmp_path / "qcd.json"
    fs.write_text(json.dumps({"qcd": [str(samples["qcd"])]}))
    path = make_ddt_map(load_fileset(fs), model, tmp_path / "m.json", score=None, efficiency=0.2,
                        opts=RunOptions())
    events = NanoEventsFactory.from_root({str(samples["qcd"]): "Events"}, schemaclass=QuietPFNanoAODSchema,
                                         mode="eager").events()
    sel = FatJetSelection()
    tagged = LearnedJetTagProcessor([model], sel, path).tag_fatjets(events)
    jets = tagged[sel.mask(tagged)]
    score, msd, pt, ddt = (np.asarray(ak.to_numpy(ak.flatten(jets[f])), dtype=np.float64) for f in
                           ("jetclr_top_tagger_score", "msoftdrop", "pt", "jetclr_top_tagger_score_ddt"))
    ok = np.isfinite(score)
    assert ok.sum() > 100
    written = DDTMap(path)
    np.testing.assert_allclose(ddt[ok], written.ddt_values(score, msd, pt)[ok], atol=1e-6)
    fitted = fit_ddt(score[ok], msd[ok], pt[ok], 0.2)
    assert np.median(np.abs(fitted.ddt_values(score, msd, pt)[ok] - ddt[ok])) < 0.02
    for m in (written, fitted):  # one policy for odd jets
        odd = m.ddt_values(np.array([0.5, 0.5, 0.5, np.nan]), np.array([0.0, -1e-5, 50.0, 50.0]),
                           np.array([600.0, 600.0, 0.0, 600.0]))
        lowest = 0.5 - m.threshold(np.array([-np.inf]), np.array([600.0]))[0]
        np.testing.assert_allclose(odd[:2], lowest)
        assert np.isnan(odd[2:]).all()
