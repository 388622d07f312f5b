#!/usr/bin/python3
"""PyTorch reference for ilm's transformer ops: RMSNorm, RoPE (with its rope_scaling
frequency variants), attention with grouped key/value heads and a key padding mask,
SwiGLU, SiLU and tanh. `transformers` is not used: each op is written here from its
Hugging Face definition (LlamaRMSNorm, rotate_half / apply_rotary_pos_emb, the
_compute_*_rope_parameters functions, repeat_kv + eager attention, LlamaMLP's act).

Run `tf_ops_reference.py --out PATH` to write one golden safetensors file holding, per case
`<case>`: the inputs, `<case>.out`, the upstream gradient `<case>.dout` and the gradient of
every float input `<case>.grad.<input>`; RoPE cases also hold `<case>.inv_freq`, and
`freq.<name>.inv_freq` are frequency tables alone. `__metadata__["case.<case>"]` is a JSON
object with the case's settings (shapes, flags, RopeConfig fields).

Inputs are drawn in float32 (stored exactly); everything is computed in float64 on one
thread and stored as F32.
"""

import argparse
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

DT = torch.float64


# ----------------------------------------------------------------------------------------------
# The ops


def rmsnorm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rope_inv_freq(cfg, head_size, seq_len):
    """HF semantics, in float64: default 1 / theta^(2i/dim), then the rope_scaling variant."""
    dim = cfg["rotary_dim"] or head_size
    kind = cfg["scaling"]
    base = float(cfg["theta"])
    factor = float(cfg.get("factor", 1.0))
    if kind == "dynamic":
        orig = cfg["original_max_positions"]
        seq_len = max(seq_len, orig)  # the base only grows past the original context
        base = base * ((factor * seq_len / orig) - (factor - 1)) ** (dim / (dim - 2))
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).to(DT) / dim))
    if kind == "linear":
        inv_freq = inv_freq / factor
    elif kind == "llama3":
        orig = cfg["original_max_positions"]
        lo, hi = cfg["low_freq_factor"], cfg["high_freq_factor"]
        low_freq_wavelen = orig / lo
        high_freq_wavelen = orig / hi
        wavelen = 2 * math.pi / inv_freq
        scaled = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
        smooth = (orig / wavelen - lo) / (hi - lo)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < high_freq_wavelen) & ~(wavelen > low_freq_wavelen)
        inv_freq = torch.where(medium, smoothed, scaled)
    else:
        assert kind in ("", "none", "default", "dynamic"), kind
    return inv_freq


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rope(x, n_head, inv_freq_f32, rotary_dim, pos0):
    """x (B,T,NH*HS); the first rotary_dim dims of each head rotate, the rest pass through.
    Angles use the float32 frequencies, as the C++ kernel receives them."""
    B, T, C = x.shape
    hs = C // n_head
    xh = x.view(B, T, n_head, hs)
    pos = torch.arange(pos0, pos0 + T, dtype=DT)
    freqs = pos[:, None] * inv_freq_f32.to(DT)[None, :]  # (T, rotary_dim/2)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos = emb.cos()[None, :, None, :]
    sin = emb.sin()[None, :, None, :]
    rot, keep = xh[..., :rotary_dim], xh[..., rotary_dim:]
    rot = rot * cos + rotate_half(rot) * sin
    return torch.cat((rot, keep), dim=-1).reshape(B, T, C)


def attention_gqa(q, k, v, n_head, n_kv_head, causal, key_mask):
    """q (B,T,NH*HS), k, v (B,T,NKV*HS); key_mask (B,T) with 0 = padded key, or None.
    A query with no key to attend outputs zeros."""
    B, T, _ = q.shape
    hs = q.shape[-1] // n_head
    group = n_head // n_kv_head
    qh = q.view(B, T, n_head, hs).transpose(1, 2)
    kh = k.view(B, T, n_kv_head, hs).transpose(1, 2).repeat_interleave(group, dim=1)
    vh = v.view(B, T, n_kv_head, hs).transpose(1, 2).repeat_interleave(group, dim=1)
    scores = (qh @ kh.transpose(-2, -1)) / math.sqrt(hs)  # (B,NH,T,T)
    allowed = torch.ones(B, 1, T, T, dtype=torch.bool)
    if causal:
        allowed = allowed & torch.ones(T, T, dtype=torch.bool).tril()
    if key_mask is not None:
        allowed = allowed & (key_mask != 0)[:, None, None, :]
    # A large finite fill: exp underflows to exactly 0 in float64, and a fully masked row
    # becomes uniform (no NaN in backward) before the mask zeroes it.
    probs = torch.softmax(scores.masked_fill(~allowed, -1e30), dim=-1) * allowed
    y = probs @ vh  # (B,NH,T,HS)
    return y.transpose(1, 2).reshape(B, T, n_head * hs)


def silu(x):
    return x * torch.sigmoid(x)


def swiglu(gate, up):
    return silu(gate) * up


# ----------------------------------------------------------------------------------------------
# Cases


def randn(gen, *shape, scale=1.0):
    return (torch.randn(*shape, generator=gen, dtype=torch.float32) * scale)


def run_case(tensors, meta, name, settings, inputs, fn, gen):
    """inputs: name -> float32 tensor (float inputs get gradients) or integer tensor."""
    wide = {}
    for k, t in inputs.items():
        if t.is_floating_point():
            wide[k] = t.to(DT).requires_grad_(True)
        else:
            wide[k] = t
    out = fn(**wide)
    dout = randn(gen, *out.shape)
    out.backward(dout.to(DT))
    for k, t in inputs.items():
        tensors[f"{name}.{k}"] = t.numpy()
    tensors[f"{name}.out"] = out.detach().to(torch.float32).numpy()
    tensors[f"{name}.dout"] = dout.numpy()
    for k, t in wide.items():
        if t.is_floating_point():
            tensors[f"{name}.grad.{k}"] = t.grad.to(torch.float32).numpy()
    meta[f"case.{name}"] = json.dumps(settings, sort_keys=True, separators=(",", ":"))


ROPE_CASES = {
    # name: (RopeConfig fields, B, T, NH, HS, pos0)
    "none": (dict(theta=10000.0, rotary_dim=0, scaling="none"), 2, 5, 2, 8, 3),
    "partial_linear": (dict(theta=10000.0, rotary_dim=6, scaling="linear", factor=2.0), 1, 7, 3, 10, 0),
    "dynamic": (dict(theta=10000.0, rotary_dim=0, scaling="dynamic", factor=2.0,
                     original_max_positions=8), 2, 5, 1, 6, 6),  # seq_len 11 > 8
    "llama3": (dict(theta=500000.0, rotary_dim=0, scaling="llama3", factor=8.0, low_freq_factor=1.0,
                    high_freq_factor=4.0, original_max_positions=8192), 1, 4, 2, 16, 5000),
}

FREQ_CASES = {
    # name: (RopeConfig fields, HS, seq_len)
    "llama3_128": (dict(theta=500000.0, rotary_dim=0, scaling="llama3", factor=8.0, low_freq_factor=1.0,
                        high_freq_factor=4.0, original_max_positions=8192), 128, 1),
    "dynamic_short": (dict(theta=10000.0, rotary_dim=0, scaling="dynamic", factor=4.0,
                           original_max_positions=2048), 64, 2048),
    "dynamic_long": (dict(theta=10000.0, rotary_dim=0, scaling="dynamic", factor=4.0,
                          original_max_positions=2048), 64, 5000),
    "linear_64": (dict(theta=10000.0, rotary_dim=32, scaling="linear", factor=4.0), 64, 1),
    "none_theta1e6": (dict(theta=1000000.0, rotary_dim=0, scaling=""), 128, 1),
}

ATTENTION_CASES = {
    # name: (B, T, NH, NKV, HS, causal, key mask rows or None)
    "gqa_causal": (2, 7, 4, 2, 3, True, None),
    "mqa_bidirectional_mask": (2, 7, 3, 1, 5, False, [[1, 1, 1, 1, 1, 0, 0], [0] * 7]),
    "mha_causal_left_padded": (2, 6, 2, 2, 4, True, [[1] * 6, [0, 0, 1, 1, 1, 1]]),
}


def rope_config_fields(cfg):
    full = dict(theta=10000.0, rotary_dim=0, scaling="", factor=1.0, low_freq_factor=1.0,
                high_freq_factor=4.0, original_max_positions=0)
    full.update(cfg)
    return full


def run(seed=1234):
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(seed)
    tensors, meta = {}, {}

    # RMSNorm: LLaMA's, eps 1e-5; awkward C.
    run_case(tensors, meta, "rmsnorm", {"eps": 1e-5},
             {"x": randn(gen, 2, 3, 13), "w": 1.0 + randn(gen, 13, scale=0.3)},
             lambda x, w: rmsnorm(x, w, 1e-5), gen)

    for name, (cfg, B, T, NH, HS, pos0) in ROPE_CASES.items():
        cfg = rope_config_fields(cfg)
        inv = rope_inv_freq(cfg, HS, pos0 + T).to(torch.float32)
        rd = cfg["rotary_dim"] or HS
        settings = dict(cfg, B=B, T=T, n_head=NH, head_size=HS, pos0=pos0)
        run_case(tensors, meta, f"rope.{name}", settings, {"x": randn(gen, B, T, NH * HS)},
                 lambda x: rope(x, NH, inv, rd, pos0), gen)
        tensors[f"rope.{name}.inv_freq"] = inv.numpy()

    for name, (cfg, HS, seq_len) in FREQ_CASES.items():
        cfg = rope_config_fields(cfg)
        tensors[f"freq.{name}.inv_freq"] = rope_inv_freq(cfg, HS, seq_len).to(torch.float32).numpy()
        meta[f"case.freq.{name}"] = json.dumps(dict(cfg, head_size=HS, seq_len=seq_len),
                                               sort_keys=True, separators=(",", ":"))

    for name, (B, T, NH, NKV, HS, causal, mask_rows) in ATTENTION_CASES.items():
        inputs = {"q": randn(gen, B, T, NH * HS), "k": randn(gen, B, T, NKV * HS),
                  "v": randn(gen, B, T, NKV * HS)}
        if mask_rows is not None:
            inputs["key_mask"] = torch.tensor(mask_rows, dtype=torch.uint8)
        settings = dict(B=B, T=T, n_head=NH, n_kv_head=NKV, head_size=HS, causal=causal,
                        key_mask=mask_rows is not None)

        def fn(q, k, v, key_mask=None, NH=NH, NKV=NKV, causal=causal):
            return attention_gqa(q, k, v, NH, NKV, causal, key_mask)

        run_case(tensors, meta, f"attention.{name}", settings, inputs, fn, gen)

    run_case(tensors, meta, "swiglu", {}, {"gate": randn(gen, 3, 11, scale=2.0),
                                           "up": randn(gen, 3, 11)}, swiglu, gen)
    run_case(tensors, meta, "silu", {}, {"x": randn(gen, 37, scale=3.0)}, silu, gen)
    x = randn(gen, 37, scale=2.0)
    x[0], x[1] = 1e-4, -3e-3  # tanh's relative precision near 0
    run_case(tensors, meta, "tanh", {}, {"x": x}, torch.tanh, gen)

    # Self-checks against torch's own versions where they exist.
    xs = torch.randn(5, 7, dtype=DT, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(silu(xs), torch.nn.functional.silu(xs))
    assert torch.allclose(
        attention_gqa(xs.view(1, 5, 7), xs.view(1, 5, 7), xs.view(1, 5, 7), 1, 1, True, None),
        torch.softmax((xs @ xs.T / math.sqrt(7)).masked_fill(
            torch.ones(5, 5, dtype=torch.bool).triu(1), float("-inf")), -1) @ xs)
    meta["seed"] = str(seed)
    meta["compute_dtype"] = "float64"
    return tensors, meta


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output .safetensors path")
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args(argv)
    tensors, meta = run(args.seed)
    safetensors_io.save(args.out, tensors, meta)
    print(f"wrote {args.out}: {len(tensors)} tensors, {os.path.getsize(args.out)} bytes")


if __name__ == "__main__":
    main()
