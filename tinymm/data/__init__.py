"""Built-in seeded data sets, the word-level tokenizer and the DataLoader.

``ShapesVQA`` is the visual question answering set that ``tinymm train`` learns: rendered
shapes and templated questions that need both the image and the words.
"""

from tinymm.data.loader import DataLoader
from tinymm.data.shapes_vqa import (
    ANSWERS,
    ANSWERS_BY_TYPE,
    COLORS,
    QUESTION_TYPES,
    SHAPES,
    ShapesVQA,
    question_only_chance,
    shapes_vqa_tokenizer,
)
from tinymm.data.tokenizer import Tokenizer

__all__ = [
    "ANSWERS", "ANSWERS_BY_TYPE", "COLORS", "DataLoader", "QUESTION_TYPES", "SHAPES",
    "ShapesVQA", "Tokenizer", "question_only_chance", "shapes_vqa_tokenizer",
]
