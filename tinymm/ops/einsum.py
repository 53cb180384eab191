"""``einsum``: a sum of products over labelled axes, and its backward, which is an einsum too.

Forward. Operand k has subscripts s_k (one letter per axis), the output has subscripts o, and
every letter not in o is summed over::

    out[o] = sum over the letters not in o of  prod_k A_k[s_k]

Backward. out is linear in each operand, so for operand k the chain rule gives::

    dA_k[s_k] = sum over the letters not in s_k of  grad[o] * prod_{j != k} A_j[s_j]

which is the same contraction with the output and operand k swapped:
``einsum("o,s_1,..(without s_k)..->s_k", grad, A_1, ..)``. Two cases need care:

- a letter of s_k that appears in no other operand and not in o was summed over A_k alone,
  so every element along it received the same gradient: compute the einsum without that
  letter and broadcast along it (size from A_k's shape);
- a letter that broadcasts (A_k has size 1 where another operand has n) receives the sum of
  the gradient over the n copies (``sum_to_shape``).

A letter repeated inside one operand (a diagonal, "ii->i") is accepted forward but refused
for operands that need a gradient: the backward would have to write a diagonal.
``...`` is expanded to explicit letters first, so the rules above cover it.
"""

from __future__ import annotations

import string

import numpy as np

from tinymm.autograd import ArrayFunction
from tinymm.kernels._shapes import sum_to_shape


def parse(equation: str, shapes: list[tuple[int, ...]]) -> tuple[list[str], str]:
    """Explicit subscripts for every operand and the output (``...`` and an implicit
    output expanded as NumPy does: the output of "ij,jk" is the once-used letters, sorted)."""
    equation = equation.replace(" ", "")
    lhs, arrow, out = equation.partition("->")
    inputs = lhs.split(",")
    if len(inputs) != len(shapes):
        raise ValueError(f"einsum: the equation {equation!r} names {len(inputs)} operands, got "
                         f"{len(shapes)}")
    used = set(equation) - set(".,->")
    spare = [c for c in string.ascii_letters if c not in used]
    widest = 0
    for sub, shape in zip(inputs, shapes):
        named = len(sub.replace("...", ""))
        if ("..." not in sub and named != len(shape)) or named > len(shape):
            raise ValueError(f"einsum: subscripts {sub!r} do not fit an operand of shape "
                             f"{shape}")
        widest = max(widest, len(shape) - named if "..." in sub else 0)
    ell = "".join(spare[:widest])
    explicit = []
    for sub, shape in zip(inputs, shapes):
        if "..." in sub:
            width = len(shape) - len(sub.replace("...", ""))
            sub = sub.replace("...", ell[widest - width:])
        explicit.append(sub)
    if not arrow:
        counts = {c: "".join(explicit).count(c) for c in set("".join(explicit))}
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    else:
        out = out.replace("...", ell)
    return explicit, out


class Einsum(ArrayFunction):
    @staticmethod
    def forward(ctx, *operands, equation):
        subs, out = parse(equation, [a.shape for a in operands])
        ctx.save_for_backward(operands, subs, out)
        return np.asarray(np.einsum(",".join(subs) + "->" + out, *operands, optimize=True))

    @staticmethod
    def backward(ctx, grad):
        operands, subs, out = ctx.saved
        grads = []
        for k, (a, sub) in enumerate(zip(operands, subs)):
            if not ctx.needs_input_grad[k]:
                grads.append(None)
                continue
            others = [s for j, s in enumerate(subs) if j != k] + [out]
            present = "".join(c for c in sub if any(c in s for s in others))
            arrays = [x for j, x in enumerate(operands) if j != k] + [grad]
            partial = np.einsum(",".join(others) + "->" + present, *arrays, optimize=True)
            # reinsert the letters only A_k had, then broadcast/sum to A_k's shape
            missing = [i for i, c in enumerate(sub) if c not in present]
            full = np.expand_dims(partial, missing) if missing else partial
            full = sum_to_shape(full, tuple(1 if i in missing else n for i, n in
                                            enumerate(a.shape)))
            grads.append(np.broadcast_to(full, a.shape).astype(grad.dtype))
        return tuple(grads)


def einsum(equation: str, *operands):
    """``torch.einsum(equation, *operands)`` (operands also as one list)."""
    from tinymm.tensor import as_tensor

    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    tensors = [as_tensor(x) for x in operands]
    subs, _ = parse(equation, [t.shape for t in tensors])
    for t, sub in zip(tensors, subs):
        if t.requires_grad and len(set(sub)) != len(sub):
            raise ValueError(f"einsum: subscripts {sub!r} repeat a letter (a diagonal); its "
                             "gradient is not supported; take the diagonal with indexing "
                             "first (x[arange(n), arange(n)])")
    return Einsum.apply(*tensors, equation=equation)
