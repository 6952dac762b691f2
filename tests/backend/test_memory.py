"""The memory limit (specs/backend.md §Memory limit, specs/errors.md §Memory)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tt_ref
from tt_ref._backend import ArgumentTypeError, ArgumentValueError, MemoryLimitError, check_allocation
from tt_ref._backend._memory import default_memory_limit, get_memory_limit, memory_limit, set_memory_limit


def test_default_is_at_most_eight_gib():
    """specs/backend.md §Memory limit: min(8 GiB, half the physical memory)."""
    assert 0 < default_memory_limit() <= 8 * 2**30


@given(st.lists(st.integers(0, 10**7), min_size=1, max_size=12), st.sampled_from([1, 4, 8]))
def test_check_allocation_is_exact(shape, itemsize):
    """specs/backend.md §Memory limit: bytes = prod(shape) * itemsize, exactly (no float overflow)."""
    nbytes = int(np.prod([int(n) for n in shape], dtype=object)) * itemsize
    with memory_limit(2**40):
        if nbytes > 2**40:
            with pytest.raises(MemoryLimitError, match="ones: shape"):
                check_allocation(shape, itemsize, what="ones: shape")
        else:
            assert check_allocation(shape, itemsize, what="x") == nbytes


def test_context_manager_restores_and_public_names():
    before = get_memory_limit()
    with tt_ref.memory_limit(1000) as limit:
        assert limit == tt_ref.get_memory_limit() == 1000
        with pytest.raises(MemoryLimitError, match="raise it with tt_ref.set_memory_limit"):
            check_allocation(126, 8, what="request")
        assert isinstance(MemoryLimitError("x"), MemoryError)
    assert get_memory_limit() == before
    previous = set_memory_limit(5000)
    assert get_memory_limit() == 5000
    set_memory_limit(previous)
    assert get_memory_limit() == before


@pytest.mark.parametrize("bad, error", [(0, ArgumentValueError), (-1, ArgumentValueError), ("8G", ArgumentTypeError),
                                        (True, ArgumentTypeError), (1.5, ArgumentTypeError)])
def test_bad_limits(bad, error):
    with pytest.raises(error, match="nbytes"):
        set_memory_limit(bad)


@pytest.mark.parametrize("text, expected", [("4096", 4096), ("2K", 2048), ("3M", 3 << 20), ("8G", 8 << 30),
                                            ("1GiB", 1 << 30), ("1T", 1 << 40)])
def test_environment_variable(text, expected):
    """specs/backend.md §Memory limit: TT_REF_MAX_BYTES, integer bytes or a binary suffix."""
    code = "from tt_ref._backend._memory import get_memory_limit; print(get_memory_limit())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"TT_REF_MAX_BYTES": text, "PATH": ""})
    assert int(out.stdout) == expected


def test_bad_environment_variable_names_it(monkeypatch):
    monkeypatch.setenv("TT_REF_MAX_BYTES", "lots")
    with pytest.raises(ArgumentValueError, match="TT_REF_MAX_BYTES"):
        get_memory_limit()
