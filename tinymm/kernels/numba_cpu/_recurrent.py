"""Helpers shared by the recurrent Numba kernels (rnn, lstm): states, lengths, the time loop,
the batch split.

``loop_in_numba`` decides whether a time loop runs inside ``@njit`` (small batches, when a BLAS
is reachable from numba) or in Python. ``numpy_blas`` is NumPy's own OpenBLAS (the one its
wheels bundle: ``cblas_?gemm``, ``cblas_?gemv``) as addresses that ``@njit`` code calls
through ``gemm_into``: the same BLAS and thread count as NumPy's ``matmul``, from inside a
kernel, so a step's GEMM needs no Python call of its own (``NUMPY_BLAS_IN_NUMBA``). Without
it, numba reaches BLAS through SciPy's bindings (np.dot, when SciPy is installed:
``BLAS_IN_NUMBA``), whose OpenBLAS runs slower than NumPy's at 16 rows and has a thread pool
of its own.

The batch split: the rows of a batch are independent through the whole recurrence, so a
batch of at least ``2 * CHUNK_ROWS`` rows is cut into chunks of about ``CHUNK_ROWS`` rows
(``row_chunks``), and each worker thread of ``_threads`` runs whole chunks: input projection,
time loop and weight-gradient shares, with BLAS single-threaded. A chunk's time loop runs
where its kernel puts it (``loop_in_numba``; for 16-row LSTM chunks with NumPy's BLAS: inside
one step-kernel call that makes every step's GEMM and never takes the GIL).
The chunks depend on N only, and their weight-gradient shares are summed in chunk order
(``sum_in_order``), so results do not depend on the number of threads or on which worker took
which chunk. Each task also copies its chunk's output rows (and dx rows) into the whole
batch's array (``rows_buffer``, ``put_rows``) while they are in its core's cache, instead of
one thread gathering them after the run.
"""

from __future__ import annotations

import ctypes

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils, errors
from numba.extending import intrinsic

from tinymm.kernels.numba_cpu import _threads, _workspace

try:  # numba's np.dot inside @njit calls BLAS through SciPy's Cython bindings
    import scipy.linalg.cython_blas  # noqa: F401

    BLAS_IN_NUMBA = True
except ImportError:  # pragma: no cover - depends on the environment
    BLAS_IN_NUMBA = False


CHUNK_ROWS = 16  # rows per chunk of the batch split (module docstring)
MAX_CHUNKS = 16

NUMPY_BLAS_IN_NUMBA = True  # may numba time loops call NumPy's OpenBLAS (when it is found)?
# NumPy's OpenBLAS cblas names (sgemm, dgemm, sgemv, dgemv), with the width of their
# integers: NumPy 2's wheels bundle scipy-openblas64 (ILP64, "64_" suffix), NumPy 1's
# openblas64_
_BLAS_NAMES = [(("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_", "scipy_cblas_sgemv64_",
                 "scipy_cblas_dgemv64_"), ctypes.c_int64),
               (("cblas_sgemm64_", "cblas_dgemm64_", "cblas_sgemv64_", "cblas_dgemv64_"),
                ctypes.c_int64)]
_CBLAS_ROW_MAJOR, _CBLAS_NO_TRANS, _CBLAS_TRANS = 101, 111, 112
GEMV_ROWS = 4  # up to this many rows, gemm_into multiplies row by row with gemv
# gemm_into makes a product of more multiply-adds than SMALL_GEMM (the bound of OpenBLAS's
# small-matrix kernels, on the cores that have them) at up to SMALL_GEMM_ROWS rows as blocks
# of columns (small_gemm_width)
SMALL_GEMM = 1_000_000
SMALL_GEMM_ROWS = 32
_SMALL_MATRIX_CORES = _threads.AVX512_CORES  # the cores whose builds have small-matrix kernels
_blas: dict = {}  # "looked up" -> {dtype: addresses}, "kept" -> the ctypes objects; once


def _blas_function(lib, name: str, integer, real, gemm: bool):
    """``name`` in ``lib`` as a ctypes cblas_?gemm (row-major, transposes, M, N, K, alpha,
    A, lda, B, ldb, beta, C, ldc) or cblas_?gemv (row-major, transpose, M, N, alpha, A, lda,
    x, incx, beta, y, incy); None when the library lacks it."""
    p = ctypes.c_void_p
    if gemm:
        argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int, integer, integer, integer, real,
                    p, integer, p, integer, real, p, integer)
    else:
        argtypes = (ctypes.c_int, ctypes.c_int, integer, integer, real, p, integer, p, integer,
                    real, p, integer)
    try:
        return ctypes.CFUNCTYPE(None, *argtypes)((name, lib))
    except AttributeError:
        return None


def _blas_works(blas, dtype) -> bool:
    """One small product through each of ``blas``'s functions, called from Python the way
    ``gemm_into`` calls them, against NumPy's (exact: small integers): a wrong guess of the
    library's interface is caught here, not in a kernel (and nothing compiles for it)."""
    gemm, gemv = blas
    a = np.arange(6, dtype=dtype).reshape(2, 3) - 2  # (M, K)
    w = np.arange(12, dtype=dtype).reshape(3, 4) - 5  # (K, P)
    wt = np.ascontiguousarray(w.T)  # (P, K)
    out = np.full((2, 4), np.nan, dtype)
    gemm(_CBLAS_ROW_MAJOR, _CBLAS_NO_TRANS, _CBLAS_TRANS, 2, 4, 3, 1.0, a.ctypes.data, 3,
         wt.ctypes.data, 3, 0.0, out.ctypes.data, 4)
    row = np.full(4, np.nan, dtype)
    gemv(_CBLAS_ROW_MAJOR, _CBLAS_TRANS, 3, 4, 1.0, w.ctypes.data, 4, a[1].ctypes.data, 1,
         0.0, row.ctypes.data, 1)
    return np.array_equal(out, a @ w) and np.array_equal(row, a[1] @ w)


def numpy_blas(dtype):
    """NumPy's OpenBLAS for float32 or float64 as ``gemm_into`` takes it: a uint64 array of
    the addresses of cblas_?gemm and cblas_?gemv and the bound of its small-matrix kernels in
    multiply-adds (``small_matrix_bound``; 0 for none) (an array, because Numba types and
    unboxes one in well under a microsecond, a tuple of ctypes functions in about 7); or
    None: another dtype, NumPy without a bundled OpenBLAS (then NumPy's BLAS thread count is
    not ours to set either: ``_threads``), or ``NUMPY_BLAS_IN_NUMBA`` off. Looked up, and
    checked on small products, once; the library stays loaded (NumPy holds it, and so does
    ``_blas``)."""
    if not NUMPY_BLAS_IN_NUMBA:
        return None
    if "looked up" not in _blas:
        found = {}
        for lib in _threads.bundled_openblas("numpy"):
            for names, integer in _BLAS_NAMES:
                functions = [_blas_function(lib, name, integer, real, gemm) for name, real, gemm
                             in zip(names, (ctypes.c_float, ctypes.c_double) * 2,
                                    (True, True, False, False))]
                if all(f is not None for f in functions):
                    pairs = {np.dtype(np.float32): (functions[0], functions[2]),
                             np.dtype(np.float64): (functions[1], functions[3])}
                    if all(_blas_works(b, d) for d, b in pairs.items()):
                        small = small_matrix_bound(lib)
                        found = {d: np.array([ctypes.cast(f, ctypes.c_void_p).value
                                              for f in pair] + [small], np.uint64)
                                 for d, pair in pairs.items()}
                        _blas["kept"] = (lib, functions)
                    break
            if found:
                break
        _blas["looked up"] = found
    return _blas["looked up"].get(np.dtype(dtype))


def small_matrix_bound(lib) -> int:
    """The most multiply-adds (M*N*K) of a gemm that this OpenBLAS sends to its small-matrix
    kernels, which read the operands in place instead of packing them: SMALL_GEMM for the
    AVX-512 cores whose builds have them (SkylakeX, Cooperlake, SapphireRapids: OpenBLAS's
    ``gemm_small_kernel_permit`` for them takes M*N*K <= 10^6), 0 for every other core (its
    name from ``_threads.openblas_core``) and where the name is not found."""
    return SMALL_GEMM if _threads.openblas_core(lib) in _SMALL_MATRIX_CORES else 0


def numpy_small_gemm_bound():
    """``small_matrix_bound`` of NumPy's bundled OpenBLAS (0: its core has no small-matrix
    kernels), or None where NumPy bundles none; looked up once. Unlike ``numpy_blas`` it does
    not depend on NUMPY_BLAS_IN_NUMBA: NumPy's own matmul calls the same library."""
    if "small bound" not in _blas:
        libs = _threads.bundled_openblas("numpy")
        _blas["small bound"] = small_matrix_bound(libs[0]) if libs else None
    return _blas["small bound"]


def _array_data(context, builder, array_type, array):
    """The data pointer of an array value, in an intrinsic's code generation."""
    return cgutils.create_struct_proxy(array_type)(context, builder, value=array).data


def _require_c_arrays(*arrays) -> None:
    """At typing time: BLAS reads these arrays as dense rows, so they must be C-contiguous
    float arrays of one dtype."""
    dtypes = {a.dtype for a in arrays}
    if any(not isinstance(a, types.Array) or a.layout != "C" for a in arrays) or len(dtypes) != 1 \
            or dtypes.pop() not in (types.float32, types.float64):
        raise errors.TypingError("gemm_into: BLAS needs C-contiguous float32/float64 arrays of "
                                 f"one dtype, got {arrays}")


@intrinsic
def _gemm_at(typingctx, address, trans_b, M, P, K, a, w, w_start, ldw, out, out_start, ldc):
    """cblas_?gemm at ``address`` (row-major, ILP64): the (M, P) block of ``out`` that starts
    at its flat element out_start, rows ldc apart, = a (M, K) @ op(w block), the w block
    starting at its flat element w_start, rows ldw apart; op the transpose when trans_b is
    _CBLAS_TRANS. a, w and out C-contiguous; the function's float type is their dtype."""
    _require_c_arrays(a, w, out)

    def codegen(context, builder, signature, args):
        addr, tb, m, p, k, av, wv, ws, lw, ov, os, lc = args
        real = context.get_value_type(a.dtype)
        i32, i64 = ir.IntType(32), ir.IntType(64)
        fnty = ir.FunctionType(ir.VoidType(), [i32, i32, i32, i64, i64, i64, real,
                                               real.as_pointer(), i64, real.as_pointer(), i64,
                                               real, real.as_pointer(), i64])
        function = builder.inttoptr(addr, fnty.as_pointer())
        i64s = [context.cast(builder, v, t, types.int64)
                for v, t in ((m, M), (p, P), (k, K), (lw, ldw), (ws, w_start), (os, out_start),
                             (lc, ldc))]
        w_block = builder.gep(_array_data(context, builder, w, wv), [i64s[4]])
        out_block = builder.gep(_array_data(context, builder, out, ov), [i64s[5]])
        builder.call(function, [
            ir.Constant(i32, _CBLAS_ROW_MAJOR), ir.Constant(i32, _CBLAS_NO_TRANS),
            context.cast(builder, tb, trans_b, types.int32), i64s[0], i64s[1], i64s[2],
            ir.Constant(real, 1.0), _array_data(context, builder, a, av), i64s[2],
            w_block, i64s[3], ir.Constant(real, 0.0), out_block, i64s[6]])
        return context.get_dummy_value()

    return types.void(address, trans_b, M, P, K, a, w, w_start, ldw, out, out_start,
                      ldc), codegen


@intrinsic
def _gemv_at(typingctx, address, trans, rows, cols, w, x, y):
    """cblas_?gemv at ``address`` (row-major, ILP64): y = op(w) @ x for w (rows, cols)
    C-contiguous, op the transpose when trans is _CBLAS_TRANS; x and y unit-stride."""
    _require_c_arrays(w, x, y)

    def codegen(context, builder, signature, args):
        addr, tr, r, c, wv, xv, yv = args
        real = context.get_value_type(w.dtype)
        i32, i64 = ir.IntType(32), ir.IntType(64)
        fnty = ir.FunctionType(ir.VoidType(), [i32, i32, i64, i64, real, real.as_pointer(),
                                               i64, real.as_pointer(), i64, real,
                                               real.as_pointer(), i64])
        function = builder.inttoptr(addr, fnty.as_pointer())
        r64 = context.cast(builder, r, rows, types.int64)
        c64 = context.cast(builder, c, cols, types.int64)
        one = ir.Constant(i64, 1)
        builder.call(function, [
            ir.Constant(i32, _CBLAS_ROW_MAJOR), context.cast(builder, tr, trans, types.int32),
            r64, c64, ir.Constant(real, 1.0), _array_data(context, builder, w, wv), c64,
            _array_data(context, builder, x, xv), one, ir.Constant(real, 0.0),
            _array_data(context, builder, y, yv), one])
        return context.get_dummy_value()

    return types.void(address, trans, rows, cols, w, x, y), codegen


@njit(cache=True, nogil=True)
def gemm_into(blas, a, w, transpose, out):
    """out (M, P) = a (M, K) @ w.T (w (P, K)) when ``transpose``, else a @ w (w (K, P)),
    through ``blas`` (``numpy_blas`` of their dtype); a, w and out C-contiguous. Up to
    GEMV_ROWS rows, one gemv per row: OpenBLAS's gemm packs all of w for every call, which
    costs several gemv's at one row. Up to SMALL_GEMM_ROWS rows, with an OpenBLAS that has
    small-matrix kernels (blas[2]), a larger product than they take is made as blocks of
    out's columns that they do take, without packing w (``small_gemm_width``)."""
    M, P = out.shape
    K = a.shape[1]
    if M > GEMV_ROWS:
        trans = _CBLAS_TRANS if transpose else _CBLAS_NO_TRANS
        width = small_gemm_width(M, K, P, np.int64(blas[2]))
        for p0 in range(0, P, width):
            cols = min(width, P - p0)
            if transpose:  # the block's rows of w (P, K)
                _gemm_at(blas[0], trans, M, cols, K, a, w, p0 * K, K, out, p0, P)
            else:  # the block's columns of w (K, P)
                _gemm_at(blas[0], trans, M, cols, K, a, w, p0, P, out, p0, P)
        return
    # out[m] = w @ a[m] for w (P, K), or w^T @ a[m] for w (K, P)
    trans = _CBLAS_NO_TRANS if transpose else _CBLAS_TRANS
    for m in range(M):
        _gemv_at(blas[1], trans, w.shape[0], w.shape[1], w, a[m], out[m])


@njit(cache=True, nogil=True)
def small_gemm_width(M, K, P, small):
    """The width of the column blocks in which gemm_into makes an (M, K) @ (K, P) product
    with an OpenBLAS whose small-matrix kernels take up to ``small`` multiply-adds (0: it has
    none): P itself, or for M <= SMALL_GEMM_ROWS and M*K*P > small > 0 the width (a multiple
    of 16 columns: a 512-bit vector of float32) of the fewest near-equal blocks that each
    have at most ``small`` multiply-adds.

    A gemm larger than ``small`` packs w into a buffer first, which at a few rows costs more
    than the product (16 rows of a 128 -> 512 step: one packed call against two 256-column
    blocks, benchmarks/RESULTS.md). From 64 rows on, packing pays for itself."""
    if small <= 0 or M > SMALL_GEMM_ROWS or M * K * P <= small:  # K = 0 among these
        return max(P, 1)
    per_column = M * K
    pieces = -(-P * per_column // small)
    while True:
        width = (-(-P // pieces) + 15) // 16 * 16  # ceil(P / pieces), up to a multiple of 16
        if width * per_column <= small or width <= 16:
            return width
        pieces += 1


@njit(cache=True, nogil=True)
def take_active_rows(dh_next, dh_prev, lengths, t):
    """dh_next[n] = dh_prev[n] for the rows whose step t was real (the others carry)."""
    N, H = dh_next.shape
    for n in range(N):
        if t < lengths[n]:
            for j in range(H):
                dh_next[n, j] = dh_prev[n, j]


def loop_in_numba(N: int, G: int, H: int, numpy_blas_found: bool = False) -> bool:
    """Run the time loop inside @njit (per-step GEMM through SciPy's BLAS, or through NumPy's
    when the caller has ``numpy_blas_found``) or in Python?

    Inside numba saves the per-step Python overhead (calls, argument unboxing) that dominates
    small batches, and a loop that never takes the GIL: two chunks' Python loops on two
    worker threads would hand the GIL to each other at every step, each hand-off a thread
    wake-up. With NumPy's BLAS (``numpy_blas``), whose count the pool holds at one thread,
    the loop runs inside numba for every batch. SciPy ships its own OpenBLAS with its own
    thread pool: when the per-step GEMM ((N, H) x (H, G) forward, (N, G) x (G, H) backward)
    is big enough for OpenBLAS to multithread (M*N*K >= 2^18), SciPy's threads would compete
    for the cores with NumPy's pool, which runs the big GEMMs around the loop, and both pools
    spin-wait. So with SciPy's BLAS the numba loop is used where that GEMM runs on one thread
    anyway (LSTM 128->128: N <= 3); larger batches loop in Python.
    """
    if numpy_blas_found:
        return True
    return BLAS_IN_NUMBA and N * G * H < 2**18


def bias_sum(bias_ih, bias_hh):
    if bias_ih is None:
        return bias_hh
    if bias_hh is None:
        return bias_ih
    return bias_ih + bias_hh


def lengths_array(lengths, N: int, T: int) -> np.ndarray:
    if lengths is None:
        return np.full(N, T, dtype=np.int64)
    return np.ascontiguousarray(lengths, dtype=np.int64)


def state_array(value, N: int, H: int, dtype) -> np.ndarray:
    """A fresh, writable C-contiguous (N, H) state array (the loop updates it in place)."""
    if value is None:
        return np.zeros((N, H), dtype)
    return np.array(value, dtype=dtype, order="C", copy=True)


def row_chunks(N: int) -> list[tuple[int, int]]:
    """The batch split's row ranges [(n0, n1), ...]: one chunk below 2 * CHUNK_ROWS rows."""
    count = min(N // CHUNK_ROWS, MAX_CHUNKS)
    if count < 2:
        return [(0, N)]
    return [(k * N // count, (k + 1) * N // count) for k in range(count)]


def rows_of(a, n0: int, n1: int):
    """a[:, n0:n1] of a (T, N, ...) array, C-contiguous: a itself when it is every row."""
    return a if n1 - n0 == a.shape[1] else np.ascontiguousarray(a[:, n0:n1])


def rows_buffer(chunks, T: int, N: int, width: int, dtype):
    """The (T, N, width) array that the chunks' (T, Nc, width) blocks are put into (by
    ``put_rows``, each in its own task), or None for one chunk (its block is the whole
    array)."""
    if len(chunks) == 1:
        return None
    return _workspace.empty((T, N, width), dtype)


def put_rows(out, rows, block):
    """out[:, n0:n1] = block for the chunk of rows (n0, n1): the task that made the block
    copies it while the block is still in its core's cache, beside the other tasks."""
    n0, n1 = rows
    out[:, n0:n1] = block


TRANSPOSE_ROWS = 64  # rows of a per block in ``transposed``


def transposed(a):
    """a.T (K, P) as a new C-contiguous array, for a (P, K), copied in blocks of
    TRANSPOSE_ROWS rows: each block's rows stay in the cache while their columns are written,
    which one strided copy of the whole matrix does not (benchmarks/RESULTS.md, stop 30)."""
    P, K = a.shape
    out = np.empty((K, P), a.dtype)
    for p0 in range(0, P, TRANSPOSE_ROWS):
        out[:, p0:p0 + TRANSPOSE_ROWS] = a[p0:p0 + TRANSPOSE_ROWS].T
    return out


def sum_in_order(shares):
    """The chunks' shares of one gradient summed in chunk order, into the first share (the
    shares are the kernels' own fresh buffers: one pass, no copy)."""
    total = shares[0]
    for share in shares[1:]:
        total += share
    return total
