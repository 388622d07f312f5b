#!/usr/bin/python3
"""PyTorch reference for ilm's GPT model: logits, loss, every gradient and three AdamW steps.

The model is written from scratch here (no transformers) and stores its parameters directly in
Hugging Face GPT-2 layout, so `named_parameters()` yields the HF tensor names and shapes:

    wte.weight (V,C)  wpe.weight (block,C)
    h.{i}.ln_1.weight/.bias (C)
    h.{i}.attn.c_attn.weight (C,3C) .bias (3C)     Conv1D: y = x @ W + b, W is (in, out)
    h.{i}.attn.c_proj.weight (C,C)  .bias (C)
    h.{i}.ln_2.weight/.bias (C)
    h.{i}.mlp.c_fc.weight (C,4C)    .bias (4C)
    h.{i}.mlp.c_proj.weight (4C,C)  .bias (C)
    ln_f.weight/.bias (C)
With bias=False every `.bias` tensor is absent (LayerNorm included). The output head is tied:
logits = ln_f(x) @ wte.weight^T.

Run `gpt_reference.py --out PATH [--bias 0|1] [--seed N]` to write one golden safetensors file.
The computation runs in float64 on one thread; every float tensor is stored as F32. Weights are
drawn in float32 and widened, so the stored F32 weights are exactly the ones the float64 run used.
"""

import argparse
import math
import os
import sys
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402


# ----------------------------------------------------------------------------------------------
# Model


@dataclass
class GPTConfig:
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    block_size: int = 32
    vocab_size: int = 100
    bias: bool = True
    ln_eps: float = 1e-5


class Embedding(nn.Module):
    def __init__(self, num, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num, dim))

    def forward(self, idx):
        return F.embedding(idx, self.weight)


class LayerNorm(nn.Module):
    def __init__(self, dim, bias, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.empty(dim))
        self.bias = nn.Parameter(torch.empty(dim)) if bias else None

    def forward(self, x):
        # Normalise with the biased variance over the last dim, then scale and shift.
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, self.eps)


class Conv1D(nn.Module):
    """Hugging Face GPT-2's Conv1D: a linear layer with weight stored as (in, out)."""

    def __init__(self, n_in, n_out, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_in, n_out))
        self.bias = nn.Parameter(torch.empty(n_out)) if bias else None

    def forward(self, x):
        y = x @ self.weight
        if self.bias is not None:
            y = y + self.bias
        return y


def gelu_tanh(x):
    """GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    return F.gelu(x, approximate="tanh")


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        assert cfg.n_embd % cfg.n_head == 0
        self.n_head = cfg.n_head
        self.c_attn = Conv1D(cfg.n_embd, 3 * cfg.n_embd, cfg.bias)
        self.c_proj = Conv1D(cfg.n_embd, cfg.n_embd, cfg.bias)

    def forward(self, x):
        B, T, C = x.shape
        nh = self.n_head
        hs = C // nh
        q, k, v = self.c_attn(x).split(C, dim=-1)  # each (B,T,C); head h = cols h*hs:(h+1)*hs
        q = q.view(B, T, nh, hs).transpose(1, 2)  # (B,nh,T,hs)
        k = k.view(B, T, nh, hs).transpose(1, 2)
        v = v.view(B, T, nh, hs).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))  # (B,nh,T,T)
        future = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
        att = att.masked_fill(future, float("-inf"))
        att = torch.softmax(att, dim=-1)
        y = att @ v  # (B,nh,T,hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.c_fc = Conv1D(cfg.n_embd, 4 * cfg.n_embd, cfg.bias)
        self.c_proj = Conv1D(4 * cfg.n_embd, cfg.n_embd, cfg.bias)

    def forward(self, x):
        return self.c_proj(gelu_tanh(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.ln_1 = LayerNorm(cfg.n_embd, cfg.bias, cfg.ln_eps)
        self.attn = Attention(cfg)
        self.ln_2 = LayerNorm(cfg.n_embd, cfg.bias, cfg.ln_eps)
        self.mlp = MLP(cfg)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x


class GPT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.wte = Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = Embedding(cfg.block_size, cfg.n_embd)
        self.h = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layer)])
        self.ln_f = LayerNorm(cfg.n_embd, cfg.bias, cfg.ln_eps)

    def forward(self, idx, targets=None):
        B, T = idx.shape
        if T > self.cfg.block_size:
            raise ValueError(f"sequence length {T} > block_size {self.cfg.block_size}")
        pos = torch.arange(T, dtype=torch.long, device=idx.device)
        x = self.wte(idx) + self.wpe(pos)  # dropout 0
        for block in self.h:
            x = block(x)
        x = self.ln_f(x)
        logits = x @ self.wte.weight.t()  # tied head: (B,T,V)
        loss = None
        if targets is not None:
            # Mean over positions whose target is not -1.
            loss = F.cross_entropy(
                logits.reshape(B * T, -1), targets.reshape(B * T), ignore_index=-1
            )
        return logits, loss


def init_gpt2_(model, seed, perturb_std=0.0):
    """GPT-2 initialisation, in named_parameters() order after torch.manual_seed(seed):
    weights and embeddings ~ N(0, 0.02); attn.c_proj.weight and mlp.c_proj.weight
    ~ N(0, 0.02/sqrt(2*n_layer)); biases 0; LayerNorm weight 1, bias 0.
    Then, if perturb_std > 0, add N(0, perturb_std) noise to every LayerNorm weight/bias and to
    every bias (a second pass, again in named_parameters() order)."""
    torch.manual_seed(seed)
    proj_std = 0.02 / math.sqrt(2 * model.cfg.n_layer)
    ln_names = set()
    for mname, mod in model.named_modules():
        if isinstance(mod, LayerNorm):
            ln_names.update(f"{mname}.{p}" for p, _ in mod.named_parameters(recurse=False))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name in ln_names:
                p.fill_(1.0 if name.endswith(".weight") else 0.0)
            elif name.endswith(".bias"):
                p.zero_()
            elif name.endswith("attn.c_proj.weight") or name.endswith("mlp.c_proj.weight"):
                p.normal_(0.0, proj_std)
            else:
                p.normal_(0.0, 0.02)
        if perturb_std > 0:
            for name, p in model.named_parameters():
                if name in ln_names or name.endswith(".bias"):
                    p.add_(torch.randn(p.shape, dtype=p.dtype) * perturb_std)


def decay_groups(model, weight_decay):
    """AdamW groups: weight decay only for parameters with >= 2 dims."""
    decay = [p for _, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for _, p in model.named_parameters() if p.dim() < 2]
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


# ----------------------------------------------------------------------------------------------
# Independent cross-checks of the library pieces the reference relies on (run in float64).


def _check(cond, what):
    if not cond:
        raise AssertionError(f"self-check failed: {what}")


def self_check(model, x, y, cfg, lr, betas, eps, wd, clip, steps):
    """Re-derive GELU, LayerNorm, the masked-mean loss, gradient clipping and AdamW by hand and
    confirm they agree with torch's versions (which produce the golden values)."""
    t = torch.linspace(-6, 6, 1001, dtype=torch.float64)
    manual = 0.5 * t * (1 + torch.tanh(math.sqrt(2 / math.pi) * (t + 0.044715 * t**3)))
    _check(torch.allclose(gelu_tanh(t), manual, rtol=0, atol=1e-14), "gelu tanh")

    z = torch.randn(3, 5, cfg.n_embd, dtype=torch.float64)
    ln = model.h[0].ln_1
    mu = z.mean(-1, keepdim=True)
    var = ((z - mu) ** 2).mean(-1, keepdim=True)
    ref = (z - mu) / torch.sqrt(var + cfg.ln_eps) * ln.weight
    if ln.bias is not None:
        ref = ref + ln.bias
    _check(torch.allclose(ln(z), ref, rtol=0, atol=1e-12), "layernorm")

    with torch.no_grad():
        logits, loss = model(x, y)
        lp = torch.log_softmax(logits, -1)
        keep = y != -1
        nll = -lp[keep].gather(-1, y[keep].unsqueeze(-1)).squeeze(-1)
        _check(abs(nll.mean().item() - loss.item()) < 1e-12, "masked-mean cross-entropy")

    # Hand-written clip + AdamW on a copy, compared with torch's after `steps` steps.
    params = [p.detach().clone() for p in model.parameters()]
    ndims = [p.dim() for p in model.parameters()]
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    clone = GPT(cfg).double()
    with torch.no_grad():
        for dst, src in zip(clone.parameters(), params):
            dst.copy_(src)
    for step in range(1, steps + 1):
        clone.zero_grad(set_to_none=True)
        _, loss = clone(x, y)
        loss.backward()
        grads = [p.grad.detach().clone() for p in clone.parameters()]
        norm = math.sqrt(sum(float((g * g).sum()) for g in grads))
        coef = min(1.0, clip / (norm + 1e-6))
        b1, b2 = betas
        with torch.no_grad():
            for i, p in enumerate(clone.parameters()):
                g = grads[i] * coef
                if ndims[i] >= 2:
                    p.mul_(1 - lr * wd)
                m[i] = b1 * m[i] + (1 - b1) * g
                v[i] = b2 * v[i] + (1 - b2) * g * g
                mhat = m[i] / (1 - b1**step)
                vhat = v[i] / (1 - b2**step)
                p.sub_(lr * mhat / (vhat.sqrt() + eps))
    return clone


# ----------------------------------------------------------------------------------------------
# Golden file


def to_np32(t):
    return t.detach().to(torch.float32).contiguous().numpy().copy()


def run(out, bias=True, seed=1337, n_layer=2, n_head=4, n_embd=64, block_size=32,
        vocab_size=100, B=2, T=16, n_ignore=3, lr=1e-3, beta1=0.9, beta2=0.95, eps=1e-8,
        weight_decay=0.1, grad_clip=1.0, steps=3, perturb_std=0.1):
    torch.set_num_threads(1)  # fixed reduction order -> same bytes on every run
    cfg = GPTConfig(n_layer=n_layer, n_head=n_head, n_embd=n_embd, block_size=block_size,
                    vocab_size=vocab_size, bias=bias)
    model = GPT(cfg)  # float32 while drawing, so the stored F32 weights are exact
    init_gpt2_(model, seed, perturb_std)
    x = torch.randint(0, vocab_size, (B, T), dtype=torch.long)
    y = torch.randint(0, vocab_size, (B, T), dtype=torch.long)
    ignored = torch.randperm(B * T)[:n_ignore]
    y.view(-1)[ignored] = -1

    tensors = {
        "input_ids": x.to(torch.int32).numpy().copy(),
        "targets": y.to(torch.int32).numpy().copy(),
    }
    names = [n for n, _ in model.named_parameters()]
    for n, p in model.named_parameters():
        tensors[n] = to_np32(p)

    model = model.double()
    for n, p in model.named_parameters():  # widening is exact
        _check(np.array_equal(to_np32(p), tensors[n]), f"f32->f64 widening of {n}")

    # Forward + backward at the initial weights.
    logits, loss = model(x, y)
    loss.backward()
    tensors["logits"] = to_np32(logits)
    tensors["loss"] = to_np32(loss).reshape(())
    for n, p in model.named_parameters():
        tensors[f"grad.{n}"] = to_np32(p.grad)

    # Cross-check the pieces by hand (uses the RNG, so do it after everything golden is drawn).
    manual = self_check(model, x, y, cfg, lr, (beta1, beta2), eps, weight_decay, grad_clip, steps)

    # Three AdamW steps on the same batch.
    opt = torch.optim.AdamW(decay_groups(model, weight_decay), lr=lr, betas=(beta1, beta2),
                            eps=eps, foreach=False)
    for k in range(1, steps + 1):
        opt.zero_grad(set_to_none=True)
        _, loss = model(x, y)
        loss.backward()
        if k == 1:
            for n, p in model.named_parameters():
                _check(np.array_equal(to_np32(p.grad), tensors[f"grad.{n}"]), "step-1 grads")
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        opt.step()
        tensors[f"step{k}.loss"] = to_np32(loss).reshape(())
        tensors[f"step{k}.grad_norm"] = to_np32(norm).reshape(())
    for n, p in model.named_parameters():
        tensors[f"final.{n}"] = to_np32(p)
    for (n, p), q in zip(model.named_parameters(), manual.parameters()):
        _check(torch.allclose(p, q, rtol=0, atol=1e-12), f"manual AdamW vs torch for {n}")

    metadata = {
        "n_layer": str(n_layer),
        "n_head": str(n_head),
        "n_embd": str(n_embd),
        "block_size": str(block_size),
        "vocab_size": str(vocab_size),
        "bias": "1" if bias else "0",
        "B": str(B),
        "T": str(T),
        "lr": repr(float(lr)),
        "beta1": repr(float(beta1)),
        "beta2": repr(float(beta2)),
        "eps": repr(float(eps)),
        "weight_decay": repr(float(weight_decay)),
        "grad_clip": repr(float(grad_clip)),
        "seed": str(seed),
        "steps": str(steps),
        "ln_eps": repr(float(cfg.ln_eps)),
        "ignore_index": "-1",
        "compute_dtype": "float64",
        "param_names": ",".join(names),
    }
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    safetensors_io.save(out, tensors, metadata)
    return tensors, metadata


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output .safetensors path")
    ap.add_argument("--bias", type=int, choices=[0, 1], default=1)
    ap.add_argument("--seed", type=int, default=1337)
    args = ap.parse_args(argv)
    tensors, _ = run(args.out, bias=bool(args.bias), seed=args.seed)
    print(f"wrote {args.out}: {len(tensors)} tensors, loss {float(tensors['loss']):.6f}, "
          "grad norms " + ", ".join(f"{float(tensors[f'step{k}.grad_norm']):.4f}"
                                    for k in range(1, 4)))


if __name__ == "__main__":
    main()
