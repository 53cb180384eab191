"""BLEU on hand-computed cases and against NLTK; recall@K and median rank; attribute accuracy."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tinymm.metrics import attribute_accuracy, corpus_bleu, retrieval_metrics, retrieval_ranks


def _w(s):
    return s.split()


def test_bleu_hand_computed():
    # clipped matches: 1-grams 5/6, 2-grams 3/5, 3-grams 1/4, 4-grams 0/3; c = r = 6
    bleu = corpus_bleu([[_w("the cat is on the mat")]], [_w("the cat sat on the mat")])
    assert bleu["BLEU-1"] == pytest.approx(5 / 6)
    assert bleu["BLEU-2"] == pytest.approx(math.sqrt(5 / 6 * 3 / 5))
    assert bleu["BLEU-3"] == pytest.approx(0.5)
    assert bleu["BLEU-4"] == 0.0


def test_bleu_clipping_and_brevity_penalty():
    # "the the the" against "the cat": 'the' clipped to 1 match of 3
    assert corpus_bleu([[_w("the cat")]], [_w("the the the")], 1)["BLEU-1"] == pytest.approx(1 / 3)
    # hypothesis of 2 words, closest reference 4 words: BP = exp(1 - 4/2)
    bleu = corpus_bleu([[_w("the cat sat on")]], [_w("the cat")], 2)
    assert bleu["BLEU-1"] == pytest.approx(math.exp(-1))
    # a reference as long as the hypothesis removes the penalty
    assert corpus_bleu([[_w("the cat sat on"), _w("the cat")]], [_w("the cat")])["BLEU-2"] == 1


def test_bleu_identical_corpus_is_one_and_counts_pool_over_sentences():
    refs = [[_w("a red circle and a blue square")], [_w("two green triangles")]]
    hyps = [_w("a red circle and a blue square"), _w("two green triangles")]
    assert corpus_bleu(refs, hyps)["BLEU-4"] == pytest.approx(1.0)
    # corpus-level: 4-gram counts pool over sentences (4/4 + 0/0), BLEU-4 = 1 here although
    # the second sentence has no 4-gram at all
    assert corpus_bleu(refs, hyps)["BLEU-3"] == pytest.approx(1.0)


def test_bleu_matches_nltk():
    nltk_bleu = pytest.importorskip("nltk.translate.bleu_score")
    rng = np.random.default_rng(0)
    vocab = _w("a red blue circle square and is to the left of two")
    refs, hyps = [], []
    for _ in range(40):
        refs.append([list(rng.choice(vocab, rng.integers(4, 12))) for _ in range(3)])
        hyps.append(list(rng.choice(vocab, rng.integers(4, 12))))
    ours = corpus_bleu(refs, hyps)
    for n in range(1, 5):
        theirs = nltk_bleu.corpus_bleu(refs, hyps, weights=(1 / n,) * n)
        assert ours[f"BLEU-{n}"] == pytest.approx(theirs, rel=1e-12), n


def test_bleu_bad_input():
    with pytest.raises(ValueError, match="one list of references per hypothesis"):
        corpus_bleu([[["a"]]], [["a"], ["b"]])


def test_ranks_are_pessimistic_on_ties():
    sim = np.array([[0.9, 0.1, 0.5], [0.2, 0.2, 0.2], [0.1, 0.3, 0.2]])
    assert list(retrieval_ranks(sim, np.array([0, 1, 2]))) == [1, 3, 2]


def test_retrieval_metrics_both_directions():
    img = np.eye(3)
    # captions 0, 1 describe image 0; caption 2 image 1; caption 3 image 2 but points at image 1
    txt = np.array([[1.0, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0, 0.8, 0.6]])
    txt /= np.linalg.norm(txt, axis=1, keepdims=True)
    m = retrieval_metrics(img, txt, np.array([0, 0, 1, 2]), ks=(1, 2))
    assert m["text_to_image"]["R@1"] == pytest.approx(3 / 4)
    assert m["text_to_image"]["R@2"] == 1.0
    assert m["text_to_image"]["median_rank"] == 1.0
    # image 2's own caption (3) ranks 1st among captions by similarity to image 2
    assert m["image_to_text"]["R@1"] == 1.0
    assert m["pool"] == 3 and m["queries"] == 4


def test_attribute_accuracy():
    truth = [{("red", "circle")}, {("red", "circle"), ("blue", "square")}]
    assert attribute_accuracy([{("red", "circle")}, {("red", "circle")}], truth) == 0.5
    with pytest.raises(ValueError, match="2 captions but 1 scenes"):
        attribute_accuracy(truth, truth[:1])
