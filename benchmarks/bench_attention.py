"""Attention at the seed model's shape: 16 question tokens attend over 64 image regions.

N=32, Lq=16, Lk=64, E=d_model=128, 4 heads (d=32 per head), float32, batch_first.

* the attention core alone (softmax(q k^T / sqrt(d)) v on (N, h, L, d) arrays) against
  torch.nn.functional.scaled_dot_product_attention;
* the whole multi-head block (in-projections, core, out-projection; key is value, so K and V
  come from one GEMM, as in PyTorch) against both PyTorch paths: nn.MultiheadAttention and
  F.linear projections + F.scaled_dot_product_attention. ``need_weights=False`` on both sides
  (PyTorch then takes its SDPA path too).

"fwd" runs under no_grad on both sides; "fwd+bwd" records the graph and backpropagates a fixed
upstream gradient into the inputs and every parameter.
"""

from __future__ import annotations

import math

import numpy as np

import tinymm
from benchmarks.cases import Bench
from tinymm import functional as F
from tinymm import nn

N, LQ, LK, E, HEADS = 32, 16, 64, 128, 4
D = E // HEADS
RNG = np.random.default_rng(0)


def _arr(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


# ------------------------------------------------------------------ the core
Q4, K4, V4 = _arr(N, HEADS, LQ, D), _arr(N, HEADS, LK, D), _arr(N, HEADS, LK, D)
DOUT4 = _arr(N, HEADS, LQ, D)
CORE_FLOPS = 2 * 2 * N * HEADS * LQ * LK * D  # q k^T and P v


def _core(backward: bool) -> Bench:
    def make(backend):
        q, k, v = (tinymm.tensor(a, requires_grad=backward) for a in (Q4, K4, V4))

        def step():
            if not backward:
                with tinymm.no_grad():
                    return F.scaled_dot_product_attention(q, k, v)
            out = F.scaled_dot_product_attention(q, k, v)
            out.backward(DOUT4)

        return step

    def torch_make():
        import torch

        q, k, v = (torch.tensor(a, requires_grad=backward) for a in (Q4, K4, V4))
        dout = torch.tensor(DOUT4)

        def step():
            if not backward:
                with torch.no_grad():
                    return torch.nn.functional.scaled_dot_product_attention(q, k, v)
            out = torch.nn.functional.scaled_dot_product_attention(q, k, v)
            out.backward(dout)

        return step

    label = "fwd+bwd" if backward else "fwd"
    return Bench(f"attention core N={N} h={HEADS} Lq={LQ} Lk={LK} d={D} {label}", "attention",
                 make, flops=CORE_FLOPS * (3 if backward else 1), torch=torch_make,
                 note="q k^T and P v via NumPy BLAS; mask + softmax (and its JVP) in one "
                      "serial numba pass each over the N*h (batch item, head) pairs")


# ------------------------------------------------------------------ the multi-head block
QUERY, MEMORY = _arr(N, LQ, E), _arr(N, LK, E)  # question tokens, image regions
DOUT = _arr(N, LQ, E)
BLOCK_FLOPS = 2 * N * (LQ * E * E + LK * E * 2 * E + LQ * E * E) + CORE_FLOPS


def _tinymm_block(backward: bool):
    def make(backend):
        tinymm.nn.init.seed(0)
        mha = nn.MultiheadAttention(E, HEADS, batch_first=True)
        query = tinymm.tensor(QUERY, requires_grad=backward)
        memory = tinymm.tensor(MEMORY, requires_grad=backward)

        def step():
            if not backward:
                with tinymm.no_grad():
                    return mha(query, memory, memory, need_weights=False)
            out, _ = mha(query, memory, memory, need_weights=False)
            out.backward(DOUT)
            mha.zero_grad()

        return step

    return make


def _torch_mha(backward: bool):
    def torch_make():
        import torch

        torch.manual_seed(0)
        mha = torch.nn.MultiheadAttention(E, HEADS, batch_first=True)
        query = torch.tensor(QUERY, requires_grad=backward)
        memory = torch.tensor(MEMORY, requires_grad=backward)
        dout = torch.tensor(DOUT)

        def step():
            if not backward:
                with torch.no_grad():
                    return mha(query, memory, memory, need_weights=False)
            out, _ = mha(query, memory, memory, need_weights=False)
            out.backward(dout)
            mha.zero_grad()

        return step

    return torch_make


def _torch_projections_sdpa(backward: bool):
    def torch_make():
        import torch

        fn = torch.nn.functional
        torch.manual_seed(0)
        w_in = torch.nn.Parameter(torch.empty(3 * E, E))
        torch.nn.init.xavier_uniform_(w_in)
        b_in = torch.nn.Parameter(torch.zeros(3 * E))
        w_out = torch.nn.Parameter(torch.empty(E, E).uniform_(-1 / math.sqrt(E), 1 / math.sqrt(E)))
        b_out = torch.nn.Parameter(torch.zeros(E))
        query = torch.tensor(QUERY, requires_grad=backward)
        memory = torch.tensor(MEMORY, requires_grad=backward)
        dout = torch.tensor(DOUT)

        def forward():
            q = fn.linear(query, w_in[:E], b_in[:E])  # (N, Lq, E)
            k, v = fn.linear(memory, w_in[E:], b_in[E:]).chunk(2, dim=-1)  # (N, Lk, E) each
            q = q.view(N, LQ, HEADS, D).transpose(1, 2)  # (N, h, Lq, d)
            k = k.reshape(N, LK, HEADS, D).transpose(1, 2)  # (N, h, Lk, d)
            v = v.reshape(N, LK, HEADS, D).transpose(1, 2)
            heads = fn.scaled_dot_product_attention(q, k, v)  # (N, h, Lq, d)
            return fn.linear(heads.transpose(1, 2).reshape(N, LQ, E), w_out, b_out)

        def step():
            if not backward:
                with torch.no_grad():
                    return forward()
            forward().backward(dout)
            for p in (w_in, b_in, w_out, b_out):
                p.grad = None

        return step

    return torch_make


def _block(backward: bool, torch_path: str) -> Bench:
    label = "fwd+bwd" if backward else "fwd"
    torch_make = (_torch_mha(backward) if torch_path == "nn.MultiheadAttention"
                  else _torch_projections_sdpa(backward))
    return Bench(f"MHA block E={E} h={HEADS} Lq={LQ} Lk={LK} N={N} {label} "
                 f"(torch: {torch_path})", "attention", _tinymm_block(backward),
                 flops=BLOCK_FLOPS * (3 if backward else 1), torch=torch_make,
                 note="projections via NumPy BLAS, K and V in one GEMM; numba softmax passes "
                      "in the core",
                 table="MHA fwd+bwd" if backward and torch_path == "nn.MultiheadAttention"
                 else "")


BENCHES = [
    _core(False),
    _core(True),
    _block(False, "nn.MultiheadAttention"),
    _block(False, "projections + SDPA"),
    _block(True, "nn.MultiheadAttention"),
    _block(True, "projections + SDPA"),
]
