"""Say on screen that Numba is compiling tinymm's kernels (a first run on a fresh clone).

Numba compiles a kernel on its first call for the argument types, then loads it from the disk
cache in later processes. ``numba:compile`` events fire only for real compiles (a cache hit
fires none), so a listener on them tells a cold start from a warm one exactly. The notice
prints its header once, keeps one live line with the kernel being compiled (on a terminal),
and ``finish()`` closes it with how many kernels compiled and how long they took.

On a cold cache with a core to spare, ``start_helper`` and ``compile_beside`` (called by
``tinymm train`` before its first step; ``compile_in_two_processes`` is both) split the
compiling between this process and a helper process (the section at the end of this module).
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager

HEADER = "compiling kernels (first run only, cached afterwards):"


class CompileNotice:
    """A ``numba.core.event.Listener`` (made a subclass lazily, so numba loads on use)."""

    def __init__(self, stream):
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.depth = 0  # nested compiles (a kernel's callees) count with their caller
        self.count = 0
        self.reported = 0
        self.seconds = 0.0
        self.started = None
        self.name = ""

    def on_start(self, ev):
        self.depth += 1
        function = ev.data["dispatcher"].py_func
        if self.depth != 1 or not function.__module__.startswith("tinymm."):
            return
        self.started = time.perf_counter()
        self.name = f"{function.__module__.rsplit('.', 1)[-1]}.{function.__name__}"
        if self.count == 0:
            self._write(HEADER + ("" if self.tty else " ...\n"))
        if self.tty:
            self._write(f"\r{HEADER} {self.count + 1}: {self.name} "
                        f"({self.seconds:.0f}s so far)\x1b[K")

    def on_end(self, ev):
        self.depth -= 1
        if self.depth == 0 and self.started is not None:
            self.count += 1
            self.seconds += time.perf_counter() - self.started
            self.started = None

    def finish(self) -> None:
        """Close the notice line with a summary (only when something compiled since)."""
        if self.count > self.reported:
            self._write(f"{chr(13) if self.tty else ''}{HEADER} {self.count} kernels compiled "
                        f"in {self.seconds:.1f}s; later runs load them from the cache"
                        f"{chr(27) + '[K' if self.tty else ''}\n")
            self.reported = self.count

    def _write(self, text: str) -> None:
        if self.stream is not None:
            self.stream.write(text)
            self.stream.flush()


@contextmanager
def compile_notice(stream=None):
    """Listen for Numba compiles inside the block; yields the notice (call ``finish()``)."""
    from numba.core import event

    listener_type = type("CompileListener", (CompileNotice, event.Listener), {})
    notice = listener_type(sys.stderr if stream is None else stream)
    event.register("numba:compile", notice)
    try:
        yield notice
    finally:
        event.unregister("numba:compile", notice)
        notice.finish()


# ------------------------------------------------------------ a cold start in two processes
# A compile is single-threaded, and the machine this is written for has two cores. On a cold
# cache, ``start_helper`` starts a helper process (``python -m
# tinymm.app.compile_notice '<TrainConfig as JSON>'``) that runs one forward and backward of
# the same model (its images cut to 8 x 8: the same types, less reference work) on one batch
# with the ``helper_stems()`` kernels on the numba backend and every other kernel on the reference
# backend, then one optimizer step on its own weights, so it compiles exactly those kernels and
# the optimizer's, for the same types, into Numba's disk cache.
# ``tinymm train`` starts it (``start_helper``) before building its data and model, then
# (``compile_beside``) runs the same forward and backward the other way round (the other
# stems' kernels compiled, the helper's on the reference) and waits for the helper; the
# first training step then loads the helper's kernels from the cache. Only when a core is
# idle (``spare_core``): on a busy machine the second process would slow the first. This
# process's warm-up changes no weights (no optimizer step; the gradients are cleared) and uses no
# randomness; a failed, slow or impossible helper only means that this process compiles
# those kernels itself, as a one-process start does. A helper whose parent fails before
# ``compile_beside`` finishes its one step and exits on its own.

# the helper's half with the im2col conv path everywhere (TINYMM_WINOGRAD=0)
TEXT_STEMS = frozenset({"lstm", "attention", "linear", "cross_entropy"})
# with the Winograd conv path on (the default) its transform kernels (with the seed's fused
# conv2 + ReLU + pool1, the pooled output and gradient ones) make the convolutions about half
# of the compiling: the helper takes them alone, and compiles the optimizer's kernels by one
# step of its own throwaway model (the first step came soonest so; with the linear and loss
# kernels too it came 1-2 s later, and with the max-pool's the helper became the longer
# of the two processes: benchmarks/RESULTS.md)
CONV_STEMS = frozenset({"conv2d"})
HELPER_TIMEOUT_S = 120.0  # a stuck helper: stop waiting, compile the rest here
# one kernel of each side: when either has no usable cache entry, the start is cold
_PROBES = (("tinymm.kernels.numba_cpu.conv2d", "_im2col_image"),
           ("tinymm.kernels.numba_cpu.lstm", "_lstm_steps_forward"))


SAMPLE_S = 0.2  # the shortest window spare_core judges the machine's load over
SPARE_CORES = 1.5  # idle cores a helper needs: one for this process, most of one for it


def cpu_sample():
    """(wall seconds, busy CPU seconds of the whole machine, this process's CPU seconds) now;
    the busy seconds are None where /proc/stat cannot be read (not Linux)."""
    import os

    busy = None
    try:
        with open("/proc/stat") as stat:
            ticks = [int(v) for v in stat.readline().split()[1:9]]  # user .. steal, all CPUs
        busy = (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # minus idle, iowait
    except (OSError, ValueError, IndexError):
        pass
    return time.perf_counter(), busy, time.process_time()


IMPORTED = cpu_sample()  # when ``tinymm train`` imported this module: spare_core's default start


def spare_core(since=None) -> bool:
    """Do other processes leave SPARE_CORES cores idle, on average since ``since`` (a
    ``cpu_sample()``; by default the one taken when this module was imported, at the start of
    the command)? This process's own CPU time in that window does not count; a window shorter
    than SAMPLE_S is extended by waiting. A second compile process only pays when it has a
    core of its own; on a busy machine it slows the first. Without /proc/stat: the 1-minute
    load average at most cores - 1."""
    import os

    cores = os.cpu_count() or 1
    start = IMPORTED if since is None else since
    if start[1] is None:
        try:
            return os.getloadavg()[0] <= cores - 1
        except (OSError, AttributeError):  # no load average on this platform (Windows)
            return False
    time.sleep(max(0.0, SAMPLE_S - (time.perf_counter() - start[0])))
    end = cpu_sample()
    others = (end[1] - start[1] - (end[2] - start[2])) / (end[0] - start[0])  # busy cores
    return cores - others >= SPARE_CORES


def cold_cache() -> bool:
    """True when Numba's disk cache holds no entry for the probe kernels and can be written;
    False when it is warm, unwritable, or cannot be inspected (then no helper is started)."""
    import importlib
    import os

    try:
        for module_name, name in _PROBES:
            cache = getattr(importlib.import_module(module_name), name)._cache
            if not os.access(cache.cache_path, os.W_OK):
                return False
            if cache._cache_file._load_index():  # {} when absent or stale
                return False
    except Exception:  # Numba's cache internals differ: behave as a one-process start
        return False
    return True


@contextmanager
def kernels_on_reference(stems):
    """Inside the block, the numba backend serves the kernels of ``stems`` by the reference."""
    from tinymm.backend import get_backend
    from tinymm.kernels import CONTRACT

    numba_backend, reference = get_backend("numba"), get_backend("reference")
    saved = dict(numba_backend.kernels)
    for name, spec in CONTRACT.items():
        if spec.stem in stems and name in reference.kernels:
            numba_backend.kernels[name] = reference.kernels[name]
    try:
        yield
    finally:
        numba_backend.kernels.clear()
        numba_backend.kernels.update(saved)


def warm_up_step(model, dataset, batch_size: int, loss_fn, reference_stems,
                 optimizer=None) -> None:
    """One forward and backward on the first batch, the kernels of ``reference_stems`` on the
    reference backend, then one step of ``optimizer`` when given (on its own kernels: the
    helper's throwaway model only; the training process passes None and its weights stay as
    they are); the parameters' gradients are cleared afterwards."""
    import numpy as np

    batch = dataset.batch(np.arange(min(len(dataset), batch_size)))
    with kernels_on_reference(reference_stems):
        loss, _ = loss_fn(model, batch)
        loss.backward()
    if optimizer is not None:
        optimizer.step()
    for parameter in model.parameters():
        parameter.grad = None


def helper_stems() -> frozenset:
    """The stems whose kernels the helper compiles: CONV_STEMS when the numba backend's
    Winograd conv path is on, else TEXT_STEMS (the two halves measured closest to equal)."""
    from tinymm.kernels.numba_cpu import conv2d

    return CONV_STEMS if conv2d.WINOGRAD else TEXT_STEMS


def start_helper(cfg, notice=None):
    """The helper process, started when the cache is cold, the backend is numba on the CPU and
    a core is spare (``spare_core``); else None. Call it early (``tinymm train`` does, before
    building its data), so that the helper's start-up overlaps this process's."""
    import json
    import os
    import subprocess
    from dataclasses import asdict

    if cfg.backend != "numba" or cfg.device != "cpu":
        return None
    if not (cold_cache() and spare_core()):  # a warm start reads no load
        return None
    if notice is not None:
        side = ("convolutions and the optimizer" if helper_stems() == CONV_STEMS
                else "text and answer side and the optimizer")
        notice._write(f"compiling kernels in two processes (the second one compiles the "
                      f"{side})\n")
    # the helper imports this very copy of tinymm: Numba's cache is per source file
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    return subprocess.Popen([sys.executable, "-m", "tinymm.app.compile_notice",
                             json.dumps(asdict(cfg))], env={**os.environ, "PYTHONPATH": path},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def compile_beside(helper, cfg, model, dataset, loss_fn):
    """With a helper from ``start_helper`` (nothing to do for None): this process compiles
    the kernels outside ``helper_stems()`` by one warm-up step, then waits for the helper (at
    most HELPER_TIMEOUT_S). Returns the helper's exit status, or None when no helper ran."""
    import subprocess

    if helper is None:
        return None
    try:
        warm_up_step(model, dataset, cfg.batch_size, loss_fn, helper_stems())
        helper.wait(timeout=HELPER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pass
    finally:
        if helper.poll() is None:
            helper.kill()
            helper.wait()
    return helper.returncode


def compile_in_two_processes(cfg, model, dataset, loss_fn, notice=None):
    """``start_helper`` then ``compile_beside``: on a cold cache with the numba backend and a
    spare core, the helper compiles ``helper_stems()``' kernels while this process compiles the
    others (the comment above). Returns the helper's exit status, or None when none ran."""
    return compile_beside(start_helper(cfg, notice), cfg, model, dataset, loss_fn)


class _CroppedImages:
    """A VQA data set whose images are cut to their top-left ``size`` x ``size`` corner: the
    helper's model sees the same dtypes and layouts at a fraction of the image-side work
    (the reference backend's, or the convolutions' while it compiles those)."""

    def __init__(self, dataset, size: int):
        self.dataset, self.size = dataset, size

    def __len__(self) -> int:
        return len(self.dataset)

    def batch(self, indices) -> dict:
        batch = dict(self.dataset.batch(indices))
        batch["image"] = batch["image"][:, :, :self.size, :self.size].copy()
        return batch


HELPER_IMAGE_SIZE = 8  # two 2x2 pools leave 2 x 2 regions


def _helper_main(argv) -> int:
    """The helper process: one warm-up step of the configured model (images cut to
    HELPER_IMAGE_SIZE) with every kernel outside ``helper_stems()`` on the reference backend,
    and one step of the training's optimizer (``train.build_optimizer``) on its weights."""
    import json

    from tinymm.app.train import TrainConfig, build_model, build_optimizer, vqa_loss
    from tinymm.backend import use_backend
    from tinymm.data import ShapesVQA
    from tinymm.kernels import CONTRACT

    cfg = TrainConfig(**json.loads(argv[0]))
    size = min(HELPER_IMAGE_SIZE, cfg.model.get("image_size", HELPER_IMAGE_SIZE))
    cfg = TrainConfig(**{**json.loads(argv[0]), "model": {**cfg.model, "image_size": size}})
    dataset = ShapesVQA(cfg.batch_size, seed=cfg.seed)
    others = {spec.stem for spec in CONTRACT.values()} - helper_stems()
    with use_backend("numba"):
        model = build_model(cfg, dataset.tokenizer)
        warm_up_step(model, _CroppedImages(dataset, size), cfg.batch_size, vqa_loss, others,
                     build_optimizer(cfg, model))
    return 0


if __name__ == "__main__":
    raise SystemExit(_helper_main(sys.argv[1:]))
