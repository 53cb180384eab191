"""One owner per core: a small thread pool whose workers run NumPy's OpenBLAS single-threaded.

Kernels that issue many small GEMMs (the 16 of a Winograd product, or one per image of a
convolution) run them on these workers instead of calling a multi-threaded BLAS per GEMM:
each multi-threaded call pays a thread barrier, and a barrier whose peer thread is
descheduled on a busy machine costs a whole time slice. Each worker sets its own OpenBLAS
thread count to 1 (``openblas_set_num_threads_local``, OpenBLAS >= 0.3.27); without that
symbol, or with one thread, ``workers()`` returns no pool and callers run serially.
Work is handed out dynamically (``run_tasks``): a worker that was descheduled does fewer
tasks instead of holding the others at a barrier.
"""

from __future__ import annotations

import ctypes
import glob
import itertools
import os
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

_pool: list = []  # [ThreadPoolExecutor or None, workers, pid] once made


def _openblas_set_local():
    """NumPy's bundled OpenBLAS's per-thread thread-count setter, or None."""
    libs = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
    for path in glob.glob(os.path.join(libs, "libscipy_openblas*.so*")):
        try:
            return ctypes.CDLL(path).openblas_set_num_threads_local
        except (OSError, AttributeError):
            continue
    return None


def workers():
    """(pool, n_workers), made on first use and again in a forked child (threads do not
    fork); pool is None (and n_workers 1) when BLAS cannot be made single-threaded per
    thread or Numba is set to one thread."""
    if not _pool or _pool[2] != os.getpid():
        setter = _openblas_set_local()
        n = min(numba.get_num_threads(), 16)
        pool = None
        if setter is not None and n >= 2:
            pool = ThreadPoolExecutor(n, thread_name_prefix="tinymm-blas1",
                                      initializer=setter, initargs=(1,))
        _pool[:] = [pool, n if pool is not None else 1, os.getpid()]
    return _pool[0], _pool[1]


def run_tasks(task, count, n_workers=None):
    """Call ``task(worker, i)`` for i in range(count), the i handed out one at a time to the
    pool's workers (worker is 0..n_workers-1, so each can own scratch buffers); serially in
    this thread (worker 0) without a pool. Returns the number of workers used."""
    pool, n = workers()
    if n_workers is not None:
        n = max(1, min(n, n_workers))
    if pool is None or n == 1 or count <= 1:
        for i in range(count):
            task(0, i)
        return 1
    counter = itertools.count()  # next() is atomic under the GIL

    def run(worker):
        for i in counter:
            if i >= count:
                return
            task(worker, i)

    for future in [pool.submit(run, w) for w in range(n)]:
        future.result()
    return n
