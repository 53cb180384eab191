"""The training loop, checkpoints, resume, evaluate and the CLI commands, on TINY sizes."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from tinymm import io
from tinymm.app import train as T
from tinymm.app.cli import main as cli_main
from tinymm.app.compare import compare_fusions

TINY_MODEL = dict(conv1_channels=4, conv2_channels=8, embed_dim=16, hidden_size=16,
                  fused_dim=16, head_hidden=16, num_heads=2, bilinear_rank=4)


def tiny(**overrides) -> T.TrainConfig:
    values = dict(fusion="multiply", epochs=2, samples=96, val_samples=40, test_samples=40,
                  batch_size=16, lr=3e-3, seed=1, model=TINY_MODEL)
    values.update(overrides)
    return T.TrainConfig(**values)


def quiet(*args, **kwargs):
    pass


@pytest.mark.parametrize("fusion", ["attention", "attention_count"])  # the counting option too
def test_short_run_loss_falls_and_files_are_written(tmp_path, fusion):
    out = str(tmp_path / "run")
    metrics = T.run_training(tiny(fusion=fusion, epochs=4, samples=160), out, log=quiet)
    losses = [h["train_loss"] for h in metrics["epochs"]]
    assert losses[-1] < losses[0] - 0.05, losses
    for name in ("checkpoint.json", "checkpoint.safetensors", "metrics.json", "curves.png",
                 "samples.png", "attention.png"):
        assert os.path.getsize(os.path.join(out, name)) > 0, name
    with open(os.path.join(out, "metrics.json")) as fh:
        saved = json.load(fh)
    assert len(saved["epochs"]) == 4 and saved["backend"] == "numba"
    assert set(saved["test"]["per_type"]) == {"color", "shape", "count", "exist"}
    assert {"seconds", "samples_per_second", "val_per_type"} <= set(saved["epochs"][0])
    assert {"numpy", "numba", "tinymm"} <= set(saved["versions"])


def test_checkpoint_round_trip_and_evaluate_reproduces(tmp_path):
    out = str(tmp_path / "run")
    metrics = T.run_training(tiny(epochs=1), out, log=quiet)
    ckpt = T.load_checkpoint(out)
    model, _ = T.model_from_checkpoint(ckpt)
    record = T.evaluate_checkpoint(out, log=quiet)
    assert record["matches_recorded"] is True
    assert record["accuracy"] == metrics["test"]["accuracy"]
    assert record["loss"] == metrics["test"]["loss"]
    fresh = T.build_model(tiny(), model_from_checkpoint_tokenizer())
    for (name, a), (_, b) in zip(model.state_dict().items(), fresh.state_dict().items()):
        assert a.shape == b.shape, name
    assert ckpt["epoch"] == 1 and ckpt["train_config"]["fusion"] == "multiply"


def model_from_checkpoint_tokenizer():
    from tinymm.data import shapes_vqa_tokenizer

    return shapes_vqa_tokenizer()


def test_interrupt_then_resume_equals_uninterrupted(tmp_path):
    full_dir, cut_dir = str(tmp_path / "full"), str(tmp_path / "cut")
    cfg = tiny(epochs=2)
    full = T.run_training(cfg, full_dir, log=quiet)
    steps_per_epoch = int(np.ceil(cfg.samples / cfg.batch_size))
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C in the middle of epoch 2
        T.run_training(cfg, cut_dir, log=quiet, stop_after_steps=steps_per_epoch + 2)
    assert T.load_checkpoint(cut_dir)["epoch"] == 1  # epoch 1 survived, usable
    resumed = T.run_training(cfg, cut_dir, resume=True, log=quiet)
    assert len(resumed["epochs"]) == len(full["epochs"]) == 2
    for a, b in zip(full["epochs"], resumed["epochs"]):
        assert a["train_loss"] == b["train_loss"] and a["val_accuracy"] == b["val_accuracy"]
    assert resumed["test"] == full["test"]
    state_full = T.load_checkpoint(full_dir)["model_state"]
    state_resumed = T.load_checkpoint(cut_dir)["model_state"]
    for name in state_full:
        assert np.array_equal(state_full[name], state_resumed[name]), name


def test_resume_can_extend_epochs_and_refuses_other_config(tmp_path):
    out = str(tmp_path / "run")
    T.run_training(tiny(epochs=1), out, log=quiet)
    more = T.run_training(tiny(epochs=2), out, resume=True, log=quiet)
    assert [h["epoch"] for h in more["epochs"]] == [1, 2]
    with pytest.raises(T.CheckpointMismatchError, match="fusion='multiply'.*concat"):
        T.run_training(tiny(epochs=3, fusion="concat"), out, resume=True, log=quiet)


def test_out_dir_is_not_clobbered(tmp_path):
    out = str(tmp_path / "run")
    T.run_training(tiny(epochs=1), out, log=quiet)
    with pytest.raises(T.RunExistsError, match="--resume.*--overwrite"):
        T.run_training(tiny(epochs=1), out, log=quiet)
    T.run_training(tiny(epochs=1, seed=2), out, overwrite=True, log=quiet)
    assert T.load_checkpoint(out)["train_config"]["seed"] == 2
    with pytest.raises(FileNotFoundError, match="no checkpoint.json to resume"):
        T.run_training(tiny(), str(tmp_path / "empty"), resume=True, log=quiet)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    out = str(tmp_path / "run")
    calls = {"n": 0}
    real = T.cross_entropy

    def poisoned(logits, target, **kw):
        calls["n"] += 1
        loss = real(logits, target, **kw)
        if calls["n"] == 6 + 1 + 1:  # epoch 1: 6 steps, then 1 val batch; epoch 2 step 1
            return loss * float("nan")
        return loss

    monkeypatch.setattr(T, "cross_entropy", poisoned)
    with pytest.raises(T.NonFiniteLossError, match=r"epoch 2, step 1.*epoch 1.*Where the first "
                                                   r"NaN/Inf started: input 1 of Mul is a "
                                                   r"leaf tensor .* that holds NaN"):
        T.run_training(tiny(epochs=3), out, log=quiet)
    ckpt = T.load_checkpoint(out)
    assert ckpt["epoch"] == 1
    model, _ = T.model_from_checkpoint(ckpt)
    assert all(np.isfinite(v).all() for v in model.state_dict().values())


def test_checkpoint_from_other_vocabulary_or_model_is_refused(tmp_path):
    out = str(tmp_path / "run")
    T.run_training(tiny(epochs=1), out, log=quiet)
    ckpt = T.load_checkpoint(out)
    ckpt["vocabulary"] = ckpt["vocabulary"] + ["zebra"]
    with pytest.raises(T.CheckpointMismatchError, match="vocabulary"):
        T.model_from_checkpoint(ckpt)
    ckpt = T.load_checkpoint(out)
    ckpt["model_config"]["hidden_size"] = 32
    ckpt["model_config"]["fused_dim"] = 32
    with pytest.raises(T.CheckpointMismatchError, match="do not fit"):
        T.model_from_checkpoint(ckpt)
    bogus = tmp_path / "bogus.json"
    bogus.write_bytes(b"not json")
    with pytest.raises(io.CheckpointError, match="not valid JSON"):
        T.load_checkpoint(str(bogus))


def test_bad_config_values_are_refused():
    with pytest.raises(ValueError, match="unknown fusion 'fancy'; valid fusions: concat"):
        tiny(fusion="fancy")
    with pytest.raises(ValueError, match="unknown backend 'gpu'; valid backends: reference"):
        tiny(backend="gpu")
    with pytest.raises(ValueError, match="batch-size must be a positive integer"):
        tiny(batch_size=0)
    with pytest.raises(ValueError, match="lr must be a positive number"):
        tiny(lr=float("nan"))


def test_default_epochs_are_the_fusions():
    assert T.TrainConfig().epochs == T.VQA_EPOCHS == 15
    assert T.TrainConfig(fusion="attention_count").epochs == 18
    assert T.TrainConfig(fusion="attention_count", epochs=3).epochs == 3
    with pytest.raises(ValueError, match="epochs must be a positive integer, got 0"):
        T.TrainConfig(fusion="attention_count", epochs=0)


def test_cli_names_valid_choices_and_protects_out(tmp_path, capsys):
    assert cli_main(["train", "--fusion", "fancy"]) == 2
    assert "valid fusions: concat, multiply, attention" in capsys.readouterr().err
    assert cli_main(["train", "--backend", "gpu", "--out", str(tmp_path / "x")]) == 2
    assert "valid backends: reference, numba, cuda" in capsys.readouterr().err
    assert cli_main(["compare-fusions", "--fusions", "concat,nope"]) == 2
    assert "'nope'" in capsys.readouterr().err
    out = str(tmp_path / "run")
    T.run_training(tiny(epochs=1), out, log=quiet)
    assert cli_main(["train", "--out", out, "--epochs", "1"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert cli_main(["evaluate", str(tmp_path / "missing")]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_cli_train_resume_and_evaluate_end_to_end(tmp_path, capsys):
    """The real CLI path (full-size model) on a handful of samples."""
    out = str(tmp_path / "cli")
    args = ["train", "--fusion", "multiply", "--samples", "48", "--val-samples", "16",
            "--test-samples", "16", "--batch-size", "16", "--epochs", "1", "--out", out,
            "--no-progress"]
    assert cli_main(args) == 0
    printed = capsys.readouterr().out
    assert "held-out test accuracy" in printed and "count" in printed
    assert cli_main(["train", "--out", out, "--resume", "--epochs", "2", "--no-progress"]) == 0
    assert "resuming" in capsys.readouterr().out
    assert cli_main(["evaluate", out]) == 0
    assert "matches the numbers recorded at the end of training: yes" in capsys.readouterr().out


def test_compare_fusions_writes_table_and_plot(tmp_path):
    out = str(tmp_path / "cmp")
    rows = compare_fusions(tiny(epochs=1), out, fusions=["multiply", "question_only"],
                           log=quiet)
    assert [r["fusion"] for r in rows] == ["multiply", "question_only"]
    table = open(os.path.join(out, "comparison.md")).read()
    assert "| multiply |" in table and "| question_only |" in table and "seed 1" in table
    assert "load average" in table
    lines = [line for line in table.splitlines() if line.startswith("| ")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[2:6] == ["color", "shape", "count", "exist"] and header[-1] == "train s"
    for line, row in zip(lines[1:], rows):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert len(cells) == len(header) and cells[0] == row["fusion"]
        assert cells[1] == f"{row['test']['accuracy']:.3f}"
        assert cells[4] == f"{row['test']['per_type']['count']:.3f}"
    assert "Image towers other than the seed's" not in table  # both rows use the seed tower
    assert os.path.getsize(os.path.join(out, "comparison.png")) > 0
    with pytest.raises(T.RunExistsError, match="--overwrite"):
        compare_fusions(tiny(epochs=1), out, fusions=["multiply"], log=quiet)


def test_comparison_table_names_the_towers_that_are_not_the_seeds():
    from tinymm.app.compare import comparison_table, tower_name

    assert tower_name({"early_pool": True, "batch_norm": True}) == "early_pool + batch_norm"
    assert tower_name({"early_pool": False}) == tower_name({}) == "seed"
    test = {"accuracy": 0.5, "per_type": {"color": 0.5, "shape": 0.5, "count": 0.5,
                                          "exist": 0.5}}
    rows = [{"fusion": f, "test": test, "train_accuracy": 0.5, "parameters": 1,
             "seconds_per_epoch": 1.0, "seconds": 1.0, "tower": tower}
            for f, tower in (("attention", "seed"), ("attention_count", "early_pool"))]
    table = comparison_table(tiny(), rows)
    assert table.rstrip().endswith("other than the seed's (conv1 -> conv2 -> pool -> pool): "
                                   "attention_count: early_pool")


def test_a_split_without_some_question_type_gives_null_and_reproduces(tmp_path):
    # 2 test samples cannot hold all four question types: their accuracy is null, not NaN.
    out = str(tmp_path / "run")
    metrics = T.run_training(tiny(epochs=1, test_samples=2, val_samples=3), out, log=quiet)
    per_type = metrics["test"]["per_type"]
    assert None in per_type.values() and all(v is None or 0 <= v <= 1 for v in per_type.values())
    with open(os.path.join(out, "metrics.json")) as fh:
        assert json.load(fh)["test"]["per_type"] == per_type  # valid JSON, no NaN
    assert "n/a" in T.format_table(metrics["test"], "test")
    assert T.evaluate_checkpoint(out, log=quiet)["matches_recorded"] is True
