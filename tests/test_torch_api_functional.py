"""The functional ops and layers composed of existing ops (activations, distances, losses,
interpolate, conv1d, group_norm, dropout2d, shape layers): forward and backward against
PyTorch (behind importorskip), float64 gradchecks, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

import tinymm
from tinymm import F, nn

RNG = np.random.default_rng(0)


def _arrays(*shapes):
    return [RNG.standard_normal(s) for s in shapes]


def _against_torch(ours_fn, torch_fn, arrays, atol=1e-10, grads=True):
    """Forward values and (with ``grads``) the input gradients under a random upstream."""
    torch = pytest.importorskip("torch")
    xs = [tinymm.tensor(a, requires_grad=grads) for a in arrays]
    ts = [torch.tensor(a, requires_grad=grads) for a in arrays]
    out, out_t = ours_fn(*xs), torch_fn(*ts)
    np.testing.assert_allclose(out.detach().numpy(), out_t.detach().numpy(), atol=atol)
    if grads:
        up = RNG.standard_normal(tuple(out.shape))
        (out * tinymm.tensor(up)).sum().backward()
        (out_t * torch.tensor(up)).sum().backward()
        for x, t in zip(xs, ts):
            np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), atol=atol)
        tinymm.gradcheck(ours_fn, arrays)


POINTWISE = {
    "logsigmoid": (F.logsigmoid, lambda t, x: t.nn.functional.logsigmoid(x)),
    "mish": (F.mish, lambda t, x: t.nn.functional.mish(x)),
    "glu": (lambda x: F.glu(x, 1), lambda t, x: t.nn.functional.glu(x, 1)),
    "hardtanh": (lambda x: F.hardtanh(x, -0.5, 0.7),
                 lambda t, x: t.nn.functional.hardtanh(x, -0.5, 0.7)),
    "relu6": (lambda x: F.relu6(x * 4), lambda t, x: t.nn.functional.relu6(x * 4)),
}


@pytest.mark.parametrize("name", sorted(POINTWISE))
def test_pointwise_activations_match_torch(name):
    torch = pytest.importorskip("torch")
    ours, theirs = POINTWISE[name]
    _against_torch(ours, lambda x: theirs(torch, x), _arrays((3, 4)))


def test_prelu_layer_matches_torch():
    torch = pytest.importorskip("torch")
    layer, ref = nn.PReLU(3).double(), torch.nn.PReLU(3).double()
    assert layer.weight.shape == ref.weight.shape
    np.testing.assert_allclose(layer.weight.detach().numpy(), ref.weight.detach().numpy())
    w = RNG.standard_normal(3)
    _against_torch(F.prelu, torch.nn.functional.prelu, [RNG.standard_normal((2, 3, 2)), w])
    with pytest.raises(ValueError, match="prelu: weight must be 1-d with 1 or 3"):
        F.prelu(tinymm.zeros(2, 3), tinymm.zeros(2))


def test_distances_match_torch():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    _against_torch(lambda a, b: F.cosine_similarity(a, b, dim=1),
                   lambda a, b: tf.cosine_similarity(a, b, dim=1), _arrays((3, 4), (3, 4)))
    _against_torch(lambda a, b: F.cosine_similarity(a, b, dim=-1),
                   lambda a, b: tf.cosine_similarity(a, b, dim=-1), _arrays((2, 3, 4), (1, 4)))
    _against_torch(F.pairwise_distance, tf.pairwise_distance, _arrays((3, 4), (3, 4)))
    _against_torch(lambda a, b: F.cdist(a, b), torch.cdist, _arrays((3, 4), (5, 4)))
    _against_torch(lambda a, b: F.cdist(a, b, p=1.0), lambda a, b: torch.cdist(a, b, p=1.0),
                   _arrays((2, 3, 2), (2, 2, 2)))
    x = tinymm.tensor(np.ones((2, 3)), requires_grad=True)
    F.cdist(x, x).sum().backward()  # zero distances: gradient 0, as PyTorch, not NaN
    assert np.isfinite(x.grad.numpy()).all()
    with pytest.raises(ValueError, match="cdist: x1 and x2 must be"):
        F.cdist(tinymm.zeros(3, 4), tinymm.zeros(3, 5))


@pytest.mark.filterwarnings("ignore:.*reduction.*'mean'")  # PyTorch's and ours, the same
@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_matches_torch(reduction, log_target):
    torch = pytest.importorskip("torch")
    logits, target = _arrays((3, 4), (3, 4))
    log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    q = np.exp(target) / np.exp(target).sum(1, keepdims=True)
    q[0, 0] = 0.0  # a zero target contributes 0
    target = np.log(q + 1e-3) if log_target else q
    _against_torch(lambda a, b: F.kl_div(a, b, reduction=reduction, log_target=log_target),
                   lambda a, b: torch.nn.functional.kl_div(a, b, reduction=reduction,
                                                           log_target=log_target),
                   [log_p, target], grads=False)
    x = tinymm.tensor(log_p, requires_grad=True)
    loss = nn.KLDivLoss(reduction=reduction, log_target=log_target)(x, tinymm.tensor(target))
    xt = torch.tensor(log_p, requires_grad=True)
    loss_t = torch.nn.KLDivLoss(reduction=reduction, log_target=log_target)(
        xt, torch.tensor(target))
    loss.sum().backward()
    loss_t.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), atol=1e-12)


def test_margin_losses_match_torch():
    torch = pytest.importorskip("torch")
    y = np.array([1.0, -1.0, 1.0])
    _against_torch(lambda a, b: nn.MarginRankingLoss(0.3)(a, b, tinymm.tensor(y)),
                   lambda a, b: torch.nn.MarginRankingLoss(0.3)(a, b, torch.tensor(y)),
                   _arrays(3, 3))
    _against_torch(lambda a, b: nn.CosineEmbeddingLoss(0.1, "sum")(a, b, tinymm.tensor(y)),
                   lambda a, b: torch.nn.CosineEmbeddingLoss(0.1, reduction="sum")(
                       a, b, torch.tensor(y)), _arrays((3, 4), (3, 4)))
    for swap in (False, True):
        _against_torch(lambda a, p, n, s=swap: nn.TripletMarginLoss(0.5, swap=s)(a, p, n),
                       lambda a, p, n, s=swap: torch.nn.TripletMarginLoss(0.5, swap=s)(a, p, n),
                       _arrays((3, 4), (3, 4), (3, 4)))
    with pytest.raises(ValueError, match="MarginRankingLoss: reduction must be one of"):
        nn.MarginRankingLoss(reduction="avg")
    with pytest.raises(ValueError, match="margin_ranking_loss: target must have shape"):
        F.margin_ranking_loss(tinymm.zeros(3), tinymm.zeros(3), tinymm.zeros(2))


@pytest.mark.parametrize("mode,align,shape,kw", [
    ("nearest", None, (1, 2, 3, 4), dict(scale_factor=2)),
    ("nearest", None, (1, 2, 5, 3), dict(size=(3, 7))),
    ("nearest", None, (2, 2, 5), dict(scale_factor=1.7)),
    ("bilinear", False, (1, 2, 3, 4), dict(size=(5, 7))),
    ("bilinear", True, (1, 2, 3, 4), dict(scale_factor=2)),
    ("bilinear", False, (1, 1, 4, 4), dict(scale_factor=0.6)),
    ("linear", True, (2, 1, 4), dict(size=7)),
])
def test_interpolate_matches_torch(mode, align, shape, kw):
    torch = pytest.importorskip("torch")
    _against_torch(lambda x: F.interpolate(x, mode=mode, align_corners=align, **kw),
                   lambda x: torch.nn.functional.interpolate(x, mode=mode, align_corners=align,
                                                             **kw), _arrays(shape))


def test_upsample_layers_and_interpolate_errors():
    x = tinymm.tensor(_arrays((1, 1, 2, 2))[0])
    np.testing.assert_allclose(nn.Upsample(scale_factor=2)(x).numpy(),
                               x.numpy().repeat(2, 2).repeat(2, 3))
    assert nn.UpsamplingBilinear2d(size=(3, 3))(x).shape == (1, 1, 3, 3)
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        F.interpolate(x)
    with pytest.raises(ValueError, match="align_corners can only be set"):
        F.interpolate(x, scale_factor=2, align_corners=True)
    with pytest.raises(ValueError, match="mode 'bilinear' needs a 4-d input"):
        F.interpolate(tinymm.zeros(1, 2, 3), scale_factor=2, mode="bilinear")


@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1), dict(dilation=2),
                                dict(padding="same"), dict(padding=2, padding_mode="reflect")])
def test_conv1d_matches_torch(kw):
    torch = pytest.importorskip("torch")
    tinymm.manual_seed(0)
    layer = nn.Conv1d(3, 2, 3, **kw).double()
    ref = torch.nn.Conv1d(3, 2, 3, **kw).double()
    assert list(layer.state_dict()) == list(ref.state_dict())
    ref.load_state_dict({k: torch.tensor(v.numpy()) for k, v in layer.state_dict().items()})
    x = _arrays((2, 3, 7))[0]
    w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    if "padding_mode" not in kw:
        _against_torch(lambda x, w, b: F.conv1d(x, w, b, **kw),
                       lambda x, w, b: torch.nn.functional.conv1d(x, w, b, **kw), [x, w, b])
    np.testing.assert_allclose(layer(tinymm.tensor(x)).detach().numpy(),
                               ref(torch.tensor(x)).detach().numpy(), atol=1e-12)
    unbatched = layer(tinymm.tensor(x[0]))
    assert unbatched.shape == tuple(ref(torch.tensor(x[0])).shape)


def test_conv1d_bad_input():
    with pytest.raises(ValueError, match="conv1d: input has 4 channels"):
        F.conv1d(tinymm.zeros(1, 4, 5), tinymm.zeros(2, 3, 3))
    with pytest.raises(ValueError, match="groups=2, input .* needs a weight with dim 1 = 2"):
        F.conv1d(tinymm.zeros(1, 4, 5), tinymm.zeros(2, 4, 3), groups=2)
    with pytest.raises(ValueError, match="expected input"):
        nn.Conv1d(3, 2, 3)(tinymm.zeros(1, 3, 4, 4))


def test_group_norm_matches_torch():
    torch = pytest.importorskip("torch")
    x, w, b = _arrays((2, 4, 3, 2), 4, 4)
    _against_torch(lambda x, w, b: F.group_norm(x, 2, w, b),
                   lambda x, w, b: torch.nn.functional.group_norm(x, 2, w, b), [x, w, b],
                   atol=1e-9)
    layer, ref = nn.GroupNorm(2, 4), torch.nn.GroupNorm(2, 4)
    assert list(layer.state_dict()) == list(ref.state_dict())
    with pytest.raises(ValueError, match="GroupNorm: num_channels \\(5\\) must be divisible"):
        nn.GroupNorm(2, 5)


def test_dropout2d_zeroes_whole_channels_with_the_seeded_generator():
    x = tinymm.ones(4, 6, 3, 3, requires_grad=True)
    tinymm.manual_seed(3)
    y = nn.Dropout2d(0.5)(x)
    kept = y.detach().numpy()[:, :, 0, 0] != 0
    np.testing.assert_array_equal(y.detach().numpy(), kept[:, :, None, None] * 2.0
                                  * np.ones((4, 6, 3, 3)))
    assert 0 < kept.sum() < kept.size
    tinymm.manual_seed(3)
    np.testing.assert_array_equal(F.dropout2d(x, 0.5).detach().numpy(), y.detach().numpy())
    assert nn.Dropout2d(0.5).eval()(x) is x
    with pytest.raises(ValueError, match="dropout2d: expected a 3-d"):
        F.dropout2d(tinymm.ones(2, 3))


def test_unflatten_zeropad_and_distance_modules_match_torch():
    torch = pytest.importorskip("torch")
    a = _arrays((2, 12))[0]
    np.testing.assert_array_equal(nn.Unflatten(1, (3, 4))(tinymm.tensor(a)).numpy(),
                                  torch.nn.Unflatten(1, (3, 4))(torch.tensor(a)).numpy())
    img = _arrays((1, 2, 3, 3))[0]
    for padding in (1, (1, 0, 2, 1)):
        np.testing.assert_array_equal(
            nn.ZeroPad2d(padding)(tinymm.tensor(img)).numpy(),
            torch.nn.ZeroPad2d(padding)(torch.tensor(img)).numpy())
    u, v = _arrays((3, 4), (3, 4))
    np.testing.assert_allclose(nn.CosineSimilarity()(tinymm.tensor(u), tinymm.tensor(v)).numpy(),
                               torch.nn.CosineSimilarity()(torch.tensor(u),
                                                           torch.tensor(v)).numpy())
    np.testing.assert_allclose(nn.PairwiseDistance()(tinymm.tensor(u), tinymm.tensor(v)).numpy(),
                               torch.nn.PairwiseDistance()(torch.tensor(u),
                                                           torch.tensor(v)).numpy())


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_pad_modes_match_torch(mode):
    torch = pytest.importorskip("torch")
    _against_torch(lambda x: F.pad(x, (1, 2, 2, 0), mode=mode),
                   lambda x: torch.nn.functional.pad(x, (1, 2, 2, 0), mode=mode),
                   _arrays((1, 2, 3, 4)))
    with pytest.raises(ValueError, match="pad: mode 'reflect' needs widths at most 2"):
        F.pad(tinymm.zeros(1, 1, 3), (3, 0), mode="reflect")


def test_softmax_without_dim_takes_pytorchs_implicit_dim_and_warns():
    """F.softmax / F.log_softmax / nn.Softmax() without dim: dim 0 for 1-d and 3-d input, else
    dim 1, with PyTorch's deprecation warning (not the last axis)."""
    x = np.random.default_rng(2).standard_normal((2, 3, 4, 5))
    for shape, dim in (((5,), 0), ((2, 5), 1), ((2, 3, 4), 0), ((2, 3, 4, 5), 1)):
        a = x.reshape(-1)[: int(np.prod(shape))].reshape(shape)
        want = np.exp(a) / np.exp(a).sum(axis=dim, keepdims=True)
        with pytest.warns(UserWarning, match=f"include dim={dim}"):
            got = tinymm.nn.functional.softmax(tinymm.tensor(a))
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
        with pytest.warns(UserWarning):
            np.testing.assert_allclose(tinymm.nn.Softmax()(tinymm.tensor(a)).numpy(), want,
                                       rtol=1e-12)
        with pytest.warns(UserWarning):
            got = tinymm.nn.functional.log_softmax(tinymm.tensor(a))
        np.testing.assert_allclose(got.numpy(), np.log(want), rtol=1e-10)


@pytest.mark.parametrize("size_average, reduce, reduction", [
    (False, None, "sum"), (True, None, "mean"), (None, False, "none"), (False, False, "none"),
])
def test_legacy_size_average_and_reduce_map_to_reduction_with_pytorchs_warning(
        size_average, reduce, reduction):
    torch = pytest.importorskip("torch")
    logp = np.log(RNG.dirichlet(np.ones(4), 3))
    target = np.array([0, 3, 1])
    x, y = RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4))
    legacy = {"size_average": size_average, "reduce": reduce}
    cases = [
        (F.nll_loss, torch.nn.functional.nll_loss, (logp, target)),
        (F.cross_entropy, torch.nn.functional.cross_entropy, (x, target)),
        (F.mse_loss, torch.nn.functional.mse_loss, (x, y)),
        (F.l1_loss, torch.nn.functional.l1_loss, (x, y)),
        (F.smooth_l1_loss, torch.nn.functional.smooth_l1_loss, (x, y)),
        (F.binary_cross_entropy, torch.nn.functional.binary_cross_entropy,
         (1 / (1 + np.exp(-x)), (y > 0).astype(np.float64))),
    ]
    for ours, theirs, args in cases:
        with pytest.warns(UserWarning, match=f"reduction='{reduction}'"):
            got = ours(*map(tinymm.tensor, args), **legacy)
        with pytest.warns(UserWarning):
            want = theirs(*map(torch.tensor, args), **legacy)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, err_msg=ours.__name__)
    with pytest.warns(UserWarning):
        module = nn.NLLLoss(size_average=size_average, reduce=reduce)
    assert module.reduction == reduction
    with pytest.warns(UserWarning):
        assert nn.MSELoss(size_average=size_average, reduce=reduce).reduction == reduction
