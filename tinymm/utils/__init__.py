"""``tinymm.utils``: the ``torch.utils`` paths PyTorch programs import (``utils.data``)."""

from tinymm.utils import data

__all__ = ["data"]
