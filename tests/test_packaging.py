"""What an installed jetclr-coffea holds and needs: the wheel, and a runtime without torch."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: What the wheel is built from (pyproject.toml's package-dir and readme).
SOURCES = ("pyproject.toml", "README.md", "jetclr_coffea", "processors", "training", "onnx_models")
SHIPPED = ("jetclr_top", "darkclr_qcd", "ot_medoids_qcd", "vae_emd_qcd", "codec_twoprong", "lot_qcd")


def test_the_wheel_installs_and_runs_from_a_fresh_environment(tmp_path: Path) -> None:
    """Build the wheel, install it into a new virtual environment (its dependencies seen from
    this one's site-packages, the project's own source not), load every shipped model from the
    installed package data and run ``jetclr-coffea demo --help``."""
    src, dist = tmp_path / "src", tmp_path / "dist"
    for name in SOURCES:  # a copy: setuptools writes build/ and *.egg-info into the tree it builds
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy2
        src.mkdir(exist_ok=True)
        copy(ROOT / name, src / name, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                         if (ROOT / name).is_dir() else {}))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(dist), str(src)], check=True, capture_output=True, timeout=300)
    (wheel,) = dist.glob("jetclr_coffea-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "jetclr_coffea/py.typed" in names
    for model in SHIPPED:
        assert f"jetclr_coffea/models/{model}.onnx" in names and f"jetclr_coffea/models/{model}.md" in names
    env_dir = tmp_path / "env"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    # the dependencies from here; a plain path line does not run the editable install's hooks
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--quiet", "--no-deps",
                    "--no-index", str(wheel)], check=True, capture_output=True, timeout=300)
    run_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = ("import jetclr_coffea, pathlib; from jetclr_coffea.models import shipped_model, shipped_models; "
            "from jetclr_coffea.inference import OnnxJetModel; "
            f"assert pathlib.Path(jetclr_coffea.__file__).is_relative_to({str(site)!r}), "
            "jetclr_coffea.__file__; "
            "print(' '.join(n for n in shipped_models() if OnnxJetModel(shipped_model(n)).card))")
    out = subprocess.run([str(py), "-c", code], check=True, capture_output=True, text=True, cwd=tmp_path,
                         env=run_env, timeout=300)
    assert sorted(out.stdout.split()) == sorted(SHIPPED)
    cli = subprocess.run([str(env_dir / "bin" / "jetclr-coffea"), "demo", "--help"], capture_output=True,
                         text=True, cwd=tmp_path, env=run_env, timeout=300)
    assert cli.returncode == 0, cli.stderr
    assert "six shipped models" in " ".join(cli.stdout.split())


def test_the_processors_run_every_shipped_model_without_torch(samples: dict[str, Path]) -> None:
    """The coffea side (reader, preprocessing, model card, inference, processors) never imports
    torch: with torch made unimportable, a Runner job over every shipped model and
    ``tag_fatjets`` still run."""
    code = f"""
import sys
sys.modules["torch"] = None  # any 'import torch' now raises ImportError
import numpy as np, awkward as ak, json, pathlib, tempfile
from coffea.nanoevents import NanoEventsFactory
from jetclr_coffea.models import shipped_model, shipped_models
from jetclr_coffea.processors import FatJetSelection, LearnedJetTagProcessor
from jetclr_coffea.processors.run import RunOptions, load_fileset, run
from jetclr_coffea.processors.schema import QuietPFNanoAODSchema
models = [shipped_model(n) for n in shipped_models()]
proc = LearnedJetTagProcessor(models, FatJetSelection())
fs = pathlib.Path(tempfile.mkdtemp()) / "fs.json"
fs.write_text(json.dumps({{"top": [{str(samples["top"])!r}]}}))
result = run(load_fileset(fs), proc, RunOptions(maxchunks=1, chunksize=20))
events = NanoEventsFactory.from_root({{{str(samples["top"])!r}: "Events"}}, schemaclass=QuietPFNanoAODSchema,
                                     mode="eager", entry_stop=20).events()
tagged = proc.tag_fatjets(events)
finite = [int(np.isfinite(ak.to_numpy(ak.flatten(tagged[f"{{m.stem}}_anomaly_score"]))).sum()) for m in models
          if f"{{m.stem}}_anomaly_score" in tagged.fields]
loaded = "torch" in sys.modules and sys.modules["torch"] is not None
print(result.datasets["top"].cutflow["scored"], min(finite), loaded)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    scored, finite, torch_loaded = out.stdout.strip().splitlines()[-1].split()
    assert float(scored) > 0 and int(finite) > 0 and torch_loaded == "False"

