"""Self-checks of the family references: each re-derives a result a second, independent way and
fails loudly when the two disagree. They guard the references against their own mistakes
(a wrong head grouping, fused-weight layout, RoPE pairing, mask or scaling formula).

  * pieces: GELU (both), LayerNorm, RMSNorm, RoPE (rotate_half vs complex rotation, relative
    position invariance), the linear / dynamic / llama3 frequency formulas recomputed with
    scalar math, the causal-LM loss;
  * every causal LM: the KV-free forward equals prompt-then-one-token-at-a-time with the cache
    (dynamic NTK: only while the sequence stays within max_position_embeddings, beyond that
    HF's cached keys keep their old rotation, and the check asserts they differ);
  * Llama / Mistral: a per-head loop implementation with complex-number RoPE and an explicit
    sliding-window test; GQA weights expanded to NKV = NH give the same logits;
  * Falcon: a per-head loop implementation that finds q/k/v rows of the fused weight by index
    arithmetic; 7B-style MQA equals the new architecture with NKV = 1 and ln_attn = ln_mlp;
    the new architecture with NKV = NH equals the old one with multi_query = False;
  * GPT-2: equals tests/reference/gpt_reference.py's GPT (already checked against llm.c's
    conventions) with the same weights;
  * BERT: the encoder equals a stack of torch.nn.TransformerEncoderLayer (post-norm, exact
    GELU); padded keys change nothing (each row run alone, unpadded);
  * gradients: a central finite difference of the loss along a random direction.
"""

import math
import os
import sys

import torch
import torch.nn.functional as F

from . import common
from .common import rope_inv_freq
from .falcon import FalconForCausalLM
from .llama import LlamaForCausalLM


def check(cond, what):
    if not cond:
        raise AssertionError(f"self-check failed: {what}")


def close(a, b, what, atol=1e-10, rtol=1e-10):
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    err = float((a - b).abs().max()) if a.numel() else 0.0
    check(a.shape == b.shape and torch.allclose(a, b, rtol=rtol, atol=atol),
          f"{what}: max abs difference {err:.3e}")


# ----------------------------------------------------------------------------------------------
# Pieces


def check_pieces():
    x = torch.linspace(-6, 6, 1001, dtype=torch.float64)
    close(common.gelu_exact(x), 0.5 * x * (1 + torch.erf(x / math.sqrt(2))), "exact GELU")
    close(common.gelu_tanh(x),
          0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))), "tanh GELU")

    g = torch.Generator().manual_seed(7)
    z = torch.randn(3, 5, 16, generator=g, dtype=torch.float64)
    w = torch.randn(16, generator=g, dtype=torch.float64)
    b = torch.randn(16, generator=g, dtype=torch.float64)
    ln = common.LayerNorm(16, 1e-5)
    rms = common.RMSNorm(16, 1e-6)
    with torch.no_grad():
        ln.weight.copy_(w)
        ln.bias.copy_(b)
        rms.weight.copy_(w)
        mu = z.mean(-1, keepdim=True)
        var = ((z - mu) ** 2).mean(-1, keepdim=True)
        close(ln(z), (z - mu) / torch.sqrt(var + 1e-5) * w + b, "LayerNorm")
        close(rms(z), z / torch.sqrt((z * z).mean(-1, keepdim=True) + 1e-6) * w, "RMSNorm")

    # RoPE: rotate_half pairs dim i with i + HS/2; as a complex rotation of x_i + i x_{i+HS/2}.
    HS = 8
    inv = rope_inv_freq(HS, 10000.0)
    close(inv, torch.tensor([10000.0 ** (-2 * i / HS) for i in range(HS // 2)],
                            dtype=torch.float64), "default inv_freq")
    pos = torch.arange(12)
    cos, sin = common.rope_cos_sin(inv, pos)
    q = torch.randn(1, 1, 12, HS, generator=g, dtype=torch.float64)
    k = torch.randn(1, 1, 12, HS, generator=g, dtype=torch.float64)
    zq = torch.complex(q[..., :HS // 2], q[..., HS // 2:]) * torch.polar(
        torch.ones(12, HS // 2, dtype=torch.float64), pos[:, None] * inv[None, :])
    close(common.apply_rope(q, cos, sin), torch.cat([zq.real, zq.imag], -1), "rotate_half RoPE")
    # Scores depend on positions only through their difference: shift both by 5.
    cos5, sin5 = common.rope_cos_sin(inv, pos + 5)
    s0 = common.apply_rope(q, cos, sin) @ common.apply_rope(k, cos, sin).transpose(-1, -2)
    s5 = common.apply_rope(q, cos5, sin5) @ common.apply_rope(k, cos5, sin5).transpose(-1, -2)
    close(s0, s5, "RoPE relative-position invariance")

    # linear: positions / factor.
    lin = rope_inv_freq(HS, 10000.0, {"type": "linear", "factor": 4.0})
    close(common.rope_cos_sin(lin, pos)[0], common.rope_cos_sin(inv, pos / 4.0)[0], "linear RoPE")

    # dynamic: unchanged up to max_position_embeddings, then a larger base.
    dyn = {"rope_type": "dynamic", "factor": 2.0}
    close(rope_inv_freq(HS, 10000.0, dyn, 8, seq_len=8), inv, "dynamic RoPE within max_pos")
    base = 10000.0 * (2.0 * 12 / 8 - 1.0) ** (HS / (HS - 2))
    close(rope_inv_freq(HS, 10000.0, dyn, 8, seq_len=12),
          torch.tensor([base ** (-2 * i / HS) for i in range(HS // 2)], dtype=torch.float64),
          "dynamic RoPE base")

    # llama3, per frequency with scalar math.
    sc = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
          "original_max_position_embeddings": 1024}
    got = rope_inv_freq(HS, 10000.0, sc)
    regimes = set()
    for i in range(HS // 2):
        f = 10000.0 ** (-2 * i / HS)
        wl = 2 * math.pi / f
        if wl < 1024 / 4.0:
            want, r = f, "high"
        elif wl > 1024 / 1.0:
            want, r = f / 8.0, "low"
        else:
            s = (1024 / wl - 1.0) / (4.0 - 1.0)
            want, r = (1 - s) * f / 8.0 + s * f, "medium"
        regimes.add(r)
        check(abs(float(got[i]) - want) <= 1e-15 * max(1.0, want), f"llama3 inv_freq[{i}]")
    check(regimes == {"high", "medium", "low"}, f"llama3 case covers all bands: {regimes}")

    # yarn, per frequency with scalar math: theta 100, HS 8, original context 64, betas 16/2:
    # d(r) = 8 ln(64 / (2 pi r)) / (2 ln 100); low = max(floor(d(16)), 0) = 0,
    # high = ceil(d(2)) = 2: dim 0 keeps its frequency, dim 1 is half way, 2 and 3 are / factor.
    ya = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 64,
          "beta_fast": 16, "beta_slow": 2}
    got = rope_inv_freq(HS, 100.0, ya, 256)  # factor becomes 256 / 64 = 4
    d = lambda r: HS * math.log(64 / (2 * math.pi * r)) / (2 * math.log(100.0))  # noqa: E731
    low, high = max(math.floor(d(16)), 0), min(math.ceil(d(2)), HS - 1)
    check((low, high) == (0, 2), f"yarn case bounds {low}, {high}")
    for i in range(HS // 2):
        f = 100.0 ** (-2 * i / HS)
        ramp = min(max((i - low) / (high - low), 0.0), 1.0)
        want = f * (1 - ramp) + f / 4.0 * ramp
        check(abs(float(got[i]) - want) <= 1e-15 * max(1.0, want), f"yarn inv_freq[{i}]")
    ya = dict(ya, beta_fast=None, beta_slow=None)
    # The factor comes from max_position_embeddings / original when the original is given.
    close(rope_inv_freq(HS, 10000.0, ya, 256),
          rope_inv_freq(HS, 10000.0, {"type": "yarn", "factor": 9.0, "beta_fast": 32,
                                      "original_max_position_embeddings": 64}, 256),
          "yarn factor from the context ratio, betas 32/1 by default")
    af = common.rope_attention_factor
    close(torch.tensor(af(ya, 256)), torch.tensor(0.1 * math.log(4.0) + 1), "yarn attention factor")
    close(torch.tensor(af({"type": "yarn", "factor": 4.0, "mscale": 0.5, "mscale_all_dim": 1.0},
                          16)),
          torch.tensor((0.05 * math.log(4.0) + 1) / (0.1 * math.log(4.0) + 1)), "yarn mscale ratio")
    check(af({"type": "yarn", "factor": 4.0, "attention_factor": 0.75}, 16) == 0.75,
          "yarn explicit attention factor")

    # ALiBi slopes: 8 heads 2^-1..2^-8; 6 heads 2^-2, 2^-4, 2^-6, 2^-8 then 2^-1, 2^-3;
    # 12 heads 2^-1..2^-8 then 2^-0.5, 2^-1.5, 2^-2.5, 2^-3.5.
    for n, exps in ((8, [1, 2, 3, 4, 5, 6, 7, 8]), (6, [2, 4, 6, 8, 1, 3]),
                    (12, [1, 2, 3, 4, 5, 6, 7, 8, 0.5, 1.5, 2.5, 3.5])):
        close(common.alibi_slopes(n).double(),
              torch.tensor([2.0 ** -e for e in exps], dtype=torch.float64), f"ALiBi slopes {n}",
              rtol=1e-6, atol=0)  # float32 powers
    # Falcon's biases: bf16(bf16(slope) * position), positions counting real keys only.
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 0, 1, 1, 1]])
    bias = common.falcon_alibi(mask, 12)
    s9 = float(torch.tensor(2.0 ** -0.5).bfloat16())  # 0.70703125
    check(s9 == 0.70703125, "bf16 of 2^-0.5")
    want = float(torch.tensor(s9 * 3).bfloat16())
    check(float(bias[0, 8, 3]) == want and float(bias[1, 8, 4]) == want,
          "ALiBi bias of the 4th real key")
    check(float(bias[1, 0, 2]) == 0.5 and float(bias[1, 0, 1]) == 0.0,
          "ALiBi positions skip masked keys")

    logits = torch.randn(2, 6, 11, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 11, (2, 6), generator=g)
    labels[0, 3] = -100
    lp = torch.log_softmax(logits[:, :-1], -1)
    tgt = labels[:, 1:]
    keep = tgt != -100
    nll = -lp[keep].gather(-1, tgt[keep][:, None]).squeeze(-1)
    close(common.causal_lm_loss(logits, labels), nll.mean(), "causal-LM loss")


# ----------------------------------------------------------------------------------------------
# Causal LMs


def check_cache(model, ids, name, max_pos=None):
    """KV-free forward == prompt forward + one token at a time through the cache."""
    with torch.no_grad():
        full, _ = model(ids)
        logits, cache = model(ids[:, :3])
        parts = [logits]
        for t in range(3, ids.shape[1]):
            logits, cache = model(ids[:, t:t + 1], cache)
            parts.append(logits)
        inc = torch.cat(parts, dim=1)
    if max_pos is None or ids.shape[1] <= max_pos:
        close(inc, full, f"{name}: cached decoding equals the full forward", atol=1e-9)
    else:
        check(float((inc - full).abs().max()) > 1e-6,
              f"{name}: dynamic NTK past max_position_embeddings should differ with a cache")


def naive_llama_logits(model, ids):
    """Per-head loops, complex RoPE, explicit window: an independent Llama/Mistral forward."""
    s = model.s
    W = {n: p.detach() for n, p in model.named_parameters()}
    B, T = ids.shape
    HS, G, half = s.head_dim, s.n_head // s.n_kv, s.head_dim // 2
    inv = rope_inv_freq(HS, s.rope.theta, s.rope.scaling, s.rope.max_pos, seq_len=T)
    # yarn scales cos and sin: a complex rotation of that magnitude.
    mag = common.rope_attention_factor(s.rope.scaling, s.rope.max_pos)
    rot = torch.polar(torch.full((T, half), mag, dtype=torch.float64),
                      torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :])

    def rms(x, w):
        return x / torch.sqrt((x * x).mean(-1, keepdim=True) + s.eps) * w

    def lin(x, pre):
        y = x @ W[pre + ".weight"].t()
        return y + W[pre + ".bias"] if pre + ".bias" in W else y

    def rope(x):  # (T, HS)
        z = torch.complex(x[:, :half], x[:, half:]) * rot
        return torch.cat([z.real, z.imag], dim=-1)

    x = W["model.embed_tokens.weight"][ids]
    for i in range(s.n_layer):
        p = f"model.layers.{i}."
        h = rms(x, W[p + "input_layernorm.weight"])
        q, k, v = (lin(h, p + f"self_attn.{m}_proj") for m in "qkv")
        out = torch.zeros(B, T, s.n_head * HS, dtype=torch.float64)
        for b in range(B):
            for hd in range(s.n_head):
                kv = hd // G
                qh = rope(q[b, :, hd * HS:(hd + 1) * HS])
                kh = rope(k[b, :, kv * HS:(kv + 1) * HS])
                vh = v[b, :, kv * HS:(kv + 1) * HS]
                sc = qh @ kh.t() / math.sqrt(HS)
                for qi in range(T):
                    for kj in range(T):
                        if kj > qi or (s.window is not None and qi - kj >= s.window):
                            sc[qi, kj] = float("-inf")
                out[b, :, hd * HS:(hd + 1) * HS] = torch.softmax(sc, -1) @ vh
        x = x + lin(out, p + "self_attn.o_proj")
        h = rms(x, W[p + "post_attention_layernorm.weight"])
        x = x + lin(F.silu(lin(h, p + "mlp.gate_proj")) * lin(h, p + "mlp.up_proj"),
                    p + "mlp.down_proj")
    x = rms(x, W["model.norm.weight"])
    head = W.get("lm_head.weight", W["model.embed_tokens.weight"])
    return x @ head.t()


def expand_gqa(model, cfg):
    """The same Llama with NKV = NH: k/v rows of KV head g copied to query heads g*G .. g*G+G-1."""
    s = model.s
    G = s.n_head // s.n_kv
    mha_cfg = dict(cfg, num_key_value_heads=s.n_head)
    mha = LlamaForCausalLM(mha_cfg)
    src = dict(model.named_parameters())
    with torch.no_grad():
        for n, p in mha.named_parameters():
            w = src[n].detach()
            if n.endswith(("k_proj.weight", "v_proj.weight", "k_proj.bias", "v_proj.bias")):
                w = w.view(s.n_kv, s.head_dim, *w.shape[1:]).repeat_interleave(G, dim=0)
                w = w.reshape(p.shape)
            p.copy_(w)
    return mha


def naive_alibi(n_head, T):
    """(NH, T) Falcon key biases from the closed-form slopes, element by element."""
    p = 2 ** int(math.log2(n_head))
    exps = [8.0 * (i + 1) / p for i in range(p)] + [4.0 * (2 * i + 1) / p
                                                     for i in range(n_head - p)]
    out = torch.zeros(n_head, T, dtype=torch.float64)
    for h, e in enumerate(exps):
        slope = float(torch.tensor(2.0 ** -e, dtype=torch.float32).bfloat16())
        for j in range(T):
            out[h, j] = float(torch.tensor(slope * j, dtype=torch.float64).bfloat16())
    return out


def naive_falcon_logits(model, ids):
    """Per-head loops reading q/k/v rows of the fused weight by index arithmetic."""
    s = model.s
    W = {n: p.detach() for n, p in model.named_parameters()}
    B, T = ids.shape
    NH, NKV, HS = s.n_head, s.n_kv, s.head_dim
    G = NH // NKV

    def rows(kind, h):  # first row of head h's q, or of the k/v head that query head h reads
        if s.new_arch:
            g = h // G
            first = g * (G + 2)
            return {"q": first + h % G, "k": first + G, "v": first + G + 1}[kind] * HS
        if not s.multi_query:
            return (3 * h + "qkv".index(kind)) * HS
        return {"q": h, "k": NH, "v": NH + 1}[kind] * HS

    def ln(x, pre):
        mu = x.mean(-1, keepdim=True)
        var = ((x - mu) ** 2).mean(-1, keepdim=True)
        return (x - mu) / torch.sqrt(var + s.eps) * W[pre + ".weight"] + W[pre + ".bias"]

    def lin(x, pre):
        y = x @ W[pre + ".weight"].t()
        return y + W[pre + ".bias"] if pre + ".bias" in W else y

    half = HS // 2
    if s.alibi:
        alibi = naive_alibi(NH, T)
    else:
        inv = rope_inv_freq(HS, s.rope.theta, s.rope.scaling, s.rope.max_pos, seq_len=T)
        rot = torch.polar(torch.ones(T, half, dtype=torch.float64),
                          torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :])

    def rope(x):  # (T, HS): x_i + i x_{i+HS/2} rotated by pos * inv_freq_i
        if s.alibi:
            return x
        z = torch.complex(x[:, :half], x[:, half:]) * rot
        return torch.cat([z.real, z.imag], dim=-1)

    x = W["transformer.word_embeddings.weight"][ids]
    for i in range(s.n_layer):
        p = f"transformer.h.{i}."
        if not s.parallel_attn:
            a_in = ln(x, p + "input_layernorm")
        elif s.num_ln == 2:
            a_in, m_in = ln(x, p + "ln_attn"), ln(x, p + "ln_mlp")
        else:
            a_in = m_in = ln(x, p + "input_layernorm")
        wqkv = W[p + "self_attention.query_key_value.weight"]
        out = torch.zeros(B, T, NH * HS, dtype=torch.float64)
        for b in range(B):
            for h in range(NH):
                qh, kh, vh = (a_in[b] @ wqkv[rows(m, h):rows(m, h) + HS].t() for m in "qkv")
                if p + "self_attention.query_key_value.bias" in W:
                    bqkv = W[p + "self_attention.query_key_value.bias"]
                    qh, kh, vh = (t + bqkv[rows(m, h):rows(m, h) + HS]
                                  for t, m in zip((qh, kh, vh), "qkv"))
                sc = rope(qh) @ rope(kh).t()
                if s.alibi:  # Falcon adds the key bias before scaling
                    sc = sc + alibi[h][None, :]
                sc = sc / math.sqrt(HS)
                sc = sc.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
                out[b, :, h * HS:(h + 1) * HS] = torch.softmax(sc, -1) @ vh
        attn = lin(out, p + "self_attention.dense")
        if not s.parallel_attn:
            x = x + attn
            m_in = ln(x, p + "post_attention_layernorm")
            x = x + lin(F.gelu(lin(m_in, p + "mlp.dense_h_to_4h")), p + "mlp.dense_4h_to_h")
            continue
        mlp = lin(F.gelu(lin(m_in, p + "mlp.dense_h_to_4h")), p + "mlp.dense_4h_to_h")
        x = x + attn + mlp
    x = ln(x, "transformer.ln_f")
    return x @ W["transformer.word_embeddings.weight"].t()


def copy_into(dst, values):
    with torch.no_grad():
        for n, p in dst.named_parameters():
            p.copy_(values[n])


def check_falcon_variants(model, cfg, ids, name):
    s = model.s
    src = {n: p.detach() for n, p in model.named_parameters()}
    with torch.no_grad():
        base, _ = model(ids)
        if not s.new_arch and s.multi_query:
            # MQA layout [q_0..q_{NH-1}, k, v] is the new layout with one group.
            new = FalconForCausalLM(dict(cfg, new_decoder_architecture=True, num_kv_heads=1))
            vals = {}
            for n in dict(new.named_parameters()):
                old = n.replace(".ln_attn.", ".input_layernorm.").replace(
                    ".ln_mlp.", ".input_layernorm.")
                vals[n] = src[old]
            copy_into(new, vals)
            close(new(ids)[0], base, f"{name}: MQA == new architecture with one KV group")
    # New architecture with NKV = NH: the per-head loops (a fresh model with its own weights),
    # and, with one LayerNorm (num_ln_in_parallel_attn = 1), the old plain-MHA parallel block
    # (multi_query = False) with the same weights.
    new = FalconForCausalLM(dict(cfg, new_decoder_architecture=True, num_kv_heads=s.n_head))
    common.load_weights(new, common.draw_weights(new, 999))
    new1 = FalconForCausalLM(dict(cfg, new_decoder_architecture=True, num_kv_heads=s.n_head,
                                  num_ln_in_parallel_attn=1))
    common.load_weights(new1, common.draw_weights(new1, 998))
    old = FalconForCausalLM(dict(cfg, new_decoder_architecture=False, multi_query=False))
    copy_into(old, dict(new1.named_parameters()))
    with torch.no_grad():
        close(naive_falcon_logits(new, ids), new(ids)[0], f"{name}: NKV=NH model vs loops")
        close(old(ids)[0], new1(ids)[0], f"{name}: new architecture NKV=NH == old MHA block")
        close(naive_falcon_logits(old, ids), old(ids)[0], f"{name}: old MHA block vs loops")


def check_gpt2(model, ids, labels, name):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import gpt_reference  # noqa: E402

    s = model.s
    ref = gpt_reference.GPT(gpt_reference.GPTConfig(
        n_layer=s.n_layer, n_head=s.n_head, n_embd=s.n_embd, block_size=s.n_positions,
        vocab_size=s.vocab_size, bias=True, ln_eps=s.eps)).double()
    src = {n[len("transformer."):]: p.detach() for n, p in model.named_parameters()}
    copy_into(ref, src)
    with torch.no_grad():
        close(ref(ids)[0], model(ids)[0], f"{name}: equals gpt_reference.GPT")


def check_bert(model, ids, mask, types, name):
    bert = model if hasattr(model, "encoder") else model.bert
    s = bert.s
    W = {n: p.detach() for n, p in bert.named_parameters()}
    layers = []
    for i in range(s.n_layer):
        p = f"encoder.layer.{i}."
        L = torch.nn.TransformerEncoderLayer(
            s.hidden, s.n_head, s.intermediate, dropout=0.0, activation="gelu",
            layer_norm_eps=s.eps, batch_first=True, norm_first=False, dtype=torch.float64)
        vals = {
            "self_attn.in_proj_weight": torch.cat([W[p + f"attention.self.{m}.weight"]
                                                   for m in ("query", "key", "value")]),
            "self_attn.in_proj_bias": torch.cat([W[p + f"attention.self.{m}.bias"]
                                                 for m in ("query", "key", "value")]),
            "self_attn.out_proj.weight": W[p + "attention.output.dense.weight"],
            "self_attn.out_proj.bias": W[p + "attention.output.dense.bias"],
            "linear1.weight": W[p + "intermediate.dense.weight"],
            "linear1.bias": W[p + "intermediate.dense.bias"],
            "linear2.weight": W[p + "output.dense.weight"],
            "linear2.bias": W[p + "output.dense.bias"],
            "norm1.weight": W[p + "attention.output.LayerNorm.weight"],
            "norm1.bias": W[p + "attention.output.LayerNorm.bias"],
            "norm2.weight": W[p + "output.LayerNorm.weight"],
            "norm2.bias": W[p + "output.LayerNorm.bias"],
        }
        copy_into(L, vals)
        L.train()  # the plain (non fast-path) implementation; dropout is 0
        layers.append(L)
    with torch.no_grad():
        h, _ = bert(ids, mask, types)
        x = bert.embeddings(ids, types)
        for L in layers:
            x = L(x, src_key_padding_mask=~mask.bool())
        keep = mask.bool()
        close(x[keep], h[keep], f"{name}: encoder equals nn.TransformerEncoderLayer stack")
        # Padding: each row alone, cut to its real length, gives the same hidden states.
        for r in range(ids.shape[0]):
            n = int(mask[r].sum())
            hr, _ = bert(ids[r:r + 1, :n], mask[r:r + 1, :n], types[r:r + 1, :n])
            close(hr[0], h[r, :n], f"{name}: row {r} unpadded equals padded")


def check_finite_difference(model, loss_fn, name, seed=5):
    """d/de loss(theta + e d) at 0 (central difference) == sum(grad . d)."""
    params = [p for _, p in model.named_parameters()]
    g = torch.Generator().manual_seed(seed)
    dirs = [torch.randn(p.shape, generator=g, dtype=torch.float64) for p in params]
    model.zero_grad(set_to_none=True)
    loss_fn().backward()
    analytic = sum(float((p.grad * d).sum()) for p, d in zip(params, dirs))
    eps = 1e-5
    with torch.no_grad():
        for p, d in zip(params, dirs):
            p.add_(eps * d)
        up = float(loss_fn())
        for p, d in zip(params, dirs):
            p.sub_(2 * eps * d)
        down = float(loss_fn())
        for p, d in zip(params, dirs):
            p.add_(eps * d)
    numeric = (up - down) / (2 * eps)
    check(abs(numeric - analytic) <= 1e-6 * max(1.0, abs(analytic)),
          f"{name}: finite difference {numeric:.10g} vs gradient {analytic:.10g}")
    model.zero_grad(set_to_none=True)


def check_alibi_mask(model, ids, name):
    """ALiBi with padding: left padding shifts every real key's position by the same amount
    per row (the softmax ignores it), so a left-padded row's real logits equal the unpadded
    row's; a hole in the middle is not such a shift, so those logits must differ from
    positions that count the masked key."""
    T = ids.shape[1]
    with torch.no_grad():
        plain = model(ids[:1, 3:])[0]
        mask = torch.ones(1, T, dtype=torch.long)
        mask[0, :3] = 0
        padded = model(ids[:1], attention_mask=mask)[0]
        close(padded[:, 3:], plain, f"{name}: left padding == the unpadded row", atol=1e-9)
        hole = torch.ones(1, T, dtype=torch.long)
        hole[0, 4] = 0
        with_hole = model(ids[:1], attention_mask=hole)[0]
        plain_pos = model.transformer  # positions that ignore the hole: bias from all-ones
        s = model.s
        keep = hole.bool()
        x = plain_pos.word_embeddings(ids[:1])
        pe = (common.falcon_alibi(torch.ones(1, T, dtype=torch.long), s.n_head), keep)
        for layer in plain_pos.h:
            x, _ = layer(x, None, pe)
        counted = plain_pos.ln_f(x) @ plain_pos.word_embeddings.weight.t()
        check(float((counted[:, 5:] - with_hole[:, 5:]).abs().max()) > 1e-6,
              f"{name}: positions after a hole count real keys only")


def check_fixture(fx):
    """Run every check that applies to fixture `fx` on a freshly built model."""
    from . import fixtures

    torch.set_num_threads(1)
    name, cfg = fx["name"], fx["cfg"]
    model, _, _ = fixtures.build(fx)
    task = fx.get("task", "causal_lm")
    if task == "causal_lm":
        ids, labels = fixtures.causal_inputs(fx, cfg["vocab_size"])
        max_pos = None
        if isinstance(model, LlamaForCausalLM):
            if common.rope_scaling_type(model.s.rope.scaling) == "dynamic":
                max_pos = model.s.rope.max_pos
                check_cache(model, ids[:, :max_pos], name)
            with torch.no_grad():
                close(naive_llama_logits(model, ids), model(ids)[0], f"{name}: per-head loops")
            if model.s.n_kv != model.s.n_head:
                with torch.no_grad():
                    close(expand_gqa(model, cfg)(ids)[0], model(ids)[0],
                          f"{name}: GQA expanded to MHA")
            if model.s.window is not None:
                check(model.s.window < ids.shape[1], f"{name}: the window must be exercised")
        elif isinstance(model, FalconForCausalLM):
            with torch.no_grad():
                close(naive_falcon_logits(model, ids), model(ids)[0], f"{name}: per-head loops")
            if model.s.alibi:
                check_alibi_mask(model, ids, name)
            else:
                check_falcon_variants(model, cfg, ids, name)
        else:
            check_gpt2(model, ids, labels, name)
        check_cache(model, ids, name, max_pos)
        check_finite_difference(model, lambda: common.causal_lm_loss(model(ids)[0], labels), name)
    else:
        nl = model.bert.s.num_labels if task == "cls" else 2
        ids, mask, types, mlm_labels, cls_labels = fixtures.bert_inputs(fx, cfg["vocab_size"], nl)
        check_bert(model, ids, mask, types, name)
        if task != "bert_model":
            labels = mlm_labels if task == "mlm" else cls_labels
            with torch.no_grad():
                logits, loss, _ = model(ids, mask, types, labels)
                flat, tgt = logits.reshape(-1, logits.shape[-1]), labels.reshape(-1)
                keep = tgt != -100
                lp = torch.log_softmax(flat[keep], -1)
                close(loss, -lp.gather(-1, tgt[keep][:, None]).mean(), f"{name}: loss by hand")
            check_finite_difference(model, lambda: model(ids, mask, types, labels)[1], name)
    return name


def check_all(fixture_list):
    check_pieces()
    return [check_fixture(fx) for fx in fixture_list]

