"""Pieces shared by the family references: HF-named layers, norms, activations, RoPE, masked
attention, the causal-LM loss and greedy decoding with a KV cache.

Every module stores its parameters under the attribute names Hugging Face transformers uses, so
`named_parameters()` of a whole model yields the tensor names of a Hub checkpoint. Models are run
in float64; shapes use B (batch), T (new tokens), P (cached tokens), C (hidden), NH (query heads),
NKV (key/value heads), HS (head dim), V (vocab).

Sources, by topic (semantics only; the code is written here):
  * RoPE: Su et al., "RoFormer" (arXiv:2104.09864); HF's `rotate_half` convention pairs
    dimension i with i + HS/2 (not 2i with 2i+1 as in the paper and Meta's LLaMA code; HF's
    conversion script permutes the q/k weights so the two agree).
  * RoPE scaling: HF `modeling_rope_utils` semantics for "linear" (positions / factor), "dynamic"
    (NTK-aware base growth once the sequence exceeds max_position_embeddings), "llama3"
    (Meta's Llama 3.1 frequency-band rule) and "yarn" (Peng et al., "YaRN", arXiv:2309.00071:
    per-dimension blend of interpolated and original frequencies, cos/sin times an attention
    factor).
  * ALiBi: Press et al., "Train Short, Test Long" (arXiv:2108.12409), with the head slopes of
    BLOOM/Falcon for any head count and Falcon's bfloat16 rounding of the biases.
  * GELU: Hendrycks & Gimpel (arXiv:1606.08415); "gelu" is the exact erf form, "gelu_new" /
    "gelu_pytorch_tanh" the tanh approximation.
  * RMSNorm: Zhang & Sennrich (arXiv:1910.07467), with HF's `x * rsqrt(mean(x^2) + eps) * w`.
"""

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# ----------------------------------------------------------------------------------------------
# Layers with HF parameter names


class Linear(nn.Module):
    """torch.nn.Linear layout: weight (out, in), y = x @ W^T + b."""

    def __init__(self, n_in, n_out, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_out, n_in, dtype=torch.float64))
        self.bias = nn.Parameter(torch.empty(n_out, dtype=torch.float64)) if bias else None

    def forward(self, x):
        y = x @ self.weight.t()
        return y + self.bias if self.bias is not None else y


class Conv1D(nn.Module):
    """GPT-2's Conv1D: weight stored (in, out), y = x @ W + b."""

    def __init__(self, n_in, n_out, bias=True):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_in, n_out, dtype=torch.float64))
        self.bias = nn.Parameter(torch.empty(n_out, dtype=torch.float64)) if bias else None

    def forward(self, x):
        y = x @ self.weight
        return y + self.bias if self.bias is not None else y


class Embedding(nn.Module):
    def __init__(self, num, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num, dim, dtype=torch.float64))

    def forward(self, idx):
        return F.embedding(idx, self.weight)


class LayerNorm(nn.Module):
    """(x - mean) / sqrt(biased var + eps) * w + b over the last dim."""

    def __init__(self, dim, eps, bias=True):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.empty(dim, dtype=torch.float64))
        self.bias = nn.Parameter(torch.empty(dim, dtype=torch.float64)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, self.eps)


class RMSNorm(nn.Module):
    """LlamaRMSNorm: x * rsqrt(mean(x^2) + eps) * w (no mean subtraction, no bias)."""

    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.empty(dim, dtype=torch.float64))

    def forward(self, x):
        var = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(var + self.eps))


NORM_TYPES = (LayerNorm, RMSNorm)


def gelu_exact(x):
    return F.gelu(x)


def gelu_tanh(x):
    return F.gelu(x, approximate="tanh")


# HF ACT2FN names used by these families.
ACTIVATIONS = {
    "gelu": gelu_exact,
    "gelu_new": gelu_tanh,
    "gelu_pytorch_tanh": gelu_tanh,
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
}


def activation(name):
    if name not in ACTIVATIONS:
        raise ValueError(f"unsupported activation {name!r} (known: {sorted(ACTIVATIONS)})")
    return ACTIVATIONS[name]


# ----------------------------------------------------------------------------------------------
# RoPE


def rope_scaling_type(scaling):
    """HF accepts both the legacy "type" key and "rope_type"; None / "default" mean no scaling."""
    if not scaling:
        return "default"
    kind = scaling.get("rope_type", scaling.get("type"))
    if kind is None:
        raise ValueError(f"rope_scaling without a type: {scaling}")
    return kind


def yarn_settings(scaling, max_position_embeddings):
    """HF's yarn fallbacks: (factor, original context, beta_fast, beta_slow). A given
    original_max_position_embeddings replaces factor by max_position_embeddings / it; without it
    the original context is max_position_embeddings. Betas default to 32 / 1 (also when 0)."""
    factor = float(scaling["factor"])
    if "original_max_position_embeddings" in scaling:
        orig = scaling["original_max_position_embeddings"]
        factor = max_position_embeddings / orig
    else:
        orig = max_position_embeddings
    return factor, orig, scaling.get("beta_fast") or 32, scaling.get("beta_slow") or 1


def rope_attention_factor(scaling, max_position_embeddings):
    """What cos and sin are multiplied by: 1, or for yarn attention_factor when given, else
    m(factor, mscale) / m(factor, mscale_all_dim) when both are given (nonzero), else m(factor),
    with m(s, k) = 1 + 0.1 k ln s (1 when s <= 1)."""
    if rope_scaling_type(scaling) != "yarn":
        return 1.0
    if scaling.get("attention_factor") is not None:
        return float(scaling["attention_factor"])
    factor = yarn_settings(scaling, max_position_embeddings)[0]

    def m(s, k=1.0):
        return 1.0 if s <= 1 else 0.1 * k * math.log(s) + 1.0

    ms, msa = scaling.get("mscale"), scaling.get("mscale_all_dim")
    if ms and msa:
        return m(factor, ms) / m(factor, msa)
    return m(factor)


def rope_inv_freq(dim, theta, scaling=None, max_position_embeddings=None, seq_len=None):
    """Inverse frequencies (dim/2,) float64: theta^(-2i/dim), then scaled per `scaling`.

    linear:  inv_freq / factor (same as positions / factor);
    dynamic: when seq_len > max_position_embeddings, the base grows to
             theta * (factor * seq_len / max_pos - (factor - 1)) ^ (dim / (dim - 2));
             seq_len is the number of positions of the forward (past + new), HF's rule;
    llama3:  wavelength w = 2 pi / f; with L = original_max_position_embeddings,
             w < L / high_freq_factor: unchanged; w > L / low_freq_factor: f / factor;
             otherwise s = (L / w - low_freq_factor) / (high_freq_factor - low_freq_factor) and
             f' = (1 - s) f / factor + s f;
    yarn:    the dims where a wavelength turns beta_fast / beta_slow times over the original
             context, d(r) = dim ln(orig / (2 pi r)) / (2 ln theta), give low = floor(d(beta_fast)),
             high = ceil(d(beta_slow)) (unrounded when truncate is false), clamped to [0, dim-1];
             ramp_i = clamp((i - low) / (high - low), 0, 1); f' = f (1 - ramp) + f / factor ramp.
    """
    kind = rope_scaling_type(scaling)
    base = float(theta)
    if kind == "dynamic":
        factor = float(scaling["factor"])
        mp = int(max_position_embeddings)
        n = seq_len if seq_len is not None and seq_len > mp else mp
        base = base * ((factor * n / mp) - (factor - 1)) ** (dim / (dim - 2))
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    if kind in ("default", "dynamic"):
        return inv_freq
    if kind == "linear":
        return inv_freq / float(scaling["factor"])
    if kind == "llama3":
        factor = float(scaling["factor"])
        low = float(scaling["low_freq_factor"])
        high = float(scaling["high_freq_factor"])
        old_len = float(scaling["original_max_position_embeddings"])
        wavelen = 2 * math.pi / inv_freq
        smooth = (old_len / wavelen - low) / (high - low)
        medium = (1 - smooth) * inv_freq / factor + smooth * inv_freq
        out = torch.where(wavelen > old_len / low, inv_freq / factor, inv_freq)
        is_medium = (wavelen >= old_len / high) & (wavelen <= old_len / low)
        return torch.where(is_medium, medium, out)
    if kind == "yarn":
        factor, orig, beta_fast, beta_slow = yarn_settings(scaling, max_position_embeddings)

        def turn_dim(rotations):
            return dim * math.log(orig / (rotations * 2 * math.pi)) / (2 * math.log(base))

        low, high = turn_dim(beta_fast), turn_dim(beta_slow)
        if scaling.get("truncate", True):
            low, high = math.floor(low), math.ceil(high)
        low, high = max(low, 0), min(high, dim - 1)
        if low == high:
            high += 0.001
        ramp = ((torch.arange(dim // 2, dtype=torch.float64) - low) / (high - low)).clamp(0, 1)
        return inv_freq * (1 - ramp) + (inv_freq / factor) * ramp
    raise ValueError(f"unsupported rope_scaling type {kind!r}")


def rope_cos_sin(inv_freq, positions):
    """cos, sin (T, dim): angle[t, i] = pos[t] * inv_freq[i mod dim/2] (the halves repeat)."""
    ang = positions.to(torch.float64)[:, None] * inv_freq[None, :]
    ang = torch.cat([ang, ang], dim=-1)
    return ang.cos(), ang.sin()


def rotate_half(x):
    """(x1, x2) -> (-x2, x1) with x1 = x[..., :HS/2], x2 = x[..., HS/2:]."""
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


def apply_rope(x, cos, sin):
    """x (B, H, T, HS), cos/sin (T, HS): x * cos + rotate_half(x) * sin."""
    return x * cos + rotate_half(x) * sin


class Rope:
    """RoPE settings of one model; `cos_sin(past, T)` for positions past..past+T-1."""

    def __init__(self, dim, theta, scaling, max_position_embeddings):
        self.dim = dim
        self.theta = theta
        self.scaling = scaling
        self.max_pos = max_position_embeddings
        rope_inv_freq(dim, theta, scaling, max_position_embeddings)  # validate early
        self.attention_factor = rope_attention_factor(scaling, max_position_embeddings)

    def cos_sin(self, past, T):
        pos = torch.arange(past, past + T)
        inv = rope_inv_freq(self.dim, self.theta, self.scaling, self.max_pos, seq_len=past + T)
        cos, sin = rope_cos_sin(inv, pos)
        if self.attention_factor != 1.0:  # yarn: HF multiplies cos and sin
            cos, sin = cos * self.attention_factor, sin * self.attention_factor
        return cos, sin


# ----------------------------------------------------------------------------------------------
# ALiBi


def alibi_slopes(n_head):
    """float32 (NH,): with p the largest power of two <= NH, heads i < p get (2^(-8/p))^(i+1);
    the other NH - p heads get (2^(-4/p))^(2i+1), every other slope of a 2p-head model."""
    p = 2 ** int(math.floor(math.log2(n_head)))
    base = torch.tensor(2.0 ** (-8.0 / p), dtype=torch.float32)
    slopes = base ** torch.arange(1, p + 1, dtype=torch.int32)
    if p != n_head:
        extra = torch.tensor(2.0 ** (-4.0 / p), dtype=torch.float32)
        odd = torch.arange(1, 2 * (n_head - p) + 1, 2, dtype=torch.int32)
        slopes = torch.cat([slopes, extra ** odd])
    return slopes


def falcon_alibi(mask, n_head):
    """mask (B, S) 1 = real key -> (B, NH, S) float64 key biases, as Falcon builds them: key
    positions count the real keys before each one ((cumsum - 1) * mask), and the slopes are
    rounded to bfloat16 and multiplied in bfloat16 (so the product is rounded too)."""
    pos = ((mask.long().cumsum(-1) - 1) * mask.long())[:, None, :]  # (B, 1, S) int64
    bias = alibi_slopes(n_head)[None, :, None].bfloat16() * pos     # bfloat16
    return bias.to(torch.float64)


# ----------------------------------------------------------------------------------------------
# Attention


def attend(q, k, v, q_pos, k_pos, causal=True, window=None, key_keep=None, key_bias=None):
    """Softmax attention with grouped key/value heads.

    q (B, NH, T, HS); k, v (B, NKV, S, HS) with NH a multiple of NKV: query head h reads key/value
    head h // (NH / NKV) (HF's repeat_kv). q_pos (T,), k_pos (S,) absolute positions.
    causal: key j visible to query i iff k_pos[j] <= q_pos[i]; window W (Mistral's sliding
    window, HF semantics): also k_pos[j] > q_pos[i] - W, i.e. the last W positions including
    the query's own. key_keep (B, S) bool: False keys are padding (BERT's attention_mask).
    key_bias (B, NH, S): added to the raw scores q.k before the 1/sqrt(HS) scaling (Falcon's
    ALiBi). Returns (B, NH, T, HS)."""
    NH, NKV = q.shape[1], k.shape[1]
    if NH % NKV:
        raise ValueError(f"{NH} query heads are not a multiple of {NKV} key/value heads")
    if NH != NKV:
        k = k.repeat_interleave(NH // NKV, dim=1)
        v = v.repeat_interleave(NH // NKV, dim=1)
    att = q @ k.transpose(-2, -1)  # (B, NH, T, S)
    if key_bias is not None:
        att = att + key_bias[:, :, None, :]
    att = att / math.sqrt(q.shape[-1])
    allowed = torch.ones(q_pos.shape[0], k_pos.shape[0], dtype=torch.bool)
    if causal:
        allowed &= k_pos[None, :] <= q_pos[:, None]
    if window is not None:
        allowed &= k_pos[None, :] > q_pos[:, None] - window
    att = att.masked_fill(~allowed, float("-inf"))
    if key_keep is not None:
        # HF BERT adds (1 - mask) * finfo(dtype).min: masked keys get weight exactly 0.
        att = att + (~key_keep)[:, None, None, :].to(att.dtype) * torch.finfo(att.dtype).min
    return torch.softmax(att, dim=-1) @ v


def split_heads(x, n, hs):
    """(B, T, n*HS) -> (B, n, T, HS)."""
    B, T, _ = x.shape
    return x.view(B, T, n, hs).transpose(1, 2)


def merge_heads(x):
    """(B, n, T, HS) -> (B, T, n*HS)."""
    B, n, T, hs = x.shape
    return x.transpose(1, 2).reshape(B, T, n * hs)


def cache_len(cache):
    return 0 if not cache else cache[0][0].shape[2]


def append_kv(cache_entry, k, v):
    """Cache entry (k, v) of one layer: (B, NKV, P, HS) each; keys are stored after RoPE."""
    if cache_entry is None:
        return k, v
    return torch.cat([cache_entry[0], k], dim=2), torch.cat([cache_entry[1], v], dim=2)


# ----------------------------------------------------------------------------------------------
# Losses and decoding


def causal_lm_loss(logits, labels, ignore_index=-100):
    """HF causal-LM loss: logits[:, :-1] predict labels[:, 1:]; mean cross-entropy over the
    targets that are not ignore_index."""
    V = logits.shape[-1]
    return F.cross_entropy(logits[:, :-1].reshape(-1, V), labels[:, 1:].reshape(-1),
                           ignore_index=ignore_index)


def greedy_generate(model, prompt, n_new):
    """HF generate(do_sample=False, use_cache=True), without stopping at an end-of-sequence id:
    one forward over the prompt (1, P), then one token at a time through the KV cache.
    Returns (new ids (n_new,), logits used for each choice (n_new, V), smallest top-1 margin)."""
    logits, cache = model(prompt)
    ids, step_logits, margin = [], [], float("inf")
    for _ in range(n_new):
        last = logits[0, -1]
        top2 = torch.topk(last, 2).values
        margin = min(margin, float(top2[0] - top2[1]))
        tok = int(torch.argmax(last))
        ids.append(tok)
        step_logits.append(last)
        logits, cache = model(torch.tensor([[tok]], dtype=torch.long), cache)
    return torch.tensor(ids, dtype=torch.long), torch.stack(step_logits), margin


# ----------------------------------------------------------------------------------------------
# Deterministic weights


def draw_weights(model, seed, linear_types=(Linear, Conv1D), emb_std=0.3, norm_std=0.1,
                 bias_std=0.1):
    """Fill every parameter in named_parameters() order from numpy's PCG64(seed) (bit-stable
    across machines), as float32 values, so that activations stay O(1):
    Linear/Conv1D weight ~ N(0, 1/fan_in); embeddings ~ N(0, emb_std^2); norm weight
    1 + N(0, norm_std^2), norm bias N(0, norm_std^2); every other bias N(0, bias_std^2).
    Returns name -> float32 numpy array (the exact values loaded into the float64 model)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    kinds = {}
    for mname, mod in model.named_modules():
        for pname, _ in mod.named_parameters(recurse=False):
            full = f"{mname}.{pname}" if mname else pname
            if isinstance(mod, NORM_TYPES):
                kinds[full] = "norm_w" if pname == "weight" else "norm_b"
            elif isinstance(mod, linear_types) and pname == "weight":
                fan_in = mod.weight.shape[0] if isinstance(mod, Conv1D) else mod.weight.shape[1]
                kinds[full] = ("linear", fan_in)
            elif isinstance(mod, Embedding):
                kinds[full] = "emb"
            else:
                kinds[full] = "bias"
    out = {}
    for name, p in model.named_parameters():
        kind = kinds[name]
        z = rng.standard_normal(tuple(p.shape))
        if kind == "norm_w":
            val = 1.0 + norm_std * z
        elif kind == "norm_b":
            val = norm_std * z
        elif kind == "emb":
            val = emb_std * z
        elif kind == "bias":
            val = bias_std * z
        else:
            val = z / math.sqrt(kind[1])
        out[name] = val.astype(np.float32)
    return out


def bf16_round(a):
    """float32 -> (bfloat16 bits as uint16, the float32 value of those bits); round to nearest
    even, as torch's .to(torch.bfloat16)."""
    t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
    bits = t.to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16).copy()
    back = (bits.astype(np.uint32) << 16).view(np.float32)
    return bits, back


def load_weights(model, values):
    """Copy name -> float32 numpy into the float64 model (exact)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.from_numpy(values[name]).to(torch.float64))


def to_np32(t):
    return t.detach().to(torch.float32).contiguous().numpy().copy()


def to_i32(t):
    return t.detach().to(torch.int32).contiguous().numpy().copy()
