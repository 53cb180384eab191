"""Embedding: repeated indices accumulate, padding row, gradcheck, parity, torch, bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinymm
from tests.conftest import examples
from tinymm import functional as F
from tinymm import nn, tensor
from tinymm.kernels.reference import embedding as reference_embedding


@st.composite
def embedding_configs(draw):
    V, E = draw(st.integers(1, 6)), draw(st.integers(1, 4))
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    padding_idx = draw(st.one_of(st.none(), st.integers(-V, V - 1)))
    return V, E, shape, padding_idx, draw(st.integers(0, 2**16))


@given(cfg=embedding_configs())
@settings(max_examples=examples(15))
def test_embedding_gradcheck_and_parity(cfg):
    V, E, shape, padding_idx, seed = cfg
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, V, shape)  # small V: repeats are common
    weight = rng.standard_normal((V, E))
    # The padding row gets no gradient by definition, while finite differences would see it
    # move the output: hold that row constant in the checked function (mask 0 there).
    mask = np.ones((V, 1))
    if padding_idx is not None:
        mask[padding_idx] = 0

    def fn(w):
        return F.embedding(indices, w * tensor(mask) + tensor(weight * (1 - mask)), padding_idx)

    results = {}
    for backend in ("reference", "numba"):
        with tinymm.use_backend(backend):
            assert tinymm.gradcheck(fn, [weight])
            w = tensor(weight.copy(), requires_grad=True)
            out = F.embedding(indices, w, padding_idx)
            (out * tensor(np.arange(out.size, dtype=np.float64).reshape(out.shape))).sum() \
                .backward()
            results[backend] = (out.array, w.grad)
    if padding_idx is not None:
        assert np.all(results["numba"][1][padding_idx % V] == 0)
    for ref, got in zip(results["reference"], results["numba"]):
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", ["reference", "numba"])
def test_repeated_indices_accumulate(backend):
    """The np.add.at trap: weight[idx] += dout would keep only one of the three adds."""
    with tinymm.use_backend(backend):
        w = tensor(np.zeros((4, 2)), requires_grad=True)
        F.embedding(np.array([[1, 1], [1, 3]]), w).sum().backward()
    np.testing.assert_array_equal(w.grad, [[0, 0], [3, 3], [0, 0], [1, 1]])


def test_buffered_fancy_indexing_is_the_trap():
    dweight = np.zeros((3, 1))
    dweight[np.array([2, 2])] += np.ones((2, 1))  # buffered: only one add lands
    assert dweight[2, 0] == 1
    _, (_, fixed) = 0, reference_embedding.embedding_backward(
        np.ones((2, 1)), (np.array([2, 2]), (3, 1), None))
    assert fixed[2, 0] == 2


def test_layer_padding_row_and_init():
    nn.init.seed(0)
    layer = nn.Embedding(50, 8, padding_idx=-1)
    assert layer.padding_idx == 49
    assert np.all(layer.weight.array[49] == 0)
    assert 0.8 < layer.weight.array[:49].std() < 1.2  # N(0, 1)
    out = layer(np.array([[49, 3, 3]]))
    assert out.shape == (1, 3, 8) and np.all(out.array[0, 0] == 0)
    out.sum().backward()
    assert np.all(layer.weight.grad.array[49] == 0) and np.all(layer.weight.grad.array[3] == 2)


def test_matches_torch_embedding():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    ref = torch.nn.Embedding(10, 4, padding_idx=2).double()
    layer = nn.Embedding(10, 4, padding_idx=2, dtype=np.float64)
    layer.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    idx = np.array([[2, 5, 5, 9], [0, 2, 9, 9]])
    up = np.random.default_rng(0).standard_normal((2, 4, 4))
    (ref(torch.tensor(idx)) * torch.tensor(up)).sum().backward()
    out = layer(idx)
    (out * tensor(up)).sum().backward()
    np.testing.assert_allclose(out.array, ref(torch.tensor(idx)).detach().numpy())
    np.testing.assert_allclose(layer.weight.grad, ref.weight.grad.numpy())


def test_bad_input_before_any_kernel(monkeypatch):
    for name in ("reference", "numba"):
        def boom(*args, **kwargs):
            raise AssertionError("a kernel ran on bad input")

        monkeypatch.setitem(tinymm.get_backend(name).kernels, "embedding_forward", boom)
    layer = nn.Embedding(10, 3)
    with pytest.raises(ValueError, match=r"Embedding\(10, 3\): index 10 is out of range .*0 to 9"):
        layer(np.array([1, 10]))
    with pytest.raises(ValueError, match=r"Embedding\(10, 3\): index -1 is out of range"):
        layer(np.array([[-1, 2]]))
    with pytest.raises(ValueError, match=r"Embedding\(10, 3\): indices must be an integer .*float"):
        layer(tensor(np.array([1.0, 2.0])))
    with pytest.raises(ValueError, match=r"embedding: index 12 is out of range"):
        F.embedding(np.array([12]), layer.weight)
    with pytest.raises(ValueError, match=r"embedding: indices must be an integer"):
        F.embedding(np.array([0.5]), layer.weight)
    with pytest.raises(ValueError, match=r"padding_idx must be within \[-10, 9\].*got 10"):
        nn.Embedding(10, 3, padding_idx=10)
