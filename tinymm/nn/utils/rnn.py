"""``torch.nn.utils.rnn``: packed and padded batches of variable-length sequences.

A ``PackedSequence`` holds a batch of sequences sorted by decreasing length, time step by time
step: ``data`` (S, *) is row t of every sequence still running at step t, for t = 0, 1, ...,
and ``batch_sizes`` (T,) says how many sequences run at each step (S = sum(batch_sizes)).
``sorted_indices`` maps the sorted batch back to the caller's order (None when the caller's
batch was already sorted). PyTorch's layout, so a recurrent layer given a ``PackedSequence``
returns one with the same ``batch_sizes`` and indices.

Every function here is a composition of differentiable ops (``index_select``, ``F.pad``,
``stack``), so gradients flow from the padded or packed result back to the input; the
recurrent layers run a packed batch through their ``lengths`` path (nn/rnn.py).

Dimension letters: T longest length, N batch, S packed rows (sum of the lengths).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from tinymm.ops.shape import pad, stack
from tinymm.tensor import Tensor, as_tensor, from_numpy


class PackedSequence(NamedTuple):
    """PyTorch's ``PackedSequence``: (data, batch_sizes, sorted_indices, unsorted_indices)."""

    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None = None
    unsorted_indices: Tensor | None = None

    def to(self, *args, **kwargs) -> PackedSequence:
        """The same packing with ``data.to(...)`` (indices stay int64 on the host)."""
        return self._replace(data=self.data.to(*args, **kwargs))

    def cpu(self) -> PackedSequence:
        return self.to("cpu")

    def double(self) -> PackedSequence:
        return self._replace(data=self.data.double())

    def float(self) -> PackedSequence:
        return self._replace(data=self.data.float())

    @property
    def is_cuda(self) -> bool:
        return self.data.is_cuda


def _host_ints(value) -> np.ndarray:
    raw = value.array if isinstance(value, Tensor) else value
    return np.asarray(raw)


def check_lengths_1d(who: str, lengths, N: int, T: int) -> np.ndarray:
    """lengths as an int64 (N,) array with every value in [1, T]; RuntimeError (PyTorch's type)
    naming ``who`` otherwise."""
    if isinstance(lengths, Tensor) and lengths.is_cuda:
        raise RuntimeError(f"{who}: lengths must be on the cpu (a list or a cpu int64 tensor), "
                           "got a cuda tensor; pass lengths.cpu()")
    array = _host_ints(lengths)
    if array.ndim != 1 or array.dtype.kind not in "iu":
        raise RuntimeError(f"{who}: lengths must be a 1-d list or tensor of integers, got "
                           f"shape {array.shape} dtype {array.dtype}")
    if array.shape[0] != N:
        raise RuntimeError(f"{who}: expected len(lengths) to equal the batch size {N}, got "
                           f"{array.shape[0]}")
    if N and (array.min() < 1 or array.max() > T):
        raise RuntimeError(f"{who}: every length must be between 1 and the padded length "
                           f"{T}, got {array.tolist()}")
    return array.astype(np.int64)


def _batch_sizes(sorted_lengths: np.ndarray) -> np.ndarray:
    """(T,) int64: how many of the (decreasing) lengths exceed t, for t < the longest."""
    steps = np.arange(int(sorted_lengths[0]))
    return (sorted_lengths[None, :] > steps[:, None]).sum(axis=1).astype(np.int64)


def _packed_rows(batch_sizes: np.ndarray, N: int) -> np.ndarray:
    """(S,) rows of a flattened (T*N) time-major batch that packing keeps, in packed order."""
    return np.concatenate([t * N + np.arange(b) for t, b in enumerate(batch_sizes)])


def _pack_sorted(x: Tensor, batch_sizes: np.ndarray, sorted_indices, unsorted_indices):
    """Pack x (T', N, *) time-major, its batch already in sorted order."""
    N = x.shape[1]
    flat = x.reshape(x.shape[0] * N, *x.shape[2:])  # (T'*N, *)
    data = flat.index_select(0, _packed_rows(batch_sizes, N))  # (S, *)
    return PackedSequence(data, from_numpy(batch_sizes), sorted_indices, unsorted_indices)


def _invert(permutation: np.ndarray) -> np.ndarray:
    inverse = np.empty_like(permutation)
    inverse[permutation] = np.arange(permutation.size)
    return inverse


def pack_padded_sequence(input, lengths, batch_first: bool = False,  # noqa: A002
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch (T, N, *) ((N, T, *) with batch_first) of the given lengths.

    ``enforce_sorted=True`` requires decreasing lengths (RuntimeError otherwise);
    ``enforce_sorted=False`` sorts the batch by length and records the permutation.
    """
    x = as_tensor(input)
    if x.ndim < 2:
        raise ValueError(f"pack_padded_sequence: input must be at least 2-d (T, N, *), got "
                         f"shape {tuple(x.shape)}")
    if batch_first:
        x = x.transpose(0, 1)  # (T, N, *)
    T, N = x.shape[0], x.shape[1]
    lengths = check_lengths_1d("pack_padded_sequence", lengths, N, T)
    sorted_indices = unsorted_indices = None
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise RuntimeError(f"pack_padded_sequence: lengths must be sorted in decreasing "
                               f"order when enforce_sorted=True, got {lengths.tolist()}; sort "
                               "the batch or pass enforce_sorted=False")
    else:
        order = np.argsort(-lengths, kind="stable")
        lengths = lengths[order]
        x = x.index_select(1, order)
        sorted_indices, unsorted_indices = from_numpy(order), from_numpy(_invert(order))
    return _pack_sorted(x, _batch_sizes(lengths), sorted_indices, unsorted_indices)


def pack_as(padded, like: PackedSequence, batch_first: bool = False) -> PackedSequence:
    """Pack ``padded`` (T', N, *) (caller's batch order) with ``like``'s batch_sizes and
    indices: what a recurrent layer returns for a packed input."""
    x = as_tensor(padded)
    if batch_first:
        x = x.transpose(0, 1)  # (T', N, *)
    if like.sorted_indices is not None:
        x = x.index_select(1, like.sorted_indices.array)
    return _pack_sorted(x, _host_ints(like.batch_sizes), like.sorted_indices,
                        like.unsorted_indices)


def _check_packed(who: str, sequence) -> np.ndarray:
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"{who}: expected a PackedSequence (from pack_padded_sequence or "
                        f"pack_sequence), got {type(sequence).__name__}")
    return _host_ints(sequence.batch_sizes).astype(np.int64)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False,
                        padding_value: float = 0.0, total_length: int | None = None):
    """Undo packing: ``(padded, lengths)``, padded (T, N, *) ((N, T, *) with batch_first) with
    ``padding_value`` past each length, lengths (N,) int64, both in the caller's batch order."""
    batch_sizes = _check_packed("pad_packed_sequence", sequence)
    T, N = batch_sizes.size, int(batch_sizes[0])
    if total_length is not None and total_length < T:
        raise ValueError(f"pad_packed_sequence: total_length must be at least the longest "
                         f"length {T}, got {total_length}")
    T_out = T if total_length is None else int(total_length)
    data = sequence.data  # (S, *)
    S = data.shape[0]
    starts = np.concatenate([[0], np.cumsum(batch_sizes)[:-1]])  # first packed row of step t
    steps, items = np.meshgrid(np.arange(T_out), np.arange(N), indexing="ij")  # (T_out, N)
    running = np.zeros((T_out, N), bool)
    running[:T] = items[:T] < batch_sizes[:, None]
    source = np.where(running, starts[np.minimum(steps, T - 1)] + items, S)  # S: the pad row
    widths = (0, 0) * (data.ndim - 1) + (0, 1)
    rows = pad(data, widths, value=padding_value)  # (S + 1, *): a padding row at the end
    padded = rows.index_select(0, source.reshape(-1)).reshape(T_out, N, *data.shape[1:])
    lengths = running.sum(axis=0).astype(np.int64)  # (N,) in sorted order
    if sequence.unsorted_indices is not None:
        unsorted = _host_ints(sequence.unsorted_indices)
        padded, lengths = padded.index_select(1, unsorted), lengths[unsorted]
    return (padded.transpose(0, 1) if batch_first else padded), from_numpy(lengths)


def pad_sequence(sequences, batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right") -> Tensor:
    """Stack tensors (L_i, *) into (T, N, *) ((N, T, *) with batch_first), T = max L_i, the
    rest filled with ``padding_value`` on ``padding_side`` ('right' or 'left')."""
    if isinstance(sequences, Tensor):
        sequences = list(sequences.unbind(0))
    sequences = [as_tensor(s) for s in sequences]
    if not sequences:
        raise RuntimeError("pad_sequence: received an empty list of sequences")
    if padding_side not in ("right", "left"):
        raise ValueError(f"pad_sequence: padding_side must be 'right' or 'left', got "
                         f"{padding_side!r}")
    trailing = {tuple(s.shape[1:]) for s in sequences}
    if len(trailing) != 1 or sequences[0].ndim == 0:
        raise RuntimeError(f"pad_sequence: every sequence must be (L, *) with the same trailing "
                           f"shape, got shapes {[tuple(s.shape) for s in sequences]}")
    T = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        extra = T - s.shape[0]
        side = (0, extra) if padding_side == "right" else (extra, 0)
        padded.append(pad(s, (0, 0) * (s.ndim - 1) + side, value=padding_value))
    return stack(padded, axis=0 if batch_first else 1)


def pack_sequence(sequences, enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of tensors (L_i, *) (decreasing lengths unless enforce_sorted=False)."""
    lengths = [as_tensor(s).shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths,
                                enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences, lengths, batch_first: bool = False) -> list[Tensor]:
    """The list of sequences (L_i, *) inside a padded batch."""
    x = as_tensor(padded_sequences)
    if batch_first:
        x = x.transpose(0, 1)  # (T, N, *)
    lengths = check_lengths_1d("unpad_sequence", lengths, x.shape[1], x.shape[0])
    return [x[:int(n), i] for i, n in enumerate(lengths)]


def unpack_sequence(packed_sequences: PackedSequence) -> list[Tensor]:
    """The list of sequences (L_i, *) inside a packed batch, in the caller's order."""
    padded, lengths = pad_packed_sequence(packed_sequences)
    return unpad_sequence(padded, lengths)


__all__ = ["PackedSequence", "pack_as", "pack_padded_sequence", "pack_sequence",
           "pad_packed_sequence", "pad_sequence", "unpack_sequence", "unpad_sequence"]
