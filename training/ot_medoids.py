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
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from jetclr_coffea import __version__
from jetclr_coffea._io import atomic_path
from jetclr_coffea.errors import MissingExtraError, ParameterError
from jetclr_coffea.model_card import ModelCard, OutputSpec
from jetclr_coffea.onnx_io import load_onnx, write_card
from jetclr_coffea.ot import SinkhornConfig, emd_matrix, ground_cost, sinkhorn, sinkhorn_scaling
from jetclr_coffea.preprocessing import PreprocessSpec, pt_fraction

from .data import load_jets

__all__ = ["GRAPH_SINKHORN", "OTMedoidConfig", "build_ot_medoids", "choose_medoids", "jet_clouds"]

F64 = npt.NDArray[np.float64]

#: The Sinkhorn inside the graph: 10 stages of 10 updates, eps from 1 to 0.005 (the
#: error of the exact score this gives is measured and recorded in the card).
GRAPH_SINKHORN = SinkhornConfig(eps_start=1.0, eps_end=0.005, stages=10, iterations=10)


@dataclass(frozen=True)
class OTMedoidConfig:
    """What an OT-medoid model is built from.

    Attributes:
        files: QCD files (labels are never read).
        pt_min, pt_max, eta_max: the fat-jet selection.
        n_jets: QCD jets whose exact W_p matrix the medoids are chosen on.
        k: number of medoids.
        p: the power of the ground distance (1 or 0.5).
        n_max: hardest constituents kept per jet.
        seed: picks the jets and seeds FasterPAM.
        check_jets: held-out QCD jets (after the first ``n_jets``) on which the graph's
            Sinkhorn score is compared with the exact one.
    """

    files: tuple[str, ...]
    pt_min: float = 550.0
    pt_max: float = 650.0
    eta_max: float = 2.0
    n_jets: int = 1000
    k: int = 8
    p: float = 1.0
    n_max: int = 40
    seed: int = 1
    check_jets: int = 200

    def __post_init__(self) -> None:
        if self.k < 1 or self.n_jets < self.k:
            raise ParameterError("k", f"must be between 1 and n_jets ({self.n_jets}), got {self.k}")
        if self.p not in (1.0, 0.5):
            raise ParameterError("p", f"must be 1 or 0.5, got {self.p}")

    @property
    def spec(self) -> PreprocessSpec:
        return PreprocessSpec(features=("deta", "dphi"), n_max=self.n_max, centre=True, rotate=True)


def jet_clouds(arrays: Any) -> tuple[F64, F64]:
    """(jets, n_max, 2) positions and (jets, n_max) pT fractions of padded kinematics."""
    return (np.stack([arrays.deta, arrays.dphi], -1).astype(np.float64),
            np.asarray(pt_fraction(arrays.pt, arrays.mask), dtype=np.float64))


class _Graph(torch.nn.Module):
    """constituents (N, C, 2), mask = pT fractions (N, C) -> (anomaly_score (N,), distances (N, K))."""

    def __init__(self, mx: F64, mw: F64, p: float, cfg: SinkhornConfig, domain: str = "log") -> None:
        super().__init__()
        self.register_buffer("mx", torch.tensor(mx, dtype=torch.float32))  # (K, M, 2)
        self.register_buffer("mw", torch.tensor(mw, dtype=torch.float32))  # (K, M)
        self.p, self.cfg, self.domain = p, cfg, domain  # domain: "log" (sinkhorn) or "scaling"

    def forward(self, constituents: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        w = mask / torch.clamp(mask.sum(1, keepdim=True), min=1e-12)  # (N, C), sums to one
        mx: torch.Tensor = self.mx  # type: ignore[assignment]
        mw: torch.Tensor = self.mw  # type: ignore[assignment]
        if self.domain == "scaling":
            cost = ground_cost(constituents[:, None], mx[None], self.p)  # (N, K, C, M)
            d = sinkhorn_scaling(cost, w[:, None], mw[None], self.cfg)  # (N, K)
        else:
            d = sinkhorn(constituents[:, None], w[:, None], mx[None], mw[None], self.p,
                         cfg=self.cfg, grad=False)  # (N, K)
        return d.min(dim=1).values, d


def choose_medoids(dist: F64, k: int, seed: int) -> npt.NDArray[np.int64]:
    """Indices of ``k`` medoids of a distance matrix (FasterPAM, seeded)."""
    try:
        import kmedoids
    except ImportError as err:
        raise MissingExtraError("kmedoids", "ot") from err
    result = kmedoids.fasterpam(dist, k, random_state=seed, n_cpu=1)
    return np.asarray(result.medoids, dtype=np.int64)


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
            "sinkhorn": {"eps_start": GRAPH_SINKHORN.eps_start, "eps_end": GRAPH_SINKHORN.eps_end,
                         "stages": GRAPH_SINKHORN.stages, "iterations": GRAPH_SINKHORN.iterations},
            **measured}},
        training={"name": name, "objective": "ot_medoids",
                  "data": {"files": list(cfg.files), "pt_min": cfg.pt_min, "pt_max": cfg.pt_max,
                           "eta_max": cfg.eta_max, "max_jets": 0},
                  "n_jets": cfg.n_jets, "k": cfg.k, "p": cfg.p, "seed": cfg.seed,
                  "medoid_rows": medoid_rows, "seconds": measured["seconds"]},
    )


def _write_onnx(graph: torch.nn.Module, example: tuple[Any, Any], card: ModelCard,
                output: str | os.PathLike[str]) -> None:
    import onnx

    with atomic_path(output) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x0 = torch.tensor(example[0], dtype=torch.float32)
        torch.onnx.export(graph, (x0, torch.tensor(example[1], dtype=torch.float32)), str(tmp),
                          input_names=["constituents", "mask"],
                          output_names=["anomaly_score", "medoid_distances"],
                          dynamic_axes={"constituents": {0: "jets", 1: "constituents"},
                                        "mask": {0: "jets", 1: "constituents"},
                                        "anomaly_score": {0: "jets"}, "medoid_distances": {0: "jets"}},
                          opset_version=17, dynamo=False)
        model = load_onnx(tmp)
        write_card(model, card)
        onnx.save(model, str(tmp))


def build_ot_medoids(cfg: OTMedoidConfig, output: str | os.PathLike[str],
                     progress: bool = False) -> dict[str, Any]:
    """Choose the medoids, write the ONNX model (atomically) and return what was measured."""
    t0 = time.perf_counter()
    sample = load_jets(cfg.files, cfg.spec, pt_min=cfg.pt_min, pt_max=cfg.pt_max, eta_max=cfg.eta_max)
    x, w = jet_clouds(sample.arrays)
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
    exact = emd_matrix(xc, wc, cfg.p, others=(xt[medoids], wt[medoids])).min(axis=1)
    graph = _Graph(xt[medoids], wt[medoids], cfg.p, GRAPH_SINKHORN).eval()
    with torch.no_grad():
        approx = graph(torch.tensor(xc, dtype=torch.float32),
                       torch.tensor(wc, dtype=torch.float32))[0].numpy()
    rel = np.abs(approx / np.where(exact > 0, exact, 1.0) - 1)
    measured = {
        "train_score_quantiles": {q: float(np.quantile(train_scores, float(q)))
                                  for q in ("0.5", "0.99", "0.999")},
        "graph_vs_exact_relative_error": {"mean": float(rel.mean()), "q95": float(np.quantile(rel, 0.95)),
                                          "max": float(rel.max()), "jets": len(rel)},
        "seconds": time.perf_counter() - t0,
    }
    card = _card(cfg, Path(output).stem, measured, [int(i) for i in pick[medoids]],
                 float(np.max(train_scores)) * 1.5)
    _write_onnx(graph, (xc[:3], wc[:3]), card, output)
    return measured
