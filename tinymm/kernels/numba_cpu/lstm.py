"""Numba LSTM (derivation and dimension letters: kernels/reference/lstm.py).

How it computes, as a kernel engineer would split the work:

* The input projection of every time step is one GEMM before the time loop:
  ``xw = x (T*N, D) @ weight_ih^T + (bias_ih + bias_hh)`` (T, N, 4H), NumPy BLAS. Only
  ``h_prev @ weight_hh^T`` is left inside the loop, because it depends on the previous step.
* One fused cell per step makes a pass over (N, 4H): adds the recurrent product to
  ``xw[t]``, applies the gate nonlinearities, updates c and h, honours ``lengths``, and saves
  the activations the backward needs. The exponentials go through ``exp_inplace``, a
  polynomial exp that LLVM vectorises, in the arrays' own precision (float32: 8 lanes per
  AVX2 register); libm's scalar ``exp``/``tanh`` cost 3-4x more per element here, and there
  are T*N*5H of them.
* The backward reuses the saved gate activations (no exponential), produces the gate
  pre-activation gradients ``da`` for all steps, and leaves only ``da[t] @ weight_hh`` inside
  the loop; dx, dweight_ih, dweight_hh and the bias gradients are then one GEMM (or sum) each
  over all T*N rows.
* The step kernels ``_lstm_steps_forward`` and ``_lstm_steps_backward`` run the cells of a
  range of steps in turn. With NumPy's own OpenBLAS reachable (``_recurrent.numpy_blas``:
  the one bundled in NumPy's wheels, called through its cblas addresses) each step makes its
  GEMM itself (``h @ weight_hh^T`` forward, ``da[t] @ weight_hh`` backward, ``gemm_into``),
  so the whole time loop is one call that never takes the GIL: no per-step Python call, and
  two chunks' loops on two threads never wait for each other's GIL. Without NumPy's
  OpenBLAS, the loop in numba (``_lstm_forward_loop``, ``_lstm_backward_loop``) calls
  np.dot, which Numba sends to BLAS through SciPy's bindings (small batches, SciPy
  installed: ``loop_in_numba``), and otherwise a Python loop calls NumPy's matmul between
  one-step calls. SciPy is not a dependency of tinymm.
* A batch of at least 32 rows is cut into row chunks that the worker threads of ``_threads``
  run whole, each with its own input projection, time loop and weight-gradient shares
  (``_forward_rows``, ``_backward_rows``; the split: kernels/numba_cpu/_recurrent.py).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tinymm.kernels.numba_cpu import _threads, _workspace
from tinymm.kernels.numba_cpu._recurrent import (
    GEMV_ROWS,
    bias_sum,
    gemm_into,
    lengths_array,
    loop_in_numba,
    numpy_blas,
    put_rows,
    row_chunks,
    rows_buffer,
    rows_of,
    state_array,
    sum_in_order,
    take_active_rows,
    transposed,
)
from tinymm.kernels.numba_cpu._util import contiguous
from tinymm.kernels.numba_cpu._vexp import FASTMATH, constants, exp_buffers, exp_inplace


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")  # x / 0: inf
def _lstm_steps_forward(blas, w_rec, transposed, xw, rec, bias, lengths, start, stop, step, h, c,
                        gates, h_prev, c_prev, tanh_c, out, z, bits, scale):
    """Steps t in range(start, stop, step) in turn, each for all rows: a = xw[t] + rec + bias
    (N, 4H) -> gates, new c and h (in place), the activations the backward reads kept at t.

    With ``blas`` (``_recurrent.numpy_blas``) each step first computes rec = h @ weight_hh^T
    itself (rec then is a work buffer), from w_rec = weight_hh (4H, H) when ``transposed``,
    else from w_rec = weight_hh^T (H, 4H) C-contiguous, and a whole time loop is one call
    that never takes the GIL; with None, rec comes computed for a single step (w_rec unused).
    z, bits, scale: exp work buffers of N*4H elements (z in the arrays' dtype).
    """
    N, G = rec.shape
    H = G // 4
    one, two = constants(z)[6:8]
    for t in range(start, stop, step):
        xw_t, gates_t, h_prev_t, c_prev_t, tanh_c_t, out_t = (xw[t], gates[t], h_prev[t],
                                                              c_prev[t], tanh_c[t], out[t])
        if blas is not None:
            gemm_into(blas, h, w_rec, transposed, rec)  # (N, 4H)
        # every loop reads and writes rows through slices (1-d views from 0): an index such as
        # base + j could be negative for all Numba knows, and the wraparound test it then adds
        # keeps LLVM from vectorising the loop
        # exp arguments: -a for the sigmoid gates i, f, o and -2a for tanh(g) = 2 sigmoid(2a) - 1
        for n in range(N):
            zr, xr, rr = z[n * G:(n + 1) * G], xw_t[n], rec[n]
            for j in range(G):
                factor = two if 2 * H <= j < 3 * H else one
                zr[j] = -factor * (xr[j] + rr[j] + bias[j])
        exp_inplace(z[:N * G], bits[:N * G], scale[:N * G])
        # gates, then c = f * c_prev + i * g; the exp argument for tanh(c) goes in z[0 : N*H]
        for n in range(N):
            zr, gr = z[n * G:(n + 1) * G], gates_t[n]
            zi, zf, zg, zo = zr[:H], zr[H:2 * H], zr[2 * H:3 * H], zr[3 * H:G]
            gi, gf, gg, go = gr[:H], gr[H:2 * H], gr[2 * H:3 * H], gr[3 * H:G]
            hr, cr, hpr, cpr, cnr = h[n], c[n], h_prev_t[n], c_prev_t[n], tanh_c_t[n]
            for j in range(H):
                i = one / (one + zi[j])
                f = one / (one + zf[j])
                g = two / (one + zg[j]) - one
                o = one / (one + zo[j])
                gi[j] = i
                gf[j] = f
                gg[j] = g
                go[j] = o
                hpr[j] = hr[j]
                cpr[j] = cr[j]
                cnr[j] = f * cr[j] + i * g  # tanh_c_t holds c until tanh is applied below
        for n in range(N):  # separate pass: z[n*H + j] may still be an unread gate above
            zr, cnr = z[n * H:(n + 1) * H], tanh_c_t[n]
            for j in range(H):
                zr[j] = -two * cnr[j]
        exp_inplace(z[:N * H], bits[:N * H], scale[:N * H])
        for n in range(N):
            real = t < lengths[n]
            zr, tcr, gor = z[n * H:(n + 1) * H], tanh_c_t[n], gates_t[n, 3 * H:G]
            hr, cr, outr = h[n], c[n], out_t[n]
            for j in range(H):
                c_new = tcr[j]
                tanh_cj = two / (one + zr[j]) - one
                tcr[j] = tanh_cj
                h_new = gor[j] * tanh_cj
                if real:
                    hr[j] = h_new
                    cr[j] = c_new
                    outr[j] = h_new
                else:  # padded step: the state is carried, the output is 0
                    outr[j] = 0


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")  # x / 0: inf
def _lstm_steps_backward(blas, weight_hh, dh_prev, dout, gates, c_prev, tanh_c, lengths, start,
                         stop, step, dh_next, dc_next, da):
    """Steps t in range(start, stop, step) backward in turn, each for all rows: da[t]
    (N, 4H); dc_next becomes dc_prev (in place).

    With ``blas`` (``_recurrent.numpy_blas``) each step also computes dh_prev = da[t] @
    weight_hh (N, H) and takes it into dh_next (the rows whose step was real), and a whole
    time loop is one call; with None the caller does, after a single step (weight_hh and
    dh_prev unused)."""
    N, G = da.shape[1:]
    H = G // 4
    one = constants(dh_next)[6]
    for t in range(start, stop, step):
        dout_t, gates_t, c_prev_t, tanh_c_t, da_t = dout[t], gates[t], c_prev[t], tanh_c[t], da[t]
        for n in range(N):  # rows through slices, as in _lstm_steps_forward (it vectorises)
            dar = da_t[n]
            if t < lengths[n]:
                gr = gates_t[n]
                gi, gf, gg, go = gr[:H], gr[H:2 * H], gr[2 * H:3 * H], gr[3 * H:G]
                dai, daf, dag, dao = dar[:H], dar[H:2 * H], dar[2 * H:3 * H], dar[3 * H:G]
                tcr, dor, dhr, dcr, cpr = (tanh_c_t[n], dout_t[n], dh_next[n], dc_next[n],
                                           c_prev_t[n])
                for j in range(H):
                    i, f, g, o = gi[j], gf[j], gg[j], go[j]
                    tanh_cj = tcr[j]
                    dh = dor[j] + dhr[j]
                    do = dh * tanh_cj
                    dc = dcr[j] + dh * o * (one - tanh_cj * tanh_cj)
                    dai[j] = dc * g * i * (one - i)
                    daf[j] = dc * cpr[j] * f * (one - f)
                    dag[j] = dc * i * (one - g * g)
                    dao[j] = do * o * (one - o)
                    dcr[j] = dc * f
            else:  # padded step: no gradient into the gates; dh_next, dc_next pass through
                for k in range(G):
                    dar[k] = 0
        if blas is not None:
            gemm_into(blas, da_t, weight_hh, False, dh_prev)
            take_active_rows(dh_next, dh_prev, lengths, t)


@njit(cache=True, nogil=True)
def _lstm_forward_loop(xw, weight_hh, bias, lengths, reverse, h, c, gates, h_prev, c_prev,
                       tanh_c, out, z, bits, scale):
    """The time loop without NumPy's BLAS: rec = np.dot(h, weight_hh^T) (N, 4H) (BLAS through
    SciPy) before each step."""
    T, N, G = xw.shape
    for s in range(T):
        t = T - 1 - s if reverse else s
        rec = np.dot(h, weight_hh.T)
        _lstm_steps_forward(None, weight_hh, True, xw, rec, bias, lengths, t, t + 1, 1, h, c,
                            gates, h_prev, c_prev, tanh_c, out, z, bits, scale)


@njit(cache=True, nogil=True)
def _lstm_backward_loop(dout, gates, c_prev, tanh_c, lengths, reverse, weight_hh, dh_next,
                        dc_next, da):
    """The time loop backward without NumPy's BLAS: dh_prev = np.dot(da[t], weight_hh) (BLAS
    through SciPy) after each step."""
    T, N, H = dout.shape
    for s in range(T):
        t = s if reverse else T - 1 - s
        _lstm_steps_backward(None, weight_hh, dh_next, dout, gates, c_prev, tanh_c, lengths, t,
                             t + 1, 1, dh_next, dc_next, da)  # dh_prev unused without blas
        take_active_rows(dh_next, np.dot(da[t], weight_hh), lengths, t)


def lstm_forward(x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, lengths=None,
                 batch_first=False, reverse=False):
    x = contiguous(x.transpose(1, 0, 2) if batch_first else x)  # (T, N, D)
    T, N, D = x.shape
    H = weight_hh.shape[1]
    dtype = x.dtype
    G = 4 * H
    bias = bias_sum(bias_ih, bias_hh)
    bias = np.zeros(G, dtype) if bias is None else contiguous(bias)  # (4H,)
    lengths = lengths_array(lengths, N, T)
    h = state_array(h0, N, H, dtype)  # (N, H); each chunk updates its own rows in place
    c = state_array(c0, N, H, dtype)
    chunks = row_chunks(N)
    loop = _time_loop(chunks[0][1] - chunks[0][0], G, H, dtype)  # the chunks' time loop
    weight_hh = contiguous(weight_hh)  # (4H, H)
    # the step GEMM h @ weight_hh^T of more than GEMV_ROWS rows in the steps (with NumPy's
    # BLAS), or NumPy's matmul between the steps of a Python loop (without it), runs on a
    # C-ordered copy of weight_hh^T (H, 4H), made once per call for every chunk and step:
    # OpenBLAS runs the transposed-operand form at about half the rate at these sizes,
    # blocks for its small-matrix kernels included (gemm_into). The steps' gemv of a few rows
    # and the numba loop's np.dot (SciPy's BLAS) read weight_hh as it is
    in_numba, blas = loop
    rows = min(n1 - n0 for n0, n1 in chunks)
    w_t = (transposed(weight_hh)
           if (rows > GEMV_ROWS if blas is not None else not in_numba) else None)
    parts = [None] * len(chunks)
    out = rows_buffer(chunks, T, N, H, dtype)  # (T, N, H), or None: the one chunk's output

    def chunk(worker, k):
        parts[k] = _forward_rows(x, chunks[k], weight_ih, weight_hh, bias, lengths, reverse,
                                 h, c, loop, w_t)
        if out is not None:
            put_rows(out, chunks[k], parts[k][-1])

    _threads.run_tasks(chunk, len(chunks))
    if out is None:
        out = parts[0][-1]
    cache = (parts, chunks, weight_ih, weight_hh, lengths, reverse, batch_first,
             h0 is not None, c0 is not None, bias_ih is not None, bias_hh is not None)
    out = out.transpose(1, 0, 2) if batch_first else out  # (N, T, H) or (T, N, H)
    return (out, h, c), cache


def _time_loop(rows: int, G: int, H: int, dtype) -> tuple[bool, object]:
    """How a chunk of ``rows`` rows runs its time loop, as (in_numba, blas). blas: NumPy's own
    BLAS (``_recurrent.numpy_blas``) when it is found, with which every step makes its GEMM
    itself; else None, and the GEMM runs between the steps (np.dot through SciPy inside
    numba, NumPy's matmul in Python). in_numba (``loop_in_numba``): the loop runs inside
    numba (with blas: inside the step kernels, one call), else in Python, one step kernel
    call per step."""
    blas = numpy_blas(dtype)
    return loop_in_numba(rows, G, H, blas is not None), blas


def _forward_rows(x, rows, weight_ih, weight_hh, bias, lengths, reverse, h, c, loop,
                  w_t=None):
    """The forward of batch rows n0:n1 (one chunk): its input projection, then its time loop
    on h[n0:n1] and c[n0:n1] in place. Returns what the backward reads, output last.
    ``loop``: ``_time_loop``'s answer; ``w_t``: weight_hh^T (H, 4H) C-contiguous for the
    step GEMM, or None (the steps' gemv, or SciPy's np.dot, read weight_hh)."""
    n0, n1 = rows
    xc = rows_of(x, n0, n1)  # (T, Nc, D)
    T, Nc, D = xc.shape
    G = weight_ih.shape[0]
    H = G // 4
    dtype = x.dtype
    x2 = xc.reshape(T * Nc, D)  # (T*Nc, D)
    # the input projection of every step, one GEMM, into a recycled buffer (see _workspace);
    # the biases are added inside the step kernel, saving a pass over xw
    xw = np.matmul(x2, weight_ih.T, out=_workspace.empty((T * Nc, G), dtype))  # (T*Nc, 4H)
    xw = xw.reshape(T, Nc, G)  # (T, Nc, 4H)
    gates = _workspace.empty((T, Nc, G), dtype)  # recycled: no fresh pages to fault
    h_prev = _workspace.empty((T, Nc, H), dtype)
    c_prev = _workspace.empty((T, Nc, H), dtype)
    tanh_c = _workspace.empty((T, Nc, H), dtype)
    out = _workspace.empty((T, Nc, H), dtype)
    z, bits, scale = exp_buffers(Nc * G, dtype)
    hc, cc, lc = h[n0:n1], c[n0:n1], lengths[n0:n1]  # C-contiguous row blocks
    in_numba, blas = loop
    w_rec, transposed = (weight_hh, True) if w_t is None else (w_t, False)
    rec = np.empty((Nc, G), dtype)  # (Nc, 4H): the step GEMM's output, with blas
    first, stop, step = (T - 1, -1, -1) if reverse else (0, T, 1)
    if in_numba and blas is not None:  # the whole time loop in one call, without the GIL
        _lstm_steps_forward(blas, w_rec, transposed, xw, rec, bias, lc, first, stop, step, hc,
                            cc, gates, h_prev, c_prev, tanh_c, out, z, bits, scale)
    elif in_numba:
        _lstm_forward_loop(xw, weight_hh, bias, lc, reverse, hc, cc, gates, h_prev, c_prev,
                           tanh_c, out, z, bits, scale)
    else:  # one call per step from Python
        for t in range(first, stop, step):
            if blas is None:
                rec = hc @ w_t
            _lstm_steps_forward(blas, w_rec, transposed, xw, rec, bias, lc, t, t + 1, 1, hc, cc,
                                gates, h_prev, c_prev, tanh_c, out, z, bits, scale)
    return x2, gates, h_prev, c_prev, tanh_c, out


def lstm_backward(grads, cache, need_dx=True):
    dout, dh_n, dc_n = grads
    (parts, chunks, weight_ih, weight_hh, lengths, reverse, batch_first, has_h0, has_c0,
     has_bias_ih, has_bias_hh) = cache
    T, _, G = parts[0][1].shape
    N = lengths.shape[0]
    H = G // 4
    dtype = parts[0][1].dtype
    dout = contiguous((dout.transpose(1, 0, 2) if batch_first else dout).astype(dtype, copy=False))
    dh_next = state_array(dh_n, N, H, dtype)  # (N, H), updated in place step by step
    dc_next = state_array(dc_n, N, H, dtype)
    weight_hh = contiguous(weight_hh)
    loop = _time_loop(chunks[0][1] - chunks[0][0], G, H, dtype)  # the chunks' time loop
    sums = [None] * len(chunks)
    D = weight_ih.shape[1]
    dx = rows_buffer(chunks, T, N, D, dtype) if need_dx else None  # (T, N, D), or None

    def chunk(worker, k):
        sums[k] = _backward_rows(dout, chunks[k], parts[k], weight_ih, weight_hh, lengths,
                                 reverse, dh_next, dc_next, need_dx, loop)
        if dx is not None:
            put_rows(dx, chunks[k], sums[k][3])

    _threads.run_tasks(chunk, len(chunks))
    # weight gradients: the chunks' shares summed in chunk order (the same bits whichever
    # worker took which chunk); autograd copies or adds them into .grad
    dweight_ih, dweight_hh, dbias = (sum_in_order([s[q] for s in sums]) for q in range(3))
    if need_dx and dx is None:
        dx = sums[0][3]  # (T, N, D): the one chunk's
    if dx is not None and batch_first:
        dx = dx.transpose(1, 0, 2)
    if not (has_bias_ih or has_bias_hh):
        dbias = None
    return (dx, dh_next if has_h0 else None, dc_next if has_c0 else None, dweight_ih,
            dweight_hh, dbias if has_bias_ih else None,
            dbias.copy() if has_bias_hh else None)


def _backward_rows(dout, rows, part, weight_ih, weight_hh, lengths, reverse, dh_next, dc_next,
                   need_dx, loop):
    """The backward of batch rows n0:n1: its time loop on dh_next[n0:n1] and dc_next[n0:n1]
    in place, then its shares of dweight_ih, dweight_hh and dbias, and its dx rows."""
    n0, n1 = rows
    x2, gates, h_prev, c_prev, tanh_c, _ = part
    T, Nc, G = gates.shape
    H = G // 4
    dtype = gates.dtype
    doutc = rows_of(dout, n0, n1)  # (T, Nc, H)
    dhc, dcc, lc = dh_next[n0:n1], dc_next[n0:n1], lengths[n0:n1]
    da = _workspace.empty((T, Nc, G), dtype)  # gate pre-activation gradients of every step
    in_numba, blas = loop
    dh_prev = np.empty((Nc, H), dtype)  # the step GEMM's output (with blas)
    first, stop, step = (0, T, 1) if reverse else (T - 1, -1, -1)
    if in_numba and blas is not None:  # the whole time loop in one call, without the GIL
        _lstm_steps_backward(blas, weight_hh, dh_prev, doutc, gates, c_prev, tanh_c, lc, first,
                             stop, step, dhc, dcc, da)
    elif in_numba:
        _lstm_backward_loop(doutc, gates, c_prev, tanh_c, lc, reverse, weight_hh, dhc, dcc, da)
    else:  # one call per step from Python
        for t in range(first, stop, step):
            _lstm_steps_backward(blas, weight_hh, dh_prev, doutc, gates, c_prev, tanh_c, lc, t,
                                 t + 1, 1, dhc, dcc, da)
            if blas is None:
                take_active_rows(dhc, da[t] @ weight_hh, lc, t)
    da2 = da.reshape(T * Nc, G)  # (T*Nc, 4H)
    dx = None
    if need_dx:  # skipped when the input needs no gradient (one GEMM of four)
        dx = np.matmul(da2, weight_ih, out=_workspace.empty((T * Nc, weight_ih.shape[1]), dtype))
        dx = dx.reshape(T, Nc, weight_ih.shape[1])  # (T, Nc, D); no -1: T*Nc may be 0
    dweight_ih = np.matmul(da2.T, x2, out=_workspace.empty(weight_ih.shape, dtype))  # (4H, D)
    dweight_hh = np.matmul(da2.T, h_prev.reshape(T * Nc, H),
                           out=_workspace.empty(weight_hh.shape, dtype))  # (4H, H)
    return dweight_ih, dweight_hh, da2.sum(axis=0), dx  # dbias share (4H,)
