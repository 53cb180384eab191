"""The retrieval dual encoder and the captioners in PyTorch, for the comparison tests.

``build_torch_dual_encoder(config)`` and ``build_torch_captioner(config)`` return
``torch.nn.Module``s whose ``state_dict`` keys and shapes equal tinymm's ``DualEncoder`` and
``Captioner``, so ``tests.oracles.torch_model.copy_weights`` makes them compute the same
functions. PyTorch is optional: it is imported inside these functions only.
"""

from __future__ import annotations

import math


def _towers(module, c, extra_inputs: int = 0) -> None:
    from torch import nn

    module.conv1 = nn.Conv2d(c.image_channels, c.conv1_channels, 3, padding=1)
    module.conv2 = nn.Conv2d(c.conv1_channels, c.conv2_channels, 3, padding=1)
    module.embedding = nn.Embedding(c.vocab_size, c.embed_dim, padding_idx=0)
    module.lstm = nn.LSTM(c.embed_dim + extra_inputs, c.hidden_size, batch_first=True)


def feature_map(module, image, early_pool: bool = False):
    """ImageTower.encode_image on ``module``'s conv1, conv2 (and norm1, norm2 if it has them)."""
    import torch
    import torch.nn.functional as F

    def conv(x, k):  # conv + ReLU, with BatchNorm2d between them when the model has one
        x = getattr(module, f"conv{k}")(x)
        norm = getattr(module, f"norm{k}", None)
        return torch.relu(x if norm is None else norm(x))

    h = conv(image, 1)
    if early_pool:  # conv1 -> pool -> conv2 -> pool
        return F.max_pool2d(conv(F.max_pool2d(h, 2), 2), 2)  # (N, C2, 8, 8)
    return F.max_pool2d(F.max_pool2d(conv(h, 2), 2), 2)  # (N, C2, 8, 8)


def build_torch_dual_encoder(config):
    """A torch.nn.Module mirroring ``DualEncoder(config)``: forward -> (u, w, logit_scale)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    c = config

    class TorchDualEncoder(nn.Module):
        def __init__(self):
            super().__init__()
            _towers(self, c)
            self.image_fc = nn.Linear(c.conv2_channels * c.regions, c.image_dim)
            self.image_proj = nn.Linear(c.image_dim, c.joint_dim)
            self.text_proj = nn.Linear(c.hidden_size, c.joint_dim)
            self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / c.init_temperature)))

        def forward(self, image, tokens, lengths):
            fmap = feature_map(self, image)
            u = self.image_proj(torch.relu(self.image_fc(fmap.flatten(1))))
            packed = nn.utils.rnn.pack_padded_sequence(self.embedding(tokens), lengths.cpu(),
                                                       batch_first=True, enforce_sorted=False)
            _, (h_n, _) = self.lstm(packed)
            w = self.text_proj(h_n[0])
            scale = self.logit_scale.clamp(max=c.max_logit_scale)
            return F.normalize(u, dim=1), F.normalize(w, dim=1), scale

    return TorchDualEncoder()


def torch_info_nce(u, w, logit_scale):
    import torch
    import torch.nn.functional as F

    S = logit_scale.exp() * u @ w.T
    target = torch.arange(u.shape[0])
    return (F.cross_entropy(S, target) + F.cross_entropy(S.T, target)) / 2


def build_torch_captioner(config):
    """A torch.nn.Module mirroring ``Captioner(config)``: forward(image, tokens) -> logits
    (N, T-1, V) under teacher forcing, and ``last_attention`` (N, T-1, R) with attention."""
    import torch
    from torch import nn

    c = config
    context = c.conv2_channels if c.attention else 0
    image_input = getattr(c, "image_input", False)
    region_positions = getattr(c, "region_positions", False)
    word_loss = getattr(c, "word_loss", 0.0)
    slot_loss = getattr(c, "slot_loss", 0.0)
    map_conv = getattr(c, "map_conv", False)
    context_gate = c.attention and getattr(c, "context_gate", False)

    class TorchCaptioner(nn.Module):
        def __init__(self):
            super().__init__()
            _towers(self, c, extra_inputs=context + (c.image_dim if image_input else 0))
            self.image_fc = nn.Linear(c.conv2_channels * c.regions, c.image_dim)
            self.init_h = nn.Linear(c.image_dim, c.hidden_size)
            self.init_c = nn.Linear(c.image_dim, c.hidden_size)
            if c.attention:
                self.att_query = nn.Linear(c.hidden_size, c.attention_dim)
                self.att_key = nn.Linear(c.conv2_channels, c.attention_dim)
                if region_positions:
                    self.region_pos = nn.Embedding(c.regions, c.conv2_channels)
            self.out = nn.Linear(c.hidden_size + context, c.vocab_size)
            if word_loss > 0:
                self.word_head = nn.Linear(c.conv2_channels, c.vocab_size)
            if getattr(c, "batch_norm", False):
                self.norm1 = nn.BatchNorm2d(c.conv1_channels)
                self.norm2 = nn.BatchNorm2d(c.conv2_channels)
            if map_conv:
                self.conv3 = nn.Conv2d(c.conv2_channels, c.conv2_channels, 3, padding=1)
            if slot_loss > 0:
                self.slot_head = nn.Linear(c.image_dim, 4 * 11)
            if context_gate:
                self.att_gate = nn.Linear(c.hidden_size, 1)

        def forward(self, image, tokens, with_words=False, with_aux=False):
            """Logits; with_words: (logits, word logits); with_aux: (logits, dict of "words",
            "slots" (N, 4, 11), "alphas" (N, T-1, R) as the model config has them)."""
            fmap = feature_map(self, image, getattr(c, "early_pool", False))
            if map_conv:
                fmap = torch.relu(self.conv3(fmap))
            v = torch.relu(self.image_fc(fmap.flatten(1)))
            logits = self._decode(fmap, v, tokens)
            if not (with_words or with_aux):
                return logits
            cells = fmap.reshape(fmap.shape[0], c.conv2_channels, -1).permute(0, 2, 1)
            if with_words:
                return logits, self.word_head(cells).amax(dim=1)
            aux = {"alphas": self.last_attention} if c.attention else {}
            if word_loss > 0:
                aux["words"] = self.word_head(cells).amax(dim=1)
            if slot_loss > 0:
                aux["slots"] = self.slot_head(v).reshape(-1, 4, 11)
            return logits, aux

        def _decode(self, fmap, v, tokens):
            N = fmap.shape[0]
            h, cell = self.init_h(v), self.init_c(v)
            inputs = tokens[:, :-1]
            if not c.attention:
                x = self.embedding(inputs)
                if image_input:
                    x = torch.cat([x, v[:, None].expand(-1, inputs.shape[1], -1)], dim=2)
                out, _ = self.lstm(x, (h[None], cell[None]))
                return self.out(out)
            regions = fmap.reshape(N, c.conv2_channels, -1).permute(0, 2, 1)  # (N, R, C2)
            if region_positions:
                regions = regions + self.region_pos.weight
            keys = self.att_key(regions)
            logits, alphas = [], []
            for t in range(inputs.shape[1]):
                scores = (keys @ self.att_query(h)[:, :, None])[:, :, 0]
                alpha = torch.softmax(scores / math.sqrt(c.attention_dim), dim=1)
                z = (alpha[:, None, :] @ regions)[:, 0]
                if context_gate:
                    z = torch.sigmoid(self.att_gate(h)) * z
                x = torch.cat([self.embedding(inputs[:, t]), z] + ([v] if image_input else []),
                              dim=1)
                _, (h_n, c_n) = self.lstm(x[:, None], (h[None], cell[None]))
                h, cell = h_n[0], c_n[0]
                logits.append(self.out(torch.cat([h, z], dim=1)))
                alphas.append(alpha)
            self.last_attention = torch.stack(alphas, dim=1)
            return torch.stack(logits, dim=1)

    return TorchCaptioner()


def torch_captioning_loss(config, logits, aux, batch, tokens):
    """The captioning task's loss in PyTorch: next-word cross-entropy over real tokens plus
    the auxiliary terms ``config`` turns on (tinymm.models.captioning.auxiliary_loss)."""
    import torch
    import torch.nn.functional as F

    targets = tokens[:, 1:]
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                           ignore_index=0)
    if getattr(config, "word_loss", 0.0) > 0:
        loss = loss + config.word_loss * F.binary_cross_entropy_with_logits(
            aux["words"], torch.as_tensor(batch["words"]))
    if getattr(config, "slot_loss", 0.0) > 0:
        slots = torch.as_tensor(batch["slots"])
        colour = torch.where(slots[..., 0] < 0, 6, slots[..., 0]).reshape(-1)
        shape = torch.where(slots[..., 1] < 0, 3, slots[..., 1]).reshape(-1)
        flat = aux["slots"].reshape(-1, 11)
        loss = loss + config.slot_loss * (F.cross_entropy(flat[:, :7], colour)
                                          + F.cross_entropy(flat[:, 7:], shape))
    if config.attention and getattr(config, "coverage", 0.0) > 0:
        real = (targets != 0).to(aux["alphas"].dtype)[:, :, None]  # (N, T-1, 1)
        total = (aux["alphas"] * real).sum(dim=1)  # (N, R)
        loss = loss + config.coverage * ((1 - total) ** 2).sum(dim=1).mean()
    return loss
