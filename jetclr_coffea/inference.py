"""Running exported encoders with ONNX Runtime.

Sessions are created lazily and cached per process (keyed by model path and provider
choice), so a worker that unpickles a processor for every chunk builds each session once.
The provider is CUDA when the GPU build of ONNX Runtime and a CUDA driver are present,
CPU otherwise; the choice is logged once per process.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import io
import logging
import os
import threading
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import numpy.typing as npt

from jetclr_coffea.errors import JetCLRError
from jetclr_coffea.model_card import ModelCard
from jetclr_coffea.onnx_io import card_from_session
from jetclr_coffea.preprocessing import (
    ConstituentArrays,
    bad_jets,
    jet_feature_fields,
    jet_features,
    kinematics,
    model_inputs,
)

__all__ = [
    "CUDA_OPTIONS",
    "DEFAULT_BATCH",
    "LENGTH_STEP",
    "PADDING_INVARIANT_KINDS",
    "ROW_STEP",
    "OnnxJetModel",
    "choose_providers",
    "cuda_provider_problem",
    "default_threads",
    "fingerprint",
    "get_session",
    "read_card",
]

log = logging.getLogger(__name__)

#: Jets per ONNX Runtime call when none is given, by provider.  On the CPU, batches of
#: 64-128 keep the attention temporaries (batch x heads x C x C floats) in cache and run
#: ~15 % faster than 1024 (benchmarks/bench_ort_variants.py, docs/performance.md); on a GPU
#: large batches amortise the launches.
DEFAULT_BATCH = {"CPUExecutionProvider": 128, "CUDAExecutionProvider": 1024}

#: Model kinds whose outputs do not depend on trailing padding (JetEncoder: padded
#: constituents get zero attention and pooling weight; the EFN and the VAE's encoder: zero pooling
#: weight; the Sinkhorns of the OT model and the VAE: zero mass), so
#: batches may be cut to their longest jet.
PADDING_INVARIANT_KINDS = frozenset({"jetclr", "efn", "ot_medoids", "emd_vae"})

#: Trimmed batches keep a multiple of this many constituent slots (see ``batches``).
LENGTH_STEP = 8

#: Every ONNX Runtime call gets a multiple of this many jets (the batch's own rows repeated,
#: their copies' outputs dropped).  The CPU kernels round a jet's outputs differently when
#: the rows of a matrix product (jets x constituent slots) end in a partial block: with 50
#: slots, batches of 5, 17 or 61 jets moved some outputs by one unit in the last place.
ROW_STEP = 8

#: Options of ONNX Runtime's CUDA provider.  TF32 (on by default on Ampere and later GPUs)
#: rounds matrix-product inputs to 10 mantissa bits and moves scores by ~1e-3: off, so a
#: jet gets the same score, to float rounding, on a GPU worker as on a CPU worker, and
#: results do not depend on which worker of a mixed cluster ran a chunk.
CUDA_OPTIONS = {"use_tf32": "0"}

#: Sessions by (model path, providers, threads, pid).  The pid keeps a forked worker from
#: running a session built by its parent (whose thread pool did not survive the fork); the
#: parent's sessions stay referenced, never destroyed in the child.
_SESSIONS: dict[tuple[str, tuple[str, ...], int, int], Any] = {}
_LOCK = threading.RLock()
_CUDA_USABLE: bool | None = None  # decided once per process by choose_providers
_LOGGED: set[str] = set()


def _cuda_driver_present() -> bool:
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True


def _load_cuda_provider(capi: Path) -> str | None:
    """Load ONNX Runtime's CUDA provider library as ONNX Runtime does; None, or why not."""
    try:
        ctypes.CDLL(str(capi / "libonnxruntime_providers_shared.so"), mode=ctypes.RTLD_GLOBAL)
        ctypes.CDLL(str(capi / "libonnxruntime_providers_cuda.so"))
    except OSError as err:
        # "<path>: libcublasLt.so.13: cannot open shared object file: ..." -> from the library on
        return str(err).split(".so: ", 1)[-1]
    return None


def cuda_provider_problem() -> str | None:
    """Why ONNX Runtime's CUDA provider cannot run in this process, or None if it can.

    Probes what ONNX Runtime would otherwise find out while creating a session, printing
    an error and a warning in every worker: that the CUDA / cuDNN libraries its CUDA
    provider needs cannot be loaded.  Libraries from pip's ``nvidia-*`` packages are
    loaded with ``onnxruntime.preload_dlls`` first (quietly), as ONNX Runtime recommends.
    """
    import onnxruntime as ort

    capi = Path(ort.__file__).parent / "capi"
    if not (capi / "libonnxruntime_providers_cuda.so").is_file():
        return None  # not the Linux wheel layout: leave the decision to ONNX Runtime
    problem = _load_cuda_provider(capi)
    if problem is not None and hasattr(ort, "preload_dlls"):
        with (contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()),
              warnings.catch_warnings()):
            warnings.simplefilter("ignore")
            with contextlib.suppress(Exception):
                ort.preload_dlls()
        problem = _load_cuda_provider(capi)
    return problem


def choose_providers(prefer_gpu: bool = True) -> list[str]:
    """``["CUDAExecutionProvider", "CPUExecutionProvider"]`` where usable, else CPU only.

    CUDA is usable when the GPU build of ONNX Runtime, a CUDA driver and the CUDA
    libraries of its CUDA provider are present (decided once per process; where the
    libraries are missing, one warning line says which and the CPU is used).
    """
    global _CUDA_USABLE
    import onnxruntime as ort

    if not prefer_gpu or "CUDAExecutionProvider" not in ort.get_available_providers():
        return ["CPUExecutionProvider"]
    with _LOCK:
        if _CUDA_USABLE is None:
            problem = cuda_provider_problem() if _cuda_driver_present() else "no CUDA driver"
            _CUDA_USABLE = problem is None
            if problem is not None and problem != "no CUDA driver":
                log.warning("jetclr-coffea: ONNX Runtime's CUDA provider cannot load (%s); running on "
                            "the CPU (pid %d)", problem, os.getpid())
    return ["CUDAExecutionProvider", "CPUExecutionProvider"] if _CUDA_USABLE else ["CPUExecutionProvider"]


def default_threads() -> int:
    """ONNX Runtime intra-op threads for a session built in this process.

    ``OMP_NUM_THREADS`` when set (batch systems such as HTCondor set it to the cores a job
    asked for); else 1 in a worker process (a futures or dask worker: the workers are the
    parallelism, so N workers on N cores do not oversubscribe them), and 0 (ONNX Runtime's
    default: every core) in the main process, which the iterative executor uses.
    """
    import multiprocessing

    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return 1 if multiprocessing.parent_process() is not None else 0


def _new_session(path: str, providers: list[str], threads: int, shown: str | os.PathLike[str]) -> Any:
    """A new (uncached) ``InferenceSession``; ``threads`` 0: ONNX Runtime's default."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # no wall of provider warnings on fallback
    if threads > 0:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    with_options = [(p, CUDA_OPTIONS) if p == "CUDAExecutionProvider" else p for p in providers]
    try:
        return ort.InferenceSession(path, sess_options=opts, providers=with_options)
    except Exception as err:
        reason = str(err).splitlines()[0]
        raise JetCLRError(f"{shown}: not an ONNX model ONNX Runtime can load ({reason})") from err


def get_session(path: str | os.PathLike[str], providers: list[str] | None = None,
                threads: int | None = None) -> Any:
    """The process-wide cached ``InferenceSession`` for ``path``.

    ``threads``: intra-op threads; 0: ONNX Runtime's default; None: :func:`default_threads`.
    """

    providers = providers or choose_providers()
    threads = default_threads() if threads is None else threads
    key = (str(Path(path).resolve()), tuple(providers), threads, os.getpid())
    with _LOCK:
        session = _SESSIONS.get(key)
        if session is None:
            session = _new_session(key[0], providers, threads, shown=path)
            _SESSIONS[key] = session
            used = session.get_providers()[0]
            if key[0] not in _LOGGED:
                log.info("jetclr-coffea: %s runs on %s (pid %d)", Path(path).name, used, os.getpid())
                _LOGGED.add(key[0])
    return session


def fingerprint(path: str | os.PathLike[str]) -> str:
    """SHA-256 of the model file (weights, graph and card): what a DDT map is tied to."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_card(path: str | os.PathLike[str]) -> ModelCard:
    """The model card of ``path``, checked against its graph, through ONNX Runtime alone.

    A throwaway one-thread CPU session reads it (not the cached one a worker runs, whose
    provider and threads are chosen there), so a driver that only builds a processor holds
    no session, and no GPU memory.
    """
    session = _new_session(str(path), ["CPUExecutionProvider"], 1, shown=path)
    return card_from_session(session, str(path))


class OnnxJetModel:
    """An exported jet encoder: metadata-driven preprocessing plus batched inference.

    The ONNX session is not stored on the instance (it is looked up in the per-process
    cache), so the object pickles cheaply and each worker builds its session once.

    Args:
        path: the ONNX file (with jetclr-coffea metadata).
        batch_size: jets per ONNX Runtime call (default: :data:`DEFAULT_BATCH` of the
            provider).
        providers: ONNX Runtime providers (default: :func:`choose_providers`).
        threads: intra-op threads (0: ONNX Runtime's default; None: :func:`default_threads`,
            one per worker process, every core in the main process).
        trim_padding: cut each batch to its longest jet (default: for the model kinds in
            :data:`PADDING_INVARIANT_KINDS`).
    """

    def __init__(self, path: str | os.PathLike[str], *, batch_size: int | None = None,
                 providers: list[str] | None = None, threads: int | None = None,
                 trim_padding: bool | None = None) -> None:
        self.path = str(path)
        if not Path(self.path).is_file():
            raise JetCLRError(f"{path}: no such model file")
        if batch_size is not None and batch_size <= 0:
            raise JetCLRError(f"batch_size must be positive, got {batch_size}")
        self.card: ModelCard = read_card(self.path)
        self.spec = self.card.preprocessing
        self.mask_kind = self.card.mask
        self.batch_size = batch_size
        self.providers = providers
        self.threads = threads
        self.trim_padding = (self.card.model_kind in PADDING_INVARIANT_KINDS if trim_padding is None
                             else trim_padding)
        self._fingerprint: str | None = None

    @property
    def name(self) -> str:
        """The model's name: its file name without ``.onnx``."""
        return Path(self.path).stem

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the file, see :func:`fingerprint`."""
        if self._fingerprint is None:
            self._fingerprint = fingerprint(self.path)
        return self._fingerprint

    @property
    def session(self) -> Any:
        return get_session(self.path, self.providers, self.threads)

    @property
    def batch(self) -> int:
        """Jets per ONNX Runtime call: ``batch_size``, or the provider's default."""
        if self.batch_size is not None:
            return self.batch_size
        return DEFAULT_BATCH.get(self.session.get_providers()[0], 128)

    @property
    def output_names(self) -> list[str]:
        return [o.name for o in self.session.get_outputs()]

    def run_arrays(self, x: npt.NDArray[np.float32], mask: npt.NDArray[np.float32],
                   jet: npt.NDArray[np.float32] | None = None) -> dict[str, npt.NDArray[np.float32]]:
        """Run on prepared inputs in batches of :attr:`batch`; outputs in input order.

        ``jet``: the (jets, J) jet features of a model whose card declares some
        (:meth:`jet_inputs`); refused for any other model.

        For padding-invariant models (:attr:`trim_padding`) jets are batched by length and
        each batch is cut to that length (see :meth:`batches`), so little time goes into
        padding; padded constituents carry zero weight in attention and pooling, so the
        outputs are those of full padding up to float rounding.  With one intra-op thread
        (a worker's default) each jet's outputs are the same, bit for bit, whatever the
        batch size and whichever jets come with it; with several, ONNX Runtime splits a
        large batch's products among the threads by its size, and batches of different
        sizes can differ in the last bit.

        Raises:
            JetCLRError: ``jet`` missing for a model with jet features (or given to one
                without), or of the wrong shape.
        """
        wanted = len(self.card.jet_features)
        if (jet is None) != (wanted == 0) or (jet is not None and jet.shape != (len(x), wanted)):
            got = "none" if jet is None else f"shape {list(jet.shape)}"
            raise JetCLRError(f"{self.name}: takes {wanted} jet feature(s) {list(self.card.jet_features)} "
                              f"per jet ({len(x)} jets), got {got}")
        session = self.session
        names = self.output_names
        if len(x) == 0:  # no batch runs: empty outputs of the declared shapes
            return {o.name: np.zeros((0, *[d for d in o.shape[1:] if isinstance(d, int)]), np.float32)
                    for o in session.get_outputs()}
        device = "cuda" if session.get_providers()[0] == "CUDAExecutionProvider" else None
        results: dict[str, npt.NDArray[np.float32]] = {}
        for rows, c in self.batches(mask):
            # rows repeated up to a multiple of ROW_STEP: a jet's outputs must not depend on
            # how many jets share its batch, and ONNX Runtime's kernels round partial
            # blocks of rows differently
            run_rows = np.resize(rows, -(-len(rows) // ROW_STEP) * ROW_STEP)
            feeds = {"constituents": np.ascontiguousarray(x[run_rows, :c], dtype=np.float32),
                     "mask": np.ascontiguousarray(mask[run_rows, :c], dtype=np.float32)}
            if jet is not None:
                feeds["jet"] = np.ascontiguousarray(jet[run_rows], dtype=np.float32)
            for n, v in zip(names, self._run_batch(session, names, feeds, device), strict=True):
                if n not in results:
                    results[n] = np.empty((len(x), *v.shape[1:]), dtype=v.dtype)
                results[n][rows] = v[:len(rows)]
        return results

    def batches(self, mask: npt.NDArray[Any]) -> Iterator[tuple[npt.NDArray[np.int64], int]]:
        """The batches :meth:`run_arrays` runs: (rows of the input, constituents kept).

        With :attr:`trim_padding`, a jet's slots are cut to its length (one past its last
        real constituent) rounded up to a multiple of :data:`LENGTH_STEP`, and a batch
        holds jets of one such length only: what a jet is computed with depends on the jet
        alone, never on which jets share its chunk.
        """
        n_slots = mask.shape[1]
        if self.trim_padding:
            real = mask > 0  # (jets, C)
            length = np.where(real.any(axis=1), n_slots - np.argmax(real[:, ::-1], axis=1), 1)
            kept = np.minimum(-(-length // LENGTH_STEP) * LENGTH_STEP, n_slots)
        else:
            kept = np.full(len(mask), n_slots)
        batch = self.batch
        for c in np.unique(kept):
            rows = np.flatnonzero(kept == c)
            for start in range(0, len(rows), batch):
                yield rows[start:start + batch], int(c)

    @staticmethod
    def _run_batch(session: Any, names: list[str], feeds: dict[str, npt.NDArray[np.float32]],
                   device: str | None = None) -> list[npt.NDArray[np.float32]]:
        """One ONNX Runtime call; with ``device`` ("cuda") through IOBinding."""
        if device is None:
            return session.run(names, feeds)  # type: ignore[no-any-return]
        # IOBinding: one host->device copy per input; outputs stay on the device until the
        # single copy back
        binding = session.io_binding()
        for name, value in feeds.items():
            binding.bind_cpu_input(name, value)
        for n in names:
            binding.bind_output(n, device)
        session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()  # type: ignore[no-any-return]

    def inputs(self, constituents: ak.Array) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Prepared (x, mask) exactly as in training."""
        return self.inputs_from_arrays(kinematics(constituents, self.spec))

    def inputs_from_arrays(
        self, arrays: ConstituentArrays
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """(x, mask) from already padded and centred kinematics (see ``kinematics``): the same
        :func:`~jetclr_coffea.preprocessing.model_inputs` that training runs."""
        x, mask = model_inputs(arrays, self.spec.features, self.mask_kind)
        return np.asarray(x, dtype=np.float32), np.asarray(mask, dtype=np.float32)

    def jet_inputs(self, fields: Mapping[str, npt.ArrayLike]) -> npt.NDArray[np.float32] | None:
        """The ``jet`` input of a model with jet features (None for any other model), from the
        fat jets' NanoAOD ``fields`` (``msoftdrop``, ``pt``, ``tau1``, ...): the same
        :func:`~jetclr_coffea.preprocessing.jet_features` that training runs.

        Raises:
            JetCLRError: a field the model's jet features need is missing.
        """
        names = self.card.jet_features
        if not names:
            return None
        missing = [f for f in jet_feature_fields(names) if f not in fields]
        if missing:
            raise JetCLRError(f"{self.name}: takes the jet features {list(names)}; pass the fat jets with "
                              f"{', '.join(missing)}")
        arrays = {f: np.asarray(fields[f], np.float64) for f in jet_feature_fields(names)}
        return np.asarray(jet_features(arrays, names), dtype=np.float32)

    def __call__(self, constituents: ak.Array, jets: ak.Array | None = None
                 ) -> dict[str, npt.NDArray[np.float32]]:
        """Outputs for jets x var constituents, one row per jet.

        ``jets``: the fat jets themselves (with the NanoAOD fields of
        :func:`~jetclr_coffea.preprocessing.jet_feature_fields`), needed by a model whose
        card declares jet features.

        Jets with no usable constituent, or with a constituent of unphysical kinematics
        (:func:`~jetclr_coffea.preprocessing.bad_jets`), get NaN in every output (never a
        shifted row, never a plausible score).

        Raises:
            JetCLRError: the model takes jet features and ``jets`` is missing or lacks a field.
        """
        x, mask = self.inputs(constituents)
        needed = jet_feature_fields(self.card.jet_features)
        have = [] if jets is None else [f for f in needed if f in ak.fields(jets)]
        jet = self.jet_inputs({f: ak.to_numpy(jets[f]) for f in have} if jets is not None else {})
        empty = (mask.sum(axis=1) == 0) | bad_jets(constituents)
        out = self.run_arrays(x, mask, jet)
        for v in out.values():
            if len(v):
                v[empty] = np.nan
        return out
