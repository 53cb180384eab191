"""The VQA fusion study's probe (issue 16 item 7): activation and gradient statistics of a
fusion over the first Adam steps of the app's run (seed 0, lr 1e-3, batch 32).

    PYTHONPATH=. python benchmarks/fusion_saturation.py bilinear 51 [tanh|linear] [norm|nonorm]

Every 25 steps it prints one JSON line: the loss and batch accuracy; the std of the image
vector v and the question vector q; for bilinear fusion the std of the projections U v and
V q, the fraction of tanh(U v) and tanh(V q) units beyond 0.95 (saturated); and the gradient
norms of the image tower (conv2, image_fc), the LSTM and the fusion's projections.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

import tinymm
from tinymm.app.train import TrainConfig, build_data, build_model, vqa_loss
from tinymm.optim import Adam
from tinymm.tensor import from_numpy

WATCHED = ("conv2.weight", "image_fc.weight", "lstm.weight_ih_l0", "fusion.proj_a.weight",
           "fusion.proj_b.weight", "head_hidden.weight")


def branch_stats(model, batch) -> dict:
    with tinymm.no_grad():
        fmap = model.encode_image(from_numpy(batch["image"]))
        v = model.image_fc(fmap.reshape(fmap.shape[0], -1))  # (N, F)
        _, q = model.encode_question(batch["tokens"], batch["lengths"])  # (N, E)
        out = {"v_std": float(v.array.std()), "q_std": float(q.array.std())}
        if model.config.fusion == "bilinear":
            if model.config.bilinear_norm:
                v, q = model.norm_v(v), model.norm_q(q)
            pa, pb = model.fusion.proj_a(v).array, model.fusion.proj_b(q).array
            out.update(pa_std=float(pa.std()), pb_std=float(pb.std()),
                       tanh_saturated_a=float((np.abs(np.tanh(pa)) > 0.95).mean()),
                       tanh_saturated_b=float((np.abs(np.tanh(pb)) > 0.95).mean()))
        return out


def main(argv) -> None:
    fusion, steps = argv[0], int(argv[1])
    model_cfg = {}
    if len(argv) > 2:
        model_cfg["bilinear_core"] = argv[2]
    if len(argv) > 3:
        model_cfg["bilinear_norm"] = argv[3] == "norm"
    cfg = TrainConfig(fusion=fusion, samples=4000, val_samples=200, test_samples=200,
                      model=model_cfg)
    data = build_data(cfg)
    model = build_model(cfg, data["train"].tokenizer)
    optimizer = Adam(model.parameters(), lr=cfg.lr)
    order = np.random.default_rng([cfg.seed, 0]).permutation(len(data["train"]))
    t0 = time.perf_counter()
    for step in range(steps):
        batch = data["train"].batch(order[(step * 32) % len(order):][:32])
        loss, metrics = vqa_loss(model, batch)
        optimizer.zero_grad()
        loss.backward()
        if step % 25 == 0 or step == steps - 1:
            grads = {k: float(np.linalg.norm(p.grad.array))
                     for k, p in model.named_parameters() if k in WATCHED}
            print(json.dumps({"step": step, "loss": float(loss.item()),
                              "accuracy": metrics["accuracy"][0] / metrics["accuracy"][1],
                              **branch_stats(model, batch), "grad_norms": grads,
                              "seconds": round(time.perf_counter() - t0)}), flush=True)
        optimizer.step()


if __name__ == "__main__":
    main(sys.argv[1:])
