"""The numba backend's worker pool (kernels/numba_cpu/_threads.py): ``matmul``'s row pieces
and NumPy's BLAS thread count around them."""

import numpy as np
import pytest

pytest.importorskip("numba")
from tinymm.kernels.numba_cpu import _threads  # noqa: E402


@pytest.mark.parametrize("transposed", [False, True], ids=["a", "a.T"])
def test_matmul_in_row_pieces_matches_one_gemm_and_restores_the_thread_count(monkeypatch,
                                                                             transposed):
    """Cut into row pieces (thresholds lowered so a small GEMM splits), including a
    transposed view as the left operand (linear's dweight = d2.T @ x2), ``matmul`` equals
    NumPy's one GEMM, and NumPy's BLAS thread count afterwards is what it was before."""
    monkeypatch.setattr(_threads, "GEMM_SPLIT_MACS", 1)
    monkeypatch.setattr(_threads, "GEMM_PIECE_ROWS", 2)
    r = np.random.default_rng(0)
    a = r.standard_normal((9, 11)).astype(np.float32)
    a = np.ascontiguousarray(a.T).T if transposed else a  # (9, 11), C- or F-ordered
    b = r.standard_normal((11, 6)).astype(np.float32)
    before = _threads.blas_threads()
    out = _threads.matmul(a, b, np.full((9, 6), np.nan, np.float32))
    np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-5)
    assert _threads.blas_threads() == before


def test_a_task_that_runs_tasks_runs_them_serially_instead_of_waiting_forever():
    """run_tasks called from inside a worker runs its tasks in that worker (queued behind the
    caller's own tasks, they could never start)."""
    inner = []

    def outer(worker, i):
        _threads.run_tasks(lambda w, j: inner.append((i, j, w)), 3)

    _threads.run_tasks(outer, 4)
    assert sorted((i, j) for i, j, _ in inner) == [(i, j) for i in range(4) for j in range(3)]
    assert {w for _, _, w in inner} == {0}


def test_the_caller_takes_tasks_as_worker_0_and_its_nested_runs_are_serial():
    """With a pool, run_tasks' caller runs tasks itself as worker 0 (the pool's threads are
    workers 1..n-1); a run_tasks nested inside a task it runs stays in the caller's thread,
    serially as worker 0, like one nested inside a pool thread."""
    import threading

    pool, n_workers = _threads.workers()
    if pool is None:
        pytest.skip("no worker pool (one Numba thread, or OpenBLAS's count is not settable)")
    caller = threading.get_ident()
    seen, inner = [], []

    def task(worker, i):
        seen.append((worker, threading.get_ident()))
        _threads.run_tasks(lambda w, j: inner.append((w, threading.get_ident())), 2)

    _threads.run_tasks(task, 64)
    assert len(seen) == 64 and {w for w, _ in seen} <= set(range(n_workers))
    assert all((w == 0) == (ident == caller) for w, ident in seen)
    assert len(inner) == 128 and {w for w, _ in inner} == {0}
    assert {ident for _, ident in inner} <= {ident for _, ident in seen}


def test_after_a_task_raises_no_worker_starts_another():
    """A failing task stops the run: the others finish what they hold and take no more, and
    the error reaches the caller."""
    done = []

    def task(worker, i):
        if i == 3:
            raise RuntimeError("task 3")
        done.append(i)

    with pytest.raises(RuntimeError, match="task 3"):
        _threads.run_tasks(task, 10_000)
    assert len(done) < 10_000 - 1


def test_matmuls_runs_independent_gemms_whole_or_in_pieces_and_matches_numpy(monkeypatch):
    """Several independent products in one run (one split into row pieces, one whole, one a
    transposed view), each equal to NumPy's GEMM; NumPy's BLAS thread count is restored."""
    monkeypatch.setattr(_threads, "GEMM_SPLIT_MACS", 500)
    monkeypatch.setattr(_threads, "GEMM_PAIR_MACS", 1)
    monkeypatch.setattr(_threads, "GEMM_PIECE_ROWS", 2)
    r = np.random.default_rng(1)
    a1, b1 = r.standard_normal((9, 11)), r.standard_normal((11, 6))  # 594 MACs: pieces
    a2, b2 = r.standard_normal((3, 4)), r.standard_normal((4, 5))  # 60 MACs: whole
    a3, b3 = r.standard_normal((7, 3)).T, r.standard_normal((7, 2))  # (3, 7) view
    before = _threads.blas_threads()
    outs = _threads.matmuls(*((a, b, np.full((a.shape[0], b.shape[1]), np.nan))
                              for a, b in ((a1, b1), (a2, b2), (a3, b3))))
    for out, (a, b) in zip(outs, ((a1, b1), (a2, b2), (a3, b3))):
        np.testing.assert_allclose(out, a @ b, rtol=1e-12, atol=1e-12)
    assert _threads.blas_threads() == before


def _small_gemm_thresholds_counting_runs(monkeypatch, pair_macs):
    """GEMM split thresholds small enough for test shapes (pieces of at least 2 rows from 500
    multiply-adds, several whole GEMMs together from ``pair_macs``), and the list that
    collects the task count of every ``run_tasks`` call."""
    monkeypatch.setattr(_threads, "GEMM_SPLIT_MACS", 500)
    monkeypatch.setattr(_threads, "GEMM_PAIR_MACS", pair_macs)
    monkeypatch.setattr(_threads, "GEMM_PIECE_ROWS", 2)
    counts = []
    run_tasks = _threads.run_tasks
    monkeypatch.setattr(_threads, "run_tasks",
                        lambda task, count, *args: (counts.append(count),
                                                    run_tasks(task, count, *args))[1])
    return counts


def test_matmul_cuts_one_large_gemm_into_pieces_on_the_workers(monkeypatch):
    """One GEMM of at least GEMM_SPLIT_MACS multiply-adds runs as row pieces on the workers,
    whatever GEMM_PAIR_MACS (the threshold for handing out several whole GEMMs together)."""
    counts = _small_gemm_thresholds_counting_runs(monkeypatch, pair_macs=10**9)
    r = np.random.default_rng(2)
    a, b = r.standard_normal((9, 11)), r.standard_normal((11, 6))  # 594 MACs
    out = _threads.matmul(a, b, np.full((9, 6), np.nan))
    np.testing.assert_allclose(out, a @ b, rtol=1e-12, atol=1e-12)
    assert counts == [4]  # min(9 // GEMM_PIECE_ROWS, GEMM_MAX_PIECES) pieces


def test_row_pieces_respect_the_unit_and_linear_runs_its_bias_and_strided_x_in_them(
        monkeypatch):
    """``row_pieces`` covers every row once, each piece starting and stopping at a multiple of
    ``unit``; linear's forward on an (N, R, D) x of transposed matrices (per-image GEMMs
    reading x through its strides) and its bias epilogue, both in the pieces, match the
    reference, and so does its backward from that cache; an x of strided unit-stride rows
    takes one GEMM instead."""
    from tinymm.kernels.numba_cpu import linear as numba_linear
    from tinymm.kernels.reference import linear as reference_linear

    monkeypatch.setattr(_threads, "GEMM_SPLIT_MACS", 500)
    monkeypatch.setattr(_threads, "GEMM_PIECE_ROWS", 2)
    seen = []
    _threads.row_pieces(lambda m0, m1: seen.append((m0, m1)), 12, 10**6, unit=3)
    assert sorted(seen) == [(0, 3), (3, 6), (6, 9), (9, 12)]
    r = np.random.default_rng(3)
    x = r.standard_normal((5, 7, 4)).transpose(0, 2, 1)  # (5, 4, 7), x[n] transposed
    w, bias = r.standard_normal((6, 7)), r.standard_normal(6)
    calls = []
    row_pieces = _threads.row_pieces
    monkeypatch.setattr(_threads, "row_pieces",
                        lambda task, M, macs, unit=1: (calls.append((M, unit)),
                                                       row_pieces(task, M, macs, unit))[1])
    out, cache = numba_linear.linear_forward(x, w, bias)
    want, want_cache = reference_linear.linear_forward(x, w, bias)
    assert calls == [(20, 4)]  # the strided path, in pieces of whole images
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)
    dout = r.standard_normal(out.shape)
    for got, expected in zip(numba_linear.linear_backward(dout, cache),
                             reference_linear.linear_backward(dout, want_cache)):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    # x[n] strided rows of unit stride (a (T, N, D) sequence seen as (N, T, D)): one copy and
    # one GEMM, not per-image GEMMs, with the same values
    calls.clear()
    x = r.standard_normal((4, 5, 7)).transpose(1, 0, 2)  # (5, 4, 7)
    out, cache = numba_linear.linear_forward(x, w, bias)
    assert calls == [(20, 1)]  # _threads.matmul's pieces of any rows, not of whole images
    np.testing.assert_allclose(out, reference_linear.linear_forward(x, w, bias)[0],
                               rtol=1e-12, atol=1e-12)


def test_matmuls_cuts_two_equal_gemms_no_further_than_their_share_of_the_workers(monkeypatch):
    """Two GEMMs of one size, each above GEMM_SPLIT_MACS, on two workers: one job each (a row
    piece would pack all of b again); a GEMM far larger than the other still gets cut, into
    no more pieces than its share of the multiply-adds needs workers. Both match NumPy."""
    pool = _threads.workers()[0]
    if pool is None:
        pytest.skip("no worker pool (one Numba thread, or NumPy's BLAS count not settable)")
    monkeypatch.setattr(_threads, "workers", lambda: (pool, 2))  # the shares of two workers
    counts = _small_gemm_thresholds_counting_runs(monkeypatch, pair_macs=1)
    r = np.random.default_rng(4)
    equal = [(r.standard_normal((12, 10)), r.standard_normal((10, 6))) for _ in range(2)]
    unequal = [(r.standard_normal((16, 40)), r.standard_normal((40, 6))),  # 3840 MACs
               (r.standard_normal((12, 10)), r.standard_normal((10, 6)))]  # 720 MACs
    for products in (equal, unequal):
        outs = _threads.matmuls(*((a, b, np.full((a.shape[0], b.shape[1]), np.nan))
                                  for a, b in products))
        for out, (a, b) in zip(outs, products):
            np.testing.assert_allclose(out, a @ b, rtol=1e-12, atol=1e-12)
    # equal: 1 + 1 jobs; unequal: the big one min(16 // 2, 4, ceil(3840 * 2 / 4560)) = 2,
    # the small one (720 MACs, split on its own into 4) ceil(720 * 2 / 4560) = 1
    assert counts == [2, 3]
