"""Shared fixtures: tiny generated samples and the real CMS files from coffea's sdist."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

COFFEA_SDIST_VERSION = "2026.9.0"
REAL_FILES = ("pfnano.root", "nano_tt_v15.root", "pfnano_rntuple.root")


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small generated PFNano files, one per process (seeded)."""
    pytest.importorskip("pythia8mc", reason="needs the [gen] extra")
    from jetclr_coffea.gen.generate import generate
    from jetclr_coffea.gen.pythia import ProcessConfig

    folder = tmp_path_factory.mktemp("samples")
    sizes = {"qcd": 100, "top": 150, "wprime-flat": 150, "svj": 40}
    out = {}
    for process, n in sizes.items():
        path = folder / f"{process}.root"
        generate(ProcessConfig(process, seed=11), n, path, progress=False)
        out[process] = path
    return out


@pytest.fixture(scope="session")
def fileset(samples: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fileset JSON of the qcd and top samples."""
    import json

    path = tmp_path_factory.mktemp("fs") / "fileset.json"
    path.write_text(json.dumps({"qcd": [str(samples["qcd"])], "top": [str(samples["top"])]}))
    return path


def _cache_dir() -> Path:
    root = os.environ.get("JETCLR_COFFEA_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "jetclr-coffea"
    )
    return Path(root) / f"coffea-{COFFEA_SDIST_VERSION}-samples"


@pytest.fixture(scope="session")
def real_files() -> dict[str, Path]:
    """pfnano.root and nano_tt_v15.root from coffea's source distribution on PyPI.

    Downloaded once into a cache folder; the tests that use them skip when offline.
    """
    cache = _cache_dir()
    wanted = {name: cache / name for name in REAL_FILES}
    if all(p.is_file() for p in wanted.values()):
        return wanted
    cache.mkdir(parents=True, exist_ok=True)
    download = cache / "sdist"
    download.mkdir(exist_ok=True)
    cmd = [
        sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
        f"coffea=={COFFEA_SDIST_VERSION}", "-d", str(download),
    ]
    try:
        subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as err:
        pytest.skip(f"cannot download coffea {COFFEA_SDIST_VERSION} sdist (offline?): {err}")
    archives = sorted(download.glob("coffea-*.tar.gz"))
    if not archives:
        pytest.skip("coffea sdist download produced no archive")
    with tarfile.open(archives[-1]) as tar:
        for member in tar.getmembers():
            name = Path(member.name).name
            if name in wanted and member.name.endswith(f"tests/samples/{name}"):
                handle = tar.extractfile(member)
                assert handle is not None
                tmp = wanted[name].with_suffix(".part")
                tmp.write_bytes(handle.read())
                tmp.replace(wanted[name])
    for archive in archives:
        archive.unlink()
    missing = [n for n, p in wanted.items() if not p.is_file()]
    if missing:
        pytest.fail(f"coffea sdist has no tests/samples/{missing}")
    return wanted


def _open_nano(path: Path, schema: str = "PFNanoAODSchema", mode: str = "eager", **kwargs: Any) -> Any:
    from coffea import nanoevents as ne

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return ne.NanoEventsFactory.from_root(
            {str(path): "Events"}, schemaclass=getattr(ne, schema), mode=mode, **kwargs
        ).events()


@pytest.fixture(scope="session")
def no_pf_candidates(samples: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The qcd sample without any PF-candidate branches (event ids, weights, fat jets only)."""
    import awkward as ak
    import uproot

    path = tmp_path_factory.mktemp("nocands") / "nocands.root"
    arrays = uproot.open(samples["qcd"])["Events"].arrays(
        filter_name=["run", "luminosityBlock", "event", "genWeight", "FatJet_*"])
    data = {k: arrays[k] for k in ("run", "luminosityBlock", "event", "genWeight")}
    data["FatJet"] = ak.zip({k[len("FatJet_"):]: arrays[k] for k in arrays.fields
                             if k.startswith("FatJet_")})
    with uproot.recreate(path) as f:
        tree = f.mktree("Events", {k: v.type for k, v in data.items()},
                        field_name=lambda o, i: f"{o}_{i}", counter_name=lambda c: f"n{c}")
        tree.extend(data)
    return path


@pytest.fixture(scope="session")
def open_nano() -> Any:
    """Open a file with a coffea NanoAOD schema (eager, virtual or dask mode; extra keyword
    arguments go to ``NanoEventsFactory.from_root``), without the optional-collection
    warnings."""
    return _open_nano


def rewrite_events(src: Path, dst: Path, edit: Any = None) -> Path:
    """Copy the Events tree of ``src`` to ``dst``; ``edit(collections)`` may change the
    collections first (a dict: "PFCands" -> records, "genWeight" -> array, ...)."""
    import awkward as ak
    import uproot

    arrays = uproot.open(src)["Events"].arrays()
    counters = {f[1:] for f in arrays.fields
                if f.startswith("n") and any(g.startswith(f[1:] + "_") for g in arrays.fields)}
    data: dict[str, Any] = {}
    for name in sorted(counters):
        fields = {f[len(name) + 1:]: arrays[f] for f in arrays.fields if f.startswith(name + "_")}
        if fields:
            data[name] = ak.zip(fields)
    for f in arrays.fields:
        if not any(f == "n" + c or f.startswith(c + "_") for c in data):
            data[f] = arrays[f]
    if edit is not None:
        edit(data)
    with uproot.recreate(dst) as fout:
        tree = fout.mktree("Events", {k: v.type if isinstance(v, ak.Array) and v.ndim > 1 else
                                      ak.to_numpy(v).dtype for k, v in data.items()},
                           field_name=lambda o, i: f"{o}_{i}", counter_name=lambda c: f"n{c}")
        tree.extend({k: v if isinstance(v, ak.Array) and v.ndim > 1 else ak.to_numpy(v)
                     for k, v in data.items()})
    return dst


@pytest.fixture(scope="session")
def rewrite() -> Any:
    """:func:`rewrite_events`: copy a generated file, editing its collections."""
    return rewrite_events


#: The smallest training config (tests only): every objective's tests start from it.
TINY = {
    "name": "tiny",
    "data": {"files": [], "pt_min": 200.0, "pt_max": 5000.0, "eta_max": 2.4},
    "preprocessing": {"features": ["deta", "dphi", "log_pt_rel", "log_e_rel", "dr"], "n_max": 30},
    "model": {"d_model": 16, "n_heads": 2, "n_layers": 1, "d_ff": 32, "d_out": 8, "dropout": 0.1},
    "augment": {"collinear_prob": 0.2, "translation": 0.05},
    "optim": {"epochs": 2, "batch_size": 64, "lr": 1.0e-3, "seed": 3, "device": "cpu"},
}


@pytest.fixture(scope="session")
def tiny_config() -> Callable[..., Path]:
    """``make(tmp_path, samples, name="tiny", **changes)``: the path of a YAML training config
    on the qcd and top samples, output under ``tmp_path``; ``changes`` update its sections."""
    import json

    import yaml

    def make(tmp_path: Path, samples: dict[str, Path], name: str = "tiny", **changes: Any) -> Path:
        data = json.loads(json.dumps(TINY))
        data["name"] = name
        data["data"]["files"] = [str(samples["qcd"]), str(samples["top"])]
        data["output"] = str(tmp_path / name)
        for section, values in changes.items():
            if isinstance(values, dict):
                data.setdefault(section, {}).update(values)
            else:
                data[section] = values
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data))
        return path

    return make
