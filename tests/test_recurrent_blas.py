"""The recurrent kernels' BLAS helpers (kernels/numba_cpu/_recurrent.py): gemm_into's column
blocks for OpenBLAS's small-matrix kernels against NumPy's product, the block widths, the
small-matrix bound read off the library, the core ``tinymm info`` reports, and an LSTM whose
step GEMMs are made in blocks against the reference."""

import os
import subprocess
import sys

import numpy as np
import pytest

from tinymm.kernels.numba_cpu import _recurrent as R
from tinymm.kernels.numba_cpu import _threads
from tinymm.kernels.numba_cpu import lstm as numba_lstm
from tinymm.kernels.reference import lstm as reference_lstm


def _blas(dtype, small=None):
    """numpy_blas(dtype), its small-matrix bound replaced by ``small`` when given (the blocks
    are right with any OpenBLAS; only their speed needs the small-matrix kernels)."""
    blas = R.numpy_blas(dtype)
    if blas is None:
        pytest.skip("NumPy bundles no OpenBLAS whose cblas gemm_into can call")
    if small is not None:
        blas = blas.copy()
        blas[2] = small
    return blas


@pytest.mark.parametrize("M, K, P", [(16, 128, 512), (16, 512, 128), (32, 128, 520),
                                     (7, 300, 1000), (20, 1000, 100), (33, 128, 512),
                                     (16, 1, 17), (5, 64, 64)])
def test_small_gemm_width_blocks_cover_every_column_within_the_bound(M, K, P):
    """The blocks are multiples of 16 columns (the last one may be narrower), cover P, stay
    within the bound each where they split, and split only at up to SMALL_GEMM_ROWS rows of
    a product larger than the bound; with no small-matrix kernels (bound 0), never."""
    small = R.SMALL_GEMM
    assert R.small_gemm_width(M, K, P, 0) == P
    width = R.small_gemm_width(M, K, P, small)
    if M > R.SMALL_GEMM_ROWS or M * K * P <= small:
        assert width == P
        return
    assert width % 16 == 0 and 16 <= width < P
    assert M * K * width <= small or width == 16
    starts = list(range(0, P, width))
    assert starts[-1] < P <= starts[-1] + width  # every column in exactly one block
    fewest = -(-M * K * P // small)  # near-equal blocks: at most one more than the fewest
    assert len(starts) in (fewest, fewest + 1) or width == 16


@pytest.mark.parametrize("small", [R.SMALL_GEMM, 0], ids=["blocks", "no-small-kernels"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("transpose", [False, True], ids=["w(K,P)", "w(P,K)"])
@pytest.mark.parametrize("M, K, P", [(16, 128, 512), (16, 512, 128), (24, 160, 300),
                                     (3, 128, 512), (64, 128, 512)])
def test_gemm_into_matches_numpy_with_and_without_column_blocks(small, dtype, transpose, M, K,
                                                                 P):
    """out = a @ w (or a @ w.T) through NumPy's OpenBLAS, by gemv rows (M <= GEMV_ROWS), in
    one call, or in column blocks (where small_gemm_width splits), against NumPy's matmul;
    every element of out is written (out starts as NaN)."""
    blas = _blas(dtype, small)
    rng = np.random.default_rng(M * K + P)
    a = rng.standard_normal((M, K)).astype(dtype)
    w = rng.standard_normal((P, K) if transpose else (K, P)).astype(dtype)
    out = np.full((M, P), np.nan, dtype)
    R.gemm_into(blas, a, w, transpose, out)
    expected = a @ (w.T if transpose else w)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, expected, rtol=tol, atol=tol * np.sqrt(K))


def test_small_matrix_bound_follows_the_openblas_core():
    """numpy_blas carries SMALL_GEMM for the cores with small-matrix kernels and 0 for the
    others, as the library names its core; a library without the name function gets 0."""
    blas = _blas(np.float32)
    core = _threads.numpy_openblas_core()
    expected = R.SMALL_GEMM if core in ("skylakex", "cooperlake", "sapphirerapids") else 0
    assert int(blas[2]) == expected == int(_blas(np.float64)[2])

    class NoNames:  # a library object without any of the corename functions
        pass

    assert R.small_matrix_bound(NoNames()) == 0


@pytest.mark.parametrize("coretype", ["Haswell", None])
def test_info_names_the_openblas_core_and_who_chose_it(coretype):
    """In a fresh process (OpenBLAS picks its core once, when it loads): with
    OPENBLAS_CORETYPE=Haswell NumPy's OpenBLAS runs the Haswell kernels and ``sysinfo.blas``
    says the environment chose them; without the variable it names OpenBLAS's own choice."""
    if _threads.numpy_openblas_core() is None:
        pytest.skip("NumPy bundles no OpenBLAS that names its core")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    if coretype is not None:
        env["OPENBLAS_CORETYPE"] = coretype
    code = ("from tinymm.sysinfo import blas; from tinymm.kernels.numba_cpu import _threads; "
            "print(_threads.numpy_openblas_core()); print(blas())")
    core, text = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                text=True, check=True).stdout.split("\n")[:2]
    assert f", {core} kernels (" + ("OpenBLAS's choice for this CPU)" if coretype is None
                                    else f"OPENBLAS_CORETYPE={coretype} in the environment") \
        in text
    if coretype is not None:
        assert core == "haswell"


def test_info_hints_when_the_environment_keeps_avx512_kernels_off(monkeypatch, tmp_path):
    """The hint appears only where OPENBLAS_CORETYPE chose kernels without AVX-512 and the
    CPU's flags have it; cpu_flags reads the first processor's flags line."""
    from tinymm import sysinfo

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\n"
                       "flags\t\t: fpu sse2 avx2 avx512f avx512bw\n\nprocessor\t: 1\n"
                       "flags\t\t: fpu\n")
    flags = sysinfo.cpu_flags(str(cpuinfo))
    assert {"avx2", "avx512f", "avx512bw"} <= flags and "fpu" in flags
    assert sysinfo.cpu_flags(str(tmp_path / "missing")) == frozenset()
    monkeypatch.setattr(_threads, "numpy_openblas_core", lambda: "haswell")
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    hinted = sysinfo.openblas_core(flags)
    assert hinted.startswith("haswell kernels (OPENBLAS_CORETYPE=Haswell in the environment; "
                             "this CPU has AVX-512")
    assert sysinfo.openblas_core(frozenset({"avx2"})) == \
        "haswell kernels (OPENBLAS_CORETYPE=Haswell in the environment)"
    monkeypatch.setattr(_threads, "numpy_openblas_core", lambda: "skylakex")
    assert "AVX-512" not in sysinfo.openblas_core(flags)
    monkeypatch.delenv("OPENBLAS_CORETYPE")
    assert sysinfo.openblas_core(flags) == "skylakex kernels (OpenBLAS's choice for this CPU)"


def test_lstm_with_blocked_step_gemms_matches_the_reference(monkeypatch):
    """A 16-row chunk at H=128, with blocks on whatever the machine's OpenBLAS: the step
    GEMMs (16 x 128 @ 128 x 512 forward, 16 x 512 @ 512 x 128 backward) exceed SMALL_GEMM
    and run in column blocks; the forward and every gradient match the reference kernel in
    float64, with uneven lengths and initial states."""
    blas = _blas(np.float64, R.SMALL_GEMM)
    monkeypatch.setattr(numba_lstm, "numpy_blas", lambda dtype: blas)
    T, N, D, H = 3, 16, 128, 128
    assert R.small_gemm_width(N, H, 4 * H, R.SMALL_GEMM) < 4 * H  # the split under test
    rng = np.random.default_rng(1)
    s = 1 / np.sqrt(H)
    args = (rng.standard_normal((T, N, D)), rng.standard_normal((N, H)),
            rng.standard_normal((N, H)), rng.uniform(-s, s, (4 * H, D)),
            rng.uniform(-s, s, (4 * H, H)), rng.uniform(-s, s, 4 * H), rng.uniform(-s, s, 4 * H))
    lengths = rng.integers(1, T + 1, N)
    grads = (rng.standard_normal((T, N, H)), rng.standard_normal((N, H)),
             rng.standard_normal((N, H)))
    outs, cache = numba_lstm.lstm_forward(*args, lengths=lengths)
    dins = numba_lstm.lstm_backward(grads, cache)
    ref_outs, ref_cache = reference_lstm.lstm_forward(*args, lengths=lengths)
    ref_dins = reference_lstm.lstm_backward(grads, ref_cache)
    for got, want in zip(outs, ref_outs):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    for got, want in zip(dins, ref_dins):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("shape", [(512, 128), (130, 7), (64, 1), (1, 300), (0, 5), (5, 0)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transposed_is_a_contiguous_copy_of_the_transpose(shape, dtype):
    """The LSTM's weight_hh^T copy, made in row blocks (R.TRANSPOSE_ROWS): every element once,
    row counts that are and are not multiples of the block, empty matrices included."""
    a = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    t = R.transposed(a)
    assert t.flags.c_contiguous and t.dtype == dtype and t.shape == shape[::-1]
    np.testing.assert_array_equal(t, a.T)


def test_chunk_outputs_are_put_into_one_array_and_shares_summed_in_order():
    """rows_buffer / put_rows give the (T, N, width) array of the chunks' blocks (None for a
    single chunk, whose block is the whole array); sum_in_order adds the shares in chunk order
    into the first."""
    rng = np.random.default_rng(2)
    chunks = [(0, 3), (3, 7)]
    full = rng.standard_normal((4, 7, 5)).astype(np.float32)
    out = R.rows_buffer(chunks, 4, 7, 5, np.float32)
    out.fill(np.nan)
    for rows in reversed(chunks):
        R.put_rows(out, rows, np.ascontiguousarray(full[:, rows[0]:rows[1]]))
    np.testing.assert_array_equal(out, full)
    assert R.rows_buffer([(0, 7)], 4, 7, 5, np.float32) is None
    shares = [rng.standard_normal(6).astype(np.float32) for _ in range(3)]
    expected = (shares[0] + shares[1]) + shares[2]
    np.testing.assert_array_equal(R.sum_in_order([s.copy() for s in shares]), expected)
