"""Sort constituents by pT and pad or truncate them to a fixed length."""

from __future__ import annotations

import awkward as ak
import numpy as np
import numpy.typing as npt

__all__ = ["pad_fields", "sort_by_pt"]


def sort_by_pt(constituents: ak.Array) -> ak.Array:
    """Constituents of each jet in decreasing pT (jets x var records with a ``pt`` field)."""
    return constituents[ak.argsort(constituents.pt, axis=1, ascending=False)]


def pad_fields(
    constituents: ak.Array, fields: tuple[str, ...], n_max: int
) -> tuple[dict[str, npt.NDArray[np.float64]], npt.NDArray[np.bool_]]:
    """Truncate/pad each jet's constituents to ``n_max`` entries.

    Args:
        constituents: jets x var records (already in the order to keep, e.g. by pT).
        fields: the fields to return.
        n_max: the fixed length.

    Returns:
        ``(values, mask)``: field -> (n_jets, n_max) float64 arrays with zeros in padding,
        and the (n_jets, n_max) mask that is True for real constituents.
    """
    if n_max <= 0:
        raise ValueError(f"n_max must be positive, got {n_max}")
    counts = np.asarray(ak.to_numpy(ak.num(constituents, axis=1)), dtype=np.int64)
    n_jets = len(counts)
    kept = np.minimum(counts, n_max)
    mask = np.arange(n_max)[None, :] < kept[:, None]
    # flat positions of the kept entries
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    rows, cols = np.nonzero(mask)
    src = starts[rows] + cols
    values = {}
    for name in fields:
        flat = np.asarray(ak.to_numpy(ak.flatten(constituents[name], axis=None)), dtype=np.float64)
        out = np.zeros((n_jets, n_max), dtype=np.float64)
        out[rows, cols] = flat[src]
        values[name] = out
    return values, mask
