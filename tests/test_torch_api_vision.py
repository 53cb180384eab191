"""ConvTranspose2d, pixel (un)shuffle, unfold/fold, instance norm, EmbeddingBag and
gumbel_softmax, held to PyTorch's values and gradients, plus float64 gradchecks."""

from __future__ import annotations

import numpy as np
import pytest

import tinymm
from tinymm import F, nn

RNG = np.random.default_rng(0)


def _both(fn_ours, fn_torch, arrays, grad_of=None, tol=1e-10):
    """Forward both on the same float64 inputs; compare outputs and the gradients of a
    fixed weighted sum with respect to the inputs listed in ``grad_of``."""
    torch = pytest.importorskip("torch")
    grad_of = range(len(arrays)) if grad_of is None else grad_of
    ours = [tinymm.tensor(a, requires_grad=i in grad_of) for i, a in enumerate(arrays)]
    theirs = [torch.tensor(a, requires_grad=i in grad_of) for i, a in enumerate(arrays)]
    out, ref = fn_ours(*ours), fn_torch(*theirs)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=tol, atol=tol)
    weights = np.linspace(-1, 1, ref.numel()).reshape(tuple(ref.shape))
    (out * tinymm.tensor(weights)).sum().backward()
    (ref * torch.tensor(weights)).sum().backward()
    for i in grad_of:
        np.testing.assert_allclose(ours[i].grad.numpy(), theirs[i].grad.numpy(), rtol=tol,
                                   atol=tol, err_msg=f"input {i}")


@pytest.mark.parametrize("stride,padding,output_padding,dilation",
                         [(1, 0, 0, 1), (2, 1, 1, 1), ((2, 3), (0, 1), (1, 2), (1, 2))])
def test_conv_transpose2d_matches_torch(stride, padding, output_padding, dilation):
    torch = pytest.importorskip("torch")
    x, w, b = RNG.standard_normal((2, 3, 4, 3)), RNG.standard_normal((3, 2, 3, 2)), \
        RNG.standard_normal(2)
    opts = dict(stride=stride, padding=padding, output_padding=output_padding,
                dilation=dilation)
    _both(lambda *t: F.conv_transpose2d(*t, **opts),
          lambda *t: torch.nn.functional.conv_transpose2d(*t, **opts), [x, w, b])


def test_conv_transpose2d_layer_state_dict_output_size_gradcheck_and_errors():
    torch = pytest.importorskip("torch")
    theirs = torch.nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1).double()
    ours = nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, dtype=np.float64)
    assert [tuple(p.shape) for p in ours.parameters()] == \
        [tuple(p.shape) for p in theirs.parameters()]
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = RNG.standard_normal((1, 3, 3, 4))
    got = ours(tinymm.tensor(x), output_size=(6, 8)).detach().numpy()
    want = theirs(torch.tensor(x), output_size=(6, 8)).detach().numpy()
    assert got.shape == (1, 2, 6, 8)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    bound = 1 / np.sqrt(2 * 9)
    fresh = nn.ConvTranspose2d(4, 2, 3)
    assert abs(fresh.weight.detach().numpy()).max() <= bound + 1e-6
    assert tinymm.gradcheck(lambda a, w: F.conv_transpose2d(a, w, stride=2, output_padding=1),
                            (RNG.standard_normal((1, 2, 2, 2)), RNG.standard_normal((2, 1, 2, 2))))
    with pytest.raises(ValueError, match="output_padding must be smaller"):
        F.conv_transpose2d(tinymm.zeros(1, 3, 3, 3), tinymm.zeros(3, 2, 3, 3), output_padding=1)
    with pytest.raises(ValueError, match="input has 2 channels but the weight expects"):
        F.conv_transpose2d(tinymm.zeros(1, 2, 3, 3), tinymm.zeros(3, 2, 3, 3))
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.ConvTranspose2d(2, 3, 3, groups=2)
    with pytest.raises(ValueError, match="output_size .* is not reachable"):
        ours(tinymm.tensor(x), output_size=(9, 8))


def test_pixel_shuffle_unfold_fold_match_torch():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x = RNG.standard_normal((2, 8, 2, 3))
    _both(lambda t: F.pixel_shuffle(t, 2), lambda t: tf.pixel_shuffle(t, 2), [x])
    _both(lambda t: F.pixel_unshuffle(t, 2), lambda t: tf.pixel_unshuffle(t, 2),
          [RNG.standard_normal((3, 2, 4, 6))])
    opts = dict(kernel_size=(2, 3), dilation=(1, 2), padding=1, stride=(2, 1))
    image = RNG.standard_normal((2, 2, 5, 6))
    _both(lambda t: F.unfold(t, **opts), lambda t: tf.unfold(t, **opts), [image])
    cols = tf.unfold(torch.tensor(image), **opts).numpy()
    _both(lambda t: F.fold(t, (5, 6), **opts), lambda t: tf.fold(t, (5, 6), **opts), [cols])
    assert nn.PixelShuffle(2)(tinymm.tensor(x)).shape == (2, 2, 4, 6)
    assert tinymm.gradcheck(lambda t: F.fold(t, (3, 3), 2), (RNG.standard_normal((1, 8, 4)),))
    with pytest.raises(ValueError, match="divisible by upscale_factor"):
        F.pixel_shuffle(tinymm.zeros(1, 3, 2, 2), 2)
    with pytest.raises(ValueError, match="number of patches"):
        F.fold(tinymm.zeros(1, 8, 5), (3, 3), 2)


def test_instance_norm_matches_torch_and_tracks_running_stats():
    torch = pytest.importorskip("torch")
    x, w, b = RNG.standard_normal((2, 3, 4, 5)), RNG.standard_normal(3), RNG.standard_normal(3)
    _both(lambda *t: F.instance_norm(t[0], weight=t[1], bias=t[2]),
          lambda *t: torch.nn.functional.instance_norm(t[0], weight=t[1], bias=t[2]), [x, w, b],
          tol=1e-9)
    ours = nn.InstanceNorm2d(3, affine=True, track_running_stats=True, dtype=np.float64)
    theirs = torch.nn.InstanceNorm2d(3, affine=True, track_running_stats=True).double()
    ours(tinymm.tensor(x))
    theirs(torch.tensor(x))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for k, v in theirs.state_dict().items():
        np.testing.assert_allclose(np.asarray(ours.state_dict()[k]), v.numpy(), rtol=1e-10)
    ours.eval()
    theirs.eval()
    np.testing.assert_allclose(ours(tinymm.tensor(x[0])).detach().numpy(),
                               theirs(torch.tensor(x[0])).detach().numpy(), rtol=1e-9)
    assert tinymm.gradcheck(lambda t: F.instance_norm(t), (RNG.standard_normal((1, 2, 3, 2)),))
    with pytest.raises(ValueError, match=r"InstanceNorm2d\(3\): expected"):
        ours(tinymm.zeros(2, 4, 3, 3))


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_matches_torch(mode):
    torch = pytest.importorskip("torch")
    weight = RNG.standard_normal((6, 3))
    idx, offsets = np.array([1, 2, 4, 5, 4, 3, 2, 0]), np.array([0, 2, 2, 5])
    psw = RNG.standard_normal(8) if mode == "sum" else None

    def ours(w):
        extra = {} if psw is None else {"per_sample_weights": tinymm.tensor(psw)}
        return F.embedding_bag(tinymm.tensor(idx), w, tinymm.tensor(offsets), mode=mode,
                               padding_idx=2, **extra)

    def theirs(w):
        extra = {} if psw is None else {"per_sample_weights": torch.tensor(psw)}
        return torch.nn.functional.embedding_bag(torch.tensor(idx), w, torch.tensor(offsets),
                                                 mode=mode, padding_idx=2, **extra)

    _both(ours, theirs, [weight])
    layer = nn.EmbeddingBag(6, 3, mode=mode)
    assert layer(tinymm.tensor(idx.reshape(2, 4))).shape == (2, 3)


def test_embedding_bag_errors_and_gumbel_softmax():
    with pytest.raises(ValueError, match="offsets must be None for a 2-d input"):
        F.embedding_bag(tinymm.tensor([[0, 1]]), tinymm.zeros(3, 2), tinymm.tensor([0]))
    with pytest.raises(ValueError, match="offsets must start at 0"):
        F.embedding_bag(tinymm.tensor([0, 1]), tinymm.zeros(3, 2), tinymm.tensor([1]))
    logits = tinymm.tensor(RNG.standard_normal((2000, 3)), requires_grad=True)
    tinymm.manual_seed(0)
    soft = F.gumbel_softmax(logits, tau=0.5)
    np.testing.assert_allclose(soft.detach().numpy().sum(-1), 1.0, rtol=1e-12)
    hard = F.gumbel_softmax(logits, hard=True)
    h = hard.detach().numpy()
    assert set(np.unique(h)) == {0.0, 1.0} and (h.sum(-1) == 1).all()
    # the argmax of logits + Gumbel noise is a sample of softmax(logits)
    one = tinymm.tensor(np.tile([0.0, 1.0, 2.0], (4000, 1)))
    freq = F.gumbel_softmax(one, hard=True).numpy().mean(0)
    expected = np.exp([0.0, 1.0, 2.0]) / np.exp([0.0, 1.0, 2.0]).sum()
    np.testing.assert_allclose(freq, expected, atol=0.03)
    (hard * tinymm.tensor(RNG.standard_normal((2000, 3)))).sum().backward()
    assert np.abs(logits.grad.numpy()).sum() > 0
    with pytest.raises(ValueError, match="tau must be positive"):
        F.gumbel_softmax(logits, tau=0)
