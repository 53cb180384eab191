"""An audit of every op tinymm exposes, on cuda tensors in the simulator (a script).

Run by tests/test_cuda_audit.py in a subprocess with NUMBA_ENABLE_CUDASIM=1:

    NUMBA_ENABLE_CUDASIM=1 python -m tests.cuda_audit_check [--write] [--print] [NAME ...]

(NAMEs: audit only those ops; with --write, update only their entries of the table.)

The public surface is read from the package itself: every public method of ``Tensor``, every
public function of ``tinymm`` and of ``tinymm.F``, and every ``nn.Module`` class (its
forward). Each name's call is found on the host: the first argument pattern of its
family's CANDIDATES (or its own entry in CALLS) that runs on cpu tensors with the reference
kernels. The same call then runs on cuda tensors, and the name gets one status:

* ``device``: every tensor it returns is on cuda, nothing crossed implicitly (NumPy reading a
  device array), and the values match the host's (shapes only for the RANDOM names);
* ``value``: it returns no tensor (``item``, ``equal``...) and the host's value;
* ``refused``: it raises an error naming the cuda device before any result exists;
* ``host``: it returns a cpu tensor for cuda inputs (it computed on the host, silently);
* ``implicit``: it stayed on cuda but converted a device array behind the counters;
* ``mismatch``: it stayed on cuda with values that differ from the host's;
* ``error``: any other exception.

``tests/cuda_audit_table.py`` records the status of every name (``--write`` regenerates it);
the check fails when a name is missing from the table, when the table names an op that no
longer exists, or when a status changes, so no op can go unaudited and a change of status is
always a reviewed edit of the table. ``surface()`` needs no simulator: tests/test_cuda_audit.py
ties the table's names to it in-process, and runs the audit itself when TINYMM_CUDA_AUDIT=1
(it takes minutes in the simulator). NOT_OPS are the public names that are no ops on tensor
values (device moves, autograd hooks, RNG state, printing): they are listed, not called.
"""

from __future__ import annotations

import inspect
import os
import sys
import time
import traceback
from pathlib import Path

import numpy as np

import tinymm
from tinymm import F, nn
from tinymm.tensor import Tensor

if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":  # the audit itself; the surface needs neither
    import tests.cuda_simulator_check  # noqa: F401  (patches the simulator first)
    from tinymm.kernels.numba_cuda import _device

RNG = np.random.default_rng(0)
HOST = {"x": RNG.uniform(0.1, 0.9, (2, 3)).astype(np.float32),
        "y": RNG.uniform(0.1, 0.9, (2, 3)).astype(np.float32),
        "sq": RNG.uniform(0.1, 0.9, (3, 3)).astype(np.float32),
        "v": RNG.uniform(0.1, 0.9, (3,)).astype(np.float32),
        "img": RNG.uniform(0.1, 0.9, (1, 4, 3, 3)).astype(np.float32),
        "seq": RNG.uniform(0.1, 0.9, (2, 3, 4)).astype(np.float32),
        "idx": np.array([[0, 2], [1, 1]], np.int64), "rows": np.array([1, 0], np.int64),
        "tgt": np.array([2, 0], np.int64), "mask": np.array([[True, False, True]] * 2),
        "sign": np.array([1.0, -1.0], np.float32)}
SEQ = "seq"  # (N, T, D) or (L, N, E): the sequence layers' input

# public names that are no ops on tensor values: listed, never called
NOT_OPS = {
    "Tensor": {"backward", "register_hook", "retain_grad", "requires_grad_", "zero_grad",
               "detach_", "cpu", "cuda", "to", "numpy", "tolist", "item", "dim", "ndimension",
               "nelement", "numel", "element_size", "stride", "is_contiguous",
               "is_floating_point", "type"},
    "tinymm": {"save", "load", "manual_seed", "seed", "get_rng_state", "set_rng_state",
               "initial_seed", "set_default_dtype", "get_default_dtype", "current_backend",
               "get_backend", "set_default_backend", "set_printoptions", "backends",
               "gradcheck", "gradcheck_report", "finfo", "iinfo", "promote_types",
               "is_tensor", "is_grad_enabled", "default_generator", "from_numpy", "numel",
               "is_floating_point", "compile", "set_num_threads", "get_num_threads",
               "use_deterministic_algorithms", "are_deterministic_algorithms_enabled",
               "set_float32_matmul_precision", "get_float32_matmul_precision"},
    "F": set(),
    "nn": {"Module", "ModuleDict", "ModuleList", "ParameterDict", "ParameterList",
           "Sequential", "RNNBase", "RNNCellBase", "Identity"},
}
# ops whose values are random draws: the device result is compared by shape and dtype
RANDOM = {"Tensor.normal_", "Tensor.uniform_", "tinymm.bernoulli", "tinymm.dropout",
          "tinymm.multinomial", "tinymm.normal", "tinymm.rand", "tinymm.rand_like",
          "tinymm.randint", "tinymm.randint_like", "tinymm.randn", "tinymm.randn_like",
          "tinymm.randperm", "tinymm.empty", "tinymm.empty_like", "F.dropout", "F.dropout2d",
          "F.gumbel_softmax", "Tensor.new_empty", "nn.Dropout", "nn.Dropout2d"}
HOST.update({"w": RNG.uniform(0.1, 0.9, (4, 3)).astype(np.float32),
             "k": RNG.uniform(0.1, 0.9, (2, 4, 2, 2)).astype(np.float32),
             "sig": RNG.uniform(0.1, 0.9, (1, 4, 6)).astype(np.float32),
             "k1": RNG.uniform(0.1, 0.9, (2, 4, 3)).astype(np.float32),
             "emb": RNG.uniform(0.1, 0.9, (5, 3)).astype(np.float32)})

# argument patterns tried in order on the host, per family: "@key" is a tensor of HOST[key]
# (a fresh one per call), "%key" the NumPy array itself; a dict holds keyword arguments;
# a Tensor method's first entry is the key of the tensor it is called on
CANDIDATES = {
    "Tensor": [("x",), ("x", "@y"), ("x", 1), ("x", 0), ("x", "@sq"), ("v", "@v"), ("sq",),
               ("x", 1, "@idx"), ("x", "@idx"), ("x", "@mask"), ("x", "@mask", 0.0),
               ("x", 2), ("x", (3, 2)), ("x", 0, 1), ("x", "@y", "@y"), ("x", "@y", 0.5),
               ("x", 0, "@rows"), ("x", 0, "@rows", "@x"), ("x", 1, "@idx", "@y"),
               ("x", 0, "@rows", 0.5), ("x", 0, 1, 2), ("x", (2, 3)), ("x", 2, 3),
               ("x", np.float64), ("sq", "@sq", "@sq"), ("x", "@v"), ("v",),
               ("x", "@mask", "@y")],
    "tinymm": [("@x",), ("@x", "@y"), ("@x", 1), ("@x", 0), ("@x", "@sq"), ("@v", "@v"),
               ("@sq",), ("@x", 1, "@idx"), ("@x", "@idx"), ("@x", "@mask"),
               ("@x", (3, 2)), ("@x", 0, 1), ("@x", "@y", "@y"), ("@x", "@y", 0.5),
               ("@x", 0, "@rows"), ("@x", 0, "@rows", "@x"), ("@x", 1, "@idx", "@y"),
               ("@x", 0, "@rows", 0.5), ("@mask", "@x", "@y"), ("@x", 2), ("@sq", "@sq", "@sq"),
               ("@x", "@v"), ("@v",), ("%x",), ((2, 3),), (3,), (0.0, 1.0, 3), ((2, 3), 0.5),
               (3, 3), (0, 5, (2, 3)), ("@sig", "@k1"), ([["@x", "@y"]],), (["@x", "@y"],),
               ("ij,jk->ik", "@x", "@sq"), ("@x", "@sq", 1), ("@x", "@y", {"dim": 1})],
    "F": [("@x",), ("@x", "@y"), ("@img",), ("@x", "@tgt"), ("@x", "@w"), ("@img", "@k"),
          ("@sig", "@k1"), ("@img", 2), ("@sig", 2), ("@img", 1), ("@x", 1), ("@x", (1, 1)),
          ("@img", (1, 1)), ("@idx", "@emb"), ("@rows", 3), ("@x", "@v", "@v"), ("@x", (3,)),
          ("@img", 2, "@v"), ("@seq", "@seq", "@seq"), ("@x", "@y", "@y"),
          ("@sign", "@sign", "@sign"), ("@x", "@x", "@x", "@x"), ("@x", "@y", "@sign"),
          ("@img", {"scale_factor": 2}), ("@x", "@v"), ("@img", "@img", "@img"),
          (["@x", "@y"],), ("@x", 0.5), ("@x", "@w", "@v"), ("@img", (3, 3), 2),
          ("@img", "@v", "@v"), ("@x", "@v", "@v", "@v"), ("@rows", "@emb", "@rows"),
          ("@idx", "@emb", {"mode": "sum"}), ("@img", 4, 4), ("@x", (1, 1), "circular"),
          ("@x", 1, 0.5)],
}
LAYER_ARGS = [(), (3,), (4,), (2,), (3, 2), (4, 2), (4, 2, 2), (3, 3), (5, 3), (3, 4),
              (4, 4), (1,), ((1, 1),), (4, 1), (3, 3, 2), (4, 2, {"batch_first": True}),
              ((2, 2), (1, 1)), (4, (1, 2, 2)), (4, 2, {"batch_first": True}), (4, 3, 4)]
LAYER_INPUTS = [("@x",), ("@img",), ("@seq",), ("@sig",), ("@x", "@y"), ("@x", "@tgt"),
                ("@idx",), ("@seq", "@seq"), ("@x", "@y", "@sign"), ("@x", "@y", "@y"),
                ("@x", "@x", "@x"), ("@seq", "@seq", "@seq"), ("@x", "@v"),
                ("@ctc_lp", "@ctc_tg", "@ctc_il", "@ctc_tl")]
HOST.update({"kt": RNG.uniform(0.1, 0.9, (4, 2, 2, 2)).astype(np.float32),
             "cols": RNG.uniform(0.1, 0.9, (1, 16, 4)).astype(np.float32),
             "g": RNG.uniform(0.1, 0.9, (1, 4)).astype(np.float32),
             "theta": RNG.uniform(-0.5, 0.5, (1, 2, 3)).astype(np.float32),
             "grid": RNG.uniform(-0.9, 0.9, (1, 2, 2, 2)).astype(np.float32),
             "t0": np.array(0.5, np.float32),
             "wb": RNG.uniform(0.1, 0.9, (2, 3, 3)).astype(np.float32),
             "b3": RNG.uniform(0.1, 0.9, (2, 3, 3)).astype(np.float32),
             "uidx": np.array([[0, 2], [1, 0]], np.int64),
             # CTC: (T, N, C) log-probabilities, padded targets, input and target lengths
             "ctc_lp": np.log(RNG.dirichlet(np.ones(3), (4, 2))).astype(np.float32),
             "ctc_tg": np.array([[1, 2], [2, 0]], np.int64),
             "ctc_il": np.array([4, 3], np.int64), "ctc_tl": np.array([2, 1], np.int64),
             **{f"{cell}_{m}": RNG.uniform(-0.5, 0.5, (gates, cols)).astype(np.float32)
                for cell, gates in (("lstm", 4), ("gru", 3), ("rnn", 1))
                for m, cols in (("ih", 4), ("hh", 1))}})  # one hidden unit over seq's D = 4
# names whose call is none of their family's patterns: args as in CANDIDATES; for a layer,
# its constructor's arguments (or a function that builds it), its inputs then found as usual
CALLS: dict = {
    "F.conv_transpose2d": ("@img", "@kt"), "F.fold": ("@cols", (3, 3), 2),
    "F.film": ("@img", "@g", "@g"), "F.affine_grid": ("@theta", (1, 1, 2, 3)),
    "F.grid_sample": ("@img", "@grid"), "F.info_nce": ("@x", "@y", "@t0"),
    "F.bilinear": ("@x", "@x", "@wb"), "Tensor.narrow": ("x", 1, 0, 2),
    "Tensor.bincount": ("rows",), "Tensor.baddbmm": ("b3", "@b3", "@b3"),
    # scatter with a repeated index keeps an unspecified one of the writers (as PyTorch's
    # cuda scatter): distinct indices per row, so the result is defined
    "Tensor.scatter": ("x", 1, "@uidx", "@y"), "Tensor.scatter_": ("x", 1, "@uidx", "@y"),
    "tinymm.scatter": ("@x", 1, "@uidx", "@y"),
    "tinymm.permute": ("@img", (0, 2, 3, 1)), "tinymm.randint": (0, 5, (2, 3)),
    "tinymm.full_like": ("@x", 0.5), "tinymm.linspace": (0.0, 1.0, 5), "tinymm.randperm": (5,),
    "tinymm.normal": (0.0, 1.0, (2, 3)), "tinymm.select": ("@x", 1, 0),
    "Tensor.select": ("x", 1, 0), "Tensor.clamp_min": ("x", 0.3), "Tensor.clamp_max": ("x", 0.3),
    "tinymm.clamp_min": ("@x", 0.3), "tinymm.clamp_max": ("@x", 0.3),
    "Tensor.index_fill": ("x", 1, "@rows", 0.5), "Tensor.index_fill_": ("x", 1, "@rows", 0.5),
    "tinymm.index_fill": ("@x", 1, "@rows", 0.5), "tinymm.narrow": ("@x", 1, 0, 2),
    "tinymm.broadcast_to": ("@v", (2, 3)), "tinymm.baddbmm": ("@b3", "@b3", "@b3"),
    "Tensor.index_select": ("x", 1, "@rows"), "tinymm.index_select": ("@x", 1, "@rows"),
    "F.lstm": ("@seq", "@lstm_ih", "@lstm_hh"), "F.gru": ("@seq", "@gru_ih", "@gru_hh"),
    "F.rnn": ("@seq", "@rnn_ih", "@rnn_hh"), "tinymm.bincount": ("@rows",),
    "F.ctc_loss": ("@ctc_lp", "@ctc_tg", "@ctc_il", "@ctc_tl"),
    "tinymm.multinomial": ("@x", 2),
    "tinymm.tril_indices": (3, 4, -1), "tinymm.triu_indices": (4, 3, 1),
    "nn.Transformer": (4, 2, 1, 1, 8, 0.0, {"batch_first": True}),
    "nn.TransformerEncoderLayer": (4, 2, 8, 0.0, {"batch_first": True}),
    "nn.TransformerDecoderLayer": (4, 2, 8, 0.0, {"batch_first": True}),
    "nn.TransformerEncoder": lambda: nn.TransformerEncoder(
        nn.TransformerEncoderLayer(4, 2, 8, 0.0, batch_first=True), 1),
    "nn.TransformerDecoder": lambda: nn.TransformerDecoder(
        nn.TransformerDecoderLayer(4, 2, 8, 0.0, batch_first=True), 1),
    "nn.CrossAttentionFusion": (3, 4, 8, 2), "nn.MultiheadAttention": (4, 2),
    "nn.FiLM": (4, 4),
}


def surface() -> dict:
    """{"family.name": the callable} of every public op (NOT_OPS left out)."""
    found = {}
    for name in dir(Tensor):
        if not name.startswith("_") and callable(getattr(Tensor, name)):
            found[f"Tensor.{name}"] = name
    for family, module in (("tinymm", tinymm), ("F", F)):
        for name in dir(module):
            value = getattr(module, name)
            if not name.startswith("_") and callable(value) and not inspect.isclass(value):
                found[f"{family}.{name}"] = value
    for name in dir(nn):
        value = getattr(nn, name)
        if inspect.isclass(value) and issubclass(value, nn.Module):
            found[f"nn.{name}"] = value
    return {q: v for q, v in sorted(found.items())
            if q.split(".", 1)[1] not in NOT_OPS[q.split(".", 1)[0]]}


class _Call:
    """One call's inputs on one device: fresh tensors of HOST, gradients on if ``grad``."""

    def __init__(self, device: str, grad: bool):
        self.device, self.grad, self.leaves = device, grad, []

    def value(self, token):
        if isinstance(token, str) and token[:1] == "@":
            array = HOST[token[1:]]
            t = tinymm.tensor(array, device=self.device,
                              requires_grad=self.grad and array.dtype.kind == "f")
            self.leaves.append(t)
            return t
        if isinstance(token, str) and token[:1] == "%":
            return HOST[token[1:]]
        if isinstance(token, list):
            return [self.value(v) for v in token]
        return token

    def split(self, pattern):
        args = [self.value(p) for p in pattern if not isinstance(p, dict)]
        kwargs = {k: self.value(v) for p in pattern if isinstance(p, dict) for k, v in p.items()}
        return args, kwargs


def _call(qualname: str, op, pattern, device: str, grad: bool):
    """(output, the leaf tensors and parameters whose gradients count) of one call."""
    family = qualname.split(".", 1)[0]
    call = _Call(device, grad)
    if family == "nn":
        ctor, inputs = pattern
        nn.init.seed(0)
        if callable(ctor):
            layer = ctor().to(device)
        else:
            cargs, ckwargs = call.split(ctor)
            layer = op(*cargs, **ckwargs).to(device)
        if not grad:
            for p in layer.parameters():
                p.requires_grad_(False)
        args, kwargs = call.split(inputs)
        return layer(*args, **kwargs), call.leaves + list(layer.parameters())
    if family == "Tensor":
        self_t = call.value("@" + pattern[0])
        args, kwargs = call.split(pattern[1:])
        return getattr(self_t, op)(*args, **kwargs), call.leaves
    args, kwargs = call.split(pattern)
    if device == "cuda" and not call.leaves and _takes_device(op):
        kwargs["device"] = "cuda"  # a factory: made on the device
    return op(*args, **kwargs), call.leaves


def _takes_device(op) -> bool:
    try:
        return "device" in inspect.signature(op).parameters
    except (TypeError, ValueError):
        return False


# layers whose forward takes inputs none of LAYER_INPUTS has
LAYER_CALL_INPUTS = {"nn.CrossAttentionFusion": [("@x", "@seq")], "nn.FiLM": [("@img", "@g")]}


def _patterns(qualname: str):
    family = qualname.split(".", 1)[0]
    if family == "nn":
        ctors = [CALLS[qualname]] if qualname in CALLS else LAYER_ARGS
        inputs = LAYER_CALL_INPUTS.get(qualname, LAYER_INPUTS)
        return [(c, i) for c in ctors for i in inputs]
    if qualname in CALLS:
        return [CALLS[qualname]]
    return sorted(CANDIDATES[family], key=_scalars)


def _scalars(pattern) -> int:
    """How many arguments of a pattern are not tensors: patterns of tensors only are tried
    first, so an op that takes tensors is not audited on a Python number in their place
    (which becomes a host tensor and is refused on cuda for mixing devices)."""
    start = 1 if pattern and isinstance(pattern[0], str) and pattern[0] in HOST else 0
    return sum(1 for p in pattern[start:] if not (isinstance(p, str) and p[:1] in "@%"))


def discover(qualname: str, op):
    """The first (pattern, grad) that runs on the host (reference kernels), or None."""
    for grad in (True, False):
        for pattern in _patterns(qualname):
            try:
                with tinymm.use_backend("reference"), np.errstate(all="ignore"):
                    _call(qualname, op, pattern, "cpu", grad)
            except Exception:  # noqa: BLE001 - a pattern that does not fit this op
                continue
            return pattern, grad
    return None


def _tensors(out) -> list:
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _tensors(o)]
    if hasattr(out, "data") and isinstance(out.data, Tensor):  # a PackedSequence
        return [out.data]
    return []


def _backward(out, leaves) -> list:
    """The leaves' gradients after backward of the sum of the float outputs (None where a
    leaf got none); [] when no output is differentiable."""
    outs = [t for t in _tensors(out) if t.requires_grad]
    if not outs:
        return []
    total = outs[0].sum()
    for t in outs[1:]:
        total = total + t.sum()
    total.backward()
    return [leaf.grad for leaf in leaves]


def _host(t) -> np.ndarray:
    return t.detach().cpu().numpy()


def _same(got: list, want: list, shapes_only: bool) -> bool:
    if len(got) != len(want):
        return False
    for a, b in zip(got, want):
        if (a is None) != (b is None):
            return False
        if a is None:
            continue
        a, b = _host(a), _host(b)
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        if not shapes_only and not np.allclose(a, b, rtol=1e-4, atol=1e-5, equal_nan=True):
            return False
    return True


def _where(tensors: list, stage: str, implicit: int):
    if any(t is not None and t.device != "cuda" for t in tensors):
        return f"{stage}host"
    if implicit:
        return f"{stage}implicit"
    return None


def _refusal(exc: Exception, stage: str, qualname: str) -> str:
    if os.environ.get("TINYMM_AUDIT_TRACE"):
        print(qualname, stage, repr(exc)[:300], file=sys.stderr)
    named = "cuda" in str(exc).lower() and isinstance(
        exc, (RuntimeError, TypeError, NotImplementedError))
    return f"{stage}refused" if named else f"{stage}error:{type(exc).__name__}"


def audit_one(qualname: str, op, found) -> str:
    """The status of one op (see the module docstring); ``found`` is discover()'s answer.
    A deferred device check that fails at the comparison's copy back is an ``error``."""
    if found is None:
        return "uncalled"
    try:
        return _audit_call(qualname, op, *found)
    except Exception as exc:  # noqa: BLE001 - classified
        if os.environ.get("TINYMM_AUDIT_TRACE"):
            traceback.print_exc()
        return f"error:{type(exc).__name__}"


def _audit_call(qualname: str, op, pattern, grad: bool) -> str:
    shapes_only = qualname in RANDOM
    with tinymm.use_backend("reference"):
        want, leaves = _call(qualname, op, pattern, "cpu", grad)
        want_grads = _backward(want, leaves)
    _device.reset_transfer_stats()
    try:
        got, dev_leaves = _call(qualname, op, pattern, "cuda", grad)
        _judge_deferred()
    except Exception as exc:  # noqa: BLE001 - classified
        try:  # a check the refused op deferred is its own: judged here, not by the next op
            _judge_deferred()
        except ValueError:
            pass
        return _refusal(exc, "", qualname)
    moved = _where(_tensors(got), "", _device.transfer_stats()["implicit_d2h_count"])
    if moved:
        return moved
    if not _tensors(want):
        return "value" if _same_value(got, want) else "mismatch"
    if not _same(_tensors(got), _tensors(want), shapes_only):
        return "mismatch"
    try:
        grads = _backward(got, dev_leaves)
    except Exception as exc:  # noqa: BLE001 - classified
        return _refusal(exc, "backward-", qualname)
    moved = _where(grads, "backward-", _device.transfer_stats()["implicit_d2h_count"])
    if moved:
        return moved
    return "device" if _same(grads, want_grads, shapes_only) else "backward-mismatch"


def _judge_deferred() -> None:
    """Judge the op's deferred device checks now (a counted copy of one element brings their
    results back), so a failed one is the error of the op that made it."""
    _device.to_host(_device.zeros((1,), np.float32))


def _same_value(got, want) -> bool:
    try:
        return bool(np.all(np.asarray(got) == np.asarray(want)))
    except Exception:  # noqa: BLE001 - values that do not compare are different
        return False


TABLE = Path(__file__).with_name("cuda_audit_table.py")


def audit(names=None) -> dict:
    ops = surface()
    statuses = {}
    for qualname, op in ops.items():
        if names and qualname not in names:
            continue
        start = time.perf_counter()
        with np.errstate(all="ignore"):
            statuses[qualname] = audit_one(qualname, op, discover(qualname, op))
        if os.environ.get("TINYMM_AUDIT_TRACE"):
            print(f"{qualname}: {statuses[qualname]} ({time.perf_counter() - start:.1f}s)",
                  file=sys.stderr, flush=True)
    return statuses


def write_table(statuses: dict) -> None:
    lines = ['"""The status of every public op on cuda tensors in the simulator, written by',
             "``NUMBA_ENABLE_CUDASIM=1 python -m tests.cuda_audit_check --write`` (the statuses",
             'are defined in tests/cuda_audit_check.py)."""', "", "STATUS = {"]
    lines += [f"    {name!r}: {status!r}," for name, status in sorted(statuses.items())]
    lines += ["}", ""]
    TABLE.write_text("\n".join(lines))


def check_table(statuses: dict) -> list:
    from tests.cuda_audit_table import STATUS

    problems = [f"{name}: not in the table (it is {status})"
                for name, status in statuses.items() if name not in STATUS]
    problems += [f"{name}: in the table but not an op any more"
                 for name in STATUS if name not in statuses]
    problems += [f"{name}: the table says {STATUS[name]}, the audit finds {status}"
                 for name, status in statuses.items()
                 if name in STATUS and STATUS[name] != status]
    return problems


if __name__ == "__main__":
    only = [a for a in sys.argv[1:] if not a.startswith("--")]
    found = audit(only or None)
    if "--write" in sys.argv:
        if only:  # the named ops' new statuses, the rest as recorded
            from tests.cuda_audit_table import STATUS

            found = {**STATUS, **found}
        write_table(found)
    counts: dict = {}
    for status in found.values():
        counts[status] = counts.get(status, 0) + 1
    if only or "--print" in sys.argv:
        for name, status in found.items():
            print(f"{name}: {status}")
    else:
        problems = check_table(found)
        assert not problems, "\n".join(problems)
    print(f"audited {len(found)} ops: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
