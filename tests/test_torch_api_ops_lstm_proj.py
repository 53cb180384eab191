"""nn.LSTM(proj_size=P) (PyTorch's LSTMP, tinymm/ops/lstm_projected.py): parameter names,
shapes and state-dict keys as torch; outputs, final states and every gradient of a torch twin
loaded with the same weights (multi-layer, bidirectional, batch_first, given states, packed
lengths, unbatched); gradcheck; a hand-written step; errors."""

from __future__ import annotations

import numpy as np
import pytest

import tinymm
from tinymm import nn


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def test_one_step_by_hand():
    layer = nn.LSTM(2, 3, proj_size=1, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((1, 1, 2))
    out, (h, c) = layer(tinymm.tensor(x))
    p = {k: v.numpy() for k, v in layer.state_dict().items()}
    z = x[0] @ p["weight_ih_l0"].T + p["bias_ih_l0"] + p["bias_hh_l0"]  # h0 = 0
    i, g, o = _sigmoid(z[:, :3]), np.tanh(z[:, 6:9]), _sigmoid(z[:, 9:])  # f meets c0 = 0
    c_want = i * g  # c0 = 0
    h_want = (o * np.tanh(c_want)) @ p["weight_hr_l0"].T
    np.testing.assert_allclose(out.detach().numpy()[0], h_want, rtol=1e-12)
    np.testing.assert_allclose(c.detach().numpy()[0], c_want, rtol=1e-12)
    assert h.shape == (1, 1, 1) and c.shape == (1, 1, 3)


CONFIGS = [dict(num_layers=1), dict(num_layers=2), dict(bidirectional=True),
           dict(num_layers=2, bidirectional=True, batch_first=True)]


@pytest.mark.parametrize("config", CONFIGS, ids=[str(c) for c in CONFIGS])
@pytest.mark.parametrize("with_states", [False, True])
def test_matches_torch(config, with_states):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = torch.nn.LSTM(3, 5, proj_size=2, **config).double()
    ours = nn.LSTM(3, 5, proj_size=2, dtype=np.float64, **config)
    assert [(n, tuple(p.shape)) for n, p in ours.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in theirs.named_parameters()]
    assert repr(ours) == repr(theirs)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    r = np.random.default_rng(1)
    lk = config.get("num_layers", 1) * (2 if config.get("bidirectional") else 1)
    x = r.standard_normal((2, 4, 3) if config.get("batch_first") else (4, 2, 3))
    states = (r.standard_normal((lk, 2, 2)), r.standard_normal((lk, 2, 5)))
    tx = torch.tensor(x, requires_grad=True)
    mx = tinymm.tensor(x, requires_grad=True)
    t_hx = tuple(torch.tensor(s) for s in states) if with_states else None
    m_hx = tuple(tinymm.tensor(s) for s in states) if with_states else None
    t_out, (t_h, t_c) = theirs(tx, t_hx)
    m_out, (m_h, m_c) = ours(mx, m_hx)
    for got, want in ((m_out, t_out), (m_h, t_h), (m_c, t_c)):
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), atol=1e-12)
    weights = r.standard_normal(t_out.shape)
    ((t_out * torch.tensor(weights)).sum() + t_h.sum() + t_c.square().sum()).backward()
    ((m_out * tinymm.tensor(weights)).sum() + m_h.sum() + m_c.square().sum()).backward()
    np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), atol=1e-12)
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), dict(theirs.named_parameters())[name].grad,
                                   atol=1e-12, err_msg=name)


def test_packed_lengths_and_unbatched_match_torch():
    torch = pytest.importorskip("torch")
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    theirs = torch.nn.LSTM(3, 4, proj_size=3, bidirectional=True).double()
    ours = nn.LSTM(3, 4, proj_size=3, bidirectional=True, dtype=np.float64)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(2).standard_normal((5, 3, 3))
    lengths = [5, 2, 4]
    packed = pack_padded_sequence(torch.tensor(x), lengths, enforce_sorted=False)
    t_out, (t_h, t_c) = theirs(packed)
    t_out = pad_packed_sequence(t_out, total_length=5)[0]
    m_out, (m_h, m_c) = ours(tinymm.tensor(x), lengths=lengths)
    for got, want in ((m_out, t_out), (m_h, t_h), (m_c, t_c)):
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), atol=1e-12)
    t_one, (t_h1, _) = theirs(torch.tensor(x[:, 0]))
    m_one, (m_h1, _) = ours(tinymm.tensor(x[:, 0]))
    assert m_one.shape == (5, 6) and m_h1.shape == (2, 3)
    np.testing.assert_allclose(m_one.detach().numpy(), t_one.detach().numpy(), atol=1e-12)


def test_gradcheck():
    layer = nn.LSTM(2, 2, proj_size=1, num_layers=2, bidirectional=True, dtype=np.float64)
    x = tinymm.tensor(np.random.default_rng(3).standard_normal((2, 1, 2)), requires_grad=True)

    def run(x, *params):
        out, (h, c) = layer(x)
        return out.sum() + (h * h).sum() + c.sum()

    assert tinymm.gradcheck(run, (x, *layer.parameters()))


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="proj_size must be an int in \\[0, hidden_size\\)"):
        nn.LSTM(3, 4, proj_size=4)
    with pytest.raises(ValueError, match="proj_size must be"):
        nn.LSTM(3, 4, proj_size=-1)
    layer = nn.LSTM(3, 4, proj_size=2)
    x = tinymm.zeros(5, 2, 3)
    with pytest.raises(ValueError, match="h0 must have shape .* N, proj_size\\) = \\(1, 2, 2\\)"):
        layer(x, (tinymm.zeros(1, 2, 4), tinymm.zeros(1, 2, 4)))
    with pytest.raises(ValueError, match="c0 must have shape .* N, hidden_size\\) = \\(1, 2, 4\\)"):
        layer(x, (tinymm.zeros(1, 2, 2), tinymm.zeros(1, 2, 2)))
