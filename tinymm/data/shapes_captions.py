"""ShapesCaptions: the ShapesVQA scenes described in words, for retrieval and captioning.

Every sample is a 32x32 RGB image drawn exactly as ShapesVQA draws its scenes (same shapes,
colours, sizes, non-overlapping placement and renderer), with 2 to 4 objects in any
combination of colour and shape, and R = 3 reference captions generated from the scene
description. Objects are named left to right (by the x of their centre); every caption names
every object's colour and shape and at least one spatial relation:

    list      "from left to right : a red circle , a blue square and a green triangle"
    relation  "a red circle is to the left of a blue square , and a green triangle"
              (the relation of the two leftmost objects: "to the left of" when they lie
              further apart across than down, else "above" / "below")
    count     "two green triangles and a yellow square , the rightmost is a yellow square"
              (identical objects grouped with a number word, groups in left-to-right order)

Two or more objects per scene make most captions unique: with one object, many images share
a caption and retrieval could not tell them apart.

Captions are tokenized with ``<start>`` before and ``<end>`` after the words and padded with
``<pad>`` (id 0): ``tokens`` (N, R, L) and ``lengths`` (N, R) count both markers;
``words`` (N, V) marks the words each image's references use; ``slots`` (N, K, 2) holds the
colour and shape ids its listing reference names, left to right (``NO_OBJECT`` past the last).
``CaptionPairs`` views the N x R (image, caption) pairs as one data set for training.

Dimension letters: N images, R references per image, L caption tokens (with markers),
K object slots (4).
"""

from __future__ import annotations

import numpy as np

from tinymm.data.shapes_vqa import (
    COLORS,
    MAX_OBJECTS,
    SHAPES,
    place_objects,
    render_scenes,
)
from tinymm.data.tokenizer import END, START, Tokenizer

REFERENCES = 3  # captions per image
MIN_OBJECTS = 2
NUMBERS = ("a", "two", "three", "four")
PLURALS = {"circle": "circles", "square": "squares", "triangle": "triangles"}
CAPTION_WORDS = ("from left to right : , and is the of above below rightmost".split()
                 + list(NUMBERS) + list(COLORS) + list(SHAPES) + list(PLURALS.values()))
MAX_CAPTION_WORDS = 22  # the longest caption a 4-object scene gets (a test checks it)
MAX_CAPTION_LEN = MAX_CAPTION_WORDS + 2  # with <start> and <end>
NO_OBJECT = -1  # a slot past the last object in ``slots``


def captions_tokenizer() -> Tokenizer:
    """The fixed tokenizer of every ShapesCaptions caption: pad, unk, start, end, 27 words."""
    return Tokenizer(CAPTION_WORDS, specials=(START, END))


def _noun(color: int, shape: int) -> str:
    return f"{COLORS[color]} {SHAPES[shape]}"


def _join(items: list[str]) -> str:
    """["x"] -> "x"; ["x", "y"] -> "x and y"; ["x", "y", "z"] -> "x , y and z"."""
    if len(items) == 1:
        return items[0]
    return " , ".join(items[:-1]) + " and " + items[-1]


def scene_captions(objects: list[tuple[int, int, float, float]]) -> list[str]:
    """The R reference captions of one scene: ``objects`` = (color, shape, cx, cy) each."""
    objects = sorted(objects, key=lambda o: (o[2], o[3]))  # left to right, then top down
    nouns = ["a " + _noun(c, s) for c, s, _, _ in objects]
    listing = "from left to right : " + _join(nouns)

    (_, _, x0, y0), (_, _, x1, y1) = objects[0], objects[1]
    if abs(y1 - y0) > abs(x1 - x0):
        relation = "is above" if y0 < y1 else "is below"
    else:
        relation = "is to the left of"
    related = f"{nouns[0]} {relation} {nouns[1]}"
    if len(nouns) > 2:
        related += " , and " + _join(nouns[2:])

    groups: dict[tuple[int, int], int] = {}
    for c, s, _, _ in objects:  # dict keeps first-appearance (left-to-right) order
        groups[(c, s)] = groups.get((c, s), 0) + 1
    counted = [f"{NUMBERS[k - 1]} {COLORS[c]} " + (PLURALS[SHAPES[s]] if k > 1 else SHAPES[s])
               for (c, s), k in groups.items()]
    last_c, last_s = objects[-1][:2]
    count = _join(counted) + f" , the rightmost is a {_noun(last_c, last_s)}"
    return [listing, related, count]


class ShapesCaptions:
    """``n`` seeded captioned scenes (see the module docstring).

    Arrays: ``images`` (N, 32, 32, 3) uint8; the scene ``obj_shape``, ``obj_color`` (N, K),
    -1 in empty slots, ``obj_size``, ``obj_y``, ``obj_x`` (N, K), ``n_objects`` (N,);
    ``captions`` (N lists of R str); ``tokens`` (N, R, L) int64 and ``lengths`` (N, R).
    """

    references = REFERENCES

    def __init__(self, n: int = 1000, seed: int | np.random.SeedSequence = 0):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"ShapesCaptions: n (number of images) must be a positive "
                             f"integer, got {n!r}")
        self.n = int(n)
        self.seed = seed
        self.tokenizer = captions_tokenizer()
        rng = np.random.default_rng(seed)
        N, K = self.n, MAX_OBJECTS
        n_obj = rng.integers(MIN_OBJECTS, K + 1, N)  # (N,)
        shape = rng.integers(0, len(SHAPES), (N, K))  # (N, K)
        color = rng.integers(0, len(COLORS), (N, K))  # (N, K)
        active = np.arange(K)[None, :] < n_obj[:, None]  # (N, K)
        size, y, x = place_objects(n_obj, rng)  # (N, K) each
        self.images = render_scenes(shape, color, size, y, x, active)  # (N, H, W, 3)
        self.obj_shape = np.where(active, shape, -1)
        self.obj_color = np.where(active, color, -1)
        self.obj_size, self.obj_y, self.obj_x = size, y, x
        self.n_objects = n_obj
        cx, cy = x + size / 2, y + size / 2  # (N, K) object centres
        self.captions = [scene_captions([(int(color[i, k]), int(shape[i, k]), float(cx[i, k]),
                                          float(cy[i, k])) for k in range(int(n_obj[i]))])
                         for i in range(N)]
        self.tokens, self.lengths = encode_captions(
            self.tokenizer, [c for refs in self.captions for c in refs])  # (N*R, L), (N*R,)
        self.tokens = self.tokens.reshape(N, REFERENCES, -1)  # (N, R, L)
        self.lengths = self.lengths.reshape(N, REFERENCES)  # (N, R)
        self.words = word_presence(self.tokens, len(self.tokenizer))  # (N, V)
        self.slots = caption_slots([refs[0] for refs in self.captions], K)  # (N, K, 2)

    @classmethod
    def splits(cls, train: int = 4_000, val: int = 500, test: int = 1_000,
               seed: int = 0) -> dict[str, ShapesCaptions]:
        """Independent train / val / test sets from one seed (disjoint random streams)."""
        children = np.random.SeedSequence([seed, 16]).spawn(3)
        return {"train": cls(train, children[0]), "val": cls(val, children[1]),
                "test": cls(test, children[2])}

    def __len__(self) -> int:
        return self.n

    def image_array(self, indices=None, dtype=np.float32) -> np.ndarray:
        """Images as (N, 3, 32, 32) floats in [0, 1] (NCHW, what the models read)."""
        images = self.images if indices is None else self.images[indices]
        return images.transpose(0, 3, 1, 2).astype(dtype) / dtype(255)  # (N, 3, H, W)

    def batch(self, indices, dtype=np.float32, reference: int = 0) -> dict:
        """Images with one reference caption each: image (B, 3, 32, 32), tokens (B, L),
        lengths (B,), index (B,) the image indices."""
        indices = np.asarray(indices)
        return {"image": self.image_array(indices, dtype),
                "tokens": self.tokens[indices, reference], "lengths": self.lengths[indices,
                                                                                  reference],
                "index": indices}

    def objects(self, i: int) -> set[tuple[str, str]]:
        """The distinct (colour, shape) pairs of image ``i``."""
        return {(COLORS[c], SHAPES[s]) for c, s in zip(self.obj_color[i], self.obj_shape[i])
                if c >= 0}

    def ordered_objects(self, i: int) -> list[tuple[str, str]]:
        """Image ``i``'s (colour, shape) pairs left to right, the order every reference
        caption names them in (by centre x, then centre y, as ``scene_captions`` sorts)."""
        k = int(self.n_objects[i])
        cx = self.obj_x[i, :k] + self.obj_size[i, :k] / 2  # (k,)
        cy = self.obj_y[i, :k] + self.obj_size[i, :k] / 2  # (k,)
        order = sorted(range(k), key=lambda j: (cx[j], cy[j]))
        return [(COLORS[self.obj_color[i, j]], SHAPES[self.obj_shape[i, j]]) for j in order]

    def __repr__(self) -> str:
        return f"ShapesCaptions(n={self.n}, seed={self.seed!r})"


class CaptionPairs:
    """Every (image, reference caption) pair of a ShapesCaptions set as one data set:
    pair p is image ``p // R`` with its caption ``p % R``; ``batch`` is ShapesCaptions's."""

    def __init__(self, captions: ShapesCaptions):
        self.captions = captions

    def __len__(self) -> int:
        return len(self.captions) * REFERENCES

    def batch(self, indices, dtype=np.float32) -> dict:
        indices = np.asarray(indices)
        image, ref = indices // REFERENCES, indices % REFERENCES  # (B,), (B,)
        c = self.captions
        return {"image": c.image_array(image, dtype), "tokens": c.tokens[image, ref],
                "lengths": c.lengths[image, ref], "index": image,
                "words": c.words[image], "slots": c.slots[image]}  # (B, V), (B, K, 2)


def word_presence(tokens: np.ndarray, vocab_size: int) -> np.ndarray:
    """Which words occur in each image's reference captions: tokens (N, R, L) -> (N, V)
    float32 in {0, 1}; <pad>, <unk>, <start> and <end> (ids 0-3) are never marked."""
    tokens = np.asarray(tokens)
    N = tokens.shape[0]
    present = np.zeros((N, vocab_size), dtype=np.float32)  # (N, V)
    present[np.repeat(np.arange(N), tokens[0].size), tokens.reshape(-1)] = 1.0
    present[:, :4] = 0.0
    return present


def caption_slots(captions: list[str], slots: int = MAX_OBJECTS) -> np.ndarray:
    """The objects each caption names, in its order, as ids: (N, K, 2) int64 of (colour,
    shape) per slot, ``NO_OBJECT`` in both past the last named object. Read from the words
    (``mentioned_sequence``), so for the listing reference it is the scene left to right."""
    out = np.full((len(captions), slots, 2), NO_OBJECT, dtype=np.int64)  # (N, K, 2)
    for i, caption in enumerate(captions):
        named = mentioned_sequence(caption)
        if len(named) > slots:
            raise ValueError(f"caption_slots: {caption!r} names {len(named)} objects, more "
                             f"than the {slots} slots")
        for k, (colour, shape) in enumerate(named):
            out[i, k] = COLORS.index(colour), SHAPES.index(shape)
    return out


def encode_captions(tokenizer: Tokenizer, texts, max_len: int = MAX_CAPTION_LEN
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Captions -> (ids (N, L) with <start> ... <end> padded with 0, lengths (N,)).

    Refuses what a captioner cannot learn from: an empty caption, a word outside the
    vocabulary (no silent <unk>), a caption longer than ``max_len`` tokens with its markers.
    """
    encoded = []
    for text in texts:
        words = tokenizer.split(text)
        if not words:
            raise ValueError("captions: an empty caption has no words; every caption needs at "
                             "least one")
        unknown = [w for w in words if w not in tokenizer.stoi or w in (START, END)]
        if unknown:
            raise ValueError(f"captions: unknown word(s) {unknown} in {text!r}; the vocabulary "
                             f"is {tokenizer.itos[4:]}")
        if len(words) + 2 > max_len:
            raise ValueError(f"captions: {text!r} has {len(words)} words, {len(words) + 2} "
                             f"tokens with <start> and <end>; the decoder's maximum is "
                             f"{max_len} tokens")
        encoded.append([tokenizer.stoi[START]] + [tokenizer.stoi[w] for w in words]
                       + [tokenizer.stoi[END]])
    lengths = np.array([len(e) for e in encoded], dtype=np.int64)  # (N,)
    ids = np.zeros((len(encoded), max_len), dtype=np.int64)  # (N, L)
    for i, e in enumerate(encoded):
        ids[i, :len(e)] = e
    return ids, lengths


def decode_caption(tokenizer: Tokenizer, ids) -> str:
    """Token ids -> words, dropping <start>, stopping at the first <end> or <pad>."""
    words = []
    for i in ids:
        w = tokenizer.itos[int(i)]
        if w == START:
            continue
        if w in (END, "<pad>"):
            break
        words.append(w)
    return " ".join(words)


def mentioned_sequence(caption: str) -> list[tuple[str, str]]:
    """The (colour, shape) pairs a caption names, in the order it names them (repeats kept):
    every colour word followed by a shape word (singular or plural)."""
    words = caption.split()
    singular = {p: s for s, p in PLURALS.items()}
    return [(a, singular.get(b, b)) for a, b in zip(words, words[1:])
            if a in COLORS and (b in SHAPES or b in singular)]


def mentioned_objects(caption: str) -> set[tuple[str, str]]:
    """The distinct (colour, shape) pairs a caption names (``mentioned_sequence`` as a set)."""
    return set(mentioned_sequence(caption))
