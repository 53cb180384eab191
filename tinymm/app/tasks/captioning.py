"""The image captioning task behind ``tinymm train --task captioning``.

Model: the captioner (tinymm/models/captioning.py), ``--decoder plain`` (initial state from
the image vector) or ``--decoder attention`` (show, attend and tell). Loss: teacher-forced
next-word cross-entropy over real tokens. Held-out numbers, on every test image against its
3 references: corpus BLEU-1..4 and attribute accuracy (tinymm/metrics.py) of greedy
decoding and of beam search (``--beam``), and the teacher-forced loss.
"""

from __future__ import annotations

import os

import numpy as np

from tinymm import loop, nn
from tinymm.app.train import to_model_device
from tinymm.data import DataLoader
from tinymm.data.shapes_captions import (
    CaptionPairs,
    decode_caption,
    mentioned_objects,
    mentioned_sequence,
)
from tinymm.metrics import attribute_accuracy, corpus_bleu
from tinymm.models.captioning import (
    Captioner,
    CaptionerConfig,
    auxiliary_loss,
    beam_search,
    caption_loss,
    greedy_decode,
    uses_auxiliary_loss,
)
from tinymm.ops.cross_entropy import correct_count
from tinymm.tensor import from_numpy

EVAL_BATCH = 250


def captioning_loss(model: Captioner, batch: dict):
    """Teacher-forced cross-entropy, weighted by the batch's real target tokens; metric:
    next-word accuracy."""
    L = int(batch["lengths"].max())
    tokens = batch["tokens"][:, :L]  # (n, L) cut to the batch's longest caption
    device = model.out.weight.device
    image = from_numpy(batch["image"]).to(device)  # (n, 3, S, S), one copy to a GPU
    if uses_auxiliary_loss(model.config):  # plus the auxiliary losses the config turns on
        logits, aux = model(image, tokens, with_aux=True)
        loss = caption_loss(logits, tokens) + auxiliary_loss(model, aux, batch, tokens)
    else:
        logits = model(image, tokens)  # (n, L-1, V)
        loss = caption_loss(logits, tokens)
    targets = tokens[:, 1:]  # (n, L-1)
    real = targets != 0
    if device == "cpu":
        hits = int(((np.argmax(logits.array, axis=-1) == targets) & real).sum())
    else:  # counted on the device (padding's target -1 never matches), read with the loss
        wanted = np.ascontiguousarray(np.where(real, targets, -1).reshape(-1))  # (n (L-1),)
        hits = correct_count(logits.detach().reshape(-1, logits.shape[-1]),
                             from_numpy(wanted).to(device))
    return loss, {"samples": int(real.sum()), "word_accuracy": (hits, int(real.sum()))}


def decode_split(model: Captioner, split, beam: int = 1) -> list[str]:
    """Captions of every image of ``split``: greedy for beam 1, else beam search, where the
    model is (the images go in and the chosen words come out, per batch and step)."""
    out = []
    for start in range(0, len(split), EVAL_BATCH):
        idx = np.arange(start, min(start + EVAL_BATCH, len(split)))
        image = to_model_device(model, split.image_array(idx))  # (n, 3, S, S)
        tokens = (greedy_decode(model, image, attention=False)[0] if beam == 1
                  else beam_search(model, image, beam=beam))
        out.extend(decode_caption(split.tokenizer, row) for row in tokens)
    return out


def caption_scores(captions: list[str], split) -> dict:
    """BLEU-1..4 against the references and attribute accuracy of ``captions``."""
    refs = [[r.split() for r in split.captions[i]] for i in range(len(split))]
    scores = corpus_bleu(refs, [c.split() for c in captions])
    scores["attribute_accuracy"] = attribute_accuracy(
        [mentioned_objects(c) for c in captions], [split.objects(i) for i in range(len(split))])
    scores["exact_match"] = float(np.mean([c in split.captions[i]
                                           for i, c in enumerate(captions)]))
    return scores


RELATIONS = ("is to the left of", "is above", "is below")


def _first_appearances(pairs: list) -> list:
    return list(dict.fromkeys(pairs))


def _relation(caption: str) -> str | None:
    return next((r for r in RELATIONS if f" {r} " in f" {caption} "), None)


def attribute_breakdown(captions: list[str], split, max_words: int) -> dict:
    """Which part of the facts the captions get wrong, as fractions of the images:

    colours / shapes    the set of colours (shapes) named equals the scene's
    count               as many distinct (colour, shape) pairs named as the scene has
    pair_recall         mean fraction of the scene's pairs named;  pair_precision: mean
                        fraction of the named pairs that are in the scene
    order               the named pairs, first appearances in caption order, equal the
                        scene's pairs left to right (the order every reference uses)
    relation            of the captions that state a relation, the fraction stating the
                        one the scene's relation reference states
    truncated           the decoder ran out of steps before emitting <end> (``max_words``
                        words, the most it can emit without one)
    """
    rows = {k: [] for k in ("colours", "shapes", "count", "pair_recall", "pair_precision",
                            "order", "truncated")}
    relation_hits = []
    for i, caption in enumerate(captions):
        truth_seq = _first_appearances(split.ordered_objects(i))
        named_seq = _first_appearances(mentioned_sequence(caption))
        truth, named = set(truth_seq), set(named_seq)
        rows["colours"].append({c for c, _ in named} == {c for c, _ in truth})
        rows["shapes"].append({s for _, s in named} == {s for _, s in truth})
        rows["count"].append(len(named) == len(truth))
        rows["pair_recall"].append(len(named & truth) / len(truth))
        rows["pair_precision"].append(len(named & truth) / len(named) if named else 0.0)
        rows["order"].append(named_seq == truth_seq)
        rows["truncated"].append(len(caption.split()) >= max_words)
        stated = _relation(caption)
        if stated is not None:
            relation_hits.append(stated == _relation(split.captions[i][1]))
    out = {k: float(np.mean(v)) for k, v in rows.items()}
    out["relation"] = float(np.mean(relation_hits)) if relation_hits else None
    return out


def teacher_forced_loss(model: Captioner, split) -> float:
    logs = loop.evaluate(model, captioning_loss, DataLoader(CaptionPairs(split),
                                                            batch_size=EVAL_BATCH))
    return float(logs["loss"])


def _emitted_words(tokenizer, row: np.ndarray) -> list[str]:
    """The words a decoder emitted after <start>, up to and including its first <end>."""
    words = []
    for i in row[1:]:
        words.append(tokenizer.itos[int(i)])
        if words[-1] == "<end>":
            break
    return words


class CaptioningTask:
    name = "captioning"
    kind = "tinymm.captioning/1"
    figure_names = ("curves.png", "captions.png", "attention.png", "samples.png")
    loss_fn = staticmethod(captioning_loss)

    @staticmethod
    def describe(cfg) -> str:
        return f" decoder={cfg.decoder} beam={cfg.beam}"

    @staticmethod
    def build_model(cfg, tokenizer) -> Captioner:
        nn.init.seed(cfg.seed)
        return Captioner(CaptionerConfig(vocab_size=len(tokenizer),
                                         attention=cfg.decoder == "attention", **cfg.model))

    @staticmethod
    def model_from_config(values: dict) -> Captioner:
        return Captioner(CaptionerConfig.from_dict(values))

    @staticmethod
    def validate(model, split, cfg) -> dict:
        greedy = caption_scores(decode_split(model, split), split)
        return {"loss": teacher_forced_loss(model, split), "greedy": greedy}

    @staticmethod
    def test(model, split, cfg) -> dict:
        record = CaptioningTask.validate(model, split, cfg)
        record["beam"] = caption_scores(decode_split(model, split, beam=cfg.beam), split)
        record["beam_width"] = cfg.beam
        record["images"] = len(split)
        return record

    @staticmethod
    def epoch_line(val: dict) -> str:
        g = val["greedy"]
        return (f"loss {val['loss']:.4f}, greedy BLEU-4 {g['BLEU-4']:.3f} attributes "
                f"{g['attribute_accuracy']:.3f}")

    @staticmethod
    def report(test: dict, cfg) -> list[str]:
        lines = [f"held-out captioning ({test['images']} images, 3 references each, decoder="
                 f"{cfg.decoder}, seed={cfg.seed}; teacher-forced loss {test['loss']:.4f}):",
                 f"  {'decoding':<10} {'BLEU-1':>7} {'BLEU-2':>7} {'BLEU-3':>7} {'BLEU-4':>7} "
                 f"{'attributes':>10} {'exact':>6}"]
        for key, label in (("greedy", "greedy"), ("beam", f"beam {test['beam_width']}")):
            s = test[key]
            lines.append(f"  {label:<10} " + " ".join(f"{s[f'BLEU-{n}']:7.3f}"
                                                      for n in range(1, 5))
                         + f" {s['attribute_accuracy']:10.3f} {s['exact_match']:6.3f}")
        return lines

    @staticmethod
    def figures(out: str, model, data: dict, history: list, cfg) -> list[str]:
        from tinymm.app import plots

        written = []
        test = data["test"]
        if history:
            plots.curves(os.path.join(out, "curves.png"), history, [
                ("cross-entropy", [("train", "train_loss"), ("val", "val_loss")]),
                ("greedy decoding (val)", [("BLEU-4", ("val_greedy", "BLEU-4")),
                                           ("attributes", ("val_greedy",
                                                           "attribute_accuracy"))]),
            ], title=f"captioning ({cfg.decoder} decoder), seed {cfg.seed}")
            written.append("curves.png")
        shown = np.arange(8)
        image = to_model_device(model, test.image_array(shown))  # (8, 3, S, S)
        tokens, alphas = greedy_decode(model, image)  # on the host: what the figures draw
        captions = [decode_caption(test.tokenizer, row) for row in tokens]
        plots.captions_grid(os.path.join(out, "captions.png"), test, shown, captions)
        written.append("captions.png")
        if alphas is not None:
            words = [_emitted_words(test.tokenizer, row) for row in tokens[:3]]
            plots.attention_words(os.path.join(out, "attention.png"), test, shown[:3], words,
                                  alphas[:3])
            written.append("attention.png")
        plots.caption_samples(os.path.join(out, "samples.png"), test, shown)
        return written + ["samples.png"]


TASK = CaptioningTask()
