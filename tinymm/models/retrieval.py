"""A dual encoder for image-text retrieval: the seed's two towers, projected to one space.

    image (N, 3, 32, 32) -> ImageTower -> map (N, C2, 8, 8) -> flatten (N, C2*R)
      -> image_fc (C2*R -> F) + ReLU -> image_proj (F -> D) -> L2-normalise     u (N, D)
    caption tokens (N, T), lengths (N,) -> TextTower -> h at the last token (N, H)
      -> text_proj (H -> D) -> L2-normalise                                     w (N, D)
    logit_scale: a learnt scalar t = log(1 / temperature), initialised to log(1 / 0.07) and
    clamped to at most log(100) in use, as in CLIP.

Trained with the symmetric InfoNCE loss (tinymm.ops.info_nce) over the in-batch pairs: the
cosine similarity u_i . w_j of every image with every caption of the batch, scaled by exp(t),
should pick out the matching pairs on the diagonal. Retrieval then ranks a pool by u . w.

Dimension letters: N batch, T tokens, R = 64 regions, C2 map channels, F image-vector width,
H text hidden width, D joint embedding width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinymm import nn
from tinymm.models.towers import ImageTower, SavedConfig, TextTower
from tinymm.tensor import Tensor, as_tensor


@dataclass
class DualEncoderConfig(SavedConfig):
    """Everything that decides the dual encoder's shapes (saved in every checkpoint)."""

    vocab_size: int = 33  # len(tinymm.data.shapes_captions.captions_tokenizer())
    image_channels: int = 3
    image_size: int = 32
    conv1_channels: int = 32
    conv2_channels: int = 64
    embed_dim: int = 128
    hidden_size: int = 128
    image_dim: int = 128  # F
    joint_dim: int = 128  # D
    init_temperature: float = 0.07
    max_logit_scale: float = math.log(100.0)

    def __post_init__(self):
        if self.image_size % 4:
            raise ValueError(f"DualEncoderConfig: image_size must be a multiple of 4 (two 2x2 "
                             f"max-pools), got {self.image_size}")
        if not 0 < self.init_temperature:
            raise ValueError(f"DualEncoderConfig: init_temperature must be positive, got "
                             f"{self.init_temperature}")

    @property
    def regions(self) -> int:
        return (self.image_size // 4) ** 2


def l2_normalize(x: Tensor, eps: float = 1e-12) -> Tensor:
    """Rows of x (N, D) divided by their Euclidean norms (N, 1)."""
    return x / ((x * x).sum(axis=1, keepdims=True) + eps).sqrt()


def check_caption_inputs(who: str, vocab_size: int, tokens: np.ndarray,
                         lengths: np.ndarray | None, batch: int | None) -> None:
    """Shapes, dtypes and ranges of caption tokens (N, T) and lengths (N,)."""
    if tokens.ndim != 2 or tokens.dtype.kind not in "iu":
        raise ValueError(f"{who}: tokens must be an (N, T) integer array, got shape "
                         f"{tokens.shape} dtype {tokens.dtype}")
    if batch is not None and tokens.shape[0] != batch:
        raise ValueError(f"{who}: batch sizes differ: image {batch}, tokens {tokens.shape[0]}")
    if tokens.size and (tokens.min() < 0 or tokens.max() >= vocab_size):
        raise ValueError(f"{who}: token ids must be in [0, {vocab_size}), got "
                         f"[{tokens.min()}, {tokens.max()}]; is the tokenizer the one this "
                         "model was built for?")
    if lengths is not None:
        if lengths.shape != (tokens.shape[0],):
            raise ValueError(f"{who}: lengths must be ({tokens.shape[0]},), got {lengths.shape}")
        if lengths.size and (lengths.min() < 1 or lengths.max() > tokens.shape[1]):
            raise ValueError(f"{who}: lengths must be in [1, T={tokens.shape[1]}], got "
                             f"[{lengths.min()}, {lengths.max()}]")


def check_image_input(who: str, image: Tensor, channels: int, size: int) -> None:
    expected = (channels, size, size)
    if image.ndim != 4 or tuple(image.shape[1:]) != expected:
        raise ValueError(f"{who}: image must be (N, {channels}, {size}, {size}), got shape "
                         f"{tuple(image.shape)}")


class DualEncoder(ImageTower, TextTower, nn.Module):
    """``forward(image, tokens, lengths) -> (u (N, D), w (N, D))``, both L2-normalised;
    ``scale()`` is the clamped logit scale exp(t) feeds the loss with."""

    def __init__(self, config: DualEncoderConfig | None = None, **overrides):
        super().__init__()
        c = config if config is not None else DualEncoderConfig(**overrides)
        self.config = c
        self._build_image_tower(c.image_channels, c.conv1_channels, c.conv2_channels)
        self._build_text_tower(c.vocab_size, c.embed_dim, c.hidden_size)
        self.image_fc = nn.Linear(c.conv2_channels * c.regions, c.image_dim)
        self.image_proj = nn.Linear(c.image_dim, c.joint_dim)
        self.text_proj = nn.Linear(c.hidden_size, c.joint_dim)
        self.logit_scale = nn.Parameter(np.array(math.log(1 / c.init_temperature),
                                                 dtype=np.float32))

    def clamped_logit_scale(self) -> Tensor:
        return self.logit_scale.clamp(max=self.config.max_logit_scale)

    def embed_images(self, image) -> Tensor:
        c = self.config
        image = as_tensor(image)
        check_image_input("DualEncoder", image, c.image_channels, c.image_size)
        fmap = self.encode_image(image)  # (N, C2, 8, 8)
        v = self.image_fc(fmap.reshape(fmap.shape[0], -1)).relu()  # (N, F)
        return l2_normalize(self.image_proj(v))  # (N, D)

    def embed_texts(self, tokens, lengths) -> Tensor:
        tokens = tokens.array if isinstance(tokens, Tensor) else np.asarray(tokens)
        lengths = lengths.array if isinstance(lengths, Tensor) else np.asarray(lengths)
        check_caption_inputs("DualEncoder", self.config.vocab_size, tokens, lengths, None)
        _, last = self.encode_text(self.tokens_for_tower(tokens), lengths)  # (N, H)
        return l2_normalize(self.text_proj(last))  # (N, D)

    def forward(self, image, tokens, lengths) -> tuple[Tensor, Tensor]:
        u = self.embed_images(image)  # (N, D)
        w = self.embed_texts(tokens, lengths)  # (N, D)
        if u.shape[0] != w.shape[0]:
            raise ValueError(f"DualEncoder: batch sizes differ: image {u.shape[0]}, tokens "
                             f"{w.shape[0]}")
        return u, w
