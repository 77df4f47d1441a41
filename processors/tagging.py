"""``LearnedJetTagProcessor``: ONNX jet encoders on NanoAOD fat jets, with DDT histograms.

For every chunk: select fat jets, read their PF-candidate constituents (PFNano or NanoAOD
v15), run each ONNX model (ONNX Runtime, one cached session per worker process), attach
the embedding and every scalar output to the selected jets, and fill per-dataset hist
histograms for a DDT analysis.  The processor keeps no state between chunks: each
``process`` call builds a fresh output dictionary.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

import awkward as ak
import numpy as np
import numpy.typing as npt
from coffea import processor

from jetclr_coffea._io import JsonDict
from jetclr_coffea.errors import JetCLRError, ParameterError
from jetclr_coffea.inference import OnnxJetModel
from jetclr_coffea.preprocessing import bad_jets
from jetclr_coffea.reader import JetConstituents, detect_convention, read_constituents

from .ddt import DDTMap
from .friend import EVENT_BRANCHES, friend_chunk
from .hists import hist_name, jet_rho, new_hists
from .result import ChunkOutput, Columns
from .selection import FatJetSelection, parse_model_selection

__all__ = ["CUTFLOW_KEYS", "FatJetSelection", "LearnedJetTagProcessor", "jet_rho", "parse_model_selection"]

#: The cutflow of every dataset, in order: events (and their summed generator weights);
#: fat jets; selected ones; of those, jets without stored constituents, jets holding a
#: constituent of unphysical kinematics (set aside, no score), jets in files without PF
#: candidates (``missing_constituents="skip"``); the scored ones, and of those the ones
#: with msoftdrop <= 0 (rho = -inf: a DDT map's lowest rho bin), and the scored jets whose
#: DDT score is undefined (a NaN score or threshold), summed over the maps.
CUTFLOW_KEYS = ("events", "events_weighted", "fatjets", "selected", "no_constituents", "bad_constituents",
                "skipped_no_pf_candidates", "scored", "msd_nonpositive", "ddt_undefined")

F64 = npt.NDArray[np.float64]
#: The skim's columns besides the models' outputs (:func:`_skim_columns`): run,
#: luminosityBlock, event, entry, jetIdx, pt, eta, phi, msoftdrop, rho.
SKIM_COLUMNS = 10


def _load_ddts(ddt_map: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None,
               models: dict[str, OnnxJetModel], scores: dict[str, tuple[float, float]],
               selection: FatJetSelection) -> dict[str, DDTMap]:
    """Score -> DDT map, each checked against the models (one map per score)."""
    paths = () if ddt_map is None else (ddt_map,) if isinstance(ddt_map, str | os.PathLike) else ddt_map
    ddts: dict[str, DDTMap] = {}
    for path in paths:
        ddt = DDTMap(path)
        if ddt.score in ddts:
            raise JetCLRError(f"{ddts[ddt.score].path} and {ddt.path} are both DDT maps of {ddt.score}: "
                              "give one map per score")
        ddt.check(models, scores, selection)
        ddts[ddt.score] = ddt
    return ddts


def _check_model_selections(selections: Mapping[str, FatJetSelection] | None,
                            models: dict[str, OnnxJetModel]) -> dict[str, FatJetSelection]:
    out = dict(selections or {})
    for name, sel in out.items():
        if name not in models:
            raise ParameterError("model_selections",
                                 f"names {name!r}, not one of the models ({', '.join(models)})")
        if not isinstance(sel, FatJetSelection):
            raise ParameterError("model_selections",
                                 f"{name}: must be a FatJetSelection, got {type(sel).__name__}")
    return out


def _run_selected(model: OnnxJetModel, jc: JetConstituents, own: FatJetSelection | None) -> dict[str, Any]:
    """``model`` on the jets of ``jc`` passing ``own`` (all without), NaN in the other rows."""
    if own is None:
        return model(jc.constituents, jc.jets)
    keep = np.asarray(ak.to_numpy(own.mask(jc.jets)), dtype=bool)
    part = model(jc.constituents[keep], jc.jets[keep])
    full: dict[str, Any] = {}
    for out in model.card.outputs:
        values = np.full((len(keep), *out.shape), np.nan, dtype=np.float32)
        if keep.any():
            values[keep] = part[out.name]
        full[out.name] = values
    return full


def _skim_columns(events: Any, sel: Any, n_sel_ev: npt.NDArray[np.int64], per_jet: dict[str, Any]
                  ) -> Columns:
    """The skim's columns of one chunk: event numbers and entry, jet index and kinematics,
    and ``per_jet`` (msoftdrop, rho, every output), one row per selected jet."""
    start = int((getattr(events, "metadata", None) or {}).get("entrystart", 0))
    jets = events.FatJet[sel]
    fields = {
        "run": np.repeat(ak.to_numpy(events.run), n_sel_ev),
        "luminosityBlock": np.repeat(ak.to_numpy(events.luminosityBlock), n_sel_ev),
        "event": np.repeat(ak.to_numpy(events.event), n_sel_ev),
        "entry": np.repeat(np.arange(start, start + len(events), dtype=np.int64), n_sel_ev),
        "jetIdx": ak.to_numpy(ak.flatten(ak.local_index(events.FatJet, axis=1)[sel])),
        **{k: np.asarray(ak.to_numpy(ak.flatten(jets[k])), dtype=np.float64) for k in ("pt", "eta", "phi")},
        **per_jet,
    }
    return {k: np.asarray(v) for k, v in fields.items()}


def _source(events: Any) -> str:
    """The file a chunk of events came from (coffea's chunk metadata), for messages."""
    metadata = getattr(events, "metadata", None) or {}
    return str(metadata.get("filename", "the events"))


class LearnedJetTagProcessor(processor.ProcessorABC):  # type: ignore[misc]
    """Run exported jet encoders on fat jets and fill DDT-analysis histograms.

    Args:
        models: ONNX files exported by ``jetclr-coffea export``, named by their file names
            without ``.onnx`` (two models of one name are refused).
        selection: fat-jet selection.
        ddt_map: a DDT map from ``jetclr-coffea ddt-map``, or several (one per score); each
            map's score must be one of the models' scalar outputs, ``<model>_<output>``.
        batch_size: jets per ONNX Runtime call (bounds memory whatever the chunk size);
            default: by provider, see ``jetclr_coffea.inference.DEFAULT_BATCH``.
        missing_constituents: "error" (default): a file without PF candidates is an error
            naming the branches; "skip": its jets are skipped and counted in the cutflow.
        keep_jets: also return the selected jets with their scores (for skims).
        friend: also return, per chunk, every output over all fat jets with the chunk's file
            and entry range, for NanoAOD friend trees (:mod:`.friend`).
        model_selections: model name -> a further selection of its own (e.g. a slow model on
            ``FatJetSelection(msd_min=40)`` only): the model runs on the jets passing both;
            the others get NaN in its outputs and count in the cutflow as
            ``not_selected_<model>``.
        threads: ONNX Runtime intra-op threads per worker; default: ``OMP_NUM_THREADS``
            if set, else 1 in worker processes (futures, dask) and every core in the main
            process (iterative), see ``jetclr_coffea.inference.default_threads``; 0:
            ONNX Runtime's default (every core, in each worker).
    """

    def __init__(
        self,
        models: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
        selection: FatJetSelection = FatJetSelection(),
        ddt_map: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
        *,
        batch_size: int | None = None,
        missing_constituents: str = "error",
        keep_jets: bool = False,
        threads: int | None = None,
        friend: bool = False,
        model_selections: Mapping[str, FatJetSelection] | None = None,
    ) -> None:
        if isinstance(models, str | os.PathLike):
            models = [models]  # one model given as a path
        if not models:
            raise JetCLRError("give at least one ONNX model")
        if not isinstance(selection, FatJetSelection):
            raise ParameterError("selection", f"must be a FatJetSelection, got {type(selection).__name__}")
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                       or batch_size <= 0):
            raise ParameterError("batch_size", f"must be a positive whole number, got {batch_size!r}")
        if missing_constituents not in ("error", "skip"):
            raise JetCLRError(f"missing_constituents must be error or skip, got {missing_constituents!r}")
        self.models: dict[str, OnnxJetModel] = {}
        for m in models:
            model = OnnxJetModel(m, batch_size=batch_size, threads=threads)
            if model.name in self.models:
                raise JetCLRError(f"two models named {model.name!r} ({self.models[model.name].path} and "
                                  f"{model.path}): their outputs would share names; rename one")
            self.models[model.name] = model
        self.selection = selection
        self.missing_constituents = missing_constituents
        self.keep_jets = keep_jets
        self.friend = friend
        #: ``<model>_<output>`` -> declared range, for every score of every model
        self.scores: dict[str, tuple[float, float]] = {
            f"{name}_{out}": model.card.score_range(out)
            for name, model in self.models.items() for out in model.card.scores
        }
        #: the PF-candidate fields the models' preprocessing reads
        self.columns = tuple(dict.fromkeys(f for m in self.models.values() for f in m.spec.candidate_fields))
        #: score -> its DDT map
        self.ddts = _load_ddts(ddt_map, self.models, self.scores, selection)
        #: model name -> its own further selection
        self.model_selections = _check_model_selections(model_selections, self.models)
        #: ``<model>_<output>`` -> per-jet shape of the outputs friend trees hold: every score
        #: and the embedding (not a training head or other internals), and the DDT score
        self.output_shapes: dict[str, tuple[int, ...]] = {
            f"{name}_{out.name}": out.shape for name, m in self.models.items() for out in m.card.outputs
            if out.is_score or out.name == "embedding"}
        for score in self.ddts:
            self.output_shapes[f"{score}_ddt"] = ()

    def kept_bytes(self) -> tuple[float, float]:
        """(bytes per fat jet, bytes per event) of the output this processor keeps to the end
        of a run: the skim's columns (``keep_jets``: float64 event numbers, kinematics and
        scores, the models' other outputs as they come) and the friend trees' (``friend``:
        float32 per fat jet, event numbers and the counter per event)."""
        per_jet, per_event = 0.0, 0.0
        if self.keep_jets:
            outputs = [out for m in self.models.values() for out in m.card.outputs]
            per_jet += 8.0 * (SKIM_COLUMNS + len(self.ddts)) + sum(
                (8.0 if not out.shape else 4.0) * math.prod(out.shape) for out in outputs)
        if self.friend:
            per_jet += 4.0 * sum(math.prod(shape) for shape in self.output_shapes.values())
            per_event += 8.0 * (len(EVENT_BRANCHES) + 1)
        return per_jet, per_event

    def process(self, events: Any) -> dict[str, ChunkOutput]:
        dataset = events.metadata.get("dataset", "unknown")
        n_events = len(events)
        weights_ev = (np.asarray(ak.to_numpy(events.genWeight), dtype=np.float64)
                      if "genWeight" in events.fields else np.ones(n_events))
        hists = new_hists(self.scores, list(self.ddts))
        cutflow = dict.fromkeys((*CUTFLOW_KEYS, *(f"not_selected_{n}" for n in self.model_selections)), 0.0)
        cutflow["events"], cutflow["events_weighted"] = float(n_events), float(weights_ev.sum())
        # "jets" is a list of per-chunk column dicts (lists concatenate when accumulated)
        result: ChunkOutput = {"cutflow": cutflow, "hists": hists, "providers": set(), "jets": [],
                               "friend": []}
        if self.friend:  # every jet NaN until scored below
            result["friend"] = [friend_chunk(events, self.output_shapes, None, {})]
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
        hists[hist_name(None, "fatjet_msd_pt")].fill(msd=msd, pt=pt, weight=jet_w)

        try:
            detect_convention(events)
        except JetCLRError as err:
            if self.missing_constituents == "error":
                raise JetCLRError(f"{_source(events)}: {err}") from err
            cutflow["skipped_no_pf_candidates"] = cutflow["selected"]
            return {dataset: result}
        jc, scores, extra = self._evaluate(events, sel, result["providers"])
        bad = jc.has_constituents & bad_jets(jc.constituents)
        valid = jc.has_constituents & ~bad
        cutflow["no_constituents"] = float((~jc.has_constituents).sum())
        cutflow["bad_constituents"] = float(bad.sum())
        cutflow["scored"] = float(valid.sum())
        cutflow["msd_nonpositive"] = float((valid & (msd <= 0)).sum())
        for name, own in self.model_selections.items():
            passed = np.asarray(ak.to_numpy(own.mask(jc.jets)), dtype=bool)
            cutflow[f"not_selected_{name}"] = float((valid & ~passed).sum())
        self._fill(hists, cutflow, scores, valid, (msd, pt, rho, jet_w))
        if self.friend:
            flat_sel = np.asarray(ak.to_numpy(ak.flatten(sel)), dtype=bool)
            kept = {k: np.where(valid.reshape(-1, *([1] * (np.ndim(v) - 1))), v, np.nan)
                    for k, v in {**scores, **extra}.items()}
            result["friend"] = [friend_chunk(events, self.output_shapes, flat_sel, kept)]
        if self.keep_jets:
            result["jets"] = [_skim_columns(events, sel, n_sel_ev, {"msoftdrop": msd, "rho": rho,
                                                                   **scores, **extra})]
        return {dataset: result}

    def _fill(self, hists: dict[str, Any], cutflow: dict[str, float], scores: dict[str, F64],
              valid: npt.NDArray[np.bool_], kin: tuple[F64, F64, F64, F64]) -> None:
        """Fill every score's histograms and every DDT map's pass/fail histogram with the
        scored jets (``kin``: msoftdrop, pT, rho, weight per selected jet)."""
        msd, pt, rho, jet_w = kin
        for key in self.scores:
            score = scores[key]
            ok = valid & np.isfinite(score)
            hists[hist_name(key, "score_msd_pt")].fill(score=score[ok], msd=msd[ok], pt=pt[ok],
                                                       weight=jet_w[ok])
            ok_rho = ok & ~np.isnan(rho)  # rho = -inf (msd <= 0) fills the underflow
            hists[hist_name(key, "rho_pt_score")].fill(rho=rho[ok_rho], pt=pt[ok_rho], score=score[ok_rho],
                                                       weight=jet_w[ok_rho])
        for name in self.ddts:
            ddt = scores[f"{name}_ddt"]
            ok = valid & np.isfinite(ddt)
            cutflow["ddt_undefined"] += float((valid & ~ok).sum())
            # axes: pass (a Python keyword, hence positional), msd, pt
            hists[hist_name(name, "ddt_msd_pt")].fill((ddt[ok] > 0).astype(int), msd[ok], pt[ok],
                                                      weight=jet_w[ok])

    def _evaluate(self, events: Any, sel: Any,
                  providers: set[str]) -> tuple[JetConstituents, dict[str, F64], dict[str, Any]]:
        """Every model on the selected jets: scalar outputs (and ``<score>_ddt``), the rest.

        Rows follow the selected jets in event order; NaN where a jet has no constituents.
        """
        try:
            # only the candidate columns the models' inputs need, read column by column
            jc = read_constituents(events, sel, columns=self.columns)
        except JetCLRError as err:
            raise JetCLRError(f"{_source(events)}: {err}") from err
        scores: dict[str, F64] = {}
        extra: dict[str, Any] = {}
        for name, model in self.models.items():
            outputs = _run_selected(model, jc, self.model_selections.get(name))
            providers.add(model.session.get_providers()[0])
            for out, values in outputs.items():
                if values.ndim == 1:
                    scores[f"{name}_{out}"] = np.asarray(values, dtype=np.float64)
                else:
                    extra[f"{name}_{out}"] = values
        pt = np.asarray(ak.to_numpy(jc.jets.pt), dtype=np.float64)
        msd = np.asarray(ak.to_numpy(jc.jets.msoftdrop), dtype=np.float64)
        for name, ddt_map in self.ddts.items():
            ddt = ddt_map.ddt_values(scores[name], msd, pt)
            ddt[~jc.has_constituents] = np.nan
            scores[f"{name}_ddt"] = ddt
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

    def describe(self) -> JsonDict:
        """What this processor runs (for the output's provenance)."""
        return {
            "models": {k: m.path for k, m in self.models.items()},
            "model_sha256": {k: m.fingerprint for k, m in self.models.items()},
            "selection": asdict(self.selection),
            "ddt_maps": {score: m.path for score, m in self.ddts.items()},
            "model_selections": {name: asdict(sel) for name, sel in self.model_selections.items()},
            "scores": sorted(self.scores),
        }
