"""``jetclr-coffea ot-medoids``: an anomaly score with no training, the OT distance to QCD.

The OT anomaly-detection talk (Fraser, Homiller, Mishra, Ostdiek, Schwartz,
arXiv:2110.06948): the optimal-transport distance W_p of a jet to its nearest of K
medoid QCD jets is an anomaly score.  Here: the exact W_p matrix (POT) of N QCD training
jets, K medoids by FasterPAM (``kmedoids``) on it, and an ONNX graph holding the medoids as
constants that computes, for every jet, a fixed-iteration log-domain Sinkhorn W_p to each
medoid (``medoid_distances``, (jets, K)) and the smallest (``anomaly_score``, (jets,)):
the processor runs it like the encoders, on a GPU through ONNX Runtime where there is one.
Its error against the exact score is measured on held-out jets and written in the card.
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
from jetclr_coffea.ot import (
    NearestConfig,
    SinkhornConfig,
    emd_matrix,
    ground_cost,
    sinkhorn,
    sinkhorn_nearest,
    sinkhorn_scaling,
)
from jetclr_coffea.preprocessing import PreprocessSpec, pt_fraction

from .data import load_jets
from .export import write_graph

__all__ = ["GRAPH_SINKHORN", "LOG_GRAPH_SINKHORN", "OTMedoidConfig", "QCDJets", "build_ot_medoids",
           "choose_medoids", "graph_accuracy", "jet_clouds", "ot_summary", "relative_error"]

F64 = npt.NDArray[np.float64]

#: The Sinkhorn inside the graph (scaling domain, :func:`sinkhorn_nearest`): eps from 0.3 to
#: 0.002 in 8 stages; the first 3 (3 update pairs each) for all medoids, the other 5 (20 each)
#: for the 2 nearest after them.  Chosen on a sample of its own (seed 999) against the exact
#: score: 1.5 % mean error, 5 % at the 95th percentile, 2x the jets/s of the whole schedule
#: for every medoid (docs/performance.md); the error on the build's check jets is in the card.
GRAPH_SINKHORN = NearestConfig(SinkhornConfig(eps_start=0.3, eps_end=0.002, stages=8, iterations=20),
                               coarse_stages=3, coarse_iterations=3, keep=2)
#: The graph's log-domain Sinkhorn until issue 23 (every medoid, 10 stages of 10 updates,
#: eps from 1 to 0.005): the baseline of the benchmarks.
LOG_GRAPH_SINKHORN = SinkhornConfig(eps_start=1.0, eps_end=0.005, stages=10, iterations=10)


@dataclass(frozen=True)
class QCDJets:
    """The QCD jets an OT model (medoids, linearized OT) is built from.

    Attributes:
        files: QCD files (labels are never read).
        pt_min, pt_max, eta_max: the fat-jet selection.
        n_max: hardest constituents kept per jet.
        seed: picks the jets and seeds the clustering.
    """

    files: tuple[str, ...]
    pt_min: float = 550.0
    pt_max: float = 650.0
    eta_max: float = 2.0
    n_max: int = 40
    seed: int = 1

    @property
    def spec(self) -> PreprocessSpec:
        return PreprocessSpec(features=("deta", "dphi"), n_max=self.n_max, centre=True, rotate=True)

    def data_section(self) -> JsonDict:
        """The card's ``training.data``."""
        return {"files": list(self.files), "pt_min": self.pt_min, "pt_max": self.pt_max,
                "eta_max": self.eta_max, "max_jets": 0}

    def clouds(self) -> tuple[F64, F64]:
        """The selected jets' (jets, n_max, 2) positions and (jets, n_max) pT fractions."""
        sample = load_jets(self.files, self.spec, pt_min=self.pt_min, pt_max=self.pt_max,
                           eta_max=self.eta_max)
        return jet_clouds(sample.arrays)


@dataclass(frozen=True)
class OTMedoidConfig(QCDJets):
    """What an OT-medoid model is built from (besides :class:`QCDJets`).

    Attributes:
        n_jets: QCD jets whose exact W_p matrix the medoids are chosen on (FasterPAM).
        k: number of medoids.
        p: the power of the ground distance (1 or 0.5).
        check_jets: held-out QCD jets (after the first ``n_jets``) on which the graph's
            Sinkhorn score is compared with the exact one.
    """

    n_jets: int = 1000
    k: int = 8
    p: float = 1.0
    check_jets: int = 200

    def __post_init__(self) -> None:
        if self.k < 1 or self.n_jets < self.k:
            raise ParameterError("k", f"must be between 1 and n_jets ({self.n_jets}), got {self.k}")
        if self.p not in (1.0, 0.5):
            raise ParameterError("p", f"must be 1 or 0.5, got {self.p}")


def jet_clouds(arrays: Any) -> tuple[F64, F64]:
    """(jets, n_max, 2) positions and (jets, n_max) pT fractions of padded kinematics."""
    return (np.stack([arrays.deta, arrays.dphi], -1).astype(np.float64),
            np.asarray(pt_fraction(arrays.pt, arrays.mask), dtype=np.float64))


class _Graph(torch.nn.Module):
    """constituents (N, C, 2), mask = pT fractions (N, C) -> (anomaly_score (N,), distances (N, K)).

    The Sinkhorn: :func:`sinkhorn_nearest` for a :class:`NearestConfig`; for a
    :class:`SinkhornConfig`, every medoid the whole schedule in the log domain
    (:func:`sinkhorn`, ``domain="log"``) or the scaling domain (``"scaling"``).
    """

    def __init__(self, mx: F64, mw: F64, p: float, cfg: SinkhornConfig | NearestConfig,
                 domain: str = "log") -> None:
        super().__init__()
        real = mw > 0  # the medoids' slots cut to the longest medoid: no work on common padding
        m = int(real.shape[1] - np.argmax(real[:, ::-1].any(axis=0))) if real.any() else 1
        self.register_buffer("mx", torch.tensor(mx[:, :m], dtype=torch.float32))  # (K, M, 2)
        self.register_buffer("mw", torch.tensor(mw[:, :m], dtype=torch.float32))  # (K, M)
        self.p, self.cfg, self.domain = p, cfg, domain

    def forward(self, constituents: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        w = mask / torch.clamp(mask.sum(1, keepdim=True), min=1e-12)  # (N, C), sums to one
        mx: torch.Tensor = self.mx  # type: ignore[assignment]
        mw: torch.Tensor = self.mw  # type: ignore[assignment]
        cfg = self.cfg
        if isinstance(cfg, NearestConfig):
            d = sinkhorn_nearest(ground_cost(constituents[:, None], mx[None], self.p), w, mw, cfg)[0]
        elif self.domain == "scaling":
            cost = ground_cost(constituents[:, None], mx[None], self.p)  # (N, K, C, M)
            d = sinkhorn_scaling(cost, w[:, None], mw[None], cfg)  # (N, K)
        else:
            d = sinkhorn(constituents[:, None], w[:, None], mx[None], mw[None], self.p,
                         cfg=cfg, grad=False)  # (N, K)
        return d.min(dim=1).values, d


def choose_medoids(dist: F64, k: int, seed: int) -> npt.NDArray[np.int64]:
    """Indices of ``k`` medoids of a distance matrix (FasterPAM, seeded)."""
    try:
        import kmedoids
    except ImportError as err:
        raise MissingExtraError("kmedoids", "ot") from err
    result = kmedoids.fasterpam(dist, k, random_state=seed, n_cpu=1)
    return np.asarray(result.medoids, dtype=np.int64)


def _sinkhorn_info(cfg: NearestConfig) -> dict[str, Any]:
    sched = cfg.schedule
    return {"domain": "scaling", "eps_start": sched.eps_start, "eps_end": sched.eps_end,
            "stages": sched.stages, "iterations": sched.iterations, "coarse_stages": cfg.coarse_stages,
            "coarse_iterations": cfg.coarse_iterations, "refined_medoids": cfg.keep}


def _card(cfg: OTMedoidConfig, name: str, measured: dict[str, Any], medoid_rows: list[int],
          hi: float) -> ModelCard:
    return ModelCard(
        preprocessing=cfg.spec,
        outputs=(OutputSpec("anomaly_score"), OutputSpec("medoid_distances", (cfg.k,))),
        mask="pt_fraction", model_kind="ot_medoids", code_version=__version__,
        score_ranges={"anomaly_score": (0.0, hi)},
        scores_info={"anomaly_score": {
            "definition": f"W_{cfg.p:g} (ground distance (Delta R / 0.8)^{cfg.p:g}, pT fractions) to the "
                          f"nearest of {cfg.k} QCD medoid jets, Sinkhorn in the graph",
            "sinkhorn": _sinkhorn_info(GRAPH_SINKHORN),
            **measured}},
        training={"name": name, "objective": "ot_medoids",
                  "data": cfg.data_section(),
                  "n_jets": cfg.n_jets, "k": cfg.k, "p": cfg.p, "seed": cfg.seed,
                  "medoid_rows": medoid_rows, "seconds": measured["seconds"]},
    )


def ot_summary(cfg: OTMedoidConfig, doc: JsonObject) -> str:
    """One line on a built model, from what :func:`build_ot_medoids` measured."""
    measured: Mapping[str, Any] = doc  # this module writes the document: it reads its keys
    err = measured["graph_vs_exact_relative_error"]
    return (f"W_{cfg.p:g} to the nearest of {cfg.k} QCD medoids of {cfg.n_jets} jets "
            f"({measured['seconds']:.0f} s); graph vs exact score: {100 * err['mean']:.2f} % mean, "
            f"{100 * err['q95']:.2f} % at the 95th percentile")


def relative_error(approx: F64, exact: F64) -> F64:
    """|approx / exact - 1| (exact 0 counts as 1)."""
    return np.asarray(np.abs(approx / np.where(exact > 0, exact, 1.0) - 1), dtype=np.float64)


def _summary(rel: F64) -> dict[str, float]:
    return {"mean": float(rel.mean()), "q95": float(np.quantile(rel, 0.95)), "max": float(rel.max()),
            "jets": len(rel)}


def graph_accuracy(graph: _Graph, x: F64, w: F64, exact: F64) -> JsonDict:
    """The graph's outputs against the exact W_p (jets, K) to each medoid: the relative error
    of the score; with :func:`sinkhorn_nearest`, also of the refined and of the other (coarse)
    medoid distances, and how often the nearest medoid was not among the refined ones."""
    xt, wt = torch.tensor(x, dtype=torch.float32), torch.tensor(w, dtype=torch.float32)
    cfg = graph.cfg
    with torch.no_grad():
        if not isinstance(cfg, NearestConfig):
            score = graph(xt, wt)[0].numpy().astype(np.float64)
            return {"graph_vs_exact_relative_error": _summary(relative_error(score, exact.min(axis=1)))}
        # the graph's own computation (forward), keeping which medoids were refined
        cost = ground_cost(xt[:, None], graph.mx[None], graph.p)  # type: ignore[index]
        dist_t, idx = sinkhorn_nearest(cost, wt / torch.clamp(wt.sum(1, keepdim=True), min=1e-12),
                                       graph.mw, cfg)
    dist = dist_t.numpy().astype(np.float64)  # (jets, K)
    out: dict[str, Any] = {"graph_vs_exact_relative_error": _summary(relative_error(dist.min(axis=1),
                                                                               exact.min(axis=1)))}
    if cfg.keep >= exact.shape[1]:
        return out
    rel = relative_error(dist, exact)  # (jets, K)
    refined = np.zeros(rel.shape, dtype=bool)
    np.put_along_axis(refined, idx.numpy(), True, axis=1)
    out["medoid_distances_relative_error"] = {"refined": _summary(rel[refined]),
                                              "coarse": _summary(rel[~refined])}
    out["nearest_medoid_missed"] = float(np.mean(~refined[np.arange(len(rel)), exact.argmin(axis=1)]))
    return out


def build_ot_medoids(cfg: OTMedoidConfig, output: str | os.PathLike[str],
                     progress: bool = False) -> JsonDict:
    """Choose the medoids, write the ONNX model (atomically) and return what was measured."""
    t0 = time.perf_counter()
    x, w = cfg.clouds()
    need = cfg.n_jets + cfg.check_jets
    if len(x) < need:
        raise ParameterError("n_jets", f"{cfg.n_jets} + {cfg.check_jets} check jets wanted, "
                                       f"the files hold {len(x)}")
    pick = np.random.default_rng(cfg.seed).permutation(len(x))[:need]
    xt, wt = x[pick[:cfg.n_jets]], w[pick[:cfg.n_jets]]
    if progress:
        print(f"  exact W_{cfg.p:g} matrix of {cfg.n_jets} QCD jets", flush=True)
    dist = emd_matrix(xt, wt, cfg.p)
    medoids = choose_medoids(dist, cfg.k, cfg.seed)
    train_scores = dist[:, medoids].min(axis=1)
    # the graph's score against the exact one on held-out QCD jets
    xc, wc = x[pick[cfg.n_jets:]], w[pick[cfg.n_jets:]]
    exact = emd_matrix(xc, wc, cfg.p, others=(xt[medoids], wt[medoids]))  # (check jets, K)
    graph = _Graph(xt[medoids], wt[medoids], cfg.p, GRAPH_SINKHORN).eval()
    measured = {
        "train_score_quantiles": {q: float(np.quantile(train_scores, float(q)))
                                  for q in ("0.5", "0.99", "0.999")},
        **graph_accuracy(graph, xc, wc, exact),
        "seconds": time.perf_counter() - t0,
    }
    card = _card(cfg, Path(output).stem, measured, [int(i) for i in pick[medoids]],
                 float(np.max(train_scores)) * 1.5)
    write_graph(graph, (torch.tensor(xc[:3], dtype=torch.float32), torch.tensor(wc[:3], dtype=torch.float32)),
                card, output)
    return measured
