"""Training-sample weights: cross sections of a fileset's datasets, and histogram reweighting
to a flat spectrum in pT (or in pT and msoftdrop, for decorrelation), as weaver does it.

A jet's physical weight is ``genWeight * xsec / sum(genWeight)`` over its dataset
(:func:`fileset_weights`); :func:`flat_weights` divides it by the weighted count of its
(pT[, msoftdrop]) bin, separately for each class, so that every bin of the range carries the
same total weight.  Training draws its batches with these weights
(:func:`jetclr_coffea.training.train.epoch_order`): a jet
appears in proportion to its weight.  Sampling, not weights in the loss, because a
contrastive loss (NT-Xent, VICReg, Barlow Twins) normalises over the batch: a per-jet
factor there would reweight the negatives each positive pair is compared with, not the jet.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from jetclr_coffea.errors import JetCLRError
from jetclr_coffea.preprocessing import PreprocessSpec
from jetclr_coffea.truth import QCD, TOP

from .config import REWEIGHT_MODES, DataConfig
from .data import HANDCRAFTED, JetSample, load_jets

__all__ = ["MSD_EDGES", "REWEIGHT_MODES", "dataset_labels", "fileset_weights", "flat_weights",
           "training_jets"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: msoftdrop bins of the (pT, msoftdrop) reweighting, GeV (jets beyond in the edge bins).
MSD_EDGES = tuple(float(x) for x in np.linspace(0.0, 300.0, 16))


def _gen_weights(path: str | os.PathLike[str]) -> F64:
    import uproot

    with uproot.open(path) as f:
        tree = f["Events"]
        if "genWeight" not in tree.keys():  # noqa: SIM118 (a TTree, not a dict)
            return np.ones(int(tree.num_entries))
        return np.asarray(tree["genWeight"].array(library="np"), dtype=np.float64)


def fileset_weights(files: Sequence[str], dataset_of_file: Sequence[str], xsecs: Mapping[str, float],
                    event: I64) -> F64:
    """Each jet's ``genWeight * xsec / sum(genWeight)`` of its dataset (the sum over every event
    of the dataset's files, selected or not).

    Args:
        files: the files, in the order the jets were read.
        dataset_of_file: the dataset of each file.
        xsecs: dataset -> cross section (pb).
        event: (n_jets, 2) (file index, entry) of each jet's event.

    Raises:
        JetCLRError: a dataset's generator weights do not sum to a positive number.
    """
    gen = [_gen_weights(f) for f in files]
    sumw: dict[str, float] = {}
    for g, ds in zip(gen, dataset_of_file, strict=True):
        sumw[ds] = sumw.get(ds, 0.0) + float(g.sum())
    for ds, total in sumw.items():
        if not total > 0:
            raise JetCLRError(f"dataset {ds!r}: its generator weights sum to {total:g}; nothing to weight "
                              "with")
    w = np.empty(len(event))
    for i, (g, ds) in enumerate(zip(gen, dataset_of_file, strict=True)):
        mine = event[:, 0] == i
        w[mine] = g[event[mine, 1]] * xsecs[ds] / sumw[ds]
    return w


def _bins(values: F64, edges: F64) -> I64:
    return np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2).astype(np.int64)


def flat_weights(weight: F64, pt: F64, pt_edges: Sequence[float], *, msd: F64 | None = None,
                 msd_edges: Sequence[float] = MSD_EDGES, classes: I64 | None = None) -> F64:
    """``weight`` divided by its class's summed weight in the jet's (pT[, msoftdrop]) bin: every
    bin of a class then carries the same total, the class's mean weight is 1.

    Jets beyond the edges count in the edge bins; a bin whose weights sum to <= 0 (negative
    generator weights) gives its jets weight 0.

    Raises:
        JetCLRError: the weights are not finite.
    """
    if not np.isfinite(weight).all():
        raise JetCLRError(f"{int((~np.isfinite(weight)).sum())} jet weights are NaN or infinite")
    pe = np.asarray(pt_edges, dtype=np.float64)
    me = np.asarray(msd_edges, dtype=np.float64)
    cell = _bins(pt, pe) if msd is None else _bins(pt, pe) * (len(me) - 1) + _bins(msd, me)
    n_cells = (len(pe) - 1) * (1 if msd is None else len(me) - 1)
    out = np.zeros(len(weight))
    cls = np.zeros(len(weight), dtype=np.int64) if classes is None else classes
    for c in np.unique(cls):
        mine = cls == c
        total = np.bincount(cell[mine], weights=weight[mine], minlength=n_cells)
        denom = total[cell[mine]]
        w = np.where(denom > 0, weight[mine] / np.where(denom > 0, denom, 1.0), 0.0)
        out[mine] = w / w.mean() if w.mean() > 0 else w
    return out



def dataset_labels(sample: JetSample, owner: Sequence[str], labels: Mapping[str, str],
                   signal: int) -> JetSample:
    """``sample`` with every jet of a dataset named in ``labels`` (dataset -> signal or
    background) labelled ``signal`` or QCD; ``owner``: the dataset of each file."""
    if not labels:
        return sample
    new = sample.labels.copy()
    for i, ds in enumerate(owner):
        if ds in labels:
            new[sample.source == i] = signal if labels[ds] == "signal" else QCD
    return replace(sample, labels=new)


def _fileset_jets(data: DataConfig, spec: PreprocessSpec, signal: int) -> JetSample:
    from jetclr_coffea.processors.ddt import check_xsecs
    from jetclr_coffea.processors.run import load_fileset

    fs = load_fileset(data.fileset)
    unknown = sorted(set(data.labels) - set(fs))
    if unknown:
        raise JetCLRError(f"{data.fileset}: data.labels names {unknown[0]!r}, not a dataset of the fileset "
                          f"(has: {', '.join(fs)})")
    files = [f for entry in fs.values() for f in entry["files"]]
    owner = [ds for ds, entry in fs.items() for _ in entry["files"]]
    sample = load_jets(files, spec, pt_min=data.pt_min, pt_max=data.pt_max, eta_max=data.eta_max,
                       max_jets=data.max_jets, cache=data.cache or None)
    xsecs = check_xsecs(fs)
    if xsecs is not None:
        sample = replace(sample, weight=fileset_weights(files, owner, xsecs, sample.event))
    return dataset_labels(sample, owner, data.labels, signal)


def training_jets(data: DataConfig, spec: PreprocessSpec, signal: int = TOP) -> JetSample:
    """The jets of ``data`` (its files, or its fileset's), with their physical weights and
    labels (``data.labels``' dataset classes, ``signal`` the signal's, else the truth), then
    reweighted as ``data.reweight`` asks, each class separately (files without truth: one
    class).  ``JetSample.weight`` holds the result."""
    if data.fileset:
        sample = _fileset_jets(data, spec, signal)
    else:
        sample = load_jets(list(data.files), spec, pt_min=data.pt_min, pt_max=data.pt_max,
                           eta_max=data.eta_max, max_jets=data.max_jets, cache=data.cache or None)
    if data.reweight == "none":
        return sample
    edges = np.linspace(data.pt_min, data.pt_max, data.reweight_bins + 1)
    msd = sample.observables[:, HANDCRAFTED.index("msoftdrop")] if data.reweight == "pt_msd" else None
    flat = flat_weights(sample.weight, sample.pt, [float(e) for e in edges], msd=msd, classes=sample.labels)
    return replace(sample, weight=flat)
