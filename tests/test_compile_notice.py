"""The first-run notice: it appears exactly when Numba really compiles a tinymm kernel."""

import io
import types

import numba
import numpy as np

from tinymm.app.compile_notice import HEADER, compile_notice


def _event(module: str, name: str):
    function = types.SimpleNamespace(__module__=module, __name__=name)
    return types.SimpleNamespace(data={"dispatcher": types.SimpleNamespace(py_func=function)})


def test_notice_counts_outermost_tinymm_compiles_only():
    stream = io.StringIO()
    with compile_notice(stream) as notice:
        outer, inner = _event("tinymm.kernels.numba_cpu.conv2d", "_im2col_flat"), _event(
            "tinymm.kernels.numba_cpu._util", "helper")
        notice.on_start(outer)
        notice.on_start(inner)  # a callee compiled inside its caller: not counted apart
        notice.on_end(inner)
        notice.on_end(outer)
        notice.on_start(_event("numpy_user_code", "f"))  # not ours: ignored
        notice.on_end(None)
        notice.finish()
        assert notice.count == 1
    text = stream.getvalue()
    assert text.count(HEADER) == 2  # the header, then the one summary line
    assert "1 kernels compiled" in text


def test_notice_is_silent_when_nothing_compiles():
    stream = io.StringIO()
    with compile_notice(stream):
        np.zeros(3).sum()
    assert stream.getvalue() == ""


def test_notice_hears_a_real_numba_compile():
    stream = io.StringIO()

    def double(x):
        return 2 * x

    double.__module__ = "tinymm.test_probe"
    with compile_notice(stream) as notice:
        assert numba.njit(double)(3) == 6  # a fresh dispatcher: always a real compile
    assert notice.count == 1 and HEADER in stream.getvalue()
