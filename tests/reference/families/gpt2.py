"""GPT2LMHeadModel from a Hugging Face GPT-2 config.json, in float64.

Sources: Radford et al. 2019 ("Language Models are Unsupervised Multitask Learners": pre-norm
blocks, a final LayerNorm, learned positions) and the semantics of HF's GPT2Config /
modeling_gpt2 (Conv1D weights stored (in, out), fused c_attn with q | k | v column blocks,
"gelu_new" = tanh GELU, tied lm_head, scale 1/sqrt(HS)).

Parameter names (named_parameters()):
    transformer.wte.weight (V, C), transformer.wpe.weight (n_positions, C)
    transformer.h.{i}.ln_1.weight/.bias (C)
    transformer.h.{i}.attn.c_attn.weight (C, 3C) .bias (3C)
    transformer.h.{i}.attn.c_proj.weight (C, C) .bias (C)
    transformer.h.{i}.ln_2.weight/.bias (C)
    transformer.h.{i}.mlp.c_fc.weight (C, n_inner) .bias (n_inner)
    transformer.h.{i}.mlp.c_proj.weight (n_inner, C) .bias (C)
    transformer.ln_f.weight/.bias (C)
lm_head.weight is tied to transformer.wte.weight (GPT-2 has no untied variant on the Hub).
Checkpoints saved from GPT2Model (the original openai-community/gpt2 files) use the same names
without "transformer." and may hold the non-parameter buffers h.{i}.attn.bias (the causal mask,
(1, 1, n_positions, n_positions)) and h.{i}.attn.masked_bias (scalar -1e4): loaders ignore them.
"""

import torch
import torch.nn as nn

from .common import Conv1D, Embedding, LayerNorm, activation, append_kv, attend, cache_len
from .common import merge_heads, split_heads


class GPT2Settings:
    """config.json fields with GPT2Config's defaults for the ones a file may omit."""

    def __init__(self, cfg):
        self.n_layer = cfg.get("n_layer", 12)
        self.n_head = cfg.get("n_head", 12)
        self.n_embd = cfg.get("n_embd", 768)
        self.n_positions = cfg.get("n_positions", 1024)
        self.vocab_size = cfg.get("vocab_size", 50257)
        self.n_inner = cfg.get("n_inner") or 4 * self.n_embd
        self.eps = cfg.get("layer_norm_epsilon", 1e-5)
        self.act = activation(cfg.get("activation_function", "gelu_new"))
        if not cfg.get("scale_attn_weights", True) or cfg.get("scale_attn_by_inverse_layer_idx"):
            raise ValueError("only scale_attn_weights=true, scale_attn_by_inverse_layer_idx=false")
        if cfg.get("tie_word_embeddings", True) is not True:
            raise ValueError("GPT-2 with an untied head is not modelled")


class GPT2Attention(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.s = s
        self.c_attn = Conv1D(s.n_embd, 3 * s.n_embd)
        self.c_proj = Conv1D(s.n_embd, s.n_embd)

    def forward(self, x, past):
        C, NH = self.s.n_embd, self.s.n_head
        HS = C // NH
        q, k, v = self.c_attn(x).split(C, dim=-1)  # head h: columns h*HS:(h+1)*HS of each
        q, k, v = (split_heads(t, NH, HS) for t in (q, k, v))
        P = 0 if past is None else past[0].shape[2]
        k, v = append_kv(past, k, v)
        pos = torch.arange(P + x.shape[1])
        y = attend(q, k, v, pos[P:], pos)
        return self.c_proj(merge_heads(y)), (k, v)


class GPT2MLP(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.act = s.act
        self.c_fc = Conv1D(s.n_embd, s.n_inner)
        self.c_proj = Conv1D(s.n_inner, s.n_embd)

    def forward(self, x):
        return self.c_proj(self.act(self.c_fc(x)))


class GPT2Block(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.ln_1 = LayerNorm(s.n_embd, s.eps)
        self.attn = GPT2Attention(s)
        self.ln_2 = LayerNorm(s.n_embd, s.eps)
        self.mlp = GPT2MLP(s)

    def forward(self, x, past):
        a, kv = self.attn(self.ln_1(x), past)
        x = x + a
        return x + self.mlp(self.ln_2(x)), kv


class GPT2Model(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.s = s
        self.wte = Embedding(s.vocab_size, s.n_embd)
        self.wpe = Embedding(s.n_positions, s.n_embd)
        self.h = nn.ModuleList([GPT2Block(s) for _ in range(s.n_layer)])
        self.ln_f = LayerNorm(s.n_embd, s.eps)

    def forward(self, idx, cache=None):
        P = cache_len(cache)
        T = idx.shape[1]
        if P + T > self.s.n_positions:
            raise ValueError(f"{P + T} positions > n_positions {self.s.n_positions}")
        x = self.wte(idx) + self.wpe(torch.arange(P, P + T))
        new_cache = []
        for i, block in enumerate(self.h):
            x, kv = block(x, cache[i] if cache else None)
            new_cache.append(kv)
        return self.ln_f(x), new_cache


class GPT2LMHeadModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.s = GPT2Settings(cfg)
        self.transformer = GPT2Model(self.s)

    def forward(self, idx, cache=None):
        """idx (B, T) -> logits (B, T, V), cache (per layer (k, v), (B, NH, P+T, HS))."""
        x, cache = self.transformer(idx, cache)
        return x @ self.transformer.wte.weight.t(), cache

    # name in this model -> tied tensor it is a view of
    tied = {"lm_head.weight": "transformer.wte.weight"}
