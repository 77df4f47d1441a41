"""The validation sample, the best checkpoint and early stopping; classes given per dataset."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from jetclr_coffea.training.checkpoint import load_checkpoint
from jetclr_coffea.training.loading import load_config
from jetclr_coffea.training.reweight import training_jets
from jetclr_coffea.training.split import validation_mask
from jetclr_coffea.training.train import train

from jetclr_coffea.errors import JetCLRError
from jetclr_coffea.truth import QCD, TOP


def _events(files: int, entries: int) -> np.ndarray:
    return np.stack([np.repeat(np.arange(files), entries), np.tile(np.arange(entries), files)], axis=1)


def test_validation_mask_is_a_function_of_the_event() -> None:
    ev = _events(3, 20_000)
    m = validation_mask(ev, 0.2)
    # about the share asked in every file (binomial error ~0.003)
    assert all(abs(m[ev[:, 0] == i].mean() - 0.2) < 0.015 for i in range(3))
    # the same event is on the same side whatever the order or the other jets
    perm = np.random.default_rng(1).permutation(len(ev))
    np.testing.assert_array_equal(validation_mask(ev[perm], 0.2), m[perm])
    doubled = np.concatenate([ev, ev])  # two jets of each event
    assert np.array_equal(validation_mask(doubled, 0.2), np.concatenate([m, m]))
    # a larger share holds out a superset; none at 0
    assert np.all(validation_mask(ev, 0.3)[m]) and not validation_mask(ev, 0.0).any()
    with pytest.raises(ValueError, match="fraction"):
        validation_mask(ev, 1.0)


def test_best_checkpoint_and_early_stopping(tiny_config: Callable[..., Path], tmp_path: Path,
                                            samples: dict[str, Path]) -> None:
    """Every epoch logs its validation loss; best.pt is the lowest one's; patience stops the
    run, and a resumed stopped run stays stopped."""
    path = tiny_config(tmp_path, samples, name="val", data={"val_fraction": 0.3},
                       optim={"epochs": 6, "patience": 1, "lr": 3e-2, "batch_size": 32})
    result = train(load_config(path), progress=False)
    history = load_checkpoint(result.checkpoint).history
    losses = [h["val_loss"] for h in history]
    assert all(np.isfinite(losses)) and result.best_epoch == 1 + int(np.argmin(losses))
    assert result.best_val_loss == min(losses)
    best = load_checkpoint(result.best_checkpoint or "")
    assert best.epoch + 1 == result.best_epoch
    if result.stopped_early:  # one epoch without improvement after the best one
        assert len(history) == result.best_epoch + 1 < 6
    else:
        assert len(history) == 6
    again = train(load_config(path), resume=True, progress=False)
    assert again.epochs == result.epochs and again.stopped_early == result.stopped_early


def test_validation_jets_are_not_trained_on(tiny_config: Callable[..., Path], tmp_path: Path,
                                            samples: dict[str, Path]) -> None:
    """The checkpoint counts only the training part; too few validation jets is refused."""
    whole = train(load_config(tiny_config(tmp_path, samples, name="all", optim={"epochs": 1})),
                  progress=False)
    part = train(load_config(tiny_config(tmp_path, samples, name="part", data={"val_fraction": 0.25},
                                         optim={"epochs": 1})), progress=False)
    n_all, n_part = (load_checkpoint(r.checkpoint).n_jets for r in (whole, part))
    assert 0.6 * n_all < n_part < 0.9 * n_all
    with pytest.raises(JetCLRError, match="fewer than one batch of 64"):
        train(load_config(tiny_config(tmp_path, samples, name="few", data={"val_fraction": 0.01})),
              progress=False)


@pytest.mark.parametrize(("change", "message"), [
    ({"optim": {"patience": 2}}, "set data.val_fraction"),
    ({"data": {"val_fraction": 0.5}}, r"val_fraction must be in \[0, 0.5\)"),
    ({"data": {"labels": {"qcd": "background"}}}, "give a fileset"),
])
def test_bad_validation_and_label_settings(tiny_config: Callable[..., Path], tmp_path: Path,
                                           samples: dict[str, Path], change: dict[str, object],
                                           message: str) -> None:
    with pytest.raises(JetCLRError, match=message):
        load_config(tiny_config(tmp_path, samples, **change))


def test_labels_per_dataset(tiny_config: Callable[..., Path], tmp_path: Path,
                            samples: dict[str, Path]) -> None:
    """A fileset's datasets give their jets a class instead of the truth (top's unmerged jets
    become signal too); a dataset the fileset lacks, or an unknown class, is one line."""
    fs = tmp_path / "fs.json"
    fs.write_text(json.dumps({"bkg": [str(samples["qcd"])], "sig": [str(samples["top"])]}))
    data = {"files": [], "fileset": str(fs), "labels": {"bkg": "background", "sig": "signal"}}
    cfg = load_config(tiny_config(tmp_path, samples, data=data))
    truth = training_jets(load_config(tiny_config(tmp_path, samples, name="t", data={
        "files": [], "fileset": str(fs)})).data, cfg.preprocessing)
    given = training_jets(cfg.data, cfg.preprocessing)
    from_top = given.source == 1
    assert np.all(given.labels[from_top] == TOP) and np.all(given.labels[~from_top] == QCD)
    assert (truth.labels[from_top] != TOP).any()  # the truth differs: the labels were applied
    bad = {**data, "labels": {"zprime": "signal"}}
    with pytest.raises(JetCLRError, match=r"'zprime', not a dataset of the fileset"):
        training_jets(load_config(tiny_config(tmp_path, samples, name="b", data=bad)).data, cfg.preprocessing)
    with pytest.raises(JetCLRError, match=r"labels\.sig must be one of signal, background"):
        load_config(tiny_config(tmp_path, samples, name="c", data={**data, "labels": {"sig": "top"}}))
