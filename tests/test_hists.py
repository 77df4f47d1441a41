"""The histograms' ROOT form (processors/hists.py): titles, and ROOT's global statistics."""

from __future__ import annotations

from pathlib import Path

import hist
import numpy as np
import pytest
import uproot
from jetclr_coffea.processors.hists import to_root_writable


def test_root_global_statistics_of_weighted_fills(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    h = hist.Hist(hist.axis.Regular(10, 0, 400, name="msd"), hist.axis.Variable([200, 500, 1500], name="pt"),
                  storage=hist.storage.Weight())
    msd, pt, w = rng.uniform(-50, 450, 1000), rng.uniform(150, 1600, 1000), rng.exponential(2.0, 1000)
    h.fill(msd=msd, pt=pt, weight=w)
    with uproot.recreate(tmp_path / "h.root") as f:
        f["qcd/h"] = to_root_writable(h, "h", "qcd")
    with uproot.open(tmp_path / "h.root") as f:
        th = f["qcd/h"]
        inside = (msd >= 0) & (msd < 400) & (pt >= 200) & (pt < 1500)
        assert th.member("fTsumw") == pytest.approx(w[inside].sum())
        assert th.member("fTsumw2") == pytest.approx((w[inside] ** 2).sum())  # not the sum of weights
        assert th.member("fEntries") == pytest.approx(w.sum() ** 2 / (w**2).sum())  # every fill, flow too
        assert th.member("fTitle") == "qcd: h"
        np.testing.assert_allclose(th.variances(), h.variances())
    unit = hist.Hist(hist.axis.Regular(4, 0, 4, name="msd"), storage=hist.storage.Weight())
    unit.fill(msd=[0.5, 1.5, 9.0])  # unit weights: fEntries is the number of fills, overflow included
    with uproot.recreate(tmp_path / "u.root") as f:
        f["u"] = to_root_writable(unit, "u", "d")
    with uproot.open(tmp_path / "u.root") as f:
        assert f["u"].member("fEntries") == 3.0 and f["u"].member("fTsumw2") == 2.0
