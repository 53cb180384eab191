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


def test_kernels_on_reference_swaps_only_the_named_stems_and_restores():
    from tinymm.app.compile_notice import kernels_on_reference
    from tinymm.backend import get_backend

    numba_backend, reference = get_backend("numba"), get_backend("reference")
    before = dict(numba_backend.kernels)
    with kernels_on_reference({"lstm"}):
        assert numba_backend.kernels["lstm_backward"] is reference.kernels["lstm_backward"]
        assert numba_backend.kernels["conv2d_forward"] is before["conv2d_forward"]
    assert numba_backend.kernels == before


def test_two_process_warm_up_keeps_the_weights_and_its_helper_succeeds(monkeypatch):
    """The cold-start split (forced on: a cold cache and an idle core are simulated) runs its
    helper process to a clean exit, changes no weight and leaves no gradient behind."""
    from tinymm.app import compile_notice as cn
    from tinymm.app import train as T
    from tinymm.data import ShapesVQA

    tiny = dict(conv1_channels=4, conv2_channels=8, embed_dim=16, hidden_size=16,
                fused_dim=16, head_hidden=16, num_heads=2, bilinear_rank=4)
    cfg = T.TrainConfig(fusion="attention", samples=8, batch_size=4, seed=1, model=tiny)
    dataset = ShapesVQA(8, seed=1)
    model = T.build_model(cfg, dataset.tokenizer)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    monkeypatch.setattr(cn, "spare_core", lambda: True)
    monkeypatch.setattr(cn, "cold_cache", lambda: True)
    stream = io.StringIO()
    with compile_notice(stream) as notice:
        assert cn.compile_in_two_processes(cfg, model, dataset, T.vqa_loss, notice) == 0
    assert "two processes" in stream.getvalue()
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])
    assert all(p.grad is None for p in model.parameters())
    reference = T.TrainConfig(**{**cfg.__dict__, "backend": "reference"})
    assert cn.compile_in_two_processes(reference, model, dataset, T.vqa_loss) is None


def test_spare_core_counts_other_processes_cpu_time_over_the_window(monkeypatch):
    """The helper's start test (tinymm/app/compile_notice.py): other processes' busy cores,
    averaged over the window since the start sample (this process's own CPU time taken out),
    must leave SPARE_CORES idle; without /proc/stat it falls back to the load average."""
    import os

    from tinymm.app import compile_notice as cn

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(cn.time, "sleep", lambda s: None)
    start = (100.0, 5000.0, 1.0)  # wall s, machine busy CPU s, own CPU s

    def ending(busy, own):
        monkeypatch.setattr(cn, "cpu_sample", lambda: (102.0, 5000.0 + busy, 1.0 + own))

    ending(busy=2.2, own=1.9)  # 2 s: this process busy, others 0.15 cores
    assert cn.spare_core(start)
    ending(busy=3.9, own=1.9)  # others 1.0 core: one busy job beside this one
    assert not cn.spare_core(start)
    ending(busy=1.2, own=0.1)  # others 0.55 cores: 1.45 idle, under SPARE_CORES
    assert not cn.spare_core(start)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.5, 3.0, 3.0))
    assert cn.spare_core((100.0, None, 1.0))  # no /proc/stat: the 1-minute load average


def test_helper_compiles_the_convolutions_when_winograd_is_on(monkeypatch):
    """The two-process cold start hands the helper the conv2d kernels with the Winograd path
    on (its transforms make them the larger half) and the text side otherwise; both halves
    name real kernel stems."""
    from tinymm.app import compile_notice as cn
    from tinymm.kernels import CONTRACT
    from tinymm.kernels.numba_cpu import conv2d

    stems = {spec.stem for spec in CONTRACT.values()}
    assert cn.CONV_STEMS <= stems and cn.TEXT_STEMS <= stems
    monkeypatch.setattr(conv2d, "WINOGRAD", True)
    assert cn.helper_stems() == cn.CONV_STEMS
    monkeypatch.setattr(conv2d, "WINOGRAD", False)
    assert cn.helper_stems() == cn.TEXT_STEMS
