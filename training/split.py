"""The validation sample of a training run: a share of the events, by a hash of each event.

A jet's event is (file index, entry); the split is a function of that pair alone, so it is
the same on every run and every ``--resume`` of a config, all jets of one event fall on
one side, and changing ``optim.seed`` does not move jets between training and validation
(runs with other seeds are compared on the same validation jets).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["validation_mask"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _mix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """SplitMix64's finaliser: every input bit spreads over the output (uint64, wrapping)."""
    x = (x ^ (x >> np.uint64(30))) * _MIX1
    x = (x ^ (x >> np.uint64(27))) * _MIX2
    return x ^ (x >> np.uint64(31))


def validation_mask(event: npt.NDArray[np.int64], fraction: float) -> npt.NDArray[np.bool_]:
    """Whether each jet belongs to the validation sample.

    Args:
        event: (n_jets, 2) the file index and entry of each jet's event.
        fraction: the share of events to hold out, in [0, 1).

    Returns:
        (n_jets,) True for validation jets; about ``fraction`` of the events.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    e = np.asarray(event, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        h = _mix(_mix(e[:, 0] * _GOLDEN) ^ (e[:, 1] + _GOLDEN))
    return (h >> np.uint64(11)).astype(np.float64) / 2.0**53 < fraction
