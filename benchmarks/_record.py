"""Shared helpers of the benchmark scripts: machine description, result files, input jets."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["best_time", "machine", "prepared_jets", "record"]


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version()}
    try:
        import torch

        info["torch"] = torch.__version__
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    try:
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    return info


def record(name: str, results: dict[str, Any], folder: str = "benchmarks/results") -> Path:
    """Write ``results`` with the machine and a timestamp to ``folder/name.json``.

    The file is written under a temporary name and renamed, so an interrupted or failing
    write (a result that is not JSON) leaves the recorded numbers as they were.
    """
    from jetclr_coffea._io import atomic_path

    if not name or Path(name).name != name or name.startswith("."):
        raise ValueError(f"record name {name!r}: give a plain file name (it goes to {folder}/NAME.json)")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    payload = {"benchmark": name, "when": time.strftime("%Y-%m-%d %H:%M:%S"),
               "machine": machine(), "results": results}
    text = json.dumps(payload, indent=2)  # fails before anything is written
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path


def best_time(fn: Callable[[], Any], repeats: int = 3) -> tuple[float, Any]:
    """Shortest wall time of ``repeats`` calls (a first call's set-up is not counted
    unless every call pays it), and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def prepared_jets(files: list[str], model: Any, n: int) -> tuple[Any, Any, Any]:
    """n prepared jets (x, mask, jet) of the files for ``model`` (an ``OnnxJetModel``; ``jet``
    its jet features, None for a model without), repeated as needed; jets without
    constituents dropped.  Run them with ``model.run_arrays(x, mask, jet)``."""
    import awkward as ak
    import numpy as np
    import uproot

    from jetclr_coffea.reader import read_constituents

    xs, masks, jets = [], [], []
    for f in files:
        jc = read_constituents(uproot.open(f)["Events"].arrays())
        x, mask = model.inputs(jc.constituents)
        xs.append(x)
        masks.append(mask)
        jets.append(model.jet_inputs({k: ak.to_numpy(jc.jets[k]) for k in ak.fields(jc.jets)}))
    x, mask = np.concatenate(xs), np.concatenate(masks)
    jet = None if jets[0] is None else np.concatenate(jets)
    keep = mask.sum(axis=1) > 0
    x, mask, jet = x[keep], mask[keep], None if jet is None else jet[keep]
    reps = -(-n // len(x))
    return (np.tile(x, (reps, 1, 1))[:n], np.tile(mask, (reps, 1))[:n],
            None if jet is None else np.tile(jet, (reps, 1))[:n])
