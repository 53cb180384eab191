"""StringLookup, IntegerLookup and TextVectorization (tinymm/keras/text.py) on the examples
of Keras's documentation (Keras 3 runs these layers only with TensorFlow, which is not a
test dependency), plus adapt's ordering, the output modes, config and errors."""

from __future__ import annotations

import numpy as np
import pytest

from tinymm import keras as tk

DATA = np.array([["a", "c", "d"], ["d", "z", "b"]])


def test_string_lookup_documented_examples():
    layer = tk.layers.StringLookup(vocabulary=["a", "b", "c", "d"])
    np.testing.assert_array_equal(layer(DATA).numpy(), [[1, 3, 4], [4, 0, 2]])
    adapted = tk.layers.StringLookup()
    adapted.adapt(DATA)
    assert adapted.get_vocabulary() == ["[UNK]", "d", "z", "c", "b", "a"]
    masked = tk.layers.StringLookup(vocabulary=["a", "b", "c", "d"], mask_token="[MASK]")
    assert masked.get_vocabulary() == ["[MASK]", "[UNK]", "a", "b", "c", "d"]
    np.testing.assert_array_equal(masked(DATA).numpy(), [[2, 4, 5], [5, 1, 3]])
    inverse = tk.layers.StringLookup(vocabulary=["a", "b", "c", "d"], invert=True)
    np.testing.assert_array_equal(inverse(np.array([[1, 3, 4], [4, 0, 2]])),
                                  [["a", "c", "d"], ["d", "[UNK]", "b"]])


def test_lookup_output_modes():
    layer = tk.layers.StringLookup(vocabulary=["a", "b", "c", "d"], output_mode="multi_hot")
    data = np.array([["a", "c", "d", "d"], ["d", "z", "b", "z"]])
    np.testing.assert_array_equal(layer(data).numpy(), [[0, 1, 0, 1, 1], [1, 0, 1, 0, 1]])
    count = tk.layers.StringLookup(vocabulary=["a", "b", "c", "d"], output_mode="count")
    np.testing.assert_array_equal(count(data).numpy(), [[0, 1, 0, 1, 2], [2, 0, 1, 0, 1]])
    one_hot = tk.layers.StringLookup(vocabulary=["a", "b", "c", "d"], output_mode="one_hot")
    np.testing.assert_array_equal(one_hot(np.array(["a", "z"])).numpy(),
                                  [[0, 1, 0, 0, 0], [1, 0, 0, 0, 0]])


def test_integer_lookup_documented_examples():
    data = np.array([[12, 1138, 42], [42, 1000, 36]])
    layer = tk.layers.IntegerLookup(vocabulary=[12, 36, 1138, 42])
    np.testing.assert_array_equal(layer(data).numpy(), [[1, 3, 4], [4, 0, 2]])
    adapted = tk.layers.IntegerLookup()
    adapted.adapt(data)
    assert adapted.get_vocabulary() == [-1, 42, 1138, 1000, 36, 12]
    inverse = tk.layers.IntegerLookup(vocabulary=[12, 36, 1138, 42], invert=True)
    np.testing.assert_array_equal(inverse(np.array([[1, 3, 4], [4, 0, 2]])),
                                  [[12, 1138, 42], [42, -1, 36]])
    capped = tk.layers.IntegerLookup(max_tokens=3)
    capped.adapt(data)
    assert capped.get_vocabulary() == [-1, 42, 1138]


def test_text_vectorization():
    layer = tk.layers.TextVectorization(output_sequence_length=4,
                                        vocabulary=["earth", "wind", "and", "fire"])
    assert layer.get_vocabulary() == ["", "[UNK]", "earth", "wind", "and", "fire"]
    np.testing.assert_array_equal(layer(["earth wind and also fire"]).numpy(), [[2, 3, 4, 1]])
    adapted = tk.layers.TextVectorization(max_tokens=5)
    adapted.adapt(["The cat, the HAT!", "a cat"])
    assert adapted.get_vocabulary() == ["", "[UNK]", "the", "cat", "hat"]
    np.testing.assert_array_equal(adapted(np.array([["the dog"], ["Cat hat cat."]])).numpy(),
                                  [[2, 1, 0], [3, 4, 3]])  # padded to the longest
    hot = tk.layers.TextVectorization(output_mode="count", vocabulary=["x", "y"])
    assert hot.get_vocabulary() == ["[UNK]", "x", "y"]
    np.testing.assert_array_equal(hot(["x x z", "y"]).numpy(), [[1, 2, 0], [0, 0, 1]])
    chars = tk.layers.TextVectorization(split="character", standardize="lower",
                                        vocabulary=["a", "b"])
    np.testing.assert_array_equal(chars(["Abc"]).numpy(), [[2, 3, 1]])


def test_text_layers_config_and_errors():
    layer = tk.layers.StringLookup(vocabulary=["a", "b"], name="look")
    again = tk.layers.StringLookup(**layer.get_config())
    assert again.get_vocabulary() == layer.get_vocabulary()
    tv = tk.layers.TextVectorization(output_sequence_length=3, vocabulary=["a"])
    assert tk.layers.TextVectorization(**tv.get_config()).get_vocabulary() == \
        tv.get_vocabulary()
    with pytest.raises(ValueError, match="StringLookup 'look'.*no vocabulary"):
        tk.layers.StringLookup(name="look")(["a"])
    ids = layer(tk.Input(shape=(2,), dtype="string"))  # a node of a model's graph
    assert ids.shape == (None, 2) and ids.dtype == np.int64
    with pytest.raises(ValueError, match="not in the vocabulary and num_oov_indices=0"):
        tk.layers.StringLookup(vocabulary=["a"], num_oov_indices=0)(["b"])
    with pytest.raises(ValueError, match="TextVectorization: ngrams"):
        tk.layers.TextVectorization(ngrams=2)
