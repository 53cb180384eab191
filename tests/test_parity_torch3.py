"""Differential tests, part three: tensor creation and manipulation, reductions with their
gradients at ties, and the losses' reductions, weights and edge cases, on tinymm and on PyTorch
from the same inputs (``m`` is the module a row runs under: ``tinymm`` or ``torch``)."""

import numpy as np
import pytest

import tinymm
from tests.test_parity_torch import _assert_same, _same_values_and_grads

torch = pytest.importorskip("torch")

_R = np.random.default_rng(3)
A = _R.standard_normal((3, 4)).astype(np.float32)
B = _R.standard_normal((4, 5)).astype(np.float32)
V3 = _R.standard_normal(3).astype(np.float32)
V4 = _R.standard_normal(4).astype(np.float32)
BATCH = _R.standard_normal((2, 3, 4)).astype(np.float32)
BATCH2 = _R.standard_normal((2, 4, 5)).astype(np.float32)
TIES = np.array([[1.0, 3, 3, 0], [2, 2, 2, 2], [5, -1, 5, 5]], np.float32)


def _a(m):
    return m.arange(12.0).reshape(3, 4)


VALUES = {
    # factories: endpoints and dtypes
    "arange dtypes": lambda m: (m.arange(0, 5, 2), m.arange(0.5, 3), m.arange(3, dtype=m.float32),
                                m.arange(1, 2.5, 0.5), m.arange(-1, -5, -1.5)),
    "arange float step excludes the end": lambda m: (m.arange(0, 0.9, 0.3), m.arange(1, 2, 0.1)),
    "linspace endpoints and int dtype": lambda m: (
        m.linspace(-1, 1, 4), m.linspace(0, 10, 5, dtype=m.int64), m.linspace(2, 2, 3),
        m.linspace(1, 0, 3)),
    "full dtypes": lambda m: (m.full((2, 2), 1.5, dtype=m.float64), m.full((1,), 7, dtype=m.int32),
                              m.full_like(m.ones(2, dtype=m.int64), 2.7)),
    "eye and like factories": lambda m: (
        m.eye(3), m.eye(2, dtype=m.int64), m.empty_like(m.ones(2, 3, dtype=m.float64)).zero_(),
        m.zeros_like(m.ones(2), dtype=m.int32), m.ones_like(m.tensor([1, 2]), dtype=m.float32),
        m.ones(2, 3).new_zeros(4), m.tensor([1, 2]).new_full((2,), 3.5)),
    # joining and splitting
    "stack dims": lambda m: (m.stack([_a(m), _a(m) * 2], dim=-1), m.stack([_a(m), _a(m)], 1)),
    "cat negative dim and empty": lambda m: (m.cat([_a(m), _a(m)[:, :1]], dim=-1),
                                             m.cat([m.zeros(0, 4), _a(m)])),
    "chunk uneven": lambda m: ([c.shape for c in m.arange(10).chunk(4)],
                               [c.shape for c in m.arange(5).chunk(5)],
                               [c.shape for c in m.arange(6).chunk(4)], _a(m).chunk(2, dim=1)),
    "split list and dim": lambda m: (_a(m).split([1, 3], dim=1), _a(m).split(2, dim=0)),
    "unbind dims": lambda m: (_a(m).unbind(1), m.unbind(_a(m), dim=0)),
    "hstack vstack dstack column_stack": lambda m: (
        m.hstack([m.ones(2), m.zeros(3)]), m.vstack([m.ones(3), m.zeros(3)]),
        m.dstack([m.ones(2, 2), m.zeros(2, 2)]), m.column_stack([m.ones(2), m.zeros(2, 2)])),
    # shapes and views
    "expand -1 and new dims": lambda m: (m.ones(3, 1).expand(-1, 4), m.ones(3, 1).expand(2, 3, 2),
                                         m.ones(1, 4).expand_as(_a(m))),
    "broadcast_to": lambda m: m.broadcast_to(m.arange(4.0), (3, 4)),
    "squeeze a non-1 dim is a no-op": lambda m: (m.ones(2, 1, 3).squeeze(0).shape,
                                                 m.ones(2, 1, 3).squeeze(-2).shape,
                                                 m.ones(1, 1).squeeze(1).shape),
    "unsqueeze negative": lambda m: (m.ones(2, 3).unsqueeze(-1).shape,
                                     m.ones(2, 3).unsqueeze(-3).shape),
    "flatten ranges": lambda m: (m.ones(2, 3, 4, 5).flatten(1, 2).shape,
                                 m.ones(2, 3, 4).flatten(-2).shape, m.tensor(3.0).flatten().shape,
                                 m.flatten(m.ones(2, 3, 4), 0, 1).shape),
    "reshape -1 and view of a transpose's copy": lambda m: (
        _a(m).t().reshape(-1), _a(m).reshape(2, -1), _a(m).t().contiguous().view(2, 6)),
    "narrow": lambda m: (_a(m).narrow(1, 1, 2), m.narrow(_a(m), 0, 1, 1),
                         _a(m).narrow(-1, 2, 2)),
    "movedim permute swapaxes": lambda m: (m.ones(2, 3, 4).movedim(0, -1).shape,
                                           m.ones(2, 3, 4).permute(2, 0, 1).shape,
                                           m.ones(2, 3, 4).swapaxes(0, 2).shape),
    "repeat and repeat_interleave": lambda m: (
        m.tensor([1, 2]).repeat(2, 2), m.tensor([1, 2, 3]).repeat_interleave(2),
        m.tensor([[1, 2], [3, 4]]).repeat_interleave(m.tensor([1, 2]), dim=0),
        m.repeat_interleave(m.tensor([[1, 2], [3, 4]]), 2)),
    "flip and roll": lambda m: (_a(m).flip(0, 1), _a(m).roll(1), _a(m).roll(-1, 1),
                                _a(m).roll((1, 2), (0, 1))),
    # linear algebra
    "matmul 1-d and batched broadcasting": lambda m: (
        m.tensor(V4) @ m.tensor(B), m.tensor(A) @ m.tensor(V4), m.tensor(V4) @ m.tensor(V4),
        m.tensor(BATCH) @ m.tensor(B), m.tensor(BATCH) @ m.tensor(V4),
        m.tensor(V3) @ m.tensor(BATCH), m.tensor(BATCH[:1]) @ m.tensor(BATCH2)),
    "addmm and baddbmm beta alpha": lambda m: (
        m.addmm(m.ones(3, 5), m.tensor(A), m.tensor(B), beta=0.5, alpha=2.0),
        m.baddbmm(m.ones(2, 3, 5), m.tensor(BATCH), m.tensor(BATCH2), beta=0, alpha=0.5),
        m.addmm(m.ones(5), m.tensor(A), m.tensor(B))),
    "outer dot kron trace": lambda m: (m.outer(m.tensor(V3), m.tensor(V4)),
                                       m.dot(m.tensor(V4), m.tensor(V4)),
                                       m.kron(m.eye(2), m.tensor(A)), m.trace(m.tensor(A))),
    "einsum": lambda m: (m.einsum("ij,jk->ik", m.tensor(A), m.tensor(B)),
                         m.einsum("bij,bjk->bik", m.tensor(BATCH), m.tensor(BATCH2)),
                         m.einsum("ii->i", m.tensor(A[:3, :3])), m.einsum("ij->", m.tensor(A)),
                         m.einsum("i,j->ij", m.tensor(V3), m.tensor(V4)),
                         m.einsum("...j,jk", m.tensor(BATCH), m.tensor(B)),
                         m.einsum("ij,ij->i", m.tensor(A), m.tensor(A))),
    "tensordot": lambda m: (m.tensordot(m.tensor(A), m.tensor(B), dims=1),
                            m.tensordot(m.tensor(BATCH), m.tensor(BATCH2[0]), dims=1),
                            m.tensordot(m.tensor(BATCH), m.tensor(BATCH), dims=([1, 2], [1, 2])),
                            m.tensordot(m.tensor(A), m.tensor(A), dims=2)),
    "diag offsets": lambda m: (m.diag(m.tensor(V3)), m.diag(m.tensor(V3), 1),
                               m.diag(m.tensor(A)), m.diag(m.tensor(A), -1),
                               m.diag(m.tensor(A), 2)),
    "tril triu on batches and rectangles": lambda m: (
        m.tril(m.tensor(BATCH), 1), m.triu(m.tensor(A), -1), m.tensor(A).tril(-2),
        m.tensor(A).triu(3)),
    "tril_indices triu_indices": lambda m: (m.tril_indices(3, 4), m.triu_indices(4, 3, 1),
                                            m.tril_indices(3, 3, -1)),
    "meshgrid indexing": lambda m: (m.meshgrid(m.arange(3), m.arange(2), indexing="ij"),
                                    m.meshgrid(m.arange(3), m.arange(2), indexing="xy")),
    # selection and counting
    "bincount weights minlength": lambda m: (
        m.bincount(m.tensor([0, 2, 2, 5])), m.bincount(m.tensor([1, 1]), minlength=4),
        m.bincount(m.tensor([0, 1, 1]), weights=m.tensor([0.5, 1.0, 2.0]))),
    "nonzero as_tuple": lambda m: (m.nonzero(m.tensor(TIES) > 2),
                                   m.nonzero(m.tensor(TIES) > 2, as_tuple=True),
                                   (m.tensor(TIES) > 2).nonzero(as_tuple=True)),
    "kthvalue (indices where no value ties)": lambda m: (
        tuple(m.kthvalue(m.tensor(A), 2, 1)), tuple(m.tensor(A).kthvalue(1, 0, keepdim=True)),
        m.tensor(TIES).kthvalue(3, 1)[0], tuple(m.tensor(TIES[0]).kthvalue(2))),
    "sort stable with ties and dims": lambda m: (
        tuple(m.tensor(TIES).sort(dim=0, stable=True)),
        tuple(m.tensor(TIES).sort(dim=1, descending=True, stable=True)),
        m.argsort(m.tensor(TIES), dim=1, stable=True),
        m.tensor(TIES).argsort(dim=0, descending=True, stable=True)),
    "topk dims and sorted": lambda m: (tuple(m.tensor(TIES).topk(2, 0)),
                                       tuple(m.tensor(A).topk(2, largest=False))),
    "unique dim and unsorted inverse": lambda m: (
        m.unique(m.tensor([[1, 2], [1, 2], [0, 3]]), dim=0),
        m.unique(m.tensor([2.0, 1.0, 2.0]), sorted=True, return_inverse=True)),
    "cummax cummin cumprod": lambda m: (tuple(m.cummax(m.tensor(TIES), 1)),
                                        tuple(m.cummin(m.tensor(TIES), 0)),
                                        m.cumprod(m.tensor(TIES), 1)),
    "median and mode with dims": lambda m: (tuple(m.tensor(TIES).median(0)),
                                            tuple(m.tensor(TIES).mode(0)),
                                            tuple(m.tensor(TIES).median(1, keepdim=True))),
    "max min of int dims": lambda m: (tuple(m.tensor([[1, 5, 5], [7, 7, 0]]).min(0)),
                                      m.tensor([[1, 5, 5], [7, 7, 0]]).amax(1),
                                      m.tensor([[1, 5, 5], [7, 7, 0]]).amin((0, 1))),
    "take take_along_dim index_select": lambda m: (
        m.take(_a(m), m.tensor([0, 5, 11])),
        m.take_along_dim(_a(m), m.tensor([[0], [2], [3]]), 1),
        _a(m).index_select(1, m.tensor([3, 0, 0]))),
    "diff": lambda m: (m.diff(m.tensor(TIES)), m.diff(m.tensor(TIES), n=2, dim=0),
                       m.tensor([1, 4, 9]).diff()),
    "std var dims and correction": lambda m: (
        m.std(m.tensor(A), dim=1, correction=0), m.var(m.tensor(A), (0, 1)),
        m.tensor(A).var(0, unbiased=False, keepdim=True), m.tensor(BATCH).std((0, 2))),
    "mean of int raises, sum over none": lambda m: (m.tensor(A).sum((0, 1)),
                                                    m.tensor(A).mean(-1, keepdim=True)),
    "logsumexp dims": lambda m: (m.logsumexp(m.tensor(BATCH), (0, 2)),
                                 m.tensor(A).logsumexp(0, keepdim=True)),
    "nan_to_num defaults": lambda m: m.nan_to_num(m.tensor([float("nan"), float("inf"),
                                                           -float("inf"), 1.0])),
    "isclose and allclose": lambda m: (m.isclose(m.tensor([1.0, 1.0 + 1e-6, float("nan")]),
                                                 m.tensor([1.0, 1.0, float("nan")])),
                                       m.isclose(m.tensor([float("nan")]),
                                                 m.tensor([float("nan")]), equal_nan=True),
                                       m.allclose(m.tensor([1.0]), m.tensor([1.0 + 1e-9]))),
}


@pytest.mark.parametrize("name", sorted(VALUES))
def test_creation_and_manipulation_match_torch(name):
    _assert_same(VALUES[name](tinymm), VALUES[name](torch))


def test_contiguous_copies_a_transpose_and_view_shares_the_copy_as_torch():
    def run(m):
        t = m.arange(6.0).reshape(2, 3).t()
        c = t.contiguous()
        c.view(6)[0] = 100.0  # writes through the view into c, not into t
        return t, c, t.is_contiguous(), c.is_contiguous(), c.contiguous() is c

    _assert_same(run(tinymm), run(torch))


def _F(m):
    return m.nn.functional


TARGET = np.array([1, 0, 3])
PRODS = np.array([[0.0, 2.0, -1.5, 3.0, 0.5], [0.0, 0.0, 2.0, 1.0, -1.0],
                  [1.5, -2.0, 0.5, 1.0, 2.0]], np.float32)
POOL_TIES = np.maximum(_R.standard_normal((2, 2, 6, 6)), 0).astype(np.float32)
POOL_TIES[0, 0, :2, :2] = 1.0
KINKS = np.array([[-1.0, 0.0, 1.0, 6.0, -3.0, 3.0], [-2.0, 2.0, 7.0, -25.0, 25.0, 0.5]],
                 np.float32)
SIGNS = np.array([1.0, -1, 1], np.float32)
MULTI = (_R.random((3, 4)) > 0.5).astype(np.float32)
POS = (np.abs(_R.standard_normal((3, 4))) + 0.1).astype(np.float32)

GRADS = {
    # reductions' gradients at ties (amax/amin split evenly, max/min pick one)
    "amax amin over dims at ties": (lambda m, a: a.amax(0) + a.amin(1).sum() + a.amax((0, 1)),
                                    TIES),
    "max min with dim at ties": (lambda m, a: a.max(0)[0].sum() + a.min(1)[0].sum(), TIES),
    "max of all with a tie across rows": (lambda m, a: a.max() * 2 + a.min(), TIES),
    "kthvalue median": (lambda m, a: (a.kthvalue(2, 1)[0], a.median(0)[0]), A),
    "cummax cumprod": (lambda m, a: (m.cummax(a, 1)[0], m.cumprod(a, 0)), A),
    "std var correction": (lambda m, a: (a.std(1, correction=0), a.var(0, unbiased=False)), A),
    "prod with zeros: the gradient is the product of the others": (lambda m, a: (
        a.prod(1), a.prod(0, keepdim=True), a.prod(), a[:, :3].prod(1)), PRODS),
    "max pools at ties (zeros after a ReLU): the first maximum gets the gradient": (
        lambda m, a: (_F(m).max_pool2d(a, 2), _F(m).max_pool2d(a, 3, 1, 1),
                      _F(m).adaptive_max_pool2d(a, (4, 3)), _F(m).adaptive_max_pool2d(a, 2),
                      _F(m).adaptive_max_pool1d(a[:, 0], 4), _F(m).max_pool1d(a[:, 0], 3, 2),
                      a.amax((2, 3)), a.max(3)[0]), POOL_TIES),
    "std of a constant row has zero gradient": (lambda m, a: (a.std(1), a[1].std(),
                                                              a.std(0, keepdim=True)), TIES),
    "activations' gradients at their kinks": (lambda m, a: (
        _F(m).softplus(a), _F(m).softplus(a, beta=2.0), _F(m).logsigmoid(a), _F(m).elu(a),
        _F(m).elu(a, 0.5), _F(m).celu(a, 2.0), _F(m).selu(a), _F(m).leaky_relu(a, 0.2),
        _F(m).relu6(a), _F(m).hardtanh(a, -1.0, 1.0), _F(m).hardtanh(a, 2.0, 2.0),
        _F(m).hardsigmoid(a), _F(m).hardswish(a), _F(m).prelu(a, m.tensor([0.25])),
        m.nn.ReLU6()(a), m.nn.LeakyReLU()(a), m.nn.Hardtanh(-2, 2)(a)), KINKS),
    "norm dims fro": (lambda m, a: (a.norm(dim=(0, 1)), a.norm(p=1, dim=0, keepdim=True)), A),
    # linear algebra
    "matmul 1-d and batched": (lambda m, a, b: (a[0] @ b, a @ b[:, 0], a[0] @ b[:, 0]), A, B),
    "baddbmm addmm": (lambda m, a, b: (m.addmm(a[:, :1], a, b, beta=0.5, alpha=2),
                                       m.baddbmm(a[None, :, :1], a[None], b[None], alpha=0.5)),
                      A, B),
    "einsum traces and broadcasts": (lambda m, a, b: (
        m.einsum("ij,jk->ki", a, b), m.einsum("ij,ij->j", a, a),
        m.einsum("...j,jk->...k", a, b)), A, B),
    "tensordot and outer": (lambda m, a, b: (m.tensordot(a, b, 1), m.outer(a[0], b[0])), A, B),
    "diag tril narrow unbind": (lambda m, a: (m.diag(a, 1), m.tril(a, -1), a.narrow(1, 1, 2),
                                              m.unbind(a, 1)[2]), A),
    "expand repeat roll flip": (lambda m, a: (a[:1].expand(3, 4), a.repeat(2, 1), a.roll(1, 0),
                                              a.flip(1), a.repeat_interleave(2, 1)), A),
    # losses: reductions, weights, edge cases
    "margin_ranking reductions": (lambda m, a, b: (
        _F(m).margin_ranking_loss(a, b, m.tensor(SIGNS), reduction="none"),
        _F(m).margin_ranking_loss(a, b, m.tensor(SIGNS), margin=0.5, reduction="sum")),
        V3, V3[::-1].copy()),
    "triplet_margin swap p eps": (lambda m, a, b: (
        _F(m).triplet_margin_loss(a, b, b.flip(0), swap=True),
        _F(m).triplet_margin_loss(a, b, b.flip(0), p=1, margin=2.0, reduction="none"),
        _F(m).triplet_margin_loss(a, b, b.flip(0), eps=1e-2, reduction="sum")), A, A[::-1].copy()),
    "cosine_embedding margin reductions": (lambda m, a, b: (
        _F(m).cosine_embedding_loss(a, b, m.tensor(SIGNS), margin=0.3, reduction="none"),
        _F(m).cosine_embedding_loss(a, b, m.tensor(SIGNS), reduction="sum")), A, B[:3, :4]),
    "kl_div none and mean": (lambda m, a, b: (
        _F(m).kl_div(a, b.softmax(1), reduction="none"),
        _F(m).kl_div(a, b.log_softmax(1), reduction="mean", log_target=True)), A, B[:3, :4]),
    "huber and smooth_l1 reductions": (lambda m, a, b: (
        _F(m).huber_loss(a, b, reduction="none", delta=2.0),
        _F(m).smooth_l1_loss(a, b, reduction="sum", beta=2.0)), A, B[:3, :4]),
    "l1 and mse none": (lambda m, a, b: (_F(m).l1_loss(a, b, reduction="none"),
                                         _F(m).mse_loss(a, b, reduction="none")), A, B[:3, :4]),
    "cross_entropy label_smoothing reductions": (lambda m, a: (
        _F(m).cross_entropy(a, m.tensor(TARGET), label_smoothing=0.2),
        _F(m).cross_entropy(a, m.tensor(TARGET), label_smoothing=0.1, reduction="none")), A),
    "cross_entropy all ignored is nan": (lambda m, a: _F(m).cross_entropy(
        a, m.tensor(np.array([-100, -100, -100]))), A),
    "nll_loss none and (N, C, d)": (lambda m, a: (
        _F(m).nll_loss(a, m.tensor(TARGET), reduction="none"),
        _F(m).nll_loss(a.reshape(3, 2, 2), m.tensor(np.array([[0, 1], [1, 1], [0, -100]])))), A),
    "bce reductions": (lambda m, a: (
        _F(m).binary_cross_entropy(a.sigmoid(), m.tensor(MULTI), reduction="none"),
        _F(m).binary_cross_entropy_with_logits(a, m.tensor(MULTI), reduction="none",
                                               pos_weight=m.tensor(POS[0]))), A),
    "losses as modules": (lambda m, a, b: (
        m.nn.MSELoss(reduction="sum")(a, b), m.nn.L1Loss()(a, b),
        m.nn.SmoothL1Loss(beta=0.3)(a, b), m.nn.HuberLoss(delta=0.3)(a, b),
        m.nn.KLDivLoss(reduction="batchmean")(a.log_softmax(1), b.softmax(1)),
        m.nn.BCEWithLogitsLoss(pos_weight=m.tensor(POS[0]))(a, m.tensor(MULTI)),
        m.nn.CrossEntropyLoss(label_smoothing=0.1, ignore_index=3)(a, m.tensor(TARGET)),
        m.nn.NLLLoss(reduction="sum")(a.log_softmax(1), m.tensor(TARGET)),
        m.nn.MarginRankingLoss(margin=0.2)(a[:, 0], b[:, 0], m.tensor(SIGNS)),
        m.nn.TripletMarginLoss(margin=0.5, p=1.0, swap=True)(a, b, b.flip(0)),
        m.nn.CosineEmbeddingLoss(margin=0.1)(a, b, m.tensor(SIGNS))), A, B[:3, :4]),
    "loss modules with class weights": (lambda m, a: (
        m.nn.CrossEntropyLoss(weight=m.tensor(POS[0]))(a, m.tensor(TARGET)),
        m.nn.CrossEntropyLoss(weight=m.tensor(POS[0]), reduction="sum",
                              label_smoothing=0.2)(a, m.tensor(TARGET)),
        m.nn.NLLLoss(weight=m.tensor(POS[1]), ignore_index=0)(a.log_softmax(1), m.tensor(TARGET)),
        m.nn.BCELoss(weight=m.tensor(POS[2]))(a.sigmoid(), m.tensor(MULTI)),
        m.nn.BCEWithLogitsLoss(weight=m.tensor(POS[2]), reduction="none")(a, m.tensor(MULTI)),
        m.nn.CrossEntropyLoss()(a, a.detach().softmax(1) * 0.5 + 0.125),
        m.nn.CrossEntropyLoss(reduction="none")(a[0], m.tensor(TARGET[0])),
        m.nn.NLLLoss()(a[None].transpose(1, 2).log_softmax(1), m.tensor(TARGET[None]))), A),
    "embedding max_norm renormalises the looked-up rows in place": (lambda m, a: (
        _F(m).embedding(m.tensor(np.array([[0, 2], [2, 1]])), a, max_norm=1.5),
        _F(m).embedding(m.tensor(np.array([1])), a, max_norm=0.5, norm_type=1.0),
        a.detach().clone()), A),
    "unbatched class-index losses": (lambda m, a: (
        _F(m).cross_entropy(a[0], m.tensor(2)), _F(m).cross_entropy(
            a[1], m.tensor(1), weight=m.tensor(POS[0]), reduction="none"),
        _F(m).nll_loss(a[2].log_softmax(0), m.tensor(3)),
        _F(m).cross_entropy(a[0], m.tensor(2), label_smoothing=0.3)), A),
    "losses broadcast a target with a warning-free shape": (lambda m, a, b: (
        _F(m).mse_loss(a, b), _F(m).l1_loss(a, b)), A, B[:3, :4]),
    "pairwise_distance p eps keepdim": (lambda m, a, b: (
        _F(m).pairwise_distance(a, b, p=1.0), _F(m).pairwise_distance(a, b, keepdim=True),
        _F(m).pairwise_distance(a, b, p=3.0, eps=1e-2)), A, B[:3, :4]),
    "cdist p and batched": (lambda m, a, b: (m.cdist(a, b[:2, :4]), m.cdist(a, b[:2, :4], p=1),
                                             m.cdist(a[None], a[None], p=float("inf"))),
                            A, B),
    "activations' functional parameters": (lambda m, a: (
        _F(m).elu(a, alpha=0.3), _F(m).celu(a, alpha=1.5), _F(m).leaky_relu(a, 0.3),
        _F(m).hardtanh(a, -0.2, 0.4), _F(m).softplus(a, beta=3.0), _F(m).threshold(a, 0.1, 5.0),
        _F(m).softshrink(a, 0.3), _F(m).hardshrink(a, 0.3), _F(m).glu(a, 1),
        _F(m).softmin(a, 0), _F(m).prelu(a, m.tensor(np.array([0.1], np.float32))),
        _F(m).gelu(a, approximate="tanh"), _F(m).selu(a), _F(m).hardswish(a),
        _F(m).hardsigmoid(a), _F(m).logsigmoid(a), _F(m).softsign(a), _F(m).tanhshrink(a)), A),
    "softplus threshold": (lambda m, a: (_F(m).softplus(a, threshold=0.5),
                                         _F(m).softplus(a, beta=2.0, threshold=1.0)), A),
    "normalize p and eps": (lambda m, a: (_F(m).normalize(a, p=1.0, dim=0),
                                          _F(m).normalize(a, eps=10.0),
                                          _F(m).normalize(a, p=float("inf"))), A),
    "unfold and fold functional": (lambda m, a: (
        _F(m).unfold(a.reshape(1, 1, 3, 4), 2, dilation=1, padding=1, stride=2),
        _F(m).fold(a.reshape(1, 4, 3), (2, 4), 2)), A),
    "interpolate area and nearest sizes": (lambda m, a: (
        _F(m).interpolate(a.reshape(1, 1, 3, 4), size=(2, 3), mode="area"),
        _F(m).interpolate(a.reshape(1, 1, 3, 4), size=(5, 3)),
        _F(m).interpolate(a.reshape(1, 3, 4), size=6, mode="linear")), A),
    "pixel_shuffle unshuffle": (lambda m, a: (
        _F(m).pixel_shuffle(a.reshape(1, 4, 3, 1), 2),
        _F(m).pixel_unshuffle(a.reshape(1, 1, 2, 6), 2)), A),
    "avg and max pools functional": (lambda m, a: (
        _F(m).avg_pool2d(a.reshape(1, 1, 3, 4), 2, 1), _F(m).max_pool2d(a.reshape(1, 1, 3, 4),
                                                                         (2, 3), 1),
        _F(m).avg_pool1d(a.reshape(1, 3, 4), 2), _F(m).max_pool1d(a.reshape(1, 3, 4), 3, 1, 1),
        _F(m).adaptive_avg_pool2d(a.reshape(1, 1, 3, 4), 2),
        _F(m).adaptive_max_pool2d(a.reshape(1, 1, 3, 4), (1, 3))), A),
    "layer_norm group_norm instance_norm functional": (lambda m, a: (
        _F(m).layer_norm(a, (4,), eps=1e-3), _F(m).group_norm(a.reshape(1, 4, 3), 2),
        _F(m).instance_norm(a.reshape(1, 3, 4))), A),
    "batch_norm functional with running stats in train": (lambda m, a: _F(m).batch_norm(
        a, m.zeros(4), m.ones(4), training=True, momentum=0.3), A),
    "embedding max_norm-free functional and one_hot": (lambda m, a: (
        _F(m).embedding(m.tensor(np.array([[0, 2], [1, 0]])), a),
        _F(m).one_hot(m.tensor(np.array([0, 3, 1]))), _F(m).one_hot(m.tensor(np.array([1])), 3)),
        A),
    "scaled_dot_product_attention masks and causal": (lambda m, a, b: (
        _F(m).scaled_dot_product_attention(a[None], b[None, :3, :4], b[None, :3, :4]),
        _F(m).scaled_dot_product_attention(a[None], a[None], a[None], is_causal=True),
        _F(m).scaled_dot_product_attention(
            a[None], a[None], a[None], attn_mask=m.tensor(np.tril(np.ones((3, 3), bool)))),
        _F(m).scaled_dot_product_attention(a[None], a[None], a[None], scale=0.1,
                                           attn_mask=m.tensor(np.eye(3, dtype=np.float32)))),
        A, B),
}


@pytest.mark.parametrize("name", sorted(GRADS))
def test_values_and_gradients_match_torch(name):
    fn, *arrays = GRADS[name]
    _same_values_and_grads(fn, arrays, lambda out: [o for o in _outputs(out)
                                                    if o.is_floating_point()])


def _outputs(out):
    items = out if isinstance(out, (tuple, list)) else (out,)
    return [o for item in items for o in (item if isinstance(item, (tuple, list)) else (item,))]


@pytest.mark.parametrize("backend", ["reference", "numba"])
def test_cross_entropy_with_every_target_ignored_has_zero_gradient_as_torch(backend):
    """The mean over no counted rows is nan (0 / 0); PyTorch's gradient is zero, not nan."""
    theirs = torch.tensor(A, requires_grad=True)
    torch.nn.functional.cross_entropy(theirs, torch.tensor([-100, -100, -100])).backward()
    with tinymm.use_backend(backend):
        ours = tinymm.tensor(A, requires_grad=True)
        loss = tinymm.nn.functional.cross_entropy(ours, tinymm.tensor([-100, -100, -100]))
        loss.backward()
    assert np.isnan(loss.item())
    np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())


@pytest.mark.parametrize("backend", ["reference", "numba"])
def test_vector_dot_vector_backward_as_torch(backend):
    theirs = [torch.tensor(V4, requires_grad=True), torch.tensor(V4 * 2, requires_grad=True)]
    (theirs[0] @ theirs[1]).backward()
    with tinymm.use_backend(backend):
        ours = [tinymm.tensor(V4, requires_grad=True), tinymm.tensor(V4 * 2, requires_grad=True)]
        (ours[0] @ ours[1]).backward()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-6)


# ---------------------------------------------------------------- schedulers over many steps
def _lr(m):
    return m.optim.lr_scheduler


SCHEDULES = {
    "CosineAnnealingLR past T_max (rises again)": lambda m, o: _lr(m).CosineAnnealingLR(
        o, 5, eta_min=0.01),
    "CosineAnnealingWarmRestarts T_mult eta_min": lambda m, o: _lr(m).CosineAnnealingWarmRestarts(
        o, 3, T_mult=2, eta_min=0.005),
    "CosineAnnealingWarmRestarts T_mult 1": lambda m, o: _lr(m).CosineAnnealingWarmRestarts(o, 4),
    "OneCycleLR pct_start div factors": lambda m, o: _lr(m).OneCycleLR(
        o, max_lr=0.5, total_steps=30, pct_start=0.2, div_factor=10, final_div_factor=100),
    "OneCycleLR epochs steps_per_epoch, momentum bounds": lambda m, o: _lr(m).OneCycleLR(
        o, max_lr=[0.4, 0.8], epochs=6, steps_per_epoch=5, base_momentum=0.8,
        max_momentum=0.9),
    "OneCycleLR three_phase linear": lambda m, o: _lr(m).OneCycleLR(
        o, 1.0, total_steps=30, three_phase=True, anneal_strategy="linear"),
    "CyclicLR exp_range step_size_down": lambda m, o: _lr(m).CyclicLR(
        o, 0.01, 0.1, step_size_up=3, step_size_down=2, mode="exp_range", gamma=0.9),
    "CyclicLR triangular2 no momentum cycling": lambda m, o: _lr(m).CyclicLR(
        o, [0.01, 0.02], [0.1, 0.3], step_size_up=2, mode="triangular2", cycle_momentum=False),
    "CyclicLR scale_fn per iteration": lambda m, o: _lr(m).CyclicLR(
        o, 0.01, 0.1, step_size_up=3, scale_fn=lambda x: 0.5 ** x, scale_mode="iterations"),
    "LambdaLR per group": lambda m, o: _lr(m).LambdaLR(o, [lambda e: 0.9 ** e,
                                                          lambda e: 1 / (1 + e)]),
    "StepLR and MultiStepLR gamma": lambda m, o: _lr(m).MultiStepLR(o, [3, 3, 8], gamma=0.3),
    "ExponentialLR": lambda m, o: _lr(m).ExponentialLR(o, 0.8),
    "PolynomialLR power 0.5 past total_iters": lambda m, o: _lr(m).PolynomialLR(
        o, total_iters=10, power=0.5),
    "LinearLR end_factor": lambda m, o: _lr(m).LinearLR(o, 1.0, 0.1, total_iters=8),
    "ConstantLR": lambda m, o: _lr(m).ConstantLR(o, factor=0.25, total_iters=5),
    "SequentialLR three schedulers": lambda m, o: _lr(m).SequentialLR(
        o, [_lr(m).LinearLR(o, 0.1, total_iters=4), _lr(m).ConstantLR(o, 0.5, total_iters=3),
            _lr(m).CosineAnnealingLR(o, 10)], milestones=[4, 9]),
    "ChainedScheduler StepLR and ExponentialLR": lambda m, o: _lr(m).ChainedScheduler(
        [_lr(m).StepLR(o, 4, 0.5), _lr(m).ExponentialLR(o, 0.95)]),
}


def _schedule(m, make, steps=30):
    torch.manual_seed(0)
    params = [m.nn.Parameter(m.tensor(V3.copy())), m.nn.Parameter(m.tensor(V4.copy()))]
    optimizer = m.optim.SGD([{"params": [params[0]]}, {"params": [params[1]], "lr": 0.2}],
                            lr=0.1, momentum=0.9)
    scheduler = make(m, optimizer)
    seen = []
    for step in range(steps):
        for p in params:
            p.grad = m.tensor(np.full(tuple(p.shape), 0.1 * (step % 3 - 1), np.float32))
        optimizer.step()
        scheduler.step()
        seen.append([g["lr"] for g in optimizer.param_groups]
                    + [g["momentum"] for g in optimizer.param_groups] + scheduler.get_last_lr())
    return np.array(seen, np.float64), [p.detach().numpy() for p in params]


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedules_over_thirty_steps_match_torch(name):
    ours, our_params = _schedule(tinymm, SCHEDULES[name])
    theirs, their_params = _schedule(torch, SCHEDULES[name])
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)
    for a, b in zip(our_params, their_params):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


PLATEAUS = {
    "min rel with cooldown and min_lr": dict(mode="min", factor=0.5, patience=2, cooldown=2,
                                             min_lr=0.02),
    "max abs threshold": dict(mode="max", threshold=0.05, threshold_mode="abs", patience=1),
    "min abs, patience 0, eps": dict(threshold_mode="abs", threshold=0.0, patience=0,
                                     factor=0.9, eps=0.05),
    "max rel per-group min_lr": dict(mode="max", factor=0.1, patience=1, min_lr=[0.001, 0.05]),
}
_METRICS = [1.0, 0.9, 0.9, 0.91, 0.95, 0.89, 0.89, 0.89, 0.7, 0.7, 0.71, 0.72, 0.69, 0.69,
            0.69, 0.69, 1.2, 1.3, 1.3, 1.3]


@pytest.mark.parametrize("name", sorted(PLATEAUS))
def test_reduce_lr_on_plateau_modes_match_torch(name):
    def lrs(m):
        params = [m.nn.Parameter(m.tensor(V3.copy())), m.nn.Parameter(m.tensor(V4.copy()))]
        optimizer = m.optim.SGD([{"params": [params[0]]}, {"params": [params[1]], "lr": 0.5}],
                                lr=1.0)
        plateau = _lr(m).ReduceLROnPlateau(optimizer, **PLATEAUS[name])
        out = []
        for metric in _METRICS:
            plateau.step(metric)
            out.append([g["lr"] for g in optimizer.param_groups])
        return out

    np.testing.assert_allclose(lrs(tinymm), lrs(torch), rtol=1e-12)


# ---------------------------------------------------------------- optimizer state round trip
ROUND_TRIP = {
    "SGD momentum nesterov": lambda m, p: m.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
    "Adam amsgrad": lambda m, p: m.optim.Adam(p, lr=0.01, amsgrad=True),
    "AdamW": lambda m, p: m.optim.AdamW(p, lr=0.01, weight_decay=0.1),
    "RMSprop centered momentum": lambda m, p: m.optim.RMSprop(p, lr=0.01, momentum=0.5,
                                                              centered=True),
    "Adagrad": lambda m, p: m.optim.Adagrad(p, lr=0.1, lr_decay=0.01),
    "Adadelta": lambda m, p: m.optim.Adadelta(p, lr=0.5),
    "RAdam": lambda m, p: m.optim.RAdam(p, lr=0.01),
    "NAdam": lambda m, p: m.optim.NAdam(p, lr=0.01),
    "Adamax": lambda m, p: m.optim.Adamax(p, lr=0.01),
}


def _trained(m, make, reload_at=None):
    """Eight steps; with ``reload_at`` the optimizer is rebuilt there from a state_dict
    (after a scheduler changed the lr) and the steps go on with the new one."""
    params = [m.nn.Parameter(m.tensor(A.copy())), m.nn.Parameter(m.tensor(V4.copy()))]
    optimizer = make(m, params)
    scheduler = _lr(m).StepLR(optimizer, 2, gamma=0.5)
    for step in range(8):
        if step == reload_at:
            state = optimizer.state_dict()
            optimizer = make(m, params)
            optimizer.load_state_dict(state)
            scheduler = _lr(m).StepLR(optimizer, 2, gamma=0.5, last_epoch=step - 1)
        optimizer.zero_grad()
        for p, scale in zip(params, (1.0, -0.5)):
            p.grad = m.tensor((np.cos(np.arange(p.numel()) + step) * scale).astype(np.float32)
                              .reshape(tuple(p.shape)))
        optimizer.step()
        scheduler.step()
    return [p.detach().numpy() for p in params]


@pytest.mark.parametrize("name", sorted(ROUND_TRIP))
def test_optimizer_state_dict_round_trip_mid_training_matches_torch(name):
    theirs = _trained(torch, ROUND_TRIP[name])
    for a, b in zip(_trained(tinymm, ROUND_TRIP[name], reload_at=5), theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("nonlinearity, param", [
    ("linear", None), ("conv_transpose2d", None), ("sigmoid", None), ("tanh", None),
    ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2), ("selu", None)])
def test_calculate_gain_matches_torch(nonlinearity, param):
    assert tinymm.nn.init.calculate_gain(nonlinearity, param) == pytest.approx(
        torch.nn.init.calculate_gain(nonlinearity, param), rel=1e-12)



# ---------------------------------------------------------------- Tensor semantics, part two
def _setitems(m):
    x = m.zeros(3, 4)
    x[:, 1] = m.tensor([1.0, 2.0, 3.0])
    x[0] = 5
    x[x > 4] = -1
    x[[1, 2], [0, 3]] = m.tensor([7.0, 8.0])
    x[[[0, 2], [1, 1]]] = 9.0  # a list of lists: the tuple x[[0, 2], [1, 1]]
    x[..., -1] += 1
    return x


SEMANTICS = {
    "where one arg": lambda m: m.where(m.tensor(A) > 0),
    "round decimals": lambda m: (
        m.round(m.tensor(A) * 10, decimals=1),
        m.tensor(A * 1000).round(decimals=-2),
        m.tensor([0.125, 0.375, 2.5]).round(decimals=2),
    ),
    "clamp tensor bounds": lambda m: m.tensor(A).clamp(
        min=m.tensor([-0.5, 0, 0.5, 1.0]), max=m.tensor(1.2)
    ),
    "max binary": lambda m: (m.max(m.tensor(A), -m.tensor(A)), m.min(m.tensor(A), -m.tensor(A))),
    "to int truncates": lambda m: (
        m.tensor([-1.7, -0.5, 0.5, 1.7]).long(),
        m.tensor([-1.7, 0.0, 2.0]).bool(),
        m.tensor([-1.7, 300.5]).to(m.int32),
    ),
    "tensor from mixed list": lambda m: (
        m.tensor([1, 2.0]),
        m.tensor([True, 2]),
        m.tensor([[1], [2]]).dtype == m.int64,
    ),
    "masked_fill broadcast mask": lambda m: m.tensor(A).masked_fill(
        m.tensor([True, False, True, False]), -1.0
    ),
    "index None ellipsis": lambda m: (
        m.tensor(A)[None, ..., 1].shape,
        m.tensor(A)[..., None].shape,
        m.tensor(A)[1, None, 2:].shape,
    ),
    "a short list holding lists indexes as a tuple (PyTorch)": lambda m: (
        m.tensor(A)[[[0, 1], [2, 0]]],
        m.tensor(A)[[0, 2], [1, 3]],
        m.tensor(A)[[0, 2]][:, [1]],
    ),
    "bool mask rows": lambda m: m.tensor(A)[m.tensor([True, False, True])],
    "index with int tensor 0-d": lambda m: m.tensor(A)[m.tensor(1)],
    "setitem broadcast": _setitems,
    "sum dims dtype mean dtype": lambda m: (
        m.tensor(A).sum(dim=(0, 1)),
        m.tensor(A).mean(dtype=m.float64),
        m.sum(m.tensor(A), 1, keepdim=True),
    ),
    "std of size-1 dim nan": lambda m: m.tensor(A)[:1].std(0),
    "softmax dtype": lambda m: m.softmax(m.tensor(A), dim=1, dtype=m.float64),
    "cumsum negative dim": lambda m: m.tensor(A).cumsum(-1),
    "mean empty nan": lambda m: m.zeros(0).mean(),
    "argmax keepdim": lambda m: m.tensor(A).argmax(1, keepdim=True),
    "topk of a tie": lambda m: m.tensor([1.0, 3, 3, 2]).topk(1),
    "sort descending ties": lambda m: m.tensor([1.0, 3, 3, 2]).sort(descending=True),
    "expand of a scalar": lambda m: m.tensor(2.0).expand(3),
    "repeat 0-d": lambda m: m.tensor(2.0).repeat(3),
    "reshape of 0-d": lambda m: m.tensor(2.0).reshape(1, 1),
    "unsqueeze 0-d": lambda m: m.tensor(2.0).unsqueeze(0),
    "cat of 1-d with empty": lambda m: m.cat([m.tensor([1.0]), m.tensor([])]),
    "stack of 0-d": lambda m: m.stack([m.tensor(1.0), m.tensor(2.0)]),
    "float ** negative int": lambda m: m.tensor([2.0, 4.0]) ** -1,
    "int ** negative": lambda m: m.tensor([2, 4]) ** 2,
    "true_divide by zero": lambda m: (m.tensor([1.0, -1.0, 0.0]) / 0, m.tensor([1, -1, 0]) / 0),
    "fmod negative": lambda m: m.fmod(m.tensor([-3, 3]), 2),
    "sign of nan, -0, inf and ints": lambda m: (
        m.tensor([float("nan"), -0.0, 0.0, float("-inf"), 2.5]).sign(),
        m.tensor([-3, 0, 4]).sign()),
    "remainder float negative divisor": lambda m: m.remainder(m.tensor([-3.0, 3.0]), -2),
    "bitwise ints": lambda m: (
        m.tensor([5, 3]) & m.tensor([3, 1]),
        m.tensor([5, 3]) | 1,
        m.tensor([5]) ^ m.tensor([1]),
        ~m.tensor([5]),
    ),
    "abs of int": lambda m: m.tensor([-3, 3]).abs(),
    "logical ops on float": lambda m: (
        m.logical_and(m.tensor([0.0, 1.5]), m.tensor([2.0, 0.0])),
        m.logical_not(m.tensor([0.0, 2.0])),
    ),
    "eq with scalar broadcast": lambda m: (m.tensor(A) == m.tensor(A)[0]).sum(),
    "equal and allclose": lambda m: (
        m.equal(m.tensor([1, 2]), m.tensor([1, 2])),
        m.equal(m.tensor([1.0]), m.tensor([1.0, 1.0])),
    ),
    "numel size": lambda m: (
        m.tensor(A).numel(),
        m.tensor(A).size(),
        m.tensor(A).size(-1),
        m.tensor(A).dim(),
    ),
    "new_tensor dtype": lambda m: (
        m.tensor(A).new_tensor([1, 2]),
        m.tensor(A).new_ones(2),
        m.tensor([1]).new_zeros(2),
    ),
    "type_as and to tensor": lambda m: (
        m.tensor([1, 2]).type_as(m.tensor(A)),
        m.tensor([1.5]).to(m.tensor([1])),
    ),
    "t of 1-d": lambda m: m.tensor([1.0, 2.0]).t(),
    "T of 3-d": lambda m: m.ones(2, 3, 4).permute(2, 1, 0).shape,
    "mT": lambda m: m.ones(2, 3, 4).mT.shape,
    "addcdiv": lambda m: m.addcdiv(
        m.ones(3), m.tensor([1.0, 2, 3]), m.tensor([2.0, 2, 2]), value=0.5
    ),
    "lerp tensor weight": lambda m: m.lerp(m.zeros(3), m.ones(3), m.tensor([0.1, 0.5, 0.9])),
    "hypot atan2 logaddexp": lambda m: (
        m.hypot(m.tensor(A), -m.tensor(A)),
        m.atan2(m.tensor(A), m.tensor(A * 2)),
        m.logaddexp(m.tensor(A), -m.tensor(A)),
    ),
    "logit eps": lambda m: (
        m.logit(m.tensor([0.0, 0.3, 1.0]), eps=0.1),
        m.logit(m.tensor([0.2, 0.5])),
    ),
    "nan_to_num args": lambda m: m.nan_to_num(
        m.tensor([float("nan"), float("inf"), -float("inf")]), nan=1.0, posinf=2.0, neginf=-2.0
    ),
    "count_nonzero dim": lambda m: m.count_nonzero(m.tensor([[0, 1], [2, 3]]), dim=0),
    "prod dim keepdim": lambda m: m.tensor(A).prod(1, keepdim=True),
    "kron": lambda m: m.kron(m.tensor([[1, 2]]), m.tensor([[1], [3]])),
    "trace int": lambda m: m.trace(m.tensor([[1, 2], [3, 4]])),
    "diff prepend": lambda m: m.diff(
        m.tensor([1, 3, 6]), prepend=m.tensor([0]), append=m.tensor([10])
    ),
    "cummax ties index": lambda m: tuple(m.cummax(m.tensor([1.0, 3, 3, 2, 3]), 0)),
    "cummin ties index": lambda m: tuple(m.cummin(m.tensor([3.0, 1, 1, 2, 1]), 0)),
    "unique dim0 counts": lambda m: m.unique(
        m.tensor([[1, 2], [1, 2], [0, 3]]), dim=0, return_counts=True
    ),
    "index_fill index_select neg": lambda m: (
        m.tensor(A).index_fill(1, m.tensor([0, 3]), -1.0),
        m.tensor(A).index_select(-1, m.tensor([1])),
    ),
    "scatter reduce add": lambda m: m.zeros(2, 3).scatter(
        1, m.tensor([[0, 0], [2, 1]]), m.ones(2, 2), reduce="add"
    ),
    "gather negative dim": lambda m: m.tensor(A).gather(-1, m.tensor([[0], [1], [3]])),
    "select negative": lambda m: m.tensor(A).select(-1, -1),
    "narrow tensor start": lambda m: m.tensor(A).narrow(0, 1, 2),
    "roll no dims flattens": lambda m: m.tensor(A).roll(5),
    "movedim tuples": lambda m: m.ones(2, 3, 4).movedim((0, 1), (2, 0)).shape,
    "split uneven": lambda m: [t.shape for t in m.tensor(A).split(3, dim=1)],
    "chunk more than size": lambda m: len(m.arange(3).chunk(5)),
    "masked_select broadcast": lambda m: m.tensor(A).masked_select(
        m.tensor([True, False, False, True])
    ),
    "take_along_dim no dim": lambda m: m.take_along_dim(m.tensor(A), m.tensor([0, 5])),
    "tril_indices offset": lambda m: m.tril_indices(4, 3, offset=1),
    "isinf isnan isfinite int": lambda m: (
        m.isinf(m.tensor([1, 2])),
        m.isfinite(m.tensor([1.0, float("inf")])),
    ),
    "floor of int": lambda m: (m.floor(m.tensor([1, -2])), m.ceil(m.tensor([1, -2]))),
    "exp2 expm1 log1p log2 log10": lambda m: (
        m.exp2(m.tensor([1.0, 3])),
        m.log2(m.tensor([8, 2])),
        m.log10(m.tensor([100.0])),
    ),
    "rsqrt reciprocal of int": lambda m: (
        m.rsqrt(m.tensor([4, 16])),
        m.reciprocal(m.tensor([2, 4])),
    ),
    "square of int": lambda m: m.square(m.tensor([2, -3])),
    "sigmoid tanh of int": lambda m: (m.sigmoid(m.tensor([0, 1])), m.tanh(m.tensor([0, 1]))),
    "clamp_min clamp_max int": lambda m: (
        m.clamp_min(m.tensor([1, 5]), 2),
        m.clamp_max(m.tensor([1, 5]), 2.5),
    ),
    "var correction 2": lambda m: m.tensor(A).var(1, correction=2),
    "median of all even": lambda m: m.tensor(A).median(),
    "mode of all": lambda m: tuple(m.tensor([1, 2, 2, 3]).mode()),
    "norm fro": lambda m: m.tensor([3.0, 4.0]).norm(p="fro"),
    "norm keepdim": lambda m: m.tensor(A).norm(dim=1, p=2, keepdim=True),
    "a list of index tensors is a tuple": lambda m: m.tensor(A)[
        [m.tensor([0, 2]), m.tensor([1, 3])]
    ],
}


@pytest.mark.parametrize("name", sorted(SEMANTICS))
def test_tensor_semantics_match_torch(name):
    _assert_same(SEMANTICS[name](tinymm), SEMANTICS[name](torch))


def test_a_list_of_lists_index_backward_matches_torch():
    grads = []
    for m in (tinymm, torch):
        x = m.tensor(A, requires_grad=True)
        (x[[[0, 2, 0], [1, 3, 1]]] * m.tensor([1.0, 2.0, 3.0])).sum().backward()
        grads.append(x.grad.numpy())
    np.testing.assert_array_equal(*grads)


# ---------------------------------------------------------------- nn.utils
def _clip_grad_value(m):
    params = [m.nn.Parameter(m.tensor(w.copy())) for w in (A, V4)]
    for p in params:
        p.grad = p.detach() * 3
    m.nn.utils.clip_grad_value_(params, 0.5)
    return [p.grad for p in params]


def _parameters_vector(m):
    params = [m.nn.Parameter(m.tensor(w.copy())) for w in (A, V4)]
    vector = m.nn.utils.parameters_to_vector(params)
    m.nn.utils.vector_to_parameters(vector * 2, params)
    return [vector] + [p.detach() for p in params]


def _pad_sequence(m):
    seqs = [m.tensor(V3), m.tensor(V4[:1]), m.tensor(V4[:2])]
    return (m.nn.utils.rnn.pad_sequence(seqs),
            m.nn.utils.rnn.pad_sequence(seqs, batch_first=True, padding_value=-1.0))


def _packed(m):
    rnn_utils = m.nn.utils.rnn
    p = rnn_utils.pack_padded_sequence(m.tensor(BATCH2[:, :, :2].transpose(1, 0, 2).copy()),
                                       m.tensor([2, 4]), enforce_sorted=False)
    out, lengths = rnn_utils.pad_packed_sequence(p, batch_first=True, total_length=5)
    q = rnn_utils.pack_sequence([m.tensor(A[:2]), m.tensor(A), m.tensor(A[:1])],
                                enforce_sorted=False)
    return (out, lengths, p.data, p.batch_sizes, p.sorted_indices, p.unsorted_indices, q.data,
            q.batch_sizes)


UTILS = {fn.__name__.strip("_").replace("_", " "): fn for fn in (
    _clip_grad_value, _parameters_vector, _pad_sequence, _packed)}


@pytest.mark.parametrize("name", sorted(UTILS))
def test_nn_utils_match_torch(name):
    _assert_same(UTILS[name](tinymm), UTILS[name](torch))
# ---------------------------------------------------------------- functional forms, broadcasting
_B1 = _R.standard_normal((1, 4)).astype(np.float32)


def _f(m):
    return m.nn.functional


FUNCTIONAL = {
    "cosine_similarity broadcast": lambda m: _f(m).cosine_similarity(m.tensor(A), m.tensor(_B1)),
    "cosine_similarity 3-d dim -1": lambda m: _f(m).cosine_similarity(
        m.tensor(BATCH), m.tensor(A), dim=-1
    ),
    "pairwise_distance broadcast and 1-d": lambda m: (
        _f(m).pairwise_distance(m.tensor(A), m.tensor(_B1)),
        _f(m).pairwise_distance(m.tensor(A[0]), m.tensor(_B1[0])),
    ),
    "cdist batch broadcast": lambda m: m.cdist(m.tensor(BATCH), m.tensor(A[None])),
    "normalize 3-d dim 0": lambda m: _f(m).normalize(m.tensor(BATCH), dim=0),
    "softmax log_softmax 3-d": lambda m: (
        _f(m).softmax(m.tensor(BATCH), dim=1),
        _f(m).log_softmax(m.tensor(BATCH), -2),
    ),
    "linear 3-d input": lambda m: _f(m).linear(
        m.tensor(BATCH), m.tensor(A[:2]), m.tensor(A[0, :2])
    ),
    "bilinear": lambda m: _f(m).bilinear(m.tensor(A), m.tensor(A), m.tensor(BATCH2[:, :4, :4])),
    "bce_with_logits broadcast pos_weight": lambda m: _f(m).binary_cross_entropy_with_logits(
        m.tensor(BATCH), m.tensor((BATCH > 0).astype(np.float32)), pos_weight=m.tensor(V4)
    ),
    "glu default dim": lambda m: _f(m).glu(m.tensor(BATCH)),
    "dropout p=0 and p=1 in training": lambda m: (
        _f(m).dropout(m.tensor(A), 0.0, training=True),
        _f(m).dropout(m.tensor(A), 1.0, training=True),
    ),
    "layer_norm over two dims with weight and bias": lambda m: _f(m).layer_norm(
        m.tensor(BATCH), (3, 4), m.tensor(A), m.tensor(A * 0.1)
    ),
    "group_norm with weight and bias": lambda m: _f(m).group_norm(
        m.tensor(BATCH.transpose(0, 2, 1).copy()), 2, m.tensor(V4), m.tensor(V4 * 0.5)
    ),
    "instance_norm 3-d": lambda m: _f(m).instance_norm(m.tensor(BATCH)),
    "one_hot 2-d": lambda m: _f(m).one_hot(m.tensor(np.array([[0, 2], [1, 1]]))),
    "pad reflect and replicate": lambda m: (
        _f(m).pad(m.tensor(BATCH[None]), (1, 1, 2, 0), mode="reflect"),
        _f(m).pad(m.tensor(BATCH), (2, 1), mode="replicate"),
    ),
    "interpolate scale tuple and recompute_scale_factor": lambda m: (
        _f(m).interpolate(m.tensor(BATCH[None]), scale_factor=(0.5, 1.5), mode="bilinear"),
        _f(m).interpolate(m.tensor(BATCH[None]), scale_factor=1.7, recompute_scale_factor=True),
    ),
    "affine_grid": lambda m: _f(m).affine_grid(
        m.tensor(np.array([[[1, 0.2, 0.1], [0, 0.9, -0.2]]], np.float32)),
        (1, 1, 3, 4),
        align_corners=False,
    ),
    "embedding_bag functional max": lambda m: _f(m).embedding_bag(
        m.tensor(np.array([0, 2, 1, 2])), m.tensor(A), m.tensor(np.array([0, 1])), mode="max"
    ),
    "activations' parameters positionally": lambda m: (
        _f(m).relu6(m.tensor(A * 5)),
        _f(m).threshold(m.tensor(A), 0.2, -3.0),
        _f(m).celu(m.tensor(A), 0.5),
        _f(m).softsign(m.tensor(A)),
        _f(m).tanhshrink(m.tensor(A)),
        _f(m).logsigmoid(m.tensor(A * 50)),
        _f(m).softmin(m.tensor(A), dim=0),
    ),
    "scaled_dot_product_attention bool mask broadcast, shorter keys": lambda m: (
        _f(m).scaled_dot_product_attention(
            m.tensor(BATCH[None]),
            m.tensor(BATCH[None]),
            m.tensor(BATCH[None]),
            attn_mask=m.tensor(np.tril(np.ones((3, 3), bool))),
        ),
        _f(m).scaled_dot_product_attention(
            m.tensor(BATCH), m.tensor(BATCH[:, :2]), m.tensor(BATCH[:, :2])
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONAL))
def test_functional_forms_match_torch(name):
    _assert_same(FUNCTIONAL[name](tinymm), FUNCTIONAL[name](torch))


def test_prod_with_zeros_passes_gradcheck():
    x = tinymm.tensor(PRODS.astype(np.float64), requires_grad=True)
    assert tinymm.gradcheck(lambda t: t.prod(1) + t.prod(0).sum() + t.prod(), [x])
