"""detect_anomaly names the first op that produced NaN/Inf and the line that created it;
nonfinite_origin finds it after the fact in a recorded graph."""

import inspect
import threading

import numpy as np
import pytest

import tinymm
from tinymm import F, nn
from tinymm.autograd import AnomalyError, ArrayFunction, is_anomaly_enabled, nonfinite_origin

pytestmark = pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning",
                                        "ignore:overflow:RuntimeWarning",
                                        "ignore:invalid value:RuntimeWarning")
HERE = __file__


def _line(offset=0):
    """The caller's line number plus ``offset``."""
    return inspect.currentframe().f_back.f_lineno + offset


class NaNBackward(ArrayFunction):
    """The identity whose backward plants a NaN: the bug anomaly mode must point at."""

    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, grad):
        g = grad.copy()
        g.reshape(-1)[0] = np.nan
        return g


def _x(shape=(3, 4), seed=0):
    rng = np.random.default_rng(seed)
    return tinymm.tensor(rng.standard_normal(shape).astype(np.float32), requires_grad=True)


def test_forward_names_the_op_and_the_line_that_created_it():
    x = _x()
    with tinymm.detect_anomaly():
        h = (x * 2.0).relu()
        zero = h - h
        with pytest.raises(AnomalyError) as info:
            line = _line(1)
            zero.log()  # log(0) = -inf from finite inputs
    message = str(info.value)
    assert "the forward of Log produced Inf (12 of 12 values) in output 0 (shape (3, 4))" in message
    assert f"{HERE}:{line} in test_forward_names_the_op_and_the_line_that_created_it" in message


def test_backward_names_the_op_that_planted_a_nan():
    x = _x()
    layer = nn.Linear(4, 2)
    with tinymm.detect_anomaly():
        line = _line(1)
        y = NaNBackward.apply(layer(x))
        loss = (y * y).sum()
        with pytest.raises(AnomalyError) as info:
            loss.backward()
    message = str(info.value)
    assert ("the backward of NaNBackward produced NaN (1 of 6 values) in the gradient of "
            "input 0 (shape (3, 2)) from a finite upstream gradient") in message
    assert f"{HERE}:{line} in test_backward_names_the_op_that_planted_a_nan" in message


def test_an_op_inside_a_layer_names_the_layer_and_the_user_line():
    layer = nn.Linear(4, 2)
    layer.weight.array[...] = 1.0
    x = tinymm.tensor(np.full((1, 4), 3e38, np.float32))  # finite, but the sum overflows
    with tinymm.detect_anomaly(), pytest.raises(AnomalyError) as info:
        line = _line(1)
        layer(x)
    message = str(info.value)
    assert "the forward of Linear produced" in message and "Inf" in message
    assert f"{HERE}:{line}" in message and "through tinymm/nn/linear.py:" in message


def test_propagated_values_do_not_raise_and_the_origin_names_the_leaf():
    x = _x()
    x.array[1, 2] = np.nan  # bad input data: a leaf, not an op, is where it started
    with tinymm.detect_anomaly():
        loss = F.relu(x * 3.0).sum()  # NaN flows through; no op produced it
    assert np.isnan(loss.item())
    origin = nonfinite_origin(loss)
    assert origin.startswith(f"input 0 of Mul (created at {HERE}:")
    assert "is a leaf tensor (a parameter or an input) of shape (3, 4) that holds NaN (1 of 12" \
        in origin


def test_origin_after_the_fact_names_the_op_and_with_recording_its_line():
    x = _x()
    y = (x - x).log() * 2.0  # no anomaly mode: nothing raises, nothing recorded
    origin = nonfinite_origin(y.sum())
    assert origin.startswith("the forward of Log produced Inf (12 of 12 values) in its output 0")
    assert origin.endswith("run under tinymm.detect_anomaly() to see the line that created "
                           "each op")
    assert "feeds input 0 of Mul" in origin
    with tinymm.detect_anomaly(check_nan=False):  # record sites, raise nothing
        line = _line(1)
        z = (x - x).log()
    assert f"{HERE}:{line}" in nonfinite_origin(z)
    assert nonfinite_origin((x * 2.0).sum()) is None
    assert nonfinite_origin(tinymm.tensor([1.0, np.inf])).startswith("the tensor itself is a leaf")


def test_off_by_default_and_per_thread():
    assert not is_anomaly_enabled()
    x = _x()
    assert x.exp()._node.created_at is None  # no stack walk outside anomaly mode
    (x - x).log()  # and no check
    seen = []
    with tinymm.detect_anomaly():
        assert is_anomaly_enabled()
        t = threading.Thread(target=lambda: seen.append(is_anomaly_enabled()))
        t.start()
        t.join()
    assert seen == [False] and not is_anomaly_enabled()


def test_integer_and_empty_outputs_are_not_checked():
    with tinymm.detect_anomaly():
        empty = tinymm.tensor(np.zeros((0, 3), np.float32), requires_grad=True)
        (empty * 2.0).sum().backward()
        assert np.array_equal(empty.grad.array, np.zeros((0, 3), np.float32))
