"""LlamaForCausalLM and MistralForCausalLM from a Hugging Face config.json, in float64.

Sources: Touvron et al. 2023 (LLaMA: pre-norm RMSNorm, SwiGLU MLP from Shazeer 2020, RoPE),
Llama 2 (grouped-query attention, Ainslie et al. 2023), Llama 3 / 3.1 (rope_theta 500000 and
the "llama3" frequency scaling), Jiang et al. 2023 (Mistral 7B: sliding-window attention), and
the semantics of HF's LlamaConfig / MistralConfig and modeling_llama / modeling_mistral
(parameter names, rotate_half RoPE, repeat_kv head grouping, config defaults).

Parameter names (named_parameters()), HS = head_dim (default C / NH):
    model.embed_tokens.weight (V, C)
    model.layers.{i}.input_layernorm.weight (C)
    model.layers.{i}.self_attn.q_proj.weight (NH*HS, C)  [.bias (NH*HS) if attention_bias]
    model.layers.{i}.self_attn.k_proj.weight (NKV*HS, C) [.bias]
    model.layers.{i}.self_attn.v_proj.weight (NKV*HS, C) [.bias]
    model.layers.{i}.self_attn.o_proj.weight (C, NH*HS)  [.bias (C) if attention_bias]
    model.layers.{i}.post_attention_layernorm.weight (C)
    model.layers.{i}.mlp.gate_proj.weight (I, C), up_proj (I, C), down_proj (C, I)
                                                                   [.bias if mlp_bias]
    model.norm.weight (C)
    lm_head.weight (V, C) unless tie_word_embeddings (then it is model.embed_tokens.weight)
Block: h = x + o_proj(attn(rope(q), rope(k), v)) of input_layernorm(x);
       out = h + down_proj(silu(gate_proj(n)) * up_proj(n)), n = post_attention_layernorm(h).
Query head h uses key/value head h // (NH / NKV). Scale 1/sqrt(HS).
"""

import torch
import torch.nn as nn

from .common import Embedding, Linear, RMSNorm, Rope, activation, append_kv, apply_rope
from .common import attend, cache_len, merge_heads, split_heads

# Defaults of LlamaConfig / MistralConfig for fields a config.json may omit. Note both default
# tie_word_embeddings to False (PretrainedConfig's own default is True).
DEFAULTS = {
    "llama": dict(num_key_value_heads=None, rms_norm_eps=1e-6, rope_theta=10000.0,
                  rope_scaling=None, attention_bias=False, mlp_bias=False,
                  tie_word_embeddings=False, max_position_embeddings=2048, hidden_act="silu",
                  sliding_window=None),
    "mistral": dict(num_key_value_heads=8, rms_norm_eps=1e-6, rope_theta=10000.0,
                    rope_scaling=None, attention_bias=False, mlp_bias=False,
                    tie_word_embeddings=False, max_position_embeddings=4096 * 32,
                    hidden_act="silu", sliding_window=4096),
}


class LlamaSettings:
    def __init__(self, cfg):
        kind = cfg.get("model_type", "llama")
        if kind not in DEFAULTS:
            raise ValueError(f"model_type {kind!r} is not llama or mistral")
        d = dict(DEFAULTS[kind])

        def get(key):
            return cfg.get(key, d.get(key))

        self.model_type = kind
        self.hidden = cfg["hidden_size"]
        self.intermediate = cfg["intermediate_size"]
        self.n_layer = cfg["num_hidden_layers"]
        self.n_head = cfg["num_attention_heads"]
        self.n_kv = get("num_key_value_heads") or self.n_head  # None -> MHA
        self.head_dim = cfg.get("head_dim") or self.hidden // self.n_head
        self.vocab_size = cfg["vocab_size"]
        self.eps = get("rms_norm_eps")
        self.tied = bool(get("tie_word_embeddings"))
        # Mistral has no attention_bias / mlp_bias options: its projections never have biases.
        self.attention_bias = bool(get("attention_bias")) if kind == "llama" else False
        self.mlp_bias = bool(get("mlp_bias")) if kind == "llama" else False
        self.act = activation(get("hidden_act"))
        self.window = get("sliding_window") if kind == "mistral" else None
        # pretraining_tp > 1 only splits HF's matmuls into slices: the same function.
        self.rope = Rope(int(self.head_dim * cfg.get("partial_rotary_factor", 1.0)),
                         get("rope_theta"), get("rope_scaling"), get("max_position_embeddings"))
        if self.rope.dim != self.head_dim:
            raise ValueError("partial rotary embeddings are not modelled")


class LlamaAttention(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.s = s
        C, NH, NKV, HS = s.hidden, s.n_head, s.n_kv, s.head_dim
        self.q_proj = Linear(C, NH * HS, s.attention_bias)
        self.k_proj = Linear(C, NKV * HS, s.attention_bias)
        self.v_proj = Linear(C, NKV * HS, s.attention_bias)
        self.o_proj = Linear(NH * HS, C, s.attention_bias)

    def forward(self, x, past, cos, sin):
        s = self.s
        q = apply_rope(split_heads(self.q_proj(x), s.n_head, s.head_dim), cos, sin)
        k = apply_rope(split_heads(self.k_proj(x), s.n_kv, s.head_dim), cos, sin)
        v = split_heads(self.v_proj(x), s.n_kv, s.head_dim)
        P = 0 if past is None else past[0].shape[2]
        k, v = append_kv(past, k, v)
        pos = torch.arange(P + x.shape[1])
        y = attend(q, k, v, pos[P:], pos, window=s.window)
        return self.o_proj(merge_heads(y)), (k, v)


class LlamaMLP(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.act = s.act
        self.gate_proj = Linear(s.hidden, s.intermediate, s.mlp_bias)
        self.up_proj = Linear(s.hidden, s.intermediate, s.mlp_bias)
        self.down_proj = Linear(s.intermediate, s.hidden, s.mlp_bias)

    def forward(self, x):
        return self.down_proj(self.act(self.gate_proj(x)) * self.up_proj(x))


class LlamaDecoderLayer(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.self_attn = LlamaAttention(s)
        self.mlp = LlamaMLP(s)
        self.input_layernorm = RMSNorm(s.hidden, s.eps)
        self.post_attention_layernorm = RMSNorm(s.hidden, s.eps)

    def forward(self, x, past, cos, sin):
        a, kv = self.self_attn(self.input_layernorm(x), past, cos, sin)
        x = x + a
        return x + self.mlp(self.post_attention_layernorm(x)), kv


class LlamaModel(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.s = s
        self.embed_tokens = Embedding(s.vocab_size, s.hidden)
        self.layers = nn.ModuleList([LlamaDecoderLayer(s) for _ in range(s.n_layer)])
        self.norm = RMSNorm(s.hidden, s.eps)

    def forward(self, idx, cache=None):
        P = cache_len(cache)
        # Dynamic NTK: the frequencies of this forward follow its last position (P + T), and
        # cached keys keep the rotation they were stored with (HF's behaviour with a cache).
        cos, sin = self.s.rope.cos_sin(P, idx.shape[1])
        x = self.embed_tokens(idx)
        new_cache = []
        for i, layer in enumerate(self.layers):
            x, kv = layer(x, cache[i] if cache else None, cos, sin)
            new_cache.append(kv)
        return self.norm(x), new_cache


class LlamaForCausalLM(nn.Module):
    """Also MistralForCausalLM: the same modules, names and forward, plus the sliding window."""

    def __init__(self, cfg):
        super().__init__()
        self.s = LlamaSettings(cfg)
        self.model = LlamaModel(self.s)
        self.lm_head = None if self.s.tied else Linear(self.s.hidden, self.s.vocab_size, False)
        self.tied = {"lm_head.weight": "model.embed_tokens.weight"} if self.s.tied else {}

    def forward(self, idx, cache=None):
        """idx (B, T) -> logits (B, T, V), cache (per layer (k, v), (B, NKV, P+T, HS))."""
        x, cache = self.model(idx, cache)
        w = self.model.embed_tokens.weight if self.lm_head is None else self.lm_head.weight
        return x @ w.t(), cache
