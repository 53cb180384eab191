"""The audit of every public op on cuda tensors (tests/cuda_audit_check.py).

* In-process, always: every public op (Tensor methods, tinymm.*, tinymm.F.*, nn layers) has a
  recorded status in tests/cuda_audit_table.py, and the table names no op that is gone, so a
  new op cannot appear without its device behaviour being audited and recorded.
* With TINYMM_CUDA_AUDIT=1: the audit itself in a subprocess under NUMBA_ENABLE_CUDASIM=1,
  each op on the simulated device against the host, every status as the table records it
  (minutes in the simulator, so opt-in).
"""

import os

import pytest

from tests.cuda_audit_check import surface
from tests.cuda_audit_table import STATUS

STATUSES = {"device", "value", "refused", "host", "implicit", "mismatch", "uncalled"}


def test_every_public_op_has_an_audited_status():
    names = set(surface())
    missing = sorted(names - set(STATUS))
    assert not missing, f"not audited (run tests/cuda_audit_check.py --write): {missing}"
    assert not set(STATUS) - names, f"no longer ops: {sorted(set(STATUS) - names)}"
    for name, status in STATUS.items():
        assert status.split(":")[0].removeprefix("backward-") in STATUSES | {"error"}, name


@pytest.mark.skipif(os.environ.get("TINYMM_CUDA_AUDIT") != "1",
                    reason="the simulated audit takes minutes: set TINYMM_CUDA_AUDIT=1")
def test_audit_matches_the_table_on_the_simulated_device():
    pytest.importorskip("numba_cuda", reason="numba-cuda not installed (tinymm[cuda])")
    from tests.simulated import run_simulated

    proc = run_simulated("tests.cuda_audit_check", timeout=1800)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "audited" in proc.stdout
