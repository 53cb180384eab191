"""The image-text retrieval task behind ``tinymm train --task retrieval``.

Model: the dual encoder (tinymm/models/retrieval.py). Loss: the symmetric InfoNCE loss over
each batch's pairs (tinymm/ops/info_nce.py), its other pairs the negatives. Held-out numbers:
recall@1/5/10 and median rank in both directions over the test pool (1,000 images and their
3,000 captions by default; tinymm/metrics.py), plus the learnt temperature.
"""

from __future__ import annotations

import os

import numpy as np

from tinymm import nn
from tinymm.app.train import host_values, to_model_device
from tinymm.autograd import no_grad
from tinymm.metrics import retrieval_metrics
from tinymm.models.retrieval import DualEncoder, DualEncoderConfig
from tinymm.ops.cross_entropy import correct_count
from tinymm.ops.info_nce import info_nce
from tinymm.tensor import from_numpy

EVAL_BATCH = 250


def retrieval_loss(model: DualEncoder, batch: dict):
    """InfoNCE of the batch's pairs; metric: in-batch image->text top-1 accuracy (on a cuda
    model counted on the device and read with the loss)."""
    device = model.logit_scale.device
    image = from_numpy(batch["image"]).to(device)  # (n, 3, S, S), one copy to a GPU
    u, w = model(image, batch["tokens"], batch["lengths"])  # (n, D) x2
    loss = info_nce(u, w, model.clamped_logit_scale())
    n = u.shape[0]
    if device == "cpu":
        hits = int((np.argmax(u.array @ w.array.T, axis=1) == np.arange(n)).sum())
    else:  # (n, n) similarities on the device; pair i's caption is column i
        hits = correct_count(u.detach() @ w.detach().T, from_numpy(np.arange(n)).to(device))
    return loss, {"samples": n, "batch_accuracy": (hits, n)}


def embed_pool(model: DualEncoder, split) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Embeddings of every image (G, D) and every caption (Q = 3G, D) of ``split``, and the
    image of each caption (Q,), computed where the model is (on a cuda model: per batch of
    EVAL_BATCH images, the images and token ids in, the two embedding matrices out)."""
    was_training = model.training
    model.eval()
    images, texts = [], []
    with no_grad():
        for start in range(0, len(split), EVAL_BATCH):
            idx = np.arange(start, min(start + EVAL_BATCH, len(split)))
            image = to_model_device(model, split.image_array(idx))  # (n, 3, S, S)
            images.append(host_values(model.embed_images(image)))  # (n, D)
            tokens = split.tokens[idx].reshape(-1, split.tokens.shape[2])  # (3n, L)
            lengths = split.lengths[idx].reshape(-1)  # (3n,)
            texts.append(host_values(model.embed_texts(tokens, lengths)))  # (3n, D)
    model.train(was_training)
    text_image = np.repeat(np.arange(len(split)), split.references)  # (Q,)
    return np.concatenate(images), np.concatenate(texts), text_image


class RetrievalTask:
    name = "retrieval"
    kind = "tinymm.retrieval/1"
    figure_names = ("curves.png", "retrieval.png", "samples.png")
    loss_fn = staticmethod(retrieval_loss)

    @staticmethod
    def describe(cfg) -> str:
        return ""

    @staticmethod
    def build_model(cfg, tokenizer) -> DualEncoder:
        nn.init.seed(cfg.seed)
        return DualEncoder(DualEncoderConfig(vocab_size=len(tokenizer), **cfg.model))

    @staticmethod
    def model_from_config(values: dict) -> DualEncoder:
        return DualEncoder(DualEncoderConfig.from_dict(values))

    @staticmethod
    def test(model, split, cfg) -> dict:
        u, w, text_image = embed_pool(model, split)
        record = retrieval_metrics(u, w, text_image)
        record["temperature"] = float(1 / np.exp(model.clamped_logit_scale().item()))
        return record

    validate = test

    @staticmethod
    def epoch_line(val: dict) -> str:
        t2i, i2t = val["text_to_image"], val["image_to_text"]
        return (f"text->image R@1 {t2i['R@1']:.3f} R@10 {t2i['R@10']:.3f}, image->text R@1 "
                f"{i2t['R@1']:.3f} (pool {val['pool']}), temperature {val['temperature']:.4f}")

    @staticmethod
    def report(test: dict, cfg) -> list[str]:
        lines = [f"held-out retrieval ({test['pool']} images, {test['queries']} captions, "
                 f"seed={cfg.seed}; chance R@1 {1 / test['pool']:.4f}):",
                 f"  {'direction':<14} {'R@1':>6} {'R@5':>6} {'R@10':>6} {'median rank':>12}"]
        for name, label in (("text_to_image", "text->image"), ("image_to_text", "image->text")):
            r = test[name]
            lines.append(f"  {label:<14} {r['R@1']:6.3f} {r['R@5']:6.3f} {r['R@10']:6.3f} "
                         f"{r['median_rank']:12.1f}")
        lines.append(f"  learnt temperature {test['temperature']:.4f}")
        return lines

    @staticmethod
    def figures(out: str, model, data: dict, history: list, cfg) -> list[str]:
        from tinymm.app import plots

        written = []
        if history:
            plots.curves(os.path.join(out, "curves.png"), history, [
                ("InfoNCE loss", [("train", "train_loss")]),
                ("text->image recall (val)", [("R@1", ("val_text_to_image", "R@1")),
                                              ("R@10", ("val_text_to_image", "R@10"))]),
            ], title=f"retrieval, seed {cfg.seed}")
            written.append("curves.png")
        u, w, text_image = embed_pool(model, data["test"])
        plots.retrieval_results(os.path.join(out, "retrieval.png"), data["test"], u, w,
                                queries=np.array([0, 4, 8, 12, 16]))
        plots.caption_samples(os.path.join(out, "samples.png"), data["test"], np.arange(8))
        return written + ["retrieval.png", "samples.png"]


TASK = RetrievalTask()
