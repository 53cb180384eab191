"""ShapesVQA: visual question answering over rendered shapes, generated on the fly.

Every sample is a 32x32 RGB image on a black background with 1 to 4 non-overlapping filled
objects (a shape in {circle, square, triangle}, a colour in {red, green, blue, yellow,
magenta, cyan}, 8-10 px across, at a random position) and one templated question:

    type    template                                   answers
    color   "what color is the <shape> ?"              6 colours (exactly one <shape> exists)
    shape   "what shape is the <color> object ?"       3 shapes  (exactly one <color> object)
    count   "how many <shape|color> objects are there ?"   0, 1, 2, 3, 4
    exist   "is there a <color> <shape> ?"             yes, no

Design choices that make the task need BOTH modalities:

* The answer is drawn first, uniformly and exactly balanced within each question type
  (the four types are balanced too), and independently of the words in the question; the
  scene is then built to make that answer true. So the question alone says which answers are
  possible but not which one: a question-only model can do no better than
  (1/6 + 1/3 + 1/5 + 1/2) / 4 = 0.30.
* The image alone does not say what is asked: every image is compatible with many questions.
* "color" and "shape" questions are asked only when the referent is unique; "exist" with
  answer "no" draws every object from the 17 other (colour, shape) pairs, so near-misses
  (right colour, wrong shape) are common.

Generation is vectorised over samples (NumPy, one seeded ``np.random.Generator``): the same
seed gives bit-identical data on every machine; 10,000 samples take well under a second.

Dimension letters: N samples, K object slots (4), H = W = 32 pixels, T question tokens.
"""

from __future__ import annotations

import numpy as np

from tinymm.data.tokenizer import Tokenizer

SHAPES = ("circle", "square", "triangle")
COLORS = ("red", "green", "blue", "yellow", "magenta", "cyan")
COLOR_RGB = np.array([(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255),
                      (0, 255, 255)], dtype=np.uint8)  # (6, 3)
COUNTS = ("0", "1", "2", "3", "4")
ANSWERS = COLORS + SHAPES + COUNTS + ("yes", "no")  # one answer vocabulary, 16 words
QUESTION_TYPES = ("color", "shape", "count", "exist")
# Which answers each question type can have (indices into ANSWERS).
ANSWERS_BY_TYPE = {
    "color": tuple(range(0, 6)),
    "shape": tuple(range(6, 9)),
    "count": tuple(range(9, 14)),
    "exist": (14, 15),
}
TEMPLATE_WORDS = ("what color is the shape object how many objects are there a ?".split()
                  + list(SHAPES) + list(COLORS))
IMAGE_SIZE = 32
MAX_OBJECTS = 4
SIZE_RANGE = (8, 10)  # object bounding box, pixels, inclusive
GAP = 1  # minimum free pixels between two objects' bounding boxes
MAX_QUESTION_LEN = 7  # "what shape is the red object ?", "how many red objects are there ?"


def shapes_vqa_tokenizer() -> Tokenizer:
    """The fixed word-level tokenizer of every ShapesVQA question (18 words + pad + unk)."""
    return Tokenizer(TEMPLATE_WORDS)


def question_only_chance() -> float:
    """Accuracy of the best question-only predictor on balanced types: 0.3."""
    return float(np.mean([1.0 / len(ANSWERS_BY_TYPE[t]) for t in QUESTION_TYPES]))


def _balanced(count: int, classes: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` labels in 0..classes-1, each as often as possible (+-1), in random order."""
    return rng.permutation(np.arange(count) % classes)


def _shape_masks(size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(row, col) pixel offsets of a filled circle, square and triangle in a size x size box."""
    i, j = np.mgrid[0:size, 0:size]  # (S, S) row and column of every pixel
    c = (size - 1) / 2
    circle = (i - c) ** 2 + (j - c) ** 2 <= (size / 2) ** 2
    square = np.ones((size, size), dtype=bool)
    triangle = np.abs(j - c) <= (i + 1) / 2  # apex at the top, base on the bottom row
    return [np.nonzero(m) for m in (circle, square, triangle)]


_MASKS = {s: _shape_masks(s) for s in range(SIZE_RANGE[0], SIZE_RANGE[1] + 1)}


def _place(n_obj: np.ndarray, rng: np.random.Generator):
    """Sizes and top-left corners of K slots per sample, non-overlapping among active slots.

    Slots are placed one after another; a slot that collides with an earlier one is redrawn
    (only for the samples where it collided), and a sample whose slot keeps colliding starts
    over. Returns size, y, x, each (N, K) int64.
    """
    N, K = len(n_obj), MAX_OBJECTS
    lo, hi = SIZE_RANGE
    size = rng.integers(lo, hi + 1, (N, K))  # (N, K)
    y = rng.integers(0, IMAGE_SIZE - size + 1)  # (N, K) top row
    x = rng.integers(0, IMAGE_SIZE - size + 1)  # (N, K) left column

    def collides(k: int, rows: np.ndarray) -> np.ndarray:
        bad = np.zeros(len(rows), dtype=bool)  # (n,)
        for j in range(k):
            sep_y = (y[rows, k] >= y[rows, j] + size[rows, j] + GAP) | \
                    (y[rows, j] >= y[rows, k] + size[rows, k] + GAP)
            sep_x = (x[rows, k] >= x[rows, j] + size[rows, j] + GAP) | \
                    (x[rows, j] >= x[rows, k] + size[rows, k] + GAP)
            bad |= ~(sep_y | sep_x)
        return bad & (k < n_obj[rows])

    k = 1
    pending = np.arange(N)
    while k < K:
        rows = pending
        for _ in range(50):
            bad = collides(k, rows)
            rows = rows[bad]
            if len(rows) == 0:
                break
            s = size[rows, k]
            y[rows, k] = rng.integers(0, IMAGE_SIZE - s + 1)
            x[rows, k] = rng.integers(0, IMAGE_SIZE - s + 1)
        if len(rows):  # dead ends: these samples redraw slots 1..K-1 from scratch
            s = size[rows, 1:]
            y[rows, 1:] = rng.integers(0, IMAGE_SIZE - s + 1)
            x[rows, 1:] = rng.integers(0, IMAGE_SIZE - s + 1)
            k = 1
            pending = rows
            continue
        k += 1
        pending = np.arange(N)
    return size, y, x


def _render(shape, color, size, y, x, active) -> np.ndarray:
    """Paint every active object into (N, H, W, 3) uint8 images, one template at a time."""
    N = shape.shape[0]
    images = np.zeros((N, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)  # (N, H, W, 3)
    for s, masks in _MASKS.items():
        for shape_id, (dy, dx) in enumerate(masks):
            n_idx, k_idx = np.nonzero(active & (shape == shape_id) & (size == s))  # (M,)
            if len(n_idx) == 0:
                continue
            rows = y[n_idx, k_idx][:, None] + dy[None, :]  # (M, P) P = pixels of the shape
            cols = x[n_idx, k_idx][:, None] + dx[None, :]  # (M, P)
            rgb = COLOR_RGB[color[n_idx, k_idx]]  # (M, 3)
            images[n_idx[:, None], rows, cols] = rgb[:, None, :]
    return images


def place_objects(n_obj: np.ndarray, rng: np.random.Generator):
    """Sizes and top-left corners (each (N, K) int64) of non-overlapping objects, as ShapesVQA
    places them; ShapesCaptions draws its scenes with the same placement and renderer."""
    return _place(n_obj, rng)


def render_scenes(shape, color, size, y, x, active) -> np.ndarray:
    """(N, 32, 32, 3) uint8 images of the active objects (shape, colour ids; size, y, x px)."""
    return _render(shape, color, size, y, x, active)


# The scene builders: each overwrites, in place, the rows of one question type in the (N, K)
# shape and colour draws and the (N,) answers, so that the question has exactly one answer.
def _one_named_scenes(rows, named_ids, named, asked, n_named, n_asked, offset, answer, rng):
    """Exactly one object has the named attribute value (named_ids[rows], one of n_named);
    its other attribute (one of n_asked) is the answer, offset + that value. ``named`` and
    ``asked`` are the (N, K) draws of the two attributes."""
    K = named.shape[1]
    a = _balanced(len(rows), n_asked, rng)
    v = named_ids[rows]
    named[rows, 0], asked[rows, 0] = v, a
    named[rows, 1:] = (v[:, None] + 1 + rng.integers(0, n_named - 1, (len(rows), K - 1))) % n_named
    answer[rows] = offset + a


def _count_scenes(rows, q_shape, q_color, shape, color, n_obj, answer, rng) -> np.ndarray:
    """count: exactly k objects carry the named attribute, k in 0..4; returns, per row,
    whether the question names a shape (else a colour)."""
    K = shape.shape[1]
    k = _balanced(len(rows), 5, rng)
    by_shape = _balanced(len(rows), 2, rng) == 1
    n_obj[rows] = rng.integers(np.maximum(k, 1), K + 1)
    has = np.arange(K)[None, :] < k[:, None]  # (n, K) slots that carry the attribute
    S, C = q_shape[rows][:, None], q_color[rows][:, None]
    other_shape = (S + 1 + rng.integers(0, 2, (len(rows), K))) % 3
    other_color = (C + 1 + rng.integers(0, 5, (len(rows), K))) % 6
    shape[rows] = np.where(by_shape[:, None], np.where(has, S, other_shape), shape[rows])
    color[rows] = np.where(~by_shape[:, None], np.where(has, C, other_color), color[rows])
    answer[rows] = 9 + k
    return by_shape


def _exist_scenes(rows, q_shape, q_color, shape, color, answer, rng) -> None:
    """exist: yes -> slot 0 is the named pair; no -> every object is one of the 17 others."""
    K = shape.shape[1]
    yes = _balanced(len(rows), 2, rng) == 0
    target = q_shape[rows] * 6 + q_color[rows]  # (n,) pair index in 0..17
    pair = rng.integers(0, 17, (len(rows), K))  # (n, K)
    pair = pair + (pair >= target[:, None])  # skip the named pair
    pair[yes, 0] = target[yes]
    pair[yes, 1:] = rng.integers(0, 18, (int(yes.sum()), K - 1))
    shape[rows], color[rows] = pair // 6, pair % 6
    answer[rows] = np.where(yes, 14, 15)


class ShapesVQA:
    """``n`` seeded ShapesVQA samples, generated at construction (see the module docstring).

    Arrays (one row per sample): ``images`` (N, 32, 32, 3) uint8, ``question_type`` (N,)
    index into QUESTION_TYPES, ``answer`` (N,) index into ANSWERS, ``tokens`` (N, T) int64
    padded with 0 and ``lengths`` (N,) from ``tokenizer``; ``questions`` (list of str);
    the scene: ``obj_shape``, ``obj_color``, ``obj_size``, ``obj_y``, ``obj_x`` (N, K) and
    ``n_objects`` (N,). ``batch(indices)`` gives model-ready arrays.
    """

    shapes, colors, answers, question_types = SHAPES, COLORS, ANSWERS, QUESTION_TYPES

    def __init__(self, n: int = 1000, seed: int | np.random.SeedSequence = 0):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"ShapesVQA: n (number of samples) must be a positive integer, "
                             f"got {n!r}")
        self.n = int(n)
        self.seed = seed
        self.tokenizer = shapes_vqa_tokenizer()
        rng = np.random.default_rng(seed)
        self._generate(rng)

    # ------------------------------------------------------------------ generation
    def _generate(self, rng: np.random.Generator) -> None:
        N, K = self.n, MAX_OBJECTS
        qtype = _balanced(N, len(QUESTION_TYPES), rng)  # (N,)
        shape = rng.integers(0, 3, (N, K))  # (N, K) defaults: any shape, any colour
        color = rng.integers(0, 6, (N, K))  # (N, K)
        n_obj = rng.integers(1, K + 1, N)  # (N,)
        q_shape = rng.integers(0, 3, N)  # (N,) the shape a question names (if any)
        q_color = rng.integers(0, 6, N)  # (N,) the colour a question names (if any)
        count_by_shape = np.zeros(N, dtype=bool)  # (N,) count question names a shape
        answer = np.zeros(N, dtype=np.int64)  # (N,)

        rows = [np.flatnonzero(qtype == t) for t in range(len(QUESTION_TYPES))]
        # color: exactly one <shape>, whose colour is the answer (0..5)
        _one_named_scenes(rows[0], q_shape, shape, color, 3, 6, 0, answer, rng)
        # shape: exactly one <color> object, whose shape is the answer (6..8)
        _one_named_scenes(rows[1], q_color, color, shape, 6, 3, 6, answer, rng)
        count_by_shape[rows[2]] = _count_scenes(rows[2], q_shape, q_color, shape, color, n_obj,
                                                answer, rng)
        _exist_scenes(rows[3], q_shape, q_color, shape, color, answer, rng)

        active = np.arange(K)[None, :] < n_obj[:, None]  # (N, K)
        size, y, x = _place(n_obj, rng)
        self.images = _render(shape, color, size, y, x, active)  # (N, H, W, 3)
        self.question_type = qtype.astype(np.int64)
        self.answer = answer
        self.obj_shape = np.where(active, shape, -1)
        self.obj_color = np.where(active, color, -1)
        self.obj_size, self.obj_y, self.obj_x = size, y, x
        self.n_objects = n_obj
        self.questions = [self._question(int(t), int(s), int(c), bool(b))
                          for t, s, c, b in zip(qtype, q_shape, q_color, count_by_shape)]
        self.tokens, self.lengths = self.tokenizer.encode_batch(
            self.questions, max_len=MAX_QUESTION_LEN)  # (N, T), (N,)

    @staticmethod
    def _question(qtype: int, s: int, c: int, count_by_shape: bool) -> str:
        if qtype == 0:
            return f"what color is the {SHAPES[s]} ?"
        if qtype == 1:
            return f"what shape is the {COLORS[c]} object ?"
        if qtype == 2:
            word = SHAPES[s] if count_by_shape else COLORS[c]
            return f"how many {word} objects are there ?"
        return f"is there a {COLORS[c]} {SHAPES[s]} ?"

    # ------------------------------------------------------------------ access
    @classmethod
    def splits(cls, train: int = 10_000, val: int = 1_000, test: int = 2_000,
               seed: int = 0) -> dict[str, ShapesVQA]:
        """Independent train / val / test sets, each balanced, from one seed."""
        children = np.random.SeedSequence(seed).spawn(3)
        return {"train": cls(train, children[0]), "val": cls(val, children[1]),
                "test": cls(test, children[2])}

    def __len__(self) -> int:
        return self.n

    @property
    def num_answers(self) -> int:
        return len(ANSWERS)

    def image_array(self, indices=None, dtype=np.float32) -> np.ndarray:
        """Images as (N, 3, 32, 32) floats in [0, 1] (NCHW, what the model reads)."""
        images = self.images if indices is None else self.images[indices]
        return images.transpose(0, 3, 1, 2).astype(dtype) / dtype(255)  # (N, 3, H, W)

    def batch(self, indices, dtype=np.float32) -> dict:
        """Model-ready arrays for ``indices``: image (B, 3, 32, 32), tokens (B, T),
        lengths (B,), answer (B,), question_type (B,)."""
        indices = np.asarray(indices)
        return {
            "image": self.image_array(indices, dtype),
            "tokens": self.tokens[indices],
            "lengths": self.lengths[indices],
            "answer": self.answer[indices],
            "question_type": self.question_type[indices],
        }

    def __getitem__(self, i: int) -> dict:
        return {
            "image": self.images[i], "question": self.questions[i],
            "answer": ANSWERS[self.answer[i]],
            "question_type": QUESTION_TYPES[self.question_type[i]],
        }

    def answer_counts(self) -> dict[str, dict[str, int]]:
        """How often each answer occurs within each question type (to check the balance)."""
        out = {}
        for t, name in enumerate(QUESTION_TYPES):
            answers = self.answer[self.question_type == t]
            out[name] = {ANSWERS[a]: int((answers == a).sum()) for a in ANSWERS_BY_TYPE[name]}
        return out

    def __repr__(self) -> str:
        return f"ShapesVQA(n={self.n}, seed={self.seed!r})"
