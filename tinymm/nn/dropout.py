"""``nn.Dropout`` and ``nn.Dropout2d``: the layers around ``ops/dropout.py`` (the derivation
is there)."""

from __future__ import annotations

from tinymm.nn.module import Module
from tinymm.ops.dropout import check_p, dropout, dropout2d


class Dropout(Module):
    """``nn.Dropout(p)``: active in ``train()`` mode, the identity after ``eval()``."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        check_p(p)
        self.p = p
        self.inplace = inplace  # accepted and printed; the result is computed out of place

    def forward(self, x):
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout2d(Dropout):
    """``nn.Dropout2d(p)``: zeroes whole channels of (N, C, H, W) in ``train()`` mode."""

    def forward(self, x):
        return dropout2d(x, self.p, self.training)
