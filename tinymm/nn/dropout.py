"""``nn.Dropout``: the layer around ``ops/dropout.py`` (the derivation is there)."""

from __future__ import annotations

from tinymm.nn.module import Module
from tinymm.ops.dropout import check_p, dropout


class Dropout(Module):
    """``nn.Dropout(p)``: active in ``train()`` mode, the identity after ``eval()``."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        check_p(p)
        self.p = p

    def forward(self, x):
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
