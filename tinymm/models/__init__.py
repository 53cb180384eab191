"""Models built from tinymm.nn layers; ``multimodal.py`` is the seed article's VQA model."""

from tinymm.models.multimodal import FUSIONS, MultimodalConfig, MultimodalVQA, check_fusion

__all__ = ["FUSIONS", "MultimodalConfig", "MultimodalVQA", "check_fusion"]
