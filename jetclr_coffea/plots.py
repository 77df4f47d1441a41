"""Plots for people to look at (the ``plot`` extra: matplotlib, mplhep)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from jetclr_coffea._io import atomic_path
from jetclr_coffea.errors import MissingExtraError

if TYPE_CHECKING:
    from hist import Hist

__all__ = ["plot_ddt_map", "plot_pass_fail", "plot_roc_from_hists", "plot_scores"]


def _plt() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import mplhep
    except ImportError as err:
        raise MissingExtraError("matplotlib/mplhep", "plot") from err
    plt.style.use(mplhep.style.CMS)
    return plt


def _save(fig: Any, path: str | os.PathLike[str]) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=70, bbox_inches="tight")
    fig.clf()
    return Path(path)


def plot_scores(hists: Mapping[str, Hist[Any]], name: str, path: str | os.PathLike[str]) -> Path:
    """Normalised score distribution of each dataset (``hists``: dataset -> score hist)."""
    import mplhep

    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 6))
    for ds, h in hists.items():
        total = h.values().sum()
        if total > 0:
            mplhep.histplot(h.values() / total, h.axes[0].edges, ax=ax, label=ds)
    ax.set_xlabel(name)
    ax.set_ylabel("fraction of jets")
    ax.set_yscale("log")
    ax.legend()
    return _save(fig, path)


def plot_roc_from_hists(signal: Any, background: Any, path: str | os.PathLike[str]) -> tuple[Path, float]:
    """ROC curve of a cut on the score, from the two score histograms; returns the AUC."""
    plt = _plt()
    s = np.cumsum(signal.values()[::-1])[::-1] / max(signal.values().sum(), 1e-12)
    b = np.cumsum(background.values()[::-1])[::-1] / max(background.values().sum(), 1e-12)
    s, b = np.append(s, 0.0), np.append(b, 0.0)
    auc = float(-np.trapezoid(s, b))
    fig, ax = plt.subplots(figsize=(8, 6))
    ok = b > 0
    ax.plot(s[ok], 1.0 / b[ok], label=f"AUC {auc:.3f}")
    ax.set_yscale("log")
    ax.set_xlabel("signal efficiency")
    ax.set_ylabel("1 / background efficiency")
    ax.legend()
    return _save(fig, path), auc


def plot_ddt_map(path_json: str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    """The DDT threshold map in (rho, pT)."""
    import json

    plt = _plt()
    data = json.loads(Path(path_json).read_text())["corrections"][0]
    rho_edges, pt_edges = (np.array(e) for e in data["data"]["edges"])
    content = np.array(data["data"]["content"]).reshape(len(rho_edges) - 1, len(pt_edges) - 1)
    fig, ax = plt.subplots(figsize=(9, 6))
    mesh = ax.pcolormesh(rho_edges, pt_edges, content.T, shading="flat")
    fig.colorbar(mesh, ax=ax, label=f"{data['name']} threshold")
    ax.set_xlabel(r"$\rho = \ln(m_{SD}^2/p_T^2)$")
    ax.set_ylabel(r"$p_T$ [GeV]")
    return _save(fig, path)


def plot_pass_fail(h: Any, path: str | os.PathLike[str]) -> Path:
    """QCD pass/fail ratio versus msoftdrop (``h``: pass x msd x pt histogram)."""
    plt = _plt()
    v = h.values().sum(axis=2)
    var = h.variances().sum(axis=2)
    edges = h.axes["msd"].edges
    centres = 0.5 * (edges[1:] + edges[:-1])
    fail, passed = v[0], v[1]
    ok = fail > 0
    ratio = np.where(ok, passed / np.where(ok, fail, 1.0), np.nan)
    err = np.where(ok, np.sqrt(var[1] / np.where(ok, fail, 1.0) ** 2
                               + var[0] * passed**2 / np.where(ok, fail, 1.0) ** 4), np.nan)
    fig, ax = plt.subplots(figsize=(8, 6))
    ax.errorbar(centres[ok], ratio[ok], yerr=err[ok], fmt="o")
    total = passed.sum() / max(fail.sum(), 1e-12)
    ax.axhline(total, ls="--", color="gray", label=f"inclusive {total:.3f}")
    ax.set_xlabel(r"$m_{SD}$ [GeV]")
    ax.set_ylabel("QCD pass / fail")
    ax.legend()
    return _save(fig, path)
