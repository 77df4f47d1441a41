"""Data loading against the training step: is reading the jets ever the bottleneck, and
what does the prepared-input cache cost and save?

Prints and records (benchmarks/results/loading.json), on one thread, in the same run, each
mode in a fresh process (so its peak RSS is its own):

* ``memory``: ``training_jets`` of a training config's data section (ROOT -> selection ->
  constituents -> padded kinematics -> weights and reweighting), jets/s, the jets held in
  memory, then the training step (two augmented views or the objective's step, forward,
  backward, AdamW) on batches drawn from them;
* ``cache_build``: the same with ``data.cache`` (a fresh folder): the kinematics written
  to disk file by file, jets/s;
* ``cache_read``: the same again (the entry exists: no ROOT file read), jets/s, and the
  training step on batches streamed from the memory-mapped entry;
* the ratios: loading jets/s over training jets/s (> 1: loading is not the bottleneck;
  the jets are read once per run, an epoch reuses them), the streamed step over the
  in-memory one, and each mode's peak RSS.

    python benchmarks/bench_loading.py CONFIG.yaml [--steps 20]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _record import record

MODES = ("memory", "cache_build", "cache_read")


def _one(config: str, mode: str, cache: str, steps: int) -> dict[str, Any]:
    """Load (and, but for cache_build, train ``steps`` steps) in this process."""
    import numpy as np
    import torch
    from jetclr_coffea.training.data import JetSource, MappedJets, to_batch
    from jetclr_coffea.training.loading import load_config
    from jetclr_coffea.training.objectives import get_objective
    from jetclr_coffea.training.reweight import training_jets
    from jetclr_coffea.training.train import epoch_order

    torch.set_num_threads(1)
    cfg = load_config(config)
    data = replace(cfg.data, cache=cache if mode != "memory" else "")
    t0 = time.perf_counter()
    sample = training_jets(data, cfg.preprocessing)
    load_s = time.perf_counter() - t0
    n, out = len(sample), {"jets": len(sample), "load_s": load_s, "load_jets_per_s": len(sample) / load_s}
    if mode != "cache_build":
        jets: JetSource = (to_batch(sample.arrays) if mode == "memory" else
                           MappedJets(sample.arrays, np.arange(n, dtype=np.int64), torch.device("cpu")))
        out["train_jets_per_s"] = _train_rate(cfg, get_objective(cfg.objective), jets, sample, steps,
                                              epoch_order)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _train_rate(cfg: Any, objective: Any, jets: Any, sample: Any, steps: int, epoch_order: Any) -> float:
    import torch

    model = objective.build_model(replace(cfg, optim=replace(cfg.optim, device="cpu")))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.optim.lr)
    bs, n = cfg.optim.batch_size, len(sample)
    g = torch.Generator().manual_seed(0)
    order = epoch_order(n, g, torch.as_tensor(sample.weight, dtype=torch.float64))
    model.train()
    t0 = time.perf_counter()
    for step in range(steps):  # the batch fetch is inside the timing: that is what streaming costs
        b = jets.index(order[(step * bs) % (n - bs):][:bs])
        loss = objective.step(cfg, model, b, b, g, None, 0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return float(steps * bs / (time.perf_counter() - t0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--steps", type=int, default=20, help="training steps timed")
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)  # one mode, in a child process
    parser.add_argument("--cache", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(_one(args.config, args.mode, args.cache, args.steps)))
        return
    result: dict[str, Any] = {"config": args.config, "steps": args.steps}
    with tempfile.TemporaryDirectory(dir=".") as cache:
        for mode in MODES:
            cmd = [sys.executable, __file__, args.config, "--steps", str(args.steps), "--mode", mode,
                   "--cache", cache]
            run = subprocess.run(cmd, capture_output=True, text=True, check=True)
            result[mode] = json.loads(run.stdout.strip().splitlines()[-1])
    mem, read = result["memory"], result["cache_read"]
    result["ratio_load_over_train"] = mem["load_jets_per_s"] / mem["train_jets_per_s"]
    result["ratio_cache_build_load_over_train"] = (result["cache_build"]["load_jets_per_s"]
                                                   / mem["train_jets_per_s"])
    result["ratio_streamed_over_memory_train"] = read["train_jets_per_s"] / mem["train_jets_per_s"]
    print(json.dumps(result, indent=1))
    record("loading", result)


if __name__ == "__main__":
    main()
