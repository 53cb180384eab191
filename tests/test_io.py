"""Checkpoints: safetensors format from the spec, atomic writes, clear errors."""

import json
import os
import struct

import numpy as np
import pytest

import tinymm
from tinymm import io, nn, optim


def _tensors():
    rng = np.random.default_rng(0)
    return {"a.weight": rng.standard_normal((3, 4)).astype(np.float32),
            "a.bias": rng.standard_normal(3),
            "ids": np.arange(5, dtype=np.int64), "flag": np.array([True, False]),
            "empty": np.zeros((0, 2), dtype=np.float32)}


def test_safetensors_round_trip_and_layout(tmp_path):
    path = tmp_path / "w.safetensors"
    tensors = _tensors()
    io.save_safetensors(path, tensors, metadata={"who": "test"})
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    assert (8 + n) % 8 == 0  # data section aligned
    assert header["a.weight"] == {"dtype": "F32", "shape": [3, 4], "data_offsets": [0, 48]}
    assert header["__metadata__"] == {"who": "test"}
    np.testing.assert_array_equal(
        np.frombuffer(raw[8 + n:8 + n + 48], dtype="<f4").reshape(3, 4), tensors["a.weight"])
    loaded = io.load_safetensors(path)
    assert list(loaded) == list(tensors)
    for k, v in tensors.items():
        assert loaded[k].dtype == v.dtype
        np.testing.assert_array_equal(loaded[k], v)
    assert io.safetensors_metadata(path) == {"who": "test"}


def test_readable_by_safetensors_package(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    path = tmp_path / "w.safetensors"
    io.save_safetensors(path, _tensors())
    for k, v in st.load_file(str(path)).items():
        np.testing.assert_array_equal(v, _tensors()[k])
    st.save_file({"x": np.ones((2, 2), dtype=np.float32)}, str(tmp_path / "x.safetensors"))
    np.testing.assert_array_equal(io.load_safetensors(tmp_path / "x.safetensors")["x"], 1)


def test_truncated_corrupted_foreign_files_rejected(tmp_path):
    path = tmp_path / "w.safetensors"
    io.save_safetensors(path, _tensors())
    raw = path.read_bytes()
    (tmp_path / "short").write_bytes(raw[:5])
    with pytest.raises(io.CheckpointError, match="too short"):
        io.load_safetensors(tmp_path / "short")
    (tmp_path / "trunc").write_bytes(raw[:-10])
    with pytest.raises(io.CheckpointError, match=r"tensor 'empty'|truncated"):
        io.load_safetensors(tmp_path / "trunc")
    (tmp_path / "head").write_bytes(raw[:40])
    with pytest.raises(io.CheckpointError, match="declares a .*-byte header.*truncated"):
        io.load_safetensors(tmp_path / "head")
    (tmp_path / "foreign").write_bytes(b"PK\x03\x04 this is a zip file, not weights" * 3)
    with pytest.raises(io.CheckpointError, match="header"):
        io.load_safetensors(tmp_path / "foreign")
    (n,) = struct.unpack("<Q", raw[:8])
    broken = bytearray(raw)
    broken[8] = ord("#")  # break the JSON: "{" -> "#"
    (tmp_path / "json").write_bytes(bytes(broken))
    with pytest.raises(io.CheckpointError, match="not valid JSON"):
        io.load_safetensors(tmp_path / "json")
    header = json.loads(raw[8:8 + n])
    header["a.weight"]["shape"] = [4, 4]  # offsets no longer match the shape
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    (tmp_path / "shape").write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + n:])
    with pytest.raises(io.CheckpointError, match=r"tensor 'a\.weight'.*need"):
        io.load_safetensors(tmp_path / "shape")
    with pytest.raises(io.CheckpointError, match="no tensor named 'missing'"):
        io.load_safetensors(path, names=["missing"])
    with pytest.raises(io.CheckpointError, match="no such checkpoint file"):
        io.load_safetensors(tmp_path / "nope.safetensors")


def _model_and_optimizer():
    nn.init.seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
    opt = optim.Adam(model.parameters(), lr=0.01)
    return model, opt


def _step(model, opt, seed):
    rng = np.random.default_rng(seed)
    x = tinymm.tensor(rng.standard_normal((8, 4)).astype(np.float32))
    y = rng.integers(0, 2, 8)
    loss = tinymm.F.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.item()


def test_checkpoint_resume_identical_next_step(tmp_path):
    model, opt = _model_and_optimizer()
    for s in range(3):
        _step(model, opt, s)
    io.save_module(tmp_path / "ck", model, opt, {"epoch": 3, "vocabulary": ["<pad>", "a"]})
    loss_a = _step(model, opt, 99)
    after_a = model.state_dict()

    model2, opt2 = _model_and_optimizer()
    manifest = io.load_module(tmp_path / "ck", model2, opt2)
    assert manifest["epoch"] == 3 and manifest["vocabulary"] == ["<pad>", "a"]
    assert manifest["tinymm_version"] == tinymm.__version__
    loss_b = _step(model2, opt2, 99)
    assert loss_a == loss_b
    for k, v in model2.state_dict().items():
        np.testing.assert_array_equal(v, after_a[k])


def test_checkpoint_errors_name_the_tensor(tmp_path):
    model, opt = _model_and_optimizer()
    io.save_module(tmp_path / "ck", model)
    other = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2))
    with pytest.raises(io.CheckpointError, match=r"tensor '0\.weight' has shape \(6, 4\).*"
                                                 r"needs \(5, 4\)"):
        io.load_module(tmp_path / "ck", other)
    bigger = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2), nn.Linear(2, 2))
    with pytest.raises(io.CheckpointError, match=r"missing tensor '3\.weight'"):
        io.load_module(tmp_path / "ck", bigger)
    weights = tmp_path / "ck.safetensors"
    raw = bytearray(weights.read_bytes())
    raw[-3] ^= 0xFF  # flip bits inside the data: only the hash can tell
    weights.write_bytes(bytes(raw))
    with pytest.raises(io.CheckpointError, match=r"ck\.safetensors: its SHA-256 does not match"):
        io.load_module(tmp_path / "ck", model)


def test_json_copy_is_not_read_when_the_weights_carry_the_manifest(tmp_path):
    model, opt = _model_and_optimizer()
    io.save_module(tmp_path / "ck", model, opt, {"epoch": 7})
    copy = json.loads((tmp_path / "ck.json").read_text())
    assert copy["epoch"] == 7 and "note" in copy
    assert copy["weights_sha256"] == io.file_sha256(tmp_path / "ck.safetensors")
    (tmp_path / "ck.json").write_text('{"format": "tinymm-chec')  # a stale or broken copy
    _, manifest = io.load_checkpoint(tmp_path / "ck.json")
    assert manifest["epoch"] == 7
    (tmp_path / "ck.json").unlink()
    assert io.load_checkpoint(tmp_path / "ck")[1]["epoch"] == 7


def test_format_1_checkpoints_still_load_and_verify(tmp_path):
    """Format 1: a plain weight file and the manifest with the whole file's hash in .json."""
    tensors = _tensors()
    digest = io.save_safetensors(tmp_path / "old.safetensors", tensors, {"format": io.FORMAT})
    manifest = {"format": io.FORMAT, "format_version": 1, "weights": "old.safetensors",
                "weights_sha256": digest, "epoch": 2,
                "tensors": {k: list(v.shape) for k, v in tensors.items()}}
    (tmp_path / "old.json").write_text(json.dumps(manifest))
    loaded, got = io.load_checkpoint(tmp_path / "old")
    assert got["epoch"] == 2
    np.testing.assert_array_equal(loaded["a.weight"], tensors["a.weight"])
    manifest["weights_sha256"] = "0" * 64
    (tmp_path / "old.json").write_text(json.dumps(manifest))
    with pytest.raises(io.CheckpointError, match=r"old\.safetensors: its SHA-256 does not "
                                                 r"match the manifest old\.json"):
        io.load_checkpoint(tmp_path / "old")
    (tmp_path / "old.json").write_text('{"format": "something-else"}')
    with pytest.raises(io.CheckpointError, match=r"old\.json: not a tinymm checkpoint"):
        io.load_checkpoint(tmp_path / "old")
    (tmp_path / "old.json").write_text('{"format": "tinymm-chec')
    with pytest.raises(io.CheckpointError, match=r"old\.json: not valid JSON"):
        io.load_checkpoint(tmp_path / "old")
    (tmp_path / "old.json").unlink()
    with pytest.raises(io.CheckpointError, match=r"old\.safetensors: holds no tinymm manifest"):
        io.load_checkpoint(tmp_path / "old")


def test_atomic_write_keeps_previous_file_on_interrupt(tmp_path):
    path = tmp_path / "w.safetensors"
    io.save_safetensors(path, {"x": np.ones(4, dtype=np.float32)})
    before = path.read_bytes()


    def interrupted(f):
        f.write(b"partial garbage")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        io.atomic_write(path, interrupted)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]  # no temp file left
    np.testing.assert_array_equal(io.load_safetensors(path)["x"], 1)
    assert oct(os.stat(path).st_mode & 0o777) != "0o600"


def test_no_pickle_or_code_in_files(tmp_path):
    model, opt = _model_and_optimizer()
    io.save_module(tmp_path / "ck", model, opt)
    assert b"pickle" not in (tmp_path / "ck.safetensors").read_bytes()[:200]
    manifest = json.loads(io.safetensors_metadata(tmp_path / "ck.safetensors")[io.MANIFEST_KEY])
    assert manifest["format"] == "tinymm-checkpoint"
    assert manifest["format_version"] == io.FORMAT_VERSION
    assert set(manifest["tensors"]) >= {"0.weight", "0.bias", "2.weight", "2.bias"}
