"""Differential tests: the same call on tinymm and on PyTorch, on the same inputs.

Each table row is one program line that a PyTorch user writes; ``m`` is the module it runs
under (``tinymm`` or ``torch``). The test compares what comes back: values, dtypes and shapes,
and for the gradient table the input gradients too. A row here is a promise that the name does
what PyTorch's does, silently wrong answers included (defaults, promotion, ties, edge values).
"""

import numpy as np
import pytest

import tinymm

torch = pytest.importorskip("torch")


def _numpy(x):
    """A result as NumPy (tuples and lists elementwise; Python scalars as 0-d arrays)."""
    if isinstance(x, (tuple, list)):
        return [_numpy(item) for item in x]
    if isinstance(x, torch.Tensor):
        return x.detach().numpy()
    if isinstance(x, tinymm.Tensor):
        return np.asarray(x.detach().numpy())
    return np.asarray(x)


def _flat(x):
    x = _numpy(x)
    return x if isinstance(x, list) else [x]


def _assert_same(ours, theirs, tol=1e-5):
    """Same length, shapes, dtypes and values (NaN equal to NaN)."""
    ours, theirs = _flat(ours), _flat(theirs)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        if isinstance(a, list):
            _assert_same(a, b, tol)
            continue
        assert a.shape == b.shape, (a.shape, b.shape)
        assert a.dtype == b.dtype, (a.dtype, b.dtype)
        if a.dtype.kind in "biuU":
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol, equal_nan=True)


def _ints(m):
    return m.tensor([-7, -3, 0, 3, 7])


def _divisors(m):
    return m.tensor([2, -2, 3, 3, -4])


def _halves(m):
    return m.tensor([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5])


def _grid(m):
    return m.tensor([[1.0, 2, 4], [3, 5, 9]])


# ---------------------------------------------------------------- values, dtypes and shapes
VALUES = {
    # promotion and integer arithmetic
    "int + float scalar": lambda m: _ints(m) + 1.5,
    "int * float scalar": lambda m: _ints(m) * 2.0,
    "int / int is true division": lambda m: _ints(m) / _divisors(m),
    "int / int scalar": lambda m: _ints(m) / 2,
    "int // int floors negatives": lambda m: _ints(m) // _divisors(m),
    "int % int takes the divisor's sign": lambda m: _ints(m) % _divisors(m),
    "int // scalar": lambda m: _ints(m) // 2,
    "int % negative scalar": lambda m: _ints(m) % -2,
    "float // and % floor": lambda m: (m.tensor([-7.0, 7, -7.5]) // m.tensor([2.0, -2, 2]),
                                       m.tensor([-7.0, 7, -7.5]) % m.tensor([2.0, -2, 2])),
    "scalar - int": lambda m: 1 - _ints(m),
    "scalar / int": lambda m: 1 / _divisors(m),
    "float scalar ** int": lambda m: 2.0 ** _divisors(m),
    "scalar // int": lambda m: 7 // _divisors(m),
    "int ** 2": lambda m: _ints(m) ** 2,
    "int ** 0.5": lambda m: _divisors(m).abs() ** 0.5,
    "bool + bool": lambda m: m.tensor([True, False]) + m.tensor([True, True]),
    "bool * int": lambda m: m.tensor([True, False]) * 3,
    "int * bool": lambda m: _ints(m) * (_ints(m) > 0),
    "int tensor + float tensor": lambda m: _ints(m) + m.tensor([1.0, 2, 3, 4, 5]),
    "float32 + float64 0-d": lambda m: m.tensor([1.0, 2.0]) + m.tensor(1.0, dtype=m.float64),
    "int32 + int64": lambda m: m.tensor([1], dtype=m.int32) + m.tensor([1]),
    "int32 + int scalar": lambda m: m.tensor([1], dtype=m.int32) + 5,
    "float16 + float scalar": lambda m: m.tensor([1.0], dtype=m.float16) + 1.0,
    "sqrt and exp of int": lambda m: (m.tensor([4, 9]).sqrt(), m.tensor([0, 1]).exp()),
    "where int and float scalar": lambda m: m.where(_ints(m) > 0, _ints(m), 0.5),
    "maximum int and float": lambda m: m.maximum(_ints(m), m.tensor([0.5] * 5)),
    "matmul int": lambda m: m.tensor([[1, 2]]) @ m.tensor([[3], [4]]),
    "cat int with float": lambda m: m.cat([_ints(m), _halves(m)]),
    "stack int with float": lambda m: m.stack([_ints(m), _halves(m)[:5]], 1),
    "clamp int to float bounds": lambda m: _ints(m).clamp(-1.5, 1.5),
    "clamp int to int bounds": lambda m: _ints(m).clamp(-1, 1),
    # reductions' dtypes
    "sum int64": lambda m: _ints(m).sum(),
    "sum int32 gives int64": lambda m: m.tensor([1, 2, 3], dtype=m.int32).sum(),
    "cumsum int32 gives int64": lambda m: m.tensor([1, 2, 3], dtype=m.int32).cumsum(0),
    "sum and cumsum bool": lambda m: ((_ints(m) > 0).sum(), (_ints(m) > 0).cumsum(0)),
    "prod int gives int64": lambda m: (_ints(m).prod(), _divisors(m).prod(),
                                       m.tensor([[2, 3], [4, 5]], dtype=m.int32).prod(1)),
    "sum with dtype": lambda m: _ints(m).sum(dtype=m.float32),
    "comparisons give bool": lambda m: (_ints(m) > 0, _ints(m) == 3, _halves(m) <= 0.5),
    "all and any": lambda m: (_ints(m).all(), _ints(m).any()),
    "count_nonzero and nonzero": lambda m: (m.count_nonzero(_ints(m)), m.nonzero(_ints(m))),
    # factories
    "arange int": lambda m: m.arange(5),
    "arange float step": lambda m: m.arange(0, 1, 0.25),
    "arange float start": lambda m: m.arange(1.0, 4),
    "arange negative step": lambda m: m.arange(5, 0, -2),
    "linspace": lambda m: (m.linspace(0, 1, 5), m.linspace(0, 1, 1)),
    "zeros_like keeps int": lambda m: m.zeros_like(_ints(m)),
    "ones_like": lambda m: m.ones_like(_halves(m)),
    "full infers dtype": lambda m: (m.full((2,), 3), m.full((2,), 3.0), m.full((2,), True)),
    "tensor from float64 array": lambda m: m.tensor(np.array([1.0, 2.0])),
    "tensor from list": lambda m: (m.tensor([1.0, 2.0]), m.tensor([1, 2]), m.tensor([True])),
    "eye rectangular": lambda m: m.eye(2, 3),
    "tril and triu offsets": lambda m: (m.tril(m.ones(3, 3), -1), m.triu(m.ones(3, 3), 1)),
    # pointwise numerics
    "round half to even": lambda m: _halves(m).round(),
    "clamp min > max gives max": lambda m: _halves(m).clamp(min=1.0, max=0.0),
    "pow of negative base": lambda m: (m.tensor([-2.0, -8.0]) ** (1 / 3),
                                       m.tensor([-2.0, -3.0]) ** 2),
    "sign trunc floor": lambda m: (_halves(m).sign(), _halves(m).trunc(), _halves(m).floor()),
    "abs and neg of int": lambda m: (_ints(m).abs(), -_ints(m)),
    "remainder and fmod": lambda m: (m.remainder(_halves(m), 2), m.fmod(_halves(m), 2)),
    "bitwise bool": lambda m: (m.tensor([True, False]) & m.tensor([True, True]),
                               ~m.tensor([True, False]),
                               m.tensor([True, False]) ^ m.tensor([True, True])),
    "nan through minimum, max, clamp, relu": lambda m: (
        m.minimum(m.tensor([float("nan"), 1.0]), m.tensor([0.0, 2.0])),
        m.tensor([float("nan"), 1.0]).max(), m.tensor([float("nan")]).clamp(0, 1),
        m.relu(m.tensor([float("nan")]))),
    "argmax of nan": lambda m: m.tensor([1.0, float("nan"), 3.0]).argmax(),
    "softmax and log_softmax of -inf": lambda m: (
        m.softmax(m.tensor([0.0, -float("inf"), 1.0]), dim=0),
        m.log_softmax(m.tensor([0.0, -float("inf"), 1.0]), dim=0)),
    "logsumexp with -inf": lambda m: m.logsumexp(m.tensor([[1.0, 3], [2, -float("inf")]]), 1),
    # reductions
    "mean and sum over a dim tuple": lambda m: (m.ones(2, 3, 4).mean((0, 2)),
                                               m.ones(2, 3, 4).sum(-1, keepdim=True)),
    "var and std are unbiased": lambda m: (_halves(m).var(), _halves(m).std()),
    "var unbiased=False and correction=0": lambda m: (_halves(m).var(unbiased=False),
                                                     _halves(m).var(correction=0)),
    "var keepdim and std dim": lambda m: (_grid(m).var(1, keepdim=True), _grid(m).std(0)),
    "std of one element is nan": lambda m: m.tensor([1.0]).std(),
    "sum of empty": lambda m: m.zeros(0).sum(),
    "argmax and argmin take the first tie": lambda m: (
        m.tensor([1, 3, 3, 2]).argmax(), m.tensor([1, 0, 3, 0]).argmin(),
        m.tensor([[1, 3, 3], [5, 5, 1]]).argmax(1)),
    "max and min with dim give values and first indices": lambda m: (
        tuple(m.tensor([[1, 3, 3], [5, 5, 1]]).max(1)),
        tuple(m.tensor([[1, 0, 0], [5, 5, 1]]).min(1)),
        tuple(m.tensor([[1.0, 3, 3], [5, 5, 1]]).max(dim=0, keepdim=True))),
    "max of all": lambda m: m.tensor([[1, 3, 3], [5, 5, 1]]).max(),
    "amax": lambda m: m.tensor([[1.0, 3], [2, 0]]).amax(0),
    "sort is stable": lambda m: tuple(m.sort(m.tensor([3, 1, 2, 1, 3]), stable=True)),
    "sort descending stable": lambda m: tuple(
        m.tensor([3, 1, 2, 1, 3]).sort(descending=True, stable=True)),
    "topk order": lambda m: (tuple(m.tensor([1.0, 5, 3, 4, 2]).topk(3)),
                             tuple(m.tensor([1.0, 5, 3, 4, 2]).topk(2, largest=False))),
    "median of even length is the lower": lambda m: (
        m.tensor([1.0, 4, 2, 3]).median(),
        tuple(m.tensor([[1.0, 4, 2, 3], [2, 2, 1, 1]]).median(1))),
    "mode takes the smallest of ties": lambda m: tuple(m.tensor([[1, 2, 2, 1, 3]]).mode(1)),
    "unique sorted, inverse and counts": lambda m: (
        m.unique(m.tensor([3, 1, 2, 1, 3])),
        m.unique(m.tensor([3, 1, 2, 1, 3]), return_inverse=True, return_counts=True)),
    "norm: 2, 1, inf, -inf, 0, 3": lambda m: tuple(
        m.tensor([[3.0, -4, 0], [1, 0, 0]]).norm(p=p, dim=1)
        for p in (2, 1, float("inf"), float("-inf"), 0, 3)),
    "norm of all elements": lambda m: (m.tensor([[3.0, -4]]).norm(),
                                       m.tensor([[3.0, -4]]).norm(p=float("inf"))),
    # shapes
    "flatten, squeeze": lambda m: (m.ones(2, 3, 4).flatten(1).shape,
                                   m.ones(1, 3, 1).squeeze().shape,
                                   m.ones(1, 3, 1).squeeze(1).shape),
    "chunk and split sizes": lambda m: ([c.shape for c in m.arange(7).chunk(3)],
                                        [c.shape for c in m.arange(7).split(3)],
                                        [c.shape for c in m.arange(7).split([2, 5])]),
    "lerp and addcmul": lambda m: (m.lerp(m.zeros(3), m.ones(3), 0.3),
                                   m.addcmul(m.ones(3), m.ones(3) * 2, m.ones(3) * 3, value=0.5)),
    "tolist and item types": lambda m: (str(_ints(m).tolist()), type(_ints(m)[0].item()).__name__,
                                        type(_halves(m)[0].item()).__name__),
}


@pytest.mark.parametrize("name", sorted(VALUES))
def test_values_dtypes_and_shapes_match_torch(name):
    _assert_same(VALUES[name](tinymm), VALUES[name](torch))


# ---------------------------------------------------------------- values and input gradients
_R = np.random.default_rng(0)
X = _R.standard_normal((4, 5)).astype(np.float32)
Y = _R.standard_normal((4, 5)).astype(np.float32)
X0 = X.copy()
X0[0, 0] = 0.0
X0[1] = 0.0  # an all-zero row: norms and their gradients at 0
TIES = np.array([[1.0, 3, 3], [2, 2, 2]], np.float32)
TARGET = np.array([1, 0, 4, 2])
IGNORED = np.array([1, -100, 4, 2])
W5 = _R.random(5).astype(np.float32)
PROB = np.abs(_R.standard_normal((4, 5))).astype(np.float32)
PROB /= PROB.sum(1, keepdims=True)
BITS = (_R.random((4, 5)) > 0.5).astype(np.float32)
P01 = (_R.random((4, 5)) * 0.9 + 0.05).astype(np.float32)
SIGNS = np.sign(Y)


def _F(m):
    return m.nn.functional


GRADS = {
    "norm at a zero row": (lambda m, a: a.norm(dim=1), X0),
    "norm p=3 and p=0.5 at zeros": (lambda m, a: a.norm(p=3, dim=1) + a.norm(p=0.5, dim=1), X0),
    "norm p=inf with ties": (lambda m, a: a.norm(p=float("inf"), dim=1), TIES),
    "normalize a zero row": (lambda m, a: _F(m).normalize(a), X0),
    "normalize p=1 dim=0": (lambda m, a: _F(m).normalize(a, p=1, dim=0), X),
    "cosine_similarity with a zero row": (lambda m, a, b: _F(m).cosine_similarity(a, b), X0, Y),
    "cosine_similarity dim=0": (lambda m, a, b: _F(m).cosine_similarity(a, b, dim=0), X, Y),
    "pairwise_distance": (lambda m, a, b: _F(m).pairwise_distance(a, b), X, Y),
    "cdist of a set with itself": (lambda m, a: m.cdist(a, a), X),
    "cdist p=1.5 with itself": (lambda m, a: m.cdist(a, a, p=1.5), X),
    "prod": (lambda m, a: a.prod(), X),
    "var and std": (lambda m, a: a.var(1) + a.std(0, keepdim=True).sum(), X),
    "max with dim at ties": (lambda m, a: a.max(1)[0], TIES),
    "amax at ties splits": (lambda m, a: a.amax(1), TIES),
    "max and min of all at ties": (lambda m, a: a.max() + a.min(), TIES),
    "median": (lambda m, a: a.median(), X),
    "sort and topk": (lambda m, a: a.sort(1)[0] * 2 + a.topk(5, 1)[0], X),
    "cumsum": (lambda m, a: a.cumsum(1), X),
    "logsumexp": (lambda m, a: m.logsumexp(a, 1), X),
    "abs and relu at 0": (lambda m, a: a.abs() + m.relu(a), X0),
    "clamp at the bounds": (lambda m, a: a.clamp(0, 1), np.array([0.0, 1, 0.5, 2], np.float32)),
    "clamp min > max": (lambda m, a: a.clamp(1, 0), np.array([0.0, 1, 0.5, 2], np.float32)),
    "maximum at ties": (lambda m, a, b: m.maximum(a, b), np.array([1.0, 2], np.float32),
                        np.array([1.0, 3], np.float32)),
    "where": (lambda m, a, b: m.where(a > 0, a, b), X, Y),
    "pow with negative base": (lambda m, a: a ** 2 + a ** 3, X),
    "pow with tensor exponent": (lambda m, a, b: a.abs() ** b, X, Y),
    "gelu exact and tanh": (lambda m, a: _F(m).gelu(a) + _F(m).gelu(a, approximate="tanh"), X),
    "silu, elu, leaky_relu, mish": (lambda m, a: _F(m).silu(a) + _F(m).elu(a)
                                    + _F(m).leaky_relu(a) + _F(m).mish(a), X),
    "softplus past its threshold": (lambda m, a: _F(m).softplus(a), X * 30),
    "hardtanh and relu6": (lambda m, a: _F(m).hardtanh(a) + _F(m).relu6(a * 5), X * 2),
    "logsigmoid": (lambda m, a: _F(m).logsigmoid(a * 20), X),
    "glu": (lambda m, a: _F(m).glu(a[:, :4]), X),
    "log_softmax beside -inf": (lambda m, a: _F(m).log_softmax(
        a + m.tensor([0.0, -float("inf"), 0, 0, 0]), dim=1)[:, [0, 2]], X),
    "cross_entropy": (lambda m, a: _F(m).cross_entropy(a, m.tensor(TARGET)), X),
    "cross_entropy ignore_index": (lambda m, a: _F(m).cross_entropy(a, m.tensor(IGNORED)), X),
    "cross_entropy custom ignore_index": (lambda m, a: _F(m).cross_entropy(
        a, m.tensor(np.array([1, 3, 4, 3])), ignore_index=3), X),
    "cross_entropy weight is a weighted mean": (lambda m, a: _F(m).cross_entropy(
        a, m.tensor(IGNORED), weight=m.tensor(W5)), X),
    "cross_entropy weight sum and none": (lambda m, a: (
        _F(m).cross_entropy(a, m.tensor(TARGET), weight=m.tensor(W5), reduction="sum"),
        _F(m).cross_entropy(a, m.tensor(IGNORED), weight=m.tensor(W5), reduction="none")), X),
    "cross_entropy (N, C, d)": (lambda m, a: _F(m).cross_entropy(
        a.reshape(2, 5, 2), m.tensor(np.array([[1, 2], [3, -100]]))), X),
    "nll_loss weighted mean and sum": (lambda m, a: (
        _F(m).nll_loss(a, m.tensor(IGNORED), weight=m.tensor(W5)),
        _F(m).nll_loss(a, m.tensor(IGNORED), weight=m.tensor(W5), reduction="sum")), X),
    "binary_cross_entropy and weight": (lambda m, a: (
        _F(m).binary_cross_entropy(a, m.tensor(BITS)),
        _F(m).binary_cross_entropy(a, m.tensor(BITS), weight=m.tensor(W5))), P01),
    "binary_cross_entropy clamps log(0) to -100": (
        lambda m, a: _F(m).binary_cross_entropy(a * 0, m.tensor(BITS)), P01),
    "bce_with_logits pos_weight and weight": (lambda m, a: (
        _F(m).binary_cross_entropy_with_logits(a, m.tensor(BITS), pos_weight=m.tensor(W5)),
        _F(m).binary_cross_entropy_with_logits(a, m.tensor(BITS), weight=m.tensor(W5),
                                               reduction="sum")), X),
    "bce_with_logits soft targets, large logits": (
        lambda m, a: _F(m).binary_cross_entropy_with_logits(a * 30, m.tensor(P01)), X),
    "mse and l1": (lambda m, a, b: (_F(m).mse_loss(a, b), _F(m).mse_loss(a, b, reduction="sum"),
                                    _F(m).l1_loss(a, b)), X, Y),
    "smooth_l1 beta": (lambda m, a, b: (_F(m).smooth_l1_loss(a, b),
                                        _F(m).smooth_l1_loss(a, b, beta=0.5),
                                        _F(m).smooth_l1_loss(a, b, beta=0.0)), X, Y),
    "huber delta": (lambda m, a, b: (_F(m).huber_loss(a, b),
                                     _F(m).huber_loss(a, b, delta=0.5)), X * 2, Y),
    "kl_div reductions and log_target": (lambda m, a: (
        _F(m).kl_div(a.log_softmax(1), m.tensor(PROB), reduction="batchmean"),
        _F(m).kl_div(a.log_softmax(1), m.tensor(PROB)),
        _F(m).kl_div(a.log_softmax(1), m.tensor(np.log(PROB)), reduction="sum",
                     log_target=True)), X),
    "kl_div with zero targets": (lambda m, a: _F(m).kl_div(
        a.log_softmax(1), m.tensor(np.where(PROB > 0.2, PROB, 0)), reduction="sum"), X),
    "margin_ranking, triplet, cosine_embedding": (lambda m, a, b: (
        _F(m).margin_ranking_loss(a, b, m.tensor(SIGNS), margin=0.1),
        _F(m).triplet_margin_loss(a, b, b.flip(0)),
        _F(m).cosine_embedding_loss(a, b, m.tensor(np.array([1, -1, 1, -1])))), X, Y),
    "dropout in eval is the identity": (lambda m, a: _F(m).dropout(a, 0.5, training=False), X),
    "pad constant, reflect, replicate, circular": (lambda m, a: (
        _F(m).pad(a, (1, 2)), _F(m).pad(a, (1, 1, 2, 0), value=3.0),
        _F(m).pad(a[None], (1, 2), mode="reflect"), _F(m).pad(a[None], (1, 2), mode="replicate"),
        _F(m).pad(a[None], (1, 2), mode="circular")), X),
    "embedding padding_idx gets no gradient": (lambda m, a: _F(m).embedding(
        m.tensor(np.array([0, 1, 1, 2])), a, padding_idx=1), X),
    "linear without bias": (lambda m, a, b: _F(m).linear(a, b), X, Y),
}


def _run(m, fn, arrays):
    inputs = [m.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    return inputs, fn(m, *inputs)


def _total(out, upstream):
    """A scalar to differentiate: each output dotted with a fixed random upstream gradient."""
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return sum((o * type(o)(upstream(o.shape))).sum() for o in outs)


def _same_values_and_grads(fn, arrays, differentiated=lambda out: out):
    """``fn(m, *inputs)`` on both: the same outputs, then the same input gradients of the
    ``differentiated`` outputs dotted with one fixed random upstream gradient."""
    ours_in, ours = _run(tinymm, fn, arrays)
    theirs_in, theirs = _run(torch, fn, arrays)
    _assert_same(ours, theirs)

    def upstream(shape):
        return np.random.default_rng(1).standard_normal(tuple(shape)).astype(np.float32)

    _total(differentiated(ours), upstream).backward()
    _total(differentiated(theirs), upstream).backward()
    for a, b in zip(ours_in, theirs_in):
        if b.grad is not None:
            assert a.grad is not None
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", sorted(GRADS))
def test_values_and_gradients_match_torch(name):
    fn, *arrays = GRADS[name]
    _same_values_and_grads(fn, arrays)


# ---------------------------------------------------------------- optimizers and schedulers
_W0 = [_R.standard_normal((3, 4)).astype(np.float32), _R.standard_normal(4).astype(np.float32)]
_STEP_GRADS = [[_R.standard_normal(w.shape).astype(np.float32) for w in _W0] for _ in range(6)]

OPTIMIZERS = {
    "SGD": lambda m, p: m.optim.SGD(p, lr=0.1),
    "SGD momentum": lambda m, p: m.optim.SGD(p, lr=0.1, momentum=0.9),
    "SGD dampening": lambda m, p: m.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.5),
    "SGD nesterov": lambda m, p: m.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
    "SGD weight_decay": lambda m, p: m.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.1),
    "SGD param groups": lambda m, p: m.optim.SGD([{"params": [p[0]]},
                                                  {"params": [p[1]], "lr": 0.5}],
                                                 lr=0.1, momentum=0.9),
    "Adam": lambda m, p: m.optim.Adam(p, lr=0.01),
    "Adam weight_decay (L2)": lambda m, p: m.optim.Adam(p, lr=0.01, weight_decay=0.1),
    "Adam amsgrad": lambda m, p: m.optim.Adam(p, lr=0.01, amsgrad=True),
    "Adam betas eps": lambda m, p: m.optim.Adam(p, lr=0.01, betas=(0.5, 0.6), eps=1e-3),
    "AdamW (default decay 0.01)": lambda m, p: m.optim.AdamW(p, lr=0.01),
    "AdamW decay amsgrad": lambda m, p: m.optim.AdamW(p, lr=0.01, weight_decay=0.3,
                                                      amsgrad=True),
    "RMSprop": lambda m, p: m.optim.RMSprop(p, lr=0.01),
    "RMSprop centered momentum": lambda m, p: m.optim.RMSprop(
        p, lr=0.01, centered=True, momentum=0.9, weight_decay=0.1),
    "RMSprop alpha eps": lambda m, p: m.optim.RMSprop(p, lr=0.01, alpha=0.5, eps=1e-3),
    "Adagrad": lambda m, p: m.optim.Adagrad(p, lr=0.1),
    "Adagrad lr_decay": lambda m, p: m.optim.Adagrad(
        p, lr=0.1, lr_decay=0.1, weight_decay=0.1, initial_accumulator_value=0.5),
    "Adadelta": lambda m, p: m.optim.Adadelta(p),
    "Adadelta lr rho decay": lambda m, p: m.optim.Adadelta(p, lr=0.5, rho=0.5, weight_decay=0.1),
    "RAdam": lambda m, p: m.optim.RAdam(p, lr=0.01),
    "RAdam weight_decay": lambda m, p: m.optim.RAdam(p, lr=0.01, weight_decay=0.1),
    "RAdam decoupled": lambda m, p: m.optim.RAdam(p, lr=0.01, weight_decay=0.1,
                                                  decoupled_weight_decay=True),
    "Adamax": lambda m, p: m.optim.Adamax(p, lr=0.01, weight_decay=0.1),
    "NAdam": lambda m, p: m.optim.NAdam(p, lr=0.01),
    "NAdam momentum_decay": lambda m, p: m.optim.NAdam(p, lr=0.01, weight_decay=0.1,
                                                       momentum_decay=0.01),
    "NAdam decoupled": lambda m, p: m.optim.NAdam(p, lr=0.01, weight_decay=0.1,
                                                  decoupled_weight_decay=True),
}


def _lr(m):
    return m.optim.lr_scheduler


SCHEDULERS = {
    "StepLR": lambda m, o: _lr(m).StepLR(o, 2, gamma=0.5),
    "MultiStepLR": lambda m, o: _lr(m).MultiStepLR(o, [1, 3], gamma=0.5),
    "ExponentialLR": lambda m, o: _lr(m).ExponentialLR(o, 0.9),
    "CosineAnnealingLR": lambda m, o: _lr(m).CosineAnnealingLR(o, 4, eta_min=0.01),
    "CosineAnnealingWarmRestarts": lambda m, o: _lr(m).CosineAnnealingWarmRestarts(o, 2,
                                                                                  T_mult=2),
    "LambdaLR": lambda m, o: _lr(m).LambdaLR(o, lambda e: 1 / (e + 1)),
    "LinearLR": lambda m, o: _lr(m).LinearLR(o, start_factor=0.25, total_iters=3),
    "ConstantLR": lambda m, o: _lr(m).ConstantLR(o, factor=0.5, total_iters=2),
    "PolynomialLR": lambda m, o: _lr(m).PolynomialLR(o, total_iters=4, power=2),
    "OneCycleLR": lambda m, o: _lr(m).OneCycleLR(o, max_lr=1.0, total_steps=6),
    "OneCycleLR linear three_phase": lambda m, o: _lr(m).OneCycleLR(
        o, max_lr=1.0, total_steps=6, anneal_strategy="linear", three_phase=True),
    "CyclicLR": lambda m, o: _lr(m).CyclicLR(o, 0.01, 0.1, step_size_up=2),
    "CyclicLR triangular2": lambda m, o: _lr(m).CyclicLR(o, 0.01, 0.1, step_size_up=1,
                                                         mode="triangular2"),
    "SequentialLR": lambda m, o: _lr(m).SequentialLR(
        o, [_lr(m).LinearLR(o, 0.5, total_iters=2), _lr(m).ExponentialLR(o, 0.9)],
        milestones=[2]),
    "ChainedScheduler": lambda m, o: _lr(m).ChainedScheduler(
        [_lr(m).ConstantLR(o, factor=0.5, total_iters=3), _lr(m).ExponentialLR(o, 0.9)]),
}


def _train(m, make_optimizer, make_scheduler=None):
    """Six steps on fixed gradients (growing with the step); the parameters and the lrs."""
    params = [m.nn.Parameter(m.tensor(w.copy())) for w in _W0]
    optimizer = make_optimizer(m, params)
    scheduler = make_scheduler(m, optimizer) if make_scheduler else None
    lrs = []
    for step, grads in enumerate(_STEP_GRADS):
        optimizer.zero_grad()
        for p, g in zip(params, grads):
            p.grad = m.tensor(g * (1 + step))
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
            lrs.append(scheduler.get_last_lr())
    return [p.detach().numpy() for p in params], np.array(lrs, np.float64)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_steps_match_torch(name):
    ours, _ = _train(tinymm, OPTIMIZERS[name])
    theirs, _ = _train(torch, OPTIMIZERS[name])
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_scheduler_lrs_match_torch(name):
    def sgd(m, p):
        return m.optim.SGD(p, lr=0.1, momentum=0.9)  # the cyclic ones cycle momentum too

    ours_params, ours = _train(tinymm, sgd, SCHEDULERS[name])
    theirs_params, theirs = _train(torch, sgd, SCHEDULERS[name])
    np.testing.assert_allclose(ours, theirs, rtol=1e-7)
    for a, b in zip(ours_params, theirs_params):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_reduce_lr_on_plateau_matches_torch():
    def lrs(m):
        optimizer = m.optim.SGD([m.nn.Parameter(m.tensor(_W0[1].copy()))], lr=1.0)
        plateau = _lr(m).ReduceLROnPlateau(optimizer, patience=1, factor=0.5, threshold=0.1,
                                           cooldown=1)
        out = []
        for metric in (1.0, 0.95, 0.95, 0.95, 0.5, 0.5, 0.5, 0.5, 0.5):
            plateau.step(metric)
            out.append(optimizer.param_groups[0]["lr"])
        return out

    assert lrs(tinymm) == lrs(torch)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
def test_clip_grad_norm_returns_the_norm_as_torch(norm_type):
    def clip(m):
        params = [m.nn.Parameter(m.tensor(w.copy())) for w in _W0]
        for p, g in zip(params, _STEP_GRADS[0]):
            p.grad = m.tensor(g)
        total = m.nn.utils.clip_grad_norm_(params, 0.5, norm_type=norm_type)
        return [total] + [p.grad for p in params]

    _assert_same(clip(tinymm), clip(torch))  # the norm a 0-d float32 tensor, as torch's


# ---------------------------------------------------------------- layers: state, outputs, grads
def _nn(m):
    return m.nn


# name: (layer, input shape, training); three steps in that mode, then one in eval
MODULES = {
    "BatchNorm1d running stats (unbiased var)": (lambda m: _nn(m).BatchNorm1d(5), (8, 5), True),
    "BatchNorm1d on (N, C, L)": (lambda m: _nn(m).BatchNorm1d(5), (4, 5, 3), True),
    "BatchNorm1d momentum=None (cumulative)": (
        lambda m: _nn(m).BatchNorm1d(5, momentum=None), (8, 5), True),
    "BatchNorm1d momentum and eps": (
        lambda m: _nn(m).BatchNorm1d(5, momentum=0.5, eps=1e-3), (8, 5), True),
    "BatchNorm2d affine=False": (lambda m: _nn(m).BatchNorm2d(3, affine=False), (4, 3, 5, 5),
                                 True),
    "BatchNorm2d track_running_stats=False": (
        lambda m: _nn(m).BatchNorm2d(3, track_running_stats=False), (4, 3, 5, 5), True),
    "LayerNorm over two dims": (lambda m: _nn(m).LayerNorm((3, 5)), (4, 3, 5), True),
    "LayerNorm bias=False": (lambda m: _nn(m).LayerNorm(5, bias=False), (4, 5), True),
    "GroupNorm": (lambda m: _nn(m).GroupNorm(2, 4), (3, 4, 5, 5), True),
    "InstanceNorm2d with running stats": (
        lambda m: _nn(m).InstanceNorm2d(3, affine=True, track_running_stats=True),
        (2, 3, 5, 5), True),
    "Conv2d padding='same' with an even kernel": (
        lambda m: _nn(m).Conv2d(2, 3, 4, padding="same"), (2, 2, 7, 7), True),
    "Conv2d padding='same' dilated": (
        lambda m: _nn(m).Conv2d(2, 3, (2, 3), padding="same", dilation=2), (2, 2, 7, 7), True),
    "Conv1d padding='same' even kernel": (
        lambda m: _nn(m).Conv1d(2, 3, 4, padding="same"), (2, 2, 9), True),
    "ConvTranspose2d output_padding": (lambda m: _nn(m).ConvTranspose2d(
        2, 3, 3, stride=2, padding=1, output_padding=1), (2, 2, 4, 4), True),
    "MaxPool2d padding": (lambda m: _nn(m).MaxPool2d(3, stride=2, padding=1), (2, 2, 6, 6), True),
    "AvgPool2d padding counts the pad": (
        lambda m: _nn(m).AvgPool2d(3, stride=2, padding=1), (2, 2, 6, 6), True),
    "AdaptiveAvgPool2d uneven bins": (lambda m: _nn(m).AdaptiveAvgPool2d((3, 2)), (2, 2, 7, 5),
                                      True),
    "Upsample nearest scale 1.5": (lambda m: _nn(m).Upsample(scale_factor=1.5), (2, 2, 3, 3),
                                   True),
    "Upsample bilinear": (lambda m: _nn(m).Upsample(scale_factor=2, mode="bilinear"),
                          (2, 2, 3, 3), True),
    "Upsample bilinear align_corners": (lambda m: _nn(m).Upsample(
        scale_factor=2, mode="bilinear", align_corners=True), (2, 2, 3, 3), True),
    "Upsample bilinear scale 1.7": (lambda m: _nn(m).Upsample(scale_factor=1.7, mode="bilinear"),
                                    (2, 2, 3, 3), True),
    "Upsample linear scale 2.5": (lambda m: _nn(m).Upsample(scale_factor=2.5, mode="linear"),
                                  (2, 2, 4), True),
    "Dropout in eval": (lambda m: _nn(m).Dropout(0.3), (4, 5), False),
    "PReLU per channel": (lambda m: _nn(m).PReLU(3), (2, 3, 4), True),
    "LSTM two layers, bidirectional, batch_first": (lambda m: _nn(m).LSTM(
        3, 4, num_layers=2, bidirectional=True, batch_first=True), (2, 5, 3), True),
    "GRU bidirectional": (lambda m: _nn(m).GRU(3, 4, bidirectional=True), (5, 2, 3), True),
    "RNN relu without bias": (lambda m: _nn(m).RNN(3, 4, nonlinearity="relu", bias=False),
                              (5, 2, 3), True),
    "LSTMCell and GRUCell": (lambda m: _nn(m).LSTMCell(3, 4), (2, 3), True),
}


def _module_steps(m, name, state):
    make, shape, training = MODULES[name]
    torch.manual_seed(0)
    layer = make(m)
    if state is not None:
        layer.load_state_dict({k: m.tensor(v) for k, v in state.items()})
    layer.train(training)
    rng, seen = np.random.default_rng(2), []
    for step in range(4):
        if step == 3:
            layer.eval()
        x = m.tensor((rng.standard_normal(shape) * 2 + 1).astype(np.float32),
                     requires_grad=True)
        out = layer(x)
        out = out[0] if isinstance(out, tuple) else out
        (out * m.tensor(rng.standard_normal(tuple(out.shape)).astype(np.float32))).sum().backward()
        seen += [out, x.grad] + [p.grad for p in layer.parameters()]
    return seen, {k: np.asarray(v.numpy() if hasattr(v, "numpy") else v)
                  for k, v in layer.state_dict().items()}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_layers_match_torch_over_training_steps(name):
    torch.manual_seed(0)
    initial = {k: v.numpy().copy() for k, v in MODULES[name][0](torch).state_dict().items()}
    theirs, their_state = _module_steps(torch, name, None)
    ours, our_state = _module_steps(tinymm, name, initial)
    _assert_same(ours, theirs, tol=1e-4)
    assert sorted(our_state) == sorted(their_state)
    for key, value in their_state.items():  # running statistics after the steps
        np.testing.assert_allclose(our_state[key], value, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- autograd and aliasing
def _leaf(m, values=(1.0, 2.0)):
    return m.tensor(list(values), requires_grad=True)


def _accumulates(m):
    x = _leaf(m)
    (x * x).sum().backward()
    (x * 3).sum().backward()
    return x.grad


def _retain_graph(m):
    x = _leaf(m)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    return x.grad


def _no_grad_in_place(m):
    x = _leaf(m)
    with m.no_grad():
        x.add_(1)
        x.mul_(2)
        y = x * 2
    return x.detach(), x.requires_grad, y.requires_grad


def _detach_shares(m):
    x = _leaf(m)
    d = x.detach()
    d[0] = 5.0
    x.data.mul_(2)
    return x.detach(), d.requires_grad


def _propagation(m):
    x, y = _leaf(m), m.tensor([1.0, 2.0])
    return ((x + y).requires_grad, (y * 2).requires_grad, x.detach().requires_grad,
            (x > 1).requires_grad, x.argmax().requires_grad)


def _retain_grad(m):
    x = _leaf(m)
    y = x * 2
    y.retain_grad()
    (y * y).sum().backward()
    return y.grad, x.is_leaf, y.is_leaf


def _view_backward(m):
    x = m.tensor([[1.0, 2, 3], [4, 5, 6]], requires_grad=True)
    x.view(3, 2)[1:].t().sum().backward()
    return x.grad


def _repeated_index(m):
    x = _leaf(m, (1.0, 2.0, 3.0))
    x[m.tensor([0, 0, 2, 0])].sum().backward()
    return x.grad


def _mask_index(m):
    x = _leaf(m, (1.0, -2.0, 3.0))
    (x[x > 0] * 2).sum().backward()
    return x.grad


def _broadcast_backward(m):
    x = m.tensor([[1.0], [2.0]], requires_grad=True)
    b = _leaf(m, (1.0, 2.0, 3.0))
    (x * b).sum().backward()
    return x.grad, b.grad


def _setitem_in_graph(m):
    x, w = _leaf(m, (1.0, 2.0, 3.0)), m.tensor(5.0, requires_grad=True)
    y = x * 1
    y[0] = 10.0
    y[1] = w * 2
    (y * y).sum().backward()
    return x.grad, w.grad


def _in_place_in_graph(m):
    x = _leaf(m)
    y = x * 2
    y += x
    z = x + 0
    z *= x
    (y + z).sum().backward()
    return x.grad


def _views_share(m):
    x = m.zeros(2, 3)
    x.view(6)[0] = 1
    x.reshape(3, 2)[0, 1] = 2
    x.t()[2, 0] = 3
    x[1:, :2] += 4
    x.unsqueeze(0)[0, 1, 2] = 5
    return x


def _copies(m):
    x = m.zeros(4)
    s = x[m.tensor([1, 2])]
    s += 1  # advanced indexing copies
    a = np.zeros(3, np.float32)
    m.tensor(a).add_(1)  # tensor() copies
    m.from_numpy(a).add_(2)  # from_numpy shares
    return x, m.tensor(a)


def _in_place_returns_self(m):
    x = m.zeros(3)
    return x.add_(1) is x, x.zero_() is x, x.fill_(2) is x, x.clamp_(0, 1) is x


def _same_dtype_to_is_self(m):
    x = m.zeros(3)
    return x.to(m.float32) is x, x.float() is x, x.to(m.float64) is x


def _in_place_promotion(m):
    x = m.zeros(3)
    x += m.tensor([1, 2, 3])  # an int into float32 stays float32
    return x


def _module_zero_grad(m):
    lin = m.nn.Linear(2, 1)
    lin(m.ones(1, 2)).sum().backward()
    m.optim.SGD(lin.parameters(), lr=0.1).zero_grad()  # set_to_none=True
    return lin.weight.grad is None


def _scatter_family(m):
    x = m.zeros(3)
    return (x.index_add(0, m.tensor([0, 0, 2]), m.tensor([1.0, 2.0, 3.0])),
            x.scatter_add(0, m.tensor([0, 0, 2]), m.tensor([1.0, 2.0, 3.0])),
            m.zeros(2, 3).scatter(1, m.tensor([[2], [0]]), 7.0),
            m.arange(6.0).reshape(2, 3).gather(1, m.tensor([[2, 2], [0, 1]])))


AUTOGRAD = {fn.__name__.strip("_").replace("_", " "): fn for fn in (
    _accumulates, _retain_graph, _no_grad_in_place, _detach_shares, _propagation,
    _retain_grad, _view_backward, _repeated_index, _mask_index, _broadcast_backward,
    _setitem_in_graph, _in_place_in_graph, _views_share, _copies, _in_place_returns_self,
    _same_dtype_to_is_self, _in_place_promotion, _module_zero_grad, _scatter_family)}


@pytest.mark.parametrize("name", sorted(AUTOGRAD))
def test_autograd_and_aliasing_match_torch(name):
    _assert_same(AUTOGRAD[name](tinymm), AUTOGRAD[name](torch))


@pytest.mark.parametrize("name", ["backward twice without retain_graph",
                                  "in-place on a leaf that needs grad",
                                  "in-place on a tensor saved for backward"])
def test_autograd_errors_as_torch(name):
    def run(m):
        x = _leaf(m)
        if name.startswith("backward"):
            y = (x * x).sum()
            y.backward()
            y.backward()
        elif "leaf" in name:
            x.add_(1)
        else:
            y = x * 1
            z = y * y
            y.mul_(3)
            z.sum().backward()

    with pytest.raises(RuntimeError):
        run(torch)
    with pytest.raises(RuntimeError):
        run(tinymm)
