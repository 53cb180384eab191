"""Shared test configuration: a hypothesis profile that tolerates JIT compile time."""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# TINYMM_HYPOTHESIS_EXAMPLES=K runs K examples in every hypothesis test, the ones that pin
# their own count with ``examples(n)`` included (a longer profile by hand);
# TINYMM_HYPOTHESIS_RANDOM=1 draws new examples each run instead of the fixed sequence.
_EXAMPLES = os.environ.get("TINYMM_HYPOTHESIS_EXAMPLES")


def examples(n: int) -> int:
    """A test's example count: ``n`` in CI, ``TINYMM_HYPOTHESIS_EXAMPLES`` when that is set."""
    return int(_EXAMPLES) if _EXAMPLES else n


settings.register_profile(
    "tinymm",
    deadline=None,  # the first call of a numba kernel compiles (or loads it from the cache)
    max_examples=examples(15),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture],
    # the same examples in every run, so CI failures reproduce locally
    derandomize=os.environ.get("TINYMM_HYPOTHESIS_RANDOM") != "1",
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
