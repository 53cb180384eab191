"""Retrieval and captioning evaluation on the simulated cuda device (run by
tests/test_cuda_tasks.py in a subprocess with NUMBA_ENABLE_CUDASIM=1).

* Greedy decoding and beam search of a cuda captioner (plain and attention decoders) give
  the host's tokens, and each step moves only words: greedy copies the N chosen ids out
  (after the embedding's deferred range check of the ids that went in) and the N next ids
  in; nothing of the model crosses.
* ``tinymm evaluate RUN --device cuda`` of a retrieval and a captioning checkpoint (plain
  decoder) written on the CPU (8x8 images, captions cut to 6 tokens, a 2-image retrieval
  pool, 1 captioning image) reproduces the recorded test record, with the model staying on
  the device: what comes back is the decoded words, the embeddings and the losses, less
  than one copy of the weights.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

import tests.cuda_simulator_check  # noqa: F401  (patches the simulator first)
import tinymm
from tests.cuda_training_check import _small_images
from tinymm import cuda
from tinymm.models.captioning import Captioner, CaptionerConfig, beam_search, greedy_decode

TINY = dict(image_size=8, conv1_channels=2, conv2_channels=2, embed_dim=4, hidden_size=4,
            image_dim=4)
END_ID = 3


def _captioner(attention: bool, end_bias: float) -> Captioner:
    """A tiny captioner whose <end> logit is raised by ``end_bias``, so that some captions
    finish early and others run to max_len (both branches of the decoders)."""
    tinymm.nn.init.seed(0)
    model = Captioner(CaptionerConfig(vocab_size=12, attention=attention, attention_dim=4,
                                      max_len=5, **TINY))
    model.out.bias.array[END_ID] += end_bias
    return model


def check_decoders() -> int:
    images = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    checked = 0
    for attention, end_bias in ((False, 0.3), (True, 0.6)):
        model = _captioner(attention, end_bias)
        with tinymm.use_backend("reference"):
            want_greedy, want_alpha = greedy_decode(model, tinymm.tensor(images))
            want_beam = beam_search(model, tinymm.tensor(images), beam=3)
        assert (want_beam == END_ID).any(), "no beam finished: the finished-beam path is idle"
        model.to("cuda")
        image = tinymm.tensor(images, device="cuda")
        image.sum().item()  # judge what an earlier decode left pending, before counting
        cuda.reset_transfer_stats()
        got_greedy, got_alpha = greedy_decode(model, image)
        moved = cuda.transfer_stats()
        steps, N = got_greedy.shape[1] - 1, len(images)
        np.testing.assert_array_equal(got_greedy, want_greedy)
        # out, per step: one transfer of the N picks with the embedding's deferred check of
        # the ids that went in (its (min, max) packet, 24 B), and the attention weights once
        # at the end; in: the never-emitted mask, then N ids a step
        alpha = 0 if got_alpha is None else got_alpha.nbytes
        assert moved["d2h_count"] == steps + bool(alpha), moved
        assert moved["d2h_bytes"] == steps * (24 + N * 8) + alpha, moved
        assert moved["h2d_count"] == 1 + steps and moved["implicit_d2h_count"] == 0, moved
        if attention:
            np.testing.assert_allclose(got_alpha, want_alpha, rtol=1e-5, atol=1e-7)
        np.testing.assert_array_equal(beam_search(model, image, beam=3), want_beam)
        checked += 1
    return checked


def _checkpoint_on_cpu(base, task_name: str, out: str, **options) -> dict:
    """A run directory as a CPU run writes it: the initial model (a captioner with <end>
    favoured) and its test record."""
    from tinymm.optim import Adam

    extra = {"joint_dim": 4} if task_name == "retrieval" else {"attention_dim": 4}
    pool = 2 if task_name == "retrieval" else 1  # test images (the simulator's time)
    cfg = base.TaskConfig(task=task_name, epochs=1, samples=2, val_samples=2, test_samples=pool,
                          batch_size=2, seed=1, backend="reference", model=dict(TINY, **extra),
                          **options)
    task = base.get_task(task_name)
    data = base.build_data(cfg)
    model = task.build_model(cfg, data["train"].tokenizer)
    if task_name == "captioning":  # most captions end after a word or two: the simulator's time
        model.out.bias.array[END_ID] += 3.0
    with tinymm.use_backend("reference"):
        record = task.test(model, data["test"], cfg)
    Path(out).mkdir()
    base.save_checkpoint(str(Path(out) / base.CHECKPOINT_STEM), task, model,
                         Adam(model.parameters()), cfg, 1, [], test=record)
    return {"parameter_bytes": sum(p.array.nbytes for p in model.parameters())}


def _short_captions(build_data, length: int = 6):
    """The data with every caption cut to its first ``length`` tokens (the simulator's
    speed: the LSTMs run length - 1 steps; the references that BLEU reads stay whole)."""
    def build(cfg):
        splits = build_data(cfg)
        for ds in splits.values():
            ds.tokens = np.ascontiguousarray(ds.tokens[:, :, :length])
            ds.lengths = np.minimum(ds.lengths, length)
        return splits
    return build


def check_evaluate_on_device() -> int:
    from tinymm.app import cli
    from tinymm.app.tasks import base

    base.build_data = _short_captions(_small_images(base.build_data))
    # (the attention decoder's decoding is check_decoders' and its teacher-forced loss on the
    # device tests/cuda_training_check.py's: the plain decoder stands for both here)
    runs = (("retrieval", {}), ("captioning", {"decoder": "plain", "beam": 2}))
    for task_name, options in runs:
        with tempfile.TemporaryDirectory() as tmp:
            out = str(Path(tmp) / "run")
            sizes = _checkpoint_on_cpu(base, task_name, out, **options)
            cuda.reset_transfer_stats()
            code = cli.main(["evaluate", out, "--device", "cuda"])
            moved = cuda.transfer_stats()
            assert code == 0, (task_name, options, "the record differs on the device")
            assert moved["d2h_bytes"] < sizes["parameter_bytes"], (task_name, moved, sizes)
            assert moved["implicit_d2h_count"] == 0, moved
    return len(runs)


if __name__ == "__main__":
    decoders = check_decoders()
    runs = check_evaluate_on_device()
    print(f"decoded on the simulated cuda device with {decoders} captioners; evaluated {runs} "
          "task checkpoints with --device cuda")
