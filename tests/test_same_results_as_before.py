"""One seed gives bitwise the same results as before the package was split into subpackages.

``tests/data/golden_before_layout.npz`` was written by the code of the commit before the
move, with the calls below; any change of behaviour in a refactoring shows up here as
a bitwise difference. A deliberate change of an algorithm regenerates the file (and says
so in its commit).
"""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

import tt_ref

GOLDEN = pathlib.Path(__file__).parent / "data" / "golden_before_layout.npz"


def _results() -> dict[str, np.ndarray]:
    out = {}
    rng = np.random.default_rng(1234)
    x = rng.standard_normal((4, 5, 6, 3))
    tt = tt_ref.tt_svd(x, eps=1e-3)
    out.update({f"tt_svd/core{i}": np.asarray(c) for i, c in enumerate(tt.cores)})
    rounded = tt_ref.round(tt + tt, eps=1e-2)
    out.update({f"round/core{i}": np.asarray(c) for i, c in enumerate(rounded.cores)})
    out.update({f"random_tt/core{i}": np.asarray(c) for i, c in enumerate(tt_ref.random_tt((3, 4, 5), 2, seed=7).cores)})
    X = rng.standard_normal((600, 8))
    # The fit's first-release options (refinement off): tt_ref.cloud._config.LEGACY_OPTIONS.
    fit = tt_ref.fit_point_cloud(X, mode_sizes=(8, 4), ranks=(4,), steps=30, seed=3, batch_size=256, progress=False,
                                 refine_sweeps=0, repair=False)
    out.update({f"fit/core{i}": np.asarray(c) for i, c in enumerate(fit.cloud.cores)})
    centers, labels = tt_ref.kmeans(X, 5, seed=2)[:2]
    out["kmeans/centers"], out["kmeans/labels"] = np.asarray(centers), np.asarray(labels)
    index = tt_ref.TTIndex(8, (8, 4), (4,), seed=3, fit_options={"steps": 30, "batch_size": 256, "progress": False,
                                                                   "refine_sweeps": 0, "repair": False})
    index.train(X)
    index.add(X)
    dist, ids = index.search(X[:20], 5, beam=4, scan="gather")
    out["index/dist"], out["index/ids"] = np.asarray(dist), np.asarray(ids)
    detector = tt_ref.KNNDetector(k=3).fit(X[:300])
    out["ood/score"] = np.asarray(detector.kth_distance(X[300:320]))
    out["bank/points"] = np.asarray(tt_ref.build_bank(X, "tt", 400, seed=1, progress=False, steps=1000,
                                                      refine_sweeps=0, repair=False))
    out["nn/ids"] = np.asarray(tt_ref.nearest_neighbors(X[:10], X, 3)[1])
    return out


def test_same_results_as_before_the_move():
    golden = np.load(GOLDEN)
    results = _results()
    assert sorted(results) == sorted(golden.files)
    for name in golden.files:
        np.testing.assert_array_equal(results[name], golden[name], err_msg=name)
