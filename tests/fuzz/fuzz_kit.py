"""The fuzz suite's kit: bad values by kind, the registry of public entry points, the judge.

specs/errors.md is the contract. Each public entry point is a :class:`Case`: a valid, small
call and the kind of each argument. The fuzzer replaces one argument at a time by a bad value
of its kind (:func:`bad_values`, or the hypothesis strategy :func:`bad_value_strategy`), runs
the call under a time limit and judges the outcome (:func:`judge`):

* ``"ok"``: a result where one is allowed;
* ``"clear"``: an :class:`~tt_ref.InputError` (or ``FileNotFoundError``) whose message names
  the argument;
* a failure: ``"crash"`` (any other exception, ``MemoryError`` included), ``"unnamed"`` (an
  InputError that does not name the argument), ``"accepted"`` (a result where the input must
  be refused), ``"refused"`` (an error for an input that must work, e.g. ``np.int64(3)``),
  ``"hang"`` (over the time limit).

:data:`COUNTS` adds up every outcome of the session; ``tests/fuzz/conftest.py`` prints it.
"""

from __future__ import annotations

import contextlib
import functools
import math
import signal
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from hypothesis import strategies as st

import tt_ref
from tt_ref._backend import InputError, namespace_for

#: Outcomes of the whole session: "tried", "clear", "ok", and one key per failure kind.
COUNTS: Counter = Counter()
#: Every failure of the session, as text (printed by conftest).
FAILURES: list[str] = []
FAILURE_KINDS = ("crash", "unnamed", "accepted", "refused", "hang")

#: Seconds one fuzzed call may take before it counts as a hang.
TIME_LIMIT = 20
#: tt_ref's memory limit during fuzzed calls (every valid call here needs a few KB).
MEMORY_LIMIT = 1 << 30
#: Address space a fuzzed call may add to the process: a request the library forgot to size
#: fails with MemoryError (a finding) instead of driving the machine into its OOM killer.
ADDRESS_SPACE_HEADROOM = 4 << 30


# --------------------------------------------------------------------------- the judge
class Hang(Exception):
    """Raised by the alarm when a call runs past :data:`TIME_LIMIT`."""


@contextlib.contextmanager
def address_space_limit(headroom: int = ADDRESS_SPACE_HEADROOM):
    """Cap the process's address space at its current size plus ``headroom`` (POSIX only)."""
    try:
        import resource

        with open("/proc/self/statm") as handle:
            size = int(handle.read().split()[0]) * resource.getpagesize()
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, ValueError):
        yield
        return
    cap = size + headroom if hard == resource.RLIM_INFINITY else min(hard, size + headroom)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@contextlib.contextmanager
def time_limit(seconds: int = TIME_LIMIT):
    def alarm(signum, frame):
        raise Hang(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def judge(call: Callable[[], Any], *, names: tuple[str, ...], expect: str, allow_file_errors: bool = False,
          range_refusal: bool = False):
    """Run ``call`` and classify the outcome; returns ``(outcome, detail)``.

    ``expect`` is ``"error"`` (must be refused), ``"result"`` (must work) or ``"either"``.
    An error is clear when it is an InputError (or, with ``allow_file_errors``, a
    ``FileNotFoundError``) and its message contains one of ``names``. With
    ``range_refusal`` (values near the float range's ends), a refusal that says the
    result leaves the float range is clear too (specs/errors.md §Arrays, last row).
    """
    try:
        with time_limit(), address_space_limit(), tt_ref.memory_limit(MEMORY_LIMIT):
            call()
    except Hang as exc:
        return "hang", str(exc)
    except InputError as exc:
        message = str(exc)
        in_range_words = range_refusal and any(w in message for w in ("float64", "float32", "rescale"))
        if not any(name in message for name in names) and not in_range_words:
            return "unnamed", f"{type(exc).__name__}: {message}"
        if expect == "result":
            return "refused", f"{type(exc).__name__}: {message}"
        return "clear", message
    except FileNotFoundError as exc:
        if allow_file_errors:
            return "clear", str(exc)
        return "crash", f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001 - any other exception is the finding
        return "crash", f"{type(exc).__name__}: {exc} (raised at {_origin(exc)})"
    if expect == "error":
        return "accepted", "returned a result"
    return "ok", ""


def _origin(exc) -> str:
    """``file:line`` of the innermost tt_ref frame of ``exc``'s traceback (where to fix it)."""
    import traceback

    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/tt_ref/" in f.filename]
    frame = frames[-1] if frames else traceback.extract_tb(exc.__traceback__)[-1]
    return f"{frame.filename.split('/tt_ref/')[-1]}:{frame.lineno}"


def record(case: str, label: str, outcome: str, detail: str) -> None:
    COUNTS["tried"] += 1
    COUNTS[outcome] += 1
    if outcome in FAILURE_KINDS:
        FAILURES.append(f"{case} [{label}]: {outcome}: {detail[:300]}")


# --------------------------------------------------------------------------- bad values
def _other_backend(value):
    """``value`` moved to the other CPU backend (numpy <-> array_api_strict)."""
    name = "array_api_strict" if isinstance(value, np.ndarray) else "numpy"
    return tt_ref.to_backend(value, name)


def _host(value) -> np.ndarray:
    return np.asarray(tt_ref._backend.to_numpy(value))


def _array_values(valid, xp, *, ndim_fixed: bool, floating: bool = True):
    """(label, value, expect) for an array argument whose valid value is ``valid``."""
    host = _host(valid)
    out = [
        ("list", host.tolist(), "error"),
        ("tuple", tuple(host.tolist()) if host.ndim else (float(host),), "error"),
        ("python float", 1.5, "error"),
        ("None", None, "error"),
        ("string", "array", "error"),
        ("other backend", _other_backend(valid), "either"),
    ]
    if floating:
        out += [
            ("complex", xp.asarray(host.astype(np.complex128)), "error"),
            ("bool", xp.asarray(host != 0), "either"),
            ("int", xp.asarray(np.round(host).astype(np.int64)), "either"),
        ]
        if host.size:
            nan, inf = host.astype(np.float64).copy(), host.astype(np.float64).copy()
            nan.flat[host.size // 2] = np.nan
            inf.flat[0] = -np.inf
            out += [("NaN", xp.asarray(nan.astype(host.dtype)), "error"),
                    ("inf", xp.asarray(inf.astype(host.dtype)), "error"),
                    ("huge", xp.asarray(host.astype(np.float64) * 1e300), "either"),
                    ("tiny", xp.asarray(host.astype(np.float64) * 1e-300), "either")]
        if isinstance(valid, np.ndarray):  # dtypes array_api_strict does not have
            out += [("float16", host.astype(np.float16), "error"),
                    ("object", host.astype(object), "error"),
                    ("strings", host.astype(str), "error")]
    if ndim_fixed and host.ndim >= 1:
        out += [("one more axis", xp.asarray(host[None]), "error"),
                ("0-d", xp.asarray(host.reshape(-1)[0]), "error")]
        if host.ndim >= 2:
            out.append(("one axis less", xp.asarray(host[0]), "error"))
        out.append(("no rows", xp.asarray(host[:0]), "either"))
        if host.ndim >= 2:
            out.append(("no columns", xp.asarray(host[:, :0]), "error"))
    return out


def _int_values(valid: int, *, minimum: int | None, optional: bool, huge: bool):
    out = [
        ("negative", -1, "error" if minimum is not None and minimum >= 0 else "either"),
        ("zero", 0, "error" if minimum is not None and minimum >= 1 else "either"),
        ("float", 2.5, "error"),
        ("integral float", float(valid), "error"),
        ("bool", True, "error"),
        ("str", str(valid), "error"),
        ("None", None, "either" if optional else "error"),
        ("list", [valid], "error"),
        ("numpy int64", np.int64(valid), "result"),
    ]
    if abs(valid) < 2**31:
        out.append(("numpy int32", np.int32(valid), "result"))
    if huge:
        out.append(("huge", 10**12, "either"))
        out.append(("astronomical", 2**70, "either"))
    return out


def _real_values(valid: float, *, optional: bool, positive: bool):
    return [
        ("str", str(valid), "error"),
        ("None", None, "either" if optional else "error"),
        ("nan", float("nan"), "error"),
        ("inf", float("inf"), "error"),
        ("negative", -abs(valid) - 1.0, "error" if positive else "either"),
        ("bool", True, "error"),
        ("list", [valid], "error"),
        ("numpy float", np.float64(valid), "result"),
        ("complex", complex(valid, 1.0), "error"),
    ]


def _choice_values(optional: bool):
    return [("unknown", "no-such-choice", "error"), ("int", 3, "error"),
            ("None", None, "either" if optional else "error")]


def _seed_values():
    return [("negative", -1, "error"), ("str", "seed", "error"), ("float", 2.5, "error"),
            ("numpy int", np.int64(3), "result"), ("list of str", ["a"], "error")]


def _sequence_values(valid: tuple, *, huge: bool):
    out = [
        ("empty", (), "error"),
        ("zero entry", valid[:-1] + (0,), "error"),
        ("negative entry", valid[:-1] + (-2,), "error"),
        ("float entry", valid[:-1] + (2.5,), "error"),
        ("bool entry", valid[:-1] + (True,), "error"),
        ("str", "44", "error"),
        ("None", None, "error"),
        ("numpy ints", tuple(np.int64(v) for v in valid), "result"),
        ("numpy array", np.asarray(valid, dtype=np.int64), "either"),
    ]
    if huge:
        out.append(("huge", (10**9,) * 10, "either"))
    return out


def _object_values(valid):
    """A tt_ref object argument (TensorTrain, TTMatrix, cloud): other things in its place."""
    return [("array", np.ones((2, 2)), "error"), ("None", None, "error"), ("int", 3, "error"),
            ("list", [valid], "error"), ("str", "tt", "error")]


def _index_array_values(valid, xp):
    host = _host(valid)
    return [
        ("list", host.tolist(), "either"),
        ("float", xp.asarray(host.astype(np.float64) + 0.5), "error"),
        ("negative", xp.asarray(host - 10**6), "error"),
        ("too large", xp.asarray(host + 10**6), "error"),
        ("None", None, "error"),
        ("python float", 1.5, "error"),
        ("one more axis", xp.asarray(host[None]), "error"),
        ("other backend", _other_backend(xp.asarray(host)), "either"),
        ("empty", xp.asarray(host[:0]), "either"),
    ]


def _cores_values(valid_cores, xp):
    host = [_host(c) for c in valid_cores]
    bad_rank = [h.copy() for h in host]
    bad_rank[-1] = np.ones((host[-1].shape[0] + 1,) + host[-1].shape[1:])
    nan = [h.copy() for h in host]
    nan[0].flat[0] = np.nan
    out = [
        ("empty list", [], "error"),
        ("None", None, "error"),
        ("array not list", xp.asarray(host[0]), "error"),
        ("ranks do not chain", [xp.asarray(h) for h in bad_rank], "error"),
        ("NaN core", [xp.asarray(h) for h in nan], "error"),
        ("one core too few axes", [xp.asarray(host[0][0])] + [xp.asarray(h) for h in host[1:]], "error"),
        ("lists", [h.tolist() for h in host], "error"),
        ("mixed backends", [xp.asarray(host[0])] + [_other_backend(xp.asarray(h)) for h in host[1:]], "error"),
        ("complex core", [xp.asarray(h.astype(np.complex128)) for h in host], "error"),
        ("int cores", [xp.asarray(np.round(h).astype(np.int64)) for h in host], "either"),
    ]
    if xp is namespace_for("numpy"):
        out.append(("float16 cores", [h.astype(np.float16) for h in host], "error"))
    return out


def bad_values(arg: "Arg", valid, xp) -> list[tuple[str, Any, str]]:
    """Every deterministic bad value of ``arg``'s kind: (label, value, expect)."""
    kind = arg.kind
    if kind in ("points", "tensor", "vector"):
        values = _array_values(valid, xp, ndim_fixed=kind != "tensor")
    elif kind == "indices":
        values = _index_array_values(valid, xp)
    elif kind == "size":
        values = _int_values(valid, minimum=arg.minimum, optional=arg.optional, huge=True)
    elif kind == "count":
        values = _int_values(valid, minimum=arg.minimum, optional=arg.optional, huge=False)
    elif kind == "real":
        values = _real_values(valid, optional=arg.optional, positive=arg.minimum is not None)
    elif kind in ("choice", "backend", "dtype"):
        values = _choice_values(arg.optional or kind == "dtype")  # dtype=None means float64
    elif kind == "seed":
        values = _seed_values()
    elif kind == "sequence":
        values = _sequence_values(tuple(valid), huge=arg.huge)
    elif kind == "object":
        values = _object_values(valid)
    elif kind == "cores":
        values = _cores_values(valid, xp)
    else:
        raise ValueError(f"no bad values for kind {kind!r}")
    return [v for v in values if v[0] not in arg.skip]


def bad_value_strategy(arg: "Arg", valid, xp):
    """A hypothesis strategy over bad values of ``arg``: the fixed ones plus random variants
    (random integers and reals far outside the range, arrays with random NaN positions)."""
    fixed = st.sampled_from(bad_values(arg, valid, xp))
    if arg.kind in ("size", "count"):
        low = arg.minimum if arg.minimum is not None else 0
        random_ints = st.integers(-(2**63), low - 1).map(lambda v: (f"int {v}", v, "error")) if low > -(2**63) \
            else st.nothing()
        random_floats = st.floats(allow_nan=True, allow_infinity=True).map(lambda v: (f"float {v!r}", v, "error"))
        return st.one_of(fixed, random_ints, random_floats)
    if arg.kind == "real":
        return st.one_of(fixed, st.text(max_size=5).map(lambda v: (f"str {v!r}", v, "error")))
    if arg.kind in ("points", "vector") and isinstance(valid, np.ndarray) and valid.size:
        def poison(data):
            position, value = data
            bad = valid.astype(np.float64).copy()
            bad.flat[position % bad.size] = value
            return (f"{value!r} at {position % bad.size}", bad, "error")
        return st.one_of(fixed, st.tuples(st.integers(0, 10**6), st.sampled_from([np.nan, np.inf, -np.inf])).map(poison))
    return fixed


# --------------------------------------------------------------------------- the registry
@dataclass(frozen=True)
class Arg:
    """One argument of an entry point: its name (as messages name it) and its kind."""

    name: str
    kind: str
    optional: bool = False
    minimum: int | None = None
    huge: bool = False  # for "sequence": also try a shape of 10**90 elements
    skip: tuple = ()  # labels of bad values that do not apply (documented per case)


@dataclass(frozen=True)
class Case:
    """A public entry point: ``build(xp) -> (func, kwargs)`` gives a valid, small call."""

    name: str
    build: Callable
    args: tuple
    names: dict = field(default_factory=dict)  # argument -> extra names its errors may use


# Small, fixed data: every valid call takes milliseconds.
def _points(n=40, d=6, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d))


@functools.lru_cache(maxsize=None)
def _fixtures(backend: str):
    """Objects some cases need (fitted once per backend)."""
    xp = namespace_for(backend)
    X = xp.asarray(_points())
    tt = tt_ref.random_tt((3, 4, 5), 2, seed=1, backend=backend)
    tt2 = tt_ref.random_tt((3, 4, 5), 3, seed=2, backend=backend)
    ttm = tt_ref.ttm_svd(xp.asarray(_points(6, 6, 3)), (2, 3), (2, 3), max_rank=2)
    cloud = tt_ref.TTPointCloud.random(6, (3, 4), (2,), seed=0, backend=backend)
    index = tt_ref.TTIndex(6, (3, 3), (2,), fit_options={"steps": 3, "progress": False, "batch_size": 16})
    index.train(X)
    index.add(X)
    detector = tt_ref.KNNDetector(k=2).fit(X)
    return {"xp": xp, "X": X, "Q": xp.asarray(_points(5, 6, 1)), "tt": tt, "tt2": tt2, "ttm": ttm, "cloud": cloud,
            "index": index, "detector": detector}


def _case(name, build, *args, **names):
    return Case(name, build, tuple(args), names)


def _fit_options(**kw):
    return {"steps": 2, "progress": False, "batch_size": 16, **kw}


def _memory(nbytes):
    previous = tt_ref.set_memory_limit(nbytes)
    tt_ref.set_memory_limit(previous)


def _with_limit(nbytes):
    with tt_ref.memory_limit(nbytes):
        pass


def cases() -> list[Case]:
    """Every public entry point with a valid call and its arguments' kinds."""
    f = _fixtures
    P = Arg("X", "points")
    return [
        # ------------------------------------------------------------------ backend
        _case("to_backend", lambda b: (tt_ref.to_backend, {"obj": f(b)["X"], "backend": "numpy"}),
              Arg("backend", "backend")),
        _case("to_backend(obj)", lambda b: (tt_ref.to_backend, {"obj": f(b)["X"], "backend": "numpy"}),
              Arg("obj", "object", skip=("list", "array"))),
        _case("namespace_for", lambda b: (tt_ref.namespace_for, {"backend": b}), Arg("backend", "backend")),
        _case("is_backend_available", lambda b: (tt_ref.is_backend_available, {"backend": b}),
              Arg("backend", "backend")),
        _case("set_memory_limit", lambda b: (_memory, {"nbytes": 2**33}), Arg("nbytes", "count", minimum=1,
              optional=True)),
        _case("memory_limit", lambda b: (_with_limit, {"nbytes": 2**33}), Arg("nbytes", "count", minimum=1,
              optional=True)),
        # ------------------------------------------------------------------ the TT toolkit
        _case("TensorTrain", lambda b: (tt_ref.TensorTrain, {"cores": list(f(b)["tt"].cores)}), Arg("cores", "cores")),
        _case("tt_svd", lambda b: (tt_ref.tt_svd, {"x": f(b)["xp"].asarray(_points(4, 12).reshape(4, 3, 4)),
                                                   "eps": 1e-3, "max_rank": 3}),
              Arg("x", "tensor"), Arg("eps", "real", optional=True, minimum=0),
              Arg("max_rank", "size", optional=True, minimum=1)),
        _case("round", lambda b: (tt_ref.round, {"tt": f(b)["tt"], "eps": 1e-3, "max_rank": 2}),
              Arg("tt", "object"), Arg("eps", "real", optional=True, minimum=0),
              Arg("max_rank", "size", optional=True, minimum=1)),
        _case("orthogonalize", lambda b: (tt_ref.orthogonalize, {"tt": f(b)["tt"], "direction": "left"}),
              Arg("tt", "object"), Arg("direction", "choice")),
        _case("full", lambda b: (tt_ref.full, {"tt": f(b)["tt"]}), Arg("tt", "object")),
        _case("get_many", lambda b: (tt_ref.get_many, {"tt": f(b)["tt"], "indices": f(b)["xp"].asarray(
            np.array([[0, 1, 2], [2, 3, 4]])), "chunk_size": 8}),
              Arg("tt", "object"), Arg("indices", "indices"), Arg("chunk_size", "size", optional=True, minimum=1)),
        *[_case(op, (lambda op: lambda b: (getattr(tt_ref, op), {"a": f(b)["tt"], "b": f(b)["tt2"]}))(op),
                Arg("a", "object"), Arg("b", "object")) for op in ("add", "sub", "hadamard", "dot")],
        _case("norm", lambda b: (tt_ref.norm, {"a": f(b)["tt"]}), Arg("a", "object")),
        _case("scale", lambda b: (tt_ref.scale, {"a": f(b)["tt"], "alpha": 2.0}),
              Arg("a", "object"), Arg("alpha", "real", skip=("negative",))),
        *[_case(name, (lambda name: lambda b: (getattr(tt_ref, name), {"shape": (3, 4), "dtype": "float64",
                                                                        "backend": b}))(name),
                Arg("shape", "sequence", huge=True), Arg("dtype", "dtype"), Arg("backend", "backend"))
          for name in ("zeros", "ones")],
        _case("random_tt", lambda b: (tt_ref.random_tt, {"shape": (3, 4), "ranks": 2, "seed": 0, "backend": b,
                                                         "scale": 1.0}),
              Arg("shape", "sequence", huge=True), Arg("ranks", "size", minimum=1, skip=("list",)), Arg("seed", "seed"),
              Arg("backend", "backend"), Arg("scale", "real", skip=("negative",))),
        _case("TTMatrix", lambda b: (tt_ref.TTMatrix, {"cores": list(f(b)["ttm"].cores)}), Arg("cores", "cores",
              skip=("one core too few axes",))),
        _case("ttm_svd", lambda b: (tt_ref.ttm_svd, {"matrix": f(b)["xp"].asarray(_points(6, 6)),
                                                     "row_shape": (2, 3), "col_shape": (2, 3), "max_rank": 2}),
              Arg("matrix", "points"), Arg("row_shape", "sequence"), Arg("col_shape", "sequence"),
              Arg("max_rank", "size", optional=True, minimum=1)),
        _case("to_dense", lambda b: (tt_ref.to_dense, {"ttm": f(b)["ttm"]}), Arg("ttm", "object")),
        _case("matvec", lambda b: (tt_ref.matvec, {"ttm": f(b)["ttm"], "x": f(b)["xp"].asarray(_points(3, 6))}),
              Arg("ttm", "object"), Arg("x", "points", skip=("one axis less", "no rows"))),
        # ------------------------------------------------------------------ point clouds
        _case("TTPointCloud", lambda b: (tt_ref.TTPointCloud, {"cores": list(f(b)["cloud"].cores)}),
              Arg("cores", "cores")),
        _case("TTPointCloud.random", lambda b: (tt_ref.TTPointCloud.random, {
            "dim": 6, "mode_sizes": (3, 4), "ranks": (2,), "seed": 0, "backend": b}),
              Arg("dim", "size", minimum=1), Arg("mode_sizes", "sequence", huge=True), Arg("ranks", "sequence"),
              Arg("seed", "seed"), Arg("backend", "backend")),
        _case("TTPointCloud.sample", lambda b: (f(b)["cloud"].sample, {"n": 5, "seed": 0}),
              Arg("n", "size", minimum=0), Arg("seed", "seed")),
        _case("TTPointCloud.decode", lambda b: (f(b)["cloud"].decode, {"indices": f(b)["xp"].asarray(
            np.array([0, 5, 11]))}), Arg("indices", "indices")),
        _case("TTPointCloud.centroids", lambda b: (f(b)["cloud"].centroids, {"level": 1}),
              Arg("level", "count", minimum=0)),
        _case("TTPointCloud.points", lambda b: (lambda chunk: list(f(b)["cloud"].points(chunk)), {"chunk": 4}),
              Arg("chunk", "count", minimum=1)),
        _case("fit_point_cloud", lambda b: (tt_ref.fit_point_cloud, {
            "X": f(b)["X"], "mode_sizes": (3, 3), "ranks": (2,), "seed": 0, **_fit_options(lr=0.05)}),
              P, Arg("mode_sizes", "sequence", huge=True), Arg("ranks", "sequence"), Arg("seed", "seed"),
              Arg("steps", "count", minimum=0), Arg("batch_size", "size", minimum=1),
              Arg("lr", "real", minimum=0)),
        _case("n_params_for", lambda b: (tt_ref.n_params_for, {"dim": 6, "mode_sizes": (3, 4), "ranks": (2,)}),
              Arg("dim", "size", minimum=1), Arg("mode_sizes", "sequence"), Arg("ranks", "sequence")),
        _case("kmeans", lambda b: (tt_ref.kmeans, {"X": f(b)["X"], "n_clusters": 3, "n_iter": 3, "seed": 0}),
              P, Arg("n_clusters", "size", minimum=1), Arg("n_iter", "count", minimum=0), Arg("seed", "seed")),
        _case("config_for_budget", lambda b: (tt_ref.config_for_budget, {"dim": 8, "n_params": 400, "n_data": 100,
                                                                         "n_levels": 2}),
              Arg("dim", "size", minimum=1), Arg("n_params", "size", minimum=1),
              Arg("n_data", "size", optional=True, minimum=1), Arg("n_levels", "size", optional=True, minimum=1),
              n_data=("n_params",)),  # a huge n_data: "n_params is too small for that many points"
        *[_case(name, (lambda name: lambda b: (getattr(tt_ref, name), {
            "X": f(b)["X"], "method": "random", "n_params": 60, "seed": 0}))(name),
                P, Arg("method", "choice"), Arg("n_params", "size", minimum=1), Arg("seed", "seed"))
          for name in ("compress", "run_method")],
        _case("build_bank", lambda b: (tt_ref.build_bank, {"X": f(b)["X"], "kind": "random", "n_params": 60,
                                                           "seed": 0}),
              P, Arg("kind", "choice"), Arg("n_params", "size", minimum=1, optional=True), Arg("seed", "seed")),
        _case("greedy_k_center", lambda b: (tt_ref.greedy_k_center, {"X": f(b)["X"], "m": 4, "seed": 0,
                                                                     "projection_dim": 3}),
              P, Arg("m", "size", minimum=1), Arg("seed", "seed"), Arg("projection_dim", "size", optional=True,
                                                                       minimum=1)),
        _case("sliced_wasserstein_distance", lambda b: (tt_ref.sliced_wasserstein_distance, {
            "A": f(b)["X"], "B": f(b)["Q"], "n_projections": 16, "seed": 0}),
              Arg("A", "points"), Arg("B", "points"), Arg("n_projections", "size", minimum=1), Arg("seed", "seed")),
        *[_case(name, (lambda name, first, second: lambda b: (getattr(tt_ref, name), {
            first: f(b)["X"], second: f(b)["Q"], "chunk_size": 8, "max_points": 30, "seed": 0}))(name, first, second),
                Arg(first, "points"), Arg(second, "points"), Arg("chunk_size", "size", optional=True, minimum=1),
                Arg("max_points", "size", optional=True, minimum=1), Arg("seed", "seed"))
          for name, first, second in (("coverage_error", "data", "compressed"),
                                      ("inverse_error", "compressed", "data"))],
        _case("compression_ratio", lambda b: (tt_ref.compression_ratio, {"n": 100, "dim": 8, "n_params": 40}),
              Arg("n", "size", minimum=1), Arg("dim", "size", minimum=1), Arg("n_params", "size", minimum=1)),
        # ------------------------------------------------------------------ data sets
        _case("load_dataset", lambda b: (tt_ref.load_dataset, {"name_or_path": "digits"}),
              Arg("name_or_path", "choice")),
        _case("train_test_split", lambda b: (tt_ref.train_test_split, {"n": 10, "n_test": 3, "seed": 0}),
              Arg("n", "size", minimum=2), Arg("n_test", "size", minimum=1), Arg("seed", "seed")),
        # ------------------------------------------------------------------ search
        _case("nearest_neighbors", lambda b: (tt_ref.nearest_neighbors, {
            "queries": f(b)["Q"], "base": f(b)["X"], "k": 3, "chunk_size": 4}),
              Arg("queries", "points"), Arg("base", "points"), Arg("k", "size", minimum=1),
              Arg("chunk_size", "size", optional=True, minimum=1)),
        _case("TTIndex", lambda b: (tt_ref.TTIndex, {"dim": 6, "mode_sizes": (3, 3), "ranks": (2,), "metric": "l2",
                                                     "assign_beam": 4, "train_size": 30, "seed": 0}),
              Arg("dim", "size", minimum=1), Arg("mode_sizes", "sequence", huge=True),
              Arg("ranks", "sequence", skip=("str",)), Arg("metric", "choice"), Arg("assign_beam", "size", minimum=1),
              Arg("train_size", "size", optional=True, minimum=1), Arg("seed", "seed")),
        _case("TTIndex.train", lambda b: (lambda X: tt_ref.TTIndex(6, (3, 3), (2,), fit_options=_fit_options())
                                          .train(X), {"X": f(b)["X"]}), P),
        _case("TTIndex.train(mode_sizes)", lambda b: (lambda mode_sizes: tt_ref.TTIndex(
            6, mode_sizes, "auto", fit_options=_fit_options()).train(f(b)["X"]), {"mode_sizes": (3, 3)}),
              Arg("mode_sizes", "sequence", huge=True), mode_sizes=("mode sizes",)),
        _case("TTIndex.search", lambda b: (f(b)["index"].search, {"Q": f(b)["Q"], "k": 3, "beam": 4,
                                                                  "n_candidates": 20, "chunk_size": 4}),
              Arg("Q", "points"), Arg("k", "size", minimum=1), Arg("beam", "size", minimum=1),
              Arg("n_candidates", "size", optional=True, minimum=1), Arg("chunk_size", "size", optional=True,
                                                                         minimum=1)),
        _case("TTIndex.add", lambda b: (lambda X: _copy_index(b).add(X), {"X": f(b)["Q"]}), P),
        _case("TTIndex.remove", lambda b: (lambda ids: _copy_index(b).remove(ids), {
            "ids": f(b)["xp"].asarray(np.array([1, 2]))}), Arg("ids", "indices", skip=("too large", "negative"))),
        _case("TTIndex.from_point_cloud", lambda b: (tt_ref.TTIndex.from_point_cloud, {"cloud": f(b)["cloud"],
                                                                                       "metric": "l2"}),
              Arg("cloud", "object"), Arg("metric", "choice")),
        _case("recall_at_k", lambda b: (tt_ref.recall_at_k, {"found_ids": np.array([[1, 2], [3, 4]]),
                                                             "true_ids": np.array([[2, 1], [3, 5]]), "k": 2}),
              Arg("k", "size", minimum=1, optional=True)),
        # ------------------------------------------------------------------ TT-matrix layers
        _case("factorize_dim", lambda b: (tt_ref.factorize_dim, {"n": 64, "d": 3}),
              Arg("n", "size", minimum=1), Arg("d", "size", minimum=1)),
        _case("ttm_layer_shape", lambda b: (tt_ref.ttm_layer_shape, {"n_in": 64, "n_out": 32, "rank": 4, "d": 3,
                                                                     "rule": "balanced"}),
              Arg("n_in", "size", minimum=1), Arg("n_out", "size", minimum=1), Arg("rank", "size", minimum=1),
              Arg("d", "size", minimum=1, optional=True), Arg("rule", "choice")),
        _case("random_ttm_layer", lambda b: (tt_ref.random_ttm_layer, {
            "shape": tt_ref.ttm_layer_shape(64, 32, 4, d=3), "seed": 0, "init": "glorot", "backend": b}),
              Arg("shape", "object"), Arg("seed", "seed"), Arg("init", "choice"), Arg("backend", "backend")),
        _case("ttm_layer_from_dense", lambda b: (tt_ref.ttm_layer_from_dense, {
            "matrix": f(b)["xp"].asarray(_points(8, 12)), "d": 2, "max_rank": 3}),
              Arg("matrix", "points"), Arg("d", "size", minimum=1), Arg("max_rank", "size", optional=True, minimum=1)),
        *[_case(name, (lambda name: lambda b: (getattr(tt_ref, name), {
            "x": f(b)["xp"].asarray(_points(7, 6)), "weight": f(b)["ttm"], "path": "auto"}))(name),
                Arg("x", "points", skip=("one more axis", "one axis less", "0-d", "no rows")), Arg("weight", "object"),
                Arg("path", "choice")) for name in ("ttm_linear", "ttm_linear_forward")],
        _case("ttm_linear_backward", lambda b: (tt_ref.ttm_linear_backward, {
            "grad_output": f(b)["xp"].asarray(_points(7, 6)),
            "saved": tt_ref.ttm_linear_forward(f(b)["xp"].asarray(_points(7, 6)), f(b)["ttm"])[1]}),
              Arg("grad_output", "points", skip=("one more axis", "one axis less", "0-d", "no rows")),
              Arg("saved", "object")),
        _case("ttm_linear_cost", lambda b: (tt_ref.ttm_linear_cost, {"weight": f(b)["ttm"], "batch_size": 10,
                                                                     "saving": "full"}),
              Arg("weight", "object"), Arg("batch_size", "size", minimum=0), Arg("saving", "choice")),
        _case("ttm_to_layout", lambda b: (tt_ref.ttm_to_layout, {"weight": f(b)["ttm"], "layout": tt_ref.TTM_LAYOUTS[0]}),
              Arg("weight", "object"), Arg("layout", "choice")),
        _case("ttm_from_layout", lambda b: (tt_ref.ttm_from_layout, {
            "cores": tt_ref.ttm_to_layout(f(b)["ttm"], tt_ref.TTM_LAYOUTS[0]), "layout": tt_ref.TTM_LAYOUTS[0]}),
              Arg("layout", "choice")),
        # ------------------------------------------------------------------ anomaly detection
        _case("KNNDetector.fit", lambda b: (lambda **kw: tt_ref.KNNDetector(**kw).fit(f(b)["X"]), {
            "k": 2, "chunk_size": 8, "contamination": 0.1, "seed": 0}),
              Arg("k", "size", minimum=1), Arg("chunk_size", "size", optional=True, minimum=1),
              Arg("contamination", "real", minimum=0), Arg("seed", "seed")),
        _case("KNNDetector.fit(X)", lambda b: (tt_ref.KNNDetector(k=2).fit, {"X": f(b)["X"]}), P),
        *[_case(f"KNNDetector.{method}", (lambda method: lambda b: (getattr(f(b)["detector"], method), {
            "X": f(b)["Q"]}))(method), P)
          for method in ("score_samples", "decision_function", "predict", "kth_distance")],
    ]


def _copy_index(backend):
    import copy

    return copy.deepcopy(_fixtures(backend)["index"])


#: Public names that are not entry points to fuzz, and why.
NOT_FUZZED = {
    "BACKENDS": "a constant",
    "__version__": "a constant",
    "InputError": "an exception class",
    "ArgumentValueError": "an exception class",
    "ArgumentTypeError": "an exception class",
    "FileFormatError": "an exception class",
    "MemoryLimitError": "an exception class",
    "MissingDependencyError": "an exception class",
    "ArgumentIndexError": "an exception class",
    "get_memory_limit": "takes no argument",
    "FitResult": "a result container built by fit_point_cloud (fuzzed there)",
    "TTM_LAYOUTS": "a constant",
    "TTMLayerShape": "a result container built by ttm_layer_shape (fuzzed there)",
    "TTMLinearGradients": "a result container built by ttm_linear_backward (fuzzed there)",
    "TTMLinearSaved": "a result container built by ttm_linear_forward (fuzzed there)",
}
