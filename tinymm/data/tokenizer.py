"""A word-level tokenizer: text -> integer ids, padded to a common length, with lengths.

Words are lowercased and split on whitespace ("what color is the circle ?" -> 6 tokens; the
question mark is a word of its own in ShapesVQA's templates). Id 0 is ``<pad>``, id 1 is
``<unk>`` (any word not in the vocabulary); then come the optional extra special tokens in the
order given (captioning uses ``<start>`` and ``<end>``: ids 2 and 3), and the other words
follow in sorted order, so the same word list always gives the same ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

PAD, UNK = "<pad>", "<unk>"
START, END = "<start>", "<end>"


class Tokenizer:
    """Maps words to ids and back; ``encode_batch`` pads and returns the true lengths."""

    def __init__(self, words: Iterable[str], specials: Sequence[str] = ()):
        specials = [s for s in dict.fromkeys(specials) if s not in (PAD, UNK)]
        vocab = sorted({w.lower() for w in words} - {PAD, UNK} - set(specials))
        self.itos: list[str] = [PAD, UNK] + specials + vocab
        self.stoi: dict[str, int] = {w: i for i, w in enumerate(self.itos)}

    @classmethod
    def fit(cls, texts: Iterable[str]) -> Tokenizer:
        """A tokenizer whose vocabulary is every word in ``texts``."""
        return cls(w for text in texts for w in cls.split(text))

    @staticmethod
    def split(text: str) -> list[str]:
        return text.lower().split()

    @property
    def pad_id(self) -> int:
        return 0

    @property
    def unk_id(self) -> int:
        return 1

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        return [self.stoi.get(w, self.unk_id) for w in self.split(text)]

    def decode(self, ids: Sequence[int], length: int | None = None) -> str:
        """The words of ``ids`` (the first ``length`` of them; padding is dropped)."""
        ids = list(ids)[:length] if length is not None else list(ids)
        return " ".join(self.itos[int(i)] for i in ids if int(i) != self.pad_id)

    def encode_batch(self, texts: Sequence[str], max_len: int | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
        """``(ids (N, T) int64 padded with 0, lengths (N,) int64)``; T = longest or max_len.

        A text longer than ``max_len`` raises: silently cutting a question changes its meaning.
        """
        encoded = [self.encode(t) for t in texts]
        lengths = np.array([len(e) for e in encoded], dtype=np.int64)  # (N,)
        if len(encoded) and lengths.min() == 0:
            raise ValueError("Tokenizer.encode_batch: an empty text has no tokens; every "
                             "question needs at least one word")
        T = int(lengths.max()) if max_len is None and len(encoded) else int(max_len or 0)
        if len(encoded) and lengths.max() > T:
            raise ValueError(f"Tokenizer.encode_batch: a text has {int(lengths.max())} tokens, "
                             f"more than max_len={T}; raise max_len")
        ids = np.zeros((len(encoded), T), dtype=np.int64)  # (N, T)
        for i, e in enumerate(encoded):
            ids[i, :len(e)] = e
        return ids, lengths

    def state_dict(self) -> dict:
        return {"itos": list(self.itos)}

    @classmethod
    def from_state_dict(cls, state: dict) -> Tokenizer:
        tok = cls([])
        tok.itos = list(state["itos"])
        tok.stoi = {w: i for i, w in enumerate(tok.itos)}
        return tok

    def __eq__(self, other) -> bool:
        return isinstance(other, Tokenizer) and self.itos == other.itos

    __hash__ = None

    def __repr__(self) -> str:
        return f"Tokenizer({len(self)} words)"
