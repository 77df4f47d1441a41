"""Data loading against the training step: is reading the jets ever the bottleneck?

Prints and records (benchmarks/results/loading.json), on one thread, in the same run:

* loading: ``training_jets`` of a training config's data section (ROOT -> selection ->
  constituents -> padded kinematics -> weights and reweighting) in jets/s, cold (first
  read of the files) and warm;
* the training step of that config's model (two augmented views, forward, backward,
  AdamW step, the objective of the config) in jets/s on the loaded jets;
* their ratio: loading jets/s over training jets/s per epoch (> 1: loading is not the
  bottleneck; the jets are read once per run, an epoch reuses them).

    python benchmarks/bench_loading.py CONFIG.yaml [--steps 20]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _record import record
from jetclr_coffea.training.data import to_batch
from jetclr_coffea.training.loading import load_config
from jetclr_coffea.training.objectives import get_objective
from jetclr_coffea.training.reweight import training_jets
from jetclr_coffea.training.train import epoch_order


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--steps", type=int, default=20, help="training steps timed")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = load_config(args.config)
    times = []
    for _ in range(2):  # cold, then warm (files in the page cache)
        t0 = time.perf_counter()
        sample = training_jets(cfg.data, cfg.preprocessing)
        times.append(time.perf_counter() - t0)
    n = len(sample.pt)
    objective = get_objective(cfg.objective)
    model = objective.build_model(replace(cfg, optim=replace(cfg.optim, device="cpu")))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.optim.lr)
    jets, bs = to_batch(sample.arrays, "cpu"), cfg.optim.batch_size
    g = torch.Generator().manual_seed(0)
    order = epoch_order(n, g, torch.as_tensor(sample.weight, dtype=torch.float64))
    model.train()
    t0 = time.perf_counter()
    for step in range(args.steps):
        b = jets.index(order[(step * bs) % (n - bs):][:bs])
        loss = objective.step(cfg, model, b, b, g, None, 0)
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
    train_rate = args.steps * bs / (time.perf_counter() - t0)
    result = {"config": args.config, "jets": n, "load_cold_s": times[0], "load_warm_s": times[1],
              "load_jets_per_s_cold": n / times[0], "load_jets_per_s_warm": n / times[1],
              "train_jets_per_s": train_rate, "batch_size": bs, "steps": args.steps,
              "ratio_load_cold_over_train": n / times[0] / train_rate}
    for k, v in result.items():
        print(f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}")
    record("loading", result)


if __name__ == "__main__":
    main()
