"""A training checkpoint, typed: what ``train`` writes after every epoch and ``export``,
``--resume`` and fine-tuning (``supervised.init_from``) read.

On disk it is a ``torch.save`` of a plain mapping (``model``, ``optimizer``, ``scheduler``,
``epoch``, ``history``, ``config``, ``n_jets`` and the objective's extras at the top level),
so a checkpoint stays readable without this class; in memory it is a :class:`Checkpoint`
whose config is a parsed :class:`~jetclr_coffea.training.config.TrainConfig`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from jetclr_coffea._io import atomic_path
from jetclr_coffea.errors import JetCLRError

from .config import TrainConfig
from .loading import parse_config
from .objectives import Objective, get_objective
from .objectives.base import Summary

__all__ = ["Checkpoint", "load_checkpoint", "load_model"]

_KEYS = ("model", "optimizer", "scheduler", "epoch", "history", "config", "n_jets")


@dataclass(frozen=True)
class Checkpoint:
    """The state of a run after epoch ``epoch``.

    Attributes:
        config: the run's config.
        weights: the model's state dict.
        epoch: the last complete epoch, 0-based.
        history: one row per epoch (``epoch``, ``loss``, ``lr``, ``jets_per_s``, ``seconds``,
            ``val_loss`` with a validation sample): the run's log.csv.
        n_jets: training jets.
        extras: what the objective records (:meth:`Objective.checkpoint_extras`).
        optimizer, scheduler: their state dicts, to resume exactly (None: not kept).
    """

    config: TrainConfig
    weights: dict[str, torch.Tensor]
    epoch: int
    history: list[dict[str, float]]
    n_jets: int
    extras: dict[str, Summary] = field(default_factory=dict)
    optimizer: dict[str, object] | None = None
    scheduler: dict[str, object] | None = None

    @property
    def objective(self) -> Objective:
        return get_objective(self.config.objective)

    def to_dict(self) -> dict[str, object]:
        """The mapping saved on disk."""
        return {"model": self.weights, "optimizer": self.optimizer, "scheduler": self.scheduler,
                "epoch": self.epoch, "history": self.history, "config": self.config.to_dict(),
                "n_jets": self.n_jets, **self.extras}

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write it to ``path`` atomically (a temporary name, then a rename)."""
        with atomic_path(path) as tmp:
            torch.save(self.to_dict(), tmp)


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """A training checkpoint.

    Raises:
        JetCLRError: missing, unreadable, or not a jetclr-coffea checkpoint.
    """
    p = Path(path)
    if not p.is_file():
        raise JetCLRError(f"{p}: no such checkpoint")
    try:
        data = torch.load(p, map_location="cpu", weights_only=False)
    except Exception as err:
        raise JetCLRError(f"{p}: not a readable checkpoint ({type(err).__name__})") from err
    if not isinstance(data, dict) or not {"model", "config", "epoch"} <= set(data):
        raise JetCLRError(f"{p}: not a jetclr-coffea training checkpoint")
    try:
        config = parse_config(data["config"], strict=False)
    except JetCLRError as err:
        raise JetCLRError(f"{p}: its config: {err}") from err
    return Checkpoint(config=config, weights=data["model"], epoch=int(data["epoch"]),
                      history=list(data.get("history") or []), n_jets=int(data.get("n_jets") or 0),
                      extras={k: v for k, v in data.items() if k not in _KEYS and isinstance(v, dict)},
                      optimizer=data.get("optimizer"), scheduler=data.get("scheduler"))


def load_model(ckpt: Checkpoint) -> torch.nn.Module:
    """The model of a checkpoint (built by its objective), in eval mode, on the CPU."""
    model = ckpt.objective.build_model(ckpt.config)
    try:
        model.load_state_dict(ckpt.weights)
    except RuntimeError as err:
        reason = str(err).splitlines()[0]
        raise JetCLRError(f"checkpoint weights do not fit its model config: {reason}") from err
    return model.eval()
