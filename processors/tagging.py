"""``LearnedJetTagProcessor``: ONNX jet encoders on NanoAOD fat jets, with DDT histograms.

For every chunk: select fat jets, read their PF-candidate constituents (PFNano or NanoAOD
v15), run each ONNX model (ONNX Runtime, one cached session per worker process), attach
the embedding and every scalar output to the selected jets, and fill per-dataset hist
histograms for a DDT analysis.  The processor keeps no state between chunks: each
``process`` call builds a fresh output dictionary.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import awkward as ak
import hist
import numpy as np
import numpy.typing as npt
from coffea import processor

from jetclr_coffea.errors import JetCLRError
from jetclr_coffea.inference import OnnxJetModel
from jetclr_coffea.reader import JetConstituents, detect_convention, read_constituents

from .ddt import DDTMap

__all__ = ["FatJetSelection", "LearnedJetTagProcessor", "jet_rho"]

F64 = npt.NDArray[np.float64]

#: Binning of the standard histograms.
MSD_AXIS = (40, 0.0, 400.0)
PT_EDGES = (200.0, 300.0, 400.0, 500.0, 550.0, 600.0, 650.0, 700.0, 800.0, 1000.0, 1500.0)
RHO_AXIS = (28, -8.0, -1.0)
SCORE_BINS = 100
#: Score bins of the (rho, pT, score) histogram that DDT maps are built from, and the
#: logit range they span: a tagger's QCD scores pile up at one end of the range (half of
#: them below 1e-3 for the shipped tagger) and a quantile is read off this histogram, so
#: its edges are uniform in logit((score - lo) / (hi - lo)): 5 % of the distance to the
#: end near either end (down to 5e-5 of the range), 1.25 % of the range in the middle.
DDT_SCORE_BINS = 400
DDT_LOGIT_RANGE = 10.0


@dataclass(frozen=True)
class FatJetSelection:
    """Fat-jet selection applied before inference."""

    pt_min: float = 200.0
    pt_max: float = float("inf")
    eta_max: float = 2.4
    msd_min: float = 0.0
    require_jet_id: bool = True

    def mask(self, fatjets: Any) -> Any:
        sel = (fatjets.pt > self.pt_min) & (fatjets.pt < self.pt_max) & (np.abs(fatjets.eta) < self.eta_max)
        if self.msd_min > 0:
            sel = sel & (fatjets.msoftdrop > self.msd_min)
        if self.require_jet_id and "jetId" in fatjets.fields:
            sel = sel & ((fatjets.jetId & 2) != 0)
        return sel


def jet_rho(msd: F64, pt: F64) -> F64:
    """rho = ln(msd^2 / pT^2); NaN where msd <= 0."""
    ok = (msd > 0) & (pt > 0)
    return np.where(ok, 2.0 * np.log(np.where(ok, msd, 1.0) / np.where(ok, pt, 1.0)), np.nan)


def _score_axis(name: str, lo: float, hi: float) -> hist.axis.Regular:
    return hist.axis.Regular(SCORE_BINS, lo, hi, name="score", label=name)


def ddt_score_edges(lo: float, hi: float) -> F64:
    """Edges of the DDT histogram's score axis: uniform in logit, ``lo`` and ``hi`` included."""
    t = np.linspace(-DDT_LOGIT_RANGE, DDT_LOGIT_RANGE, DDT_SCORE_BINS + 1)
    edges = lo + (hi - lo) / (1.0 + np.exp(-t))
    edges[0], edges[-1] = lo, hi
    return edges


def _new_hists(scores: dict[str, tuple[float, float]], ddt: str | None) -> dict[str, Any]:
    pt_axis = hist.axis.Variable(PT_EDGES, name="pt", label="fat-jet $p_T$ [GeV]")
    msd_axis = hist.axis.Regular(*MSD_AXIS, name="msd", label="$m_{SD}$ [GeV]")
    rho_axis = hist.axis.Regular(*RHO_AXIS, name="rho", label=r"$\rho = \ln(m_{SD}^2/p_T^2)$")
    out: dict[str, Any] = {
        "fatjet_msd_pt": hist.Hist(msd_axis, pt_axis, storage=hist.storage.Weight()),
    }
    for name, (lo, hi) in scores.items():
        out[f"{name}__score_msd_pt"] = hist.Hist(
            _score_axis(name, lo, hi), msd_axis, pt_axis, storage=hist.storage.Weight())
        out[f"{name}__rho_pt_score"] = hist.Hist(
            rho_axis, pt_axis, hist.axis.Variable(ddt_score_edges(lo, hi), name="score", label=name),
            storage=hist.storage.Weight())
    if ddt is not None:
        passed = hist.axis.Integer(0, 2, name="pass", label="passes DDT", underflow=False, overflow=False)
        out[f"{ddt}__ddt_msd_pt"] = hist.Hist(passed, msd_axis, pt_axis, storage=hist.storage.Weight())
    return out


class LearnedJetTagProcessor(processor.ProcessorABC):  # type: ignore[misc]
    """Run exported jet encoders on fat jets and fill DDT-analysis histograms.

    Args:
        models: ONNX files exported by ``jetclr-coffea export`` (names: their file stems).
        selection: fat-jet selection.
        ddt_map: a DDT map from ``jetclr-coffea ddt-map``; its score must be one of the
            models' scalar outputs, named ``<model>_<output>``.
        batch_size: jets per ONNX Runtime call (bounds memory whatever the chunk size);
            default: by provider, see ``jetclr_coffea.inference.DEFAULT_BATCH``.
        missing_constituents: "error" (default): a file without PF candidates is an error
            naming the branches; "skip": its jets are skipped and counted in the cutflow.
        keep_jets: also return the selected jets with their scores (for skims).
        threads: ONNX Runtime intra-op threads per worker; default: ``OMP_NUM_THREADS``
            if set, else 1 in worker processes (futures, dask) and every core in the main
            process (iterative), see ``jetclr_coffea.inference.default_threads``; 0:
            ONNX Runtime's default (every core, in each worker).
    """

    def __init__(
        self,
        models: Sequence[str | os.PathLike[str]],
        selection: FatJetSelection = FatJetSelection(),
        ddt_map: str | os.PathLike[str] | None = None,
        *,
        batch_size: int | None = None,
        missing_constituents: str = "error",
        keep_jets: bool = False,
        threads: int | None = None,
    ) -> None:
        if not models:
            raise JetCLRError("give at least one ONNX model")
        if missing_constituents not in ("error", "skip"):
            raise JetCLRError(f"missing_constituents must be error or skip, got {missing_constituents!r}")
        self.models = {Path(m).stem: OnnxJetModel(m, batch_size=batch_size, threads=threads) for m in models}
        self.selection = selection
        self.missing_constituents = missing_constituents
        self.keep_jets = keep_jets
        self.scores: dict[str, tuple[float, float]] = {}
        for name, model in self.models.items():
            outputs = model.metadata.get("outputs", {})
            if "embedding" not in outputs:
                raise JetCLRError(f"{model.path}: metadata declares no 'embedding' output")
            ranges = model.metadata.get("score_ranges", {})
            for out, dim in outputs.items():
                if dim == 1:
                    lo, hi = ranges.get(out, (0.0, 1.0))
                    self.scores[f"{name}_{out}"] = (float(lo), float(hi))
        self.ddt = DDTMap(ddt_map) if ddt_map is not None else None
        if self.ddt is not None and self.ddt.score not in self.scores:
            raise JetCLRError(
                f"DDT map is for score {self.ddt.score!r} but the models give {sorted(self.scores)}"
            )

    def process(self, events: Any) -> dict[str, Any]:
        dataset = events.metadata.get("dataset", "unknown")
        n_events = len(events)
        weights_ev = (np.asarray(ak.to_numpy(events.genWeight), dtype=np.float64)
                      if "genWeight" in events.fields else np.ones(n_events))
        hists = _new_hists(self.scores, self.ddt.score if self.ddt else None)
        cutflow: dict[str, float] = {
            "events": float(n_events), "events_weighted": float(weights_ev.sum()),
            "fatjets": 0.0, "selected": 0.0, "no_constituents": 0.0, "scored": 0.0,
            "skipped_no_pf_candidates": 0.0,
        }
        # "jets" is a list of per-chunk column dicts (lists concatenate when accumulated)
        result: dict[str, Any] = {"cutflow": cutflow, "hists": hists, "providers": set(), "jets": []}
        if n_events == 0 or "FatJet" not in events.fields:
            return {dataset: result}
        fatjets = events.FatJet
        cutflow["fatjets"] = float(ak.sum(ak.num(fatjets, axis=1)))
        sel = self.selection.mask(fatjets)
        n_sel_ev = np.asarray(ak.to_numpy(ak.sum(sel, axis=1)), dtype=np.int64)
        cutflow["selected"] = float(n_sel_ev.sum())
        jets = fatjets[sel]
        jet_w = np.repeat(weights_ev, n_sel_ev)
        pt = np.asarray(ak.to_numpy(ak.flatten(jets.pt)), dtype=np.float64)
        msd = np.asarray(ak.to_numpy(ak.flatten(jets.msoftdrop)), dtype=np.float64)
        rho = jet_rho(msd, pt)
        hists["fatjet_msd_pt"].fill(msd=msd, pt=pt, weight=jet_w)

        try:
            detect_convention(events)
        except JetCLRError:
            if self.missing_constituents == "error":
                raise
            cutflow["skipped_no_pf_candidates"] = cutflow["selected"]
            return {dataset: result}
        jc, scores, extra = self._evaluate(events, sel, result["providers"])
        cutflow["no_constituents"] = float((~jc.has_constituents).sum())
        valid = jc.has_constituents
        cutflow["scored"] = float(valid.sum())
        for key in self.scores:
            score = scores[key]
            ok = valid & np.isfinite(score)
            hists[f"{key}__score_msd_pt"].fill(score=score[ok], msd=msd[ok], pt=pt[ok], weight=jet_w[ok])
            ok_rho = ok & np.isfinite(rho)
            hists[f"{key}__rho_pt_score"].fill(rho=rho[ok_rho], pt=pt[ok_rho], score=score[ok_rho],
                                               weight=jet_w[ok_rho])
        if self.ddt is not None:
            ddt = scores[f"{self.ddt.score}_ddt"]
            ok = np.isfinite(ddt)
            # axes: pass (a Python keyword, hence positional), msd, pt
            hists[f"{self.ddt.score}__ddt_msd_pt"].fill((ddt[ok] > 0).astype(int), msd[ok], pt[ok],
                                                       weight=jet_w[ok])
        if self.keep_jets:
            per_jet = {**scores, **extra}
            fields = {
                "run": np.repeat(ak.to_numpy(events.run), n_sel_ev),
                "luminosityBlock": np.repeat(ak.to_numpy(events.luminosityBlock), n_sel_ev),
                "event": np.repeat(ak.to_numpy(events.event), n_sel_ev),
                "jetIdx": ak.to_numpy(ak.flatten(ak.local_index(fatjets, axis=1)[sel])),
                "pt": pt, "msoftdrop": msd, "rho": rho, **per_jet,
            }
            result["jets"] = [{k: np.asarray(v) for k, v in fields.items()}]
        return {dataset: result}

    def _evaluate(self, events: Any, sel: Any,
                  providers: set[str]) -> tuple[JetConstituents, dict[str, F64], dict[str, Any]]:
        """Every model on the selected jets: scalar outputs (and ``<score>_ddt``), the rest.

        Rows follow the selected jets in event order; NaN where a jet has no constituents.
        """
        jc = read_constituents(events, sel)
        scores: dict[str, F64] = {}
        extra: dict[str, Any] = {}
        for name, model in self.models.items():
            outputs = model(jc.constituents)
            providers.add(model.session.get_providers()[0])
            for out, values in outputs.items():
                if values.ndim == 1:
                    scores[f"{name}_{out}"] = np.asarray(values, dtype=np.float64)
                else:
                    extra[f"{name}_{out}"] = values
        if self.ddt is not None:
            score = scores[self.ddt.score]
            pt = np.asarray(ak.to_numpy(jc.jets.pt), dtype=np.float64)
            rho = jet_rho(np.asarray(ak.to_numpy(jc.jets.msoftdrop), dtype=np.float64), pt)
            ok = jc.has_constituents & np.isfinite(score) & np.isfinite(rho)
            ddt = np.full(len(score), np.nan)
            ddt[ok] = score[ok] - self.ddt.threshold(rho[ok], pt[ok])
            scores[f"{self.ddt.score}_ddt"] = ddt
        return jc, scores, extra

    def tag_fatjets(self, events: Any) -> Any:
        """``events.FatJet`` with every model output attached, for analysts' own processors.

        Fields ``<model>_<output>`` (``jetclr_top_tagger_score``, ``jetclr_top_embedding``
        as a fixed-size list, ...) and, with a DDT map, ``<score>_ddt``; NaN for jets that
        fail the selection or have no stored constituents.  The same numbers as ``process``.

        Raises:
            JetCLRError: the events have no PF-candidate branches.
        """
        fatjets = events.FatJet
        sel = self.selection.mask(fatjets)
        flat_sel = np.asarray(ak.to_numpy(ak.flatten(sel)), dtype=bool)
        counts = ak.num(fatjets, axis=1)
        _, scores, extra = self._evaluate(events, sel, set())
        for key, values in {**scores, **extra}.items():
            full = np.full((len(flat_sel), *values.shape[1:]), np.nan, dtype=values.dtype)
            full[flat_sel] = values
            fatjets = ak.with_field(fatjets, ak.unflatten(full, counts), key)
        return fatjets

    def postprocess(self, accumulator: Any) -> Any:
        return accumulator

    def describe(self) -> dict[str, Any]:
        """What this processor runs (for the output's provenance)."""
        return {
            "models": {k: m.path for k, m in self.models.items()},
            "selection": asdict(self.selection),
            "ddt_map": self.ddt.path if self.ddt else None,
            "scores": sorted(self.scores),
        }
