"""examples/analysis.py, the analyst's Runner script, run as the README shows it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from jetclr_coffea.processors import FatJetSelection
from jetclr_coffea.processors.run import RunOptions, load_fileset, make_ddt_map

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "onnx_models" / "jetclr_top.onnx"


def test_analysis_example_runs_quietly(samples: dict[str, Path], tmp_path: Path) -> None:
    """Fileset -> Runner (futures, 2 workers) -> processor -> pass/fail plot, and none of
    PFNanoAODSchema's per-chunk warnings about collections the files lack."""
    fileset = tmp_path / "fileset.json"
    fileset.write_text(json.dumps({"qcd": [str(samples["qcd"])], "top": [str(samples["top"])]}))
    qcd = tmp_path / "qcd.json"
    qcd.write_text(json.dumps({"qcd": [str(samples["qcd"])]}))
    ddt = make_ddt_map(load_fileset(qcd), str(MODEL), tmp_path / "ddt.json", score=None,
                       efficiency=0.05, opts=RunOptions(), selection=FatJetSelection(pt_min=300))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "analysis.py"), str(fileset), str(MODEL), str(ddt)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "qcd_pass_fail.png").stat().st_size > 10_000
    assert "Missing cross-reference" not in proc.stderr
    assert "Warning" not in proc.stderr, proc.stderr[-2000:]
