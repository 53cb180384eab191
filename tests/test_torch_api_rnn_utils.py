"""nn.utils.rnn (pack/pad), recurrent layers on a PackedSequence, and the recurrent cells,
held to PyTorch (behind importorskip) and to finite differences in float64."""

from __future__ import annotations

import numpy as np
import pytest

import tinymm
from tinymm import nn
from tinymm.nn.utils import rnn as R


def _seqs(lengths, D=3, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n, D)) for n in lengths]


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_pack_pad_round_trip_matches_torch(batch_first, enforce_sorted):
    torch = pytest.importorskip("torch")
    lengths = [4, 3, 3, 1] if enforce_sorted else [2, 4, 1, 3]
    arrays = _seqs(lengths)
    ours = R.pad_sequence([tinymm.tensor(a) for a in arrays], batch_first=batch_first,
                          padding_value=-1.0)
    theirs = torch.nn.utils.rnn.pad_sequence([torch.tensor(a) for a in arrays],
                                             batch_first=batch_first, padding_value=-1.0)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    packed = R.pack_padded_sequence(ours, lengths, batch_first, enforce_sorted)
    packed_t = torch.nn.utils.rnn.pack_padded_sequence(theirs, torch.tensor(lengths),
                                                       batch_first, enforce_sorted)
    np.testing.assert_array_equal(packed.data.numpy(), packed_t.data.numpy())
    np.testing.assert_array_equal(packed.batch_sizes.numpy(), packed_t.batch_sizes.numpy())
    for mine, torch_one in ((packed.sorted_indices, packed_t.sorted_indices),
                            (packed.unsorted_indices, packed_t.unsorted_indices)):
        assert (mine is None) == (torch_one is None)
        if mine is not None:
            np.testing.assert_array_equal(mine.numpy(), torch_one.numpy())
    padded, out_lengths = R.pad_packed_sequence(packed, batch_first, padding_value=7.0,
                                                total_length=5)
    padded_t, lengths_t = torch.nn.utils.rnn.pad_packed_sequence(
        packed_t, batch_first, padding_value=7.0, total_length=5)
    np.testing.assert_array_equal(padded.numpy(), padded_t.numpy())
    np.testing.assert_array_equal(out_lengths.numpy(), lengths_t.numpy())
    assert out_lengths.dtype == np.int64


def test_pack_sequence_and_unpack_and_left_padding():
    arrays = _seqs([1, 3, 2])
    packed = R.pack_sequence([tinymm.tensor(a) for a in arrays], enforce_sorted=False)
    for got, want in zip(R.unpack_sequence(packed), arrays):
        np.testing.assert_array_equal(got.numpy(), want)
    left = R.pad_sequence([tinymm.tensor(a) for a in arrays], batch_first=True,
                          padding_side="left")
    np.testing.assert_array_equal(left.numpy()[0, 2], arrays[0][0])
    np.testing.assert_array_equal(left.numpy()[0, :2], 0)


def test_pack_and_pad_gradients_by_finite_differences():
    x = tinymm.tensor(np.random.default_rng(1).standard_normal((4, 3, 2)), requires_grad=True)

    def round_trip(x):
        packed = R.pack_padded_sequence(x, [2, 4, 1], enforce_sorted=False)
        return R.pad_packed_sequence(packed, padding_value=0.5)[0] * 1.0

    tinymm.gradcheck(round_trip, (x,))
    seqs = [tinymm.tensor(a, requires_grad=True) for a in _seqs([3, 1], D=2)]
    tinymm.gradcheck(lambda a, b: R.pad_sequence([a, b], batch_first=True), seqs)


def test_bad_input_errors_name_the_function():
    x = tinymm.zeros(3, 2, 1)
    with pytest.raises(RuntimeError, match="pack_padded_sequence: lengths must be sorted"):
        R.pack_padded_sequence(x, [1, 2])
    with pytest.raises(RuntimeError, match="between 1 and the padded length 3"):
        R.pack_padded_sequence(x, [4, 1])
    with pytest.raises(RuntimeError, match="batch size 2"):
        R.pack_padded_sequence(x, [3, 2, 1])
    with pytest.raises(TypeError, match="pad_packed_sequence: expected a PackedSequence"):
        R.pad_packed_sequence(x)
    packed = R.pack_padded_sequence(x, [3, 1])
    with pytest.raises(ValueError, match="total_length must be at least"):
        R.pad_packed_sequence(packed, total_length=2)
    with pytest.raises(RuntimeError, match="same trailing shape"):
        R.pad_sequence([tinymm.zeros(2, 3), tinymm.zeros(2, 4)])
    with pytest.raises(ValueError, match="PackedSequence carries its lengths"):
        nn.LSTM(1, 2)(packed, lengths=[3, 1])


def _torch_layer(torch, kind, ours, **kw):
    layer = getattr(torch.nn, kind)(ours.input_size, ours.hidden_size, **kw).double()
    layer.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in ours.state_dict().items()})
    return layer


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_recurrent_layers_take_a_packed_sequence_like_torch(kind):
    torch = pytest.importorskip("torch")
    tinymm.manual_seed(0)
    kw = dict(num_layers=2, bidirectional=True, batch_first=True)
    ours = getattr(nn, kind)(3, 4, **kw).double()
    theirs = _torch_layer(torch, kind, ours, **kw)
    lengths = [2, 4, 1]
    x = np.random.default_rng(2).standard_normal((3, 4, 3))
    xt = torch.tensor(x, requires_grad=True)
    xo = tinymm.tensor(x, requires_grad=True)
    out_t, state_t = theirs(torch.nn.utils.rnn.pack_padded_sequence(
        xt, torch.tensor(lengths), batch_first=True, enforce_sorted=False))
    out, state = ours(R.pack_padded_sequence(xo, lengths, batch_first=True,
                                             enforce_sorted=False))
    assert isinstance(out, R.PackedSequence)
    np.testing.assert_allclose(out.data.detach().numpy(), out_t.data.detach().numpy(), atol=1e-10)
    np.testing.assert_array_equal(out.batch_sizes.numpy(), out_t.batch_sizes.numpy())
    states, states_t = (state, state_t) if kind == "LSTM" else ((state,), (state_t,))
    for s, s_t in zip(states, states_t):
        np.testing.assert_allclose(s.detach().numpy(), s_t.detach().numpy(), atol=1e-10)
    upstream = np.random.default_rng(3).standard_normal(out.data.shape)
    (out_t.data * torch.tensor(upstream)).sum().backward()
    (out.data * tinymm.tensor(upstream)).sum().backward()
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), atol=1e-10)


@pytest.mark.parametrize("kind", ["LSTMCell", "GRUCell", "RNNCell"])
@pytest.mark.parametrize("batched", [True, False])
def test_cells_match_torch(kind, batched):
    torch = pytest.importorskip("torch")
    tinymm.manual_seed(1)
    ours = getattr(nn, kind)(3, 2).double()
    theirs = getattr(torch.nn, kind)(3, 2).double()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    theirs.load_state_dict({k: torch.tensor(np.asarray(v))
                            for k, v in ours.state_dict().items()})
    rng = np.random.default_rng(4)
    shape = (4, 3) if batched else (3,)
    xs = [rng.standard_normal(shape) for _ in range(3)]  # three steps, carrying the state
    state = state_t = None
    for x in xs:
        state = ours(tinymm.tensor(x), state)
        state_t = theirs(torch.tensor(x), state_t)
    pairs = zip(state, state_t) if kind == "LSTMCell" else [(state, state_t)]
    for s, s_t in pairs:
        assert tuple(s.shape) == tuple(s_t.shape)
        np.testing.assert_allclose(s.detach().numpy(), s_t.detach().numpy(), atol=1e-12)


@pytest.mark.parametrize("kind", ["LSTMCell", "GRUCell", "RNNCell"])
def test_cell_gradients_by_finite_differences(kind):
    tinymm.manual_seed(2)
    cell = getattr(nn, kind)(2, 3, bias=kind != "RNNCell").double()
    rng = np.random.default_rng(5)
    x, h = rng.standard_normal((2, 2)), rng.standard_normal((2, 3))
    weights = [cell.weight_ih.detach().numpy().copy(), cell.weight_hh.detach().numpy().copy()]
    tinymm.gradcheck(lambda *args: _with_weights(cell, *args), [x, h, *weights])


def _with_weights(cell, x, h, w_ih, w_hh):
    """The cell's step from (x, h) with its weights replaced by w_ih, w_hh."""
    saved = cell.weight_ih, cell.weight_hh
    object.__setattr__(cell, "weight_ih", w_ih)
    object.__setattr__(cell, "weight_hh", w_hh)
    try:
        hx = (h, h * 0.5) if isinstance(cell, nn.LSTMCell) else h
        out = cell(x, hx)
    finally:
        object.__setattr__(cell, "weight_ih", saved[0])
        object.__setattr__(cell, "weight_hh", saved[1])
    return out[0] * out[1] if isinstance(cell, nn.LSTMCell) else out


def test_cell_bad_input():
    cell = nn.LSTMCell(3, 2)
    with pytest.raises(ValueError, match="LSTMCell: input has 4 features"):
        cell(tinymm.zeros(5, 4))
    with pytest.raises(ValueError, match="LSTMCell: expected input to be 1-d"):
        cell(tinymm.zeros(1, 5, 3))
    with pytest.raises(ValueError, match=r"GRUCell: the hidden state must have shape \(5, 2\)"):
        nn.GRUCell(3, 2)(tinymm.zeros(5, 3), tinymm.zeros(4, 2))
    assert nn.RNNCell(3, 2, bias=False).bias_ih is None
