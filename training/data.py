"""Jets for training and evaluation, straight from NanoAOD/PFNano ROOT files."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Protocol

import awkward as ak
import numpy as np
import numpy.typing as npt
import torch

from jetclr_coffea.augment import JetBatch
from jetclr_coffea.errors import JetCLRError
from jetclr_coffea.files import read_events
from jetclr_coffea.preprocessing import (
    JET_FEATURES,
    ConstituentArrays,
    PreprocessSpec,
    jet_feature_fields,
    jet_features,
    kinematics,
    model_inputs,
)
from jetclr_coffea.preprocessing.jet_features import ratio
from jetclr_coffea.reader import read_constituents
from jetclr_coffea.sculpting import mass_matching_weights
from jetclr_coffea.truth import QCD, SIGNAL_LABELS, label_fatjets

from .cache import CacheWriter, cache_entry, read_cache

__all__ = ["JET_FEATURE_FIELDS", "JetSample", "JetSource", "MappedJets", "Targets", "batch_inputs",
           "event_weights", "load_jets", "subset", "to_batch", "training_targets"]

HANDCRAFTED = ("msoftdrop", "tau21", "tau32", "n2b1", "n3b1")
#: FatJet fields kept per jet for the models' jet features (:data:`JET_FEATURES`).
JET_FEATURE_FIELDS = jet_feature_fields(tuple(JET_FEATURES))


class JetSource(Protocol):
    """Padded jets training draws batches from: in memory (:class:`JetBatch`) or on disk
    (:class:`MappedJets`)."""

    @property
    def device(self) -> torch.device: ...

    def __len__(self) -> int: ...

    def index(self, rows: torch.Tensor) -> JetBatch:
        """The jets ``rows`` as tensors."""
        ...

    def subset(self, rows: torch.Tensor) -> JetSource:
        """The jets ``rows``, kept where these are."""
        ...


@dataclass
class JetSample:
    """Selected jets of some files: padded kinematics plus per-jet observables.

    Attributes:
        arrays: padded (n_jets, n_max) kinematics in the centred frame.
        observables: (n_jets, 5) msoftdrop, tau21, tau32, n2b1, n3b1.
        labels: truth labels (-1 where the file has no GenPart).
        source: index of the file each jet came from.
        pt: jet pT.
        jet_fields: the FatJet fields a model's jet features are computed from
            (:data:`JET_FEATURE_FIELDS`; zeros where a file lacks one).
        weight: the event weight of each jet (:func:`event_weights`).
        event: (file index, entry) of each jet's event, to match jets across files.
        eta, phi: jet direction.
    """

    arrays: ConstituentArrays
    observables: npt.NDArray[np.float64]
    labels: npt.NDArray[np.int64]
    source: npt.NDArray[np.int64]
    pt: npt.NDArray[np.float64]
    jet_fields: dict[str, npt.NDArray[np.float64]]
    weight: npt.NDArray[np.float64]
    event: npt.NDArray[np.int64]
    eta: npt.NDArray[np.float64]
    phi: npt.NDArray[np.float64]

    @property
    def weighted(self) -> bool:
        """Whether the jets' weights differ (a biased-pT sample)."""
        return bool(len(self.weight) and np.ptp(self.weight) > 0)

    def __len__(self) -> int:
        return len(self.pt)


def _field(jets: ak.Array, name: str) -> npt.NDArray[np.float64]:
    if name not in ak.fields(jets):
        return np.zeros(len(jets))
    return np.asarray(ak.to_numpy(jets[name]), dtype=np.float64)


def _observables(jets: ak.Array) -> npt.NDArray[np.float64]:
    tau1, tau2, tau3 = (_field(jets, n) for n in ("tau1", "tau2", "tau3"))
    tau21, tau32 = ratio(tau2, tau1), ratio(tau3, tau2)  # as the models' jet features
    return np.stack([_field(jets, "msoftdrop"), tau21, tau32, _field(jets, "n2b1"), _field(jets, "n3b1")],
                    axis=1)


def event_weights(path: str | os.PathLike[str], events: ak.Array) -> npt.NDArray[np.float64]:
    """Each event's weight: ``genWeight * xsec_pb / genEventSumw`` where the file has a
    ``Runs`` tree with both (so that files of one process, or p̂T slices, add up to its cross
    section), ``genWeight`` where only that exists, else 1.

    Raises:
        JetCLRError: a weight is NaN or infinite.
    """
    if "genWeight" not in ak.fields(events):
        return np.ones(len(events))
    w = np.asarray(ak.to_numpy(events["genWeight"]), dtype=np.float64)
    if not np.isfinite(w).all():
        raise JetCLRError(f"{path}: genWeight has {int((~np.isfinite(w)).sum())} NaN or infinite entries")
    import uproot

    with uproot.open(path) as f:
        runs = f.get("Runs", None)
        if runs is not None and {"genEventSumw", "xsec_pb"} <= set(runs.keys()):
            sumw = float(np.sum(runs["genEventSumw"].array(library="np")))
            xsec = float(np.mean(runs["xsec_pb"].array(library="np")))
            if sumw > 0 and np.isfinite(xsec) and xsec > 0:
                w = w * xsec / sumw
    return w


_Part = tuple[ak.Array, ak.Array, npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64],
              npt.NDArray[np.int64]]  # constituents, jets, labels, file index, weight, entry


def _read_part(path: str | os.PathLike[str], i: int, window: tuple[float, float, float], max_jets: int,
               max_events: int) -> _Part | None:
    """The selected jets of one file with stored constituents (None: the file is empty)."""
    pt_min, pt_max, eta_max = window
    events = read_events(path, entry_stop=max_events or None)
    if len(events) == 0:  # an empty file holds no jets (its Events tree may even lack branches)
        return None
    if "FatJet_pt" not in ak.fields(events):
        raise JetCLRError(f"{path}: no FatJet collection")
    fj_pt, fj_eta = events["FatJet_pt"], events["FatJet_eta"]
    mask = (fj_pt > pt_min) & (fj_pt < pt_max) & (np.abs(fj_eta) < eta_max)
    try:
        jc = read_constituents(events, mask)
    except JetCLRError as err:
        raise JetCLRError(f"{path}: {err}") from err
    if "GenPart_pdgId" in ak.fields(events):
        genpart = ak.zip({n: events[f"GenPart_{n}"] for n in ("pdgId", "genPartIdxMother", "eta", "phi")})
        fatjets = ak.zip({"eta": fj_eta, "phi": events["FatJet_phi"]})
        labels = ak.to_numpy(ak.flatten(label_fatjets(fatjets, genpart)[mask])).astype(np.int64)
    else:
        labels = np.full(len(jc), -1, dtype=np.int64)
    idx = np.flatnonzero(jc.has_constituents)
    if max_jets > 0:
        idx = idx[:max_jets]
    entry = np.asarray(ak.to_numpy(jc.jets["event"]), dtype=np.int64)[idx]
    return (jc.constituents[idx], jc.jets[idx], labels[idx], np.full(len(idx), i, dtype=np.int64),
            event_weights(path, events)[entry], entry)


def _jet_fields(part: _Part) -> dict[str, npt.NDArray[np.generic]]:
    """The small per-jet fields of one file's part (what stays in memory with a cache)."""
    _, jets, labels, index, weight, entry = part
    return {"observables": _observables(jets), "labels": labels, "source": index.astype(np.int64),
            "pt": np.asarray(ak.to_numpy(jets.pt), dtype=np.float64),
            **{f"jet_{name}": _field(jets, name) for name in JET_FEATURE_FIELDS},
            "weight": weight.astype(np.float64), "entry": entry.astype(np.int64),
            "eta": _field(jets, "eta"), "phi": _field(jets, "phi")}


def _sample(arrays: ConstituentArrays, f: dict[str, npt.NDArray[np.generic]]) -> JetSample:
    return JetSample(arrays=arrays, observables=f["observables"].astype(np.float64),
                     labels=f["labels"].astype(np.int64), source=f["source"].astype(np.int64),
                     pt=f["pt"].astype(np.float64),
                     jet_fields={n: f[f"jet_{n}"].astype(np.float64) for n in JET_FEATURE_FIELDS},
                     weight=f["weight"].astype(np.float64),
                     event=np.stack([f["source"], f["entry"]], axis=1).astype(np.int64),
                     eta=f["eta"].astype(np.float64), phi=f["phi"].astype(np.float64))


def load_jets(
    files: Sequence[str | os.PathLike[str]],
    spec: PreprocessSpec,
    *,
    pt_min: float,
    pt_max: float,
    eta_max: float,
    max_jets: int = 0,
    max_events: int = 0,
    cache: str | os.PathLike[str] | None = None,
) -> JetSample:
    """Read, select and preprocess the fat jets of ``files`` (in file order), one file at a time.

    Jets without stored constituents are skipped; ``max_jets`` keeps the first jets of each
    file, ``max_events`` reads only the first events of each (0: all).  With ``cache`` (a
    folder, :mod:`.cache`) the kinematics go to disk as each file is read and come back
    memory-mapped; a second call with the same inputs reads them from there, no ROOT file.

    Raises:
        JetCLRError: a file is unreadable, has no constituents, or no jet passes.
    """
    window = (pt_min, pt_max, eta_max)
    entry = None if cache is None else cache_entry(cache, files, window, max_jets, max_events, spec)
    found = None if entry is None else read_cache(entry)
    if found is not None:
        return _sample(*found)
    writer = None if entry is None else CacheWriter(entry, spec.n_max)
    kins: list[ConstituentArrays] = []
    small: list[dict[str, npt.NDArray[np.generic]]] = []
    try:
        for i, path in enumerate(files):
            part = _read_part(path, i, window, max_jets, max_events)
            if part is None or len(part[2]) == 0:
                continue
            kin = kinematics(part[0], spec)
            writer.append(kin) if writer is not None else kins.append(kin)
            small.append(_jet_fields(part))
        if not small:
            raise JetCLRError(f"no fat jet with {pt_min} < pT < {pt_max} GeV and |eta| < {eta_max} "
                              f"and stored constituents in {', '.join(map(str, files))}")
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    per_jet = {k: np.concatenate([s[k] for s in small]) for k in small[0]}
    if writer is not None:
        return _sample(writer.finish(per_jet), per_jet)
    arrays = ConstituentArrays(**{f.name: np.concatenate([getattr(a, f.name) for a in kins])
                                  for f in fields(ConstituentArrays)})
    return _sample(arrays, per_jet)


@dataclass(frozen=True)
class Targets:
    """Per-jet truth for the objectives that read it (``supervised``; CoDec's mass-matched
    sampling): tensors of (N,) on the training device.

    Attributes:
        label: 1 for signal, 0 for QCD.
        msd: msoftdrop, GeV.
        jet: (N, J) the model's jet features (J = 0 for a model without).
        weight: QCD jets 1; signal jets weighted to the QCD msoftdrop spectrum (CoDec's 1D
            flattening, :func:`~jetclr_coffea.sculpting.mass_matching_weights`) or, without
            flattening, all alike; the signal's weights sum to the number of QCD jets.
    """

    label: torch.Tensor
    msd: torch.Tensor
    jet: torch.Tensor
    weight: torch.Tensor

    def index(self, rows: torch.Tensor) -> Targets:
        return Targets(self.label[rows], self.msd[rows], self.jet[rows], self.weight[rows])


def training_targets(sample: JetSample, signal_label: str, mass_flatten: bool,
                     device: torch.device | str = "cpu",
                     features: tuple[str, ...] = ()) -> tuple[npt.NDArray[np.int64], Targets]:
    """The jets of ``sample`` that are signal (``signal_label``) or QCD, and their targets
    (with the jet features ``features`` of the model, see :data:`JET_FEATURES`).

    Returns:
        (indices of the kept jets in ``sample``, their :class:`Targets`).

    Raises:
        JetCLRError: no truth labels, or no signal or no QCD jet.
    """
    if (sample.labels < 0).all():
        raise JetCLRError("the training files have no GenPart collection: no truth labels to train on")
    sig = sample.labels == SIGNAL_LABELS[signal_label]
    keep = np.flatnonzero(sig | (sample.labels == QCD))
    y = sig[keep].astype(np.float64)
    if y.sum() == 0 or (1 - y).sum() == 0:
        raise JetCLRError(f"the training files hold {int(y.sum())} {signal_label} and {int((1 - y).sum())} "
                          f"QCD jets: both are needed")
    msd = np.nan_to_num(sample.observables[keep, HANDCRAFTED.index("msoftdrop")])
    w = np.ones(len(keep))
    if mass_flatten:
        w[y == 1] = mass_matching_weights(msd[y == 1], msd[y == 0])
    w[y == 1] *= (1 - y).sum() / w[y == 1].sum()

    def t(a: npt.NDArray[np.float64]) -> torch.Tensor:
        return torch.as_tensor(np.asarray(a, dtype=np.float32), device=device)

    jet = jet_features({k: v[keep] for k, v in sample.jet_fields.items()}, features) if features else \
        np.zeros((len(keep), 0))
    return keep, Targets(label=t(y), msd=t(msd), jet=t(jet), weight=t(w))


def subset(arrays: ConstituentArrays, rows: npt.NDArray[np.int64]) -> ConstituentArrays:
    """The jets ``rows`` of padded kinematics."""
    return ConstituentArrays(deta=arrays.deta[rows], dphi=arrays.dphi[rows], pt=arrays.pt[rows],
                             energy=arrays.energy[rows], charge=arrays.charge[rows], mask=arrays.mask[rows])


def to_batch(arrays: ConstituentArrays, device: torch.device | str = "cpu") -> JetBatch:
    """The padded kinematics as float32 tensors on ``device``."""
    def t(a: npt.NDArray[np.float64]) -> torch.Tensor:
        return torch.as_tensor(np.asarray(a, dtype=np.float32), device=device)

    return JetBatch(
        deta=t(arrays.deta), dphi=t(arrays.dphi), pt=t(arrays.pt), energy=t(arrays.energy),
        charge=t(arrays.charge), mask=torch.as_tensor(arrays.mask, device=device),
    )


def batch_inputs(b: JetBatch, features: tuple[str, ...], irc_safe: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Model inputs of a (possibly augmented) batch: features (N, C, F) and mask (N, C).

    The same :func:`~jetclr_coffea.preprocessing.model_inputs` that inference runs on
    numpy arrays, here on the batch's tensors; the mask is the pT fractions for an
    IRC-safe model, 0/1 otherwise.
    """
    arrays = ConstituentArrays(deta=b.deta, dphi=b.dphi, pt=b.pt, energy=b.energy, charge=b.charge,
                               mask=b.mask)
    x, mask = model_inputs(arrays, features, "pt_fraction" if irc_safe else "binary")
    return x, mask


@dataclass(frozen=True)
class MappedJets:
    """Jets whose kinematics stay on disk (a :mod:`.cache` entry): each :meth:`index` reads
    only its rows.

    Attributes:
        arrays: the memory-mapped (n, n_max) kinematics of the whole entry.
        rows: the entry's rows these jets are (in order).
        device: where :meth:`index` puts the batches.
    """

    arrays: ConstituentArrays
    rows: npt.NDArray[np.int64]
    device: torch.device

    def __len__(self) -> int:
        return len(self.rows)

    def index(self, rows: torch.Tensor) -> JetBatch:
        """The jets ``rows`` (of these jets) as a batch (:func:`to_batch`) on :attr:`device`."""
        picked = self.rows[rows.cpu().numpy()]
        order = np.argsort(picked, kind="stable")  # read the file forwards, then restore the order
        back = np.empty_like(order)
        back[order] = np.arange(len(order))
        return to_batch(subset(subset(self.arrays, picked[order]), back), self.device)

    def subset(self, rows: torch.Tensor) -> MappedJets:
        """These jets' ``rows``, still on disk."""
        return MappedJets(self.arrays, self.rows[rows.cpu().numpy()], self.device)
