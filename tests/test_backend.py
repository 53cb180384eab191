"""Backend selection: names, context manager, environment variable, fallbacks."""

import os
import subprocess
import sys

import numpy as np
import pytest

import tinymm
from tinymm.kernels import CONTRACT


def test_reference_and_numba_are_available():
    status = tinymm.backends()
    assert status["reference"] is None and status["numba"] is None
    assert set(status) == {"reference", "numba", "cuda"}


def test_context_manager_restores_previous():
    before = tinymm.current_backend().name
    with tinymm.use_backend("reference") as b:
        assert b.name == "reference" and tinymm.current_backend().name == "reference"
    assert tinymm.current_backend().name == before


def test_ops_record_the_backend_they_ran_on():
    x = tinymm.tensor(np.ones((2, 3)), requires_grad=True)
    with tinymm.use_backend("reference"):
        y = tinymm.F.relu(x)
    assert y._node.backend.name == "reference"
    y.sum().backward()  # backward uses the forward's backend, whatever is active now
    np.testing.assert_allclose(x.grad, np.ones((2, 3)))


def test_unknown_backend_lists_valid_names():
    with pytest.raises(ValueError, match="reference, numba, cuda"):
        tinymm.use_backend("tpu")


def test_every_backend_serves_every_contract_name():
    for name in ("reference", "numba"):
        backend = tinymm.get_backend(name)
        assert set(backend.kernels) == set(CONTRACT), name


def test_reference_implements_the_whole_contract_itself():
    assert tinymm.get_backend("reference").fallbacks == ()


def test_numba_fallbacks_are_real_reference_functions():
    numba_backend = tinymm.get_backend("numba")
    reference = tinymm.get_backend("reference")
    for name in numba_backend.fallbacks:
        assert numba_backend.kernels[name] is reference.kernels[name]


def test_unknown_kernel_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="not a kernel"):
        _ = tinymm.get_backend("reference").no_such_kernel_forward


def test_environment_variable_selects_default():
    code = "import tinymm; print(tinymm.current_backend().name)"
    env = {**os.environ, "TINYMM_BACKEND": "reference"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "reference"
    env["TINYMM_BACKEND"] = "bogus"
    bad = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and "valid names" in bad.stderr


def test_gpu_backend_never_falls_back_to_host():
    from tinymm.backend import Backend

    gpu = Backend("cuda", {}, (), device="cuda")
    with pytest.raises(NotImplementedError, match="does not fall back"):
        _ = gpu.linear_forward


def test_openmp_workers_wait_passively_unless_the_user_chose():
    code = "import os, tinymm; print(os.environ.get('OMP_WAIT_POLICY'))"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "PASSIVE"
    env["OMP_WAIT_POLICY"] = "ACTIVE"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "ACTIVE"


def test_info_coverage_matches_the_kernel_files():
    """`tinymm info` reports each backend's coverage; count the kernel definitions in the
    backend's source files independently (AST, no import) and compare."""
    import ast
    import pathlib

    from tinymm.kernels import CONTRACT
    from tinymm.sysinfo import info_lines

    root = pathlib.Path(tinymm.__file__).parent / "kernels"
    text = "\n".join(info_lines())
    for name, folder in (("reference", "reference"), ("numba", "numba_cpu"),
                         ("cuda", "numba_cuda")):
        defined = set()
        for path in (root / folder).glob("[!_]*.py"):
            tree = ast.parse(path.read_text())
            defined |= {n.name for n in tree.body if isinstance(n, ast.FunctionDef)
                        and n.name in CONTRACT}
        line = next(x for x in text.splitlines() if x.strip().startswith(name + " ")
                    and (" of " in x or "not installed" in x))
        if "not installed" in line:
            continue
        assert f"{len(defined)} of {len(CONTRACT)}" in line, (name, line, sorted(defined))
    assert f"{len(CONTRACT)} of {len(CONTRACT)}" in text  # the reference implements all
