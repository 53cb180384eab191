"""Fuzz the Keras layers of tinymm.keras, in the harness style of tests/test_fuzz.py.

Hypothesis draws a layer's arguments (valid ones and now and then a bad one: zero or negative
sizes, a rate of 1, a pool larger than the input, a permutation that is not one), its input
shapes (zero-size batches and sides, the wrong rank, merge inputs that do not line up), input
dtypes (float32; sometimes float64, int, bool or float16) and values (NaN, Inf and huge ones
planted), and calls the layer either eagerly on the arrays or through a functional
``Model(Input, layer(Input))`` and ``predict``. Every draw must end in one of:

* a result: the same on the reference and the numba backend (where the reference is NaN/Inf
  the numba result must be non-finite too) and, when Keras 3 (PyTorch backend) is installed
  and the inputs are finite float32, the same as Keras's layer holding the same weights
  (copied with ``set_weights`` in Keras's layouts);
* a ``ValueError`` or ``TypeError`` whose message names the layer (its class or its name).

Anything else (another exception, an error that does not say which layer, a wrong value)
fails the draw. A draw Keras refuses but tinymm computes is allowed (tinymm is sometimes more
lenient, e.g. about an int input to Dense) and counted as "keras refuses".

CI runs a few examples per layer; ``TINYMM_FUZZ_EXAMPLES=N`` runs N per layer (and, with
``-s``, the last test prints how many distinct cases ran).
"""

from __future__ import annotations

import os
import warnings
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinymm
from tinymm import keras as tk
from tinymm.keras.engine import snake_case

EXAMPLES = int(os.environ.get("TINYMM_FUZZ_EXAMPLES", "6"))
BACKENDS = [b for b in ("reference", "numba") if tinymm.backends()[b] is None]
TRIED: Counter = Counter()  # (layer, outcome) -> draws
DISTINCT: set = set()  # repr of each case
ERRORS: Counter = Counter()  # the start of each error message, for the report
ODD = ("float64", "int64", "bool", "float16")


def _keras():
    if os.environ.get("TINYMM_FUZZ_NO_KERAS"):
        return None
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except ImportError:
        return None
    return keras if keras.backend.backend() == "torch" else None


KERAS = _keras()


# ------------------------------------------------------------------ drawing inputs
@st.composite
def arrays(draw, shape, dtype=None):
    """Seeded normal values of ``shape``, maybe NaN/Inf/huge ones, in a drawn dtype."""
    if dtype is None:
        dtype = draw(st.sampled_from(ODD)) if draw(st.floats(0, 1)) < 0.12 else "float32"
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    a = rng.standard_normal(shape)
    if a.size and draw(st.floats(0, 1)) < 0.12:
        a.reshape(-1)[draw(st.integers(0, a.size - 1))] = draw(
            st.sampled_from([np.nan, np.inf, -np.inf, 1e30]))
    with np.errstate(invalid="ignore", over="ignore"):
        if dtype == "bool":
            return a > 0
        if dtype == "int64":
            return np.nan_to_num(a * 3, posinf=0, neginf=0).astype(np.int64)
        return a.astype(dtype)


def sides(n, lo=0, hi=4):
    return st.lists(st.integers(lo, hi), min_size=n, max_size=n).map(tuple)


def rank_slip(data, shape):
    """Mostly ``shape``; now and then one dim fewer or one more (a wrong-rank input)."""
    roll = data.draw(st.floats(0, 1))
    if roll < 0.08 and len(shape) > 1:
        return shape[:-1]
    if roll < 0.16:
        return shape + (2,)
    return shape


# ------------------------------------------------------------------ running a draw
def _names(layer_cls: str, layer, mode: str) -> tuple:
    """What an error may name: the layer's class or name (or, building a Model, the Input)."""
    names = (layer_cls, snake_case(layer_cls), getattr(layer, "name", None))
    return tuple(n for n in names + (("Input",) if mode == "model" else ()) if n)


def _build_and_call(mod, cls: str, kwargs: dict, xs: list, mode: str, weights=None,
                    built=None):
    """The layer of ``mod`` (tinymm.keras or keras) applied to ``xs``: (layer, output); the
    layer is also appended to ``built`` as soon as it exists."""
    layer = getattr(mod.layers, cls)(**kwargs)
    if built is not None:
        built.append(layer)
    multi = len(xs) > 1 or cls in MULTI

    def apply(args):  # MultiHeadAttention takes (query, value) as two positional tensors
        return layer(*args) if cls == "MultiHeadAttention" else layer(args if multi else args[0])

    if mode == "model":
        inputs = [mod.Input(shape=x.shape[1:], dtype=str(x.dtype)) for x in xs]
        out = apply(inputs)
        model = mod.Model(inputs if multi else inputs[0], out)
        if weights is not None:
            layer.set_weights(weights)
        if mod is tk:
            return layer, model.predict(xs if multi else xs[0])
        return layer, model.predict(xs if multi else xs[0], verbose=0)
    if weights is not None:
        apply(xs)  # build, then take the other library's weights
        layer.set_weights(weights)
    return layer, apply(xs)


def _numpy(out):
    if isinstance(out, (list, tuple)):
        return [_numpy(o) for o in out]
    if hasattr(out, "detach"):
        return out.detach().cpu().numpy()
    return np.asarray(getattr(out, "array", out))


def _ours(cls, kwargs, xs, mode, weights):
    built = []
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            layer, out = _build_and_call(tk, cls, kwargs, xs, mode, weights, built)
        return "ok", layer, _numpy(out)
    except (ValueError, TypeError) as err:
        return "error", (built or [None])[0], err


def _theirs(cls, kwargs, xs, mode):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            layer, out = _build_and_call(KERAS, cls, kwargs, xs, mode)
        return layer.get_weights(), _numpy(out)
    except Exception:  # noqa: BLE001 - any refusal by Keras is recorded, not judged
        return None, None


def _close(a, b, what, tol):
    a, b = [np.asarray(v) for v in (a, b)]
    assert a.shape == b.shape, f"{what}: shape {a.shape} vs {b.shape}"
    if a.dtype.kind not in "fc" or b.dtype.kind not in "fc":
        np.testing.assert_array_equal(a, b, err_msg=what)
        return
    bad = ~np.isfinite(b)
    assert np.array_equal(~np.isfinite(a), bad), f"{what}: non-finite in different places"
    scale = max(float(np.max(np.abs(b[~bad]), initial=0.0)), 1.0)
    err = float(np.max(np.abs(a[~bad].astype(np.float64) - b[~bad]), initial=0.0)) / scale
    assert err <= tol, f"{what}: normwise error {err:.3g} > {tol}"


def _pairs(a, b):
    a = a if isinstance(a, list) else [a]
    b = b if isinstance(b, list) else [b]
    assert len(a) == len(b), f"{len(a)} outputs vs {len(b)}"
    return zip(a, b)


def check(cls: str, kwargs: dict, xs: list, mode: str, seed: int):
    """The fuzz contract for one draw (see the module docstring)."""
    DISTINCT.add(repr((cls, sorted(kwargs.items()), [(x.shape, str(x.dtype)) for x in xs],
                       mode, seed)))
    finite = all(x.dtype == np.float32 and np.all(np.isfinite(x)) for x in xs)
    keras_weights = keras_out = None
    if KERAS is not None and finite and all(x.shape[0] > 0 for x in xs):
        KERAS.utils.set_random_seed(seed)
        keras_weights, keras_out = _theirs(cls, kwargs, xs, mode)
    results = {}
    for backend in BACKENDS:
        with tinymm.use_backend(backend):
            tk.utils.set_random_seed(seed)
            results[backend] = _ours(cls, kwargs, xs, mode, keras_weights)
    status, layer, ref = results["reference"]
    for backend, (got_status, _, got) in results.items():
        assert got_status == status, f"{cls}: {backend} {got_status} ({got}) but the " \
                                     f"reference {status} ({ref})"
    if status == "error":
        names = _names(cls, layer, mode)
        assert any(n in str(ref) for n in names), (
            f"{cls}: {type(ref).__name__} does not name the layer ({'/'.join(names)}): {ref}")
        TRIED[cls, "error"] += 1
        ERRORS[type(ref).__name__ + ": " + str(ref).split(": ", 1)[-1][:50]] += 1
        return
    for backend, (_, _, got) in results.items():
        for a, b in _pairs(got, ref):
            _close(a, b, f"{cls} {backend} vs reference", 2e-3 if b.dtype != np.float64
                   else 1e-9)
    if keras_out is not None:
        for a, b in _pairs(ref, keras_out):
            _close(a, b, f"{cls} vs Keras 3", 1e-4)
        TRIED[cls, "matches keras"] += 1
    else:
        TRIED[cls, "keras refuses" if finite and KERAS is not None else "ok"] += 1


def fuzz(fn):
    return settings(max_examples=EXAMPLES, deadline=None)(fn)


def common(data):
    return data.draw(st.sampled_from(["eager", "model"])), data.draw(st.integers(0, 50))


# ------------------------------------------------------------------ the layers
MULTI = {"Add", "Multiply", "Subtract", "Average", "Maximum", "Minimum", "Concatenate",
         "Attention", "MultiHeadAttention"}


@fuzz
@given(data=st.data())
def test_dense(data):
    shape = rank_slip(data, (data.draw(st.integers(0, 3)),) + data.draw(sides(
        data.draw(st.integers(0, 2)), 1, 3)) + (data.draw(st.integers(1, 4)),))
    kwargs = {"units": data.draw(st.sampled_from([1, 3, 3, 0, -1])),
              "activation": data.draw(st.sampled_from([None, "relu", "tanh", "softmax",
                                                       "sigmoid", "nope"])),
              "use_bias": data.draw(st.booleans())}
    check("Dense", kwargs, [data.draw(arrays(shape))], *common(data))


@pytest.mark.parametrize("cls", ["Conv2D", "Conv1D"])
@fuzz
@given(data=st.data())
def test_conv(cls, data):
    spatial = 2 if cls == "Conv2D" else 1
    shape = rank_slip(data, (data.draw(st.integers(0, 2)),) + data.draw(
        sides(spatial, 0, 6)) + (data.draw(st.integers(1, 3)),))
    pads = ["valid", "same"] + (["causal"] if spatial == 1 else []) + ["full"]
    kwargs = {"filters": data.draw(st.sampled_from([1, 2, 0])),
              "kernel_size": data.draw(st.integers(1, 3)),
              "strides": data.draw(st.sampled_from([1, 1, 2, 0])),
              "padding": data.draw(st.sampled_from(pads)),
              "use_bias": data.draw(st.booleans())}
    if kwargs["strides"] == 1:
        kwargs["dilation_rate"] = data.draw(st.integers(1, 2))
    check(cls, kwargs, [data.draw(arrays(shape))], *common(data))


POOLS = ["MaxPooling2D", "AveragePooling2D", "MaxPooling1D", "AveragePooling1D",
         "GlobalAveragePooling2D", "GlobalMaxPooling2D", "GlobalAveragePooling1D",
         "GlobalMaxPooling1D"]


@pytest.mark.parametrize("cls", POOLS)
@fuzz
@given(data=st.data())
def test_pooling(cls, data):
    spatial = 2 if cls.endswith("2D") else 1
    shape = rank_slip(data, (data.draw(st.integers(0, 2)),) + data.draw(
        sides(spatial, 0, 6)) + (data.draw(st.integers(1, 3)),))
    kwargs = {}
    if not cls.startswith("Global"):
        kwargs = {"pool_size": data.draw(st.integers(0, 3)),
                  "strides": data.draw(st.sampled_from([None, 1, 2])),
                  "padding": data.draw(st.sampled_from(["valid", "same", "valid"]))}
    check(cls, kwargs, [data.draw(arrays(shape))], *common(data))


@fuzz
@given(data=st.data())
def test_embedding(data):
    vocab = data.draw(st.integers(1, 6))
    shape = rank_slip(data, (data.draw(st.integers(0, 3)), data.draw(st.integers(1, 4))))
    rng = np.random.default_rng(data.draw(st.integers(0, 100)))
    ids = rng.integers(-1 if data.draw(st.floats(0, 1)) < 0.15 else 0,
                       vocab + (1 if data.draw(st.floats(0, 1)) < 0.15 else 0), size=shape)
    if data.draw(st.floats(0, 1)) < 0.15:
        ids = ids.astype(data.draw(st.sampled_from(["float32", "int32", "bool"])))
    kwargs = {"input_dim": vocab, "output_dim": data.draw(st.sampled_from([1, 3, 0])),
              "mask_zero": data.draw(st.booleans())}
    check("Embedding", kwargs, [ids], *common(data))


@pytest.mark.parametrize("cls", ["LSTM", "GRU", "SimpleRNN"])
@fuzz
@given(data=st.data())
def test_recurrent(cls, data):
    shape = rank_slip(data, (data.draw(st.integers(0, 2)), data.draw(st.integers(1, 4)),
                             data.draw(st.integers(1, 3))))
    kwargs = {"units": data.draw(st.sampled_from([1, 2, 3, 0])),
              "return_sequences": data.draw(st.booleans()),
              "return_state": data.draw(st.booleans())}
    check(cls, kwargs, [data.draw(arrays(shape))], *common(data))


@pytest.mark.parametrize("cls", ["Dropout", "BatchNormalization", "LayerNormalization",
                                 "Softmax", "ReLU", "LeakyReLU", "Rescaling", "Activation"])
@fuzz
@given(data=st.data())
def test_elementwise_layers(cls, data):
    rank = data.draw(st.integers(1, 4))
    shape = (data.draw(st.integers(0, 3)),) + data.draw(sides(rank - 1, 0, 3))
    kwargs = {
        "Dropout": lambda: {"rate": data.draw(st.sampled_from([0.0, 0.5, 1.0, -0.1]))},
        "BatchNormalization": lambda: {"momentum": data.draw(st.sampled_from([0.99, 0.5])),
                                       "epsilon": data.draw(st.sampled_from([1e-3, 0.5]))},
        "LayerNormalization": lambda: {"epsilon": data.draw(st.sampled_from([1e-3, 0.5]))},
        "Softmax": lambda: {"axis": data.draw(st.integers(-rank - 1, rank))},
        "ReLU": lambda: {"max_value": data.draw(st.sampled_from([None, 1.0])),
                         "negative_slope": data.draw(st.sampled_from([0.0, 0.1]))},
        "LeakyReLU": lambda: {"negative_slope": data.draw(st.sampled_from([0.3, 0.0, 2.0]))},
        "Rescaling": lambda: {"scale": data.draw(st.sampled_from([0.5, -2.0])),
                              "offset": data.draw(st.sampled_from([0.0, 1.0]))},
        "Activation": lambda: {"activation": data.draw(st.sampled_from(
            ["relu", "tanh", "sigmoid", "softmax", "linear", "gelu", "bogus"]))},
    }[cls]()
    check(cls, kwargs, [data.draw(arrays(shape))], *common(data))


@pytest.mark.parametrize("cls", ["Flatten", "Reshape", "Permute", "RepeatVector"])
@fuzz
@given(data=st.data())
def test_shape_layers(cls, data):
    rank = data.draw(st.integers(1, 4))
    shape = (data.draw(st.integers(0, 3)),) + data.draw(sides(rank - 1, 1, 3))
    rest = int(np.prod(shape[1:]))
    if cls == "Reshape":
        target = data.draw(st.sampled_from([(rest,), (-1, 1), (rest + 1,), (1, -1, 1)]))
        kwargs = {"target_shape": target}
    elif cls == "Permute":
        dims = list(data.draw(st.permutations(range(1, rank))))
        if dims and data.draw(st.floats(0, 1)) < 0.2:
            dims[0] = rank  # not a permutation of 1..rank-1
        kwargs = {"dims": tuple(dims)}
    elif cls == "RepeatVector":
        kwargs = {"n": data.draw(st.sampled_from([1, 3, 0]))}
    else:
        kwargs = {}
    check(cls, kwargs, [data.draw(arrays(shape))], *common(data))


@pytest.mark.parametrize("cls", ["Add", "Multiply", "Subtract", "Average", "Maximum",
                                 "Minimum", "Concatenate"])
@fuzz
@given(data=st.data())
def test_merges(cls, data):
    shape = (data.draw(st.integers(0, 3)),) + data.draw(sides(data.draw(st.integers(1, 2)),
                                                              1, 3))
    count = 2 if cls == "Subtract" else data.draw(st.integers(2, 3))
    shapes = [shape] * count
    if data.draw(st.floats(0, 1)) < 0.2:  # one input that does not line up
        shapes[-1] = shape[:-1] + (shape[-1] + 1,)
    kwargs = {"axis": data.draw(st.integers(-len(shape), len(shape) - 1))} \
        if cls == "Concatenate" else {}
    check(cls, kwargs, [data.draw(arrays(s, "float32")) for s in shapes], *common(data))


@fuzz
@given(data=st.data())
def test_attention(data):
    N, Tq, Tv, D = (data.draw(st.integers(0, 2)), data.draw(st.integers(1, 3)),
                    data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    q = data.draw(arrays((N, Tq, D), "float32"))
    v = data.draw(arrays((N, Tv, D + (1 if data.draw(st.floats(0, 1)) < 0.15 else 0)),
                         "float32"))
    xs = [q, v] + ([data.draw(arrays(v.shape, "float32"))] if data.draw(st.booleans()) else [])
    check("Attention", {"use_scale": data.draw(st.booleans())}, xs, *common(data))


@fuzz
@given(data=st.data())
def test_multi_head_attention(data):
    N, T, S, E = (data.draw(st.integers(0, 2)), data.draw(st.integers(1, 3)),
                  data.draw(st.integers(1, 3)), data.draw(st.integers(1, 4)))
    kwargs = {"num_heads": data.draw(st.sampled_from([1, 2, 0])),
              "key_dim": data.draw(st.sampled_from([1, 2, 3]))}
    q = data.draw(arrays((N, T, E), "float32"))
    v = data.draw(arrays((N, S, E if data.draw(st.floats(0, 1)) < 0.85 else E + 1),
                         "float32"))
    check("MultiHeadAttention", kwargs, [q, v], *common(data))


def test_report_cases_tried():
    """Prints how many distinct cases ran, per outcome (run with -s to see it)."""
    kinds = Counter()
    for (_, kind), count in TRIED.items():
        kinds[kind] += count
    print(f"\nkeras fuzz: {len(DISTINCT)} distinct cases over "
          f"{len({layer for layer, _ in TRIED})} layers (Keras 3 "
          f"{'installed' if KERAS else 'absent'}): "
          + ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items())))
    for message, count in ERRORS.most_common(8):
        print(f"  {count:4d} x {message}")
