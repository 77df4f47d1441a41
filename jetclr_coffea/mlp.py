"""The multilayer perceptron the per-particle and per-jet networks are built from."""

from __future__ import annotations

from torch import nn

__all__ = ["mlp"]


def mlp(n_in: int, hidden: int, n_out: int, layers: int,
        activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """``layers`` hidden layers of width ``hidden``, each followed by ``activation``, then a
    linear output of width ``n_out``."""
    mods: list[nn.Module] = []
    for i in range(layers):
        mods += [nn.Linear(n_in if i == 0 else hidden, hidden), activation()]
    mods.append(nn.Linear(hidden, n_out))
    return nn.Sequential(*mods)
