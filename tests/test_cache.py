"""training/cache.py: the prepared-input cache streams the same jets, and trains the same
weights, as the jets held in memory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from jetclr_coffea.training import data as data_module
from jetclr_coffea.training.checkpoint import load_checkpoint
from jetclr_coffea.training.data import MappedJets, load_jets, to_batch
from jetclr_coffea.training.loading import load_config
from jetclr_coffea.training.train import train

from jetclr_coffea.errors import JetCLRError
from jetclr_coffea.preprocessing import PreprocessSpec

WINDOW = {"pt_min": 200.0, "pt_max": 5000.0, "eta_max": 2.4}


def test_cached_jets_are_the_jets_in_memory_and_stay_on_disk(samples: dict[str, Path], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    files = [str(samples["qcd"]), str(samples["top"])]
    spec = PreprocessSpec(n_max=30)
    memory = load_jets(files, spec, **WINDOW)
    cached = load_jets(files, spec, **WINDOW, cache=tmp_path / "cache")
    assert isinstance(cached.arrays.pt, np.memmap) and isinstance(cached.arrays.mask, np.memmap)
    for name in ("deta", "dphi", "pt", "energy", "charge", "mask"):  # float32: training's precision
        np.testing.assert_array_equal(getattr(cached.arrays, name),
                                      getattr(memory.arrays, name).astype(getattr(cached.arrays, name).dtype))
    for name in ("labels", "pt", "weight", "event", "observables", "eta", "phi"):
        np.testing.assert_array_equal(getattr(cached, name), getattr(memory, name))
    # a second read takes the entry and opens no ROOT file
    monkeypatch.setattr(data_module, "read_events", lambda *a, **k: pytest.fail("read a ROOT file"))
    again = load_jets(files, spec, **WINDOW, cache=tmp_path / "cache")
    np.testing.assert_array_equal(again.arrays.pt, cached.arrays.pt)
    # another window is another entry (and so reads the files)
    with pytest.raises(pytest.fail.Exception, match="read a ROOT file"):
        load_jets(files, spec, **{**WINDOW, "pt_min": 300.0}, cache=tmp_path / "cache")
    assert len(list((tmp_path / "cache").iterdir())) == 1  # the failed build left nothing behind
    # batches read from disk are the rows asked for, in their order
    rows = torch.tensor([5, 0, 17, 5, 2])
    mapped = MappedJets(cached.arrays, np.arange(len(cached), dtype=np.int64), torch.device("cpu"))
    whole = to_batch(memory.arrays)
    for name in ("deta", "pt", "mask"):
        torch.testing.assert_close(getattr(mapped.index(rows), name), getattr(whole.index(rows), name))
    sub = mapped.subset(torch.tensor([3, 9, 1]))
    torch.testing.assert_close(sub.index(torch.tensor([2, 0])).pt, whole.index(torch.tensor([1, 3])).pt)


def test_training_from_the_cache_gives_the_same_weights(tiny_config: Callable[..., Path], tmp_path: Path,
                                                        samples: dict[str, Path]) -> None:
    plain = load_config(tiny_config(tmp_path, samples, name="plain", data={"val_fraction": 0.2}))
    streamed = load_config(tiny_config(tmp_path, samples, name="streamed",
                                       data={"val_fraction": 0.2, "cache": "cache"}))
    assert streamed.data.cache == str((tmp_path / "cache").resolve())  # relative to the config file
    a, b = (load_checkpoint(train(c, progress=False).checkpoint) for c in (plain, streamed))
    assert [h["val_loss"] for h in a.history] == [h["val_loss"] for h in b.history]
    for key, value in a.weights.items():
        assert torch.equal(value, b.weights[key]), key


def test_a_damaged_cache_entry_is_one_line(samples: dict[str, Path], tmp_path: Path) -> None:
    files = [str(samples["qcd"])]
    load_jets(files, PreprocessSpec(n_max=30), **WINDOW, cache=tmp_path)
    (entry,) = tmp_path.iterdir()
    (entry / "pt.bin").write_bytes(b"short")
    with pytest.raises(JetCLRError, match="damaged training cache entry"):
        load_jets(files, PreprocessSpec(n_max=30), **WINDOW, cache=tmp_path)
    with pytest.raises(JetCLRError, match="no fat jet"):
        load_jets(files, PreprocessSpec(n_max=30), **{**WINDOW, "pt_min": 4900.0}, cache=tmp_path / "x")
    assert not any((tmp_path / "x").iterdir())  # nothing half-written
