"""How a tensor prints: PyTorch's rules (``torch/_tensor_str.py``) over a host NumPy array.

One formatter serves the whole tensor (every element gets the same width):

- integers and bools print as Python prints them, right-aligned to the widest;
- floats look at their nonzero finite values. All whole numbers: ``1.``, ``-3.`` (nan and
  inf get no point); else ``precision`` decimals (``1.2500``). Scientific notation
  (``1.0000e+08``) when the largest magnitude over the smallest is above 1000, the largest
  is above 1e8, or the smallest is below 1e-4; ``sci_mode`` forces it on or off. No
  nonzero finite values (all zeros, nan, inf): whole-number style, width 1.
- a tensor of more than ``threshold`` elements is summarised: ``edgeitems`` rows (and
  elements) from each end around ``...``, and the formatter sees only those.
- rows wrap at ``linewidth``; the suffixes (``device=``, ``dtype=``, ``grad_fn=``) follow
  on the same line while it fits, else on a new line indented past ``tensor(``.
"""

from __future__ import annotations

import math

import numpy as np

_PROFILES = {"default": dict(precision=4, threshold=1000, edgeitems=3, linewidth=80),
             "short": dict(precision=2, threshold=1000, edgeitems=2, linewidth=80),
             "full": dict(precision=4, threshold=math.inf, edgeitems=3, linewidth=80)}
_OPTIONS: dict = dict(_PROFILES["default"], sci_mode=None)


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None,
                     profile=None, sci_mode=None) -> None:
    """``torch.set_printoptions``: a profile first ("default", "short", "full"; it also
    resets ``sci_mode``), then the options given (``sci_mode`` True forces scientific
    notation, False suppresses it)."""
    if profile is not None:
        if profile not in _PROFILES:
            raise ValueError(f"set_printoptions: profile must be one of {sorted(_PROFILES)}, got "
                             f"{profile!r}")
        _OPTIONS.update(_PROFILES[profile], sci_mode=None)
    for key, value in (("precision", precision), ("threshold", threshold),
                       ("edgeitems", edgeitems), ("linewidth", linewidth)):
        if value is not None:
            _OPTIONS[key] = int(value)
    if sci_mode is not None:
        _OPTIONS["sci_mode"] = bool(sci_mode)


class _Formatter:
    """The one number format of a tensor, chosen from the values it will show."""

    def __init__(self, shown: np.ndarray):
        self.floating = shown.dtype.kind == "f"
        self.int_mode, self.sci_mode, self.width = True, False, 1
        digits = _OPTIONS["precision"]
        if not self.floating:
            self.width = max([1] + [len(str(v)) for v in shown.tolist()])
        else:
            finite = shown[np.isfinite(shown) & (shown != 0)].astype(np.float64)
            if finite.size == 0:
                return  # nothing to size by (PyTorch then ignores sci_mode too)
            magnitude = np.abs(finite)
            self.int_mode = bool(np.all(finite == np.ceil(finite)))
            self.sci_mode = (magnitude.max() / magnitude.min() > 1000.0 or magnitude.max() > 1.0e8
                             or magnitude.min() < 1.0e-4) if _OPTIONS["sci_mode"] is None \
                else _OPTIONS["sci_mode"]
            if self.sci_mode:
                texts = [f"{v:.{digits}e}" for v in finite.tolist()]
            elif self.int_mode:
                texts = [f"{v:.0f}." for v in finite.tolist()]
            else:
                texts = [f"{v:.{digits}f}" for v in finite.tolist()]
            self.width = max(len(t) for t in texts)

    def format(self, value) -> str:
        digits = _OPTIONS["precision"]
        if not self.floating:
            text = f"{value}"
        elif self.sci_mode:
            text = f"{value:{self.width}.{digits}e}"
        elif self.int_mode:
            text = f"{value:.0f}" + ("" if math.isinf(value) or math.isnan(value) else ".")
        else:
            text = f"{value:.{digits}f}"
        return text.rjust(self.width)


def _summarized(values: np.ndarray) -> np.ndarray:
    """The elements a summarised print shows, flat (what the formatter sizes by)."""
    edge = _OPTIONS["edgeitems"]
    if values.ndim == 0:
        return values.reshape(1)
    if values.ndim == 1:
        # values[-0:] is every value: PyTorch's formatter then sizes by the whole row too
        return np.concatenate([values[:edge], values[-edge:]]) if len(values) > 2 * edge \
            else values
    if not edge:
        return values[:0].reshape(-1)
    rows = list(values[:edge]) + list(values[len(values) - edge:]) if len(values) > 2 * edge \
        else list(values)
    return np.concatenate([_summarized(row) for row in rows])


def _vector(values: np.ndarray, indent: int, summarize: bool, formatter: _Formatter) -> str:
    edge = _OPTIONS["edgeitems"]
    per_line = max(1, int(math.floor((_OPTIONS["linewidth"] - indent) / (formatter.width + 2))))
    if summarize and not edge:
        data = ["..."]
    elif summarize and len(values) > 2 * edge:
        data = ([formatter.format(v) for v in values[:edge].tolist()] + [" ..."]
                + [formatter.format(v) for v in values[-edge:].tolist()])
    else:
        data = [formatter.format(v) for v in values.tolist()]
    lines = [", ".join(data[i:i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _nested(values: np.ndarray, indent: int, summarize: bool, formatter: _Formatter) -> str:
    if values.ndim == 0:
        return formatter.format(values.item())
    if values.ndim == 1:
        return _vector(values, indent, summarize, formatter)
    edge = _OPTIONS["edgeitems"]
    if summarize and len(values) > 2 * edge:
        slices = ([_nested(row, indent + 1, summarize, formatter) for row in values[:edge]]
                  + ["..."] + [_nested(row, indent + 1, summarize, formatter)
                               for row in values[len(values) - edge:]])
    else:
        slices = [_nested(row, indent + 1, summarize, formatter) for row in values]
    return "[" + ("," + "\n" * (values.ndim - 1) + " " * (indent + 1)).join(slices) + "]"


def _add_suffixes(text: str, suffixes: list[str], indent: int) -> str:
    parts = [text]
    last_line = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        if last_line + len(suffix) + 2 > _OPTIONS["linewidth"]:
            parts.append(",\n" + " " * indent + suffix)
            last_line = indent + len(suffix)
        else:
            parts.append(", " + suffix)
            last_line += len(suffix) + 2
    return "".join(parts) + ")"


def tensor_repr(values: np.ndarray, dtype_name: str, implied_dtype: bool,
                default_dtype: bool, device: str | None, grad: str | None) -> str:
    """``repr(tensor)`` of host ``values``: ``dtype_name`` is printed unless the dtype is
    implied (the default float, int64 or bool) or, for an empty tensor, is the default float
    dtype; ``device`` (``"cuda:0"``) and ``grad`` (``"grad_fn=<MulBackward0>"`` or
    ``"requires_grad=True"``) are suffixes when given."""
    prefix = "tensor("
    suffixes = [f"device='{device}'"] if device else []
    if values.size == 0:
        body = "[]"
        if values.ndim != 1:
            suffixes.append(f"size={tuple(values.shape)}")
        if not default_dtype:
            suffixes.append(f"dtype={dtype_name}")
    else:
        if not _OPTIONS["edgeitems"]:
            suffixes.append(f"size={tuple(values.shape)}")
        if not implied_dtype:
            suffixes.append(f"dtype={dtype_name}")
        if values.dtype == np.float16:
            values = values.astype(np.float32)
        summarize = values.size > _OPTIONS["threshold"]
        formatter = _Formatter(_summarized(values) if summarize else values.reshape(-1))
        body = _nested(values, len(prefix), summarize, formatter)
    if grad:
        suffixes.append(grad)
    return _add_suffixes(prefix + body, suffixes, len(prefix))
