"""Evaluation metrics of the retrieval and captioning tasks (plain NumPy and Python).

* ``retrieval_ranks`` / ``retrieval_metrics``: recall@K and median rank, both directions.
* ``corpus_bleu``: BLEU-1..4 over a corpus with several references per hypothesis.
* ``attribute_accuracy``: the fraction of captions naming exactly the scene's objects.

Dimension letters: Q queries, G gallery items.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np


def retrieval_ranks(similarity: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """1-based rank of each query's target in its row of ``similarity`` (Q, G).

    Rank = 1 + the number of other gallery items scored higher than or equal to the target:
    ties count against the target, so a constant similarity gives the worst rank G, never a
    lucky first place.
    """
    similarity = np.asarray(similarity, dtype=np.float64)
    targets = np.asarray(targets)
    Q, G = similarity.shape
    if targets.shape != (Q,) or targets.min(initial=0) < 0 or targets.max(initial=0) >= G:
        raise ValueError(f"retrieval_ranks: targets must be (Q={Q},) indices into the gallery "
                         f"of {G}, got shape {targets.shape}")
    target_score = similarity[np.arange(Q), targets][:, None]  # (Q, 1)
    higher = (similarity > target_score).sum(axis=1)  # (Q,)
    tied = (similarity == target_score).sum(axis=1) - 1  # (Q,) other items with equal score
    return 1 + higher + tied


def retrieval_metrics(image_emb: np.ndarray, text_emb: np.ndarray, text_image: np.ndarray,
                      ks: Sequence[int] = (1, 5, 10)) -> dict:
    """Recall@K and median rank in both directions for a pool of images and their captions.

    ``image_emb`` (G, D) and ``text_emb`` (Q, D) are L2-normalised; caption q describes image
    ``text_image[q]``. text->image: each caption ranks the G images. image->text: each image
    ranks the Q captions, and its rank is that of its best-ranked own caption.
    """
    text_image = np.asarray(text_image)
    sim = np.asarray(text_emb, dtype=np.float64) @ np.asarray(image_emb, dtype=np.float64).T
    t2i = retrieval_ranks(sim, text_image)  # (Q,)
    sim_i = sim.T  # (G, Q)
    G = sim_i.shape[0]
    i2t = np.empty(G, dtype=np.int64)  # (G,)
    for g in range(G):
        own = np.flatnonzero(text_image == g)
        if len(own) == 0:
            raise ValueError(f"retrieval_metrics: image {g} has no caption in the pool")
        i2t[g] = retrieval_ranks(sim_i[[g] * len(own)], own).min()
    out = {}
    for name, ranks in (("text_to_image", t2i), ("image_to_text", i2t)):
        out[name] = {f"R@{k}": float(np.mean(ranks <= k)) for k in ks}
        out[name]["median_rank"] = float(np.median(ranks))
    out["pool"] = int(G)
    out["queries"] = int(len(text_image))
    return out


def _ngrams(words: Sequence[str], n: int) -> Counter:
    return Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))


def corpus_bleu(references: Sequence[Sequence[Sequence[str]]],
                hypotheses: Sequence[Sequence[str]], max_n: int = 4) -> dict[str, float]:
    """Corpus BLEU-1..``max_n`` (Papineni et al., 2002), as NLTK's ``corpus_bleu`` computes it.

    ``hypotheses[i]`` is a list of words; ``references[i]`` a list of word lists.

    Modified (clipped) n-gram precision over the whole corpus::

        p_n = sum_i sum_{g in ngrams_n(hyp_i)} min(count_hyp_i(g), max_r count_ref_ir(g))
              / sum_i |ngrams_n(hyp_i)|

    Brevity penalty, with c = total hypothesis length and r = the sum over sentences of the
    reference length closest to the hypothesis's (the shorter one on a tie)::

        BP = 1 if c > r else exp(1 - r / c)

    BLEU-N = BP * exp( sum_{n=1..N} (1/N) log p_n ), and 0 when some p_n (n <= N) is 0.
    (NLTK agrees except for hypotheses shorter than n words, whose empty n-gram count NLTK
    counts as 1 in the denominator of p_n.)
    Returns {"BLEU-1": ..., ..., "BLEU-N": ...}.
    """
    if len(references) != len(hypotheses):
        raise ValueError(f"corpus_bleu: {len(hypotheses)} hypotheses but {len(references)} "
                         "reference lists; give one list of references per hypothesis")
    matched = [0] * (max_n + 1)
    total = [0] * (max_n + 1)
    c = r = 0
    for refs, hyp in zip(references, hypotheses):
        if not refs:
            raise ValueError("corpus_bleu: every hypothesis needs at least one reference")
        c += len(hyp)
        r += min((abs(len(ref) - len(hyp)), len(ref)) for ref in refs)[1]
        for n in range(1, max_n + 1):
            counts = _ngrams(hyp, n)
            best: Counter = Counter()
            for ref in refs:
                best |= _ngrams(ref, n)  # element-wise max of the reference counts
            matched[n] += sum(min(k, best[g]) for g, k in counts.items())
            total[n] += max(len(hyp) - n + 1, 0)
    bp = 1.0 if c > r else (math.exp(1 - r / c) if c > 0 else 0.0)
    out = {}
    for N in range(1, max_n + 1):
        if any(matched[n] == 0 for n in range(1, N + 1)):
            out[f"BLEU-{N}"] = 0.0
            continue
        log_p = sum(math.log(matched[n] / total[n]) for n in range(1, N + 1)) / N
        out[f"BLEU-{N}"] = bp * math.exp(log_p)
    return out


def attribute_accuracy(mentioned: Sequence[set], truth: Sequence[set]) -> float:
    """Fraction of captions whose set of named (colour, shape) pairs equals the scene's set:
    every object named with its right colour and shape, and nothing that is not there."""
    if len(mentioned) != len(truth):
        raise ValueError(f"attribute_accuracy: {len(mentioned)} captions but {len(truth)} "
                         "scenes")
    if not truth:
        raise ValueError("attribute_accuracy: no captions to score")
    return float(np.mean([m == t for m, t in zip(mentioned, truth)]))
