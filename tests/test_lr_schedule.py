"""The VQA trainer's --lr-schedule (tinymm/app/lr_schedule.py): the lr of every step against
the closed forms and torch.optim.lr_scheduler, resume mid-schedule equal to an uninterrupted
run, evaluate reproducing a scheduled run, and bad specs refused."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.test_train import quiet, tiny
from tinymm import nn, optim
from tinymm.app import train as T
from tinymm.app.cli import main as cli_main
from tinymm.app.lr_schedule import build_scheduler, parse_schedule

EPOCHS, STEPS, LR = 5, 7, 0.01
SPECS = ("cosine", "cosine:2", "linear:2", "step:2", "cosine:9")


def _lrs(spec: str) -> list[float]:
    """The lr of each of EPOCHS * STEPS optimizer steps under ``spec`` (tinymm)."""
    optimizer = optim.SGD([nn.Parameter(np.zeros(2, np.float32))], lr=LR)
    scheduler = build_scheduler(spec, optimizer, EPOCHS, STEPS)
    lrs = []
    for _ in range(EPOCHS * STEPS):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    return lrs


def _closed_form(spec: str, t: int) -> float:
    """The documented lr of step ``t`` (from 0): held, then the decay over the last K."""
    kind, k = parse_schedule(spec, EPOCHS)
    hold, span = (EPOCHS - k) * STEPS, k * STEPS
    if t < hold or kind == "constant":
        return LR
    into = t - hold
    if kind == "cosine":
        return LR * (1 + math.cos(math.pi * into / span)) / 2
    if kind == "linear":
        return LR * (1 - into / span)
    return LR * 0.1


@pytest.mark.parametrize("spec", SPECS + ("constant",))
def test_schedule_follows_its_closed_form(spec):
    lrs = _lrs(spec)
    assert lrs == pytest.approx([_closed_form(spec, t) for t in range(len(lrs))],
                                rel=1e-9, abs=1e-15)
    if spec != "constant":  # it decays where the spec says, and not before
        _, k = parse_schedule(spec, EPOCHS)
        hold = (EPOCHS - k) * STEPS
        assert lrs[:hold] == [LR] * hold and lrs[hold + 1] < LR and lrs[-1] < LR * 0.2


def _torch_lrs(spec: str) -> list[float]:
    """The same schedule written directly with torch.optim.lr_scheduler."""
    torch = pytest.importorskip("torch")
    sched = torch.optim.lr_scheduler
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=LR)
    kind, k = parse_schedule(spec, EPOCHS)
    hold, span = (EPOCHS - k) * STEPS, k * STEPS
    if kind == "step":
        scheduler = sched.MultiStepLR(optimizer, milestones=[hold], gamma=0.1)
    else:
        decay = (sched.CosineAnnealingLR(optimizer, T_max=span) if kind == "cosine" else
                 sched.LinearLR(optimizer, start_factor=1.0, end_factor=0.0, total_iters=span))
        scheduler = decay if hold == 0 else sched.SequentialLR(
            optimizer, [sched.ConstantLR(optimizer, factor=1.0, total_iters=hold), decay],
            milestones=[hold])
    lrs = []
    for _ in range(EPOCHS * STEPS):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


@pytest.mark.parametrize("spec", SPECS)
def test_schedule_matches_torch_lr_scheduler(spec):
    expected = _torch_lrs(spec)
    assert _lrs(spec) == pytest.approx(expected, rel=1e-12, abs=1e-18)


def test_bad_schedules_are_refused_with_what_is_valid(capsys):
    for spec, match in (("cos", "unknown lr-schedule 'cos'.*cosine:K"),
                        ("constant:3", "unknown"), ("linear", "unknown"),
                        ("cosine:0", "at least 1, got '0'"), ("step:x", "whole number")):
        with pytest.raises(ValueError, match=match):
            parse_schedule(spec, 10)
    with pytest.raises(ValueError, match="lr-schedule"):
        tiny(lr_schedule="warmup")
    assert cli_main(["train", "--task", "retrieval", "--lr-schedule", "cosine"]) == 2
    assert "--lr-schedule belongs to --task vqa" in capsys.readouterr().err


def test_defaults_per_fusion_and_old_checkpoints_read_as_constant():
    assert T.TrainConfig(fusion="attention").lr_schedule == "constant"
    assert T.TrainConfig(fusion="attention_count").lr_schedule == T.default_schedule(
        "attention_count") != "constant"
    assert T.TrainConfig.recorded({"fusion": "attention_count"})["lr_schedule"] == "constant"
    assert T.TrainConfig.recorded({"lr_schedule": "cosine:2"})["lr_schedule"] == "cosine:2"


def test_resume_mid_schedule_equals_uninterrupted_and_evaluate_reproduces(tmp_path):
    full_dir, cut_dir = str(tmp_path / "full"), str(tmp_path / "cut")
    cfg = tiny(epochs=3, lr_schedule="cosine:2")
    full = T.run_training(cfg, full_dir, log=quiet)
    lrs = [h["lr"] for h in full["epochs"]]
    assert lrs[0] == cfg.lr and cfg.lr > lrs[1] > lrs[2] == 0.0, lrs
    steps_per_epoch = int(np.ceil(cfg.samples / cfg.batch_size))
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C inside the decay, in epoch 3
        T.run_training(cfg, cut_dir, log=quiet, stop_after_steps=2 * steps_per_epoch + 2)
    assert T.load_checkpoint(cut_dir)["epoch"] == 2
    resumed = T.run_training(cfg, cut_dir, resume=True, log=quiet)
    assert resumed["epochs"] == [{**b, "seconds": a["seconds"],
                                  "samples_per_second": a["samples_per_second"]}
                                 for a, b in zip(resumed["epochs"], full["epochs"])]
    assert resumed["test"] == full["test"]
    state_full = T.load_checkpoint(full_dir)["model_state"]
    state_resumed = T.load_checkpoint(cut_dir)["model_state"]
    for name in state_full:
        assert np.array_equal(state_full[name], state_resumed[name]), name
    printed = []
    record = T.evaluate_checkpoint(cut_dir, log=printed.append)
    assert "epoch 3 of 3, lr schedule cosine:2" in printed[0]
    assert record["matches_recorded"] is True and record["accuracy"] == full["test"]["accuracy"]
    with pytest.raises(T.CheckpointMismatchError, match="lr_schedule='cosine:2'"):
        T.run_training(tiny(epochs=4, lr_schedule="constant"), cut_dir, resume=True, log=quiet)


def test_cli_resume_keeps_the_recorded_schedule(tmp_path, capsys):
    out = str(tmp_path / "run")
    T.run_training(tiny(epochs=1, lr_schedule="linear:1"), out, log=quiet)
    args = ["train", "--out", out, "--resume", "--epochs", "2", "--no-progress"]
    assert cli_main(args) == 0
    assert "(linear:1)" in capsys.readouterr().out
    ckpt = T.load_checkpoint(out)
    assert ckpt["train_config"]["lr_schedule"] == "linear:1" and ckpt["epoch"] == 2
    assert ckpt["history"][-1]["lr"] == 0.0
