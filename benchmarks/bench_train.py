"""One full training step of the seed multimodal model (forward, backward, Adam) at batch 32.

For ``multiply``, ``concat`` and ``attention`` fusion, on each tinymm backend and in PyTorch
(the same architecture, tests/oracles/torch_model.py, with the same initial weights).

Every call trains on the NEXT batch of a pool of 64 distinct ShapesVQA batches: Adam steps
repeated on one memorised batch drive the gradients into denormal floats, which slows every
engine 2-3x (measured on this project's machines); fresh batches keep the numbers representative of
``tinymm train``.
"""

from __future__ import annotations

import numpy as np

from benchmarks.cases import Bench

BATCH = 32
POOL = 64
FUSIONS = ("multiply", "concat", "attention")


def _pool():
    from tinymm.data import ShapesVQA

    data = ShapesVQA(BATCH * POOL, seed=123)
    return [data.batch(np.arange(i * BATCH, (i + 1) * BATCH)) for i in range(POOL)]


def step_flops(config, T: int = 7) -> float:
    """Multiply-adds x 2 of the GEMM-shaped work in one step (backward = 2x forward, except
    the first conv, which needs no input gradient)."""
    c, N, S = config, BATCH, config.image_size
    R = c.regions
    f = 0.0
    if c.fusion != "question_only":
        conv1 = 2 * N * S * S * c.conv1_channels * c.image_channels * 9
        conv2 = 2 * N * S * S * c.conv2_channels * c.conv1_channels * 9
        f += 2 * conv1 + 3 * conv2
    if c.fusion != "image_only":
        f += 3 * 2 * N * T * 4 * c.hidden_size * (c.embed_dim + c.hidden_size)
    if c.fusion in ("multiply", "concat", "gated", "bilinear", "image_only"):
        f += 3 * 2 * N * c.conv2_channels * R * c.fused_dim
    if c.fusion == "attention":
        E, C = c.fused_dim, c.conv2_channels
        forward = (2 * N * T * c.hidden_size * E + 2 * 2 * N * R * C * E
                   + 2 * 2 * N * T * R * E + 2 * N * T * E * E)
        f += 3 * forward
    width = c.fused_dim + c.hidden_size if c.fusion == "concat" else c.fused_dim
    f += 3 * 2 * N * (width * c.head_hidden + c.head_hidden * c.num_answers)
    return float(f)


def _case(fusion: str, im2col: bool = False, separate_pool: bool = False) -> Bench:
    from tinymm.models import MultimodalConfig

    config = MultimodalConfig(fusion=fusion)

    def make(backend):
        import tinymm
        from tinymm.models import MultimodalVQA

        tinymm.nn.init.seed(0)
        model = MultimodalVQA(config)
        optimizer = tinymm.optim.Adam(model.parameters(), lr=1e-3)
        batches = _pool()
        state = {"i": 0}

        def step():
            b = batches[state["i"] % POOL]
            state["i"] += 1
            logits = model(tinymm.from_numpy(b["image"]), b["tokens"], b["lengths"])
            loss = tinymm.F.cross_entropy(logits, b["answer"])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        if im2col:
            from benchmarks.bench_conv2d import conv_path

            return conv_path(step, winograd=False)
        if separate_pool:
            from tinymm.models import towers

            def two_nodes():
                saved, towers.FUSE_CONV_POOL = towers.FUSE_CONV_POOL, False
                try:
                    step()
                finally:
                    towers.FUSE_CONV_POOL = saved

            return two_nodes
        return step

    def torch_make():
        import torch

        import tinymm
        from tests.oracles.torch_model import build_torch_model, copy_weights
        from tinymm.models import MultimodalVQA

        tinymm.nn.init.seed(0)
        reference = build_torch_model(config)
        copy_weights(MultimodalVQA(config), reference)
        optimizer = torch.optim.Adam(reference.parameters(), lr=1e-3)
        batches = [{k: torch.from_numpy(v) for k, v in b.items()} for b in _pool()]
        state = {"i": 0}

        def step():
            b = batches[state["i"] % POOL]
            state["i"] += 1
            logits = reference(b["image"], b["tokens"], b["lengths"])
            loss = torch.nn.functional.cross_entropy(logits, b["answer"])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        return step

    from benchmarks.bench_conv2d import default_uses_winograd

    conv = ("conv B by Winograd F(4x4, 3x3), conv A by im2col+BLAS GEMM"
            if default_uses_winograd(config.conv1_channels) and not im2col
            else "conv im2col+BLAS GEMM")
    pool = ("conv2 + ReLU + pool1 as two nodes (towers.FUSE_CONV_POOL = False)" if separate_pool
            else "conv2 + ReLU + pool1 as one conv2d_relu_max_pool2d node")
    variant = " im2col (TINYMM_WINOGRAD=0)" if im2col else ""
    variant += " conv2 and pool1 unfused" if separate_pool else ""
    return Bench(f"train step {fusion} N=32 (fwd+bwd+Adam, fresh batches)" + variant, "train",
                 make, flops=step_flops(config), torch=torch_make, repeat=20,
                 backends=("numba",) if variant else ("reference", "numba"),
                 note=f"whole model: {conv} per image, {pool}, LSTM numba cell, Adam as one "
                      "numba kernel per parameter; a pool of 64 fresh batches (no denormal "
                      "drift)",
                 table=f"train step {fusion}" if fusion != "concat" and not variant else "")


BENCHES = [_case(f) for f in FUSIONS] + [_case(f, im2col=True)
                                         for f in ("multiply", "attention")] \
    + [_case(f, separate_pool=True) for f in ("multiply", "attention")]
