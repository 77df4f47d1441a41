"""training/loading.py: configs refused in one line naming the key or section."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jetclr_coffea.training.loading import load_config

from jetclr_coffea.errors import JetCLRError


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model": {"colour": 3}}, "unknown key model.colour"),
        ({"optim": {"lr": "fast"}}, "optim.lr: expected a number"),
        ({"optim": {"epochs": 2.5}}, "optim.epochs: expected a whole number"),
        ({"preprocessing": {"features": ["deta", "spin"]}}, "unknown feature"),
        ({"model": {"irc_safe": True}}, "IRC-safe model may only use angular features"),
        ({"objective": "simclr"}, "objective must be one of jetclr, anomalyclr"),
        ({"objective": "anomalyclr", "anomaly": {"drop_prob": 1.0}}, r"drop_prob must be in \(0, 1\)"),
        ({"objective": "vicreg", "pairs": {"pairing": "friends"}}, "pairing must be one of augmented"),
        ({"pairs": {"pairing": "same_class"}}, "section pairs is read by objective vicreg or barlow_twins, "
                                               "not by jetclr"),
        ({"objective": "vae_emd", "anomaly": {"drop_prob": 0.5}}, "section anomaly is read by objective "
                                                                  "anomalyclr, not by vae_emd"),
        ({"objective": "vicreg", "vicreg": {"variance": 1.0}}, "unknown key vicreg"),
        ({"sections": {"vae": {}}}, "unknown key sections"),
        ({"model": {"jet_features": ["log_pt"]}}, "objective jetclr takes none"),
    ],
)
def test_bad_config(tiny_config: Callable[..., Path],
                    tmp_path: Path, samples: dict[str, Path], change: dict[str, Any], message: str) -> None:
    with pytest.raises(JetCLRError, match=message):
        load_config(tiny_config(tmp_path, samples, **change))
