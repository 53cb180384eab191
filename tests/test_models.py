"""The seed multimodal model: shapes and gradients for every fusion, masking, baselines,
bad input, and (when installed) PyTorch and the Keras front end computing the same function."""

from __future__ import annotations

import numpy as np
import pytest

import tinymm
from tinymm.data import ShapesVQA, shapes_vqa_tokenizer
from tinymm.models import FUSIONS, MultimodalConfig, MultimodalVQA

TINY = dict(vocab_size=24, num_answers=16, conv1_channels=4, conv2_channels=8, embed_dim=16,
            hidden_size=16, fused_dim=16, head_hidden=16, num_heads=2, bilinear_rank=4)


@pytest.fixture(scope="module")
def batch():
    return ShapesVQA(5, seed=0).batch(np.arange(5))


def tiny_model(fusion: str, seed: int = 0, **overrides) -> MultimodalVQA:
    tinymm.nn.init.seed(seed)
    return MultimodalVQA(MultimodalConfig(fusion=fusion, **{**TINY, **overrides}))


@pytest.mark.parametrize("fusion", FUSIONS)
def test_every_fusion_gives_logits_and_gradients(fusion, batch):
    model = tiny_model(fusion)
    logits = model(tinymm.tensor(batch["image"]), batch["tokens"], batch["lengths"])
    assert logits.shape == (5, 16) and logits.dtype == np.float32
    loss = tinymm.F.cross_entropy(logits, batch["answer"])
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape, name
        assert np.isfinite(p.grad).all(), name
    names = {n.split(".")[0] for n, _ in model.named_parameters()}
    assert ("conv1" in names) == (fusion != "question_only")
    assert ("lstm" in names) == (fusion != "image_only")


def test_attention_map_is_a_distribution_over_64_regions(batch):
    model = tiny_model("attention")
    logits, a = model.forward_with_attention(batch["image"], batch["tokens"], batch["lengths"])
    a = a.array
    assert a.shape == (5, 64) and logits.shape == (5, 16)
    assert model(batch["image"], batch["tokens"], batch["lengths"]).shape == (5, 16)
    assert tiny_model("multiply").forward_with_attention(
        batch["image"], batch["tokens"], batch["lengths"])[1] is None
    assert np.allclose(a.sum(axis=1), 1.0, atol=1e-5) and (a >= 0).all()


@pytest.mark.parametrize("fusion", ["attention", "multiply"])
def test_padding_does_not_change_the_answer(fusion, batch):
    model = tiny_model(fusion)
    logits = model(batch["image"], batch["tokens"], batch["lengths"]).array
    padded = np.pad(batch["tokens"], ((0, 0), (0, 3)))  # three more <pad> columns
    again = model(batch["image"], padded, batch["lengths"]).array
    assert np.allclose(logits, again, atol=1e-5)


def test_unimodal_baselines_ignore_the_other_modality(batch):
    image_only, question_only = tiny_model("image_only"), tiny_model("question_only")
    other_tokens = batch["tokens"][::-1].copy()
    other_lengths = batch["lengths"][::-1].copy()
    a = image_only(batch["image"], batch["tokens"], batch["lengths"]).array
    b = image_only(batch["image"], other_tokens, other_lengths).array
    assert np.array_equal(a, b)
    c = question_only(batch["image"], batch["tokens"], batch["lengths"]).array
    d = question_only(np.zeros_like(batch["image"]), batch["tokens"], batch["lengths"]).array
    assert np.array_equal(c, d)


def test_default_config_is_the_seed_architecture():
    model = MultimodalVQA(MultimodalConfig(fusion="multiply"))
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    assert shapes["conv1.weight"] == (32, 3, 3, 3)
    assert shapes["conv2.weight"] == (64, 32, 3, 3)
    assert shapes["image_fc.weight"] == (128, 4096)
    assert shapes["embedding.weight"] == (len(shapes_vqa_tokenizer()), 128) == (24, 128)
    assert shapes["head_hidden.weight"] == (128, 128)
    assert shapes["head_out.weight"] == (16, 128)


def test_bad_input_is_refused(batch):
    with pytest.raises(ValueError, match="unknown fusion 'sum'; valid fusions: concat"):
        MultimodalConfig(fusion="sum")
    model = tiny_model("concat")
    with pytest.raises(ValueError, match=r"image must be \(N, 3, 32, 32\)"):
        model(batch["image"][:, :, :16], batch["tokens"], batch["lengths"])
    with pytest.raises(ValueError, match="token ids must be in"):
        model(batch["image"], batch["tokens"] + 100, batch["lengths"])
    with pytest.raises(ValueError, match="lengths must be in"):
        model(batch["image"], batch["tokens"], batch["lengths"] * 0)
    with pytest.raises(ValueError, match="batch sizes differ"):
        model(batch["image"][:2], batch["tokens"], batch["lengths"])


@pytest.mark.parametrize("fusion, overrides", [(f, {}) for f in FUSIONS]
                         + [("attention_count", {"count_patterns": 0}),  # the plain sums
                            ("attention_count", {"early_pool": False}),  # seed order + BN
                            ("attention_count", {"early_pool": False, "batch_norm": False}),
                            ("attention", {"early_pool": True})])
def test_same_function_as_pytorch(fusion, overrides, batch):
    torch = pytest.importorskip("torch")
    from tests.oracles.torch_model import build_torch_model, copy_weights

    model = tiny_model(fusion, seed=3, **overrides)
    reference = build_torch_model(model.config)
    copy_weights(model, reference)
    # The shapes' flat colour regions make equal neighbours after a convolution, so a max-pool
    # window can hold an exact tie in one library and a last-bit difference in the other
    # (PyTorch's conv rounding depends on the CPU it runs on); its gradient then goes to a
    # different element (each library's choice is a valid subgradient). Noise on the pixels
    # leaves no ties: the gradients are then the same function's.
    pixels = batch["image"] + 1e-2 * np.random.default_rng(7).standard_normal(
        batch["image"].shape)
    batch = {**batch, "image": pixels.astype(np.float32)}
    image = tinymm.tensor(batch["image"], requires_grad=True)
    logits, attention = model.forward_with_attention(image, batch["tokens"], batch["lengths"])
    tinymm.F.cross_entropy(logits, batch["answer"]).backward()

    t_image = torch.tensor(batch["image"], requires_grad=True)
    t_logits = reference(t_image, torch.tensor(batch["tokens"]), torch.tensor(batch["lengths"]))
    torch.nn.functional.cross_entropy(t_logits, torch.tensor(batch["answer"])).backward()
    assert np.allclose(logits.array, t_logits.detach().numpy(), rtol=1e-4, atol=1e-5)
    if fusion != "question_only":  # the baseline never reads the image: no gradient
        assert np.allclose(image.grad, t_image.grad.numpy(), rtol=1e-3, atol=1e-6)
    t_params = dict(reference.named_parameters())
    for name, p in model.named_parameters():
        # a conv bias under BatchNorm is removed by the mean: its gradient is 0 up to rounding
        atol = 1e-5 if model.config.batch_norm and name in ("conv1.bias", "conv2.bias") \
            else 1e-6
        assert np.allclose(p.grad, t_params[name].grad.numpy(), rtol=1e-3, atol=atol), name
    if fusion in ("attention", "attention_count"):
        assert np.allclose(attention.array, reference.last_attention.detach().numpy(),
                           atol=1e-5)


@pytest.mark.parametrize("fusion", ["concat", "multiply", "image_only", "question_only"])
def test_keras_front_end_expresses_the_same_model(fusion, batch):
    pytest.importorskip("tinymm.keras")
    from tests.oracles.keras_seed import build_keras_model, load_keras_weights

    config = MultimodalConfig(fusion=fusion, **TINY)
    keras_model = build_keras_model(config)
    model = MultimodalVQA(config)
    load_keras_weights(keras_model, model)
    nhwc = batch["image"].transpose(0, 2, 3, 1)  # Keras images are channels-last
    expected = keras_model.predict([nhwc, batch["tokens"]])
    got = model(batch["image"], batch["tokens"], batch["lengths"]).array
    assert np.allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_keras_refuses_fusions_it_cannot_express():
    pytest.importorskip("tinymm.keras")
    from tests.oracles.keras_seed import build_keras_model

    with pytest.raises(ValueError, match="fusion 'attention' has no plain-Keras form"):
        build_keras_model(MultimodalConfig(fusion="attention", **TINY))


def test_region_counter_gradients_check():
    from tests.test_attention import module_gradcheck
    from tinymm.models.multimodal import RegionCounter

    rng = np.random.default_rng(0)
    counter = RegionCounter(3, 4, heads=2, dtype=np.float64)
    q, regions = rng.standard_normal((2, 3)), rng.standard_normal((2, 5, 4))
    module_gradcheck(counter, [q, regions], counter)


def test_region_counter_grows_with_matching_regions_where_softmax_averages():
    from tinymm.models.multimodal import RegionCounter

    tinymm.nn.init.seed(0)
    counter = RegionCounter(2, 2, heads=1)
    counter.probe.weight.array[:] = np.array([[0.0, 0.0], [0.0, 0.0]], np.float32)
    counter.probe.bias.array[:] = np.array([40.0, -40.0], np.float32)  # probe matches [1, 0]
    q = np.zeros((3, 2), np.float32)
    regions = np.zeros((3, 16, 2), np.float32)
    regions[:, :, 1] = 1.0  # every region is background [0, 1]
    for n, k in enumerate((1, 2, 4)):
        regions[n, :k] = [1.0, 0.0]  # k matching regions
    counts = counter(q, regions).array[:, 0] * 4.0  # undo the / sqrt(16)
    assert np.allclose(counts, [1.0, 2.0, 4.0], atol=1e-3)
    with pytest.raises(ValueError, match=r"RegionCounter\(query_dim=2, region_dim=2\): regions"):
        counter(q, regions[:, :, :1])
    with pytest.raises(ValueError, match="count_heads must be a positive integer"):
        MultimodalConfig(fusion="attention_count", count_heads=0)


def euler_counter(side: int):
    """A RegionCounter whose one probe matches regions [1, 0] and whose six 2x2 patterns
    are set by hand to the Euler-number terms: cells/4, the four adjacent pairs ReLU(a+b-1)
    and the full block ReLU(a+b+c+d-3); returns it and each pattern's weight in the sum."""
    from tinymm.models.multimodal import RegionCounter

    counter = RegionCounter(2, 2, heads=1, dtype=np.float64, patterns=6, map_size=side)
    counter.probe.weight.array[:] = 0.0
    counter.probe.bias.array[:] = [40.0, -40.0]  # score +-20: match is 0 or 1
    windows = [[[1, 1], [1, 1]], [[1, 1], [0, 0]], [[0, 0], [1, 1]], [[1, 0], [1, 0]],
               [[0, 1], [0, 1]], [[1, 1], [1, 1]]]  # the window [[a, b], [c, d]]
    counter.pattern.weight.array[:] = np.array(windows, np.float64)[:, None]  # (6, 1, 2, 2)
    counter.pattern.bias.array[:] = [0, -1, -1, -1, -1, -3]
    return counter, np.array([0.25, -0.5, -0.5, -0.5, -0.5, 1.0])


def test_region_counter_patterns_count_objects_not_cells():
    from tinymm.models.multimodal import RegionCounter

    side = 8
    counter, weights = euler_counter(side)
    # blobs of matching cells (top, left, height, width): 1 object of 16 cells, 2 of 1 and
    # 9 cells, 3 of 4, 6 and 2 cells, and 4 of assorted sizes; the other cells are background
    scenes = [[], [(0, 0, 4, 4)], [(0, 0, 1, 1), (4, 4, 3, 3)],
              [(0, 0, 2, 2), (0, 4, 2, 3), (5, 0, 1, 2)],
              [(0, 0, 3, 3), (0, 5, 3, 2), (5, 0, 2, 4), (6, 6, 2, 2)]]
    regions = np.zeros((len(scenes), side, side, 2))
    regions[..., 1] = 1.0
    for n, blobs in enumerate(scenes):
        for top, left, h, w in blobs:
            regions[n, top:top + h, left:left + w] = [1.0, 0.0]
    regions = regions.reshape(len(scenes), side * side, 2)  # (N, R, C) row-major cells
    q = np.zeros((len(scenes), 2))
    counts = counter(q, regions).array @ weights * side  # undo the / sqrt(R)
    assert np.allclose(counts, [0, 1, 2, 3, 4], atol=1e-6)
    plain = RegionCounter(2, 2, heads=1, dtype=np.float64)  # the same probe, no patterns
    plain.probe.load_state_dict(counter.probe.state_dict())
    cells = plain(q, regions).array[:, 0] * side  # the plain sum counts cells
    assert np.allclose(cells, [0, 16, 10, 12, 27], atol=1e-6)


def test_region_counter_patterns_gradients_check():
    from tests.test_attention import module_gradcheck
    from tinymm.models.multimodal import RegionCounter

    rng = np.random.default_rng(1)
    counter = RegionCounter(3, 4, heads=2, dtype=np.float64, patterns=3, map_size=3)
    q, regions = rng.standard_normal((2, 3)), rng.standard_normal((2, 9, 4))
    module_gradcheck(counter, [q, regions], counter)
    with pytest.raises(ValueError, match=r"regions must be the 3x3 map's R=9 cells, got R=8"):
        counter(q, regions[:, :8])
    with pytest.raises(ValueError, match="count_patterns must be an integer >= 0"):
        MultimodalConfig(fusion="attention_count", count_patterns=-1)


def test_checkpoint_configs_from_before_count_patterns_keep_the_plain_counter():
    old = MultimodalConfig(fusion="attention_count").to_dict()
    del old["count_patterns"]  # what a checkpoint of the previous version holds
    assert MultimodalConfig.from_dict(old).count_patterns == 0
    assert MultimodalConfig.from_dict(MultimodalConfig().to_dict()).count_patterns == 16


def test_tower_options_default_per_fusion_and_old_checkpoints_keep_the_seed_tower():
    for name in ("early_pool", "batch_norm"):
        assert getattr(MultimodalConfig(fusion="attention_count"), name) is True
        for fusion in FUSIONS:
            if fusion != "attention_count":
                assert getattr(MultimodalConfig(fusion=fusion), name) is False, fusion
        assert getattr(MultimodalConfig(fusion="attention_count", **{name: False}),
                       name) is False
        old = MultimodalConfig(fusion="attention_count").to_dict()
        del old[name]  # a checkpoint written before the field existed
        assert getattr(MultimodalConfig.from_dict(old), name) is False
        with pytest.raises(ValueError, match=rf"{name} must be True, False or None \(the "
                                             r"fusion's default\), got 1"):
            MultimodalConfig(**{name: 1})


@pytest.mark.parametrize("early_pool", [False, True])
def test_image_tower_order(early_pool):
    """early_pool moves pool1 before conv2: the same map shape from the same parameters,
    conv2 on the half-size map (checked against the layers called by hand)."""
    model = tiny_model("attention", early_pool=early_pool)
    image = np.random.default_rng(0).random((2, 3, 32, 32)).astype(np.float32)
    h = model.conv1(tinymm.tensor(image))
    h = model.pool1(model.conv2(model.pool1(h))) if early_pool else \
        model.pool1(model.pool1(model.conv2(h)))
    fmap = model.encode_image(tinymm.tensor(image))
    assert fmap.shape == (2, TINY["conv2_channels"], 8, 8)
    assert np.allclose(fmap.array, h.array, atol=1e-6)


def test_region_counter_patterns_are_the_conv2d_it_holds():
    from tinymm.models.multimodal import RegionCounter

    tinymm.nn.init.seed(2)
    counter = RegionCounter(3, 4, heads=2, dtype=np.float64, patterns=5, map_size=3)
    maps = tinymm.tensor(np.random.default_rng(2).random((2, 2, 3, 3)))
    expected = counter.pattern(maps).array  # (N, J, h+1, w+1)
    got = counter._patterns(maps).array  # (N, P, J)
    assert np.allclose(got, expected.reshape(2, 5, 16).transpose(0, 2, 1), atol=1e-12)


def test_image_tower_options_gradients_check():
    """Finite differences through the early_pool + batch_norm tower (training-mode BatchNorm:
    batch statistics) on 8x8 images, over the image and every conv and norm parameter."""
    from tests.test_attention import module_gradcheck

    small = {**TINY, "image_size": 8, "conv1_channels": 2, "conv2_channels": 3}
    tinymm.nn.init.seed(4)
    model = MultimodalVQA(MultimodalConfig(fusion="attention_count", **small)).double()
    assert model.config.early_pool and model.config.batch_norm
    image = np.random.default_rng(4).random((2, 3, 8, 8))
    tower = tinymm.nn.ModuleList([model.conv1, model.conv2, model.norm1, model.norm2])
    module_gradcheck(tower, [image], model.encode_image)
