"""The Sinkhorn-EMD VAE's latent space across its beta scan (docs/vae.md).

    python benchmarks/vae_latents.py --runs runs/vae_emd_qcd_beta* --jets data/qcd_val.root

For each trained VAE (a run folder holding ``checkpoint.pt``), on QCD validation jets that
no training read (550 < pT < 650 GeV):

* the KL of the posterior to the prior per latent dimension (mean over jets), and the summed
  KL; across the scan, D1 = -dKL/d ln beta by finite differences between neighbouring betas
  (Collins, arXiv:2109.10919: a dimension "opens" where its KL leaves zero);
* on ``--pairs`` random pairs of those jets, the Pearson and Spearman correlation of the
  exact W_1 and W_1/2 (POT) with Euclidean distances in the latent space (posterior means)
  and in two input spaces: the VAE's own input vector (40 x (pT fraction, Delta eta, Delta phi),
  padded, pT-ordered) and a pT-weighted 25 x 25 jet image over |Delta eta|, |Delta phi| < 0.8
  (the OT talk, arXiv:2110.06948: 0.55 -> 0.79 for W_1/2, 0.44 -> 0.70 for W_1), and in the
  latent space of the same encoder untrained (seeded), to separate what training adds from
  what the architecture gives.  Errors are the standard deviation over 200 bootstrap
  resamples of the pairs.

Writes benchmarks/results/vae_latents.json and the plots docs/img/vae_kl_per_latent.png,
docs/img/vae_d1.png.
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import record
from jetclr_coffea.training.checkpoint import load_checkpoint, load_model
from jetclr_coffea.training.data import batch_inputs, load_jets, subset, to_batch
from jetclr_coffea.training.ot_medoids import jet_clouds

from jetclr_coffea.ot import emd_exact
from jetclr_coffea.preprocessing import PreprocessSpec
from jetclr_coffea.truth import QCD
from jetclr_coffea.vae import EMDVAE, kl_divergence

F64 = npt.NDArray[np.float64]
IMAGE_BINS = 25


def _rank(a: F64) -> F64:
    r = np.empty(len(a))
    r[np.argsort(a)] = np.arange(len(a))
    return r


def correlations(w: F64, d: F64, n_boot: int = 200, seed: int = 0) -> dict[str, float]:
    """Pearson and Spearman correlation of two distance lists, with bootstrap errors."""
    def both(i: npt.NDArray[np.int64]) -> tuple[float, float]:
        return (float(np.corrcoef(w[i], d[i])[0, 1]), float(np.corrcoef(_rank(w[i]), _rank(d[i]))[0, 1]))

    every = np.arange(len(w))
    pearson, spearman = both(every)
    rng = np.random.default_rng(seed)
    boot = np.array([both(rng.integers(0, len(w), len(w))) for _ in range(n_boot)])
    return {"pearson": pearson, "pearson_err": float(boot[:, 0].std()),
            "spearman": spearman, "spearman_err": float(boot[:, 1].std())}


def images(x: F64, w: F64) -> F64:
    """pT-weighted (jets, IMAGE_BINS**2) jet images of positions x (jets, C, 2), fractions w."""
    edges = np.linspace(-0.8, 0.8, IMAGE_BINS + 1)
    ix = np.clip(np.digitize(x[..., 0], edges) - 1, 0, IMAGE_BINS - 1)
    iy = np.clip(np.digitize(x[..., 1], edges) - 1, 0, IMAGE_BINS - 1)
    out = np.zeros((len(x), IMAGE_BINS * IMAGE_BINS))
    rows = np.repeat(np.arange(len(x)), x.shape[1])
    np.add.at(out, (rows, (ix * IMAGE_BINS + iy).ravel()), w.ravel())
    return out


@torch.no_grad()
def posterior(model: EMDVAE, arrays: Any, features: tuple[str, ...]) -> tuple[F64, F64]:
    """(mu, per-dimension KL) (jets, L) of preprocessed jets."""
    b = to_batch(arrays)
    x, w = batch_inputs(b, features, True)
    mu, logvar = model.encode(x[..., :2], w)
    return mu.double().numpy(), kl_divergence(mu, logvar).double().numpy()


def _plots(rows: list[dict[str, Any]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    betas = np.array([r["beta"] for r in rows])
    per = np.array([r["kl_per_latent"] for r in rows])  # (betas, L), each row sorted descending
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for k in range(per.shape[1]):
        ax.plot(betas, np.maximum(per[:, k], 1e-7), marker=".", lw=1)
    ax.set(xscale="log", yscale="log", xlabel=r"$\beta$ (EMD resolution)",
           ylabel="KL per latent dimension (mean over QCD jets)",
           title="Sinkhorn-EMD VAE: latent dimensions, sorted by KL")
    fig.tight_layout()
    fig.savefig(out / "vae_kl_per_latent.png", dpi=110)
    plt.close(fig)
    mid = [r for r in rows if "d1" in r]
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.plot([r["d1_beta"] for r in mid], [r["d1"] for r in mid], marker="o")
    ax.set(xscale="log", xlabel=r"$\beta$", ylabel=r"$D_1 = -\mathrm{d\,KL}/\mathrm{d}\ln\beta$",
           title="Sinkhorn-EMD VAE: dimension D1 (QCD validation jets)")
    fig.tight_layout()
    fig.savefig(out / "vae_d1.png", dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", required=True, help="VAE run folders (checkpoint.pt)")
    parser.add_argument("--jets", nargs="+", required=True, help="QCD files no training read")
    parser.add_argument("--max-jets", type=int, default=3000)
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--plots", default="docs/img")
    args = parser.parse_args()
    models = []
    for run in args.runs:
        ckpt = load_checkpoint(Path(run) / "checkpoint.pt")
        model = load_model(ckpt)
        assert isinstance(model, EMDVAE)
        models.append((run, ckpt, model))
    models.sort(key=lambda m: m[2].cfg.beta)
    cfg = models[0][1]["config"]
    spec = PreprocessSpec.from_dict(cfg["preprocessing"])
    sel = {k: cfg["data"][k] for k in ("pt_min", "pt_max", "eta_max")}
    jets = load_jets(args.jets, spec, **sel)
    keep = np.flatnonzero(jets.labels == QCD)[:args.max_jets]
    arrays = subset(jets.arrays, keep)
    x, w = jet_clouds(arrays)
    rng = np.random.default_rng(7)
    a, b = rng.integers(0, len(keep), args.pairs), rng.integers(0, len(keep), args.pairs)
    ok = a != b
    a, b = a[ok], b[ok]
    w1 = np.array([emd_exact(x[i], w[i], x[j], w[j], 1.0) for i, j in zip(a, b, strict=True)])
    w12 = np.array([emd_exact(x[i], w[i], x[j], w[j], 0.5) for i, j in zip(a, b, strict=True)])
    vec = np.concatenate([w, x[..., 0], x[..., 1]], axis=1)  # the VAE's padded input vector
    img = images(x, w)
    spaces: dict[str, dict[str, Any]] = {
        "input_vector": {"distance": np.linalg.norm(vec[a] - vec[b], axis=1)},
        "input_image": {"distance": np.linalg.norm(img[a] - img[b], axis=1)},
    }
    rows: list[dict[str, Any]] = []
    for run, _, model in models:
        mu, kl = posterior(model, arrays, spec.features)
        per = np.sort(kl.mean(0))[::-1]
        rows.append({"run": run, "beta": model.cfg.beta, "kl_sum_mean": float(kl.sum(1).mean()),
                     "kl_per_latent": per.tolist(), "open_dims": int((per > 0.1).sum())})
        spaces[f"latent_beta{model.cfg.beta:g}"] = {"distance": np.linalg.norm(mu[a] - mu[b], axis=1)}
    # the same encoder untrained (seeded): how much of the correlation the architecture alone gives
    torch.manual_seed(0)
    mu0, _ = posterior(EMDVAE(models[0][2].cfg).eval(), arrays, spec.features)
    spaces["latent_untrained"] = {"distance": np.linalg.norm(mu0[a] - mu0[b], axis=1)}
    for lo, hi in itertools.pairwise(rows):
        hi["d1"] = -(hi["kl_sum_mean"] - lo["kl_sum_mean"]) / (math.log(hi["beta"]) - math.log(lo["beta"]))
        hi["d1_beta"] = math.sqrt(hi["beta"] * lo["beta"])
    result: dict[str, Any] = {"jets": len(keep), "pairs": len(a), "files": args.jets, "scan": rows,
                              "correlation": {}}
    for name, space in spaces.items():
        d = space["distance"]
        result["correlation"][name] = {"w1": correlations(w1, d), "w1/2": correlations(w12, d)}
    for r in rows:
        print(f"beta {r['beta']:<8g} KL {r['kl_sum_mean']:8.3f}  open dims {r['open_dims']:2d}"
              + (f"  D1 {r['d1']:.2f} at {r['d1_beta']:.2g}" if "d1" in r else ""))
    for name, c in result["correlation"].items():
        print(f"{name:22s} W1 {c['w1']['pearson']:.3f} +- {c['w1']['pearson_err']:.3f}   "
              f"W1/2 {c['w1/2']['pearson']:.3f} +- {c['w1/2']['pearson_err']:.3f}")
    _plots(rows, Path(args.plots))
    record("vae_latents", result)


if __name__ == "__main__":
    main()
