"""The two encoders of the seed model, shared by every model of the three tasks.

* ``ImageTower``: Conv2d(3 -> C1, 3x3, same) + ReLU -> Conv2d(C1 -> C2, 3x3, same) + ReLU ->
  MaxPool2d(2) -> MaxPool2d(2): image (N, 3, H, W) -> feature map (N, C2, H/4, W/4), whose
  (H/4)(W/4) = R positions are the image regions. With ``early_pool`` the first pool comes
  before conv2 (conv1 -> pool1 -> conv2 -> pool2): conv2 then runs on the (H/2, W/2) map, a
  quarter of its positions, and each of its outputs sees 8x8 input pixels instead of 5x5
  (the same parameters, the same output shape). With ``batch_norm`` each conv is followed by
  a BatchNorm2d (``norm1``, ``norm2``) and then the ReLU. Without it, each conv followed by
  a pool runs as one ``conv2d_relu_max_pool2d`` node (``_conv_relu_pool``): the same values
  and gradients as the two modules, and the Numba backend makes the pool from the conv's
  Winograd output tiles without writing the conv output.
* ``TextTower``: Embedding(V, E, padding_idx=0) -> LSTM(E -> H): tokens (N, T), lengths (N,)
  -> every step's output (N, T, H) and the hidden state at each sequence's last token (N, H).

``SavedConfig`` is the base of the three models' config dataclasses: the dict a checkpoint
stores, and back, refusing fields this version does not know.

They are mixins of ``nn.Module``: ``_build_image_tower`` / ``_build_text_tower`` register the
layers on the model itself (``conv1``, ``conv2``, ``pool1``, ``pool2``, with batch_norm
``norm1``, ``norm2``, then ``embedding``, ``lstm``), so every model keeps the seed's
parameter names (and its checkpoints and PyTorch twins their keys).

Dimension letters: N batch, C channels, H/W height/width, T tokens, E embedding width,
H hidden width (in the text tower), R regions.
"""

from __future__ import annotations

from dataclasses import asdict, fields

from tinymm import functional as F
from tinymm import nn
from tinymm.kernels.geometry import pair
from tinymm.tensor import Tensor, from_numpy

# Each plain conv -> ReLU -> pool pair of the image tower as one conv2d_relu_max_pool2d node;
# False runs the modules one after the other (the A/B baseline of benchmarks/bench_train.py).
FUSE_CONV_POOL = True


class SavedConfig:
    """A model config dataclass as a checkpoint stores it (``to_dict``) and reads it back
    (``from_dict``, which names unknown fields instead of failing inside the constructor)."""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict):
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown fields {unknown}; this checkpoint was "
                             "written by a different tinymm version")
        return cls(**values)


class ImageTower:
    """The seed's CNN image encoder (mixin of an nn.Module)."""

    def _build_image_tower(self, in_channels: int, conv1_channels: int, conv2_channels: int,
                           early_pool: bool = False, batch_norm: bool = False) -> None:
        """``early_pool``: pool1 before conv2; ``batch_norm``: conv -> BatchNorm2d -> ReLU
        (``norm1``, ``norm2``) in place of each conv's fused ReLU."""
        self.early_pool, self.batch_norm = bool(early_pool), bool(batch_norm)
        activation = None if batch_norm else "relu"
        self.conv1 = nn.Conv2d(in_channels, conv1_channels, 3, padding=1, activation=activation)
        self.conv2 = nn.Conv2d(conv1_channels, conv2_channels, 3, padding=1,
                               activation=activation)
        self.pool1 = nn.MaxPool2d(2)
        self.pool2 = nn.MaxPool2d(2)
        if batch_norm:
            self.norm1 = nn.BatchNorm2d(conv1_channels)
            self.norm2 = nn.BatchNorm2d(conv2_channels)

    def encode_image(self, image: Tensor) -> Tensor:
        """(N, 3, H, W) -> feature map (N, C2, H/4, W/4)."""
        if self.early_pool:
            h = self._conv_relu_pool(image, self.conv1, "norm1", self.pool1)  # (N, C1, H/2, W/2)
            return self._conv_relu_pool(h, self.conv2, "norm2", self.pool2)  # (N, C2, H/4, W/4)
        h = self._conv_relu(image, self.conv1, "norm1")  # (N, C1, H, W)
        h = self._conv_relu_pool(h, self.conv2, "norm2", self.pool1)  # (N, C2, H/2, W/2)
        return self.pool2(h)  # (N, C2, H/4, W/4)

    def _conv_relu(self, x: Tensor, conv, norm: str) -> Tensor:
        """conv + its fused ReLU, or with ``batch_norm`` conv -> BatchNorm2d -> ReLU."""
        return getattr(self, norm)(conv(x)).relu() if self.batch_norm else conv(x)

    def _conv_relu_pool(self, x: Tensor, conv, norm: str, pool) -> Tensor:
        """pool(conv + ReLU): one conv2d_relu_max_pool2d node when the pair is the plain one
        (no batch_norm, a zero-padded ungrouped conv with its fused ReLU, the default
        MaxPool2d(2), no hooks on either module), which the Numba Winograd path computes
        without writing the conv output; else the two modules one after the other."""
        if self.batch_norm or not FUSE_CONV_POOL or not _fusable(conv, pool):
            return pool(self._conv_relu(x, conv, norm))
        return F.conv2d_relu_max_pool2d(x, conv.weight, conv.bias, conv.stride, conv.padding,
                                        conv.dilation)

    @staticmethod
    def regions(fmap: Tensor) -> Tensor:
        """Feature map (N, C, h, w) -> the R = h*w region vectors (N, R, C), row-major."""
        N, C = fmap.shape[0], fmap.shape[1]
        return fmap.reshape(N, C, -1).permute(0, 2, 1)  # (N, R, C)


def _fusable(conv, pool) -> bool:
    """conv -> ReLU -> pool as conv2d_relu_max_pool2d computes it: a zero-padded ungrouped
    Conv2d with activation="relu", a MaxPool2d of window and stride 2 (no padding, dilation,
    ceil_mode or indices), and no forward or backward hooks on either (the fused node calls
    neither module)."""
    if any(table for m in (conv, pool) for table in m._call_hooks()):
        return False
    return (type(conv) is nn.Conv2d and conv.activation == "relu" and conv.groups == 1
            and conv.padding_mode == "zeros" and type(pool) is nn.MaxPool2d
            and pair(pool.kernel_size) == (2, 2) and pair(pool.stride) == (2, 2)
            and pair(pool.padding) == (0, 0) and pair(pool.dilation) == (1, 1)
            and not pool.ceil_mode and not pool.return_indices)


class TextTower:
    """The seed's Embedding + LSTM text encoder (mixin of an nn.Module)."""

    def _build_text_tower(self, vocab_size: int, embed_dim: int, hidden_size: int,
                          extra_inputs: int = 0) -> None:
        """``extra_inputs`` widens the LSTM's input beyond the embedding (a captioner with
        attention feeds its image context in beside each word)."""
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.lstm = nn.LSTM(embed_dim + extra_inputs, hidden_size, batch_first=True)

    def tokens_for_tower(self, tokens):
        """Checked host token ids (N, T) where the embedding reads them: the same array on
        the CPU, a cuda Tensor (one counted copy) when the model is on the cuda device."""
        device = self.embedding.weight.device
        return tokens if device == "cpu" else from_numpy(tokens).to(device)

    def encode_text(self, tokens, lengths) -> tuple[Tensor, Tensor]:
        """tokens (N, T), lengths (N,) -> (outputs (N, T, H), last (N, H) at each last token)."""
        x = self.embedding(tokens)  # (N, T, E)
        outputs, (h_n, _) = self.lstm(x, lengths=lengths)  # (N, T, H), (1, N, H)
        return outputs, h_n.reshape(h_n.shape[1], h_n.shape[2])  # (N, H)
