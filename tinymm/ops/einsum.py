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

On cuda tensors einsum is lowered to Tensor ops, as PyTorch lowers it (``lowered``), and
autograd differentiates the composite, so the backward needs no rule of its own there:

1. diagonals: a repeated letter's two axes are moved last, flattened (n * n) and the
   elements 0, n + 1, 2 (n + 1), .. kept (index_select);
2. a letter that appears in one operand only and not in the output is summed out;
3. the operands are contracted left to right; for A (letters a) and B (letters b), keeping
   the letters the output or a later operand needs: batch = kept letters of both,
   summed = the other letters of both, left = a's own, right = b's own; A is permuted to
   (batch, left, summed) and B to (batch, summed, right), size-1 letters expanded to the
   other operand's size, reshaped to (Bt, L, S) and (Bt, S, R) and multiplied by the
   batched GEMM: (Bt, L, R), reshaped back to the letters batch + left + right;
4. the result is permuted to the output's letter order.
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


def _letter_sizes(subs: list[str], out: str, tensors) -> dict[str, int]:
    """Each letter's size over every operand (1 broadcasts against n; anything else
    differing is a ValueError), checking that every output letter comes from an operand."""
    sizes: dict[str, int] = {}
    for k, (sub, t) in enumerate(zip(subs, tensors)):
        for c, n in zip(sub, t.shape):
            seen = sizes.get(c, 1)
            if n != seen and 1 not in (n, seen):
                raise ValueError(f"einsum: letter {c!r} has size {n} in operand {k} but size "
                                 f"{seen} in an earlier place; sizes must match or be 1")
            sizes[c] = max(seen, n) if 0 not in (n, seen) else 0
    for c in out:
        if c not in sizes or out.count(c) > 1:
            raise ValueError(f"einsum: output letter {c!r} must appear once in the output and "
                             "in some operand")
    return sizes


def _diagonals(t, sub: str):
    """(t, sub) with every repeated letter's diagonal taken (step 1), so letters are unique."""
    from tinymm.factories import arange

    while len(set(sub)) != len(sub):
        c = next(c for c in sub if sub.count(c) > 1)
        p, q = sub.index(c), sub.index(c, sub.index(c) + 1)
        n = t.shape[p]
        if t.shape[q] != n:
            raise ValueError(f"einsum: repeated letter {c!r} has sizes {n} and {t.shape[q]} "
                             "in one operand; a diagonal needs equal sizes")
        rest = [d for d in range(t.ndim) if d not in (p, q)]
        lead = [t.shape[d] for d in rest]
        flat = t.permute(*rest, p, q).reshape(*lead, n * n)  # (..., n * n)
        t = flat.index_select(len(lead), arange(0, n * n, n + 1, device=t.device))  # (..., n)
        sub = "".join(sub[d] for d in rest) + c
    return t, sub


def _sum_out(t, sub: str, keep):
    """(t, sub) with the letters not in ``keep`` summed out (step 2)."""
    gone = tuple(d for d, c in enumerate(sub) if c not in keep)
    if not gone:
        return t, sub
    return t.sum(gone), "".join(c for c in sub if c in keep)


def _arranged(t, sub: str, order: list[str], sizes: dict[str, int], groups):
    """t permuted to the letters ``order``, size-1 letters expanded to ``sizes``, reshaped to
    one axis per group (a list of letter lists): the (Bt, L, S) / (Bt, S, R) GEMM operand."""
    t = t.permute(*[sub.index(c) for c in order]) if list(sub) != order else t
    full = [sizes[c] for c in order]
    if list(t.shape) != full:
        t = t.expand(*full)
    return t.reshape(*[int(np.prod([sizes[c] for c in g], dtype=np.int64)) for g in groups])


def _contract(a, sa: str, b, sb: str, keep, sizes):
    """A (letters sa) and B (letters sb) contracted by one batched GEMM (step 3), keeping
    the letters in ``keep``: (result, its letters batch + left + right)."""
    a, sa = _sum_out(a, sa, set(keep) | set(sb))
    b, sb = _sum_out(b, sb, set(keep) | set(sa))
    batch = [c for c in sa if c in sb and c in keep]
    summed = [c for c in sa if c in sb and c not in keep]
    left = [c for c in sa if c not in sb]
    right = [c for c in sb if c not in sa]
    a3 = _arranged(a, sa, batch + left + summed, sizes, (batch, left, summed))  # (Bt, L, S)
    b3 = _arranged(b, sb, batch + summed + right, sizes, (batch, summed, right))  # (Bt, S, R)
    letters = batch + left + right
    return (a3 @ b3).reshape(*[sizes[c] for c in letters]), "".join(letters)  # (Bt, L, R)


def lowered(equation: str, tensors):
    """einsum by Tensor ops (diagonal, sum, permute, expand, reshape, batched matmul), the
    cuda path; see the module docstring. Autograd differentiates it."""
    subs, out = parse(equation, [t.shape for t in tensors])
    sizes = _letter_sizes(subs, out, tensors)
    terms = []
    for k, t in enumerate(tensors):
        t, sub = _diagonals(t, subs[k])
        others = set(out).union(*[s for j, s in enumerate(subs) if j != k])
        terms.append(_sum_out(t, sub, others))
    acc, letters = terms[0]
    for k in range(1, len(terms)):
        keep = set(out).union(*subs[k + 1:])
        acc, letters = _contract(acc, letters, *terms[k], keep, sizes)
    acc, letters = _sum_out(acc, letters, set(out))
    if letters != out:
        acc = acc.permute(*[letters.index(c) for c in out])
    return acc


def _on_one_device(tensors) -> str:
    devices = {t.device for t in tensors}
    if len(devices) > 1:
        raise RuntimeError(f"einsum: expected all operands on the same device, got "
                           f"{sorted(str(d) for d in devices)}; move them with .to() first")
    return str(devices.pop()) if devices else "cpu"


def einsum(equation: str, *operands):
    """``torch.einsum(equation, *operands)`` (operands also as one list); on cuda tensors
    lowered to Tensor ops and the batched GEMM (``lowered``)."""
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
    if _on_one_device(tensors) != "cpu":
        if any(t.dtype.kind != "f" for t in tensors):
            raise TypeError("einsum: cuda operands must be floating point (the device GEMM is; "
                            f"got {[str(t.dtype) for t in tensors]}); cast with .float()")
        dtype = np.result_type(*[t.dtype for t in tensors])
        return lowered(equation, [t if t.dtype == dtype else t.to(dtype) for t in tensors])
    return Einsum.apply(*tensors, equation=equation)
