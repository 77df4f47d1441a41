"""``evaluate``'s refusals: inputs that would give a wrong number without a word (issue 24)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from jetclr_coffea.training.evaluate import evaluate

from jetclr_coffea.cli import main
from jetclr_coffea.errors import ParameterError

MODEL = Path(__file__).resolve().parents[1] / "onnx_models" / "jetclr_top.onnx"


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"signal": "top top"}, "lists .*top.root twice"),
    ({"background": "qcd link"}, "lists .*twice"),
    ({"background": "top"}, "is also a signal file"),
    ({"ddt_background": ["qcd2"]}, "two_prong only"),
    ({"ddt_background": ["qcd"], "signal_label": "two_prong"}, "is a test file"),
    ({"max_jets": -5}, "must be >= 0"),
])
def test_refused_before_any_work(tmp_path: Path, samples: dict[str, Path], kwargs: dict[str, object],
                                 match: str) -> None:
    link = tmp_path / "link.root"
    os.symlink(samples["qcd"], link)
    files = {**{k: str(v) for k, v in samples.items()}, "link": str(link), "qcd2": str(samples["qcd"]) + "x"}
    args: dict[str, object] = {"signal": "top", "background": "qcd", **kwargs}
    sig = [files[k] for k in str(args.pop("signal")).split()]
    bkg = [files[k] for k in str(args.pop("background")).split()]
    if "ddt_background" in args:
        args["ddt_background"] = [files.get(str(k), str(k)) for k in args["ddt_background"]]  # type: ignore[attr-defined]
    with pytest.raises(ParameterError, match=match):
        evaluate(MODEL, sig, bkg, tmp_path / "ev", **args)  # type: ignore[arg-type]
    assert not (tmp_path / "ev" / "metrics.json").exists()


def test_too_small_a_test_half(tmp_path: Path, samples: dict[str, Path]) -> None:
    with pytest.raises(ParameterError, match=r"leaves .* test jets"):
        evaluate(MODEL, [str(samples["top"])], [str(samples["qcd"])], tmp_path / "ev", test_fraction=0.01)


def test_fit_head_never_overwrites_an_input(tmp_path: Path, samples: dict[str, Path],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "m.onnx"
    model.write_bytes(MODEL.read_bytes())
    before = hashlib.sha256(model.read_bytes()).hexdigest()
    assert main(["evaluate", str(model), "--signal", str(samples["top"]), "--background", str(samples["qcd"]),
                 "--output-dir", str(tmp_path / "ev"), "--fit-head", str(model)]) == 2
    assert "is an input model" in capsys.readouterr().err
    assert hashlib.sha256(model.read_bytes()).hexdigest() == before
    assert main(["evaluate", str(model), "--signal", str(samples["top"]), "--background", str(samples["qcd"]),
                 "--output-dir", str(tmp_path / "ev"), "--fit-head", str(tmp_path / "no" / "t.onnx")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "ev" / "metrics.json").exists()  # refused before the evaluation


def test_metrics_json_is_strict(tmp_path: Path, samples: dict[str, Path]) -> None:
    evaluate(MODEL, [str(samples["top"])], [str(samples["qcd"])], tmp_path / "ev")
    text = (tmp_path / "ev" / "metrics.json").read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))


def test_too_few_qcd_jets_for_the_ddt_maps(tmp_path: Path, samples: dict[str, Path], rewrite: Any) -> None:
    from jetclr_coffea.errors import JetCLRError

    def first_five(data: dict[str, Any]) -> None:
        for k in data:
            data[k] = data[k][:5]

    tiny = rewrite(samples["qcd"], tmp_path / "tiny_qcd.root", first_five)
    with pytest.raises(JetCLRError, match="the landscape's DDT maps need at least"):
        evaluate(MODEL, [str(samples["wprime-flat"])], [str(samples["qcd"])], tmp_path / "ev",
                 signal_label="two_prong", ddt_background=[str(tiny)])
