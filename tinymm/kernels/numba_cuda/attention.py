"""CUDA scaled dot-product attention, fused, with an online softmax (derivation:
kernels/reference/attention.py).

Dimension letters: N batch, h heads, Lq queries, Lk keys/values, d query/key features, e value
features. The mask is None, a bool array (True = attend) or a float array (added to the
scores), each broadcastable to (N, h, Lq, Lk): the wrapper left-pads its shape with ones to
four axes and a kernel reads element [n, head, i, j] at index min(axis index, size - 1), so a
size-1 axis is broadcast without copying. ``is_causal`` forbids keys j > i.

Forward: ``attention_forward``, grid (ceil(Lq / BLOCK_Q), h, N), one thread per query row i.
The block walks the keys in tiles of BLOCK_K. For each tile it stages k (in CHUNK-wide slices
of d) and v (a CHUNK-wide slice of e) in shared memory, so each key is read from global
memory once per block rather than once per query; every thread then forms its BLOCK_K scores
S[i, j] = scale * q_i . k_j + mask, and folds them into a running (streaming) softmax::

    m_new = max(m, max_j S[i, j])         alpha = exp(m - m_new)
    l     = alpha * l + sum_j exp(S[i, j] - m_new)
    acc   = alpha * acc + sum_j exp(S[i, j] - m_new) * v_j

so the (Lq, Lk) score matrix is never needed to produce ``out = acc / l``. A thread holds CHUNK
output features in registers; larger e runs the key walk once per CHUNK slice. Because the
CONTRACT returns the attention weights too, the first slice also writes the raw scores into
``weights`` and, once m and l are final, each thread rewrites its own row as
P = exp(S - lse) with lse = m + log(l), the log-sum-exp saved for the backward. A row with
every key masked keeps m = -inf and l = 0: its ``out`` and ``weights`` rows are zeros and its
lse is -inf (the reference's zero rows, no NaN).

Backward, as FlashAttention: the backward does not read the forward's P but recomputes
P[i, j] = exp(S[i, j] - lse[i]) from q, k and the saved lse (zero on dead rows), and uses
D[i] = sum_j dP[i, j] P[i, j] = dout_i . out_i (+ sum_j dP_ext[i, j] P[i, j] when the weights
output has a gradient), so dS = P * (dP - D) needs no row reduction over a stored P:

* ``attention_backward_q``, grid (ceil(Lq / BLOCK_Q), h, N), one thread per query row: D[i],
  then dq_i = scale sum_j dS[i, j] k_j (and dS itself when a float mask needs its gradient);
* ``attention_backward_kv``, grid (ceil(Lk / BLOCK_Q), h, N), one thread per key row:
  dv_j = sum_i P[i, j] dout_i and dk_j = scale sum_i dS[i, j] q_i, recomputing S, P, dP with
  the D of the first kernel;
* ``_mask_grad``: dmask = dS summed over the axes the float mask was broadcast along.

Both backward kernels are tiled like the forward: the block walks the other side's rows
(keys for dq, queries for dk/dv) in tiles of BLOCK_K, staging each operand it dots against
(k, v, or q, dout) in CHUNK-wide shared slices (``_tile_dots``), and adds a tile's weighted
rows to its own output row the same way (``_accumulate_rows``), so each row of k, v, q and
dout is read from global memory once per block instead of once per thread.
The three main kernels are built per dtype (_dtypes.py) so float32 arithmetic stays float32.
Both a GPU and the simulator run these shared-memory paths (no warp shuffles are used).
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from tinymm.kernels.numba_cuda._device import empty, grid_1d, require_device
from tinymm.kernels.numba_cuda._dtypes import per_dtype
from tinymm.kernels.numba_cuda._reduce import SIMULATOR

# A GPU block: 64 query threads (two warps), key tiles of 16, feature slices of 32 (shared
# tiles of 16 x 32 values for k and for v). The simulator runs one Python thread per GPU
# thread, so it uses 4 / 4 / 4: the same code, with every chunk loop exercised by tiny shapes.
BLOCK_Q = 4 if SIMULATOR else 64
BLOCK_K = 4 if SIMULATOR else 16
CHUNK = 4 if SIMULATOR else 32


@cuda.jit(device=True, inline=True)
def _block_row(L):
    """(n, head, tx, nt, row, clamped row) of a thread in a (row tile, head, batch item) block:
    row = blockIdx.x BLOCK_Q + tx; threads past the last of the L rows use row L - 1 (they
    compute a duplicate, take part in every barrier, and write nothing)."""
    tx = cuda.threadIdx.x
    row = cuda.blockIdx.x * BLOCK_Q + tx
    return cuda.blockIdx.z, cuda.blockIdx.y, tx, cuda.blockDim.x, row, min(row, L - 1)


@cuda.jit(device=True, inline=True)
def _masked(sc, bmask, fmask, mask_kind, causal, n, hh, i, j, neg_inf):
    """Score S[i, j] after ``is_causal`` and the mask: -inf for a forbidden key, the float
    mask added; a mask axis of size 1 is read at index 0 (broadcast)."""
    if causal and j > i:
        return neg_inf
    if mask_kind == 1:
        if not bmask[min(n, bmask.shape[0] - 1), min(hh, bmask.shape[1] - 1),
                     min(i, bmask.shape[2] - 1), min(j, bmask.shape[3] - 1)]:
            return neg_inf
    elif mask_kind == 2:
        sc += fmask[min(n, fmask.shape[0] - 1), min(hh, fmask.shape[1] - 1),
                    min(i, fmask.shape[2] - 1), min(j, fmask.shape[3] - 1)]
    return sc


@cuda.jit(device=True, inline=True)
def _stage(tile, src, n, hh, r0, c0, rows, cols, tx, nt, zero):
    """Block-cooperative, coalesced copy of src[n, hh, r0:r0+R, c0:c0+C] into the shared
    ``tile`` (R, C), zeros past ``rows`` / ``cols``; the caller synchronises."""
    R, C = tile.shape
    for idx in range(tx, R * C, nt):
        rr = idx // C
        cc = idx % C
        ok = r0 + rr < rows and c0 + cc < cols
        tile[rr, cc] = src[n, hh, r0 + rr, c0 + cc] if ok else zero


@cuda.jit(device=True, inline=True)
def _tile_dots(s_loc, q, k, sk, n, hh, ii, j0, tx, nt, zero):
    """s_loc[jj] = q_ii . k_{j0+jj} for the key tile, k staged CHUNK features at a time."""
    d, Lk = q.shape[3], k.shape[2]
    for jj in range(BLOCK_K):
        s_loc[jj] = 0
    for d0 in range(0, d, CHUNK):
        _stage(sk, k, n, hh, j0, d0, Lk, d, tx, nt, zero)
        cuda.syncthreads()
        for cc in range(min(CHUNK, d - d0)):
            qv = q[n, hh, ii, d0 + cc]
            for jj in range(BLOCK_K):
                s_loc[jj] += qv * sk[jj, cc]
        cuda.syncthreads()


@cuda.jit(device=True, inline=True)
def _fold_tile(stat, acc, s_loc, sv, count, m_tile, neg_inf):
    """The streaming-softmax step: rescale l and acc to the new max m_tile, add the tile's
    ``count`` keys (exp(S - m_tile), and times v_j into acc)."""
    if m_tile > neg_inf:  # some key of the row so far may be attended
        alpha = math.exp(stat[0] - m_tile)  # 0 while stat[0] is still -inf
        stat[1] *= alpha
        for c in range(CHUNK):
            acc[c] *= alpha
        for jj in range(count):
            p = math.exp(s_loc[jj] - m_tile)  # exactly 0 for a masked key
            stat[1] += p
            for c in range(CHUNK):
                acc[c] += p * sv[jj, c]
        stat[0] = m_tile


@cuda.jit(device=True, inline=True)
def _finish_row(P, lse, stat, n, hh, i, neg_inf, zero):
    """lse_i = m + log(l) and the weights row P = exp(S - lse) (zeros on a dead row)."""
    dead = not (stat[1] > 0)  # every key masked
    lse_i = neg_inf if dead else stat[0] + math.log(stat[1])
    lse[n, hh, i] = lse_i
    for j in range(P.shape[3]):
        P[n, hh, i, j] = zero if dead else math.exp(P[n, hh, i, j] - lse_i)


def _make_attention_forward(dtype):
    zero = dtype(0)
    neg_inf = dtype(-math.inf)

    def attention_forward(q, k, v, bmask, fmask, mask_kind, causal, scale, out, P, lse):
        """One thread per query i of block (query tile, head, batch item); see the module doc."""
        Lq = q.shape[2]
        Lk, e = k.shape[2], v.shape[3]
        n, hh, tx, nt, i, ii = _block_row(Lq)
        sk = cuda.shared.array((BLOCK_K, CHUNK), q.dtype)  # k[j0:j0+BLOCK_K, d0:d0+CHUNK]
        sv = cuda.shared.array((BLOCK_K, CHUNK), q.dtype)  # v[j0:j0+BLOCK_K, e0:e0+CHUNK]
        s_loc = cuda.local.array(BLOCK_K, q.dtype)  # this thread's scores for the key tile
        acc = cuda.local.array(CHUNK, q.dtype)  # this thread's output slice, unnormalised
        stat = cuda.local.array(2, q.dtype)  # running max m and running sum l
        for e0 in range(0, max(e, 1), CHUNK):
            stat[0] = neg_inf
            stat[1] = 0
            for c in range(CHUNK):
                acc[c] = 0
            for j0 in range(0, Lk, BLOCK_K):
                _tile_dots(s_loc, q, k, sk, n, hh, ii, j0, tx, nt, zero)
                _stage(sv, v, n, hh, j0, e0, Lk, e, tx, nt, zero)
                cuda.syncthreads()
                m_tile = stat[0]
                count = min(BLOCK_K, Lk - j0)
                for jj in range(count):
                    j = j0 + jj
                    sc = _masked(s_loc[jj] * scale, bmask, fmask, mask_kind, causal, n, hh, ii,
                                 j, neg_inf)
                    s_loc[jj] = sc
                    if sc > m_tile:
                        m_tile = sc
                    if e0 == 0 and i < Lq:
                        P[n, hh, i, j] = sc  # the raw score, normalised once m and l are final
                _fold_tile(stat, acc, s_loc, sv, count, m_tile, neg_inf)
                cuda.syncthreads()  # before the next tile overwrites sk and sv
            if i < Lq:
                for c in range(min(CHUNK, e - e0)):
                    out[n, hh, i, e0 + c] = acc[c] / stat[1] if stat[1] > 0 else zero
        if i < Lq:
            _finish_row(P, lse, stat, n, hh, i, neg_inf, zero)

    return attention_forward


@cuda.jit(device=True, inline=True)
def _accumulate_rows(dst, w_loc, src, st, n, hh, row, r0, valid, tx, nt, zero):
    """dst[n, hh, row, :] += sum_r w_loc[r] src[n, hh, r0 + r, :] over a tile of BLOCK_K rows
    of src, staged CHUNK columns at a time through the shared ``st``; w_loc is zero past the
    last row. Every thread of the block calls it; only ``valid`` threads write."""
    C, L = src.shape[3], src.shape[2]
    for c0 in range(0, C, CHUNK):
        _stage(st, src, n, hh, r0, c0, L, C, tx, nt, zero)
        cuda.syncthreads()
        if valid:
            for cc in range(min(CHUNK, C - c0)):
                acc = zero
                for r in range(BLOCK_K):
                    acc += w_loc[r] * st[r, cc]
                dst[n, hh, row, c0 + cc] += acc
        cuda.syncthreads()


@cuda.jit(device=True, inline=True)
def _probability(sc, lse_i, neg_inf, zero):
    """P[i, j] = exp(S[i, j] - lse_i), recomputed from the masked score; 0 on a dead row."""
    return zero if (lse_i == neg_inf or sc == neg_inf) else math.exp(sc - lse_i)


def _make_attention_backward_q(dtype):
    zero = dtype(0)
    neg_inf = dtype(-math.inf)

    def attention_backward_q(q, k, v, dout, out, dP_ext, has_dP_ext, lse, bmask, fmask, mask_kind,
                              causal, scale, write_dS, dq, D, dS_full):
        """One thread per query row i of block (query tile, head, batch item): D[i], dq_i and
        (write_dS) the dS row, walking the keys in shared tiles of BLOCK_K."""
        Lq, d = q.shape[2], q.shape[3]
        Lk, e = k.shape[2], v.shape[3]
        n, hh, tx, nt, i, ii = _block_row(Lq)
        st = cuda.shared.array((BLOCK_K, CHUNK), q.dtype)  # the staged k or v tile
        p_loc = cuda.local.array(BLOCK_K, q.dtype)  # P[i, j] for the tile, then scale dS
        dp_loc = cuda.local.array(BLOCK_K, q.dtype)  # dout_i . v_j for the tile
        lse_i = lse[n, hh, ii]
        Di = zero
        for c in range(e):
            Di += dout[n, hh, ii, c] * out[n, hh, ii, c]
        if i < Lq:
            for c in range(d):
                dq[n, hh, i, c] = 0
        for sweep in range(2):  # sweep 0: the dP_ext part of D (if any); sweep 1: dS and dq
            if sweep == 0 and not has_dP_ext:
                continue  # the same for the whole block
            for j0 in range(0, Lk, BLOCK_K):
                count = min(BLOCK_K, Lk - j0)
                _tile_dots(p_loc, q, k, st, n, hh, ii, j0, tx, nt, zero)  # q_i . k_j
                for r in range(count):
                    sc = _masked(p_loc[r] * scale, bmask, fmask, mask_kind, causal, n, hh, ii,
                                 j0 + r, neg_inf)
                    p_loc[r] = _probability(sc, lse_i, neg_inf, zero)
                if sweep == 0:
                    for r in range(count):
                        Di += dP_ext[n, hh, ii, j0 + r] * p_loc[r]
                    continue
                _tile_dots(dp_loc, dout, v, st, n, hh, ii, j0, tx, nt, zero)  # dout_i . v_j
                for r in range(BLOCK_K):
                    if r < count:
                        dp = dp_loc[r] + (dP_ext[n, hh, ii, j0 + r] if has_dP_ext else zero)
                        ds = p_loc[r] * (dp - Di)
                        if write_dS and i < Lq:
                            dS_full[n, hh, i, j0 + r] = ds
                        p_loc[r] = scale * ds
                    else:
                        p_loc[r] = zero
                _accumulate_rows(dq, p_loc, k, st, n, hh, i, j0, i < Lq, tx, nt, zero)
        if i < Lq:
            D[n, hh, i] = Di

    return attention_backward_q


def _make_attention_backward_kv(dtype):
    zero = dtype(0)
    neg_inf = dtype(-math.inf)

    def attention_backward_kv(q, k, v, dout, dP_ext, has_dP_ext, lse, D, bmask, fmask, mask_kind,
                               causal, scale, dk, dv):
        """One thread per key row j of block (key tile, head, batch item), walking the queries
        in shared tiles: dv_j = sum_i P dout_i, dk_j = scale sum_i dS q_i."""
        Lq = q.shape[2]
        Lk, d, e = k.shape[2], k.shape[3], v.shape[3]
        n, hh, tx, nt, j, jj = _block_row(Lk)
        st = cuda.shared.array((BLOCK_K, CHUNK), q.dtype)  # the staged q or dout tile
        p_loc = cuda.local.array(BLOCK_K, q.dtype)  # P[i, j] for the query tile
        ds_loc = cuda.local.array(BLOCK_K, q.dtype)  # v_j . dout_i, then scale dS[i, j]
        if j < Lk:
            for c in range(d):
                dk[n, hh, j, c] = 0
            for c in range(e):
                dv[n, hh, j, c] = 0
        for i0 in range(0, Lq, BLOCK_K):
            count = min(BLOCK_K, Lq - i0)
            _tile_dots(p_loc, k, q, st, n, hh, jj, i0, tx, nt, zero)  # k_j . q_i
            for r in range(BLOCK_K):
                if r < count:
                    sc = _masked(p_loc[r] * scale, bmask, fmask, mask_kind, causal, n, hh, i0 + r,
                                 jj, neg_inf)
                    p_loc[r] = _probability(sc, lse[n, hh, i0 + r], neg_inf, zero)
                else:
                    p_loc[r] = zero
            _accumulate_rows(dv, p_loc, dout, st, n, hh, j, i0, j < Lk, tx, nt, zero)
            _tile_dots(ds_loc, v, dout, st, n, hh, jj, i0, tx, nt, zero)  # v_j . dout_i
            for r in range(BLOCK_K):
                if r < count:
                    dp = ds_loc[r] + (dP_ext[n, hh, i0 + r, jj] if has_dP_ext else zero)
                    ds_loc[r] = scale * (p_loc[r] * (dp - D[n, hh, i0 + r]))
                else:
                    ds_loc[r] = zero
            _accumulate_rows(dk, ds_loc, q, st, n, hh, j, i0, j < Lk, tx, nt, zero)

    return attention_backward_kv


def _mask_grad(dS, dmask):
    """dmask[a, b, c, f] = sum of dS over the axes where dmask has size 1 and dS does not."""
    idx = cuda.grid(1)
    if idx < dmask.size:
        M0, M1, M2, M3 = dmask.shape
        a = idx // (M1 * M2 * M3)
        b = (idx // (M2 * M3)) % M1
        c = (idx // M3) % M2
        f = idx % M3
        r0 = dS.shape[0] if M0 == 1 else 1  # how many entries of each axis fold into this one
        r1 = dS.shape[1] if M1 == 1 else 1
        r2 = dS.shape[2] if M2 == 1 else 1
        r3 = dS.shape[3] if M3 == 1 else 1
        total = cuda.local.array(1, dmask.dtype)  # one register in the mask's dtype
        total[0] = 0
        for x0 in range(r0):
            for x1 in range(r1):
                for x2 in range(r2):
                    for x3 in range(r3):
                        total[0] += dS[a + x0, b + x1, c + x2, f + x3]
        dmask[a, b, c, f] = total[0]


_A4 = "{t}[:, :, :, ::1]"
_B4 = "boolean[:, :, :, ::1]"
attention_forward_kernels, _fwd_targets = per_dtype(
    _make_attention_forward, f"void({_A4}, {_A4}, {_A4}, {_B4}, {_A4}, int64, boolean, {{t}}, "
    f"{_A4}, {_A4}, {{t}}[:, :, ::1])")
attention_backward_q_kernels, _q_targets = per_dtype(
    _make_attention_backward_q, f"void({_A4}, {_A4}, {_A4}, {_A4}, {_A4}, {_A4}, boolean, "
    f"{{t}}[:, :, ::1], {_B4}, {_A4}, int64, boolean, {{t}}, boolean, {_A4}, {{t}}[:, :, ::1], "
    f"{_A4})")
attention_backward_kv_kernels, _kv_targets = per_dtype(
    _make_attention_backward_kv, f"void({_A4}, {_A4}, {_A4}, {_A4}, {_A4}, boolean, "
    f"{{t}}[:, :, ::1], {{t}}[:, :, ::1], {_B4}, {_A4}, int64, boolean, {{t}}, {_A4}, {_A4})")
PTX_TARGETS = _fwd_targets + _q_targets + _kv_targets + [
    (_mask_grad, tuple(f"void({_A4}, {_A4})".format(t=t) for t in ("float32", "float64"))),
]

mask_grad_kernel = cuda.jit(_mask_grad)


def _mask_args(op, mask, dtype):
    """(kind, bool 4-d mask, float 4-d mask, original float-mask shape or None); the unused
    kind gets a 1-element placeholder that the kernels never read."""
    bool_dummy = empty((1, 1, 1, 1), np.bool_)
    float_dummy = empty((1, 1, 1, 1), dtype)
    if mask is None:
        return 0, bool_dummy, float_dummy, None
    if mask.ndim > 4:
        raise ValueError(f"cuda {op}: mask must have at most 4 axes, got shape {mask.shape}")
    shape4 = (1,) * (4 - mask.ndim) + tuple(mask.shape)
    if mask.dtype == np.bool_:
        return 1, mask.reshape(shape4), float_dummy, None
    if mask.dtype != dtype:
        raise TypeError(f"cuda {op}: a float mask must have the query's dtype {dtype}, "
                        f"got {mask.dtype}")
    return 2, bool_dummy, mask.reshape(shape4), tuple(mask.shape)


def scaled_dot_product_attention_forward(q, k, v, mask=None, is_causal=False, scale=None):
    op = "scaled_dot_product_attention_forward"
    require_device(op, q=q, k=k, v=v, mask=mask)
    N, Hh, Lq, d = q.shape
    Lk, e = k.shape[2], v.shape[3]
    dtype = q.dtype
    for name, a, shape in (("k", k, (N, Hh, Lk, d)), ("v", v, (N, Hh, Lk, e))):
        if tuple(a.shape) != shape or a.dtype != dtype:
            raise ValueError(f"cuda {op}: {name} is {a.dtype} {tuple(a.shape)}, expected "
                             f"{dtype} {shape}")
    scale = 1.0 / math.sqrt(d) if scale is None else float(scale)
    kind, bmask, fmask, mask_shape = _mask_args(op, mask, dtype)
    out = empty((N, Hh, Lq, e), dtype)  # (N, h, Lq, e)
    P = empty((N, Hh, Lq, Lk), dtype)  # (N, h, Lq, Lk) attention weights
    lse = empty((N, Hh, Lq), dtype)  # log-sum-exp of each score row, -inf for dead rows
    if N * Hh * Lq and Lk and d:
        grid = ((Lq + BLOCK_Q - 1) // BLOCK_Q, Hh, N)
        kernel = attention_forward_kernels[dtype]
        kernel[grid, BLOCK_Q](q, k, v, bmask, fmask, kind, bool(is_causal), dtype.type(scale),
                              out, P, lse)
    cache = (q, k, v, out, lse, bmask, fmask, kind, bool(is_causal), dtype.type(scale),
             mask_shape)
    return (out, P), cache


def scaled_dot_product_attention_backward(grads, cache):
    op = "scaled_dot_product_attention_backward"
    q, k, v, out, lse, bmask, fmask, kind, causal, scale, mask_shape = cache
    dout, dP_ext = grads if isinstance(grads, tuple) else (grads, None)
    require_device(op, dout=dout, dP_ext=dP_ext)
    N, Hh, Lq, d = q.shape
    Lk, e = k.shape[2], v.shape[3]
    dtype = q.dtype
    if tuple(dout.shape) != (N, Hh, Lq, e) or dout.dtype != dtype:
        raise ValueError(f"cuda {op}: dout is {dout.dtype} {tuple(dout.shape)}, expected "
                         f"{dtype} {(N, Hh, Lq, e)}")
    has_dP_ext = dP_ext is not None
    dP_arg = dP_ext if has_dP_ext else empty((1, 1, 1, 1), dtype)
    write_dS = kind == 2
    dS_full = empty((N, Hh, Lq, Lk) if write_dS else (1, 1, 1, 1), dtype)
    dq = empty(q.shape, dtype)  # (N, h, Lq, d)
    dk = empty(k.shape, dtype)  # (N, h, Lk, d)
    dv = empty(v.shape, dtype)  # (N, h, Lk, e)
    D = empty((N, Hh, Lq), dtype)  # rowsum(dP * P)
    if N * Hh * Lq and Lk and d:
        kernel = attention_backward_q_kernels[dtype]
        kernel[((Lq + BLOCK_Q - 1) // BLOCK_Q, Hh, N), BLOCK_Q](
            q, k, v, dout, out, dP_arg, has_dP_ext, lse, bmask, fmask, kind, causal, scale,
            write_dS, dq, D, dS_full)
        kernel = attention_backward_kv_kernels[dtype]
        kernel[((Lk + BLOCK_Q - 1) // BLOCK_Q, Hh, N), BLOCK_Q](
            q, k, v, dout, dP_arg, has_dP_ext, lse, D, bmask, fmask, kind, causal, scale, dk, dv)
    dmask = None
    if write_dS:
        dmask4 = empty(fmask.shape, dtype)
        blocks, threads = grid_1d(dmask4.size)
        mask_grad_kernel[blocks, threads](dS_full, dmask4)
        dmask = dmask4.reshape(mask_shape)
    return dq, dk, dv, dmask
