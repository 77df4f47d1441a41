"""``jetclr-coffea run`` and ``ddt-map``: the coffea Runner with our processor.

Executors: ``iterative`` (one process), ``futures`` (a process pool of ``--workers``) and
``dask`` (a ``distributed.LocalCluster`` of ``--workers`` processes, or an existing cluster
at ``--scheduler``).  Scripts that use ``dask`` with local processes need an
``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import re
import shutil
import tempfile
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jetclr_coffea._io import JsonObject, check_writable, probe_writable, strict_json
from jetclr_coffea.errors import JetCLRError, MissingExtraError, ParameterError

from .ddt import build_ddt_map, check_xsecs, fold_flow, qcd_histogram, selection_record
from .hists import to_root_writable
from .memory import DEFAULT_BUDGET, Density, choose_chunksize, kept_bytes, tree_density
from .result import DatasetEntry, DatasetResult, Fileset
from .schema import QuietPFNanoAODSchema
from .selection import FatJetSelection
from .tagging import LearnedJetTagProcessor

__all__ = [
    "OUTPUT_FILES",
    "SCORE_PREFERENCE",
    "RunOptions",
    "RunResult",
    "check_output_dir",
    "load_fileset",
    "main_score",
    "make_ddt_map",
    "run",
    "write_outputs",
]

#: The files a run writes into its output folder (``skim.root`` only with a skim).
OUTPUT_FILES = ("hists.pkl", "hists.root", "cutflow.json", "skim.root")

EXECUTORS = ("iterative", "futures", "dask")
#: Seconds to wait for a dask scheduler given by address.
SCHEDULER_TIMEOUT = 10


@dataclass(frozen=True)
class RunOptions:
    """How to run the Runner.

    Attributes:
        chunksize: events per chunk; None: the largest that fits ``memory_budget``, from
            the files' PF-candidate density (:func:`~jetclr_coffea.processors.memory.choose_chunksize`).
        memory_budget: bytes a worker may use; a given ``chunksize`` that needs more is an
            error before the first chunk is read.
    """

    executor: str = "iterative"
    workers: int = 1
    scheduler: str | None = None
    chunksize: int | None = None
    memory_budget: int = DEFAULT_BUDGET
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
        if self.executor == "iterative" and (self.workers != 1 or self.scheduler):
            given = "scheduler" if self.scheduler else "workers"
            raise ParameterError(given, "has no meaning with the iterative executor (one process): "
                                        "use executor futures or dask")
        if self.executor == "futures" and self.scheduler:
            raise ParameterError("scheduler", "is for the dask executor, not futures")
        if self.executor not in EXECUTORS:
            raise ParameterError("executor", f"must be one of {', '.join(EXECUTORS)}, got {self.executor!r}")
        if self.workers <= 0:
            raise ParameterError("workers", f"must be positive, got {self.workers}")
        if self.chunksize is not None and self.chunksize <= 0:
            raise ParameterError("chunksize", f"must be positive, got {self.chunksize}")
        if self.memory_budget <= 0:
            raise ParameterError("memory_budget", f"must be positive, got {self.memory_budget}")


def _refuse_repeats(p: Path, dataset: str, fileset: dict[str, DatasetEntry]) -> None:
    """A file listed twice (in one dataset, or in two) would be processed twice, silently."""
    files = fileset[dataset]["files"]
    for i, f in enumerate(files):
        if f in files[:i]:
            raise JetCLRError(f"{p}: dataset {dataset!r} lists {f} twice: its events would be counted twice")
        for other, entry in fileset.items():
            if other != dataset and f in entry["files"]:
                raise JetCLRError(f"{p}: {f} is listed in datasets {other!r} and {dataset!r}: its events "
                                  "would be counted in both")


def load_fileset(path: str | os.PathLike[str]) -> dict[str, DatasetEntry]:
    """A coffea fileset from JSON: ``{dataset: [files]}`` or ``{dataset: {"files": ...,
    "metadata": {...}}}``.

    Relative file paths are taken relative to the JSON file's folder.  ``files`` may also
    be coffea's ``{path: treename}`` mapping (the tree must be ``Events``).

    Raises:
        JetCLRError: the file is missing or not JSON, a dataset gives no list of file names,
            or a ``root://`` file is given without fsspec-xrootd installed.
    """
    p = Path(path)
    if not p.is_file():
        raise JetCLRError(f"{p}: no such fileset")
    try:
        raw = json.loads(p.read_text())
    except json.JSONDecodeError as err:
        raise JetCLRError(f"{p}: not valid JSON ({err.msg} at line {err.lineno})") from err
    except UnicodeDecodeError as err:
        raise JetCLRError(f"{p}: not a text file ({err.reason})") from err
    if not isinstance(raw, dict) or not raw:
        raise JetCLRError(f"{p}: expected a mapping of dataset -> list of files")

    def resolve(f: str) -> str:
        return f if (os.path.isabs(f) or "://" in f) else str((p.parent / f).resolve())

    fileset: dict[str, DatasetEntry] = {}
    for dataset, entry in raw.items():
        files = entry.get("files") if isinstance(entry, dict) else entry
        if isinstance(files, dict):
            trees = {t for t in files.values() if t != "Events"}
            if trees:
                raise JetCLRError(f"{p}: dataset {dataset!r} names tree(s) {sorted(map(str, trees))}; "
                                  "NanoAOD's tree is Events")
            files = list(files)
        if isinstance(files, str):
            raise JetCLRError(f"{p}: dataset {dataset!r} gives {files!r}; a list of files is expected: "
                              f'["{files}"]')
        if not isinstance(files, list):
            raise JetCLRError(f"{p}: dataset {dataset!r} gives {type(files).__name__}; a list of files is "
                              "expected")
        if not files:
            raise JetCLRError(f"{p}: dataset {dataset!r} lists no files")
        odd = [f for f in files if not isinstance(f, str) or not f]
        if odd:
            raise JetCLRError(f"{p}: dataset {dataset!r} lists {odd[0]!r}, not a file name")
        if any(f.startswith("root://") for f in files) and importlib.util.find_spec("fsspec_xrootd") is None:
            raise JetCLRError(f"{p}: dataset {dataset!r} reads root:// files, which needs fsspec-xrootd: "
                              "pip install fsspec-xrootd")
        fileset[dataset] = {"files": [resolve(f) for f in files], "treename": "Events"}
        _refuse_repeats(p, dataset, fileset)
        if isinstance(entry, dict) and "metadata" in entry:
            if not isinstance(entry["metadata"], dict):
                raise JetCLRError(f"{p}: dataset {dataset!r}: metadata must be a mapping")
            fileset[dataset]["metadata"] = entry["metadata"]
    return fileset


@dataclass
class RunResult:
    """What a run produced.

    Attributes:
        datasets: dataset -> its :class:`~.result.DatasetResult` (histograms, cutflow,
            providers, skim and friend columns).
        provenance: what ran (models and their SHA-256, selection, DDT map).
        metrics: coffea's run metrics (bytes read, chunks, ...).
        skipped_files: files left out with ``skipbadfiles``: ``{"dataset", "file", "reason"}``.
        chunksize: the events per chunk it ran with (given, or chosen from the memory budget).
    """

    datasets: dict[str, DatasetResult]
    provenance: JsonObject = field(default_factory=dict)
    metrics: JsonObject = field(default_factory=dict)
    skipped_files: list[dict[str, str]] = field(default_factory=list)
    chunksize: int = 0


def _inspect_file(path: str) -> tuple[str | None, Density | None]:
    """(why ``path`` cannot be read as NanoAOD, or None; its PF-candidate density), opening
    it once and reading only its first entries' counters."""
    import uproot

    if "://" not in path and not os.path.isfile(path):
        return "no such file", None
    try:
        with uproot.open(path, array_cache=None, object_cache=None) as f:
            if "Events" not in f:
                return f"no 'Events' tree (has: {', '.join(f.keys(cycle=False)) or 'nothing'})", None
            tree = f["Events"]
            if not hasattr(tree, "num_entries"):
                return "'Events' is not a tree", None
            return None, tree_density(tree)
    except Exception as err:  # uproot raises several types for non-ROOT or truncated input
        reason = " ".join(str(err).split())[:160]
        return f"cannot read the file ({type(err).__name__}: {reason})", None


def _preflight(fileset: Fileset, skip: bool,
               densities: dict[str, Density]) -> tuple[dict[str, DatasetEntry], list[dict[str, str]]]:
    """Open every file before the first chunk: a bad one is an error naming it, or (``skip``)
    left out and recorded; the good ones' densities go into ``densities``."""
    kept: dict[str, DatasetEntry] = {}
    skipped: list[dict[str, str]] = []
    for ds, entry in fileset.items():
        files = entry["files"] if isinstance(entry, dict) else entry
        good = []
        for f in files:
            problem, density = _inspect_file(str(f))
            if problem is None:
                good.append(f)
                if density is not None:
                    densities[str(f)] = density
            elif skip:
                skipped.append({"dataset": ds, "file": str(f), "reason": problem})
            else:
                raise JetCLRError(f"{f}: {problem}")
        if good:
            kept[ds] = {**entry, "files": good} if isinstance(entry, dict) else good
    return kept, skipped


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
        try:
            client = stack.enter_context(Client(opts.scheduler, timeout=SCHEDULER_TIMEOUT))
        except (OSError, TimeoutError, ValueError) as err:
            reason = " ".join(str(err).split())[:160]
            raise JetCLRError(f"cannot reach the dask scheduler at {opts.scheduler} within "
                              f"{SCHEDULER_TIMEOUT} s ({type(err).__name__}: {reason})") from err
    else:
        cluster = stack.enter_context(LocalCluster(
            n_workers=opts.workers, threads_per_worker=1, processes=True,
            dashboard_address=None, silence_logs=40,
        ))
        client = stack.enter_context(Client(cluster))
    return processor.DaskExecutor(client=client, status=False, retries=3)


def run(fileset: Fileset, processor_instance: LearnedJetTagProcessor,
        opts: RunOptions) -> RunResult:
    """Run ``processor_instance`` over ``fileset``.

    Every file is opened before the first chunk: a bad one is a one-line error naming it,
    or with ``opts.skipbadfiles`` left out and listed in :attr:`RunResult.skipped_files`;
    its PF-candidate density (from its first entries' counters) sets the chunk size that
    fits ``opts.memory_budget``, unless ``opts.chunksize`` is given (and fits).
    """
    from coffea import processor

    densities: dict[str, Density] = {}
    fileset, skipped = _preflight(fileset, opts.skipbadfiles, densities)
    if not fileset:
        raise JetCLRError("no readable file in the fileset: " + "; ".join(
            f"{s['file']}: {s['reason']}" for s in skipped))
    models = getattr(processor_instance, "models", {})
    n_max = max((m.spec.n_max for m in models.values()), default=50)
    kept_bytes_of = getattr(processor_instance, "kept_bytes", None)
    kept = kept_bytes(densities, *kept_bytes_of()) if callable(kept_bytes_of) else 0.0
    chunksize = choose_chunksize(densities, opts.memory_budget, n_max, opts.chunksize,
                                 n_models=max(len(models), 1), kept=kept)
    with ExitStack() as stack:
        runner = processor.Runner(
            executor=_executor(opts, stack), schema=QuietPFNanoAODSchema, chunksize=chunksize,
            maxchunks=opts.maxchunks, skipbadfiles=opts.skipbadfiles, savemetrics=True,
        )
        try:
            output, metrics = runner(fileset, processor_instance=processor_instance, treename="Events")
        except Exception as err:
            raise _explain(err) from err
    describe = getattr(processor_instance, "describe", None)
    return RunResult(
        datasets={ds: DatasetResult.from_output(out) for ds, out in output.items()},
        provenance=describe() if callable(describe) else {},
        metrics={k: v for k, v in metrics.items() if isinstance(v, int | float | str)},
        skipped_files=skipped,
        chunksize=chunksize,
    )


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
            return JetCLRError(f"{c}" if match and str(c).startswith(match.group(1)) else f"{where}{c}")
    for c in chain:
        if isinstance(c, OSError):
            reason = " ".join(str(c).split())
            return JetCLRError(f"{where}cannot read the file ({type(c).__name__}: {reason})")
    return err


def write_friend_trees(result: RunResult, fileset: Fileset,
                       folder: str | os.PathLike[str]) -> list[Path]:
    """The friend trees (:mod:`.friend`) of a run made with ``friend=True``: one per input
    file that was processed (skipped files get none)."""
    import uproot

    from .friend import write_friends

    skipped = {s["file"] for s in result.skipped_files}
    entries = {}
    for entry in fileset.values():
        for f in entry["files"]:
            if f not in skipped:
                with uproot.open(f) as root:
                    entries[f] = int(root["Events"].num_entries)
    chunks = [c for res in result.datasets.values() for c in res.friend]
    return write_friends(chunks, entries, folder)


def _write_skim(f: Any, name: str, columns: dict[str, Any], skim_format: str) -> None:
    """One dataset's per-jet table as a TTree (fixed-size array branches for vectors) or an RNTuple."""
    if skim_format == "rntuple":
        f[name] = columns
        return
    f.mktree(name, {k: (v.dtype, v.shape[1:]) if v.ndim > 1 else v.dtype for k, v in columns.items()},
             title="jetclr-coffea per-jet scores: one entry per selected fat jet")
    f[name].extend(columns)


def _merged_jets(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    keys = chunks[0].keys()
    return {k: np.concatenate([c[k] for c in chunks]) for k in keys}


def check_output_dir(out_dir: str | os.PathLike[str]) -> Path:
    """Check, before any work, that ``out_dir`` can take a run's outputs.

    It may be missing (its parent must be writable), or a folder holding nothing but an
    earlier run's outputs (:data:`OUTPUT_FILES`), which the new run replaces as a whole.

    Raises:
        JetCLRError: it is a file, holds other files, or its parent is missing or not writable.
    """
    out = Path(out_dir)
    parent = out.resolve().parent
    if out.exists() and not out.is_dir():
        raise JetCLRError(f"{out} exists and is not a folder")
    if not parent.is_dir():
        raise JetCLRError(f"cannot write {out}: folder {parent} does not exist")
    probe_writable(parent, out)
    if out.is_dir():
        others = sorted(p.name for p in out.iterdir() if p.name not in OUTPUT_FILES)
        if others:
            raise JetCLRError(f"{out} holds files that are not a run's outputs ({', '.join(others[:3])}"
                              f"{', ...' if len(others) > 3 else ''}); choose an empty or new folder")
    return out


def write_outputs(result: RunResult, out_dir: str | os.PathLike[str], *, skim: bool = False,
                  skim_format: str = "ttree") -> list[Path]:
    """Write ``hists.pkl``, ``hists.root``, ``cutflow.json`` (and ``skim.root``) into ``out_dir``.

    The files are written into a new sibling folder that then replaces ``out_dir`` as a
    whole, so the folder always holds exactly one complete run: never one run's histograms
    beside another's skim, never a half-written set after an interrupt.

    * ``hists.pkl``: ``{"hists": {dataset: {name: hist.Hist}}, "provenance": {...}}``;
    * ``hists.root``: ``<dataset>/<name>`` TH2/TH3 with titles and ROOT-notation axis titles;
    * ``cutflow.json``: ``{"datasets": {dataset: {"cutflow": ..., "providers": [...]}},
      "skipped_files": [...], "chunksize": ..., "provenance": ..., "metrics": ...}``;
    * ``skim.root``: one tree ``<dataset>_jets`` per dataset with the selected jets: a
      TTree (``skim_format="ttree"``, one entry per jet, an embedding as a fixed-size array
      branch) or an RNTuple (``"rntuple"``, ROOT >= 6.34).
    """
    if skim_format not in ("ttree", "rntuple"):
        raise ParameterError("skim_format", f"must be ttree or rntuple, got {skim_format!r}")
    import uproot

    out = check_output_dir(out_dir)
    parent = out.resolve().parent
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".new", dir=parent))
    try:
        hists = {ds: res.hists for ds, res in result.datasets.items()}
        (staging / "hists.pkl").write_bytes(pickle.dumps({"hists": hists, "provenance": result.provenance}))
        with uproot.recreate(staging / "hists.root") as f:
            for ds, hs in hists.items():
                for name, h in hs.items():
                    f[f"{ds}/{name}"] = to_root_writable(h, name, ds)
        summary = {
            "datasets": {ds: {"cutflow": res.cutflow, "providers": sorted(res.providers)}
                         for ds, res in result.datasets.items()},
            "skipped_files": result.skipped_files,
            "chunksize": result.chunksize,
            "provenance": result.provenance,
            "metrics": result.metrics,
        }
        (staging / "cutflow.json").write_text(strict_json(summary, default=str))
        if skim:
            with uproot.recreate(staging / "skim.root") as f:
                for ds, res in result.datasets.items():
                    if res.jets:
                        _write_skim(f, f"{ds}_jets", _merged_jets(res.jets), skim_format)
        written = sorted(p.name for p in staging.iterdir())
        os.chmod(staging, 0o777 & ~_umask())
        _swap_in(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return [out / name for name in written]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _swap_in(new: Path, out: Path) -> None:
    """Replace folder ``out`` by ``new`` (two renames; the old folder is removed after)."""
    if not out.exists():
        os.replace(new, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=new.parent))
    os.rmdir(old)
    os.replace(out, old)
    try:
        os.replace(new, out)
    except BaseException:
        os.replace(old, out)  # put the earlier run back
        raise
    shutil.rmtree(old, ignore_errors=True)


#: The score a model is known by (a DDT map's default), in order of preference.
SCORE_PREFERENCE = ("tagger_score", "decorrelated_score", "anomaly_score")


def main_score(scores: Iterable[str]) -> str | None:
    """The first of :data:`SCORE_PREFERENCE` among a model's ``scores`` (None: none of them)."""
    given = set(scores)
    return next((s for s in SCORE_PREFERENCE if s in given), None)


def make_ddt_map(
    fileset: Fileset, model: str, output: str | os.PathLike[str], *, score: str | None,
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
    (tagger,) = proc.models.values()
    if score is None:
        score = main_score(tagger.card.scores)
        if score is None:
            raise ParameterError("score", f"not given, and {model} has no {', '.join(SCORE_PREFERENCE)} "
                                          "output")
    key = f"{tagger.name}_{score}"
    if key not in proc.scores:
        raise ParameterError("score", f"{score!r} is not a score of {model} (scores: "
                                      f"{', '.join(tagger.card.scores)})")
    if not 0.0 < efficiency < 1.0:
        raise ParameterError("efficiency", f"must be between 0 and 1, got {efficiency}")
    if not min_jets > 0:
        raise ParameterError("min_jets", f"must be positive, got {min_jets}")
    check_writable(output)
    xsecs = check_xsecs(fileset)
    result = run(fileset, proc, opts)
    total = qcd_histogram(result.datasets, key, xsecs)
    return build_ddt_map(
        fold_flow(total.values(flow=True)), total.axes["rho"].edges, total.axes["pt"].edges,
        total.axes["score"].edges, score=key, efficiency=efficiency, output=output,
        min_jets=min_jets, variances=fold_flow(total.variances(flow=True)),
        description=f"{key} at QCD efficiency {efficiency} from {', '.join(result.datasets)}",
        built_for={"model": tagger.name, "model_path": tagger.path, "model_sha256": tagger.fingerprint,
                   "selection": selection_record(selection), "datasets": sorted(result.datasets),
                   "skipped_files": result.skipped_files},
    )
