"""The benchmark scripts' result files: written whole or not at all."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _record_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_record", ROOT / "benchmarks" / "_record.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_record_writes_results_with_machine(tmp_path: Path) -> None:
    path = _record_module().record("x", {"auc": 0.75}, folder=str(tmp_path))
    doc = json.loads(path.read_text())
    assert doc["benchmark"] == "x"
    assert doc["results"] == {"auc": 0.75}
    assert doc["machine"]["cores"] >= 1


def test_failing_record_keeps_previous_numbers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record = _record_module().record
    path = record("x", {"auc": 0.75}, folder=str(tmp_path))
    before = path.read_text()
    with pytest.raises(TypeError):
        record("x", {"auc": object()}, folder=str(tmp_path))  # not JSON
    assert path.read_text() == before

    def half_then_fail(self: Path, text: str, *args: object, **kwargs: object) -> int:
        with open(self, "w") as f:  # a full disk: half the text lands, then the write fails
            f.write(text[: len(text) // 2])
        raise OSError("No space left on device")

    monkeypatch.setattr(Path, "write_text", half_then_fail)
    with pytest.raises(OSError, match="No space"):
        record("x", {"auc": 0.80}, folder=str(tmp_path))
    monkeypatch.undo()
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]  # no temporary left behind


@pytest.mark.parametrize("name", ["/dev/null", "../x", "a/b", "", ".hidden"])
def test_record_name_must_be_plain(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="plain file name"):
        _record_module().record(name, {"auc": 0.75}, folder=str(tmp_path))
    assert list(tmp_path.iterdir()) == []
