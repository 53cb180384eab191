"""Backend selection: names, context manager, environment variable, fallbacks."""

import os
import subprocess
import sys
import threading

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


def _in_threads(*targets):
    """Run each target in its own thread; re-raise the first failure in the caller."""
    errors = []

    def run(fn):
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(fn,)) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    if errors:
        raise errors[0]


def test_use_backend_blocks_are_per_thread():
    """Two threads hold different backends at the same time; each sees only its own, and
    the ops each records ran on its own."""
    both_inside = threading.Barrier(2, timeout=60)
    seen = {}

    def worker(name):
        def run():
            with tinymm.use_backend(name):
                both_inside.wait()  # the other thread is inside its own block now
                x = tinymm.tensor(np.ones((2, 3)), requires_grad=True)
                y = tinymm.F.relu(x)
                both_inside.wait()
                seen[name] = (tinymm.current_backend().name, y._node.backend.name)
        return run

    main_before = tinymm.current_backend().name
    _in_threads(worker("reference"), worker("numba"))
    assert seen == {"reference": ("reference", "reference"), "numba": ("numba", "numba")}
    assert tinymm.current_backend().name == main_before


def test_plain_use_backend_call_stays_in_its_thread():
    main_before = tinymm.current_backend().name
    other = "reference" if main_before == "numba" else "numba"
    seen = []

    def run():
        tinymm.use_backend(other)  # no with: in force for the rest of this thread
        seen.append(tinymm.current_backend().name)

    _in_threads(run)
    assert seen == [other]
    assert tinymm.current_backend().name == main_before


def test_default_backend_is_process_wide_and_a_thread_selection_wins():
    from tinymm import backend as backend_module

    saved = backend_module._default
    seen = {}
    try:
        tinymm.set_default_backend("reference")

        def plain():
            seen["plain"] = tinymm.current_backend().name

        def selected():
            with tinymm.use_backend("numba"):
                seen["selected"] = tinymm.current_backend().name

        _in_threads(plain, selected)
        with pytest.raises(ValueError, match="valid names"):
            tinymm.set_default_backend("tpu")
    finally:
        backend_module._default = saved
    assert seen == {"plain": "reference", "selected": "numba"}


@pytest.mark.parametrize("name", ["reference", "numba"])
def test_concurrent_inference_matches_sequential(name):
    """Several threads running one model at once give bit-identical results to one thread
    running the same inputs in turn (no shared scratch buffer, no backend cross-talk)."""
    from tinymm.data import ShapesVQA
    from tinymm.models import MultimodalConfig, MultimodalVQA

    tiny = dict(vocab_size=24, num_answers=16, conv1_channels=4, conv2_channels=8,
                embed_dim=16, hidden_size=16, fused_dim=16, head_hidden=16, num_heads=2,
                bilinear_rank=4)
    tinymm.nn.init.seed(0)
    model = MultimodalVQA(MultimodalConfig(fusion="attention", **tiny)).eval()
    data = ShapesVQA(24, seed=1)
    batches = [data.batch(np.arange(i, i + 6)) for i in range(0, 24, 6)]

    def infer(batch):
        with tinymm.no_grad():
            return model(tinymm.tensor(batch["image"]), batch["tokens"], batch["lengths"]).numpy()

    with tinymm.use_backend(name):
        sequential = [infer(b) for b in batches]
    results = {}

    def worker(i):
        def run():
            with tinymm.use_backend(name):
                for repeat in range(3):
                    results[i, repeat] = infer(batches[i])
        return run

    _in_threads(*(worker(i) for i in range(len(batches))))
    for (i, _), out in results.items():
        np.testing.assert_array_equal(out, sequential[i])


def test_no_grad_is_per_thread():
    """A no_grad block in one thread does not stop another thread recording its graph."""
    inside = threading.Barrier(2, timeout=60)
    recorded = {}

    def quiet():
        with tinymm.no_grad():
            inside.wait()
            inside.wait()  # the other thread runs its op while this block is open
            x = tinymm.tensor(np.ones(3), requires_grad=True)
            recorded["quiet"] = tinymm.F.relu(x).requires_grad

    def training():
        inside.wait()
        x = tinymm.tensor(np.ones(3), requires_grad=True)
        recorded["training"] = tinymm.F.relu(x).requires_grad
        inside.wait()

    _in_threads(quiet, training)
    assert recorded == {"quiet": False, "training": True}


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
            bound = [t for n in tree.body if isinstance(n, ast.Assign) for t in n.targets]
            defined |= {n.id for t in bound for n in ast.walk(t)  # kernels made by a factory
                        if isinstance(n, ast.Name) and n.id in CONTRACT}
        line = next(x for x in text.splitlines() if x.strip().startswith(name + " ")
                    and (" of " in x or "not installed" in x))
        if "not installed" in line:
            continue
        assert f"{len(defined)} of {len(CONTRACT)}" in line, (name, line, sorted(defined))
    assert f"{len(CONTRACT)} of {len(CONTRACT)}" in text  # the reference implements all
