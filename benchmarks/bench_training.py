"""Training throughput, and ONNX Runtime versus eager torch inference of the encoder.

Prints and records (benchmarks/results/training.json):

* training throughput in jets/s (two augmented views per jet, forward + backward + step)
  on the CPU and, when present, on a CUDA GPU; for a model with a wide representation
  (``d_repr``) also without it, so the ratio is what the width costs;
* the Sinkhorn-EMD VAE's training throughput (``objective: vae_emd`` at the shipped
  model's settings: one view, the annealed Sinkhorn of the loss, backward, step) and its
  ratio to the JetCLR encoder's, measured in the same run;
* inference of the same encoder (the shipped model's architecture and weights when a
  checkpoint is given, random weights otherwise) in eager torch and in ONNX Runtime (CPU
  provider) at batch sizes 1, 64 and 1024, and the ratio ORT/torch.

    python benchmarks/bench_training.py [--model onnx_models/jetclr_top.onnx]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _record import record
from jetclr_coffea.training.data import batch_inputs

from jetclr_coffea.augment import AugmentConfig, JetBatch, augment
from jetclr_coffea.losses import nt_xent
from jetclr_coffea.model import EncoderConfig, JetEncoder
from jetclr_coffea.onnx_io import read_card

FEATURES = ("deta", "dphi", "log_pt_rel", "log_e_rel", "dr")


def _batch(n: int, c: int, device: str, seed: int = 0) -> JetBatch:
    g = torch.Generator().manual_seed(seed)
    counts = torch.randint(15, c + 1, (n,), generator=g)
    mask = torch.arange(c)[None, :] < counts[:, None]
    pt = torch.where(mask, torch.rand(n, c, generator=g) * 50 + 0.5, 0.0)
    b = JetBatch(
        deta=torch.where(mask, torch.randn(n, c, generator=g) * 0.2, 0.0),
        dphi=torch.where(mask, torch.randn(n, c, generator=g) * 0.2, 0.0),
        pt=pt, energy=pt * 1.2, charge=torch.zeros(n, c), mask=mask,
    )
    return b.to(device)


def _timeit(fn: Any, repeat: int, sync: Any = None) -> float:
    fn()
    if sync:
        sync()
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    if sync:
        sync()
    return (time.perf_counter() - t0) / repeat


def training_throughput(cfg: EncoderConfig, n_max: int, features: tuple[str, ...], device: str,
                        batch: int = 256) -> float:
    torch.manual_seed(0)
    model = JetEncoder(cfg).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    jets = _batch(batch, n_max, device)
    g = torch.Generator(device=device).manual_seed(1)
    aug = AugmentConfig()

    def step() -> None:
        x1, m1 = batch_inputs(augment(jets, g, aug), features, cfg.irc_safe)
        x2, m2 = batch_inputs(augment(jets, g, aug), features, cfg.irc_safe)
        loss = nt_xent(model(x1, m1)[1], model(x2, m2)[1], 0.1)
        opt.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()

    sync = torch.cuda.synchronize if device == "cuda" else None
    return batch / _timeit(step, 5 if device == "cpu" else 20, sync)


def vae_training_throughput(device: str, batch: int = 256, n_max: int = 40) -> float:
    """jets/s of the VAE's training step at the settings of training/configs/vae_emd_qcd.yaml."""
    from jetclr_coffea.training.config import DataConfig, TrainConfig
    from jetclr_coffea.training.objectives import get_objective

    from jetclr_coffea.preprocessing import PreprocessSpec
    from jetclr_coffea.vae import VAEConfig

    cfg = TrainConfig(name="bench", data=DataConfig(files=("none.root",)), objective="vae_emd",
                      preprocessing=PreprocessSpec(features=("deta", "dphi"), n_max=n_max, rotate=True),
                      sections={"vae": VAEConfig(hidden=128, latent=32, n_out=40, beta=0.005)})
    objective = get_objective("vae_emd")
    torch.manual_seed(0)
    model = objective.build_model(cfg).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    jets = _batch(batch, n_max, device)
    g = torch.Generator(device=device).manual_seed(1)

    def step() -> None:
        loss = objective.step(cfg, model, jets, jets, g)
        opt.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()

    sync = torch.cuda.synchronize if device == "cuda" else None
    return batch / _timeit(step, 5 if device == "cpu" else 20, sync)


def inference(cfg: EncoderConfig, n_max: int, features: tuple[str, ...],
              state: dict[str, Any] | None) -> dict[str, Any]:
    import onnxruntime as ort

    model = JetEncoder(cfg).eval()
    if state is not None:
        model.load_state_dict(state)
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "enc.onnx"
        x0 = torch.randn(2, n_max, cfg.n_features)
        with warnings.catch_warnings():  # the TorchScript exporter warns that it is legacy
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(model, (x0, torch.ones(2, n_max)), str(path), dynamo=False,
                              input_names=["constituents", "mask"], output_names=["embedding", "head"],
                              dynamic_axes={"constituents": {0: "n", 1: "c"}, "mask": {0: "n", 1: "c"}},
                              opset_version=17)
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        for bs in (1, 64, 1024):
            b = _batch(bs, n_max, "cpu", seed=bs)
            x, m = batch_inputs(b, features, cfg.irc_safe)
            xn, mn = x.numpy(), m.numpy()
            repeat = max(3, 2048 // bs)
            with torch.inference_mode():
                t_torch = _timeit(lambda x=x, m=m: model(x, m), repeat)
            feed = {"constituents": xn, "mask": mn}
            t_ort = _timeit(lambda feed=feed: sess.run(None, feed), repeat)
            out[str(bs)] = {"torch_jets_per_s": bs / t_torch, "ort_jets_per_s": bs / t_ort,
                            "ort_over_torch": t_torch / t_ort}
            print(f"  batch {bs:5d}: torch {bs / t_torch:9.0f} jets/s, ORT {bs / t_ort:9.0f} jets/s,"
                  f" ratio ORT/torch {t_torch / t_ort:.2f}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="onnx_models/jetclr_top.onnx",
                        help="take the architecture from this exported model's metadata")
    parser.add_argument("--checkpoint", default=None, help="use these weights (optional)")
    args = parser.parse_args()
    card = read_card(args.model) if Path(args.model).is_file() else None
    cfg = EncoderConfig(n_layers=2)
    if card:  # a fine-tuned classifier (jet features, one logit): its self-supervised stage's encoder
        cfg = EncoderConfig(**({**card.encoder, "jet_features": (), "d_out": 64, "head_layers": 2}
                               if card.jet_features else card.encoder))
    n_max = card.preprocessing.n_max if card else 40
    features = card.preprocessing.features if card else FEATURES
    state = None
    if args.checkpoint:
        state = torch.load(args.checkpoint, map_location="cpu", weights_only=False)["model"]
    print(f"encoder {cfg}, n_max {n_max}, torch threads {torch.get_num_threads()}")
    results: dict[str, Any] = {"encoder": cfg.to_dict(), "n_max": n_max, "training_jets_per_s": {}}
    for device in ["cpu"] + (["cuda"] if torch.cuda.is_available() else []):
        rate = training_throughput(cfg, n_max, features, device)
        results["training_jets_per_s"][device] = rate
        print(f"training on {device}: {rate:,.0f} jets/s")
        if cfg.d_repr is not None:  # what the wide representation costs, in the same run
            narrow = training_throughput(replace(cfg, d_repr=None), n_max, features, device)
            results.setdefault("training_jets_per_s_without_d_repr", {})[device] = narrow
            print(f"training on {device} without d_repr: {narrow:,.0f} jets/s "
                  f"(with d_repr {cfg.d_repr}: {rate / narrow:.2f} x)")
        vae = vae_training_throughput(device)
        results.setdefault("vae_training_jets_per_s", {})[device] = vae
        results.setdefault("vae_over_jetclr", {})[device] = vae / rate
        print(f"VAE training on {device}: {vae:,.0f} jets/s ({vae / rate:.2f} x the JetCLR encoder's)")
    print("inference (CPU):")
    results["inference"] = inference(cfg, n_max, features, state)
    print(f"recorded in {record('training', results)}")


if __name__ == "__main__":
    main()
