"""``tinymm.nn.functional``, the path PyTorch programs import (``import torch.nn.functional
as F``): the same functions as ``tinymm.functional`` (``tinymm.F``)."""

from tinymm.functional import *  # noqa: F401, F403
from tinymm.functional import __all__  # noqa: F401
