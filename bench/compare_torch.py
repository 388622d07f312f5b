#!/usr/bin/python3
"""Time GPT training steps in PyTorch, for comparison with `ilm bench train`.

    compare_torch.py --preset gpt2-124m|shakespeare-char --batch B --seq T \
                     [--steps N] [--warmup W] [--threads K] [--seed S]

Uses the same model code as tests/reference/gpt_reference.py, in float32 with dropout 0,
AdamW (lr 6e-4, betas (0.9, 0.95), eps 1e-8, weight decay 0.1 on >=2-D parameters only,
not fused), global-norm gradient clipping at 1.0 and random tokens. One timed step is
forward + backward + clip + optimizer step + zero_grad(set_to_none=True).
Prints one JSON line: preset, batch, seq, threads, ms_per_step, tokens_per_s, peak_rss_mib,
torch_version.
"""

import argparse
import inspect
import json
import os
import resource
import sys
import time

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "reference"))
from gpt_reference import GPT, GPTConfig, decay_groups, init_gpt2_  # noqa: E402

PRESETS = {
    "gpt2-124m": GPTConfig(n_layer=12, n_head=12, n_embd=768, vocab_size=50257,
                           block_size=1024, bias=True),
    "shakespeare-char": GPTConfig(n_layer=4, n_head=4, n_embd=128, vocab_size=65,
                                  block_size=64, bias=False),
}


class FastBlock(nn.Module):
    """The same block written as a careful PyTorch user writes it (as nanoGPT does):
    nn.Linear with its fused bias (addmm), a registered causal mask, in-place-free ops;
    scaled_dot_product_attention when this torch has it."""

    def __init__(self, cfg):
        super().__init__()
        C = cfg.n_embd
        self.n_head = cfg.n_head
        self.ln_1 = nn.LayerNorm(C, elementwise_affine=True)
        self.c_attn = nn.Linear(C, 3 * C, bias=cfg.bias)
        self.c_proj = nn.Linear(C, C, bias=cfg.bias)
        self.ln_2 = nn.LayerNorm(C)
        self.c_fc = nn.Linear(C, 4 * C, bias=cfg.bias)
        self.mlp_proj = nn.Linear(4 * C, C, bias=cfg.bias)
        if not cfg.bias:
            for ln in (self.ln_1, self.ln_2):
                ln.bias = None
        T = cfg.block_size
        self.register_buffer("mask", torch.tril(torch.ones(T, T, dtype=torch.bool)).view(1, 1, T, T))

    def attn(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        if hasattr(F, "scaled_dot_product_attention"):
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
            att = att.masked_fill(~self.mask[:, :, :T, :T], float("-inf"))
            y = F.softmax(att, dim=-1) @ v
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class FastGPT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.h = nn.ModuleList([FastBlock(cfg) for _ in range(cfg.n_layer)])
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        if not cfg.bias:
            self.ln_f.bias = None
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                std = 0.02 / math.sqrt(2 * cfg.n_layer) if name.endswith(("c_proj.weight", "mlp_proj.weight")) else 0.02
                nn.init.normal_(p, 0.0, std)

    def forward(self, idx, targets):
        pos = torch.arange(idx.size(1), device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        logits = F.linear(self.ln_f(x), self.wte.weight)
        return logits, F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Time GPT training steps in PyTorch.")
    ap.add_argument("--preset", choices=sorted(PRESETS), required=True)
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--seq", type=int, required=True)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--impl", choices=["fast", "reference"], default="fast",
                    help="fast: written as nanoGPT writes it (default); reference: the golden-test model")
    args = ap.parse_args(argv)

    cfg = PRESETS[args.preset]
    if not 1 <= args.seq <= cfg.block_size:
        ap.error(f"--seq must be in [1, {cfg.block_size}] for {args.preset}")
    if args.batch < 1 or args.steps < 1 or args.warmup < 0 or args.threads < 1:
        ap.error("--batch, --steps and --threads must be >= 1, --warmup >= 0")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    if args.impl == "fast":
        model = FastGPT(cfg)
    else:
        model = GPT(cfg)
        init_gpt2_(model, args.seed)
    model.train()
    opt_kwargs = dict(lr=6e-4, betas=(0.9, 0.95), eps=1e-8)
    if "fused" in inspect.signature(torch.optim.AdamW).parameters:
        opt_kwargs["fused"] = False
    opt = torch.optim.AdamW(decay_groups(model, 0.1), **opt_kwargs)

    gen = torch.Generator().manual_seed(args.seed)
    x = torch.randint(0, cfg.vocab_size, (args.batch, args.seq), generator=gen)
    y = torch.randint(0, cfg.vocab_size, (args.batch, args.seq), generator=gen)

    def step():
        _, loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    for _ in range(args.warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    elapsed = time.perf_counter() - t0
    if not torch.isfinite(loss):
        print("warning: non-finite loss", file=sys.stderr)

    ms = elapsed * 1000.0 / args.steps
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({
        "preset": args.preset,
        "batch": args.batch,
        "seq": args.seq,
        "threads": args.threads,
        "ms_per_step": round(ms, 3),
        "tokens_per_s": round(args.batch * args.seq / (elapsed / args.steps), 1),
        "peak_rss_mib": round(peak_kib / 1024.0, 1),
        "torch_version": torch.__version__,
        "impl": args.impl,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
