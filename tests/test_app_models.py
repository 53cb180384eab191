"""The dual encoder and the captioners: shapes, bad input, decoding, and the PyTorch twins."""

from __future__ import annotations

import numpy as np
import pytest

import tinymm
from tinymm import nn
from tinymm.data.shapes_captions import MAX_CAPTION_LEN, CaptionPairs, ShapesCaptions
from tinymm.models.captioning import (
    Captioner,
    CaptionerConfig,
    auxiliary_loss,
    beam_search,
    caption_loss,
    coverage_penalty,
    greedy_decode,
    slot_loss,
    uses_auxiliary_loss,
)
from tinymm.models.retrieval import DualEncoder, DualEncoderConfig
from tinymm.ops.info_nce import info_nce

SMALL = {"conv1_channels": 4, "conv2_channels": 8, "embed_dim": 8, "hidden_size": 12,
         "image_dim": 10}


@pytest.fixture(scope="module")
def batch():
    return ShapesCaptions(6, seed=2).batch(np.arange(6))


def _captioner(attention, seed=0, **options):
    nn.init.seed(seed)
    return Captioner(CaptionerConfig(attention=attention, attention_dim=6, **SMALL, **options))


def test_dual_encoder_embeddings_are_unit_rows(batch):
    nn.init.seed(0)
    model = DualEncoder(DualEncoderConfig(joint_dim=7, **SMALL))
    u, w = model(batch["image"], batch["tokens"], batch["lengths"])
    assert u.shape == w.shape == (6, 7)
    np.testing.assert_allclose((u.array ** 2).sum(1), 1, rtol=1e-5)
    assert model.clamped_logit_scale().item() == pytest.approx(np.log(1 / 0.07), rel=1e-6)
    with pytest.raises(ValueError, match="DualEncoder: token ids must be in"):
        model(batch["image"], batch["tokens"] + 40, batch["lengths"])
    with pytest.raises(ValueError, match=r"DualEncoder: image must be \(N, 3, 32, 32\)"):
        model(batch["image"][:, :, :16], batch["tokens"], batch["lengths"])


@pytest.mark.parametrize("attention", [False, True], ids=["plain", "attention"])
def test_captioner_shapes_and_bad_input(batch, attention):
    model = _captioner(attention)
    logits = model(batch["image"], batch["tokens"])
    assert logits.shape == (6, MAX_CAPTION_LEN - 1, 33)
    if attention:
        assert model.last_attention.shape == (6, MAX_CAPTION_LEN - 1, 64)
        np.testing.assert_allclose(model.last_attention.sum(-1), 1, rtol=1e-5)
    long = np.concatenate([batch["tokens"], batch["tokens"][:, :3]], axis=1)
    with pytest.raises(ValueError, match="exceed the decoder's maximum max_len=24"):
        model(batch["image"], long)
    with pytest.raises(ValueError, match="Captioner: batch sizes differ"):
        model(batch["image"][:2], batch["tokens"])
    with pytest.raises(ValueError, match=r"max_len must be an integer in \[2, 24\]"):
        greedy_decode(model, batch["image"], max_len=40)
    with pytest.raises(ValueError, match="Captioner: with_words needs a model built with "
                                         "word_loss > 0"):
        model(batch["image"], batch["tokens"], with_words=True)
    with pytest.raises(ValueError, match="word_loss must be a finite number >= 0, got -1"):
        CaptionerConfig(word_loss=-1)
    with pytest.raises(ValueError, match="slot_loss must be a finite number >= 0, got inf"):
        CaptionerConfig(slot_loss=float("inf"))
    with pytest.raises(ValueError, match="coverage must be a finite number >= 0, got True"):
        CaptionerConfig(coverage=True)


def test_a_checkpoint_config_without_the_new_fields_keeps_the_seed_tower():
    saved = CaptionerConfig(early_pool=False, coverage=0.0).to_dict()
    del saved["early_pool"], saved["coverage"]  # as a checkpoint written before them
    old_config = CaptionerConfig.from_dict(saved)
    assert (old_config.early_pool, old_config.coverage) == (False, 0.0)
    new_config = CaptionerConfig.from_dict(CaptionerConfig().to_dict())
    assert (new_config.early_pool, new_config.coverage) == (True, 0.1)
    nn.init.seed(0)
    old, new = Captioner(CaptionerConfig(early_pool=False)), Captioner(CaptionerConfig())
    new.load_state_dict(old.state_dict())  # same parameters, a different function
    image = ShapesCaptions(2, seed=0).image_array()
    with tinymm.no_grad():
        assert not np.allclose(old.encode_image(image).array, new.encode_image(image).array)


def test_slot_head_classes_match_the_data():
    from tinymm.data.shapes_vqa import COLORS, MAX_OBJECTS, SHAPES
    from tinymm.models import captioning

    assert (captioning.SLOTS, captioning.SLOT_COLOURS, captioning.SLOT_SHAPES) == (
        MAX_OBJECTS, len(COLORS), len(SHAPES))


def test_slot_loss_is_the_colour_and_shape_cross_entropy_per_slot():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 4, 11))
    slots = np.array([[[0, 1], [5, 2], [-1, -1], [-1, -1]], [[2, 0], [1, 1], [3, 2], [4, 0]],
                      [[1, 2], [1, 2], [0, 0], [-1, -1]]])

    def ce(z, target):  # mean over rows of -log softmax(z)[target]
        lp = z - np.log(np.exp(z).sum(-1, keepdims=True))
        return -np.take_along_axis(lp, target[:, None], axis=1).mean()

    flat, s = logits.reshape(-1, 11), slots.reshape(-1, 2)
    expected = ce(flat[:, :7], np.where(s[:, 0] < 0, 6, s[:, 0])) + \
        ce(flat[:, 7:], np.where(s[:, 1] < 0, 3, s[:, 1]))
    assert slot_loss(tinymm.tensor(logits), slots).item() == pytest.approx(expected, rel=1e-9)


def test_coverage_penalty_by_hand_and_its_gradient():
    rng = np.random.default_rng(1)
    alphas = rng.dirichlet(np.ones(5), size=(2, 3))  # (N=2, T-1=3, R=5), rows sum to 1
    tokens = np.array([[2, 7, 8, 3], [2, 9, 3, 0]])  # the second caption: 2 real targets
    total = np.stack([alphas[0].sum(0), alphas[1, :2].sum(0)])  # (2, 5)
    expected = ((1 - total) ** 2).sum(1).mean()
    assert coverage_penalty(tinymm.tensor(alphas), tokens).item() == pytest.approx(expected)
    x = tinymm.tensor(alphas, requires_grad=True)
    assert tinymm.gradcheck(lambda a: coverage_penalty(a, tokens), (x,))


# the h0/c0-only decoders on the seed tower
SEED_DECODER = {"image_input": False, "region_positions": False, "early_pool": False,
                "coverage": 0.0}
VARIANTS = pytest.mark.parametrize("attention,options", [
    (False, SEED_DECODER), (True, SEED_DECODER), (False, {"word_loss": 0.5}), (True, {}),
    (False, {"map_conv": True, "batch_norm": True}), (True, {"context_gate": True})],
    ids=["plain-seed", "attention-seed", "plain-words", "attention", "plain-tower",
         "attention-gate"])


@VARIANTS
def test_teacher_forcing_equals_stepping_the_decoder(batch, attention, options):
    model = _captioner(attention, **options)
    with tinymm.no_grad():
        logits = model(batch["image"], batch["tokens"]).array
        state = model.start(batch["image"])
        for t in range(4):
            step_logits, state, _ = model.step(batch["tokens"][:, t], state)
            np.testing.assert_allclose(step_logits.array, logits[:, t], rtol=1e-5, atol=1e-6)


@VARIANTS
def test_beam_width_one_is_greedy_and_wider_beams_score_at_least_as_well(batch, attention,
                                                                          options):
    model = _captioner(attention, seed=3, **options)
    greedy, _ = greedy_decode(model, batch["image"], max_len=10)
    one = beam_search(model, batch["image"], beam=1, max_len=10)
    np.testing.assert_array_equal(one, greedy)
    three = beam_search(model, batch["image"], beam=3, max_len=10)
    assert three.shape[0] == 6 and (three[:, 0] == 2).all()

    def score(seqs):  # sum of log p of each sequence up to and including its first <end>
        from tinymm.models.captioning import _word_log_probs

        total = np.zeros(len(seqs))
        with tinymm.no_grad():
            state = model.start(batch["image"])
            done = np.zeros(len(seqs), dtype=bool)
            for t in range(seqs.shape[1] - 1):
                logits, state, _ = model.step(seqs[:, t], state)
                logp = _word_log_probs(logits)[np.arange(len(seqs)), seqs[:, t + 1]]
                total += np.where(done, 0.0, logp)
                done |= seqs[:, t + 1] == 3
        return total

    assert (score(three) >= score(greedy) - 1e-5).all()
    with pytest.raises(ValueError, match="beam must be a positive integer"):
        beam_search(model, batch["image"], beam=0)


def test_caption_loss_ignores_padding(batch):
    model = _captioner(False)
    logits = model(batch["image"], batch["tokens"])
    loss = caption_loss(logits, batch["tokens"]).item()
    target = batch["tokens"][:, 1:]
    lp = logits.array - np.log(np.exp(logits.array).sum(-1, keepdims=True))
    picked = np.take_along_axis(lp, target[..., None], axis=-1)[..., 0]
    assert loss == pytest.approx(-picked[target != 0].mean(), rel=1e-5)


def test_a_short_run_conditions_the_captions_on_the_image():
    """After 60 Adam steps on 96 images the decoder reads the image: its loss with the right
    images is below its loss with the images shuffled, and the CNN still gets a gradient.
    (With tanh on the initial state both losses were equal and the CNN's gradient was 0.)"""
    from tinymm.autograd import no_grad
    from tinymm.data.shapes_captions import CaptionPairs
    from tinymm.optim import Adam

    pairs = CaptionPairs(ShapesCaptions(96, seed=0))
    nn.init.seed(0)
    model = Captioner(CaptionerConfig(conv1_channels=8, conv2_channels=16, embed_dim=16,
                                      hidden_size=48, image_dim=32))
    opt = Adam(model.parameters(), lr=1e-2)
    order = np.random.default_rng(1).permutation(len(pairs))
    for step in range(60):
        b = pairs.batch(order[(step * 24) % len(pairs):][:24])
        L = int(b["lengths"].max())
        opt.zero_grad()
        caption_loss(model(b["image"], b["tokens"][:, :L]), b["tokens"][:, :L]).backward()
        opt.step()
    assert np.linalg.norm(model.conv2.weight.grad.array) > 1e-4
    b = pairs.batch(np.arange(0, len(pairs), 3))  # every image once, its first caption
    L = int(b["lengths"].max())
    tokens = b["tokens"][:, :L]
    with no_grad():
        right = caption_loss(model(b["image"], tokens), tokens).item()
        shuffled = caption_loss(model(b["image"][np.roll(np.arange(96), 1)], tokens),
                                tokens).item()
    assert shuffled > right + 5e-3, (right, shuffled)


def _grads(model):
    return {k: p.grad.array for k, p in model.named_parameters()}


def test_dual_encoder_same_function_as_pytorch(batch):
    torch = pytest.importorskip("torch")
    from tests.oracles.torch_apps import build_torch_dual_encoder, torch_info_nce
    from tests.oracles.torch_model import copy_weights

    nn.init.seed(1)
    model = DualEncoder(DualEncoderConfig(joint_dim=7, **SMALL))
    twin = build_torch_dual_encoder(model.config)
    copy_weights(model, twin)
    u, w = model(batch["image"], batch["tokens"], batch["lengths"])
    loss = info_nce(u, w, model.clamped_logit_scale())
    loss.backward()
    tu, tw, ts = twin(torch.tensor(batch["image"]), torch.tensor(batch["tokens"]),
                      torch.tensor(batch["lengths"]))
    t_loss = torch_info_nce(tu, tw, ts)
    t_loss.backward()
    np.testing.assert_allclose(u.array, tu.detach().numpy(), rtol=1e-4, atol=1e-5)
    assert loss.item() == pytest.approx(t_loss.item(), rel=1e-5)
    theirs = dict(twin.named_parameters())
    for name, g in _grads(model).items():
        np.testing.assert_allclose(g, theirs[name].grad.numpy(), rtol=1e-3, atol=1e-5,
                                   err_msg=name)


TWIN_VARIANTS = pytest.mark.parametrize("attention,options", [
    (False, SEED_DECODER), (True, SEED_DECODER), (False, {"word_loss": 0.5}), (True, {}),
    (False, {"slot_loss": 0.7, "map_conv": True, "batch_norm": True}),
    (True, {"coverage": 0.3, "context_gate": True, "slot_loss": 0.7, "word_loss": 0.5,
            "batch_norm": True, "early_pool": False})],
    ids=["plain-seed", "attention-seed", "plain-words", "attention", "plain-slots",
         "attention-all"])


@TWIN_VARIANTS
def test_captioner_same_function_as_pytorch(attention, options):
    """Outputs, the whole training loss (caption + auxiliary terms) and every gradient equal
    the PyTorch twin's from the same weights."""
    torch = pytest.importorskip("torch")
    from tests.oracles.torch_apps import build_torch_captioner, torch_captioning_loss
    from tests.oracles.torch_model import copy_weights

    batch = CaptionPairs(ShapesCaptions(6, seed=2)).batch(np.arange(0, 18, 3))
    model = _captioner(attention, seed=4, **options)
    twin = build_torch_captioner(model.config)
    copy_weights(model, twin)
    tokens = batch["tokens"][:, :12]
    logits, aux = model(batch["image"], tokens, with_aux=True)
    t_tokens = torch.tensor(tokens)
    t_logits, t_aux = twin(torch.tensor(batch["image"]), t_tokens, with_aux=True)
    assert sorted(aux) == sorted(t_aux)
    for key in aux:
        np.testing.assert_allclose(aux[key].array, t_aux[key].detach().numpy(), rtol=1e-4,
                                   atol=1e-4, err_msg=key)  # float32 through BatchNorm
    loss = caption_loss(logits, tokens)
    if uses_auxiliary_loss(model.config):
        loss = loss + auxiliary_loss(model, aux, batch, tokens)
    t_loss = torch_captioning_loss(model.config, t_logits, t_aux, batch, t_tokens)
    assert loss.item() == pytest.approx(t_loss.item(), rel=1e-5)
    loss.backward()
    t_loss.backward()
    np.testing.assert_allclose(logits.array, t_logits.detach().numpy(), rtol=1e-4, atol=1e-5)
    if attention:
        np.testing.assert_allclose(model.last_attention, twin.last_attention.detach().numpy(),
                                   rtol=1e-4, atol=1e-6)
    theirs = dict(twin.named_parameters())
    assert sorted(theirs) == sorted(dict(model.named_parameters()))
    for name, g in _grads(model).items():
        np.testing.assert_allclose(g, theirs[name].grad.numpy(), rtol=1e-3, atol=1e-5,
                                   err_msg=name)
