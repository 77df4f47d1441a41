"""The command line: one-line errors, atomic output, inspect."""

from __future__ import annotations

from pathlib import Path

import pytest

from jetclr_coffea._io import atomic_path
from jetclr_coffea.cli import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["generate", "ttbarx", "--events", "5", "-o", "{out}"], "unknown process 'ttbarx'"),
        (["generate", "qcd", "--events", "0", "-o", "{out}"], "--events must be a positive"),
        (["generate", "qcd", "--events", "5", "-o", "/no/such/dir/x.root"], "does not exist"),
        (["generate", "qcd", "--events", "5", "--seed", "0", "-o", "{out}"], "seed must be"),
        (["generate", "wprime-flat", "--events", "5", "--mass-min", "300", "-o", "{out}"],
         "mass_min < mass_max"),
        (["inspect", "{missing}"], "no such file"),
    ],
)
def test_bad_arguments_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    out = tmp_path / "out.root"
    out.write_bytes(b"precious")
    argv = [a.format(out=out, missing=tmp_path / "missing.root") for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert out.read_bytes() == b"precious"  # nothing the user had is lost
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.root"]  # no temporary left


def test_usage_error_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["generate", "qcd"])
    assert info.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_inspect_not_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.root"
    bad.write_text("not root")
    assert main(["inspect", str(bad)]) == 2
    assert "not a readable ROOT file" in capsys.readouterr().err


def test_inspect_generated(samples: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(samples["top"])]) == 0
    out = capsys.readouterr().out
    assert "constituent convention:    PFNano" in out
    assert "events:                    150" in out


def test_generate_command_writes_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "q.root"
    assert main(["generate", "qcd", "--events", "4", "--seed", "3", "-o", str(out), "-q"]) == 0
    assert out.is_file() and "4 qcd events" in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir()] == ["q.root"]


def test_atomic_path_keeps_original_on_error(tmp_path: Path) -> None:
    target = tmp_path / "keep.txt"
    target.write_text("old")
    def write_then_fail() -> None:
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        write_then_fail()
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
