"""``jetclr-coffea run`` and ``ddt-map``: the coffea Runner with our processor.

Executors: ``iterative`` (one process), ``futures`` (a process pool of ``--workers``) and
``dask`` (a ``distributed.LocalCluster`` of ``--workers`` processes, or an existing cluster
at ``--scheduler``).  Scripts that use ``dask`` with local processes need an
``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import json
import os
import pickle
import re
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jetclr_coffea._io import atomic_path
from jetclr_coffea.errors import JetCLRError, MissingExtraError

from .ddt import build_ddt_map, fold_flow
from .schema import QuietPFNanoAODSchema
from .tagging import FatJetSelection, LearnedJetTagProcessor

__all__ = ["RunOptions", "load_fileset", "make_ddt_map", "run", "write_outputs"]

EXECUTORS = ("iterative", "futures", "dask")


@dataclass(frozen=True)
class RunOptions:
    """How to run the Runner."""

    executor: str = "iterative"
    workers: int = 1
    scheduler: str | None = None
    chunksize: int = 100_000
    maxchunks: int | None = None
    skipbadfiles: bool = False
    batch_size: int | None = None

    @property
    def onnx_threads(self) -> int | None:
        """ONNX Runtime threads per worker so that local workers share the cores without
        oversubscribing them; None (``inference.default_threads``) for one process or a
        remote cluster."""
        if self.executor == "iterative" or self.scheduler:
            return None
        return max(1, (os.cpu_count() or 1) // self.workers)

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise JetCLRError(f"--executor must be one of {', '.join(EXECUTORS)}, got {self.executor!r}")
        if self.workers <= 0 or self.chunksize <= 0:
            raise JetCLRError("--workers and --chunksize must be positive")


def load_fileset(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A coffea fileset from JSON: ``{dataset: [files]}`` or ``{dataset: {"files": ...}}``.

    Relative file paths are taken relative to the JSON file's folder.
    """
    p = Path(path)
    if not p.is_file():
        raise JetCLRError(f"{p}: no such fileset")
    try:
        raw = json.loads(p.read_text())
    except json.JSONDecodeError as err:
        raise JetCLRError(f"{p}: not valid JSON ({err.msg} at line {err.lineno})") from err
    if not isinstance(raw, dict) or not raw:
        raise JetCLRError(f"{p}: expected a mapping of dataset -> files")

    def resolve(f: str) -> str:
        return f if (os.path.isabs(f) or "://" in f) else str((p.parent / f).resolve())

    fileset: dict[str, Any] = {}
    for dataset, entry in raw.items():
        files = entry.get("files") if isinstance(entry, dict) else entry
        if isinstance(files, dict):
            files = list(files)
        if not isinstance(files, list) or not files:
            raise JetCLRError(f"{p}: dataset {dataset!r} lists no files")
        fileset[dataset] = {"files": [resolve(f) for f in files], "treename": "Events"}
        if isinstance(entry, dict) and "metadata" in entry:
            fileset[dataset]["metadata"] = entry["metadata"]
    return fileset


def _executor(opts: RunOptions, stack: ExitStack) -> Any:
    from coffea import processor

    # bad input is not transient: no retries in-process; dask keeps them for lost workers
    if opts.executor == "iterative":
        return processor.IterativeExecutor(status=False, retries=0)
    if opts.executor == "futures":
        return processor.FuturesExecutor(workers=opts.workers, status=False, retries=0)
    try:
        from distributed import Client, LocalCluster
    except ImportError as err:
        raise MissingExtraError("distributed", "dask") from err
    if opts.scheduler:
        client = stack.enter_context(Client(opts.scheduler))
    else:
        cluster = stack.enter_context(LocalCluster(
            n_workers=opts.workers, threads_per_worker=1, processes=True,
            dashboard_address=None, silence_logs=40,
        ))
        client = stack.enter_context(Client(cluster))
    return processor.DaskExecutor(client=client, status=False, retries=3)


def run(fileset: dict[str, Any], processor_instance: LearnedJetTagProcessor,
        opts: RunOptions) -> dict[str, Any]:
    """Run ``processor_instance`` over ``fileset``; returns the accumulated output."""
    from coffea import processor

    with ExitStack() as stack:
        runner = processor.Runner(
            executor=_executor(opts, stack), schema=QuietPFNanoAODSchema, chunksize=opts.chunksize,
            maxchunks=opts.maxchunks, skipbadfiles=opts.skipbadfiles, savemetrics=True,
        )
        try:
            output, metrics = runner(fileset, processor_instance=processor_instance, treename="Events")
        except Exception as err:
            raise _explain(err) from err
    output = dict(output)
    output["_metrics"] = {k: v for k, v in metrics.items() if isinstance(v, int | float | str)}
    return output


def _explain(err: BaseException) -> BaseException:
    """A one-line JetCLRError naming the file, from coffea's wrapped exception chain."""
    chain: list[BaseException] = []
    e: BaseException | None = err
    while e is not None and e not in chain:
        chain.append(e)
        e = e.__cause__ or e.__context__
    text = " ".join(" ".join(str(c).split()) for c in chain)
    match = re.search(r"filename='([^']+)'", text) or re.search(r"file path (\S+?)\)?(?:\s|$)", text)
    where = f"{match.group(1)}: " if match else ""
    for c in chain:
        if isinstance(c, JetCLRError):
            return JetCLRError(f"{where}{c}")
    for c in chain:
        if isinstance(c, OSError):
            reason = " ".join(str(c).split())
            return JetCLRError(f"{where}cannot read the file ({type(c).__name__}: {reason})")
    return err


def _merged_jets(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    keys = chunks[0].keys()
    return {k: np.concatenate([c[k] for c in chunks]) for k in keys}


def write_outputs(output: dict[str, Any], out_dir: str | os.PathLike[str], *,
                  provenance: dict[str, Any], skim: bool = False) -> list[Path]:
    """Write ``hists.pkl``, ``hists.root``, ``cutflow.json`` (and ``skim.root``) into ``out_dir``."""
    import uproot

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise JetCLRError(f"{out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    datasets = {k: v for k, v in output.items() if not k.startswith("_")}
    written = []
    hists = {ds: res["hists"] for ds, res in datasets.items()}
    with atomic_path(out / "hists.pkl") as tmp:
        tmp.write_bytes(pickle.dumps({"hists": hists, "provenance": provenance}))
    written.append(out / "hists.pkl")
    with atomic_path(out / "hists.root") as tmp, uproot.recreate(tmp) as f:
        for ds, hs in hists.items():
            for name, h in hs.items():
                f[f"{ds}/{name}"] = h
    written.append(out / "hists.root")
    summary = {ds: {"cutflow": res["cutflow"], "providers": sorted(res["providers"])}
               for ds, res in datasets.items()}
    summary["_provenance"] = provenance
    summary["_metrics"] = output.get("_metrics", {})
    with atomic_path(out / "cutflow.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2, default=str))
    written.append(out / "cutflow.json")
    if skim:
        with atomic_path(out / "skim.root") as tmp, uproot.recreate(tmp) as f:
            for ds, res in datasets.items():
                if res["jets"]:
                    f[f"{ds}_jets"] = _merged_jets(res["jets"])
        written.append(out / "skim.root")
    return written


def make_ddt_map(
    fileset: dict[str, Any], model: str, output: str | os.PathLike[str], *, score: str | None,
    efficiency: float, opts: RunOptions, selection: FatJetSelection = FatJetSelection(),
    min_jets: float = 20.0,
) -> Path:
    """Build a DDT map of ``score`` from the (QCD) jets of ``fileset``.

    Datasets are summed as they are (genWeight-weighted), or, where the fileset gives every
    dataset a ``"metadata": {"xsec": ...}`` (QCD in HT or pT slices), each weighted by its
    cross section over its sum of generator weights.

    (rho, pT) bins with fewer than ``min_jets`` effective QCD jets (and fewer than
    ``ddt.MIN_TAIL_JETS / efficiency``) take the quantile of their own and their
    neighbours' jets (``ddt.pool_counts``).
    """
    proc = LearnedJetTagProcessor([model], selection, batch_size=opts.batch_size)
    name = Path(model).stem
    if score is None:
        for candidate in ("tagger_score", "anomaly_score"):
            if f"{name}_{candidate}" in proc.scores:
                score = candidate
                break
        else:
            raise JetCLRError(f"{model} has no tagger_score or anomaly_score output; pass --score")
    key = f"{name}_{score}"
    if key not in proc.scores:
        raise JetCLRError(f"{model} has no scalar output {score!r} (has {sorted(proc.scores)})")
    xsecs = {ds: entry.get("metadata", {}).get("xsec") for ds, entry in fileset.items()}
    given = [ds for ds, x in xsecs.items() if x is not None]
    if given and len(given) != len(xsecs):
        raise JetCLRError(f"xsec given for {sorted(given)} but not for "
                          f"{sorted(set(xsecs) - set(given))}: give it for every dataset or none")
    for ds in given:
        x = xsecs[ds]
        if isinstance(x, bool) or not isinstance(x, int | float) or not x > 0:
            raise JetCLRError(f"dataset {ds!r}: metadata xsec must be a positive number, got {x!r}")
    result = run(fileset, proc, opts)
    total = None
    for ds, res in result.items():
        if ds.startswith("_"):
            continue
        h = res["hists"][f"{key}__rho_pt_score"]
        if given:  # e.g. HT-binned QCD: each dataset weighted to its cross section
            sum_w = res["cutflow"]["events_weighted"]
            if sum_w <= 0:
                raise JetCLRError(f"dataset {ds!r}: generator weights sum to {sum_w:g}, cannot normalise")
            h = h * (float(xsecs[ds]) / sum_w)
        total = h if total is None else total + h
    if total is None or total.sum().value <= 0:
        raise JetCLRError("no scored jets in the fileset: cannot build a DDT map")
    return build_ddt_map(
        fold_flow(total.values(flow=True)), total.axes["rho"].edges, total.axes["pt"].edges,
        total.axes["score"].edges, score=key, efficiency=efficiency, output=output,
        min_jets=min_jets, variances=fold_flow(total.variances(flow=True)),
        description=f"{key} at QCD efficiency {efficiency} from {', '.join(fileset)}",
    )
