"""The retrieval and captioning tasks end to end on TINY sizes: a short run whose loss falls,
files, checkpoint round trip, evaluate reproducing the numbers, Ctrl-C + resume, refusals."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from tinymm.app.cli import main as cli_main
from tinymm.app.tasks import base as B
from tinymm.app.train import CheckpointMismatchError, RunExistsError

TINY = {"conv1_channels": 4, "conv2_channels": 8, "embed_dim": 8, "hidden_size": 16,
        "image_dim": 16}


def tiny(task="retrieval", **overrides) -> B.TaskConfig:
    model = dict(TINY, **({"joint_dim": 16} if task == "retrieval" else {"attention_dim": 8}))
    values = dict(task=task, epochs=2, samples=24, val_samples=10, test_samples=12,
                  batch_size=24, lr=3e-3, seed=1, beam=2, model=model)
    values.update(overrides)
    return B.TaskConfig(**values)


def quiet(*args, **kwargs):
    pass


def test_retrieval_short_run_loss_falls_and_evaluate_reproduces(tmp_path):
    out = str(tmp_path / "run")
    metrics = B.run_task(tiny(epochs=4, lr=1e-2), out, log=quiet)
    losses = [h["train_loss"] for h in metrics["epochs"]]
    assert losses[-1] < losses[0] - 0.1, losses
    for name in ("checkpoint.json", "checkpoint.safetensors", "metrics.json", "curves.png",
                 "retrieval.png", "samples.png"):
        assert os.path.getsize(os.path.join(out, name)) > 0, name
    with open(os.path.join(out, "metrics.json")) as fh:
        saved = json.load(fh)
    assert saved["task"] == "retrieval" and saved["test"]["pool"] == 12
    assert set(saved["test"]["text_to_image"]) == {"R@1", "R@5", "R@10", "median_rank"}
    record = B.evaluate_task_checkpoint(out, log=quiet)
    assert record.pop("matches_recorded") is True
    assert record == metrics["test"]


def test_captioning_attention_run_and_evaluate_reproduces(tmp_path):
    out = str(tmp_path / "run")
    metrics = B.run_task(tiny("captioning", decoder="attention", epochs=3, lr=1e-2), out,
                         log=quiet)
    losses = [h["train_loss"] for h in metrics["epochs"]]
    assert losses[-1] < losses[0] - 0.1, losses
    for name in ("curves.png", "captions.png", "attention.png", "samples.png"):
        assert os.path.getsize(os.path.join(out, name)) > 0, name
    _check_attention_png(out, metrics)
    test = metrics["test"]
    assert {"BLEU-1", "BLEU-4", "attribute_accuracy"} <= set(test["greedy"])
    assert test["beam_width"] == 2 and test["images"] == 12
    assert B.evaluate_task_checkpoint(out, log=quiet)["matches_recorded"] is True


def _check_attention_png(out: str, metrics: dict) -> None:
    """attention.png: 3 test images, each with one map per generated word (at most 16, up to
    and including <end>), 1.25 x 1.55 inches at 100 dpi per panel, drawn by matplotlib."""
    from matplotlib.image import imread

    from tinymm.app.tasks.captioning import TASK
    from tinymm.data.shapes_captions import ShapesCaptions
    from tinymm.models.captioning import greedy_decode

    model = B.model_from_checkpoint(TASK, B.read_manifest(out))
    cfg = metrics["config"]
    test = ShapesCaptions.splits(train=1, val=1, test=cfg["test_samples"],
                                 seed=cfg["seed"])["test"]  # the split streams are independent
    tokens, alphas = greedy_decode(model, test.image_array(np.arange(3)))
    ended = [int(np.argmax(row[1:] == 3)) + 1 if (row[1:] == 3).any() else len(row) - 1
             for row in tokens]  # words emitted up to and including the first <end>
    T = min(max(ended), 16)
    pixels = imread(os.path.join(out, "attention.png"))
    assert pixels.shape[:2] == (round(3 * 155), round(125 * (T + 1))), (pixels.shape, T)
    assert alphas.shape[:2] == (3, tokens.shape[1] - 1) and alphas.shape[2] == 64
    assert pixels[..., :3].std() > 0.05  # not blank: images and maps drawn


def test_interrupt_then_resume_equals_uninterrupted(tmp_path):
    cfg = tiny("captioning", epochs=2, batch_size=12)  # 6 steps per epoch
    full_dir, cut_dir = str(tmp_path / "full"), str(tmp_path / "cut")
    full = B.run_task(cfg, full_dir, log=quiet)
    with pytest.raises(KeyboardInterrupt):
        B.run_task(cfg, cut_dir, log=quiet, stop_after_steps=8)
    assert B.read_manifest(cut_dir)["epoch"] == 1
    resumed = B.run_task(cfg, cut_dir, resume=True, log=quiet)
    assert [h["train_loss"] for h in resumed["epochs"]] == \
        [h["train_loss"] for h in full["epochs"]]
    assert resumed["test"] == full["test"]
    a, b = B.read_manifest(full_dir)["model_state"], B.read_manifest(cut_dir)["model_state"]
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_refusals_other_task_vocabulary_config_and_existing_run(tmp_path):
    out = str(tmp_path / "run")
    B.run_task(tiny(epochs=1), out, log=quiet)
    with pytest.raises(RunExistsError, match="--resume.*--overwrite"):
        B.run_task(tiny(epochs=1), out, log=quiet)
    with pytest.raises(CheckpointMismatchError, match="'retrieval' task.*not of the "
                                                      "'captioning' task"):
        B.run_task(tiny("captioning", epochs=2), out, resume=True, log=quiet)
    with pytest.raises(CheckpointMismatchError, match="lr=0.003.*lr=0.01"):
        B.run_task(tiny(epochs=2, lr=1e-2), out, resume=True, log=quiet)
    ckpt = B.read_manifest(out)
    ckpt["vocabulary"] = ckpt["vocabulary"] + ["zebra"]
    with pytest.raises(CheckpointMismatchError, match="vocabulary"):
        B.model_from_checkpoint(B.get_task("retrieval"), ckpt)
    assert B.read_manifest(out)["epoch"] == 1  # nothing was overwritten
    with pytest.raises(ValueError, match="unknown decoder 'lstm'"):
        tiny("captioning", decoder="lstm")
    with pytest.raises(ValueError, match="batch-size >= 2"):
        tiny(batch_size=1)


def test_defaults_per_task_and_decoder_and_the_help_that_names_them(capsys):
    for task, decoder in B.DEFAULT_EPOCHS:
        cfg = B.TaskConfig(task=task, decoder=decoder)
        assert (cfg.epochs, cfg.samples) == (B.DEFAULT_EPOCHS[task, decoder],
                                             B.DEFAULT_SAMPLES[task, decoder])
    assert B.TaskConfig(task="captioning", samples=100, epochs=2).samples == 100
    with pytest.raises(SystemExit):
        cli_main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert (f"{B.DEFAULT_SAMPLES['retrieval', 'plain']} images for retrieval, "
            f"{B.DEFAULT_SAMPLES['captioning', 'plain']} for captioning") in text


def test_model_options_are_typed_by_their_config_field():
    from tinymm.app.tasks.commands import model_options

    assert model_options("captioning", ["image_input=false", "word_loss=0.5",
                                        "hidden_size=32"]) == \
        {"image_input": False, "word_loss": 0.5, "hidden_size": 32}
    assert model_options("retrieval", ["joint_dim=16"]) == {"joint_dim": 16}


def test_cli_task_flags_and_evaluate(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert cli_main(["train", "--task", "retrieval", "--fusion", "concat", "--out", out]) == 2
    assert "--fusion belongs to --task vqa" in capsys.readouterr().err
    assert cli_main(["train", "--task", "retrieval", "--decoder", "attention",
                     "--out", out]) == 2
    assert "--decoder belongs to --task captioning" in capsys.readouterr().err
    assert cli_main(["train", "--decoder", "attention", "--out", out]) == 2
    for argv, message in (
            (["--model-option", "hidden_size=8"], "--model-option belongs to --task retrieval"),
            (["--task", "captioning", "--model-option", "joint_dim=8"],
             "got 'joint_dim=8'"),
            (["--task", "captioning", "--model-option", "image_input=maybe"],
             "--model-option image_input: expected a bool, got 'maybe'"),
            (["--task", "retrieval", "--model-option", "joint_dim=8.5"],
             "--model-option joint_dim: expected a int, got '8.5'")):
        capsys.readouterr()
        assert cli_main(["train", *argv, "--out", out]) == 2, argv
        assert message in capsys.readouterr().err, argv
    assert not os.path.exists(out)
    B.run_task(tiny(epochs=1), out, log=quiet)
    capsys.readouterr()
    assert cli_main(["evaluate", out]) == 0
    assert "matches the numbers recorded at the end of training: yes" in capsys.readouterr().out
