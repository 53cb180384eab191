"""Image captioners: an LSTM decoder started from the image, with or without attention.

    image (N, 3, 32, 32) -> conv1 + ReLU -> pool1 -> conv2 + ReLU -> pool2 -> map (N, C2, 8, 8)
      (early_pool, the default: conv2 runs on the 16x16 map, so it costs a quarter of the
      seed tower's and each of its outputs sees 8x8 pixels, a whole object; early_pool=False
      is the seed's ImageTower, conv1 -> conv2 -> pool -> pool; with map_conv, a third 3x3
      conv + ReLU on the 8x8 map; with batch_norm, BatchNorm2d between each conv and ReLU)
      regions   (N, R, C2)                        the 64 region vectors (attention reads them)
      v = ReLU(image_fc(flatten(map)))  (N, F)    the image vector
      h0 = init_h(v), c0 = init_c(v)              (N, H) the decoder's initial state
    with region_positions, region_r += P_r (a learnt Embedding(R, C2) of each place)
    at every step t, given the previous word w_{t-1} (<start> first):
      plain      x_t = Embedding(w_{t-1})                                  (N, E)
      attention  ("show, attend and tell", Xu et al. 2015, soft attention):
                 e_tr = (W_q h_{t-1}) . (W_k region_r) / sqrt(A)           (N, R) scores
                 alpha_t = softmax_r(e_t)                                  (N, R)
                 z_t = sum_r alpha_tr region_r                             (N, C2) context
                 with context_gate, z_t *= beta_t = sigmoid(W_b h_{t-1})   (N, 1) gate
                 x_t = [Embedding(w_{t-1}) ; z_t]                          (N, E + C2)
      with image_input, x_t = [x_t ; v]: the image vector beside every word  (N, ... + F)
      h_t, c_t = LSTMCell(x_t, (h_{t-1}, c_t-1))
      logits_t = out(h_t)  (plain)   or   out([h_t ; z_t])  (attention)     (N, V)

With ``word_loss`` > 0 the model also has a word-presence head, trained beside the caption
loss: s_rv = word_head(region_r) (N, R, V), word logit_v = max_r s_rv, and
binary cross-entropy against which words the image's reference captions use (Fang et al.
2015's multiple-instance "visual concepts", max in place of noisy-OR). It gives the CNN a
direct, translation-invariant signal for each colour, shape, number and relation word;
decoding never reads it.

With ``slot_loss`` > 0 an object-slot head reads the image vector: slot_head(v) (N, K, 11),
for each of the K = 4 slots left to right the logits of its colour (6, or "no object") and
of its shape (3, or "no object"), trained with cross-entropy against the objects the
image's listing reference names in its order (``ShapesCaptions.slots``). It asks v directly
for what the caption must say; decoding never reads it either.

With ``coverage`` > 0 (the attention decoder; 0.1 by default) the loss adds Show, attend and
tell's doubly stochastic regulariser, coverage * sum_r (1 - sum_t alpha_tr)^2 over each
caption's real steps: every region is asked for a total weight of about one per caption, so
the weights cannot all settle on a few cells. It changes training only, not the function.

Training uses teacher forcing: the inputs are the reference's tokens <start> w_1 ... w_n and
the targets w_1 ... w_n <end> (padding ignored), so every step sees the true previous word.
The plain decoder runs the LSTM over the whole sequence in one call; the attention decoder
steps, since z_t depends on h_{t-1}. Decoding runs free: ``greedy_decode`` feeds back its own
argmax word, ``beam_search`` keeps the ``beam`` most probable prefixes (sum of log
probabilities); beam 1 is greedy.

Dimension letters: N batch, T steps, V vocabulary, E embedding width, H hidden width,
R = 64 regions, C2 map channels, F image-vector width, A attention width, B beam width.

The initial state is linear in v, with no tanh: v is a ReLU output whose common part is large
and shared by every image, and Adam drove tanh(init_h(v)) to +-1 for every image within ~60
steps (the state's spread over a batch fell to 3e-6, the CNN's gradient from 4e-4 to 1e-7,
and the loss with shuffled images equalled the loss with the right ones), so the decoder
never saw the image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinymm import nn
from tinymm.autograd import no_grad
from tinymm.models.retrieval import check_caption_inputs, check_image_input
from tinymm.models.towers import ImageTower, SavedConfig, TextTower
from tinymm.ops.shape import cat, stack
from tinymm.ops.softmax import log_softmax, softmax
from tinymm.tensor import Tensor, as_tensor, from_numpy

START_ID, END_ID = 2, 3  # <start>, <end> in tinymm.data.shapes_captions.captions_tokenizer()
NEVER_EMITTED = (0, 1, START_ID)  # <pad>, <unk>, <start>: decoding never outputs them
# The slot head's classes: ShapesCaptions's 4 object slots, its 6 colours and 3 shapes, each
# with one more class for "no object" (tinymm.data.shapes_captions.caption_slots; a test
# ties the numbers to the data)
SLOTS, SLOT_COLOURS, SLOT_SHAPES = 4, 6, 3
SLOT_CLASSES = SLOT_COLOURS + 1 + SLOT_SHAPES + 1


@dataclass
class CaptionerConfig(SavedConfig):
    """Everything that decides the captioner's shapes (saved in every checkpoint)."""

    vocab_size: int = 33  # len(tinymm.data.shapes_captions.captions_tokenizer())
    attention: bool = False
    image_channels: int = 3
    image_size: int = 32
    conv1_channels: int = 32
    conv2_channels: int = 64
    embed_dim: int = 64
    hidden_size: int = 128
    image_dim: int = 128  # F
    attention_dim: int = 64  # A
    max_len: int = 24  # longest token sequence, <start> and <end> included
    image_input: bool = True  # v beside each word at every step, not only in h0, c0
    region_positions: bool = True  # attention: a learnt embedding of each region's place
    word_loss: float = 0.0  # weight of the auxiliary word-presence loss (0: no word head)
    slot_loss: float = 0.0  # weight of the auxiliary object-slot loss (0: no slot head)
    map_conv: bool = False  # a third 3x3 conv + ReLU on the pooled (C2, 8, 8) map
    early_pool: bool = True  # conv1 -> pool -> conv2 -> pool (conv2 on the 16x16 map)
    batch_norm: bool = False  # BatchNorm2d between each conv and its ReLU
    coverage: float = 0.1  # attention: weight of the doubly stochastic regulariser
    context_gate: bool = False  # attention: z_t scaled by beta_t = sigmoid(W_b h_{t-1})

    def __post_init__(self):
        if self.image_size % 4:
            raise ValueError(f"CaptionerConfig: image_size must be a multiple of 4 (two 2x2 "
                             f"max-pools), got {self.image_size}")
        for name in ("word_loss", "slot_loss", "coverage"):
            value = getattr(self, name)
            if isinstance(value, bool) or not (isinstance(value, (int, float))
                                               and 0 <= value < math.inf):
                raise ValueError(f"CaptionerConfig: {name} must be a finite number >= 0, got "
                                 f"{value!r}")
        if self.max_len < 2:
            raise ValueError(f"CaptionerConfig: max_len must be at least 2 (<start> <end>), "
                             f"got {self.max_len}")

    @classmethod
    def from_dict(cls, values: dict):
        """A checkpoint's config; one written before ``early_pool`` and ``coverage`` existed
        used the seed tower (conv1 -> conv2 -> pool -> pool) and no coverage term, so a
        missing field means that."""
        return super().from_dict({"early_pool": False, "coverage": 0.0, **values})

    @property
    def regions(self) -> int:
        return (self.image_size // 4) ** 2


class Captioner(ImageTower, TextTower, nn.Module):
    """``forward(image, tokens) -> logits (N, T-1, V)`` under teacher forcing; with
    attention, ``last_attention`` then holds alpha (N, T-1, R) as a NumPy array (on the CPU;
    a cuda model leaves it as it was)."""

    def __init__(self, config: CaptionerConfig | None = None, **overrides):
        super().__init__()
        c = config if config is not None else CaptionerConfig(**overrides)
        self.config = c
        context = c.conv2_channels if c.attention else 0
        self._build_image_tower(c.image_channels, c.conv1_channels, c.conv2_channels,
                                early_pool=c.early_pool, batch_norm=c.batch_norm)
        self._build_text_tower(c.vocab_size, c.embed_dim, c.hidden_size,
                               extra_inputs=context + (c.image_dim if c.image_input else 0))
        self.image_fc = nn.Linear(c.conv2_channels * c.regions, c.image_dim)
        self.init_h = nn.Linear(c.image_dim, c.hidden_size)
        self.init_c = nn.Linear(c.image_dim, c.hidden_size)
        if c.attention:
            self.att_query = nn.Linear(c.hidden_size, c.attention_dim)
            self.att_key = nn.Linear(c.conv2_channels, c.attention_dim)
            if c.region_positions:
                self.region_pos = nn.Embedding(c.regions, c.conv2_channels)
        self.out = nn.Linear(c.hidden_size + context, c.vocab_size)
        if c.word_loss > 0:
            self.word_head = nn.Linear(c.conv2_channels, c.vocab_size)
        if c.map_conv:
            self.conv3 = nn.Conv2d(c.conv2_channels, c.conv2_channels, 3, padding=1,
                                   activation="relu")
        if c.slot_loss > 0:
            self.slot_head = nn.Linear(c.image_dim, SLOTS * SLOT_CLASSES)
        if c.attention and c.context_gate:
            self.att_gate = nn.Linear(c.hidden_size, 1)
        self.last_attention: np.ndarray | None = None

    # ------------------------------------------------------------------ pieces
    def encode_image(self, image: Tensor) -> Tensor:
        """(N, 3, S, S) -> the map (N, C2, S/4, S/4): ImageTower's (with ``early_pool``
        conv1 -> pool1 -> conv2 -> pool2, with ``batch_norm`` a BatchNorm2d before each
        ReLU), then ``conv3`` with ``map_conv``."""
        fmap = ImageTower.encode_image(self, image)  # (N, C2, S/4, S/4)
        return self.conv3(fmap) if self.config.map_conv else fmap

    def start(self, image) -> dict:
        """Encode the image: the initial state h, c (N, H) and what attention reads."""
        c = self.config
        image = as_tensor(image)
        check_image_input("Captioner", image, c.image_channels, c.image_size)
        fmap = self.encode_image(image)  # (N, C2, 8, 8)
        N = fmap.shape[0]
        v = self.image_fc(fmap.reshape(N, -1)).relu()  # (N, F)
        state = {"h": self.init_h(v), "c": self.init_c(v), "v": v}  # (N, H) each, linear in v
        if c.word_loss > 0:
            state["cells"] = self.regions(fmap)  # (N, R, C2), what the word head reads
        if c.attention:
            regions = self.regions(fmap)  # (N, R, C2)
            if c.region_positions:
                regions = regions + self.region_pos.weight  # + (R, C2): P_r = row r
            state["regions"] = regions
            state["keys"] = self.att_key(regions)  # (N, R, A)
        return state

    def attend(self, h: Tensor, state: dict) -> tuple[Tensor, Tensor]:
        """h (N, H) -> context z (N, C2) and weights alpha (N, R) over the regions."""
        q = self.att_query(h).unsqueeze(2)  # (N, A, 1)
        scores = (state["keys"] @ q).reshape(h.shape[0], -1)  # (N, R)
        alpha = softmax(scores * (1.0 / math.sqrt(self.config.attention_dim)), dim=1)  # (N, R)
        z = (alpha.unsqueeze(1) @ state["regions"]).reshape(h.shape[0], -1)  # (N, C2)
        if self.config.context_gate:
            z = self.att_gate(h).sigmoid() * z  # (N, 1) * (N, C2)
        return z, alpha

    def step(self, words: np.ndarray, state: dict) -> tuple[Tensor, dict, Tensor | None]:
        """One decoder step: previous words (N,) -> logits (N, V), the new state, alpha.
        ``words``: host ids (copied to a cuda model's device) or a Tensor where the model is."""
        if isinstance(words, np.ndarray):
            words = self.tokens_for_tower(words)
        x = self.embedding(words)  # (N, E)
        alpha = None
        if self.config.attention:
            z, alpha = self.attend(state["h"], state)  # (N, C2), (N, R)
            x = cat([x, z], axis=1)  # (N, E + C2)
        if self.config.image_input:
            x = cat([x, state["v"]], axis=1)  # (N, E [+ C2] + F)
        hx = (state["h"].unsqueeze(0), state["c"].unsqueeze(0))  # (1, N, H) each
        _, (h_n, c_n) = self.lstm(x.unsqueeze(1), hx)  # (1, N, H) each
        h, c = h_n.reshape(h_n.shape[1], -1), c_n.reshape(c_n.shape[1], -1)  # (N, H)
        feature = cat([h, z], axis=1) if self.config.attention else h  # (N, H [+ C2])
        return self.out(feature), {**state, "h": h, "c": c}, alpha

    # ------------------------------------------------------------------ teacher forcing
    def forward(self, image, tokens, with_words: bool = False, with_aux: bool = False):
        """Teacher-forced logits (N, T-1, V). With ``with_aux`` also a dict of what the
        auxiliary losses read: "words" (N, V) (``word_loss`` > 0), "slots" (N, K, 11)
        (``slot_loss`` > 0) and, for the attention decoder, "alphas" (N, T-1, R), a Tensor.
        ``with_words`` (a model built with ``word_loss`` > 0): (logits, aux["words"])."""
        c = self.config
        if with_words and c.word_loss <= 0:
            raise ValueError("Captioner: with_words needs a model built with word_loss > 0 "
                             "(it has no word head)")
        tokens = tokens.array if isinstance(tokens, Tensor) else np.asarray(tokens)
        check_caption_inputs("Captioner", c.vocab_size, tokens, None,
                             as_tensor(image).shape[0])
        if tokens.shape[1] > c.max_len:
            raise ValueError(f"Captioner: captions of {tokens.shape[1]} tokens exceed the "
                             f"decoder's maximum max_len={c.max_len}")
        if tokens.shape[1] < 2:
            raise ValueError("Captioner: teacher forcing needs at least 2 tokens (<start> and "
                             f"<end>) per caption, got {tokens.shape[1]}")
        state = self.start(image)
        inputs = self.tokens_for_tower(tokens)[:, :-1]  # (N, T-1) <start> w_1 ... w_n
        logits, alphas = self._teacher_forced(state, inputs, keep_alphas=with_aux)
        if with_words:
            return logits, self.word_logits(state)
        if not with_aux:
            return logits
        aux = {"alphas": alphas} if c.attention else {}
        if c.word_loss > 0:
            aux["words"] = self.word_logits(state)  # (N, V)
        if c.slot_loss > 0:
            aux["slots"] = self.slot_head(state["v"]).reshape(-1, SLOTS, SLOT_CLASSES)
        return logits, aux

    def word_logits(self, state: dict) -> Tensor:
        """Word-presence logits (N, V): each word's score is its best region's,
        max_r word_head(region_r) (multiple-instance learning over the regions, as Fang et
        al. 2015's visual concept detectors, with max in place of their noisy-OR)."""
        return self.word_head(state["cells"]).amax(dim=1)  # (N, R, V) -> (N, V)

    def _teacher_forced(self, state: dict, inputs, keep_alphas: bool = False
                        ) -> tuple[Tensor, Tensor | None]:
        """inputs (N, T-1) <start> w_1 ... w_n (a NumPy array, or a cuda Tensor on the device)
        -> logits (N, T-1, V), and with ``keep_alphas`` (attention) alpha (N, T-1, R)."""
        c = self.config
        if not c.attention:
            x = self.embedding(inputs)  # (N, T-1, E)
            if c.image_input:
                v = state["v"].unsqueeze(1).expand(-1, inputs.shape[1], -1)  # (N, T-1, F)
                x = cat([x, v], axis=2)  # (N, T-1, E + F)
            hx = (state["h"].unsqueeze(0), state["c"].unsqueeze(0))  # (1, N, H) each
            outputs, _ = self.lstm(x, hx)  # (N, T-1, H)
            return self.out(outputs), None  # (N, T-1, V)
        logits, alphas = [], []
        for t in range(inputs.shape[1]):
            step_logits, state, alpha = self.step(inputs[:, t], state)  # (N, V), (N, R)
            logits.append(step_logits)
            alphas.append(alpha)
        if alphas[0].device == "cpu":  # on cuda, reading them would copy every step
            self.last_attention = np.stack([a.array for a in alphas], axis=1)  # (N, T-1, R)
        return stack(logits, axis=1), (stack(alphas, axis=1) if keep_alphas else None)

    def extra_repr(self) -> str:
        return f"attention={self.config.attention}"


def word_presence_loss(word_logits: Tensor, present: np.ndarray) -> Tensor:
    """Mean binary cross-entropy of each vocabulary word's presence in the image's references
    (the "visual concepts" of Fang et al. 2015, mined from the captions themselves)."""
    from tinymm.ops.loss import binary_cross_entropy_with_logits

    return binary_cross_entropy_with_logits(word_logits, as_tensor(present))


def slot_loss(slot_logits: Tensor, slots: np.ndarray) -> Tensor:
    """Cross-entropy of each slot's colour plus that of its shape: slot_logits (N, K, 11),
    slots (N, K, 2) colour and shape ids left to right, -1 past the last object (its class
    is then "no object", the last of each group)."""
    from tinymm.ops.cross_entropy import cross_entropy

    slots = np.asarray(slots)
    colour = np.where(slots[..., 0] < 0, SLOT_COLOURS, slots[..., 0]).reshape(-1)  # (N K,)
    shape = np.where(slots[..., 1] < 0, SLOT_SHAPES, slots[..., 1]).reshape(-1)  # (N K,)
    if slot_logits.device != "cpu":  # the targets go where the logits are
        colour, shape = (from_numpy(np.ascontiguousarray(a)).to(slot_logits.device)
                         for a in (colour, shape))
    flat = slot_logits.reshape(-1, SLOT_CLASSES)  # (N K, 11)
    return (cross_entropy(flat[:, :SLOT_COLOURS + 1], colour)
            + cross_entropy(flat[:, SLOT_COLOURS + 1:], shape))


def coverage_penalty(alphas: Tensor, tokens: np.ndarray) -> Tensor:
    """Show, attend and tell's doubly stochastic regulariser: mean over the batch of
    sum_r (1 - sum_t alpha_tr)^2, the sum over each caption's real steps (padding's
    targets excluded), so every region is pushed to get, over the caption, a total weight
    of one. alphas (N, T-1, R), tokens (N, T)."""
    real = (np.asarray(tokens)[:, 1:] != 0).astype(np.float32)  # (N, T-1)
    mask = as_tensor(real[:, :, None])  # (N, T-1, 1)
    if alphas.device != "cpu":
        mask = mask.to(alphas.device)
    total = (alphas * mask).sum(dim=1)  # (N, R)
    return ((1.0 - total) ** 2).sum(dim=1).mean()


def auxiliary_loss(model: Captioner, aux: dict, batch: dict, tokens: np.ndarray) -> Tensor:
    """The weighted sum of the auxiliary losses ``model.config`` turns on (word presence,
    object slots, attention coverage), from ``forward(..., with_aux=True)``'s dict."""
    c = model.config
    terms = []
    if c.word_loss > 0:
        terms.append(c.word_loss * word_presence_loss(aux["words"], batch["words"]))
    if c.slot_loss > 0:
        terms.append(c.slot_loss * slot_loss(aux["slots"], batch["slots"]))
    if c.attention and c.coverage > 0:
        terms.append(c.coverage * coverage_penalty(aux["alphas"], tokens))
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def uses_auxiliary_loss(config: CaptionerConfig) -> bool:
    return config.word_loss > 0 or config.slot_loss > 0 or (config.attention
                                                             and config.coverage > 0)


def caption_loss(logits: Tensor, tokens: np.ndarray) -> Tensor:
    """Mean cross-entropy of the next word over real (non-padding) target tokens."""
    from tinymm.ops.cross_entropy import cross_entropy

    targets = np.asarray(tokens)[:, 1:]  # (N, T-1) w_1 ... w_n <end> <pad>...
    V = logits.shape[-1]
    flat = targets.reshape(-1)
    if logits.device != "cpu":  # the targets go where the logits are (one counted copy)
        flat = from_numpy(np.ascontiguousarray(flat)).to(logits.device)
    return cross_entropy(logits.reshape(-1, V), flat, ignore_index=0)


def _check_decode(model: Captioner, max_len: int | None) -> int:
    max_len = model.config.max_len if max_len is None else max_len
    if isinstance(max_len, bool) or not isinstance(max_len, (int, np.integer)) \
            or not 2 <= max_len <= model.config.max_len:
        raise ValueError(f"decode: max_len must be an integer in [2, {model.config.max_len}] "
                         f"(the decoder's maximum), got {max_len!r}")
    return int(max_len)


def _never_emitted(vocab_size: int, device) -> Tensor:
    """(V,) 0, and -inf at the markers and padding that decoding never emits, on ``device``
    (one counted copy to a cuda device)."""
    mask = np.zeros(vocab_size, dtype=np.float32)
    mask[list(NEVER_EMITTED)] = -np.inf
    return from_numpy(mask).to(device)


def _word_log_probs(logits: Tensor, never: Tensor | None = None) -> Tensor:
    """log p(word) (N, V) where the logits are, -inf at the words never emitted (``never``:
    that mask, made once per decode; None makes it here)."""
    if never is None:
        never = _never_emitted(logits.shape[1], logits.device)
    return log_softmax(logits, dim=1) + never


def _host(t: Tensor) -> np.ndarray:
    """A decoder's result as a NumPy array (one counted copy from a cuda model's device)."""
    return t.cpu().numpy()


def greedy_decode(model: Captioner, image, max_len: int | None = None, attention: bool = True
                  ) -> tuple[np.ndarray, np.ndarray | None]:
    """Free-running decoding, the most probable word each step, where the model is (on a
    cuda model each step copies the N chosen ids out, in one transfer with the embedding's
    deferred range check of the ids that went in, and the N next ids in).

    Returns tokens (N, L) starting with <start> (after <end>, only <end>), and for the
    attention decoder alpha (N, L-1, R), the weights each emitted word was predicted with
    (None with ``attention=False``: not kept, nor copied from a device).
    """
    max_len = _check_decode(model, max_len)
    was_training = model.training
    model.eval()
    with no_grad():
        never = _never_emitted(model.config.vocab_size, model.out.weight.device)  # (V,)
        state = model.start(image)
        N = state["h"].shape[0]
        words = np.full(N, START_ID, dtype=np.int64)  # (N,)
        out, alphas = [words], []
        done = np.zeros(N, dtype=bool)
        for _ in range(max_len - 1):
            logits, state, alpha = model.step(words, state)  # (N, V)
            best = _word_log_probs(logits, never).topk(1, dim=1).indices  # (N, 1) first max
            words = np.where(done, END_ID, _host(best).reshape(N))  # (N,)
            out.append(words)
            if alpha is not None and attention:
                alphas.append(alpha)  # (N, R), where the model is
            done |= words == END_ID
            if done.all():
                break
    model.train(was_training)
    return np.stack(out, axis=1), (_host(stack(alphas, axis=1)) if alphas else None)


def _rows(index: np.ndarray, device) -> np.ndarray | Tensor:
    """Row indices where the state lives (one counted copy to a cuda model's device)."""
    return index if device == "cpu" else from_numpy(np.ascontiguousarray(index)).to(device)


def _repeat_state(state: dict, index) -> dict:
    return {k: v[index] for k, v in state.items()}


def _end_only(V: int, device) -> Tensor:
    """(1, V) float64: 0 at <end>, -inf elsewhere, where the model is."""
    end = np.full((1, V), -np.inf)
    end[0, END_ID] = 0.0
    return from_numpy(end).to(device)


def _extend_finished(logp: Tensor, done: np.ndarray, end_only: Tensor) -> Tensor:
    """logp (R, V) float64 with the rows of finished beams (done (R,)) replaced by
    ``end_only``: a finished beam extends only with <end>, at no cost. As
    maximum(logp + (-inf on finished rows), (-inf on live rows) + end_only): exact in
    float64 (x + 0 = x, max(x, -inf) = x); two (R, 1) columns cross to a device."""
    device = logp.device
    finished = from_numpy(np.where(done, -np.inf, 0.0)[:, None]).to(device)  # (R, 1)
    live = from_numpy(np.where(done, 0.0, -np.inf)[:, None]).to(device)  # (R, 1)
    return (logp + finished).maximum(live + end_only)  # (R, V)


def beam_search(model: Captioner, image, beam: int = 3, max_len: int | None = None
                ) -> np.ndarray:
    """The ``beam`` most probable prefixes kept at every step; returns the best finished
    sequence per image, tokens (N, L) as ``greedy_decode`` (score: sum of log
    probabilities, no length normalisation; ties go to the lower beam and word index).

    Runs where the model is: on a cuda model each step copies the (N, B) picks out (after
    the embedding's deferred check of the words that went in) and the N*B next words and
    parent rows in (and, once a beam has finished, two (N*B, 1) columns).
    """
    max_len = _check_decode(model, max_len)
    if isinstance(beam, bool) or not isinstance(beam, (int, np.integer)) or beam < 1:
        raise ValueError(f"beam_search: beam must be a positive integer, got {beam!r}")
    B, V = int(beam), model.config.vocab_size
    if B > V:
        raise ValueError(f"beam_search: beam {B} exceeds the vocabulary size {V}")
    was_training = model.training
    model.eval()
    with no_grad():
        device = model.out.weight.device
        never = _never_emitted(V, device)  # (V,)
        end_only = _end_only(V, device)  # (1, V)
        state = model.start(image)
        N = state["h"].shape[0]
        state = _repeat_state(state, _rows(np.repeat(np.arange(N), B), device))  # n*B + b
        start = np.full((N, B), -np.inf)  # (N, B); only beam 0 is live at the start
        start[:, 0] = 0.0
        scores = from_numpy(start).to(device)  # (N, B) float64, where the model is
        seqs = np.full((N, B, 1), START_ID, dtype=np.int64)  # (N, B, L)
        done = np.zeros((N, B), dtype=bool)
        for _ in range(max_len - 1):
            logits, state, _ = model.step(seqs[:, :, -1].reshape(-1), state)  # (N*B, V)
            logp = _word_log_probs(logits, never).double()  # (N*B, V)
            if done.any():
                logp = _extend_finished(logp, done.reshape(-1), end_only)
            cand = (scores.reshape(N, B, 1) + logp.reshape(N, B, V)).reshape(N, B * V)
            scores, picked = cand.topk(B, dim=1)  # (N, B) each, best first, stable
            order = _host(picked)  # (N, B): the one copy out per step
            parent, word = order // V, order % V  # (N, B) each
            seqs = np.concatenate([np.take_along_axis(seqs, parent[:, :, None], axis=1),
                                   word[:, :, None]], axis=2)  # (N, B, L+1)
            done = np.take_along_axis(done, parent, axis=1) | (word == END_ID)
            rows = (np.arange(N)[:, None] * B + parent).reshape(-1)  # (N*B,) parent rows
            state = _repeat_state(state, _rows(rows, device))
            if done.all():
                break
    model.train(was_training)
    return seqs[:, 0]  # (N, L): beams stay sorted by score, beam 0 is the best
