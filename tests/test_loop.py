"""tinymm/loop.py on its own: optimizer steps against a hand-computed gradient descent, the
sample-weighted epoch mean, evaluate's eval mode without gradients, and the non-finite-loss
stop that leaves the weights of the previous step."""

import numpy as np
import pytest

import tinymm
from tinymm import loop, nn, optim


def _one_weight(w0: float) -> nn.Linear:
    model = nn.Linear(1, 1, bias=False).double()
    model.weight.array[...] = w0
    return model


def _squared_error(model, batch):
    """(w x - y)^2 averaged over the batch; d/dw = 2 mean((w x - y) x)."""
    x, y = batch
    pred = model(tinymm.tensor(np.array(x, dtype=np.float64).reshape(-1, 1)))
    loss = ((pred - tinymm.tensor(np.array(y, dtype=np.float64).reshape(-1, 1))) ** 2).mean()
    return loss, {"samples": len(x)}


BATCHES = [([1.0, 2.0], [2.0, 3.0]), ([3.0], [-1.0]), ([0.5, -1.0, 2.0], [1.0, 0.0, 4.0])]


def test_train_epoch_is_gradient_descent_step_by_step():
    w, lr = 0.5, 0.05
    model = _one_weight(w)
    logs = loop.train_epoch(model, _squared_error, BATCHES, optim.SGD(model.parameters(), lr=lr))
    losses, counts = [], []
    for x, y in BATCHES:  # each step sees only its own batch's gradient
        x, y = np.array(x), np.array(y)
        losses.append(float(np.mean((w * x - y) ** 2)))
        counts.append(len(x))
        w -= lr * float(np.mean(2 * (w * x - y) * x))
    assert model.weight.array.item() == pytest.approx(w, rel=1e-12)
    # the logged loss is the mean over samples, not over batches
    assert logs["loss"] == pytest.approx(np.dot(losses, counts) / sum(counts), rel=1e-12)


def test_evaluate_runs_in_eval_mode_without_gradients_and_restores_mode():
    model = _one_weight(1.0)
    seen = []

    def loss_fn(m, batch):
        loss, metrics = _squared_error(m, batch)
        seen.append((m.training, loss.requires_grad))
        return loss, metrics

    model.train()
    logs = loop.evaluate(model, loss_fn, BATCHES)
    assert seen == [(False, False)] * len(BATCHES)
    assert model.training
    expected = [np.mean((np.array(x) - np.array(y)) ** 2) * len(x) for x, y in BATCHES]
    assert logs["loss"] == pytest.approx(sum(expected) / 6, rel=1e-12)


@pytest.mark.parametrize("on_nan", ["raise", "stop"])
def test_non_finite_loss_step_is_not_applied(on_nan):
    model = _one_weight(0.5)
    batches = [BATCHES[0], ([np.nan], [1.0]), BATCHES[1]]
    opt = optim.SGD(model.parameters(), lr=0.05)
    w_after_first = 0.5 - 0.05 * float(np.mean(2 * (0.5 * np.array([1.0, 2.0]) - [2.0, 3.0])
                                               * np.array([1.0, 2.0])))
    if on_nan == "raise":
        with pytest.raises(loop.NonFiniteLossError, match=r"the loss is nan at epoch 1, step 2/3"):
            loop.train_epoch(model, _squared_error, batches, opt, on_nan=on_nan)
    else:
        model.stop_training = False
        loop.train_epoch(model, _squared_error, batches, opt, on_nan=on_nan)
        assert model.stop_training and model.nan_step == (0, 1)
    assert model.weight.array.item() == pytest.approx(w_after_first, rel=1e-12)
