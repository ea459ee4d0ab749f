"""DETR-style post-norm decoder layer (cross-attention -> self-attention -> FFN), batch-first.

Parameter names match `torch.nn.MultiheadAttention` inside the reference layer (`in_proj_weight`,
`in_proj_bias`, `out_proj`), so published weights load as they are. The attention is our own so that the
keys and values of a fixed memory (the source's appearance maps) can be projected once and reused for every
driving frame.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Attention(nn.Module):
    def __init__(self, dim: int, n_heads: int):
        super().__init__()
        self.n_heads = n_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:  # [B, L, D] -> [B, heads, L, D/heads]
        b, n, d = x.shape
        return x.view(b, n, self.n_heads, d // self.n_heads).transpose(1, 2)

    def project_kv(self, key: torch.Tensor, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Key/value projections of a memory, split into heads; cacheable when the memory is fixed."""
        _, wk, wv = self.in_proj_weight.chunk(3)
        _, bk, bv = self.in_proj_bias.chunk(3)
        return self._heads(F.linear(key, wk, bk)), self._heads(F.linear(value, wv, bv))

    def attend(self, query: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """query [B, Lq, D]; k, v [B or 1, heads, Lk, D/heads] (a batch of 1 broadcasts)."""
        wq, _, _ = self.in_proj_weight.chunk(3)
        bq, _, _ = self.in_proj_bias.chunk(3)
        q = self._heads(F.linear(query, wq, bq))
        if k.shape[0] != q.shape[0]:
            k, v = k.expand(q.shape[0], -1, -1, -1), v.expand(q.shape[0], -1, -1, -1)
        out = F.scaled_dot_product_attention(q, k, v)
        b, h, n, dh = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, n, h * dh))

    def forward(self, query, key, value):
        return self.attend(query, *self.project_kv(key, value))


class TransformerDecoderLayer(nn.Module):
    """Queries attend to a memory (keys from `memory_k`, values from `memory_v`), then to themselves."""

    def __init__(self, dim: int = 512, n_heads: int = 8, ffn_dim: int = 512):
        super().__init__()
        self.self_attn = Attention(dim, n_heads)
        self.multihead_attn = Attention(dim, n_heads)
        self.linear1 = nn.Linear(dim, ffn_dim)
        self.linear2 = nn.Linear(ffn_dim, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.norm3 = nn.LayerNorm(dim)

    def memory_kv(self, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.multihead_attn.project_kv(memory, memory)

    def forward_kv(self, query: torch.Tensor, kv: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """The layer with a pre-projected memory (see `memory_kv`)."""
        x = self.norm1(query + self.multihead_attn.attend(query, *kv))
        x = self.norm2(x + self.self_attn(x, x, x))
        return self.norm3(x + self.linear2(F.relu(self.linear1(x))))

    def forward(self, query: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """query [B, Lq, D], memory [B or 1, Lm, D] -> [B, Lq, D]."""
        return self.forward_kv(query, self.memory_kv(memory))
