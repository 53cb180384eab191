"""Mutation testing: plant realistic single bugs one at a time and see whether the tests notice.

    python tests/mutation.py                 # every mutant (CPU-heavy: numba kernels recompile)
    python tests/mutation.py --only adam-bias-correction,io-skip-checksum
    python tests/mutation.py --skip-numba    # leave out mutants in kernels/numba_cpu
    python tests/mutation.py --list          # the mutants, without running anything
    python tests/mutation.py --hide-torch    # as on a machine without PyTorch

Each mutant is one source file, an exact fragment of it, the fragment's replacement (the bug a
reviewer could plausibly miss: a wrong derivative, an overwrite instead of an accumulation, a
flag ignored, a check skipped) and the tests that should catch it. The script copies the
repository (tracked and untracked, non-ignored files, plus the numba caches) into a temporary
directory once; then for each mutant it patches the copy, runs ``python -m pytest -x -q -n 0`` on
those tests there, and restores the file. A mutant is "caught" when the tests fail, "missed"
when they pass; the score is caught / (caught + missed). Before the mutants, each distinct
test selection runs on the unpatched copy and must pass, so a failure means the mutant.

It is not run as part of the test suite (the file name does not start with ``test_``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Mutant:
    name: str
    path: str  # relative to the repository root
    old: str  # must occur exactly once in the file (or pick one with nth)
    new: str
    tests: list[str] = field(default_factory=list)  # pytest arguments: files, -k ...
    nth: int | None = None  # which occurrence of ``old`` to replace when it is not unique


# the optimizer steps are kernels: a reference bug shows in test_optim (its closed forms run on
# every CPU backend) and in the numba-vs-reference parity of the optimizer kernels
OPTIM_TESTS = ["tests/test_optim.py", "tests/test_kernel_parity.py", "-k", "optim or sgd or adam"]

KERAS_LAYER_TESTS = ["tests/test_keras_layer_parity.py", "tests/test_keras.py",
                     "tests/test_keras_closed_forms.py", "tests/test_keras_layers_fuzz.py"]

MUTANTS = [
    # ------------------------------------------------------------------ autograd and tensor
    Mutant("autograd-overwrite-pending-grad", "tinymm/autograd.py",
           "slot[index] = g if slot[index] is None else _add(slot[index], g)",
           "slot[index] = g",
           ["tests/test_autograd.py"]),
    Mutant("tensor-grad-overwrite", "tinymm/tensor.py",
           "self._grad.array += g", "self._grad.array[...] = g",
           ["tests/test_autograd.py"]),
    Mutant("sum-to-shape-keeps-stretched-axes", "tinymm/kernels/_shapes.py",
           "grad = grad.sum(axis=stretched, keepdims=True)",
           "grad = grad.max(axis=stretched, keepdims=True)",
           ["tests/test_ops_gradcheck.py", "-k", "broadcasting or matmul"]),
    # ------------------------------------------------------------------ reference kernels
    Mutant("linear-dbias-wrong-axis", "tinymm/kernels/reference/linear.py",
           "dbias = d2.sum(axis=0) if has_bias else None",
           "dbias = d2.mean(axis=0) if has_bias else None",
           ["tests/test_ops_gradcheck.py", "-k", "linear"]),
    Mutant("linear-dweight-transpose", "tinymm/kernels/reference/linear.py",
           "dweight = d2.T @ x2  # (D_out, D_in)",
           "dweight = d2.T @ x2 / len(x2)  # (D_out, D_in)",
           ["tests/test_ops_gradcheck.py", "-k", "linear"]),
    Mutant("sigmoid-backward-missing-factor", "tinymm/kernels/reference/activation.py",
           "return (dout * s * (1 - s),)", "return (dout * s,)",
           ["tests/test_ops_gradcheck.py", "-k", "activations or unary"]),
    Mutant("tanh-backward-sign", "tinymm/kernels/reference/activation.py",
           "return (dout * (1 - t * t),)", "return (dout * (1 + t * t),)",
           ["tests/test_ops_gradcheck.py", "-k", "activations or unary"]),
    Mutant("softmax-backward-no-centering", "tinymm/kernels/reference/softmax.py",
           "dx = p * (dp - (dp * p).sum(axis=axis, keepdims=True))", "dx = p * dp",
           ["tests/test_ops_gradcheck.py", "-k", "softmax"]),
    Mutant("cross-entropy-smoothing-mass", "tinymm/kernels/reference/cross_entropy.py",
           "q[np.arange(N), safe_target] += 1 - label_smoothing",
           "q[np.arange(N), safe_target] += 1",
           ["tests/test_ops_gradcheck.py", "-k", "cross_entropy"]),
    Mutant("cross-entropy-mean-over-all-rows", "tinymm/kernels/reference/cross_entropy.py",
           "scale = w * (dloss / count)", "scale = w * (dloss / N)",
           ["tests/test_ops_gradcheck.py", "-k", "cross_entropy"]),
    Mutant("embedding-overwrite-not-accumulate", "tinymm/kernels/reference/embedding.py",
           "np.add.at(dweight, indices.reshape(-1), dout.reshape(indices.size, E))",
           "dweight[indices.reshape(-1)] = dout.reshape(indices.size, E)",
           ["tests/test_embedding.py"]),
    Mutant("maxpool-argmax-last-axis-swapped", "tinymm/kernels/reference/pool2d.py",
           "i, j = np.divmod(argmax, kw)", "j, i = np.divmod(argmax, kw)",
           ["tests/test_pool2d.py"]),
    Mutant("conv-same-padding-shift", "tinymm/kernels/geometry.py",
           "    return total // 2, total - total // 2", "    return total - total // 2, total // 2",
           ["tests/test_conv2d.py", "-k", "same"]),
    Mutant("attention-dk-missing-scale", "tinymm/kernels/reference/attention.py",
           "dk = scale * (np.swapaxes(dS, -1, -2) @ q)", "dk = np.swapaxes(dS, -1, -2) @ q",
           ["tests/test_attention.py"]),
    Mutant("attention-causal-mask-off-by-one", "tinymm/kernels/reference/attention.py",
           "allowed = np.tril(np.ones((Lq, Lk), dtype=np.bool_))",
           "allowed = np.tril(np.ones((Lq, Lk), dtype=np.bool_), k=1)",
           ["tests/test_attention.py"]),
    Mutant("lstm-forget-gate-derivative", "tinymm/kernels/reference/lstm.py",
           "df * f * (1 - f)", "df * (1 - f)",
           ["tests/test_lstm.py"]),
    Mutant("lstm-cell-grad-not-through-forget", "tinymm/kernels/reference/lstm.py",
           "dc_prev = dc * f", "dc_prev = dc",
           ["tests/test_lstm.py"], nth=1),  # the code, not the docstring's derivation
    Mutant("lstm-output-gate-uses-c", "tinymm/kernels/reference/lstm.py",
           "do = dh * tanh_c", "do = dh * c_prev",
           ["tests/test_lstm.py"]),
    # ------------------------------------------------------------------ numba kernels
    Mutant("numba-sigmoid-backward", "tinymm/kernels/numba_cpu/activation.py",
           "dx[i] = dout[i] * saved[i] * (1 - saved[i])", "dx[i] = dout[i] * (1 - saved[i])",
           ["tests/test_kernel_parity.py", "-k", "sigmoid"]),
    Mutant("numba-embedding-overwrite", "tinymm/kernels/numba_cpu/embedding.py",
           "dweight[v, e] += dout2[p, e]", "dweight[v, e] = dout2[p, e]",
           ["tests/test_embedding.py"]),
    Mutant("numba-lstm-input-gate-derivative", "tinymm/kernels/numba_cpu/lstm.py",
           "da_t[n, j] = dc * g * i * (one - i)", "da_t[n, j] = dc * g * (one - i)",
           ["tests/test_lstm.py"]),
    Mutant("numba-lstm-loop-ignores-reverse", "tinymm/kernels/numba_cpu/lstm.py",
           "t = T - 1 - s if reverse else s\n        rec = np.dot(h, weight_hh_T)",
           "t = s\n        rec = np.dot(h, weight_hh_T)",
           ["tests/test_lstm.py"]),
    Mutant("numba-rnn-tanh-derivative", "tinymm/kernels/numba_cpu/rnn.py",
           "da_t[n, j] = dh * (1 - h_new * h_new)", "da_t[n, j] = dh * (1 - h_new)",
           ["tests/test_rnn.py"]),
    Mutant("numba-cross-entropy-smoothing", "tinymm/kernels/numba_cpu/cross_entropy.py",
           "q = off + (1 - smoothing) if c == t else off", "q = off + 1 if c == t else off",
           ["tests/test_kernel_parity.py", "-k", "cross_entropy"]),
    Mutant("numba-conv-dbias-dropped", "tinymm/kernels/numba_cpu/conv2d.py",
           "dbias = partial.sum(axis=0).astype(dout.dtype) if has_bias else None",
           "dbias = partial[0].astype(dout.dtype) if has_bias else None",
           ["tests/test_kernel_parity.py", "-k", "conv2d"], nth=0),  # the per-image path
    # ------------------------------------------------------------------ optimizers
    Mutant("adam-bias-correction-missing", "tinymm/kernels/reference/optim.py",
           "bias_correction1 = 1 - beta1**t", "bias_correction1 = 1.0", OPTIM_TESTS),
    Mutant("adamw-decay-not-scaled-by-lr", "tinymm/kernels/reference/optim.py",
           "param *= param.dtype.type(1 - lr * weight_decay)",
           "param *= param.dtype.type(1 - weight_decay)", OPTIM_TESTS, nth=0),  # adam_step
    Mutant("sgd-momentum-dampening-ignored", "tinymm/kernels/reference/optim.py",
           "buf += g * (1 - dampening)", "buf += g", OPTIM_TESTS),
    Mutant("sgd-weight-decay-dropped", "tinymm/kernels/reference/optim.py",
           "        g += grad\n", "        g = grad + 0\n", OPTIM_TESTS),
    Mutant("clip-grad-norm-no-epsilon-guard", "tinymm/optim/__init__.py",
           "coef = min(max_norm / (total + 1e-6), 1.0)", "coef = max_norm / (total + 1e-6)",
           ["tests/test_optim.py"]),
    Mutant("rmsprop-centered-ignored", "tinymm/kernels/reference/optim.py",
           "avg = np.sqrt(v - grad_avg * grad_avg)", "avg = np.sqrt(v)",
           ["tests/test_optim.py", "-k", "textbook"]),
    Mutant("adagrad-lr-decay-off-by-one", "tinymm/kernels/reference/optim.py",
           "clr = lr / (1 + (step - 1) * lr_decay)", "clr = lr / (1 + step * lr_decay)",
           ["tests/test_optim.py", "-k", "textbook"]),
    Mutant("adadelta-delta-average-undamped", "tinymm/kernels/reference/optim.py",
           "    u += (1 - rho) * delta * delta", "    u += delta * delta",
           ["tests/test_optim.py", "-k", "textbook"]),
    Mutant("nadam-momentum-term-uses-mu-t", "tinymm/kernels/reference/optim.py",
           "coef_m = -lr * mu_next / (1.0 - mu_product * mu_next)",
           "coef_m = -lr * mu / (1.0 - mu_product * mu_next)",
           ["tests/test_optim.py", "-k", "textbook"]),
    # ------------------------------------------------------------------ losses
    Mutant("huber-delta-not-scaling-linear-part", "tinymm/ops/loss.py",
           "loss = np.where(small, 0.5 * d * d, beta * (a - 0.5 * beta))",
           "loss = np.where(small, 0.5 * d * d, a - 0.5 * beta)",
           ["tests/test_losses.py", "tests/test_torch_losses.py"]),
    Mutant("bce-logits-pos-weight-on-negatives", "tinymm/ops/loss.py",
           "c = 1 if pos_weight is None else 1 + (pos_weight - 1) * t",
           "c = 1 if pos_weight is None else 1 + (pos_weight - 1) * (1 - t)",
           ["tests/test_losses.py", "tests/test_torch_losses.py"]),
    Mutant("nll-weighted-mean-over-rows", "tinymm/ops/loss.py",
           "return np.asarray(loss.sum() / total, dtype=x.dtype)",
           "return np.asarray(loss.mean(), dtype=x.dtype)",
           ["tests/test_losses.py", "tests/test_torch_losses.py"]),
    Mutant("keras-label-smoothing-not-spread", "tinymm/keras/losses.py",
           "target = target * (1.0 - label_smoothing) + label_smoothing / C",
           "target = target * (1.0 - label_smoothing) + label_smoothing",
           ["tests/test_keras_losses.py"]),
    # ------------------------------------------------------------------ the training loop
    Mutant("loop-no-zero-grad", "tinymm/loop.py",
           "optimizer.zero_grad()\n        loss.backward()", "loss.backward()",
           ["tests/test_loop.py", "tests/test_keras_training.py"]),
    Mutant("loop-loss-mean-unweighted", "tinymm/loop.py",
           "self.loss_total += loss_value * n", "self.loss_total += loss_value",
           ["tests/test_loop.py", "tests/test_keras_training.py"]),
    Mutant("loop-evaluate-in-train-mode", "tinymm/loop.py",
           "    model.eval()\n    running = RunningMetrics()", "    running = RunningMetrics()",
           ["tests/test_loop.py", "tests/test_keras_training.py"]),
    Mutant("loop-nan-stop-applies-step", "tinymm/loop.py",
           "                model.nan_step = (epoch, step)\n                break",
           "                model.nan_step = (epoch, step)",
           ["tests/test_loop.py", "tests/test_keras_training.py"]),
    # ------------------------------------------------------------------ keras layers
    Mutant("keras-batchnorm-momentum-not-converted", "tinymm/keras/more_layers.py",
           "momentum=1.0 - self.momentum", "momentum=self.momentum",
           KERAS_LAYER_TESTS),
    Mutant("keras-lstm-last-output-not-state", "tinymm/keras/layers.py",
           "out = output if self.return_sequences else h_n[0]  # (N, T, U) or (N, U)",
           "out = output if self.return_sequences else output[:, -1]  # (N, T, U) or (N, U)",
           KERAS_LAYER_TESTS),
    Mutant("keras-embedding-mask-inverted", "tinymm/keras/layers.py",
           "return data != 0  # (N, T) True = real token", "return data == 0",
           KERAS_LAYER_TESTS),
    # ------------------------------------------------------------------ checkpoints
    Mutant("io-skip-checksum", "tinymm/io.py",
           "        if meta.get(DIGEST_KEY) != actual:", "        if False:",
           ["tests/test_io.py", "tests/test_io_faults.py"]),
    Mutant("io-no-fsync", "tinymm/io.py",
           "            os.fsync(f.fileno())\n        os.replace(tmp, path)",
           "            pass\n        os.replace(tmp, path)",
           ["tests/test_io_faults.py", "-k", "full_disk"]),
    Mutant("io-version-check-inverted", "tinymm/io.py",
           "if version > FORMAT_VERSION:", "if version > FORMAT_VERSION + 1:",
           ["tests/test_io_faults.py"]),
    # ------------------------------------------------------------------ data, gradcheck, keras
    Mutant("loader-shuffle-ignores-seed", "tinymm/data/loader.py",
           "np.random.default_rng([seed, epoch])", "np.random.default_rng([0, epoch])",
           ["tests/test_data.py"]),
    Mutant("loader-seed-plus-epoch", "tinymm/data/loader.py",
           "np.random.default_rng([seed, epoch])", "np.random.default_rng(seed + epoch)",
           ["tests/test_data.py"]),
    Mutant("gradcheck-rtol-loosened", "tinymm/gradcheck.py",
           "RTOL = 1e-5", "RTOL = 1e-1",
           ["tests/test_gradcheck.py"]),
    Mutant("gradcheck-ones-upstream", "tinymm/gradcheck.py",
           "vs = [rng.standard_normal(o.shape) for o in outs]",
           "vs = [np.ones(o.shape) for o in outs]",
           ["tests/test_gradcheck.py"]),
    Mutant("keras-dense-ignores-use-bias", "tinymm/keras/layers.py",
           "module = nn.Linear(D, self.units, bias=self.use_bias)",
           "module = nn.Linear(D, self.units, bias=True)",
           ["tests/test_keras.py", "-k", "use_bias"]),
    Mutant("keras-conv-ignores-use-bias", "tinymm/keras/layers.py",
           "bias=self.use_bias, **kwargs)", "bias=True, **kwargs)",
           ["tests/test_keras.py", "-k", "use_bias"]),
    Mutant("backend-selection-global", "tinymm/backend.py",  # the process-wide design
           "self._token = _selected.set(self.backend)",
           'self._token = _selected.set(None)\n        globals()["_default"] = self.backend',
           ["tests/test_backend.py"]),
    Mutant("workspace-limit-ignored", "tinymm/kernels/numba_cpu/_workspace.py",
           "if len(pool) < PER_KEY and _held_bytes + buffer.nbytes <= MAX_BYTES:",
           "if len(pool) < PER_KEY:",
           ["tests/test_workspace.py"]),
]


def _files_to_copy() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout.split("\n")
    files = [ROOT / f for f in out if f and (ROOT / f).is_file()]
    files += [p for p in (ROOT / "tinymm").rglob("__pycache__/*") if p.is_file()]  # numba cache
    return files


def _copy_repo(dest: Path) -> None:
    for src in _files_to_copy():
        target = dest / src.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)  # keeps mtimes: numba's cache stays valid for unpatched files


def _run_tests(copy: Path, tests: list[str], timeout: float) -> tuple[str, float, str]:
    path = os.pathsep.join(p for p in (str(copy), os.environ.get("PYTHONPATH", "")) if p)
    env = dict(os.environ, PYTHONPATH=path, PYTHONDONTWRITEBYTECODE="1")
    started = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-n", "0",
                               "-p", "no:cacheprovider", *tests], cwd=copy, env=env,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.perf_counter() - started, ""
    elapsed = time.perf_counter() - started
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    failed = [line for line in lines if line.startswith(("FAILED", "ERROR"))]
    tail = (failed[:1] + lines[-1:]) if failed else (lines[-1:] or [""])
    tail = [" | ".join(tail)]
    if proc.returncode == 5:  # pytest collected nothing: the selection is wrong
        return "no tests", elapsed, tail[0]
    return ("passed" if proc.returncode == 0 else "failed"), elapsed, tail[0]


def _patched(text: str, m: Mutant) -> str:
    count = text.count(m.old)
    if m.nth is None and count != 1:
        raise ValueError(f"{m.name}: the fragment occurs {count} times in {m.path}")
    index = -1
    for _ in range((m.nth or 0) + 1):
        index = text.index(m.old, index + 1)
    return text[:index] + m.new + text[index + len(m.old):]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated mutant names")
    parser.add_argument("--skip-numba", action="store_true",
                        help="leave out mutants in kernels/numba_cpu (each recompiles kernels)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per test run")
    parser.add_argument("--hide-torch", action="store_true",
                        help="make 'import torch' fail in the tests, so PyTorch twins skip")
    args = parser.parse_args(argv)
    mutants = MUTANTS
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - {m.name for m in MUTANTS}
        if unknown:
            parser.error(f"unknown mutant(s): {', '.join(sorted(unknown))}")
        mutants = [m for m in MUTANTS if m.name in wanted]
    if args.skip_numba:
        mutants = [m for m in mutants if "numba_cpu" not in m.path or "_workspace" in m.path]
    for m in mutants:  # every fragment must apply before anything runs
        _patched((ROOT / m.path).read_text(encoding="utf-8"), m)
    if args.list:
        for m in mutants:
            print(f"{m.name:40s} {m.path:45s} {' '.join(m.tests)}")
        return 0

    with tempfile.TemporaryDirectory(prefix="tinymm-mutation-") as tmp:
        copy = Path(tmp) / "repo"
        _copy_repo(copy)
        if args.hide_torch:  # a package named torch that refuses to import, first on the path
            fake = Path(tmp) / "no-torch" / "torch"
            fake.mkdir(parents=True)
            (fake / "__init__.py").write_text(  # ModuleNotFoundError: importorskip skips it
                'raise ModuleNotFoundError("torch hidden by --hide-torch", name="torch")\n')
            os.environ["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(fake.parent), os.environ.get("PYTHONPATH", "")) if p)
        print(f"copied the repository to {copy}; {len(mutants)} mutants", flush=True)
        for tests in sorted({tuple(m.tests) for m in mutants}):
            status, elapsed, tail = _run_tests(copy, list(tests), args.timeout)
            if status != "passed":
                print(f"baseline {' '.join(tests)}: {status} ({tail}); fix the tests first")
                return 2
        results = []
        for m in mutants:
            path = copy / m.path
            original = path.read_text(encoding="utf-8")
            stat = path.stat()
            path.write_text(_patched(original, m), encoding="utf-8")
            try:
                compile(path.read_text(encoding="utf-8"), str(path), "exec")
                status, elapsed, tail = _run_tests(copy, m.tests, args.timeout)
            finally:
                path.write_text(original, encoding="utf-8")
                os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
            verdict = {"failed": "caught", "passed": "MISSED", "timeout": "caught (timeout)",
                       "no tests": "error (no tests)"}
            results.append((m, verdict[status]))
            print(f"{verdict[status]:16s} {m.name:40s} {elapsed:6.1f} s  {tail}", flush=True)
        caught = sum(v.startswith("caught") for _, v in results)
        scored = sum(not v.startswith("error") for _, v in results)
        print(f"\nscore: {caught}/{scored} caught ({100 * caught / max(scored, 1):.0f}%)")
        missed = [m.name for m, v in results if v == "MISSED"]
        if missed:
            print("missed: " + ", ".join(missed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
