"""One owner per core: a small thread pool whose workers run NumPy's OpenBLAS single-threaded.

Kernels that issue many small GEMMs (the 36 of a Winograd product, or one per image of a
convolution) run them on these workers instead of calling a multi-threaded BLAS per GEMM:
each multi-threaded call pays a thread barrier, and a barrier whose peer thread is
descheduled on a busy machine costs a whole time slice.

NumPy's OpenBLAS (a pthreads build) has one thread count for the whole process:
``openblas_set_num_threads_local`` sets it for every thread, not only the caller. So
``run_tasks`` sets it to 1 for the time its workers run (``single_threaded_blas``; SciPy's
OpenBLAS too, which ``np.dot`` inside ``@njit`` calls) and puts the caller's counts back
afterwards; every GEMM outside a pool run keeps the count the user or OpenBLAS chose.
Without NumPy's count getter and setter, or with one Numba thread, ``workers()`` returns no
pool and callers run serially.
Work is handed out dynamically (``run_tasks``, the caller taking tasks too): a worker that was
descheduled does fewer tasks instead of holding the others at a barrier.
"""

from __future__ import annotations

import ctypes
import glob
import importlib.util
import itertools
import os
import queue
import threading
from contextlib import contextmanager

import numba
import numpy as np

_pool: list = []  # [_Pool or None, workers, pid] once made
_blas: list = []  # [[(get, set), ...]] once looked up: NumPy's OpenBLAS first, then SciPy's
_single = {"depth": 0, "saved": []}  # nesting of single_threaded_blas across caller threads
_single_lock = threading.Lock()
_local = threading.local()  # in_task: this thread is running run_tasks' tasks
_WORKER_PREFIX = "tinymm-blas1"

# the thread-count functions' names in the OpenBLAS builds NumPy and SciPy bundle
_NAMES = [("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
          ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
          ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
          ("openblas_get_num_threads", "openblas_set_num_threads")]


def bundled_openblas(package: str) -> list:
    """ctypes handles of the OpenBLAS libraries bundled with ``package`` (the wheel's
    ``<package>.libs`` folder; the ones that load), in name order; [] when there are none."""
    spec = importlib.util.find_spec(package)  # finds the package without importing it
    if spec is None or spec.origin is None:
        return []
    libs = os.path.join(os.path.dirname(os.path.dirname(spec.origin)), package + ".libs")
    found = []
    for path in sorted(glob.glob(os.path.join(libs, "lib*openblas*.so*"))):
        try:
            found.append(ctypes.CDLL(path))
        except OSError:
            continue
    return found


# OpenBLAS's x86 cores whose kernels use AVX-512 (``openblas_core`` names, lower case); in
# the OpenBLAS builds NumPy bundles they are also the cores with small-matrix kernels
AVX512_CORES = ("skylakex", "cooperlake", "sapphirerapids")


def openblas_core(lib) -> str | None:
    """The core whose kernels the OpenBLAS ``lib`` runs, as its ``openblas_get_corename``
    names it in lower case ("haswell", "skylakex", ...); None where it has no such function.
    (A DYNAMIC_ARCH build picks the core when it loads, from the CPU or from the
    environment variable OPENBLAS_CORETYPE.)"""
    for name in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename",
                 "openblas_get_corename64_", "openblas_get_corename"):
        function = getattr(lib, name, None)
        if function is not None:
            function.restype = ctypes.c_char_p
            return (function() or b"").decode("ascii", "replace").lower()
    return None


def numpy_openblas_core() -> str | None:
    """``openblas_core`` of the first OpenBLAS bundled with NumPy that names its core, or
    None."""
    return next((c for c in map(openblas_core, bundled_openblas("numpy")) if c), None)


def _count_functions(package: str):
    """(get, set) of the thread count of the OpenBLAS bundled with ``package``, or None."""
    for lib in bundled_openblas(package):
        for get_name, set_name in _NAMES:
            try:
                return getattr(lib, get_name), getattr(lib, set_name)
            except AttributeError:
                continue
    return None


def _all_count_functions():
    """[(get, set)] for NumPy's OpenBLAS (first) and SciPy's (the BLAS that ``np.dot`` inside
    ``@njit`` calls), those found; looked up once."""
    if not _blas:
        found = [_count_functions("numpy")]
        if found[0] is not None:
            found.append(_count_functions("scipy"))
        _blas.append([f for f in found if f is not None])
    return _blas[0]


def blas_functions():
    """(get, set) of NumPy's OpenBLAS process-wide thread count, or None."""
    functions = _all_count_functions()
    return functions[0] if functions else None


def blas_threads():
    """NumPy's OpenBLAS thread count now (what the next GEMM may use), or None if unknown."""
    functions = blas_functions()
    return None if functions is None else int(functions[0]())


@contextmanager
def single_threaded_blas():
    """NumPy's and SciPy's OpenBLAS on one thread inside the block, their previous counts
    restored after.

    Nested and concurrent blocks (two caller threads each running a pool) share one saved
    state: the first to enter saves the counts, the last to leave restores them.
    """
    functions = _all_count_functions()
    with _single_lock:
        if _single["depth"] == 0:
            _single["saved"] = [int(get()) for get, _ in functions]
            for _, set_count in functions:
                set_count(1)
        _single["depth"] += 1
    try:
        yield
    finally:
        with _single_lock:
            _single["depth"] -= 1
            if _single["depth"] == 0:
                for (_, set_count), count in zip(functions, _single["saved"]):
                    set_count(count)


def pooled(count: int) -> bool:
    """Would ``run_tasks(task, count)`` share the tasks with worker threads (with BLAS
    single-threaded), rather than run them serially in the caller? Never from inside a task
    (in a worker or in a caller taking its share): a task waiting on tasks queued behind it
    could wait forever, and its worker ids would clash with the outer run's."""
    pool, n = workers()
    return pool is not None and n > 1 and count > 1 and not getattr(_local, "in_task", False)


@contextmanager
def _task_scope():
    """Marks this thread as running tasks, so a nested ``run_tasks`` runs serially."""
    outer = getattr(_local, "in_task", False)
    _local.in_task = True
    try:
        yield
    finally:
        _local.in_task = outer


class _Pool:
    """n - 1 daemon threads, thread k (1..n-1) always worker k of every run: each waits on its
    own queue (``queue.SimpleQueue``, C code: a put wakes the thread in microseconds, without
    the futures and locks a ``ThreadPoolExecutor`` submit costs) for a ``_Run`` to join."""

    def __init__(self, n_workers):
        self.queues = [queue.SimpleQueue() for _ in range(n_workers - 1)]
        for k, q in enumerate(self.queues, start=1):
            threading.Thread(target=self._serve, args=(q, k), daemon=True,
                             name=f"{_WORKER_PREFIX}-{k}").start()

    @staticmethod
    def _serve(q, worker):
        while True:
            q.get().join(worker)

    def start(self, run, n_workers):
        """Offer ``run`` to workers 1..n_workers-1."""
        for q in self.queues[:n_workers - 1]:
            q.put(run)


def workers():
    """(pool, n_workers), made on first use and again in a forked child (threads do not
    fork): n_workers counts the caller of ``run_tasks`` (worker 0) and the pool's n_workers - 1
    threads; pool is None (and n_workers 1) when NumPy's BLAS thread count cannot be set or
    Numba is set to one thread."""
    if not _pool or _pool[2] != os.getpid():
        n = min(numba.get_num_threads(), 16)
        pool = None
        if blas_functions() is not None and n >= 2:
            pool = _Pool(n)
        _pool[:] = [pool, n if pool is not None else 1, os.getpid()]
    return _pool[0], _pool[1]


class _Run:
    """One ``run_tasks`` call's shared state: the next task index, the workers inside it, and
    whether the caller has closed it (it ran out of tasks: a worker arriving after that
    starts nothing, and is not waited for)."""

    def __init__(self, task, count):
        self.task = task
        self.count = count
        self.counter = itertools.count()  # next() is atomic under the GIL
        self.lock = threading.Lock()
        self.active = 0  # workers (not the caller) inside ``work``
        self.closed = False
        self.idle = threading.Lock()  # released by the last worker out after the close
        self.idle.acquire()
        self.errors = []  # a task raised (or the caller was interrupted): take no more tasks

    def work(self, worker):
        with _task_scope():
            for i in self.counter:
                if i >= self.count or self.errors:
                    return
                try:
                    self.task(worker, i)
                except BaseException as error:
                    self.errors.append(error)
                    raise

    def join(self, worker):
        """A pool thread's part: take tasks unless the run is already closed."""
        with self.lock:
            if self.closed:
                return
            self.active += 1
        try:
            self.work(worker)
        except BaseException:
            pass  # kept in self.errors: the caller re-raises it
        finally:
            with self.lock:
                self.active -= 1
                if self.closed and self.active == 0:
                    self.idle.release()

    def close(self):
        """The caller's last step: returns once every worker that joined is out (after the
        close no worker joins, so ``active`` only falls)."""
        with self.lock:
            self.closed = True
            if self.active == 0:
                return
        self.idle.acquire()


def run_tasks(task, count, n_workers=None):
    """Call ``task(worker, i)`` for i in range(count), the i handed out one at a time to the
    caller (worker 0) and the pool's threads (workers 1..n_workers-1, so each can own scratch
    buffers); serially in this thread (worker 0) without a pool or from inside a task. BLAS is
    single-threaded while the tasks run either way. After a task raises, no worker starts
    another; the first exception reaches the caller.

    The caller takes tasks too, instead of waiting idle: one thread hand-off fewer per run,
    and no core left to a sleeping caller. When the caller runs out of tasks it waits only for
    the workers still inside one; a worker thread that had not woken up by then starts none
    (the run is closed), so a run whose tasks are short, or a machine whose other core is
    busy, never costs a wait for a thread wake-up."""
    pool, n = workers()
    if n_workers is not None:
        n = max(1, min(n, n_workers))
    if not pooled(count) or n == 1:
        with single_threaded_blas(), _task_scope():
            for i in range(count):
                task(0, i)
        return
    run = _Run(task, count)
    with single_threaded_blas():  # every started worker finishes before the count goes back
        pool.start(run, n)
        try:
            run.work(0)
        finally:
            run.close()
    if run.errors:
        raise run.errors[0]


def run_ranges(task, count, pieces):
    """Call ``task(worker, start, stop)`` on ``pieces`` near-equal contiguous ranges that cover
    range(count) once, handed out by ``run_tasks``; the ranges depend on count and pieces
    only, not on which worker takes which."""

    def piece(worker, k):
        task(worker, k * count // pieces, (k + 1) * count // pieces)

    run_tasks(piece, pieces)


# multiply-adds from which ``matmul`` cuts a GEMM into row pieces: from 2^23 (one 512 x 128 x
# 128 projection of the attention block) the half that a second core takes saves more than
# the hand-off costs (measured: benchmarks/RESULTS.md)
GEMM_SPLIT_MACS = 1 << 23
GEMM_PIECE_ROWS = 16  # at least this many rows per piece
GEMM_MAX_PIECES = 4  # more pieces than workers: a descheduled worker does fewer of them


# multiply-adds from which ``matmuls`` hands independent GEMMs to the workers together: each
# hand-off costs tens of microseconds quiet and far more on a busy machine, more than running
# two GEMMs of GEMM_SPLIT_MACS / 2 each one after the other saves
GEMM_PAIR_MACS = 1 << 24


def _row_pieces(M: int, macs: int) -> int:
    """How many row pieces a GEMM of M rows and ``macs`` multiply-adds is cut into."""
    if macs < GEMM_SPLIT_MACS:
        return 1
    return max(1, min(M // GEMM_PIECE_ROWS, GEMM_MAX_PIECES))


def matmuls(*products):
    """out[...] = a @ b for each (a (M, K), b (K, P), out) of ``products``, independent GEMMs
    with BLAS single-threaded, in ONE run of the workers: each GEMM whole, or cut into row
    pieces out[m0:m1] = a[m0:m1] @ b when it has at least GEMM_SPLIT_MACS multiply-adds, the
    pieces of all of them handed out together (one hand-off instead of one per GEMM). Of
    several GEMMs, each is cut into no more pieces than its share of all their multiply-adds
    needs workers: every piece packs all of b again, so two GEMMs of one size on two workers
    run whole. Whole GEMMs (none cut) together under GEMM_PAIR_MACS multiply-adds run one
    after the other in this thread. The pieces depend on the shapes only, and each output row
    is computed by one GEMM whatever the split. Returns the outs."""
    sizes = [a.shape[0] * a.shape[1] * b.shape[1] for a, b, _ in products]
    total = sum(sizes)
    n_workers = workers()[1]
    jobs = []  # (a, b, out, m0, m1)
    for (a, b, out), macs in zip(products, sizes):
        M = a.shape[0]
        pieces = _row_pieces(M, macs)
        if len(products) > 1:
            pieces = min(pieces, max(1, -(-macs * n_workers // max(total, 1))))
        jobs += [(a, b, out, k * M // pieces, (k + 1) * M // pieces) for k in range(pieces)]
    if len(jobs) == 1 or (len(jobs) == len(products) and total < GEMM_PAIR_MACS):
        with single_threaded_blas():
            for a, b, out in products:
                np.matmul(a, b, out=out)
        return tuple(out for _, _, out in products)

    def piece(worker, k):
        a, b, out, m0, m1 = jobs[k]
        np.matmul(a[m0:m1], b, out=out[m0:m1])

    run_tasks(piece, len(jobs))
    return tuple(out for _, _, out in products)


def row_pieces(task, M: int, macs: int, unit: int = 1):
    """Call ``task(m0, m1)`` on the row pieces of a GEMM of M rows and ``macs``
    multiply-adds, with BLAS single-threaded: one piece (0, M) in this thread under
    GEMM_SPLIT_MACS, else up to GEMM_MAX_PIECES pieces on the workers, each starting and
    stopping at a multiple of ``unit`` rows (M a multiple of it). A task computes its rows'
    GEMM and may run other passes on those rows while they are in its core's cache (the
    same pass over the whole array afterwards in the caller would read the other core's rows
    across cores, at several times the cost)."""
    units = M // unit
    pieces = min(_row_pieces(M, macs), max(1, units))
    if pieces == 1:
        with single_threaded_blas():
            task(0, M)
        return
    run_tasks(lambda worker, k: task(k * units // pieces * unit,
                                     (k + 1) * units // pieces * unit), pieces)


def matmul(a, b, out, epilogue=None):
    """out[...] = a (M, K) @ b (K, P), 2-D, with BLAS single-threaded: as row pieces
    out[m0:m1] = a[m0:m1] @ b on the workers when the GEMM has at least GEMM_SPLIT_MACS
    multiply-adds, else as one GEMM in this thread (``matmuls`` of one product); then
    ``epilogue(out[m0:m1])``, when given, on each piece's rows in the thread that made them
    (``row_pieces``). Returns out."""
    if epilogue is None:
        return matmuls((a, b, out))[0]

    def piece(m0, m1):
        np.matmul(a[m0:m1], b, out=out[m0:m1])
        epilogue(out[m0:m1])

    M, K = a.shape
    row_pieces(piece, M, M * K * b.shape[1])
    return out
