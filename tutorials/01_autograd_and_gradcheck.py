# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 01 · Reverse-mode automatic differentiation, and how to check it
#
# Training a network means computing the gradient of one number, the loss, with respect to
# every parameter. Reverse-mode automatic differentiation ("backprop") does that in one sweep
# backwards through the computation, at a cost of a small multiple of the forward pass.
# This tutorial builds it three times, each a little closer to what tinymm does:
#
# 1. a scalar engine in a few dozen lines, to see the whole idea at once;
# 2. tinymm's `ArrayFunction` classes over arrays, and why an engine for real networks works on
#    arrays instead of scalars;
# 3. the checks: finite differences, relative error, float64, and the traps (0/0, kinks).
#
# Run it as a script (`python tutorials/01_autograd_and_gradcheck.py`) or open it as a
# notebook with jupytext.

# %%
import math
import warnings

import numpy as np

import tinymm
from tinymm import ArrayFunction
from tinymm.exercises import check
from tinymm.exercises.literate import run_as_lesson
from tinymm.gradcheck import verdict

if run_as_lesson(globals()):  # run as a script: print the prose, run the cells, stop here
    raise SystemExit(0)

# %% [markdown]
# ## 1. A scalar engine
#
# Every value remembers the values it was computed from (`parents`) and how to push a
# gradient back to them (`_backward`). The chain rule says: if `y = f(a, b)` and we know
# `dL/dy`, then `dL/da += dL/dy * df/da`. The `+=` matters: a value used twice receives a
# contribution from each use (the multivariate chain rule sums over paths).

# %%
class Value:
    def __init__(self, data, parents=()):
        self.array = data
        self.grad = 0.0
        self.parents = parents
        self._backward = lambda: None

    def __add__(self, other):
        out = Value(self.array + other.array, (self, other))

        def _backward():  # d(a+b)/da = 1, d(a+b)/db = 1
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other):
        out = Value(self.array * other.array, (self, other))

        def _backward():  # d(ab)/da = b, d(ab)/db = a
            self.grad += other.array * out.grad
            other.grad += self.array * out.grad

        out._backward = _backward
        return out

    def tanh(self):
        t = math.tanh(self.array)
        out = Value(t, (self,))

        def _backward():  # d tanh(a)/da = 1 - tanh(a)^2
            self.grad += (1 - t * t) * out.grad

        out._backward = _backward
        return out

    def backward(self):
        # Visit every node after all nodes that use it: a reversed post-order depth-first
        # search. Iterative, so a long chain cannot hit Python's recursion limit.
        order, seen, stack = [], set(), [(self, False)]
        while stack:
            node, children_done = stack.pop()
            if children_done:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((p, False) for p in node.parents)
        self.grad = 1.0  # dL/dL
        for node in reversed(order):
            node._backward()


# %% [markdown]
# A neuron: `y = tanh(w*x + b)`, with `x` used twice to show accumulation.

# %%
x, w, b = Value(0.5), Value(-1.5), Value(0.3)
y = (w * x + b).tanh() * x
y.backward()
print(f"y = {y.array:.6f}, dy/dx = {x.grad:.6f}, dy/dw = {w.grad:.6f}, dy/db = {b.grad:.6f}")

# By hand: y = tanh(wx + b) * x, so dy/dx = (1 - t^2) * w * x + t with t = tanh(wx + b).
t = math.tanh(-1.5 * 0.5 + 0.3)
assert abs(x.grad - ((1 - t * t) * -1.5 * 0.5 + t)) < 1e-12
assert abs(w.grad - (1 - t * t) * 0.5 * 0.5) < 1e-12

# %% [markdown]
# ## 2. Functions over arrays
#
# A scalar engine creates one Python object per number: a 32 x 4096 by 4096 x 128 matrix
# product would be 16 million nodes. tinymm's nodes are whole operations on arrays. Each op is
# an `ArrayFunction` with a `forward` (arrays in, array out, saving what backward needs) and a
# `backward` (the upstream gradient in, one gradient per input out). `ArrayFunction.apply` does
# the bookkeeping our scalar engine did by hand: it records the node and its inputs when any
# input requires a gradient.
#
# Here is a new op written the tinymm way: `y = x * sigmoid(x)` (SiLU), whose derivative is
# `s + x s (1 - s)` with `s = sigmoid(x)`.

# %%
class SiLU(ArrayFunction):
    @staticmethod
    def forward(ctx, x):
        s = 1 / (1 + np.exp(-x))
        ctx.save_for_backward(x, s)
        return x * s

    @staticmethod
    def backward(ctx, grad):
        x, s = ctx.saved
        return (grad * (s + x * s * (1 - s)),)


x = tinymm.tensor(np.linspace(-3, 3, 7), requires_grad=True)
y = SiLU.apply(x)
y.sum().backward()
print("x       ", np.round(x.array, 3))
print("dy/dx   ", np.round(x.grad, 4))

# %% [markdown]
# The graph tinymm recorded: `y._node` is the `Context` of the SiLU call. Its `inputs` are the
# tensors the op consumed; the backward walk in `tinymm/autograd.py` is the same reversed
# post-order as above, over these contexts instead of scalars. When a tensor feeds two ops,
# both gradients are added into it:

# %%
a = tinymm.tensor(np.array([1.0, 2.0]), requires_grad=True)
loss = (a * a).sum() + (a * 3.0).sum()  # a is used by two multiplications
loss.backward()
print("d/da (a^2 + 3a) =", a.grad, "(expected 2a + 3 =", 2 * a.array + 3, ")")
assert np.allclose(a.grad, 2 * a.array + 3)

# %% [markdown]
# ## 3. Checking gradients
#
# A backward is hand-written, so it can be wrong in ways that still train (badly). The check
# is the definition of the derivative. For the scalar `L = sum(f(x) * v)` with a random `v`:
#
#     dL/dx[i] ≈ (L(x + eps e_i) - L(x - eps e_i)) / (2 eps)        error O(eps²)
#
# Why a random `v` and not `f(x).sum()`: with all-ones upstream gradients, a backward that
# reads the gradient of the wrong output element can still sum to the right answer.
#
# Compare with the relative error `|a - n| / max(|a|, |n|)`: about 1e-9 or less means right,
# 1e-2 or more means a bug.

# %%
def numeric_gradient(f, x, v, eps):
    grad = np.zeros_like(x)
    for i in range(x.size):
        xp, xm = x.copy(), x.copy()
        xp.flat[i] += eps
        xm.flat[i] -= eps
        grad.flat[i] = (np.sum(f(xp) * v) - np.sum(f(xm) * v)) / (2 * eps)
    return grad


def silu(x):
    return x / (1 + np.exp(-x))


rng = np.random.default_rng(0)
x64 = rng.standard_normal(5)
v = rng.standard_normal(5)
t = tinymm.tensor(x64, requires_grad=True)
SiLU.apply(t).backward(v)
numeric = numeric_gradient(silu, x64, v, eps=1e-6)
rel = np.abs(t.grad - numeric) / np.maximum(np.abs(t.grad), np.abs(numeric))
print("max relative error (float64, eps=1e-6):", rel.max())
assert rel.max() < 1e-7

# %% [markdown]
# ### Why float64
#
# In float32, `L` itself carries a rounding error of about 1e-7 relative. Dividing that by
# `2 eps` amplifies it: small `eps` drowns in rounding, large `eps` in truncation error. In
# float64 rounding is 1e-16 and there is a wide range of good `eps`.

# %%
for dtype in (np.float32, np.float64):
    xs = x64.astype(dtype)
    for eps in (1e-2, 1e-4, 1e-6):
        n = numeric_gradient(silu, xs, v.astype(dtype), dtype(eps))
        err = np.max(np.abs(n - t.grad) / np.abs(t.grad))
        print(f"{np.dtype(dtype).name:>7}  eps={eps:.0e}  max relative error {err:.1e}")

# %% [markdown]
# ### The 0/0 case and kinks
#
# Where both gradients are exactly zero (ReLU of a negative input) the relative error is
# 0/0: `tinymm.gradcheck` treats such elements as passing, judged by an absolute tolerance.
# At a kink (ReLU at exactly 0) the function has no derivative: the central difference
# averages the two one-sided slopes (0.5) while the backward picks one (PyTorch's choice is
# 0). That is not a bug in either: section "One tolerance story" shows gradcheck telling
# such an element apart from a wrong backward.

# %%
at_kink = tinymm.tensor(np.array([0.0]), requires_grad=True)
tinymm.F.relu(at_kink).backward(np.array([1.0]))
print("ReLU'(0): backward says", at_kink.grad.array[0], "central difference says",
      numeric_gradient(lambda z: np.maximum(z, 0), np.array([0.0]), np.array([1.0]), 1e-6)[0])

# %% [markdown]
# ### One tolerance story
#
# What a float64 relative error (eps = 1e-6) means, the same words `tinymm.gradcheck` uses:
#
# * **about 1e-9 or less**: right, agreement to rounding;
# * **up to 1e-6**: right, within the truncation error of the central difference;
# * **1e-6 to 1e-4**: suspicious: a right backward does better unless the function is nearly
#   flat there or has a kink;
# * **1e-4 to 1e-2**: wrong, a small but real error (a stray or missing term);
# * **1e-2 or more**: a bug (a wrong formula, factor, sign or index).
#
# `tinymm.gradcheck` fails an element above `atol + rtol * |numeric|` with rtol 1e-5 by
# default (so a backward off by 0.05% fails), and rtol 1e-6 with `strict=True`, what the
# exercises use for a backward you wrote by hand.

# %%
for err in (3e-10, 4e-7, 2e-5, 7.6e-4, 0.3):
    print(f"relative error {err:7.1e}: {verdict(err)}")

# %% [markdown]
# And the kink from above: gradcheck recognises it. At x = 0 the two one-sided slopes (0 and
# 1) differ by an amount that does not shrink with eps, and the backward's 0 lies between
# them (a valid subgradient), so the element is reported as a kink, not as your error:

# %%
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    assert tinymm.gradcheck(tinymm.F.relu, [np.array([0.0, 1.5, -2.0])], strict=True)
print([str(w.message) for w in caught if issubclass(w.category, tinymm.GradcheckKinkWarning)])

# %% [markdown]
# `tinymm.gradcheck(fn, inputs)` does all of this: float64, central differences, a random
# upstream gradient, 0/0 handled, kinks recognised, and on failure an error naming the input,
# the worst element, both values, the verdict and a map of the wrong elements.
# `tinymm.gradcheck_report` gives the maximum relative error per input, for watching a fix
# work.

# %%
print(tinymm.gradcheck_report(lambda a, w, b: tinymm.F.linear(a, w, b).tanh(),
                              [rng.standard_normal((4, 3)), rng.standard_normal((2, 3)),
                               rng.standard_normal(2)]))

# %% [markdown]
# ## Exercise 01-softplus: the backward of `softplus(x) = log(1 + exp(x))`
#
# Open `tutorials/exercises/01-softplus.py` and write `softplus_backward(x, grad)`: the
# upstream gradient times d softplus / dx. Check it from the command line with
# `tinymm exercises check 01-softplus` (hints: `tinymm exercises hint 01-softplus --level 1`),
# or run this cell again. The checker is the same in both places.

# %%
print(check("01-softplus").message)

# %% [markdown]
# What a wrong answer looks like. This one has a stray term worth 0.1% of the derivative:
# its largest relative error is below 1e-3, which a loose tolerance would call right. The
# checker compares at 1e-6 and says which band the error falls in:

# %%
def stray_term(x, grad):
    s = 1 / (1 + np.exp(-x))
    return grad * (s + 1e-3 * s * (1 - s))  # the stray term


result = check("01-softplus", fn=stray_term)
print(result.message)
assert not result.ok and "small but real error" in result.message

# %% [markdown]
# And a classic: forgetting the chain rule's factor `grad`. The checker recognises the
# mistake and says what to do:

# %%
result = check("01-softplus", fn=lambda x, grad: 1 / (1 + np.exp(-x)))
print(result.message)
assert not result.ok and "multiply by the upstream gradient" in result.message

# %% [markdown]
# Next: `02_dense_mlp_softmax.py`, the dense layer, softmax and cross-entropy, trained.
