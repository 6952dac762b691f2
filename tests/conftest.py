"""Shared fixtures (helpers live in ``helpers.py``): every algorithm test runs per backend and per dtype.

``xp`` runs a test on NumPy, on array_api_strict (standard-only code) and on CuPy
where a GPU exists (skipped, with the reason, elsewhere). ``TT_REF_BACKENDS`` narrows
the list, e.g. ``TT_REF_BACKENDS=cupy`` on the GPU machine.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from tt_ref._backend import BACKENDS, is_backend_available, namespace_for

settings.register_profile(
    "default",
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
    print_blob=True,
)
settings.register_profile(
    "thorough",
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

_SELECTED = tuple(b for b in os.environ.get("TT_REF_BACKENDS", ",".join(BACKENDS)).split(",") if b)


@pytest.fixture(params=_SELECTED)
def backend(request) -> str:
    """Backend name; CuPy is skipped (not passed) where no GPU is visible."""
    name = request.param
    if not is_backend_available(name):
        pytest.skip(f"backend {name!r} not available here (CuPy needs an NVIDIA GPU)")
    return name


@pytest.fixture
def xp(backend):
    """The Array API namespace of ``backend``."""
    return namespace_for(backend)


@pytest.fixture(params=["float64", "float32"])
def dtype(request) -> str:
    """Float dtype name; tolerances derive from ``np.finfo(dtype).eps``."""
    return request.param
