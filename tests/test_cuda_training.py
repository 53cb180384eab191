"""Device-resident training of the seed VQA model without a GPU: tests/cuda_training_check.py
in a subprocess under NUMBA_ENABLE_CUDASIM=1 (it must be set before numba is imported).

Three Adam steps of the tiny model on the simulated device, matching the reference backend,
with the host<->device transfers of every step asserted exactly (one copy out: the loss with
the index checks); the app's VQA loss and the retrieval and captioning tasks' loss functions
in the one training loop, likewise; bad device indices raised at the read; checkpoints from
the device load on the CPU and back. ``TINYMM_CUDA_SLOW=1`` adds one step of every other
fusion and the app's ``--device cuda`` runs (VQA; retrieval and captioning, validated on the
device and evaluated on the CPU); minutes more under the simulator.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("numba_cuda", reason="numba-cuda not installed (pip install 'tinymm[cuda]')")

ROOT = Path(__file__).resolve().parent.parent


def test_vqa_model_trains_on_the_simulated_device_with_counted_transfers():
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    args = ["--all-fusions", "--app"] if os.environ.get("TINYMM_CUDA_SLOW") == "1" else []
    proc = subprocess.run([sys.executable, "-m", "tests.cuda_training_check", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "trained multiply" in proc.stdout and "checkpoints round-trip" in proc.stdout


@pytest.mark.skipif(os.environ.get("NUMBA_ENABLE_CUDASIM") == "1",
                    reason="the simulator makes the cuda device available")
def test_train_on_cuda_without_a_gpu_says_what_to_do(tmp_path, capsys):
    from tinymm import cuda
    from tinymm.app.cli import main

    if cuda.is_available():
        pytest.skip("this machine has a GPU")
    out = tmp_path / "run"
    assert main(["train", "--device", "cuda", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--device cuda is not available" in err, err
    assert "NUMBA_ENABLE_CUDASIM=1" in err or "pip install" in err, err
    assert not out.exists()  # refused before anything was written
    assert main(["train", "--task", "retrieval", "--device", "cuda", "--out", str(out)]) == 2
    assert "--device cuda is not available" in capsys.readouterr().err
    assert not out.exists()


def _saved_on_cuda(path) -> None:
    """A tinymm.save file whose tensor records the cuda device (as a GPU run writes it),
    made on a machine without one by editing the structure in the header."""
    import json

    import numpy as np

    import tinymm
    from tinymm import io

    tinymm.save({"w": tinymm.tensor(np.arange(3.0, dtype=np.float32))}, path)
    meta = io.safetensors_metadata(path)
    info = json.loads(meta["tinymm.save"])
    info["root"]["v"][0][1]["device"] = "cuda"
    io.save_safetensors(path, io.load_safetensors(path),
                        metadata={"tinymm.save": json.dumps(info)})


@pytest.mark.skipif(os.environ.get("NUMBA_ENABLE_CUDASIM") == "1",
                    reason="the simulator makes the cuda device available")
def test_a_cuda_saved_file_loads_on_the_cpu_with_map_location(tmp_path):
    import numpy as np

    import tinymm
    from tinymm import cuda

    if cuda.is_available():
        pytest.skip("this machine has a GPU")
    path = tmp_path / "cuda.safetensors"
    _saved_on_cuda(path)
    with pytest.raises(ValueError, match="map_location='cpu'"):
        tinymm.load(path)  # the saved device is not here: say how to load on the CPU
    for where in ("cpu", tinymm.device("cpu"), {"cuda": "cpu"}):
        w = tinymm.load(path, map_location=where)["w"]
        assert w.device == "cpu"
        np.testing.assert_array_equal(w.numpy(), [0.0, 1.0, 2.0])
    seen = []
    w = tinymm.load(path, map_location=lambda t, saved: seen.append(saved) or t)["w"]
    assert seen == ["cuda"] and w.device == "cpu"
