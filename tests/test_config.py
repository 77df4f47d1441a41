"""The training config (training/config.py): strict, and what YAML and a hostile user send."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from jetclr_coffea.training.config import TrainConfig
from jetclr_coffea.training.loading import load_config

from jetclr_coffea.errors import JetCLRError

CONFIGS = Path(__file__).resolve().parents[1] / "training" / "configs"


def test_shipped_configs_load() -> None:
    paths = sorted(CONFIGS.glob("*.yaml"))
    assert len(paths) >= 10  # found wherever pytest runs from
    for path in paths:
        cfg = load_config(path)
        assert isinstance(cfg, TrainConfig)
        assert cfg.model.n_features == len(cfg.preprocessing.features)


def _write(tmp_path: Path, **changes: object) -> Path:
    data: dict[str, object] = {"name": "t", "data": {"files": ["a.root"]}, "optim": {"epochs": 1}}
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if field:
            data.setdefault(section, {})[field] = value  # type: ignore[index]
        else:
            data[section] = value
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_number_yaml_reads_as_text_is_taken(tmp_path: Path) -> None:
    text = "name: t\ndata: {files: [a.root]}\noptim: {lr: 1e-3, weight_decay: 5E-5}\n"
    assert isinstance(yaml.safe_load(text)["optim"]["lr"], str)  # YAML 1.1: no dot, no float
    path = tmp_path / "lr.yaml"
    path.write_text(text)
    cfg = load_config(path)
    assert cfg.optim.lr == 1e-3 and cfg.optim.weight_decay == 5e-5


@pytest.mark.parametrize(("changes", "match"), [
    ({"name": "../../etc/x"}, "plain name"), ({"name": ".hidden"}, "plain name"),
    ({"data__max_jets": -5}, "max_jets must be >= 0"),
    ({"data__files": []}, "give files .* or fileset .*, not neither"),
    ({"data__pt_min": 700.0, "data__pt_max": 600.0}, "pt_min < pt_max"),
    ({"optim__lr": "fast"}, "expected a number"), ({"model": 5}, "model"),
])
def test_bad_values_are_one_line_errors(tmp_path: Path, changes: dict[str, object], match: str) -> None:
    with pytest.raises(JetCLRError, match=match):
        load_config(_write(tmp_path, **changes))


def test_sections_are_typed_defaulted_and_round_trip() -> None:
    from jetclr_coffea.training.loading import parse_config
    from jetclr_coffea.training.objectives.supervised import SupervisedConfig
    from jetclr_coffea.training.sections import PairConfig, TruthConfig

    from jetclr_coffea.efn import EFNConfig
    from jetclr_coffea.vae import VAEConfig

    vae = load_config(CONFIGS / "vae_emd_qcd.yaml")
    assert set(vae.sections) == {"vae"} and vae.section(VAEConfig) is vae.sections["vae"]
    assert vae.section(PairConfig) == PairConfig()  # not its section: the defaults
    assert parse_config(vae.to_dict(), strict=False) == vae  # what a checkpoint records reads back the same
    codec = load_config(CONFIGS / "codec_disco.yaml")
    assert set(codec.sections) == {"truth", "supervised", "efn"}  # every declared one, given or not
    assert codec.section(TruthConfig).signal_label == "two_prong"
    assert codec.section(SupervisedConfig).disco > 0
    assert codec.section(EFNConfig).n_features == len(codec.preprocessing.features)
    assert parse_config(codec.to_dict(), strict=False) == codec
