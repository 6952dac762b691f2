"""TTPointCloud: decoding, hierarchy, sampling, files (specs/point_cloud.md)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from helpers import eps_of, rel_err, to_np, to_xp
from hypothesis import given
from hypothesis import strategies as st

from tt_ref.cloud._point_cloud import TTPointCloud, check_config, n_params_for


# --------------------------------------------------------------------------- references
def dense_reference(cores) -> np.ndarray:
    """All points (P, D) by a plain NumPy loop over every multi-index, in float64."""
    cores = [to_np(c).astype(np.float64) for c in cores]
    sizes = [c.shape[1] for c in cores]
    rows = []
    for multi in np.ndindex(*sizes):  # C order: i_1 slowest
        acc = cores[0][:, multi[0], :]
        for core, i in zip(cores[1:], multi[1:]):
            acc = acc @ core[:, i, :]
        rows.append(acc[:, 0])
    return np.array(rows)


def random_cores(rng, dim, mode_sizes, ranks):
    left = (dim,) + tuple(ranks)
    right = tuple(ranks) + (1,)
    return [rng.normal(size=(a, n, b)) for a, n, b in zip(left, mode_sizes, right)]


configs = st.tuples(
    st.integers(1, 5),  # D
    st.lists(st.integers(1, 4), min_size=1, max_size=4),  # mode sizes
    st.integers(1, 3),  # max rank
    st.integers(0, 2**31 - 1),  # seed
)


def draw_cloud(config, xp, dtype):
    dim, mode_sizes, max_rank, seed = config
    rng = np.random.default_rng(seed)
    ranks = [int(rng.integers(1, max_rank + 1)) for _ in mode_sizes[1:]]
    cores = random_cores(rng, dim, mode_sizes, ranks)
    return TTPointCloud([to_xp(c, xp, dtype) for c in cores]), cores, rng


# --------------------------------------------------------------------------- formula
@given(configs)
def test_n_params_matches_formula(config):
    """specs/point_cloud.md §Parameters: D n_1 r_1 + sum_j r_{j-1} n_j r_j."""
    dim, mode_sizes, max_rank, seed = config
    ranks = [max_rank] * (len(mode_sizes) - 1)
    left = [dim] + ranks
    right = ranks + [1]
    expected = sum(a * n * b for a, n, b in zip(left, mode_sizes, right))
    assert n_params_for(dim, mode_sizes, ranks) == expected
    cloud = TTPointCloud.random(dim, mode_sizes, ranks, seed=seed)
    assert cloud.n_params == expected
    assert cloud.dim == dim and cloud.mode_sizes == tuple(mode_sizes) and cloud.ranks == tuple(ranks)
    assert cloud.n_points == int(np.prod(mode_sizes)) and cloud.n_levels == len(mode_sizes)


# --------------------------------------------------------------------------- decoding
@given(configs, st.data())
def test_decode_equals_dense_contraction(xp, dtype, config, data):
    """specs/point_cloud.md §Decoding: flat (C order) and multi-indices give the dense points."""
    cloud, cores, rng = draw_cloud(config, xp, dtype)
    ref = dense_reference(cores)
    tol = 100 * eps_of(dtype)
    n_batch = data.draw(st.integers(1, 12))
    flat = rng.integers(0, cloud.n_points, size=n_batch)
    got = cloud.decode(to_xp(flat, xp))
    assert got.shape == (n_batch, cloud.dim)
    assert rel_err(got, ref[flat]) <= tol
    multi = np.stack(np.unravel_index(flat, cloud.mode_sizes), axis=1)
    assert rel_err(cloud.decode(to_xp(multi, xp)), ref[flat]) <= tol
    assert np.array_equal(to_np(cloud.flat_to_multi(to_xp(flat, xp))), multi)
    assert np.array_equal(to_np(cloud.multi_to_flat(to_xp(multi, xp))), flat)
    assert rel_err(cloud.all_points(), ref) <= tol
    chunk = data.draw(st.integers(1, 7))
    pieces = [to_np(p) for p in cloud.points(chunk=chunk)]
    assert all(p.shape[0] <= chunk for p in pieces)
    assert rel_err(np.concatenate(pieces, axis=0), ref) <= tol


@given(configs)
def test_centroids_are_means_of_leaves(xp, dtype, config):
    """specs/point_cloud.md §Hierarchy: centroids(m) = mean of the decoded leaves under each prefix."""
    cloud, cores, _ = draw_cloud(config, xp, dtype)
    ref = dense_reference(cores)
    # Means of signed products cancel: the rounding bound is relative to the same means
    # taken over |cores| (the usual forward-error bound of a sum of products).
    ref_abs = dense_reference([np.abs(c) for c in cores])
    tol = 100 * eps_of(dtype)
    sizes = cloud.mode_sizes
    for level in range(cloud.n_levels + 1):
        n_prefix = int(np.prod(sizes[:level]))
        expected = ref.reshape(n_prefix, -1, cloud.dim).mean(axis=1)
        scale = np.linalg.norm(ref_abs.reshape(n_prefix, -1, cloud.dim).mean(axis=1))
        got = cloud.centroids(level)
        assert got.shape == (n_prefix, cloud.dim)
        assert np.linalg.norm(to_np(got).astype(np.float64) - expected) <= tol * scale
    means = cloud.mean_cores()
    assert [tuple(m.shape) for m in means] == [(c.shape[0], c.shape[2]) for c in cores]
    assert rel_err(means[0], cores[0].mean(axis=1)) <= tol


def test_centroids_use_no_decoding(monkeypatch):
    """specs/point_cloud.md §Hierarchy: centroids come from the factorized suffix means, not decode()."""
    import tt_ref.cloud._point_cloud as pc

    cloud = TTPointCloud.random(3, (2, 3, 4), (2, 2), seed=1)

    def forbidden(*args, **kwargs):
        raise AssertionError("centroids must not decode points")

    monkeypatch.setattr(pc, "_decode_multi", forbidden)
    for level in range(3):  # level 3 is the points themselves (dense contraction)
        cloud.centroids(level)


def test_sample_is_uniform_over_points(xp, dtype):
    """specs/point_cloud.md §Sampling: rows are cloud points, one seed gives the same rows everywhere."""
    cloud = TTPointCloud.random(2, (3, 2), (2,), seed=3, dtype=dtype, backend=_backend_of(xp))
    sample = to_np(cloud.sample(600, seed=5))
    points = to_np(cloud.all_points())
    dist = ((sample[:, None, :] - points[None, :, :]) ** 2).sum(-1)
    nearest = dist.argmin(axis=1)
    assert np.all(dist.min(axis=1) <= 100 * eps_of(dtype) * (1 + (points**2).sum(1).max()))
    counts = np.bincount(nearest, minlength=6)
    assert counts.min() > 60  # 100 expected per point; a biased sampler fails this
    again = TTPointCloud.random(2, (3, 2), (2,), seed=3, dtype=dtype).sample(600, seed=5)
    assert np.array_equal(to_np(again), sample)
    assert cloud.sample(0, seed=1).shape == (0, 2)


def test_random_has_requested_spread(xp, dtype):
    """specs/point_cloud.md §Random clouds: coordinates have about std `scale`."""
    cloud = TTPointCloud.random(4, (8, 8, 8), (4, 4), seed=0, dtype=dtype, backend=_backend_of(xp), scale=3.0)
    pts = to_np(cloud.all_points())
    assert 1.5 < pts.std() < 6.0
    assert cloud.dtype == getattr(xp, dtype)
    assert TTPointCloud.random(4, (2,), (), seed=0, scale=0.0).all_points().max() == 0.0


# --------------------------------------------------------------------------- conversions
def _backend_of(xp):
    from tt_ref._backend import backend_name

    return backend_name(xp)


def test_to_backend_and_astype(xp, dtype):
    """specs/point_cloud.md §Backends: moving is bitwise, casting changes the dtype only."""
    cloud = TTPointCloud.random(3, (2, 3), (2,), seed=0, dtype=dtype)
    moved = cloud.to_backend(_backend_of(xp))
    assert moved.backend == _backend_of(xp)
    for a, b in zip(cloud.cores, moved.cores):
        assert np.array_equal(to_np(a), to_np(b))
    other = "float32" if dtype == "float64" else "float64"
    assert moved.astype(other).dtype == getattr(xp, other)
    with pytest.raises(ValueError, match="backend"):
        cloud.to_backend("torch")
    with pytest.raises(AttributeError, match="immutable"):
        cloud.dim = 4


# --------------------------------------------------------------------------- files
def test_save_load_round_trip(xp, dtype, tmp_path):
    """specs/point_cloud.md §Files: .npz round trip gives bitwise identical points."""
    cloud = TTPointCloud.random(3, (2, 3, 2), (2, 3), seed=4, dtype=dtype, backend=_backend_of(xp))
    path = tmp_path / "cloud.npz"
    cloud.save(path)
    loaded = TTPointCloud.load(path, backend=_backend_of(xp))
    assert loaded.dtype == cloud.dtype and loaded.backend == cloud.backend
    assert np.array_equal(to_np(loaded.all_points()), to_np(cloud.all_points()))
    cloud.save(str(tmp_path / "no_suffix"))  # written exactly where asked
    assert (tmp_path / "no_suffix").exists()
    assert sorted(os.listdir(tmp_path)) == ["cloud.npz", "no_suffix"]  # no temp files left


def test_load_rejects_foreign_and_corrupt_files(tmp_path):
    """specs/point_cloud.md §Files: a clear ValueError naming the path; no pickle."""
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, a=np.zeros(3))
    with pytest.raises(ValueError, match="not a tt_ref TT point cloud"):
        TTPointCloud.load(foreign)
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 this is not a zip archive")
    with pytest.raises(ValueError, match="not a tt_ref TT point cloud|damaged or truncated"):
        TTPointCloud.load(corrupt)
    cloud = TTPointCloud.random(2, (2, 2), (1,), seed=0)
    good = tmp_path / "good.npz"
    cloud.save(good)
    data = dict(np.load(good))
    data["version"] = np.array(99)
    np.savez(tmp_path / "future.npz", **data)
    with pytest.raises(ValueError, match="version 99|.version. is 99"):
        TTPointCloud.load(tmp_path / "future.npz")
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:60])
    with pytest.raises(ValueError, match="not a tt_ref TT point cloud|damaged or truncated"):
        TTPointCloud.load(truncated)
    with pytest.raises(FileNotFoundError, match="path|no such file"):
        TTPointCloud.load(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match="backend"):
        TTPointCloud.load(good, backend="jax")


def test_failed_save_leaves_nothing_half_written(tmp_path, monkeypatch):
    """specs/point_cloud.md §Files: a failure while writing keeps the old file and no temp file."""
    cloud = TTPointCloud.random(2, (2, 2), (1,), seed=0)
    path = tmp_path / "cloud.npz"
    cloud.save(path)
    before = path.read_bytes()

    def broken_savez(handle, **arrays):
        handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        TTPointCloud.random(2, (2, 2), (1,), seed=1).save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["cloud.npz"]
    with pytest.raises(FileNotFoundError, match="path|no such file"):
        cloud.save(tmp_path / "no_such_folder" / "c.npz")


# --------------------------------------------------------------------------- bad input
def test_bad_cores_rejected(xp):
    """specs/point_cloud.md §Validation: errors name the core and what was expected."""
    good = [np.ones((3, 2, 2)), np.ones((2, 2, 1))]
    bad_value = [np.full((3, 2, 2), np.nan), np.ones((2, 2, 1))]
    with pytest.raises(ValueError, match=r"cores\[0\] contains NaN"):
        TTPointCloud([to_xp(c, xp) for c in bad_value])
    with pytest.raises(ValueError, match="rank mismatch"):
        TTPointCloud([to_xp(good[0], xp), to_xp(np.ones((3, 2, 1)), xp)])
    with pytest.raises(ValueError, match="right boundary rank"):
        TTPointCloud([to_xp(good[0], xp)])
    with pytest.raises(ValueError, match="3 dimensions"):
        TTPointCloud([to_xp(np.ones((3, 2)), xp)])
    with pytest.raises(ValueError, match="at least one core"):
        TTPointCloud([])


def test_bad_indices_and_levels(xp):
    """specs/point_cloud.md §Validation: out-of-range or malformed indices raise IndexError / ValueError / TypeError."""
    cloud = TTPointCloud.random(2, (2, 3), (2,), seed=0, backend=_backend_of(xp))
    with pytest.raises(IndexError, match=r"\[0, 6\)"):
        cloud.decode(to_xp(np.array([6]), xp))
    with pytest.raises(IndexError, match="indices"):
        cloud.decode(to_xp(np.array([-1]), xp))
    with pytest.raises(IndexError, match="mode sizes"):
        cloud.decode(to_xp(np.array([[0, 3]]), xp))
    with pytest.raises(ValueError, match=r"shape \(B, 2\)"):
        cloud.decode(to_xp(np.array([[0, 1, 0]]), xp))
    with pytest.raises(TypeError, match="integer"):
        cloud.decode(to_xp(np.array([0.0]), xp))
    with pytest.raises(ValueError, match="level"):
        cloud.centroids(3)
    with pytest.raises(ValueError, match="chunk"):
        next(cloud.points(chunk=0))
    with pytest.raises(ValueError, match="n must"):
        cloud.sample(-1)


def test_bad_config_rejected():
    """specs/point_cloud.md §Validation: mode sizes / ranks below 1 and a wrong rank count."""
    with pytest.raises(ValueError, match="mode_sizes"):
        n_params_for(3, (2, 0), (1,))
    with pytest.raises(ValueError, match="ranks"):
        n_params_for(3, (2, 2), (0,))
    with pytest.raises(ValueError, match="len\\(mode_sizes\\) - 1"):
        check_config(3, (2, 2), (1, 1))
    with pytest.raises(ValueError, match="dim"):
        TTPointCloud.random(0, (2,), ())
    with pytest.raises(TypeError, match="mode_sizes"):
        n_params_for(3, (2.5,), ())
    with pytest.raises(ValueError, match="scale"):
        TTPointCloud.random(2, (2,), (), scale=-1.0)
