"""The same multimodal model in PyTorch, for the comparison tests and the training benchmark.

``build_torch_model(config)`` returns a ``torch.nn.Module`` whose ``state_dict`` keys and
shapes equal tinymm's ``MultimodalVQA(config).state_dict()``, so
``copy_weights(tinymm_model, torch_model)`` makes the two compute the same function.
PyTorch is optional: it is imported inside these functions only.
"""

from __future__ import annotations

import numpy as np


def build_torch_model(config):
    """A torch.nn.Module mirroring ``MultimodalVQA(config)`` layer for layer."""
    import torch
    from torch import nn

    from tests.oracles.torch_apps import feature_map

    c = config

    class CrossAttentionFusion(nn.Module):
        """Mirror of tinymm.nn.CrossAttentionFusion (tinymm/nn/fusion.py): projected question
        tokens attend over the regions, a residual adds the tokens back, real tokens are
        averaged."""

        def __init__(self, query_dim, context_dim, embed_dim, num_heads):
            super().__init__()
            self.query_proj = nn.Linear(query_dim, embed_dim)
            self.attention = nn.MultiheadAttention(embed_dim, num_heads, batch_first=True,
                                                   kdim=context_dim, vdim=context_dim)

        def forward(self, query, context, query_mask):
            q = self.query_proj(query)  # (N, T, E)
            attended, weights = self.attention(q, context, context, need_weights=True,
                                               average_attn_weights=True)  # (N,T,E), (N,T,R)
            tokens = q + attended  # (N, T, E)
            m = query_mask.to(q.dtype)[:, :, None]  # (N, T, 1)
            w = m / m.sum(dim=1, keepdim=True)  # (N, T, 1), sums to 1 over real tokens
            return (tokens * w).sum(dim=1), (weights * w).sum(dim=1)  # (N, E), (N, R)

    class RegionCounter(nn.Module):
        """Mirror of tinymm.models.multimodal.RegionCounter: sigmoid matches summed over the
        regions, or (patterns > 0) ReLU'd 2x2 patterns of the match maps summed."""

        def __init__(self, query_dim, region_dim, heads, patterns, map_size):
            super().__init__()
            self.heads, self.map_size = heads, map_size
            self.probe = nn.Linear(query_dim, heads * region_dim)
            self.pattern = nn.Conv2d(heads, patterns, 2, padding=1) if patterns else None

        def forward(self, q, regions):
            N, R, C = regions.shape
            probes = self.probe(q).reshape(N, self.heads, C)  # (N, K, C)
            match = torch.sigmoid(regions @ probes.transpose(1, 2) / C ** 0.5)  # (N, R, K)
            if self.pattern is None:
                return match.sum(dim=1) / R ** 0.5  # (N, K)
            maps = match.transpose(1, 2).reshape(N, self.heads, self.map_size, self.map_size)
            return torch.relu(self.pattern(maps)).sum(dim=(2, 3)) / R ** 0.5  # (N, J)

    class GatedFusion(nn.Module):
        def __init__(self, dim_a, dim_b, dim_out):
            super().__init__()
            self.proj_a = nn.Linear(dim_a, dim_out)
            self.proj_b = nn.Linear(dim_b, dim_out)
            self.gate = nn.Linear(dim_a + dim_b, dim_out)

        def forward(self, a, b):
            g = torch.sigmoid(self.gate(torch.cat([a, b], dim=1)))
            return g * torch.tanh(self.proj_a(a)) + (1 - g) * torch.tanh(self.proj_b(b))

    class BilinearFusion(nn.Module):
        def __init__(self, dim_a, dim_b, dim_out, rank):
            super().__init__()
            self.proj_a = nn.Linear(dim_a, rank)
            self.proj_b = nn.Linear(dim_b, rank)
            self.out = nn.Linear(rank, dim_out)

        def forward(self, a, b):
            if c.bilinear_core == "tanh":
                return self.out(torch.tanh(self.proj_a(a)) * torch.tanh(self.proj_b(b)))
            return self.out(self.proj_a(a) * self.proj_b(b))

    class TorchMultimodalVQA(nn.Module):
        def __init__(self):
            super().__init__()
            uses_image = c.fusion != "question_only"
            uses_text = c.fusion != "image_only"
            if uses_image:
                self.conv1 = nn.Conv2d(c.image_channels, c.conv1_channels, 3, padding=1)
                self.conv2 = nn.Conv2d(c.conv1_channels, c.conv2_channels, 3, padding=1)
                if c.batch_norm:
                    self.norm1 = nn.BatchNorm2d(c.conv1_channels)
                    self.norm2 = nn.BatchNorm2d(c.conv2_channels)
            attends = c.fusion in ("attention", "attention_count")
            if not attends and c.fusion != "question_only":
                self.image_fc = nn.Linear(c.conv2_channels * c.regions, c.fused_dim)
            if uses_text:
                self.embedding = nn.Embedding(c.vocab_size, c.embed_dim, padding_idx=0)
                self.lstm = nn.LSTM(c.embed_dim, c.hidden_size, batch_first=True)
            if attends:
                self.fusion = CrossAttentionFusion(c.hidden_size, c.conv2_channels,
                                                   c.fused_dim, c.num_heads)
            if c.fusion == "attention_count":
                self.counter = RegionCounter(c.hidden_size, c.conv2_channels, c.count_heads,
                                             c.count_patterns, c.map_size)
            elif c.fusion == "gated":
                self.fusion = GatedFusion(c.fused_dim, c.hidden_size, c.fused_dim)
            elif c.fusion == "bilinear":
                self.fusion = BilinearFusion(c.fused_dim, c.hidden_size, c.fused_dim,
                                             c.bilinear_rank)
                if c.bilinear_norm:
                    self.norm_v = nn.LayerNorm(c.fused_dim)
                    self.norm_q = nn.LayerNorm(c.hidden_size)
            counts = c.count_patterns or c.count_heads
            width = {"concat": c.fused_dim + c.hidden_size, "question_only": c.hidden_size,
                     "attention_count": c.fused_dim + counts}.get(c.fusion, c.fused_dim)
            self.head_hidden = nn.Linear(width, c.head_hidden)
            self.head_out = nn.Linear(c.head_hidden, c.num_answers)

        def forward(self, image, tokens, lengths):
            N = tokens.shape[0]
            if c.fusion != "question_only":
                fmap = feature_map(self, image, c.early_pool)  # (N, C2, 8, 8)
            if c.fusion != "image_only":
                x = self.embedding(tokens)
                packed = torch.nn.utils.rnn.pack_padded_sequence(
                    x, lengths.cpu(), batch_first=True, enforce_sorted=False)
                out_packed, (h_n, _) = self.lstm(packed)
                outputs, _ = torch.nn.utils.rnn.pad_packed_sequence(
                    out_packed, batch_first=True, total_length=tokens.shape[1])
                q = h_n[0]
            if c.fusion not in ("attention", "attention_count", "question_only"):
                v = self.image_fc(fmap.reshape(N, -1))
            if c.fusion == "concat":
                f = torch.cat([v, q], dim=1)
            elif c.fusion == "multiply":
                f = v * q
            elif c.fusion in ("attention", "attention_count"):
                regions = fmap.reshape(N, c.conv2_channels, c.regions).permute(0, 2, 1)
                mask = torch.arange(tokens.shape[1])[None, :] < lengths[:, None]
                f, self.last_attention = self.fusion(outputs, regions, mask)
                if c.fusion == "attention_count":
                    f = torch.cat([f, self.counter(q, regions)], dim=1)
            elif c.fusion == "bilinear" and c.bilinear_norm:
                f = self.fusion(self.norm_v(v), self.norm_q(q))
            elif c.fusion in ("gated", "bilinear"):
                f = self.fusion(v, q)
            elif c.fusion == "image_only":
                f = v
            else:
                f = q
            return self.head_out(torch.relu(self.head_hidden(f)))

    return TorchMultimodalVQA()


def copy_weights(tinymm_model, torch_model) -> None:
    """Copy every tinymm parameter into the torch model (same names and shapes)."""
    import torch

    ours = tinymm_model.state_dict()
    theirs = torch_model.state_dict()
    if set(ours) != set(theirs):
        raise ValueError(f"copy_weights: parameter names differ: only in tinymm "
                         f"{sorted(set(ours) - set(theirs))}, only in torch "
                         f"{sorted(set(theirs) - set(ours))}")
    with torch.no_grad():
        for name, value in ours.items():
            if tuple(theirs[name].shape) != value.shape:
                raise ValueError(f"copy_weights: {name} is {value.shape} in tinymm, "
                                 f"{tuple(theirs[name].shape)} in torch")
            # reshape: np.ascontiguousarray turns a 0-d array (a scalar parameter) into 1-d
            theirs[name].copy_(torch.from_numpy(np.ascontiguousarray(value).reshape(value.shape)))
    torch_model.load_state_dict(theirs)
