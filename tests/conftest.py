"""Shared test configuration: a hypothesis profile that tolerates JIT compile time."""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "tinymm",
    deadline=None,  # the first call of a numba kernel compiles (or loads it from the cache)
    max_examples=int(os.environ.get("TINYMM_HYPOTHESIS_EXAMPLES", "15")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture],
    derandomize=True,  # the same examples in every run: CI failures reproduce locally
)
settings.load_profile("tinymm")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def backend_names():
    import tinymm

    return [name for name, why in tinymm.backends().items() if why is None and name != "cuda"]


@pytest.fixture(autouse=True)
def _no_backend_leak(request):
    """A test must not change the active backend for the tests after it (use ``with``)."""
    import tinymm

    before = tinymm.current_backend().name
    yield
    after = tinymm.current_backend().name
    if after != before:
        tinymm.use_backend(before)
        pytest.fail(f"{request.node.nodeid} left the active backend at '{after}' (was "
                    f"'{before}'); select backends with `with tinymm.use_backend(...)`")
