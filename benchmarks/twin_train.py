"""Train the PyTorch twin of a retrieval or captioning run and score it with tinymm's metrics
(run by hand, not in CI; needs torch):

    PYTHONPATH=$PWD python benchmarks/twin_train.py [key=value ...]

``key=value`` are ``TaskConfig`` fields (task=captioning|retrieval, samples, epochs, lr,
decoder, seed, ...) and model fields (benchmarks/caption_study.py parses them). The twin
(tests/oracles/torch_apps.py) starts from the tinymm model's initial weights for that seed,
trains with torch.optim.Adam at the same learning rate on the same batches in the same
order (the task's DataLoader and seed) and the same loss; its trained weights are then
loaded into the tinymm model and scored by the task's own held-out ``test``, so both
numbers come from one metric implementation. Prints the task's report and one JSON line
(for captioning with ``val_greedy``, caption_study's columns on the validation images, to
set beside a ``caption_study.py`` run of the same config).
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from benchmarks.caption_study import parse, scores
from tinymm.app.tasks import base as B
from tinymm.backend import use_backend
from tinymm.data import DataLoader
from tinymm.data.shapes_captions import CaptionPairs


def twin_loss(twin, task: str, batch: dict):
    import torch

    from tests.oracles.torch_apps import torch_captioning_loss, torch_info_nce

    image = torch.from_numpy(batch["image"])
    if task == "retrieval":
        u, w, scale = twin(image, torch.from_numpy(batch["tokens"]),
                           torch.from_numpy(batch["lengths"]))
        return torch_info_nce(u, w, scale)
    L = int(batch["lengths"].max())
    tokens = torch.from_numpy(batch["tokens"][:, :L])  # cut to the batch's longest caption
    logits, aux = twin(image, tokens, with_aux=True)  # (n, L-1, V), the auxiliary outputs
    return torch_captioning_loss(twin.config, logits, aux, batch, tokens)


def train_twin(cfg: B.TaskConfig, model, data: dict) -> tuple[list[float], float]:
    """Train the twin of ``model`` (tinymm's initial weights) and load its result back into
    ``model``; returns each epoch's mean training loss and the training seconds."""
    import torch

    from tests.oracles.torch_apps import build_torch_captioner, build_torch_dual_encoder
    from tests.oracles.torch_model import copy_weights

    build = build_torch_dual_encoder if cfg.task == "retrieval" else build_torch_captioner
    twin = build(model.config)
    twin.config = model.config
    copy_weights(model, twin)
    optimizer = torch.optim.Adam(twin.parameters(), lr=cfg.lr)
    loader = DataLoader(CaptionPairs(data["train"]), batch_size=cfg.batch_size, shuffle=True,
                        seed=cfg.seed, drop_last=cfg.task == "retrieval")
    losses, t0 = [], time.perf_counter()
    for epoch in range(cfg.epochs):
        loader.set_epoch(epoch)
        total = 0.0
        for batch in loader:
            loss = twin_loss(twin, cfg.task, batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
        losses.append(total / len(loader))
        print(f"twin epoch {epoch + 1}/{cfg.epochs}: train loss {losses[-1]:.4f}", flush=True)
    seconds = time.perf_counter() - t0
    model.load_state_dict({k: np.ascontiguousarray(v.detach().numpy()).reshape(v.shape)
                           for k, v in twin.state_dict().items()})  # 0-d stays 0-d
    return losses, seconds


def main(argv: list[str]) -> None:
    cfg, _ = parse(argv, default_task="retrieval")
    task = B.get_task(cfg.task)
    with use_backend(cfg.backend):
        data = B.build_data(cfg)
        model = task.build_model(cfg, data["train"].tokenizer)
        losses, seconds = train_twin(cfg, model, data)
        record = task.test(model, data["test"], cfg)
        val = scores(model, data["val"], model.config.max_len - 1) \
            if cfg.task == "captioning" else None  # caption_study's validation columns
    for line in task.report(record, cfg):
        print(line)
    print(json.dumps({"twin": "torch", "config": vars(cfg), "train_loss": losses,
                      "train_s": round(seconds, 1), "test": record, "val_greedy": val}))


if __name__ == "__main__":
    main(sys.argv[1:])
