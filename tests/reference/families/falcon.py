"""FalconForCausalLM from a Hugging Face config.json, in float64.

Sources: Almazrouei et al. 2023 ("The Falcon Series of Open Language Models": parallel
attention/MLP, multi-query attention for 7B, grouped KV with two LayerNorms for 40B/180B, RoPE,
GELU MLP, no biases) and the semantics of HF's FalconConfig / modeling_falcon: parameter names,
config defaults, and the layout of the fused query_key_value weight, which is what
FalconAttention._split_heads reads (rows of the (out, in) weight = columns of x @ W^T):

  * multi_query=True, new_decoder_architecture=False (7B): view(B, T, NH + 2, HS):
    rows [q_0 | q_1 | ... | q_{NH-1} | k | v], HS rows each; one key/value head for all queries.
  * new_decoder_architecture=True (40B, 180B): view(B, T, NKV, NH/NKV + 2, HS): NKV groups,
    group g is [q_{g*G} .. q_{g*G+G-1} | k_g | v_g] with G = NH/NKV; query head h = g*G + j
    reads k_g, v_g (so h // G, the same grouping as Llama's repeat_kv).
  * multi_query=False, old architecture (falcon-rw): view(B, T, NH, 3, HS): per head [q_h|k_h|v_h]
    (identical to the new layout with NKV = NH).
  RoPE (rotate_half, rope_theta) is applied to q and k after the split; scale 1/sqrt(HS).
  alibi=True (falcon-rw-1b/7b: no rotary at all): the softmax sees (q.k + alibi) / sqrt(HS)
  (the bias is added BEFORE the scaling, unlike BLOOM), alibi = common.falcon_alibi (BLOOM
  slopes for any head count, key positions from the attention mask's cumsum, bfloat16 product);
  FalconConfig refuses rope_scaling with alibi.

Parameter names (named_parameters()), D = ffn_hidden_size (default 4C):
    transformer.word_embeddings.weight (V, C)
    transformer.h.{i}.self_attention.query_key_value.weight ((NH + 2*NKV)*HS, C)  [.bias if bias]
    transformer.h.{i}.self_attention.dense.weight (C, C)                           [.bias]
    transformer.h.{i}.mlp.dense_h_to_4h.weight (D, C), mlp.dense_4h_to_h.weight (C, D) [.bias]
    7B style:  transformer.h.{i}.input_layernorm.weight/.bias (C)   (LayerNorms always have bias)
    new arch:  transformer.h.{i}.ln_attn.weight/.bias, transformer.h.{i}.ln_mlp.weight/.bias
    sequential (parallel_attn=False): input_layernorm and post_attention_layernorm
    transformer.ln_f.weight/.bias (C)
lm_head.weight (V, C) is tied to transformer.word_embeddings.weight (tie_word_embeddings
defaults to True for Falcon).
Blocks: 7B: out = x + attn(ln(x)) + mlp(ln(x)) with one LayerNorm;
        new arch (num_ln_in_parallel_attn = 2, its default there):
        out = x + attn(ln_attn(x)) + mlp(ln_mlp(x)); with num_ln_in_parallel_attn = 1
        (Falcon2-11B) one input_layernorm as in 7B;
        sequential: h = x + attn(input_layernorm(x)); out = h + mlp(post_attention_layernorm(h)).
"""

import torch
import torch.nn as nn

from .common import Embedding, LayerNorm, Linear, Rope, activation, append_kv, apply_rope
from .common import attend, cache_len, falcon_alibi, merge_heads


class FalconSettings:
    """config.json fields with FalconConfig's defaults for the ones a file may omit."""

    def __init__(self, cfg):
        self.hidden = cfg.get("hidden_size", cfg.get("n_embed", 4544))
        self.n_head = cfg.get("num_attention_heads", 71)
        self.n_layer = cfg.get("num_hidden_layers", 32)
        self.vocab_size = cfg.get("vocab_size", 65024)
        self.eps = cfg.get("layer_norm_epsilon", 1e-5)
        self.new_arch = bool(cfg.get("new_decoder_architecture", False))
        self.multi_query = bool(cfg.get("multi_query", True))
        self.parallel_attn = bool(cfg.get("parallel_attn", True))
        self.bias = bool(cfg.get("bias", False))
        self.tied = bool(cfg.get("tie_word_embeddings", True))
        self.ffn = cfg.get("ffn_hidden_size") or 4 * self.hidden
        self.act = activation(cfg.get("activation", "gelu"))
        self.head_dim = self.hidden // self.n_head
        # Only the new architecture reads num_kv_heads; the old one has one key/value head
        # (multi_query) or NH of them (its fused weight is 3C rows whatever num_kv_heads says).
        if self.new_arch:
            self.n_kv = cfg.get("num_kv_heads") or self.n_head
        else:
            self.n_kv = 1 if self.multi_query else self.n_head
        self.num_ln = cfg.get("num_ln_in_parallel_attn") or (2 if self.new_arch else 1)
        self.alibi = bool(cfg.get("alibi", False))
        if self.alibi and cfg.get("rope_scaling"):
            raise ValueError("rope_scaling is not supported when alibi is true")
        if self.new_arch and not self.parallel_attn:
            raise ValueError("new_decoder_architecture requires parallel_attn")
        if not self.new_arch and self.parallel_attn and self.num_ln == 2:
            # HF builds ln_attn/ln_mlp here but its forward then reads input_layernorm.
            raise ValueError("num_ln_in_parallel_attn 2 needs new_decoder_architecture")
        self.rope = None if self.alibi else Rope(
            self.head_dim, cfg.get("rope_theta", 10000.0), cfg.get("rope_scaling"),
            cfg.get("max_position_embeddings", 2048))


class FalconAttention(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.s = s
        self.query_key_value = Linear(s.hidden, (s.n_head + 2 * s.n_kv) * s.head_dim, s.bias)
        self.dense = Linear(s.n_head * s.head_dim, s.hidden, s.bias)

    def split(self, fused):
        """fused (B, T, (NH + 2 NKV) HS) -> q (B, NH, T, HS), k, v (B, NKV, T, HS)."""
        s = self.s
        B, T, _ = fused.shape
        NH, NKV, HS = s.n_head, s.n_kv, s.head_dim
        if s.new_arch:
            G = NH // NKV
            qkv = fused.view(B, T, NKV, G + 2, HS)
            q = qkv[:, :, :, :G].reshape(B, T, NH, HS)
            k, v = qkv[:, :, :, G], qkv[:, :, :, G + 1]  # (B, T, NKV, HS)
        elif not s.multi_query:
            qkv = fused.view(B, T, NH, 3, HS)
            q, k, v = qkv[:, :, :, 0], qkv[:, :, :, 1], qkv[:, :, :, 2]
        else:
            qkv = fused.view(B, T, NH + 2, HS)
            q, k, v = qkv[:, :, :NH], qkv[:, :, NH:NH + 1], qkv[:, :, NH + 1:]
        return q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)

    def forward(self, x, past, pe):
        """pe: (cos, sin) with RoPE; (key_bias (B, NH, P+T), key_keep (B, P+T) or None) with
        ALiBi."""
        q, k, v = self.split(self.query_key_value(x))
        if not self.s.alibi:
            q, k = apply_rope(q, *pe), apply_rope(k, *pe)
        P = 0 if past is None else past[0].shape[2]
        k, v = append_kv(past, k, v)
        pos = torch.arange(P + x.shape[1])
        if self.s.alibi:
            y = attend(q, k, v, pos[P:], pos, key_bias=pe[0], key_keep=pe[1])
        else:
            y = attend(q, k, v, pos[P:], pos)
        return self.dense(merge_heads(y)), (k, v)


class FalconMLP(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.act = s.act
        self.dense_h_to_4h = Linear(s.hidden, s.ffn, s.bias)
        self.dense_4h_to_h = Linear(s.ffn, s.hidden, s.bias)

    def forward(self, x):
        return self.dense_4h_to_h(self.act(self.dense_h_to_4h(x)))


class FalconDecoderLayer(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.s = s
        self.self_attention = FalconAttention(s)
        self.mlp = FalconMLP(s)
        if not s.parallel_attn:
            self.input_layernorm = LayerNorm(s.hidden, s.eps)
            self.post_attention_layernorm = LayerNorm(s.hidden, s.eps)
        elif s.num_ln == 2:
            self.ln_attn = LayerNorm(s.hidden, s.eps)
            self.ln_mlp = LayerNorm(s.hidden, s.eps)
        else:
            self.input_layernorm = LayerNorm(s.hidden, s.eps)

    def forward(self, x, past, pe):
        if not self.s.parallel_attn:
            a, kv = self.self_attention(self.input_layernorm(x), past, pe)
            h = x + a
            return h + self.mlp(self.post_attention_layernorm(h)), kv
        if self.s.num_ln == 2:
            a_in, m_in = self.ln_attn(x), self.ln_mlp(x)
        else:
            a_in = m_in = self.input_layernorm(x)
        a, kv = self.self_attention(a_in, past, pe)
        return x + a + self.mlp(m_in), kv


class FalconModel(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.s = s
        self.word_embeddings = Embedding(s.vocab_size, s.hidden)
        self.h = nn.ModuleList([FalconDecoderLayer(s) for _ in range(s.n_layer)])
        self.ln_f = LayerNorm(s.hidden, s.eps)

    def forward(self, idx, cache=None, attention_mask=None):
        P = cache_len(cache)
        B, T = idx.shape
        if self.s.alibi:
            mask = torch.ones(B, P + T, dtype=torch.long) if attention_mask is None else attention_mask
            keep = None if attention_mask is None else attention_mask.bool()
            pe = (falcon_alibi(mask, self.s.n_head), keep)
        else:
            if attention_mask is not None:
                raise ValueError("the RoPE Falcon reference takes no attention_mask")
            pe = self.s.rope.cos_sin(P, T)
        x = self.word_embeddings(idx)
        new_cache = []
        for i, layer in enumerate(self.h):
            x, kv = layer(x, cache[i] if cache else None, pe)
            new_cache.append(kv)
        return self.ln_f(x), new_cache


class FalconForCausalLM(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.s = FalconSettings(cfg)
        self.transformer = FalconModel(self.s)
        self.lm_head = None if self.s.tied else Linear(self.s.hidden, self.s.vocab_size, False)
        self.tied = {"lm_head.weight": "transformer.word_embeddings.weight"} if self.s.tied else {}

    def forward(self, idx, cache=None, attention_mask=None):
        """idx (B, T) -> logits (B, T, V), cache (per layer (k, v), (B, NKV, P+T, HS)).
        attention_mask (B, P+T), 1 = real token (ALiBi models only)."""
        x, cache = self.transformer(idx, cache, attention_mask)
        w = self.transformer.word_embeddings.weight if self.lm_head is None else self.lm_head.weight
        return x @ w.t(), cache
