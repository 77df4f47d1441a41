"""``jetclr-coffea linear-ot``: a linearized optimal-transport embedding of jets.

Linearized OT (Cai, Craig, Craig, Jain, Larkoski, Mishra, Ostdiek, Thaler,
arXiv:2008.08604): every jet is transported once to one fixed reference jet, and the
barycentric projection of that plan, scaled by the square root of the reference weights,
is a vector in which Euclidean distances approximate the 2-Wasserstein distance between
jets.  OT distances between any two jets then cost one OT solve per jet, not per pair.

Here the reference is a weighted k-means of QCD training jets' constituents (M points, the
clusters' pT fractions as weights); the graph solves the entropic plan of each jet to it
(scaling-domain Sinkhorn, ground cost (Delta R / 0.8)^2) and outputs the ``embedding``
(jets, 2M), the Euclidean distances to K medoid QCD jets chosen by FasterPAM in that
embedding (``medoid_distances``), and the smallest (``anomaly_score``, an approximate W_2
to the nearest medoid, in units of the jet radius).  The build measures the embedding's
distances against the exact W_2 (POT) on held-out QCD pairs and writes them in the card.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from jetclr_coffea import __version__
from jetclr_coffea._io import JsonDict, JsonObject
from jetclr_coffea.errors import MissingExtraError, ParameterError
from jetclr_coffea.model_card import ModelCard, OutputSpec
from jetclr_coffea.ot import JET_RADIUS, SinkhornConfig, emd_exact, emd_matrix, ground_cost, sinkhorn_plan

from .export import write_graph
from .ot_medoids import QCDJets, choose_medoids, relative_error

__all__ = ["LOT_SINKHORN", "LOTConfig", "build_linear_ot", "lot_summary", "reference_jet"]

F64 = npt.NDArray[np.float64]

#: The plan of each jet to the reference: eps from 0.3 to 0.0005 (in units of (Delta R / R)^2)
#: in 10 stages of 10 update pairs; its blur of the projection is measured in the card.
LOT_SINKHORN = SinkhornConfig(eps_start=0.3, eps_end=0.0005, stages=10, iterations=10)


@dataclass(frozen=True)
class LOTConfig(QCDJets):
    """What a linearized-OT model is built from (besides :class:`~.ot_medoids.QCDJets`).

    Attributes:
        n_ref: points of the reference jet.
        ref_jets: QCD jets whose constituents the reference is clustered from.
        n_jets: further QCD jets the medoids are chosen among (in the embedding).
        k: number of medoids.
        check_jets: held-out QCD jets (after those) on which the embedding's distances are
            compared with the exact W_2.
    """

    n_ref: int = 32
    ref_jets: int = 1000
    n_jets: int = 2000
    k: int = 8
    check_jets: int = 400

    def __post_init__(self) -> None:
        if self.k < 1 or self.n_jets < self.k:
            raise ParameterError("k", f"must be between 1 and n_jets ({self.n_jets}), got {self.k}")
        if self.n_ref < 2:
            raise ParameterError("n_ref", f"must be at least 2, got {self.n_ref}")
        if self.check_jets < 2:
            raise ParameterError("check_jets", f"must be at least 2 (pairs of them), got {self.check_jets}")


def reference_jet(x: F64, w: F64, n_ref: int, seed: int) -> tuple[F64, F64]:
    """(n_ref, 2) positions and (n_ref,) weights (summing to one) of the reference: the
    pT-weighted k-means of all constituents of jets ``x`` (N, C, 2), ``w`` (N, C)."""
    try:
        from sklearn.cluster import KMeans
    except ImportError as err:
        raise MissingExtraError("scikit-learn", "train") from err
    real = w > 0
    points, weights = x[real], w[real]
    km = KMeans(n_clusters=n_ref, n_init=4, random_state=seed).fit(points, sample_weight=weights)
    mass = np.bincount(km.labels_, weights=weights, minlength=n_ref)
    keep = mass > 0
    centres = np.asarray(km.cluster_centers_, dtype=np.float64)[keep]
    return centres, mass[keep] / mass.sum()


class _Graph(torch.nn.Module):
    """constituents (N, C, 2), mask = pT fractions (N, C) ->
    (embedding (N, 2M), anomaly_score (N,), medoid_distances (N, K))."""

    def __init__(self, ref_x: F64, ref_w: F64, medoids: F64 | None = None) -> None:
        super().__init__()
        self.register_buffer("ref_x", torch.tensor(ref_x, dtype=torch.float32))  # (M, 2)
        self.register_buffer("ref_w", torch.tensor(ref_w, dtype=torch.float32))  # (M,)
        med = np.zeros((1, 2 * len(ref_w))) if medoids is None else medoids
        self.register_buffer("medoids", torch.tensor(med, dtype=torch.float32))  # (K, 2M)

    def embed(self, constituents: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        ref_x: torch.Tensor = self.ref_x  # type: ignore[assignment]
        ref_w: torch.Tensor = self.ref_w  # type: ignore[assignment]
        w = mask / torch.clamp(mask.sum(1, keepdim=True), min=1e-12)  # (N, C)
        cost = ground_cost(constituents, ref_x[None], 2.0)  # (N, C, M)
        plan: torch.Tensor = sinkhorn_plan(cost, w, ref_w[None], LOT_SINKHORN)  # (N, C, M)
        plan_t = plan.transpose(1, 2)  # (N, M, C)
        mass = torch.clamp(plan_t.sum(2, keepdim=True), min=1e-12)  # (N, M, 1), ~ ref_w
        projected = (plan_t @ constituents) / mass  # (N, M, 2): where each reference point goes
        shift = torch.sqrt(ref_w)[None, :, None] * (projected - ref_x[None]) / JET_RADIUS
        return shift.flatten(1)  # (N, 2M)

    def forward(self, constituents: torch.Tensor, mask: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        emb = self.embed(constituents, mask)  # (N, 2M)
        medoids: torch.Tensor = self.medoids  # type: ignore[assignment]
        diff = emb[:, None, :] - medoids[None]  # (N, K, 2M)
        dist = torch.sqrt((diff * diff).sum(-1) + 1e-12)  # (N, K)
        return emb, dist.min(dim=1).values, dist


def _embed(graph: _Graph, x: F64, w: F64) -> F64:
    with torch.no_grad():
        out = graph.embed(torch.tensor(x, dtype=torch.float32), torch.tensor(w, dtype=torch.float32))
    return np.asarray(out.numpy(), dtype=np.float64)


def _pairwise(e: F64) -> F64:
    sq = (e * e).sum(1)
    return np.asarray(np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * e @ e.T, 0.0)), dtype=np.float64)


def distance_accuracy(lot: F64, exact: F64) -> dict[str, float]:
    """The embedding's distances ``lot`` against the exact W_2 ``exact`` (same pairs)."""
    from scipy.stats import spearmanr

    rel = relative_error(lot, exact)
    return {"pairs": len(exact), "pearson": float(np.corrcoef(lot, exact)[0, 1]),
            "spearman": float(spearmanr(lot, exact).statistic), "rel_error_mean": float(rel.mean()),
            "rel_error_q95": float(np.quantile(rel, 0.95)), "ratio_median": float(np.median(lot / exact))}


def _check(graph: _Graph, xc: F64, wc: F64, mx: F64, mw: F64) -> dict[str, Any]:
    """Distances between held-out pairs and to the medoid jets against the exact W_2."""
    half = len(xc) // 2
    exact_pairs = np.array([np.sqrt(emd_exact(xc[i], wc[i], xc[half + i], wc[half + i], 2.0))
                            for i in range(half)])
    e = _embed(graph, xc, wc)
    lot_pairs = np.sqrt(((e[:half] - e[half:2 * half]) ** 2).sum(1))
    exact_med = np.sqrt(emd_matrix(xc, wc, 2.0, others=(mx, mw)))  # (jets, K)
    with torch.no_grad():
        score = graph(torch.tensor(xc, dtype=torch.float32), torch.tensor(wc, dtype=torch.float32))[1]
    return {"pairs": distance_accuracy(lot_pairs, exact_pairs),
            "score_vs_exact_nearest_medoid": distance_accuracy(score.numpy().astype(np.float64),
                                                               exact_med.min(axis=1))}


def _card(cfg: LOTConfig, name: str, measured: dict[str, Any], rows: dict[str, list[int]],
          hi: float, m: int) -> ModelCard:
    return ModelCard(
        preprocessing=cfg.spec,
        outputs=(OutputSpec("embedding", (2 * m,)), OutputSpec("anomaly_score"),
                 OutputSpec("medoid_distances", (cfg.k,))),
        mask="pt_fraction", model_kind="ot_medoids", code_version=__version__,
        score_ranges={"anomaly_score": (0.0, hi)},
        scores_info={"anomaly_score": {
            "definition": f"linearized-OT distance (approximate W_2, (Delta R / 0.8)^2 ground cost, in "
                          f"units of R) to the nearest of {cfg.k} QCD medoid jets; embedding: the "
                          f"barycentric projection onto a {m}-point reference jet",
            "sinkhorn": {"domain": "scaling", "eps_start": LOT_SINKHORN.eps_start,
                         "eps_end": LOT_SINKHORN.eps_end, "stages": LOT_SINKHORN.stages,
                         "iterations": LOT_SINKHORN.iterations},
            **measured}},
        training={"name": name, "objective": "linear_ot",
                  "data": cfg.data_section(),
                  "n_ref": m, "ref_jets": cfg.ref_jets, "n_jets": cfg.n_jets, "k": cfg.k, "seed": cfg.seed,
                  **rows, "seconds": measured["seconds"]},
    )


def lot_summary(cfg: LOTConfig, doc: JsonObject) -> str:
    """One line on a built model, from what :func:`build_linear_ot` measured."""
    measured: Mapping[str, Any] = doc  # this module writes the document: it reads its keys
    pairs = measured["pairs"]
    return (f"linearized-OT embedding, distance to the nearest of {cfg.k} medoids "
            f"({measured['seconds']:.0f} s); against exact W_2 on {pairs['pairs']} held-out pairs: "
            f"correlation {pairs['pearson']:.3f}, "
            f"{100 * pairs['rel_error_mean']:.1f} % mean relative error")


def build_linear_ot(cfg: LOTConfig, output: str | os.PathLike[str], progress: bool = False) -> JsonDict:
    """Cluster the reference, choose the medoids, write the ONNX model (atomically) and
    return what was measured."""
    t0 = time.perf_counter()
    x, w = cfg.clouds()
    need = cfg.ref_jets + cfg.n_jets + cfg.check_jets
    if len(x) < need:
        raise ParameterError("n_jets", f"{cfg.ref_jets} reference + {cfg.n_jets} + {cfg.check_jets} check "
                                       f"jets wanted, the files hold {len(x)}")
    pick = np.random.default_rng(cfg.seed).permutation(len(x))[:need]
    ref_rows, med_rows, check_rows = np.split(pick, [cfg.ref_jets, cfg.ref_jets + cfg.n_jets])
    ref_x, ref_w = reference_jet(x[ref_rows], w[ref_rows], cfg.n_ref, cfg.seed)
    if progress:
        print(f"  reference of {len(ref_w)} points; embedding {cfg.n_jets} QCD jets", flush=True)
    emb = _embed(_Graph(ref_x, ref_w), x[med_rows], w[med_rows])
    dist = _pairwise(emb)
    medoids = choose_medoids(dist, cfg.k, cfg.seed)
    graph = _Graph(ref_x, ref_w, emb[medoids]).eval()
    train_scores = dist[:, medoids].min(axis=1)
    if progress:
        print(f"  exact W_2 of {cfg.check_jets} held-out QCD jets (pairs, medoids)", flush=True)
    checked = _check(graph, x[check_rows], w[check_rows], x[med_rows][medoids], w[med_rows][medoids])
    measured = {"train_score_quantiles": {q: float(np.quantile(train_scores, float(q)))
                                          for q in ("0.5", "0.99", "0.999")},
                **checked, "seconds": time.perf_counter() - t0}
    rows = {"medoid_rows": [int(i) for i in med_rows[medoids]]}
    card = _card(cfg, Path(output).stem, measured, rows, float(np.max(train_scores)) * 1.5, len(ref_w))
    example = tuple(torch.tensor(a[check_rows][:3], dtype=torch.float32) for a in (x, w))
    write_graph(graph, example, card, output)
    return measured
