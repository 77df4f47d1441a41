"""Every bad input of the command line is one line naming the file or value, exit 2."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path
from typing import Any

import pytest

from jetclr_coffea.cli import _parser, main

MODEL = Path(__file__).resolve().parents[1] / "onnx_models" / "jetclr_top.onnx"


@pytest.fixture(scope="module")
def bad(samples: dict[str, Path], no_pf_candidates: Path,
        tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Bad inputs: files, filesets, configs and models."""
    import uproot

    d = tmp_path_factory.mktemp("bad")
    out: dict[str, Path] = {"qcd": samples["qcd"], "nocands": no_pf_candidates}
    with uproot.recreate(d / "other_tree.root") as f:
        f["Other"] = {"x": [1.0, 2.0]}
    out["other_tree"] = d / "other_tree.root"
    (d / "empty.root").write_bytes(b"")
    out["empty"] = d / "empty.root"
    (d / "truncated.root").write_bytes(samples["qcd"].read_bytes()[:6000])
    out["truncated"] = d / "truncated.root"
    (d / "afile").write_text("x")
    out["afile"] = d / "afile"

    def fileset(name: str, content: Any) -> None:
        (d / f"{name}.json").write_text(json.dumps(content))
        out[f"fs_{name}"] = d / f"{name}.json"

    fileset("other_tree", {"x": [str(out["other_tree"])]})
    fileset("nonstring", {"qcd": [1]})
    fileset("string", {"qcd": "qcd.root"})
    fileset("xrootd", {"qcd": ["root://eos.example//store/x.root"]})
    fileset("qcd", {"qcd": [str(samples["qcd"])]})
    fileset("nocands", {"qcd": [str(no_pf_candidates)]})

    def config(name: str, optim: str, files: Path = samples["qcd"]) -> None:
        (d / f"{name}.yaml").write_text(f"name: {name}\noutput: {d / ('run_' + name)}\n"
                                        f"data: {{files: [{files}]}}\noptim: {optim}\n")
        out[f"cfg_{name}"] = d / f"{name}.yaml"

    config("batch0", "{batch_size: 0}")
    config("lr0", "{lr: 0}")
    config("lrneg", "{lr: -1.0e-3}")
    config("truncated", "{epochs: 1}", out["truncated"])

    if importlib.util.find_spec("onnx") is not None:
        import onnx

        from jetclr_coffea.model_card import METADATA_KEY

        def model(name: str, edit: Any) -> None:
            m = onnx.load(str(MODEL))
            prop = next(p for p in m.metadata_props if p.key == METADATA_KEY)
            from jetclr_coffea.onnx_io import read_card

            data = read_card(MODEL).to_dict()  # the current card format
            new = edit(data, m)
            if new is not None:
                prop.value = new
            elif data:
                prop.value = json.dumps(data)
            onnx.save(m, str(d / f"{name}.onnx"))
            out[f"model_{name}"] = d / f"{name}.onnx"

        model("corrupt", lambda data, m: "{broken")
        model("version", lambda data, m: data.update(format_version=7))
        model("graph", lambda data, m: data["outputs"].update(embedding=[16]))
        model("nocard", lambda data, m: m.metadata_props.remove(
            next(p for p in m.metadata_props if p.key == METADATA_KEY)) or "")
    return out


CASES = [
    (["run", "{fs_other_tree}", "--model", "{model}", "-o", "{tmp}/o"], "other_tree.root: no 'Events' tree"),
    (["ddt-map", "{fs_other_tree}", "--model", "{model}", "-o", "{tmp}/m.json"],
     "other_tree.root: no 'Events' tree"),
    (["inspect", "{truncated}"], "truncated.root: "),
    (["inspect", "{empty}"], "empty.root: not a readable ROOT file"),
    (["evaluate", "{model}", "--signal", "{truncated}", "--background", "{qcd}", "--output-dir", "{tmp}/e"],
     "truncated.root: "),
    (["train", "{cfg_truncated}"], "truncated.root: "),
    (["run", "{fs_nonstring}", "--model", "{model}", "-o", "{tmp}/o"],
     "dataset 'qcd' lists 1, not a file name"),
    (["run", "{fs_string}", "--model", "{model}", "-o", "{tmp}/o"], "a list of files is expected"),
    (["run", "{fs_qcd}", "--model", "{model}", "-o", "{tmp}/o", "--executor", "dask",
      "--scheduler", "tcp://127.0.0.1:9"], "cannot reach the dask scheduler at tcp://127.0.0.1:9"),
    (["run", "{fs_qcd}", "--model", "{model}", "-o", "{afile}/o"], "does not exist"),
    (["run", "{fs_qcd}", "--model", "{model}", "-o", "{afile}"], "exists and is not a folder"),
    (["evaluate", "{model}", "--signal", "{qcd}", "--background", "{qcd}", "--output-dir", "{afile}"],
     "--output-dir " ),
    (["evaluate", "{model}", "--signal", "{qcd}", "--background", "{qcd}", "--test-fraction", "0",
      "--output-dir", "{tmp}/e"], "--test-fraction must be between 0 and 1, got 0.0"),
    (["evaluate", "{model}", "--signal", "{qcd}", "--background", "{qcd}", "--test-fraction", "1",
      "--output-dir", "{tmp}/e"], "--test-fraction must be between 0 and 1, got 1.0"),
    (["train", "{cfg_batch0}"], "batch_size must be at least 2"),
    (["train", "{cfg_lr0}"], "lr must be positive, got 0.0"),
    (["train", "{cfg_lrneg}"], "lr must be positive, got -0.001"),
    (["run", "{fs_qcd}", "--model", "{model_corrupt}", "-o", "{tmp}/o"],
     "corrupt.onnx: model card is not valid JSON"),
    (["run", "{fs_qcd}", "--model", "{model_version}", "-o", "{tmp}/o"],
     "version.onnx: model card format_version 7 is not one"),
    (["run", "{fs_qcd}", "--model", "{model_graph}", "-o", "{tmp}/o"],
     "graph.onnx: model card does not match the graph: output 'embedding'"),
    (["run", "{fs_qcd}", "--model", "{model_nocard}", "-o", "{tmp}/o"],
     "nocard.onnx: no 'jetclr_coffea' metadata"),
    (["run", "{fs_nocands}", "--model", "{model}", "-o", "{tmp}/o"],
     "nocands.root: no PF-candidate branches"),
    (["run", "{fs_qcd}", "--model", "{model}", "-o", "{tmp}/o", "--workers", "2"],
     "--workers has no meaning with the iterative executor"),
    (["run", "{fs_qcd}", "--model", "{model}", "-o", "{tmp}/o", "--scheduler", "tcp://127.0.0.1:9"],
     "--scheduler has no meaning with the iterative executor"),
]


@pytest.mark.parametrize(("argv", "message"), CASES, ids=[f"{c[0][0]}-{i}" for i, c in enumerate(CASES)])
def test_one_line_errors(bad: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
                         argv: list[str], message: str) -> None:
    values = {k: str(v) for k, v in bad.items()} | {"model": str(MODEL), "tmp": str(tmp_path)}
    if any("{model_" in a for a in argv) and importlib.util.find_spec("onnx") is None:
        pytest.skip("needs the [train] extra to edit models")
    start = time.perf_counter()
    assert main([a.format(**values) for a in argv]) == 2
    lines = capsys.readouterr().err.rstrip().splitlines()
    errors = [line for line in lines if line.startswith("jetclr-coffea: error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], lines  # (evaluate's progress lines come first)
    assert message in errors[0], errors[0]
    assert all(line.startswith("  ") for line in lines[:-1]) and "Traceback" not in "".join(lines)
    assert time.perf_counter() - start < 60  # no silent wait


def test_root_protocol_without_xrootd_names_the_package(bad: dict[str, Path], tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    if importlib.util.find_spec("fsspec_xrootd") is not None:
        pytest.skip("fsspec-xrootd is installed here")
    assert main(["run", str(bad["fs_xrootd"]), "--model", str(MODEL), "-o", str(tmp_path / "o")]) == 2
    assert "pip install fsspec-xrootd" in capsys.readouterr().err


def test_every_subcommand_describes_itself_with_defaults() -> None:
    parser = _parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():  # type: ignore[union-attr]
        assert p.description, name
        if name != "inspect":  # (its only argument is the files)
            assert "default:" in p.format_help(), name
    run_help = sub.choices["run"].format_help()  # type: ignore[index]
    assert "{iterative,futures,dask}" in run_help and "(default: iterative)" in run_help
    assert "{top,two_prong,dark,any}" in sub.choices["evaluate"].format_help()  # type: ignore[index]


def test_an_option_given_twice_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    from jetclr_coffea.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "m.onnx", "--signal", "a.root", "--signal", "b.root", "--background", "c.root"])
    assert exc.value.code == 2
    assert "--signal given more than once" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["ddt-map", "fs.json", "--model", "a.onnx", "--model", "b.onnx", "-o", "m.json"])
    assert "--model given more than once" in capsys.readouterr().err


def test_strict_json_has_no_nan_or_infinity() -> None:
    import json

    import numpy as np

    from jetclr_coffea._io import strict_json

    text = strict_json({"r50": float("inf"), "x": [np.float64("nan"), 1.5, (2, -np.inf)], "n": np.int64(3)})
    assert json.loads(text) == {"r50": None, "x": [None, 1.5, [2, None]], "n": 3}
    assert "Infinity" not in text and "NaN" not in text


@pytest.mark.parametrize("budget", ["inf", "1e400GB", "nanGB"])
def test_memory_budget_must_be_finite(budget: str) -> None:
    from jetclr_coffea.processors.memory import parse_size

    from jetclr_coffea.errors import ParameterError

    with pytest.raises(ParameterError, match="memory_budget"):
        parse_size(budget)


def test_train_help_lists_every_objective(capsys: pytest.CaptureFixture[str]) -> None:
    from jetclr_coffea.training.objectives import OBJECTIVES

    from jetclr_coffea.cli import main

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert all(name in text for name in OBJECTIVES) and len(OBJECTIVES) >= 6
