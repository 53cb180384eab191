"""Checkpoints under faults: a writer killed with SIGKILL, a full disk, damaged files, and no
code execution anywhere in loading.

The kill test runs a child process that saves checkpoints in a loop and prints each step
after ``save_checkpoint`` returns; the parent kills it with SIGKILL after a seeded random
delay (and, separately, at each fsync/replace call inside a save) and then requires that the
checkpoint on disk loads, verifies, and is the last step the child reported or the one it
was writing when killed.
"""

import ast
import errno
import json
import os
import random
import signal
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from tinymm import io

ROOT = Path(__file__).resolve().parents[1]
RANDOM_KILLS = int(os.environ.get("TINYMM_KILLS", "8"))  # TINYMM_KILLS=100 for a longer run

_WRITER = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    from tinymm import io

    path, start, kill_at = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    calls = [0]

    def counted(fn):
        def wrapper(*args, **kwargs):
            calls[0] += 1
            if calls[0] == kill_at:  # die exactly here, mid-save
                os.kill(os.getpid(), signal.SIGKILL)
            return fn(*args, **kwargs)
        return wrapper

    os.fsync, os.replace = counted(os.fsync), counted(os.replace)
    print("ready", flush=True)
    for step in range(start, start + 10_000):
        tensors = {"w": np.full((512, 512), step, np.float32), "b": np.arange(step % 7 + 1)}
        io.save_checkpoint(path, tensors, {"step": step})
        print(step, flush=True)
""")


def _expect_step(path, low, high):
    """The checkpoint at ``path`` loads, verifies and is one whole save in [low, high]."""
    tensors, manifest = io.load_checkpoint(path)
    step = manifest["step"]
    assert low <= step <= high, (low, step, high)
    np.testing.assert_array_equal(tensors["w"], np.full((512, 512), step, np.float32))
    np.testing.assert_array_equal(tensors["b"], np.arange(step % 7 + 1))
    return step


def _run_writer(path, start, kill_at=0, delay=None):
    """Start the writer; kill it after ``delay`` seconds (or let it kill itself at the
    ``kill_at``-th fsync/replace). Returns the steps it reported complete."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    child = subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(start),
                              str(kill_at)], stdout=subprocess.PIPE, env=env, text=True)
    assert child.stdout.readline().strip() == "ready"
    if delay is not None:
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
    out, _ = child.communicate(timeout=120)
    assert child.returncode == -signal.SIGKILL
    return [int(line) for line in out.split()]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_sigkill_during_saves_always_leaves_a_whole_checkpoint(tmp_path):
    path = tmp_path / "ckpt"
    rng = random.Random(17)
    io.save_checkpoint(path, {"w": np.full((512, 512), 0, np.float32), "b": np.arange(1)},
                       {"step": 0})
    last = 0
    kill_points = [("call", k, None) for k in range(1, 7)]  # each fsync/replace of one save
    kill_points += [("time", 0, rng.uniform(0.0, 0.15)) for _ in range(RANDOM_KILLS)]
    mid_write = 0
    for kind, kill_at, delay in kill_points:
        done = _run_writer(path, last + 1, kill_at, delay)
        high = (done[-1] if done else last) + 1  # the save in progress may have committed
        low = done[-1] if done else last
        temps = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        mid_write += bool(temps)
        for p in temps:  # a killed writer leaves its temporary file; nothing else does
            p.unlink()
        last = _expect_step(path, low, high)
        if kind == "call" and kill_at <= 2:  # killed before the weights' os.replace returned
            assert last == low
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.json", "ckpt.safetensors"]
    print(f"{len(kill_points)} kills, {mid_write} inside a write, last step {last}")


def test_full_disk_gives_a_clear_error_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt"
    io.save_checkpoint(path, {"w": np.zeros(1000, np.float32)}, {"step": 1})
    before = (tmp_path / "ckpt.safetensors").read_bytes()
    real_fdopen = os.fdopen

    class FullDisk:
        def __init__(self, f):
            self.f, self.written = f, 0

        def write(self, data):
            self.written += len(data)
            if self.written > 1000:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return self.f.write(data)

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    monkeypatch.setattr(io.os, "fdopen", lambda fd, mode: FullDisk(real_fdopen(fd, mode)))
    with pytest.raises(OSError, match=r"ckpt\.safetensors: could not be written: No space left "
                                      r"on device \(the disk or quota is full.*previous "
                                      r"ckpt\.safetensors \(if any\) is unchanged") as info:
        io.save_checkpoint(path, {"w": np.ones(1000, np.float32)}, {"step": 2})
    assert info.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert (tmp_path / "ckpt.safetensors").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.json", "ckpt.safetensors"]
    assert io.load_checkpoint(path)[1]["step"] == 1

    def no_fsync(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(io.os, "fsync", no_fsync)  # the error surfaces at fsync instead
    with pytest.raises(OSError, match="No space left on device"):
        io.save_checkpoint(path, {"w": np.ones(1000, np.float32)}, {"step": 2})
    monkeypatch.undo()
    assert io.load_checkpoint(path)[1]["step"] == 1


def _rewrite(path, change_header=None, change_meta=None, data_tail=None):
    """Rewrite a safetensors file with its header changed; returns the new file path."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    if change_meta:
        meta = header["__metadata__"]
        manifest = json.loads(meta[io.MANIFEST_KEY])
        change_meta(manifest, meta)
        meta[io.MANIFEST_KEY] = json.dumps(manifest)
    if change_header:
        change_header(header)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    data = raw[8 + n:] if data_tail is None else data_tail
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


def _fresh(tmp_path, name="ck"):
    io.save_checkpoint(tmp_path / name, {"w": np.arange(12, dtype=np.float32).reshape(3, 4)},
                       {"step": 5})
    return tmp_path / f"{name}.safetensors"


def test_damaged_checkpoints_name_the_file_and_the_problem(tmp_path):
    weights = _fresh(tmp_path)

    def newer(manifest, meta):
        manifest["format_version"] = io.FORMAT_VERSION + 1

    _rewrite(weights, change_meta=newer)
    with pytest.raises(io.CheckpointError, match=rf"ck\.safetensors: format version "
                                                 rf"{io.FORMAT_VERSION + 1} is newer than this "
                                                 r"tinymm .* upgrade tinymm"):
        io.load_checkpoint(tmp_path / "ck")

    weights = _fresh(tmp_path)
    weights.write_bytes(weights.read_bytes()[:-7])
    with pytest.raises(io.CheckpointError, match=r"ck\.safetensors: tensor 'w' ends at byte 48 "
                                                 r"of the data section.*truncated"):
        io.load_checkpoint(tmp_path / "ck")

    weights = _fresh(tmp_path)
    raw = weights.read_bytes()
    weights.write_bytes(struct.pack("<Q", 1 << 40) + raw[8:])
    with pytest.raises(io.CheckpointError, match=r"ck\.safetensors: declares a 1099511627776-"
                                                 r"byte header, more than .*bad header length"):
        io.load_checkpoint(tmp_path / "ck")
    (n,) = struct.unpack("<Q", raw[:8])
    weights.write_bytes(struct.pack("<Q", n - 8) + raw[8:])  # header ends inside its JSON
    with pytest.raises(io.CheckpointError, match=r"ck\.safetensors: the header is not valid "
                                                 r"JSON"):
        io.load_checkpoint(tmp_path / "ck")

    def edited(manifest, meta):
        manifest["step"] = 6  # a manifest changed after the save: its hash no longer matches

    weights = _fresh(tmp_path)
    _rewrite(weights, change_meta=edited)
    with pytest.raises(io.CheckpointError, match=r"ck\.safetensors: its SHA-256 does not match "
                                                 r"the one recorded in its header"):
        io.load_checkpoint(tmp_path / "ck")
    assert io.load_checkpoint(tmp_path / "ck", verify=False)[1]["step"] == 6

    weights = _fresh(tmp_path)
    raw = bytearray(weights.read_bytes())
    raw[-1] ^= 0x01  # one bit of tensor data
    weights.write_bytes(bytes(raw))
    with pytest.raises(io.CheckpointError, match=r"ck\.safetensors: its SHA-256 does not match"):
        io.load_checkpoint(tmp_path / "ck")

    def no_digest(manifest, meta):
        del meta[io.DIGEST_KEY]

    weights = _fresh(tmp_path)
    _rewrite(weights, change_meta=no_digest)
    with pytest.raises(io.CheckpointError, match=r"ck\.safetensors: its SHA-256 does not match"):
        io.load_checkpoint(tmp_path / "ck")

    def bad_manifest_json(header):
        header["__metadata__"][io.MANIFEST_KEY] = '{"format": "tinymm-check'

    weights = _fresh(tmp_path)
    _rewrite(weights, change_header=bad_manifest_json)
    with pytest.raises(io.CheckpointError, match=r"ck\.safetensors: the manifest in the header "
                                                 r"is not valid JSON"):
        io.load_checkpoint(tmp_path / "ck")

    def foreign(manifest, meta):
        manifest["format"] = "someone-else"

    weights = _fresh(tmp_path)
    _rewrite(weights, change_meta=foreign)
    with pytest.raises(io.CheckpointError, match=r"ck\.safetensors: not a tinymm checkpoint"):
        io.load_checkpoint(tmp_path / "ck")

    weights = _fresh(tmp_path)
    weights.unlink()
    with pytest.raises(io.CheckpointError, match=r"ck\.safetensors: no such checkpoint file "
                                                 r"\(the manifest ck\.json is here"):
        io.load_checkpoint(tmp_path / "ck")
    (tmp_path / "ck.json").unlink()
    with pytest.raises(io.CheckpointError, match=r"ck\.safetensors: no checkpoint here"):
        io.load_checkpoint(tmp_path / "ck")


def test_the_safetensors_package_reads_the_checkpoint_and_its_manifest(tmp_path):
    st = pytest.importorskip("safetensors")
    weights = _fresh(tmp_path)
    with st.safe_open(str(weights), framework="numpy") as f:
        manifest = json.loads(f.metadata()[io.MANIFEST_KEY])
        np.testing.assert_array_equal(f.get_tensor("w"), np.arange(12).reshape(3, 4))
    assert manifest["step"] == 5 and manifest["format_version"] == io.FORMAT_VERSION


# Modules and calls that can run code from a file's contents.
_UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "marshal", "shelve", "dill", "cloudpickle",
                   "joblib", "yaml", "torch"}
_UNSAFE_BUILTINS = {"eval", "exec", "compile", "__import__"}
# Modules whose job is to run a program the user asked to run, not to load data: declared
# here with the reason, so any other exec/compile in the package still fails the scan.
_RUNS_PROGRAMS = {
    "tinymm/exercises/literate.py": "runs a tutorial's own code cells, as `python tutorial.py`",
}


def test_the_package_never_unpickles_or_evaluates_loaded_data():
    package = ROOT / "tinymm"
    problems = []
    for file in sorted(package.rglob("*.py")):
        rel = file.relative_to(ROOT)
        tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                names = []
            for name in names:
                if name.split(".")[0] in _UNSAFE_MODULES:
                    problems.append(f"{rel}:{node.lineno} imports {name}")
            if not isinstance(node, ast.Call):
                continue
            fn = node.func
            if (isinstance(fn, ast.Name) and fn.id in _UNSAFE_BUILTINS
                    and rel.as_posix() not in _RUNS_PROGRAMS):
                problems.append(f"{rel}:{node.lineno} calls {fn.id}()")
            if isinstance(fn, ast.Attribute) and fn.attr in ("load", "loads", "fromfile"):
                owner = fn.value.id if isinstance(fn.value, ast.Name) else ""
                if owner in ("np", "numpy", "pickle", "marshal", "torch"):
                    problems.append(f"{rel}:{node.lineno} calls {owner}.{fn.attr}()")
    assert not problems, "code that can execute loaded data:\n" + "\n".join(problems)
