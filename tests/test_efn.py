"""jetclr_coffea/efn.py: the Energy Flow Network is IRC safe, permutation invariant, and
reads its jet features."""

from __future__ import annotations

import numpy as np
import pytest
import torch


def test_efn_is_irc_safe_and_permutation_invariant() -> None:
    from jetclr_coffea.efn import EFNConfig, EnergyFlowNetwork

    torch.manual_seed(0)
    efn = EnergyFlowNetwork(EFNConfig(n_features=2, hidden=16, latent=8))
    g = torch.Generator().manual_seed(1)
    x = torch.randn(5, 10, 2, generator=g)
    w = torch.rand(5, 10, generator=g)
    w = w / w.sum(1, keepdim=True)
    emb, logit = efn(x, w)
    perm = torch.randperm(10, generator=g)
    torch.testing.assert_close(efn(x[:, perm], w[:, perm])[0], emb)  # order does not matter
    split_x = torch.cat([x, x[:, :1]], 1)  # the first particle split collinearly in two halves
    split_w = torch.cat([w, w[:, :1] / 2], 1)
    split_w[:, 0] /= 2
    torch.testing.assert_close(efn(split_x, split_w)[0], emb)
    soft = torch.cat([x, torch.randn(5, 1, 2, generator=g)], 1)  # a zero-pT particle anywhere
    torch.testing.assert_close(efn(soft, torch.cat([w, torch.zeros(5, 1)], 1))[1], logit)


def test_jet_features_are_checked() -> None:
    from jetclr_coffea.efn import EFNConfig
    from jetclr_coffea.preprocessing import jet_features

    with pytest.raises(ValueError, match="jet_features must be distinct names"):
        EFNConfig(jet_features=("rho",))
    with pytest.raises(ValueError, match="unknown jet feature"):
        jet_features({"pt": np.ones(2)}, ("rho",))
    with pytest.raises(ValueError, match=r"need the FatJet field\(s\) \['tau1'\]"):
        jet_features({"tau2": np.ones(2)}, ("tau21",))
    fields = {"msoftdrop": np.array([60.0, np.nan, -1.0]), "pt": np.array([600.0, 500.0, 400.0]),
              "tau1": np.array([0.2, 0.0, 0.1]), "tau2": np.array([0.1, 0.1, 0.05]),
              "tau3": np.array([0.05, 0.05, 0.0]), "n2b1": np.array([0.2, np.nan, 0.3])}
    got = jet_features(fields, ("msoftdrop_over_pt", "log_pt", "tau21", "tau32", "n2b1"))
    np.testing.assert_allclose(got, [[0.1, np.log(600), 0.5, 0.5, 0.2], [0.0, np.log(500), 0.0, 0.5, 0.0],
                                     [0.0, np.log(400), 0.5, 0.0, 0.3]], rtol=1e-6)
    # the torch path gives the same numbers (training computes them on tensors)
    torch.testing.assert_close(jet_features({k: torch.as_tensor(v) for k, v in fields.items()},
                                            ("msoftdrop_over_pt", "tau21", "n2b1")),
                               torch.as_tensor(got[:, [0, 2, 4]]))


def test_efn_control_without_constituents_reads_the_jet_features_only() -> None:
    from jetclr_coffea.efn import EFNConfig, EnergyFlowNetwork

    with pytest.raises(ValueError, match="without constituents needs jet_features"):
        EFNConfig(constituents=False)
    torch.manual_seed(0)
    efn = EnergyFlowNetwork(EFNConfig(n_features=3, hidden=8, latent=4, jet_features=("tau21", "n2b1"),
                                      constituents=False))
    assert efn.cfg.embedding_width == 2 and efn.phi is None
    jet = torch.rand(6, 2)
    emb, logit = efn(torch.randn(6, 5, 3), torch.rand(6, 5), jet)
    torch.testing.assert_close(emb, jet)
    torch.testing.assert_close(efn(torch.randn(6, 9, 3), torch.rand(6, 9), jet)[1], logit)
