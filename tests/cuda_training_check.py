"""The seed VQA model trained on the simulated cuda device (run by tests/test_cuda_training.py
in a subprocess with NUMBA_ENABLE_CUDASIM=1; importing tests.cuda_simulator_check first makes
the simulator's arrays behave like real device arrays).

* Three Adam steps of the tiny model (multiply fusion) on "cuda" against the reference backend
  on the host, from the same weights on the same batches: losses and every weight agree, and
  each step moves exactly: in, the image, the token ids, the answers (the caller's three
  copies) and the lengths (the LSTM kernel's one copy: lengths are host metadata, as in
  PyTorch's pack_padded_sequence); out, one copy: the scalar loss together with the two index
  checks' results (token ids in the embedding, answers in the cross-entropy), 16 bytes each:
  (min, max) in int64, judged when the loss is read.
* ``--all-fusions``: one step of every other fusion, held to the reference the same way
  (attention fusion copies its (N, T, 1) token-pooling weights in as well).
* The app's loss function (``tinymm.app.train.vqa_loss``) in tinymm/loop.py: the correct
  answers are counted on the device and come back with the loss, one copy out per step.
* A tinymm.keras model moved with ``model.to("cuda")`` before ``compile`` fits and predicts
  as on the host.
* Checkpoints: a cuda model's ``tinymm.io.save_module`` / ``tinymm.save`` load on the CPU
  and back onto the device (``map_location`` as PyTorch's).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np  # noqa: E402

import tests.cuda_simulator_check  # noqa: F401  (patches the simulator first)
import tinymm  # noqa: E402
from tinymm import io, optim  # noqa: E402
from tinymm.models import MultimodalConfig, MultimodalVQA  # noqa: E402

N, T, S = 2, 3, 4  # batch, question tokens, image size


def tiny_model(fusion: str) -> MultimodalVQA:
    config = MultimodalConfig(fusion=fusion, image_size=S, conv1_channels=2, conv2_channels=2,
                              embed_dim=4, hidden_size=4, fused_dim=4, head_hidden=4,
                              num_heads=2, vocab_size=6, num_answers=3, bilinear_rank=2)
    tinymm.nn.init.seed(0)
    return MultimodalVQA(config)


def batches(count: int) -> list[dict]:
    rng = np.random.default_rng(1)
    return [{"image": rng.random((N, 3, S, S)).astype(np.float32),
             "tokens": rng.integers(1, 6, (N, T)), "lengths": np.array([T, T - 1]),
             "answer": rng.integers(0, 3, N)} for _ in range(count)]


def step(model, optimizer, batch, device: str) -> float:
    logits = model(tinymm.tensor(batch["image"], device=device),
                   tinymm.tensor(batch["tokens"], device=device), batch["lengths"])
    loss = tinymm.F.cross_entropy(logits, tinymm.tensor(batch["answer"], device=device))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def expected_transfers(batch: dict, fusion: str) -> dict:
    reads_text = fusion != "image_only"  # image_only: no embedding, no LSTM
    inputs = [batch[k] for k in ("image", "tokens", "answer")]
    inputs += [batch["lengths"]] if reads_text else []
    h2d_bytes = sum(a.nbytes for a in inputs)
    if fusion == "attention":  # the token-pooling weights (N, T, 1) float32
        inputs.append(None)
        h2d_bytes += N * T * 4
    checks = 2 if reads_text else 1  # token ids in the embedding, answers in the cross-entropy
    # one copy out: the loss in the 8-byte head of the pending-check packet, then each
    # check's (min, max) in int64
    return {"h2d_count": len(inputs), "h2d_bytes": h2d_bytes, "d2h_count": 1,
            "d2h_bytes": 8 + checks * 16, "implicit_d2h_count": 0}


def train_both(fusion: str, steps: int) -> tuple[MultimodalVQA, optim.Adam]:
    """``steps`` Adam steps on the host (reference) and on the device; returns the device's."""
    host, gpu = tiny_model(fusion), tiny_model(fusion)
    host_opt, gpu_opt = optim.Adam(host.parameters(), lr=0.05), optim.Adam(gpu.parameters(),
                                                                           lr=0.05)
    gpu.to("cuda")  # after the optimizer is built: it keeps working on the moved parameters
    assert all(p.device == "cuda" for p in gpu.parameters())
    for i, batch in enumerate(batches(steps)):
        with tinymm.use_backend("reference"):
            want = step(host, host_opt, batch, "cpu")
        tinymm.cuda.reset_transfer_stats()
        got = step(gpu, gpu_opt, batch, "cuda")
        moved = tinymm.cuda.transfer_stats()
        assert moved == expected_transfers(batch, fusion), (fusion, i, moved)
        np.testing.assert_allclose(got, want, rtol=1e-5, err_msg=f"{fusion} step {i}")
    for (name, a), (_, b) in zip(host.state_dict().items(), gpu.state_dict().items()):
        np.testing.assert_allclose(b.cpu(), a, rtol=1e-4, atol=1e-6, err_msg=f"{fusion} {name}")
    return gpu, gpu_opt


def check_loop_steps() -> None:
    """The app's loss function in the one training loop (tinymm/loop.py), two steps on the
    device against the reference on the host: the same loss and accuracy, and per step one
    copy out: the loss, the two index checks and the correct-answer count together."""
    from tinymm.app.train import vqa_loss

    host, gpu = tiny_model("multiply"), tiny_model("multiply").to("cuda")
    host_opt, gpu_opt = optim.Adam(host.parameters(), lr=0.05), optim.Adam(gpu.parameters(),
                                                                           lr=0.05)
    data = batches(2)
    with tinymm.use_backend("reference"):
        want = tinymm.loop.train_epoch(host, vqa_loss, data, host_opt)
    tinymm.cuda.reset_transfer_stats()
    got = tinymm.loop.train_epoch(gpu, vqa_loss, data, gpu_opt)
    moved = tinymm.cuda.transfer_stats()
    assert moved["d2h_count"] == 2 and moved["d2h_bytes"] == 2 * (8 + 3 * 16), moved
    assert moved["implicit_d2h_count"] == 0, moved
    assert got["accuracy"] == want["accuracy"], (got, want)
    np.testing.assert_allclose(got["loss"], want["loss"], rtol=1e-5)


def caption_batch() -> dict:
    """Two (image, caption) pairs of ShapesCaptions at the simulator's sizes: images
    subsampled 32x32 -> 4x4, captions cut to their first 5 tokens."""
    from tinymm.data import DataLoader
    from tinymm.data.shapes_captions import CaptionPairs, ShapesCaptions

    batch = next(iter(DataLoader(CaptionPairs(ShapesCaptions(2, seed=0)), batch_size=2)))
    return {"image": np.ascontiguousarray(batch["image"][:, :, ::8, ::8]),
            "tokens": np.ascontiguousarray(batch["tokens"][:, :5]),
            "lengths": np.minimum(batch["lengths"], 5)}


def check_task_steps() -> None:
    """``tinymm train --task retrieval|captioning --device cuda``'s step: each task's loss
    function in tinymm/loop.py, one Adam step on the device against the reference on the
    host (same loss and metric), moving the image and the token ids in (and the caption
    targets and the metric's targets) and only the loss packet out."""
    from tinymm.app.tasks.captioning import captioning_loss
    from tinymm.app.tasks.retrieval import retrieval_loss
    from tinymm.models.captioning import Captioner, CaptionerConfig
    from tinymm.models.retrieval import DualEncoder, DualEncoderConfig

    tiny = dict(image_size=4, conv1_channels=2, conv2_channels=2, embed_dim=4, hidden_size=4,
                image_dim=4)
    tasks = {"retrieval": (lambda: DualEncoder(DualEncoderConfig(joint_dim=4, **tiny)),
                           retrieval_loss, "batch_accuracy"),
             "captioning": (lambda: Captioner(CaptionerConfig(attention_dim=4, **tiny)),
                            captioning_loss, "word_accuracy")}
    data = [caption_batch()]
    for name, (build, loss_fn, metric) in tasks.items():
        tinymm.nn.init.seed(0)
        host = build()
        gpu = build()
        gpu.load_state_dict(host.state_dict())
        gpu.to("cuda")
        host_opt, gpu_opt = (optim.Adam(m.parameters(), lr=0.05) for m in (host, gpu))
        with tinymm.use_backend("reference"):
            want = tinymm.loop.train_epoch(host, loss_fn, data, host_opt)
        tinymm.cuda.reset_transfer_stats()
        got = tinymm.loop.train_epoch(gpu, loss_fn, data, gpu_opt)
        moved = tinymm.cuda.transfer_stats()
        assert moved["d2h_count"] == 1 and moved["implicit_d2h_count"] == 0, (name, moved)
        assert got[metric] == want[metric], (name, got, want)
        np.testing.assert_allclose(got["loss"], want["loss"], rtol=1e-5, err_msg=name)
        for (key, a), (_, b) in zip(host.state_dict().items(), gpu.state_dict().items()):
            np.testing.assert_allclose(b.cpu(), a, rtol=1e-4, atol=1e-6, err_msg=f"{name} {key}")


def check_checkpoints(gpu: MultimodalVQA, gpu_opt: optim.Adam) -> None:
    fusion = gpu.config.fusion
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp)
        io.save_module(path / "run", gpu, gpu_opt)  # weights and Adam state, from the device
        cpu, cpu_opt = tiny_model(fusion), None
        cpu_opt = optim.Adam(cpu.parameters(), lr=0.05)
        io.load_module(path / "run", cpu, cpu_opt)
        for (name, a), (_, b) in zip(gpu.state_dict().items(), cpu.state_dict().items()):
            np.testing.assert_array_equal(b, a.cpu(), err_msg=name)
        assert all(p.device == "cpu" for p in cpu.parameters())
        tinymm.save(gpu.state_dict(), path / "sd.safetensors")
        tinymm.save({"w": gpu.head_out.weight}, path / "t.safetensors")
        on_cpu = tinymm.load(path / "t.safetensors", map_location="cpu")["w"]
        back = tinymm.load(path / "t.safetensors")["w"]  # the device it was saved from
        mapped = tinymm.load(path / "t.safetensors", map_location={"cuda": "cpu"})["w"]
        assert on_cpu.device == "cpu" and back.device == "cuda" and mapped.device == "cpu"
        np.testing.assert_array_equal(back.detach().cpu().numpy(), on_cpu.detach().numpy())
        again = tiny_model(fusion).to("cuda")  # CPU-written state onto a cuda model
        again.load_state_dict(tinymm.load(path / "sd.safetensors", map_location="cpu"))
        assert all(p.device == "cuda" for p in again.parameters())
        for (name, a), (_, b) in zip(gpu.state_dict().items(), again.state_dict().items()):
            np.testing.assert_array_equal(b.cpu(), a.cpu(), err_msg=name)


def expect(error: type, words: tuple[str, ...], call) -> None:
    try:
        call()
    except error as exc:
        assert all(w in str(exc) for w in words), exc
    else:
        raise AssertionError(f"expected {error.__name__} mentioning {words}")


def check_device_index_errors() -> None:
    """Bad device indices are a ValueError naming the op and the value at the next copy to
    the host (the device reduction finds them; the kernels read nothing out of bounds
    meanwhile), and host indices with device weights name both devices."""
    weight = tinymm.tensor(np.ones((5, 2), np.float32), device="cuda", requires_grad=True)
    ids = tinymm.tensor(np.array([[0, 4], [2, 5]]), device="cuda")
    tinymm.cuda.reset_transfer_stats()
    rows = tinymm.F.embedding(ids, weight)  # launched; nothing has come back yet
    assert tinymm.cuda.transfer_stats()["d2h_count"] == 0
    expect(ValueError, ("index 5", "5 embeddings"), lambda: rows.sum().item())
    assert tinymm.cuda.transfer_stats()["d2h_count"] == 1  # the loss and the check, together
    lows = tinymm.tensor(np.array([-1, 3]), device="cuda")
    expect(ValueError, ("index -1",), lambda: tinymm.F.embedding(lows, weight).cpu())
    expect(RuntimeError, ("cpu", "cuda"), lambda: tinymm.F.embedding(np.array([1]), weight))
    ok = tinymm.F.embedding(tinymm.tensor(np.array([4, 0]), device="cuda"), weight)
    np.testing.assert_array_equal(ok.detach().cpu().numpy(), np.ones((2, 2)))
    logits = tinymm.tensor(np.zeros((2, 3), np.float32), device="cuda")
    target = tinymm.tensor(np.array([1, 3]), device="cuda")
    loss = tinymm.F.cross_entropy(logits, target)
    expect(ValueError, ("cross_entropy", "holds 3", "[0, 2]"), loss.item)
    skipped = tinymm.tensor(np.array([1, -100]), device="cuda")  # ignore_index is skipped
    np.testing.assert_allclose(tinymm.F.cross_entropy(logits, skipped).item(), np.log(3),
                               rtol=1e-6)
    many = [tinymm.F.embedding(tinymm.tensor(np.array([k % 5]), device="cuda"), weight)
            for k in range(20)]  # more checks than the packet holds: read as it fills
    assert many[-1].sum().item() == 2.0
    expect(RuntimeError, ("cpu", "cuda"), lambda: tinymm.F.cross_entropy(logits,
                                                                         np.array([0, 1])))
    lstm = tinymm.nn.LSTM(2, 2, batch_first=True).to("cuda")
    x = tinymm.tensor(np.zeros((2, 3, 2), np.float32), device="cuda")
    long = tinymm.tensor(np.array([3, 4]), device="cuda")
    expect(ValueError, ("between 1 and T=3", "got 4"), lambda: lstm(x, lengths=long))


def check_expand() -> None:
    """expand and repeat keep a cuda tensor on the device, and their gradients sum the copies
    there."""
    x = np.random.default_rng(5).standard_normal((2, 1, 3)).astype(np.float32)
    leaf = tinymm.tensor(x, requires_grad=True)
    out = leaf.to("cuda").expand(4, -1, 5, -1)
    assert out.device.type == "cuda" and tuple(out.shape) == (4, 2, 5, 3)
    w = np.random.default_rng(6).standard_normal((4, 2, 5, 3)).astype(np.float32)
    (out * tinymm.tensor(w, device="cuda")).sum().backward()
    np.testing.assert_allclose(out.detach().cpu().numpy(), np.broadcast_to(x, (4, 2, 5, 3)))
    np.testing.assert_allclose(leaf.grad.numpy(), w.sum(axis=(0, 2))[:, None, :], rtol=1e-5)
    for reps in ((2, 1, 2, 1), (3, 2, 1)):  # repeat: np.tile's layout, composed on the device
        leaf.grad = None
        tiled = leaf.to("cuda").repeat(*reps)
        assert tiled.device.type == "cuda"
        np.testing.assert_array_equal(tiled.detach().cpu().numpy(), np.tile(x, reps))
        w = np.random.default_rng(7).standard_normal(np.tile(x, reps).shape).astype(np.float32)
        (tiled * tinymm.tensor(w, device="cuda")).sum().backward()
        host = tinymm.tensor(x, requires_grad=True)
        (host.repeat(*reps) * tinymm.tensor(w)).sum().backward()
        np.testing.assert_allclose(leaf.grad.numpy(), host.grad.numpy(), rtol=1e-5)


def check_keras_fit() -> None:
    """A tinymm.keras model moved with ``model.to("cuda")`` before compile fits and predicts
    like the same model on the host (reference kernels)."""
    from tinymm import keras

    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((6, 3)).astype(np.float32), rng.integers(0, 2, 6)

    def build():
        inp = keras.Input((3,))
        out = keras.layers.Dense(2, activation="softmax")(keras.layers.Dense(4)(inp))
        return keras.Model(inp, out)

    host, gpu = build(), build()
    gpu.set_weights(host.get_weights())
    gpu.to("cuda")
    for model in (host, gpu):
        model.compile(optimizer=keras.optimizers.Adam(0.05),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    with tinymm.use_backend("reference"):
        want = host.fit(x, y, batch_size=3, epochs=1, verbose=0, shuffle=False).history
        want_p = host.predict(x)
    got = gpu.fit(x, y, batch_size=3, epochs=1, verbose=0, shuffle=False).history
    assert all(p.device == "cuda" for p in gpu.parameters())
    np.testing.assert_allclose(got["loss"], want["loss"], rtol=1e-5)
    assert got["accuracy"] == want["accuracy"]
    np.testing.assert_allclose(gpu.predict(x), want_p, rtol=1e-5, atol=1e-6)


def _small_images(build_data):
    """The app's data with every image subsampled 32x32 -> 8x8 (the simulator's speed)."""
    def build(cfg):
        splits = build_data(cfg)
        for ds in splits.values():
            if not hasattr(ds, "full_image_array"):
                ds.full_image_array = ds.image_array
                ds.image_array = (lambda idx, dtype=np.float32, ds=ds:
                                  np.ascontiguousarray(ds.full_image_array(idx, dtype)
                                                       [:, :, ::4, ::4]))
        return splits
    return build


def check_app_run() -> None:
    """``tinymm train --device cuda``'s run (``run_training``: two steps, 8x8 images) and its
    checkpoint evaluated on the CPU (reference kernels: nothing to compile)."""
    from tinymm.app import train as app

    app.build_data = _small_images(app.build_data)
    cfg = app.TrainConfig(fusion="multiply", epochs=1, samples=4, val_samples=4,
                          test_samples=4, batch_size=2, seed=1, device="cuda",
                          backend="reference",
                          model=dict(image_size=8, conv1_channels=2, conv2_channels=2,
                                     embed_dim=4, hidden_size=4, fused_dim=4, head_hidden=4,
                                     num_heads=2))
    with tempfile.TemporaryDirectory() as tmp:
        metrics = app.run_training(cfg, tmp, log=lambda *a, **k: None)
        assert metrics["device"] == "cuda" and len(metrics["epochs"]) == 1, metrics
        record = app.evaluate_checkpoint(tmp, log=lambda *a, **k: None)  # on the CPU
        np.testing.assert_allclose(record["loss"], metrics["test"]["loss"], rtol=1e-4)


def check_task_runs() -> None:
    """``tinymm train --task retrieval|captioning --device cuda``'s run (``run_task``: one
    epoch of three steps, 8x8 images) with validation, the test record (8 images: the
    figures' samples) and decoding on the device, then ``tinymm evaluate`` of its
    checkpoint on the CPU reproducing the record (floats within the other device's
    rounding)."""
    from tinymm.app.tasks import base

    base.build_data = _small_images(base.build_data)
    tiny = dict(image_size=8, conv1_channels=2, conv2_channels=2, embed_dim=4, hidden_size=4,
                image_dim=4)
    for task, extra in (("retrieval", {"joint_dim": 4}), ("captioning", {"attention_dim": 4})):
        cfg = base.TaskConfig(task=task, epochs=1, samples=2, val_samples=2, test_samples=8,
                              batch_size=2, seed=1, device="cuda", backend="reference",
                              model=dict(tiny, **extra))
        with tempfile.TemporaryDirectory() as tmp:
            metrics = base.run_task(cfg, tmp, log=lambda *a, **k: None)
            assert metrics["device"] == "cuda" and len(metrics["epochs"]) == 1, metrics
            record = base.evaluate_task_checkpoint(tmp, log=lambda *a, **k: None)
            assert record["matches_recorded"], (task, record)


if __name__ == "__main__":
    check_device_index_errors()
    check_expand()
    gpu, gpu_opt = train_both("multiply", steps=3)
    check_loop_steps()
    check_task_steps()
    check_checkpoints(gpu, gpu_opt)
    check_keras_fit()
    fusions = ["multiply", "the retrieval and captioning steps", "a tinymm.keras model"]
    if "--all-fusions" in sys.argv:
        for fusion in ("concat", "attention", "gated", "bilinear", "image_only",
                       "question_only"):
            train_both(fusion, steps=1)
            fusions.append(fusion)
    if "--app" in sys.argv:
        check_app_run()
        check_task_runs()
        fusions.append("the app's VQA, retrieval and captioning runs")
    print(f"bad device indices refused; trained {', '.join(fusions)} on the simulated cuda "
          "device; checkpoints round-trip")
