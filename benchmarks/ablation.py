"""An ablation of a training config: one training per variant, each evaluated the same way.

    python benchmarks/ablation.py training/configs/jetclr_top_irc.yaml --epochs 6 \
        --signal data/top_val.root --background data/qcd_val.root \
        --variant base \
        --variant "d128: model.d_model=128 model.d_ff=256" \
        --variant "tau0.05: optim.temperature=0.05"

A variant is ``NAME: section.key=value ...`` (values are YAML scalars or flow lists, read
with ``yaml.safe_load``; never evaluated).  Each variant's config is written to
``runs/<prefix>/<NAME>.yaml`` with its ``name`` set to ``<prefix>_<NAME>``, trained with
``jetclr-coffea train`` (``--resume`` where a checkpoint exists, so an interrupted queue
continues where it stopped; a variant already evaluated is skipped), exported
and evaluated on the validation files given (never the held-out ones: this is model
selection).  The table (each variant's LCT AUC and R50 with their bootstrap errors, the
paired difference to the observables' LCT on the same jets, training time) is printed and written to
``benchmarks/results/<prefix>.json`` after every variant.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import record

ROOT = Path(__file__).resolve().parent.parent


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """``"NAME: a.b=1 c.d=x"`` -> ("NAME", {"a.b": 1, "c.d": "x"})."""
    name, _, rest = text.partition(":")
    name = name.strip()
    if not name or "/" in name or " " in name:
        raise SystemExit(f"variant {text!r}: the name must be one word before the colon")
    overrides: dict[str, Any] = {}
    for item in rest.split():
        key, sep, value = item.partition("=")
        if not sep or "." not in key:
            raise SystemExit(f"variant {name}: {item!r} is not section.key=value")
        overrides[key] = yaml.safe_load(value)
    return name, overrides


def variant_config(base: dict[str, Any], name: str, overrides: dict[str, Any], epochs: int) -> dict[str, Any]:
    cfg = json.loads(json.dumps(base))  # a deep copy of plain YAML data
    cfg["name"] = name
    cfg.setdefault("optim", {})["epochs"] = epochs
    for key, value in overrides.items():
        *path, leaf = key.split(".")
        node = cfg
        for part in path:
            node = node.setdefault(part, {})
        node[leaf] = value
    return cfg


def run(cmd: list[str]) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config", help="the base training config")
    ap.add_argument("--variant", action="append", required=True, help="NAME: section.key=value ...")
    ap.add_argument("--epochs", type=int, default=6, help="epochs of every variant unless overridden")
    ap.add_argument("--signal", nargs="+", required=True, help="validation signal file(s)")
    ap.add_argument("--background", nargs="+", required=True, help="validation background file(s)")
    ap.add_argument("--signal-label", default="top")
    ap.add_argument("--prefix", default="ablation_jetclr", help="runs/<prefix>/, results/<prefix>.json")
    args = ap.parse_args()

    base = yaml.safe_load(Path(args.config).read_text())
    jetclr = str(Path(sys.executable).with_name("jetclr-coffea"))
    folder = ROOT / "runs" / args.prefix
    folder.mkdir(parents=True, exist_ok=True)
    rows: dict[str, Any] = {}
    for text in args.variant:
        name, overrides = parse_variant(text)
        run_name = f"{args.prefix}_{name}"
        cfg = variant_config(base, run_name, overrides, args.epochs)
        cfg_path = folder / f"{name}.yaml"
        cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        run_dir = ROOT / "runs" / run_name
        metrics, timing = run_dir / "val" / "metrics.json", run_dir / "train_seconds.txt"
        if not metrics.is_file():  # a variant already evaluated is not redone
            resume = ["--resume"] if (run_dir / "checkpoint.pt").is_file() else []
            start = time.perf_counter()
            run([jetclr, "train", str(cfg_path), *resume, "--quiet"])
            timing.write_text(f"{time.perf_counter() - start:.0f}\n")
            onnx_path = run_dir / "encoder.onnx"
            run([jetclr, "export", str(run_dir / "checkpoint.pt"), "-o", str(onnx_path)])
            run([jetclr, "evaluate", str(onnx_path), "--signal", *args.signal, "--background",
                 *args.background, "--signal-label", args.signal_label, "--output-dir",
                 str(run_dir / "val"), "--quiet"])
        seconds = float(timing.read_text()) if timing.is_file() else float("nan")
        m = json.loads(metrics.read_text())
        rows[name] = {"overrides": overrides, "epochs": cfg["optim"]["epochs"], "train_s": round(seconds),
                      "lct": m["lct"], "observables_lct": m["baseline"]}
        lct = m["lct"]
        print(f"{name:>16}: LCT AUC {lct['auc']:.4f} +- {lct['auc_err']:.4f}  R50 {lct['r50']:.1f} +- "
              f"{lct['r50_err']:.1f}  (vs the observables' LCT: dAUC {lct['d_auc']:+.4f} +- "
              f"{lct['d_auc_err']:.4f}, dR50 {lct['d_r50']:+.1f} +- {lct['d_r50_err']:.1f})  "
              f"{seconds:.0f} s", flush=True)
        record(args.prefix, {"config": args.config, "signal": args.signal, "background": args.background,
                             "variants": rows})


if __name__ == "__main__":
    main()
