"""ShapesVQA, the tokenizer, the DataLoader and the PNG grid: determinism, balance, shapes."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from tinymm.app._png import decode_png, encode_png
from tinymm.app.render import render_grid
from tinymm.data import (
    ANSWERS,
    ANSWERS_BY_TYPE,
    COLORS,
    QUESTION_TYPES,
    SHAPES,
    DataLoader,
    ShapesVQA,
    Tokenizer,
    question_only_chance,
)


@pytest.fixture(scope="module")
def data():
    return ShapesVQA(2000, seed=3)


def test_same_seed_same_data_other_seed_other_data(data):
    again = ShapesVQA(2000, seed=3)
    for name in ("images", "answer", "question_type", "tokens", "lengths", "obj_x", "obj_y"):
        assert np.array_equal(getattr(data, name), getattr(again, name)), name
    assert data.questions == again.questions
    other = ShapesVQA(2000, seed=4)
    assert not np.array_equal(data.images, other.images)


def test_shapes_and_dtypes(data):
    assert data.images.shape == (2000, 32, 32, 3) and data.images.dtype == np.uint8
    b = data.batch(np.arange(5))
    assert b["image"].shape == (5, 3, 32, 32) and b["image"].dtype == np.float32
    assert 0.0 <= b["image"].min() and b["image"].max() <= 1.0
    assert b["tokens"].shape == (5, 7) and b["tokens"].dtype == np.int64
    assert b["lengths"].shape == (5,) and set(b["lengths"]) <= {6, 7}
    assert data.batch([0, 1], dtype=np.float64)["image"].dtype == np.float64
    assert len(ANSWERS) == data.num_answers == 16


def test_answers_balanced_within_each_type(data):
    counts = data.answer_counts()
    for qtype in QUESTION_TYPES:
        per_answer = np.array(list(counts[qtype].values()))
        assert per_answer.max() - per_answer.min() <= 1, (qtype, counts[qtype])
    per_type = np.bincount(data.question_type, minlength=4)
    assert per_type.max() - per_type.min() <= 1
    # every answer is legal for its question type
    for t, qtype in enumerate(QUESTION_TYPES):
        assert set(data.answer[data.question_type == t]) <= set(ANSWERS_BY_TYPE[qtype])


def test_question_only_model_stays_at_chance():
    """The best predictor from the question text alone (the majority answer per distinct
    question, fitted on the training set) scores about chance (0.30) on fresh data."""
    train, test = ShapesVQA(8000, seed=0), ShapesVQA(4000, seed=1)
    best = {}
    for q in set(train.questions):
        answers = train.answer[[i for i, t in enumerate(train.questions) if t == q]]
        best[q] = np.bincount(answers).argmax()
    predicted = np.array([best.get(q, 0) for q in test.questions])
    accuracy = float((predicted == test.answer).mean())
    assert question_only_chance() == pytest.approx(0.3)
    assert abs(accuracy - 0.30) < 0.03, accuracy


def test_scene_agrees_with_answer(data):
    """Recompute every answer from the scene description and compare."""
    for i in range(len(data)):
        words = data.questions[i].split()
        shapes = [SHAPES[s] for s in data.obj_shape[i] if s >= 0]
        colors = [COLORS[c] for c in data.obj_color[i] if c >= 0]
        assert 1 <= len(shapes) == data.n_objects[i] <= 4
        qtype, truth = QUESTION_TYPES[data.question_type[i]], ANSWERS[data.answer[i]]
        if qtype == "color":
            hits = [c for s, c in zip(shapes, colors) if s == words[4]]
            assert hits == [truth]
        elif qtype == "shape":
            hits = [s for s, c in zip(shapes, colors) if c == words[4]]
            assert hits == [truth]
        elif qtype == "count":
            n = sum(words[2] in (s, c) for s, c in zip(shapes, colors))
            assert str(n) == truth
        else:
            found = any(c == words[3] and s == words[4] for s, c in zip(shapes, colors))
            assert ("yes" if found else "no") == truth


def test_objects_do_not_overlap_and_are_drawn(data):
    for i in range(300):
        boxes = [(data.obj_y[i, k], data.obj_x[i, k], data.obj_size[i, k])
                 for k in range(data.n_objects[i])]
        for (ya, xa, sa), (yb, xb, sb) in itertools.combinations(boxes, 2):
            assert ya >= yb + sb or yb >= ya + sa or xa >= xb + sb or xb >= xa + sa
        for y, x, s in boxes:
            assert 0 <= y and y + s <= 32 and 0 <= x and x + s <= 32
            assert data.images[i, y:y + s, x:x + s].any()


def test_generation_is_fast():
    start = time.perf_counter()
    ShapesVQA(10_000, seed=0)
    assert time.perf_counter() - start < 10.0  # typically ~0.3 s; generous for loaded CI


def test_splits_are_seeded_and_distinct():
    a = ShapesVQA.splits(train=100, val=50, test=60, seed=1)
    b = ShapesVQA.splits(train=100, val=50, test=60, seed=1)
    assert [len(a[k]) for k in ("train", "val", "test")] == [100, 50, 60]
    assert np.array_equal(a["test"].images, b["test"].images)
    assert not np.array_equal(a["train"].images[:50], a["val"].images)


def test_tokenizer_round_trip_padding_and_unknown_words(data):
    tok = data.tokenizer
    ids, lengths = tok.encode_batch(data.questions[:50], max_len=7)
    for i in range(50):
        assert tok.decode(ids[i], lengths[i]) == data.questions[i]
        assert (ids[i, lengths[i]:] == tok.pad_id).all()
    assert tok.encode("what is a zebra ?")[3] == tok.unk_id
    again = Tokenizer.from_state_dict(tok.state_dict())
    assert again == tok
    fitted = Tokenizer.fit(["b a", "c a ?"])
    assert fitted.itos == ["<pad>", "<unk>", "?", "a", "b", "c"]
    with pytest.raises(ValueError, match="max_len"):
        tok.encode_batch(["what color is the circle ?"], max_len=3)


def test_loader_batches_cover_the_data_once_per_epoch(data):
    loader = DataLoader(data, batch_size=64, shuffle=True, seed=5)
    assert len(loader) == 32  # ceil(2000 / 64)
    batches = list(loader)
    assert [len(b["answer"]) for b in batches[-2:]] == [64, 2000 - 31 * 64]
    seen = np.concatenate([b["answer"] for b in batches])
    assert np.array_equal(np.sort(seen), np.sort(data.answer))
    second = list(loader)  # epoch 1: a different order
    assert not np.array_equal(batches[0]["answer"], second[0]["answer"]) or \
        not np.array_equal(batches[0]["tokens"], second[0]["tokens"])
    loader.set_epoch(0)  # exact replay of epoch 0
    replay = next(iter(loader))
    assert np.array_equal(replay["image"], batches[0]["image"])
    plain = DataLoader(data, batch_size=10)
    assert np.array_equal(next(iter(plain))["answer"], data.answer[:10])
    assert len(DataLoader(data, batch_size=64, drop_last=True)) == 31


class _Indices:
    """A data set whose batch is the indices themselves: the loader's order made visible."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def batch(self, indices, dtype=None):
        return {"index": np.asarray(indices)}


def _visited(loader):
    return np.concatenate([b["index"] for b in loader])


def test_shuffle_order_depends_on_seed_and_epoch_and_nothing_else():
    """The order of epoch e is the documented default_rng([seed, e]).permutation(n): the
    seed matters, the epoch matters, and (seed s, epoch 1) is not (seed s + 1, epoch 0)."""
    n = 50
    orders = {}
    for seed in (0, 1, 2):
        loader = DataLoader(_Indices(n), batch_size=7, shuffle=True, seed=seed)
        for epoch in range(3):
            got = _visited(loader)  # each iteration advances the epoch
            assert np.array_equal(np.sort(got), np.arange(n))  # every sample once
            np.testing.assert_array_equal(
                got, np.random.default_rng([seed, epoch]).permutation(n))
            np.testing.assert_array_equal(loader.order(epoch), got)
            orders[seed, epoch] = tuple(got)
    assert len(set(orders.values())) == len(orders)  # no two (seed, epoch) share an order
    assert orders[0, 1] != orders[1, 0] and orders[1, 1] != orders[2, 0]
    replay = DataLoader(_Indices(n), batch_size=7, shuffle=True, seed=1)
    replay.set_epoch(2)  # resuming at epoch 2 sees what an uninterrupted run saw
    assert tuple(_visited(replay)) == orders[1, 2]
    plain = DataLoader(_Indices(n), batch_size=7, shuffle=False, seed=3)
    assert np.array_equal(_visited(plain), np.arange(n)) and \
        np.array_equal(_visited(plain), np.arange(n))


def test_bad_input_is_refused(data):
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(data, batch_size=0)
    with pytest.raises(ValueError, match="positive integer"):
        ShapesVQA(0)
    with pytest.raises(ValueError, match="predictions"):
        render_grid(data, "unused.png", indices=[0, 1], predictions=[0])


def test_png_round_trip_and_grid(data, tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    assert np.array_equal(decode_png(encode_png(rgb)), rgb)
    path = tmp_path / "grid.png"
    pixels = render_grid(data, path, indices=[0, 1, 2], predictions=[0, 1, 2], columns=2)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert np.array_equal(decode_png(path.read_bytes()), pixels)
    assert pixels.shape[1] > 2 * 96
