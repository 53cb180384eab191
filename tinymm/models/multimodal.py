"""The seed article's multimodal model: a CNN reads the image, an LSTM reads the question,
a fusion layer combines them, and a small dense head picks the answer.

    image (N, 3, 32, 32)
      -> Conv2d(3 -> 32, 3x3, same) + ReLU -> Conv2d(32 -> 64, 3x3, same) + ReLU
      -> MaxPool2d(2) -> MaxPool2d(2)                     feature map (N, 64, 8, 8)
    question tokens (N, T), lengths (N,)
      -> Embedding(vocab, 128) -> LSTM(128 -> 128)        outputs (N, T, 128), q = h_n (N, 128)
    fusion (the one thing that changes between models), giving f (N, F):
      concat       f = [v ; q]                  v = Dense(4096 -> 128)(flatten(map))   F = 256
      multiply     f = v * q                    (element-wise, as in the seed article) F = 128
      attention    every real question token queries the 64 region vectors (the 8x8 map
                   as a sequence of 64 vectors of 64 channels) with multi-head attention;
                   f = CrossAttentionFusion(outputs, regions)                         F = 128
      attention_count  attention, plus J = count_patterns counts from RegionCounter(q,
                   regions) (sigmoid match per region, 2x2 patterns of the match maps,
                   summed): f = [attention f ; counts]                             F = 128 + J
                   Its image tower is conv1 -> pool -> conv2 -> pool with a BatchNorm2d
                   before each ReLU (early_pool, batch_norm; see below)
      gated        f = GatedFusion(v, q): a learned sigmoid gate mixes the two          F = 128
      bilinear     f = BilinearFusion(LN(v), LN(q)): low-rank bilinear interactions
                   W (U LN(v) * V LN(q)); bilinear_core "tanh" puts MLB's tanh on both
                   factors (it saturates under Adam here: see MultimodalConfig)          F = 128
      image_only   f = v            (baseline: can it answer without reading?)         F = 128
      question_only f = q           (baseline: can it answer without looking? ~0.30)   F = 128
    head: Dense(F -> 128) + ReLU -> Dense(128 -> num_answers)     logits (N, A)

What each fusion can express: concat lets the head add up image and question evidence, so
any interaction ("is the red thing a circle?") must be built by one hidden ReLU layer out of a
4096-wide projection of the whole map, which overfits. multiply makes every feature a product
image x question, so the question can switch image features on and off (a first-order
interaction) but still sees the image as one global vector. Attention lets the question
choose WHERE to look: each region is weighted by its match with the question tokens, so
"the red object" can pick out one object among four. gated and bilinear are richer
global-vector interactions. Only attention keeps the spatial layout until after fusion.

Why attention alone counts badly, and what attention_count adds: softmax weights sum to 1, so
the attended vector is an AVERAGE of the matching regions; one red object and three red
objects give nearly the same average ("how many" is lost; Zhang et al. 2018, "Learning to
count objects in natural images for VQA"). RegionCounter scores every region independently
with a sigmoid and SUMS the scores, so its output grows with the number of matching regions
and the head can read a count from it.

Why attention_count changes the image tower: every question type waits on the CNN learning
shapes (colour questions name a shape, existence questions both). With the seed's tower the
validation shape accuracy sits at chance (0.33) for thousands of Adam steps and then jumps,
and counting is learnt only after that jump; at 15 epochs it came at epoch 9 or 11
depending on rounding, leaving the counter too few epochs. BatchNorm2d after each conv
(batch_norm) keeps each channel's activations centred and scaled while the weights move, so
the shape features start to separate in the first epochs; putting the first pool before
conv2 (early_pool) runs conv2 on the 16x16 map, which costs a quarter of the seed's conv2
and lets each of its outputs see 8x8 pixels, nearly a whole object. Together they make an
attention_count step cost about 0.7 of the seed tower's, and the jump came at epoch 4 at
seeds 0 and 1 (app/train.py gives attention_count 18 epochs, for the counter to settle
after it). The default attention fusion keeps the seed's tower (both options are
MultimodalConfig fields for every fusion).

Dimension letters: N batch, T question tokens, C channels, H/W height/width, R = 64 image
regions, E embedding/hidden width, A answers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinymm import nn
from tinymm.devices import is_device_array
from tinymm.models.towers import ImageTower, SavedConfig, TextTower
from tinymm.ops.shape import cat, pad, stack
from tinymm.tensor import Tensor, as_tensor

FUSIONS = ("concat", "multiply", "attention", "attention_count", "gated", "bilinear",
           "image_only", "question_only")
ATTENTION_FUSIONS = ("attention", "attention_count")  # the fusions with an attention map


@dataclass
class MultimodalConfig(SavedConfig):
    """Everything that decides the model's shapes (saved in every checkpoint)."""

    vocab_size: int = 24  # len(tinymm.data.shapes_vqa_tokenizer())
    num_answers: int = 16
    fusion: str = "attention"
    image_channels: int = 3
    image_size: int = 32
    conv1_channels: int = 32
    conv2_channels: int = 64
    embed_dim: int = 128
    hidden_size: int = 128
    fused_dim: int = 128  # width of v (image vector) and of the fusion layers' outputs
    head_hidden: int = 128
    num_heads: int = 4
    bilinear_rank: int = 16
    # The bilinear core: "tanh" (MLB, tanh(U v) * tanh(V q)) or "linear" ((U v) * (V q)).
    # With tanh, Adam grows the image branch within tens of steps until tanh(U v) saturates
    # and the CNN's gradient vanishes (issue 16 item 7); bilinear_norm (LayerNorm on v and q
    # first) delays that but does not stop it.
    bilinear_core: str = "linear"
    bilinear_norm: bool = True
    count_heads: int = 8  # attention_count: how many sigmoid counters RegionCounter has
    # attention_count: J 2x2 patterns read off the counters' match maps (0: the plain sums)
    count_patterns: int = 16
    # The image tower (models/towers.py ImageTower): early_pool puts the first max-pool
    # before conv2, batch_norm a BatchNorm2d between each conv and its ReLU. None means the
    # fusion's default: True for attention_count (the module docstring says why), False
    # (the seed's conv1 -> conv2 -> pool -> pool, fused ReLUs) for every other fusion.
    early_pool: bool | None = None
    batch_norm: bool | None = None

    def __post_init__(self):
        check_fusion(self.fusion)
        for name in ("early_pool", "batch_norm"):
            if getattr(self, name) is None:
                setattr(self, name, self.fusion == "attention_count")
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"MultimodalConfig: {name} must be True, False or None (the "
                                 f"fusion's default), got {getattr(self, name)!r}")
        if self.bilinear_core not in ("tanh", "linear"):
            raise ValueError(f"MultimodalConfig: bilinear_core must be 'tanh' or 'linear', got "
                             f"{self.bilinear_core!r}")
        if isinstance(self.count_heads, bool) or not isinstance(self.count_heads, int) \
                or self.count_heads < 1:
            raise ValueError(f"MultimodalConfig: count_heads must be a positive integer, got "
                             f"{self.count_heads!r}")
        if isinstance(self.count_patterns, bool) or not isinstance(self.count_patterns, int) \
                or self.count_patterns < 0:
            raise ValueError(f"MultimodalConfig: count_patterns must be an integer >= 0, got "
                             f"{self.count_patterns!r}")
        if self.image_size % 4:
            raise ValueError(f"MultimodalConfig: image_size must be a multiple of 4 (two "
                             f"2x2 max-pools), got {self.image_size}")
        if self.fused_dim % self.num_heads:
            raise ValueError(f"MultimodalConfig: fused_dim ({self.fused_dim}) must be divisible "
                             f"by num_heads ({self.num_heads})")

    @classmethod
    def from_dict(cls, values: dict):
        """A checkpoint's config; one written before ``count_patterns`` existed holds the
        plain-sum counter, so a missing field reads as 0 there, and one written before
        ``early_pool`` and ``batch_norm`` existed holds the seed tower (conv1 -> conv2 ->
        pool -> pool, no BatchNorm)."""
        return super().from_dict({"count_patterns": 0, "early_pool": False, "batch_norm": False,
                                  **values})

    @property
    def map_size(self) -> int:
        return self.image_size // 4

    @property
    def regions(self) -> int:
        return self.map_size * self.map_size


class RegionCounter(nn.Module):
    """Counts the image regions (or the objects) that match the question: K sigmoid
    "counters" over the R = h*w regions.

    q (N, E) the question vector, regions (N, R, C) -> counts (N, K), or (N, J) with
    ``patterns=J``::

        probes = Linear(E -> K C)(q).reshape(N, K, C)       (N, K, C)  one probe per counter
        match  = sigmoid(regions @ probes^T / sqrt(C))      (N, R, K)  each region on its own
        patterns=0:  counts = sum of match over the R regions / sqrt(R)              (N, K)
        patterns=J:  maps   = match as K maps of h x w cells                 (N, K, h, w)
                     local  = ReLU(Conv2d(K -> J, 2x2, padding=1)(maps))  (N, J, h+1, w+1)
                     counts = sum of local over its (h+1)(w+1) windows / sqrt(R)     (N, J)

    Unlike softmax attention, nothing normalises the match over the regions, so a counter's
    output grows with the number of regions that match its probe (the /sqrt(R) only keeps it
    O(1) at the start, where every match is about 0.5). But one object covers 4 to 16 of the
    8 x 8 cells, so the plain sum counts cells, not objects. The 2x2 patterns fix that: for
    a 0/1 map, summing cells/4 - adjacent pairs/2 + full 2x2 blocks over every 2x2 window
    gives the map's Euler number (connected blobs - holes), which is the number of objects
    when each covers one blob of cells, whatever its size; each of those three terms is a
    ReLU of a linear function of the window (a pair is ReLU(a + b - 1)), so Conv2d + ReLU +
    sum can learn it.
    """

    def __init__(self, query_dim: int, region_dim: int, heads: int, dtype=np.float32,
                 patterns: int = 0, map_size: int = 8):
        super().__init__()
        self.query_dim, self.region_dim, self.heads = query_dim, region_dim, heads
        self.patterns, self.map_size = patterns, map_size
        self.probe = nn.Linear(query_dim, heads * region_dim, dtype=dtype)
        if patterns:
            self.pattern = nn.Conv2d(heads, patterns, 2, padding=1, activation="relu",
                                     dtype=dtype)

    @property
    def out_features(self) -> int:
        return self.patterns or self.heads

    def extra_repr(self) -> str:
        return (f"query_dim={self.query_dim}, region_dim={self.region_dim}, "
                f"heads={self.heads}, patterns={self.patterns}")

    def forward(self, q, regions):
        q, regions = as_tensor(q), as_tensor(regions)
        name = f"RegionCounter(query_dim={self.query_dim}, region_dim={self.region_dim})"
        if q.ndim != 2 or q.shape[1] != self.query_dim:
            raise ValueError(f"{name}: q must be (N, {self.query_dim}), got shape "
                             f"{tuple(q.shape)}")
        if regions.ndim != 3 or regions.shape[::2] != (q.shape[0], self.region_dim):
            raise ValueError(f"{name}: regions must be (N={q.shape[0]}, R, {self.region_dim}), "
                             f"got shape {tuple(regions.shape)}")
        N, R, C = regions.shape
        if self.patterns and R != self.map_size ** 2:
            raise ValueError(f"{name}: regions must be the {self.map_size}x{self.map_size} "
                             f"map's R={self.map_size ** 2} cells, got R={R}")
        probes = self.probe(q).reshape(N, self.heads, C)  # (N, K, C)
        scores = (regions @ probes.permute(0, 2, 1)) * float(1.0 / np.sqrt(C))  # (N, R, K)
        match = scores.sigmoid()  # (N, R, K)
        if not self.patterns:
            return match.sum(axis=1) * float(1.0 / np.sqrt(R))  # (N, K)
        side, K = self.map_size, self.heads
        maps = match.permute(0, 2, 1).reshape(N, K, side, side)  # (N, K, h, w)
        return self._patterns(maps).sum(axis=1) * float(1.0 / np.sqrt(R))  # (N, J)

    def _patterns(self, maps: Tensor) -> Tensor:
        """ReLU(Conv2d(K -> J, 2x2, padding=1)(maps)), (N, K, h, w) -> (N, P, J) with the
        P = (h+1)(w+1) windows row-major: the 2x2 windows of the zero-padded maps gathered
        into rows and multiplied by the Conv2d's weight, the same function as calling it
        (the numba conv2d kernel is slow for a 2x2 kernel on maps this small)."""
        N, K, side = maps.shape[0], self.heads, self.map_size
        padded = pad(maps, (1, 1, 1, 1))  # (N, K, h+2, w+2)
        windows = stack([padded[:, :, dy:dy + side + 1, dx:dx + side + 1]
                         for dy in (0, 1) for dx in (0, 1)], axis=2)  # (N, K, 4, h+1, w+1)
        rows = windows.permute(0, 3, 4, 1, 2).reshape(N, (side + 1) ** 2, 4 * K)  # (N, P, 4K)
        weight = self.pattern.weight.reshape(self.patterns, 4 * K)  # (J, K, 2, 2) -> (J, 4K)
        return (rows @ weight.permute(1, 0) + self.pattern.bias).relu()  # (N, P, J)


def check_fusion(name: str) -> str:
    if name not in FUSIONS:
        raise ValueError(f"unknown fusion '{name}'; valid fusions: {', '.join(FUSIONS)}")
    return name


class MultimodalVQA(ImageTower, TextTower, nn.Module):
    """The seed model; ``forward(image, tokens, lengths) -> logits (N, num_answers)``.

    ``forward_with_attention`` returns the logits and, with an attention fusion, the
    attention over the R image regions, (N, R) averaged over heads and real question tokens
    (None for the other fusions); tinymm/app/figures.py draws it.
    """

    def __init__(self, config: MultimodalConfig | None = None, **overrides):
        super().__init__()
        config = config if config is not None else MultimodalConfig(**overrides)
        self.config = config
        c = config
        uses_image = c.fusion != "question_only"
        uses_text = c.fusion != "image_only"
        needs_vector = c.fusion not in ATTENTION_FUSIONS + ("question_only",)
        if uses_image:
            self._build_image_tower(c.image_channels, c.conv1_channels, c.conv2_channels,
                                    early_pool=c.early_pool, batch_norm=c.batch_norm)
        if needs_vector:
            self.image_fc = nn.Linear(c.conv2_channels * c.regions, c.fused_dim)
        if uses_text:
            self._build_text_tower(c.vocab_size, c.embed_dim, c.hidden_size)
        if c.fusion in ATTENTION_FUSIONS:
            self.fusion = nn.CrossAttentionFusion(c.hidden_size, c.conv2_channels,
                                                  embed_dim=c.fused_dim, num_heads=c.num_heads)
        if c.fusion == "attention_count":
            self.counter = RegionCounter(c.hidden_size, c.conv2_channels, c.count_heads,
                                         patterns=c.count_patterns, map_size=c.map_size)
        elif c.fusion == "gated":
            self.fusion = nn.GatedFusion(c.fused_dim, c.hidden_size, c.fused_dim)
        elif c.fusion == "bilinear":
            self.fusion = nn.BilinearFusion(
                c.fused_dim, c.hidden_size, c.fused_dim, rank=c.bilinear_rank,
                activation="tanh" if c.bilinear_core == "tanh" else None)
            if c.bilinear_norm:
                self.norm_v = nn.LayerNorm(c.fused_dim)
                self.norm_q = nn.LayerNorm(c.hidden_size)
        elif c.fusion == "multiply" and c.fused_dim != c.hidden_size:
            raise ValueError(f"MultimodalVQA: multiply fusion needs fused_dim == hidden_size, "
                             f"got {c.fused_dim} and {c.hidden_size}")
        self.head_hidden = nn.Linear(self.fused_width, c.head_hidden)
        self.head_out = nn.Linear(c.head_hidden, c.num_answers)

    @property
    def fused_width(self) -> int:
        c = self.config
        if c.fusion == "concat":
            return c.fused_dim + c.hidden_size
        if c.fusion == "question_only":
            return c.hidden_size
        if c.fusion == "attention_count":
            return c.fused_dim + (c.count_patterns or c.count_heads)
        return c.fused_dim

    # ------------------------------------------------------------------ encoders
    # encode_image (N, 3, H, W) -> (N, C2, H/4, W/4) and encode_text come from the towers
    def encode_question(self, tokens, lengths) -> tuple[Tensor, Tensor]:
        """tokens (N, T), lengths (N,) -> (outputs (N, T, E), q (N, E) at each last token)."""
        return self.encode_text(tokens, lengths)

    # ------------------------------------------------------------------ forward
    def forward(self, image, tokens, lengths) -> Tensor:
        return self.forward_with_attention(image, tokens, lengths)[0]

    def forward_with_attention(self, image, tokens, lengths) -> tuple[Tensor, Tensor | None]:
        """-> (logits (N, A), attention over the regions (N, R), or None without attention
        fusion)."""
        c = self.config
        image = as_tensor(image)
        tokens = tokens.array if isinstance(tokens, Tensor) else np.asarray(tokens)
        # lengths are host metadata, as PyTorch's pack_padded_sequence wants them (a cuda
        # tensor of lengths comes back in one counted copy); tokens stay where they are
        lengths = lengths.cpu().numpy() if isinstance(lengths, Tensor) else np.asarray(lengths)
        self._check_inputs(image, tokens, lengths)
        N = tokens.shape[0]
        attention = None
        if c.fusion != "question_only":
            fmap = self.encode_image(image)  # (N, C2, 8, 8)
        if c.fusion != "image_only":
            outputs, q = self.encode_question(tokens, lengths)  # (N, T, E), (N, E)
        if c.fusion not in ATTENTION_FUSIONS + ("question_only",):
            v = self.image_fc(fmap.reshape(N, -1))  # (N, C2*R) -> (N, F)

        if c.fusion == "concat":
            f = cat([v, q], axis=1)  # (N, F + E)
        elif c.fusion == "multiply":
            f = v * q  # (N, F)
        elif c.fusion in ATTENTION_FUSIONS:
            regions = self.regions(fmap)  # (N, R, C2)
            T = tokens.shape[1]
            query_mask = np.arange(T)[None, :] < lengths[:, None]  # (N, T) True = real token
            f, attention = self.fusion(outputs, regions, query_mask=query_mask)  # (N, F), (N, R)
            if c.fusion == "attention_count":
                f = cat([f, self.counter(q, regions)], axis=1)  # (N, F + K)
        elif c.fusion == "bilinear" and c.bilinear_norm:
            f = self.fusion(self.norm_v(v), self.norm_q(q))  # (N, F)
        elif c.fusion in ("gated", "bilinear"):
            f = self.fusion(v, q)  # (N, F)
        elif c.fusion == "image_only":
            f = v  # (N, F)
        else:
            f = q  # (N, E)
        h = self.head_hidden(f).relu()  # (N, head_hidden)
        return self.head_out(h), attention  # (N, A), (N, R) or None

    def _check_inputs(self, image: Tensor, tokens: np.ndarray, lengths: np.ndarray) -> None:
        c = self.config
        expected = (c.image_channels, c.image_size, c.image_size)
        if image.ndim != 4 or tuple(image.shape[1:]) != expected:
            raise ValueError(f"MultimodalVQA: image must be (N, {expected[0]}, {expected[1]}, "
                             f"{expected[2]}), got shape {tuple(image.shape)}")
        if tokens.ndim != 2 or tokens.dtype.kind not in "iu":
            raise ValueError(f"MultimodalVQA: tokens must be an (N, T) integer array, got shape "
                             f"{tokens.shape} dtype {tokens.dtype}")
        if tokens.shape[0] != image.shape[0] or lengths.shape != (tokens.shape[0],):
            raise ValueError(f"MultimodalVQA: batch sizes differ: image {image.shape[0]}, "
                             f"tokens {tokens.shape[0]}, lengths {lengths.shape}")
        on_host = not is_device_array(tokens)  # device ids: the embedding op checks them
        if on_host and tokens.size and (tokens.min() < 0 or tokens.max() >= c.vocab_size):
            raise ValueError(f"MultimodalVQA: token ids must be in [0, {c.vocab_size}), got "
                             f"[{tokens.min()}, {tokens.max()}]; is the tokenizer the one this "
                             "model was built for?")
        if lengths.size and (lengths.min() < 1 or lengths.max() > tokens.shape[1]):
            raise ValueError(f"MultimodalVQA: lengths must be in [1, T={tokens.shape[1]}], got "
                             f"[{lengths.min()}, {lengths.max()}]")

    def extra_repr(self) -> str:
        return f"fusion={self.config.fusion!r}"
