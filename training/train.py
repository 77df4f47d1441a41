"""``jetclr-coffea train CONFIG.yaml``: training of an encoder through its objective (contrastive,
VAE or supervised).

Reproducibility: shuffling, augmentations and dropout of epoch ``e`` are seeded from
``(seed, e)`` alone, and each epoch's checkpoint holds the model, optimiser and scheduler
state, so ``--resume`` from the checkpoint of epoch ``e`` continues exactly as an
uninterrupted run would.
"""

from __future__ import annotations

import csv
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from jetclr_coffea._io import atomic_path
from jetclr_coffea.errors import JetCLRError, ParameterError
from jetclr_coffea.truth import SIGNAL_LABELS, TOP

from .checkpoint import Checkpoint, load_checkpoint
from .config import TrainConfig
from .data import JetSource, MappedJets, Targets, subset, to_batch, training_targets
from .objectives import Objective, Summary, get_objective
from .reweight import training_jets
from .sections import PairConfig, TruthConfig
from .split import validation_mask

__all__ = ["TrainResult", "epoch_order", "initial_model", "pick_device", "train"]

CHECKPOINT = "checkpoint.pt"
#: The checkpoint of the epoch with the lowest validation loss (with ``data.val_fraction``).
BEST = "best.pt"
#: Seeds the validation batches and augmentations, the same after every epoch.
VALIDATION_SEED = 2_718_281
INTERRUPTED = "checkpoint_interrupted.pt"
LOG = "log.csv"


@dataclass
class TrainResult:
    """Where a run left its files, and its final state."""

    output_dir: Path
    checkpoint: Path
    epochs: int
    final_loss: float
    seconds: float
    device: str
    best_checkpoint: Path | None = None
    best_epoch: int | None = None
    best_val_loss: float | None = None
    stopped_early: bool = False


def pick_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda"):
        raise JetCLRError(f"optim.device must be auto, cpu or cuda, got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise JetCLRError("optim.device is cuda but no CUDA device is available")
    return torch.device(name)


def _scheduler(opt: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    warmup = max(1, total_steps // 20)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def _same_class_partners(
    labels: npt.NDArray[np.int64], device: torch.device
) -> Callable[[torch.Tensor, torch.Generator], torch.Tensor]:
    """A function drawing, for each of some rows, a random other jet of the same truth class."""
    if (labels < 0).any():
        raise JetCLRError("pairs.pairing same_class needs truth labels: the training files have no GenPart")
    lab = torch.as_tensor(labels, device=device)
    order = torch.argsort(lab, stable=True)  # jets grouped by class
    classes, counts = torch.unique(lab, return_counts=True)
    if (counts < 2).any():
        raise JetCLRError(f"pairs.pairing same_class: class {int(classes[counts < 2][0])} has one jet")
    starts = torch.cumsum(counts, 0) - counts
    slot = torch.searchsorted(classes, lab)  # class index of every jet
    place = torch.empty_like(order)
    place[order] = torch.arange(len(order), device=device)  # where each jet sits in ``order``

    def draw(rows: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        c = slot[rows]
        # a uniform pick among the class's other jets: offset 1..count-1 from the jet itself
        pos = place[rows] - starts[c]  # the jet's place within its class
        offset = 1 + (torch.rand(len(rows), generator=g, device=device) * (counts[c] - 1)).long()
        return order[starts[c] + (pos + offset) % counts[c]]

    return draw


def _check_compatible(saved: Checkpoint, cfg: TrainConfig, path: Path) -> None:
    old_objective = saved.config.objective
    if old_objective != cfg.objective:
        raise JetCLRError(f"{path} was trained with objective {old_objective}, not {cfg.objective}")
    was = saved.config
    for section, old, new in (("model", was.model.to_dict(), cfg.model.to_dict()),
                              ("preprocessing", was.preprocessing.to_dict(), cfg.preprocessing.to_dict())):
        if old != new:
            diff = [f"{k}: {old.get(k)} vs {new.get(k)}" for k in sorted(set(old) | set(new))
                    if old.get(k) != new.get(k)]
            raise JetCLRError(
                f"{path} was made with a different {section} ({'; '.join(diff)})"
            )


def _progress(epoch: int, epochs: int, step: int, steps: int, loss: float, rate: float) -> None:
    end = "\n" if step == steps else ""
    if sys.stderr.isatty() or step == steps:
        print(f"\r  epoch {epoch + 1}/{epochs} step {step}/{steps} loss {loss:.4f} "
              f"{rate:,.0f} jets/s", end=end, file=sys.stderr)


def initial_model(cfg: TrainConfig, warm_start: bool = True) -> torch.nn.Module:
    """The model a run starts from: built by its objective (seeded by ``optim.seed``), with
    the weights of the checkpoint it fine-tunes (``supervised.init_from``) where it has one
    and ``warm_start`` (a resumed run takes every weight from its own checkpoint instead, so
    the start checkpoint may be gone by then).

    Raises:
        JetCLRError: that checkpoint is missing, unreadable or of another architecture.
    """
    objective = get_objective(cfg.objective)
    torch.manual_seed(cfg.optim.seed)
    model = objective.build_model(cfg)
    start = objective.init_from(cfg) if warm_start else ""
    if start:
        ckpt = load_checkpoint(start)
        objective.warm_start(model, cfg, ckpt.config, ckpt.weights)
    return model


def epoch_order(n_jets: int, g: torch.Generator, weights: torch.Tensor | None = None) -> torch.Tensor:
    """The jets of one epoch, in order: a permutation, or (``weights``) ``n_jets`` draws with
    replacement in proportion to the weights (:mod:`.reweight`: how weights reach training)."""
    if weights is None:
        return torch.randperm(n_jets, generator=g, device=g.device)
    if not float(weights.sum()) > 0:
        raise JetCLRError("every training jet has weight <= 0: nothing to draw batches from")
    return torch.multinomial(weights, n_jets, replacement=True, generator=g)


@dataclass
class _Data:
    """Jets (on the training device, or streamed from the cache) with what the objective
    reads: their truth labels (for same-class pairs), targets (objectives that read the
    truth) and sampling weights."""

    jets: JetSource
    labels: npt.NDArray[np.int64]
    targets: Targets | None
    weights: torch.Tensor | None  # (n_jets,) the batches' sampling weights (data.reweight)

    def __len__(self) -> int:
        return len(self.labels)

    def part(self, rows: npt.NDArray[np.int64]) -> _Data:
        r = torch.as_tensor(rows, device=self.jets.device)
        return _Data(self.jets.subset(r), self.labels[rows],
                     None if self.targets is None else self.targets.index(r),
                     None if self.weights is None else self.weights[r])


def _read_data(cfg: TrainConfig, objective: Objective, device: torch.device
               ) -> tuple[_Data, npt.NDArray[np.int64]]:
    """The training jets of ``cfg`` (only signal and QCD ones where the objective reads the
    truth) and each one's event (file index, entry)."""
    truth = cfg.section(TruthConfig)
    sample = training_jets(cfg.data, cfg.preprocessing, SIGNAL_LABELS[truth.signal_label] or TOP)
    keep, targets = np.arange(len(sample), dtype=np.int64), None
    weights = sample.weight if cfg.data.weighted or cfg.data.reweight != "none" else None
    if objective.needs_targets(cfg):
        keep, targets = training_targets(sample, truth.signal_label, truth.mass_flatten, device,
                                         objective.jet_features(cfg))
        weights = None if weights is None else weights[keep]
    w = None if weights is None else torch.as_tensor(np.clip(weights, 0.0, None), dtype=torch.float64,
                                                      device=device)
    jets: JetSource
    if cfg.data.cache:  # streamed from the memory-mapped cache, batch by batch
        jets = MappedJets(sample.arrays, keep, device)
    else:
        jets = to_batch(sample.arrays if targets is None else subset(sample.arrays, keep), device)
    return _Data(jets, sample.labels[keep], targets, w), sample.event[keep]


def _partners(cfg: TrainConfig, data: _Data, device: torch.device
              ) -> Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None:
    """The other member of each positive pair: the jet itself (None), or (CoDec) another jet
    of the same truth class in ``data``."""
    if cfg.section(PairConfig).pairing not in ("same_class", "mass_matched"):
        return None
    return _same_class_partners(data.labels, device)


def _split(data: _Data, event: npt.NDArray[np.int64], cfg: TrainConfig) -> tuple[_Data, _Data | None]:
    """(training, validation) parts of ``data`` (:mod:`.split`; no validation without
    ``data.val_fraction``)."""
    if not cfg.data.val_fraction:
        return data, None
    val = validation_mask(event, cfg.data.val_fraction)
    if val.sum() < cfg.optim.batch_size:
        raise JetCLRError(f"data.val_fraction {cfg.data.val_fraction} holds out {int(val.sum())} jets: fewer "
                          f"than one batch of {cfg.optim.batch_size}; raise it or give more jets")
    return data.part(np.flatnonzero(~val)), data.part(np.flatnonzero(val))


@dataclass
class _Run:
    """The state of one training run: data, model, optimiser, schedule, history."""

    cfg: TrainConfig
    out: Path
    device: torch.device
    data: _Data
    val: _Data | None
    #: the second member of each positive pair in ``data`` and ``val`` (:func:`_partners`)
    pairs: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None
    val_pairs: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None
    objective: Objective
    model: torch.nn.Module
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LambdaLR
    batch: int
    steps: int
    first_epoch: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    extras: Callable[[torch.nn.Module], dict[str, Summary]] | None = None

    @property
    def n_jets(self) -> int:
        return len(self.data)

    @classmethod
    def start(cls, cfg: TrainConfig, out: Path, device: torch.device, resume: bool) -> _Run:
        """Read the jets, build the model and optimiser, and (``resume``) load the checkpoint."""
        objective = get_objective(cfg.objective)
        data, val = _split(*_read_data(cfg, objective, device), cfg)
        n = len(data)
        bs = min(cfg.optim.batch_size, n)
        if n // bs == 0 or bs < 2:
            raise JetCLRError(f"only {n} jets: fewer than one batch of {cfg.optim.batch_size}")
        model = initial_model(cfg, warm_start=not resume).to(device)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
        sched = _scheduler(opt, cfg.optim.epochs * (n // bs))
        run = cls(cfg=cfg, out=out, device=device, data=data, val=val, pairs=_partners(cfg, data, device),
                  val_pairs=None if val is None else _partners(cfg, val, device), objective=objective,
                  model=model, opt=opt, sched=sched, batch=bs, steps=n // bs)
        if resume:
            run.load(out / CHECKPOINT)
        # what the objective records with each checkpoint (anomalyclr: embedding norms)
        run.extras = objective.checkpoint_extras(cfg, data.jets, device)
        return run

    def load(self, ckpt: Path) -> None:
        """Continue from the checkpoint ``ckpt`` of this config's run."""
        saved = load_checkpoint(ckpt)  # a truncated or empty file: a one-line error
        _check_compatible(saved, self.cfg, ckpt)
        try:
            if saved.optimizer is None or saved.scheduler is None:
                raise ValueError("it keeps no optimiser state")
            self.model.load_state_dict(saved.weights)
            self.opt.load_state_dict(saved.optimizer)
            self.sched.load_state_dict(saved.scheduler)
        except (RuntimeError, KeyError, ValueError) as err:
            raise JetCLRError(f"{ckpt}: the checkpoint does not fit this config's model (changed "
                              f"architecture?): {' '.join(str(err).split())[:120]}") from err
        self.first_epoch, self.history = saved.epoch + 1, saved.history

    def state(self, epoch: int) -> Checkpoint:
        """The checkpoint after ``epoch`` (0-based)."""
        return Checkpoint(config=self.cfg, weights=self.model.state_dict(), epoch=epoch, history=self.history,
                          n_jets=self.n_jets, extras={} if self.extras is None else self.extras(self.model),
                          optimizer=self.opt.state_dict(), scheduler=self.sched.state_dict())

    def _sampling(self, data: _Data) -> torch.Tensor | None:
        weights = data.weights
        if self.cfg.section(PairConfig).pairing == "mass_matched" and data.targets is not None:
            # CoDec's flattening by sampling: jets drawn with their mass-matching weights
            mass = data.targets.weight.to(torch.float64)
            weights = mass if weights is None else weights * mass
        return weights

    def _loss(self, data: _Data, rows: torch.Tensor, g: torch.Generator, epoch: int,
              partners: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None) -> torch.Tensor:
        b = data.jets.index(rows)
        b2 = b if partners is None else data.jets.index(partners(rows, g))
        t = None if data.targets is None else data.targets.index(rows)
        return self.objective.step(self.cfg, self.model, b, b2, g, t, epoch)

    def epoch(self, epoch: int, progress: bool) -> float:
        """Train one epoch (seeded from ``(seed, epoch)`` alone); returns its mean loss."""
        cfg, bs = self.cfg, self.batch
        g = torch.Generator(device=self.device).manual_seed(cfg.optim.seed * 100_003 + epoch)
        torch.manual_seed(cfg.optim.seed * 7_919 + epoch)
        self.model.train()
        perm = epoch_order(self.n_jets, g, self._sampling(self.data))
        t0, total = time.perf_counter(), 0.0
        for step in range(self.steps):
            loss = self._loss(self.data, perm[step * bs:(step + 1) * bs], g, epoch, self.pairs)
            if not torch.isfinite(loss):
                raise JetCLRError(f"loss is {loss.item()} at epoch {epoch + 1} step {step + 1}; "
                                  f"stopped, the last good checkpoint is kept in {self.out}")
            self.opt.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            self.opt.step()
            self.sched.step()
            total += loss.item()
            if progress and (step % 10 == 0 or step + 1 == self.steps):
                rate = (step + 1) * bs / (time.perf_counter() - t0)
                _progress(epoch, cfg.optim.epochs, step + 1, self.steps, total / (step + 1), rate)
        seconds = time.perf_counter() - t0
        mean = total / self.steps
        self.history.append({"epoch": epoch + 1, "loss": mean, "lr": float(self.sched.get_last_lr()[0]),
                             "jets_per_s": self.steps * bs / seconds, "seconds": seconds})
        return mean

    def validation_loss(self) -> float:
        """The loss on the validation jets: the same batches, augmentations and loss definition
        (that of the last epoch) after every epoch, no dropout, no gradients."""
        assert self.val is not None
        g = torch.Generator(device=self.device).manual_seed(VALIDATION_SEED)
        torch.manual_seed(VALIDATION_SEED)  # the objective's own draws; each epoch reseeds
        order = epoch_order(len(self.val), g, self._sampling(self.val))
        steps = len(self.val) // self.batch
        self.model.eval()
        with torch.no_grad():
            total = sum(float(self._loss(self.val, order[i * self.batch:(i + 1) * self.batch], g,
                                         self.cfg.optim.epochs - 1, self.val_pairs)) for i in range(steps))
        self.model.train()
        return total / steps

    def best(self) -> tuple[int, float] | None:
        """(epoch, validation loss) of the lowest validation loss so far (None: no validation)."""
        scored = [(int(h["epoch"]), float(h["val_loss"])) for h in self.history if "val_loss" in h]
        return min(scored, key=lambda e: e[1]) if scored else None

    def stopped(self) -> bool:
        """Whether ``optim.patience`` epochs passed without a lower validation loss."""
        best, patience = self.best(), self.cfg.optim.patience
        return bool(patience and best is not None and int(self.history[-1]["epoch"]) - best[0] >= patience)


def train(
    cfg: TrainConfig, *, resume: bool = False, progress: bool = True, max_epochs: int = 0
) -> TrainResult:
    """Train the encoder of ``cfg``; checkpoints and a CSV log go to ``cfg.output_dir``.

    With a validation sample (``data.val_fraction``) each epoch's validation loss is logged,
    the epoch with the lowest is kept as ``best.pt`` (written before ``checkpoint.pt``, so
    an interruption between the two is redone on resume), and ``optim.patience`` epochs
    without a lower one end the run (a resumed run that had stopped stays stopped).

    Args:
        cfg: the run.
        resume: continue from the run's last checkpoint.
        progress: print a progress line.
        max_epochs: stop after this many epochs in this call (0: run to ``cfg.optim.epochs``);
            for batch slots shorter than the run; resuming continues.

    Raises:
        JetCLRError: bad data, an existing run without ``resume``, an incompatible
            checkpoint, or a NaN loss (the last good checkpoint is kept).
    """
    out = Path(cfg.output_dir)
    ckpt_path = out / CHECKPOINT
    _check_start(ckpt_path, resume, max_epochs)
    start = time.perf_counter()
    run = _Run.start(cfg, out, pick_device(cfg.optim.device), resume)
    out.mkdir(parents=True, exist_ok=True)
    # a finished run resumed (an idempotent pipeline): its last epoch's loss, not NaN
    epoch, last_loss = run.first_epoch, float(run.history[-1]["loss"]) if run.history else float("nan")
    last_epoch = cfg.optim.epochs if max_epochs <= 0 else min(cfg.optim.epochs, run.first_epoch + max_epochs)
    try:
        for epoch in range(run.first_epoch, last_epoch):
            if run.history and run.stopped():
                break
            last_loss = run.epoch(epoch, progress)
            if run.val is not None:
                run.history[-1]["val_loss"] = run.validation_loss()
            state = run.state(epoch)  # once: the objective's extras are computed over training jets
            best = run.best()
            if best is not None and best[0] == epoch + 1:
                state.save(out / BEST)
            state.save(ckpt_path)
            _write_log(out / LOG, run.history)
    except KeyboardInterrupt:
        run.state(epoch - 1).save(out / INTERRUPTED)
        raise JetCLRError(
            f"interrupted in epoch {epoch + 1}; state saved to {out / INTERRUPTED}; "
            f"resuming continues from the last complete epoch in {ckpt_path}"
        ) from None
    with atomic_path(out / "config.json") as tmp:
        tmp.write_text(json.dumps(cfg.to_dict(), indent=2))
    best = run.best()
    return TrainResult(
        output_dir=out, checkpoint=ckpt_path, epochs=int(run.history[-1]["epoch"]) if run.history else 0,
        final_loss=last_loss, seconds=time.perf_counter() - start, device=str(run.device),
        best_checkpoint=None if best is None else out / BEST, best_epoch=None if best is None else best[0],
        best_val_loss=None if best is None else best[1], stopped_early=bool(run.history) and run.stopped(),
    )


def _check_start(ckpt_path: Path, resume: bool, max_epochs: int) -> None:
    if ckpt_path.exists() and not resume:
        raise ParameterError("resume",
                             f"not given, but {ckpt_path} exists: resume it, or choose another output")
    if resume and not ckpt_path.exists():
        raise ParameterError("resume", f"given, but there is no {ckpt_path}")
    if max_epochs < 0:
        raise ParameterError("max_epochs", f"must be 0 (all) or positive, got {max_epochs}")


def _write_log(path: Path, history: list[dict[str, float]]) -> None:
    with atomic_path(path) as tmp, tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)
