"""ShapesCaptions: determinism, shapes, caption content, the caption tokenizer and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from tinymm.data import DataLoader
from tinymm.data.shapes_captions import (
    MAX_CAPTION_LEN,
    MAX_CAPTION_WORDS,
    REFERENCES,
    CaptionPairs,
    ShapesCaptions,
    captions_tokenizer,
    decode_caption,
    encode_captions,
    mentioned_objects,
    scene_captions,
)


@pytest.fixture(scope="module")
def data():
    return ShapesCaptions(600, seed=5)


def test_same_seed_same_data_other_seed_other_data(data):
    again = ShapesCaptions(600, seed=5)
    for name in ("images", "tokens", "lengths", "obj_color", "obj_shape", "obj_x"):
        assert np.array_equal(getattr(data, name), getattr(again, name)), name
    assert data.captions == again.captions
    assert not np.array_equal(data.images, ShapesCaptions(600, seed=6).images)


def test_splits_are_seeded_and_independent():
    a, b = ShapesCaptions.splits(50, 20, 30, seed=1), ShapesCaptions.splits(50, 20, 30, seed=1)
    assert [len(a[k]) for k in ("train", "val", "test")] == [50, 20, 30]
    for k in a:
        assert np.array_equal(a[k].images, b[k].images)
    assert not np.array_equal(a["train"].images[:20], a["val"].images)


def test_shapes_dtypes_and_markers(data):
    tok = data.tokenizer
    assert data.images.shape == (600, 32, 32, 3) and data.images.dtype == np.uint8
    assert data.tokens.shape == (600, REFERENCES, MAX_CAPTION_LEN)
    assert data.tokens.dtype == np.int64 and data.lengths.shape == (600, REFERENCES)
    assert (data.tokens[:, :, 0] == tok.stoi["<start>"]).all()
    rows = np.arange(600)[:, None]
    last = data.tokens[rows, np.arange(REFERENCES)[None, :], data.lengths - 1]
    assert (last == tok.stoi["<end>"]).all()
    cols = np.arange(MAX_CAPTION_LEN)[None, None, :]
    assert (data.tokens[cols >= data.lengths[:, :, None]] == 0).all()
    assert data.lengths.max() <= MAX_CAPTION_LEN
    batch = data.batch(np.array([3, 1]))
    assert batch["image"].shape == (2, 3, 32, 32) and batch["image"].dtype == np.float32
    assert batch["tokens"].shape == (2, MAX_CAPTION_LEN)


def test_every_caption_names_every_object_and_a_relation(data):
    relations = ("from left to right", "to the left of", "above", "below", "rightmost")
    for i in range(len(data)):
        assert 2 <= data.n_objects[i] <= 4
        for caption in data.captions[i]:
            assert mentioned_objects(caption) == data.objects(i), caption
            assert any(r in caption for r in relations), caption
        tokens = data.tokens[i, 0, :data.lengths[i, 0]]
        assert decode_caption(data.tokenizer, tokens) == data.captions[i][0]


def test_captions_are_left_to_right_and_count_groups():
    # (color, shape, cx, cy): red circle at the right, two blue squares on the left
    red, circle, blue, square = 0, 0, 2, 1
    caps = scene_captions([(red, circle, 25.0, 5.0), (blue, square, 4.0, 5.0),
                           (blue, square, 12.0, 20.0)])
    assert caps[0] == ("from left to right : a blue square , a blue square and a red circle")
    assert caps[1] == "a blue square is above a blue square , and a red circle"
    assert caps[2] == "two blue squares and a red circle , the rightmost is a red circle"


def test_longest_caption_fits():
    big = ShapesCaptions(3000, seed=0)
    longest = max(len(c.split()) for refs in big.captions for c in refs)
    assert longest <= MAX_CAPTION_WORDS


def test_pairs_cover_every_reference(data):
    pairs = CaptionPairs(data)
    assert len(pairs) == 600 * REFERENCES
    batch = pairs.batch(np.array([0, 1, 2, 3]))
    assert list(batch["index"]) == [0, 0, 0, 1]
    assert np.array_equal(batch["tokens"][1], data.tokens[0, 1])
    loader = DataLoader(pairs, batch_size=64, shuffle=True, seed=3)
    first = next(iter(loader))
    loader.set_epoch(0)
    assert np.array_equal(next(iter(loader))["tokens"], first["tokens"])


def test_bad_captions_are_refused_by_name():
    tok = captions_tokenizer()
    with pytest.raises(ValueError, match="empty caption"):
        encode_captions(tok, ["   "])
    with pytest.raises(ValueError, match=r"unknown word\(s\) \['purple'\]"):
        encode_captions(tok, ["a purple circle"])
    with pytest.raises(ValueError, match="decoder's maximum is 5 tokens"):
        encode_captions(tok, ["a red circle and"], max_len=5)
    with pytest.raises(ValueError, match="positive integer"):
        ShapesCaptions(0)


def test_tokenizer_specials_come_first():
    tok = captions_tokenizer()
    assert tok.itos[:4] == ["<pad>", "<unk>", "<start>", "<end>"]
    assert tok == captions_tokenizer()


def _wrong_first_object(caption: str, scene: set, colours, shapes) -> str | None:
    """The listing caption with its first object's colour (or, with ``shapes``, its shape)
    replaced so that the named (colour, shape) pair is not in the scene; None if none is."""
    words = caption.split()
    k = next(i for i, w in enumerate(words) if w in colours)  # "a <colour> <shape>"
    options = [(c, words[k + 1]) for c in colours] if shapes is None else \
        [(words[k], s) for s in shapes]
    wrong = next((p for p in options if p not in scene), None)
    if wrong is None:
        return None
    words[k], words[k + 1] = wrong
    return " ".join(words)


def test_attribute_scores_one_on_references_zero_on_a_wrong_colour_or_shape():
    from tinymm.app.tasks.captioning import attribute_breakdown, caption_scores
    from tinymm.data.shapes_vqa import COLORS, SHAPES
    from tinymm.metrics import attribute_accuracy

    split = ShapesCaptions(40, seed=7)
    for r in range(REFERENCES):
        own = [split.captions[i][r] for i in range(len(split))]
        assert caption_scores(own, split)["attribute_accuracy"] == 1.0
        parts = attribute_breakdown(own, split, max_words=MAX_CAPTION_WORDS + 1)
        assert all(parts[k] == 1.0 for k in ("colours", "shapes", "count", "order")), parts
        assert parts["truncated"] == 0.0 and parts["relation"] in (None, 1.0)
    listing = [split.captions[i][0] for i in range(len(split))]
    for shapes, broken in ((None, "colours"), (SHAPES, "shapes")):
        wrong = [_wrong_first_object(c, split.objects(i), COLORS, shapes)
                 for i, c in enumerate(listing)]
        keep = [i for i, c in enumerate(wrong) if c is not None]
        assert len(keep) >= 35
        score = attribute_accuracy([mentioned_objects(wrong[i]) for i in keep],
                                   [split.objects(i) for i in keep])
        assert score == 0.0, broken
        named = [wrong[i] if wrong[i] is not None else listing[i] for i in range(len(split))]
        parts = attribute_breakdown(named, split, MAX_CAPTION_WORDS + 1)
        assert parts["pair_precision"] < 1.0 and parts["pair_recall"] < 1.0, parts
    first_only = [" ".join(c.split()[:8]) for c in listing]  # "from left to right : a X Y"
    parts = attribute_breakdown(first_only, split, MAX_CAPTION_WORDS + 1)
    assert parts["count"] < 1.0 and parts["pair_precision"] == 1.0 and parts["pair_recall"] < 1


def test_word_presence_marks_exactly_the_words_of_the_references(data):
    itos = data.tokenizer.itos
    for i in range(0, 600, 37):
        marked = {itos[j] for j in np.flatnonzero(data.words[i])}
        assert marked == {w for c in data.captions[i] for w in c.split()}, i
    pairs = CaptionPairs(data).batch(np.array([0, 4, 5]))  # images 0, 1, 1
    np.testing.assert_array_equal(pairs["words"], data.words[[0, 1, 1]])
    assert data.words.dtype == np.float32 and data.words[:, :4].sum() == 0


def test_slots_are_the_listing_references_objects_left_to_right(data):
    from tinymm.data.shapes_captions import NO_OBJECT, caption_slots
    from tinymm.data.shapes_vqa import COLORS, SHAPES

    assert data.slots.shape == (600, 4, 2) and data.slots.dtype == np.int64
    for i in range(0, 600, 37):
        k = int(data.n_objects[i])
        named = [(COLORS[c], SHAPES[s]) for c, s in data.slots[i, :k]]
        assert named == data.ordered_objects(i)
        assert (data.slots[i, k:] == NO_OBJECT).all()
    batch = CaptionPairs(data).batch(np.array([4, 5]))  # image 1's references 1 and 2
    assert np.array_equal(batch["slots"], data.slots[[1, 1]])
    counted = caption_slots(["two red circles and a blue square , the rightmost is a blue "
                             "square"])  # a plural names one group: slots follow the words
    assert counted[0].tolist() == [[0, 0], [2, 1], [2, 1], [-1, -1]]
    with pytest.raises(ValueError, match="names 3 objects, more than the 2 slots"):
        caption_slots(["a red circle , a red square and a blue circle"], slots=2)
