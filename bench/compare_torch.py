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

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "reference"))
from gpt_reference import GPT, GPTConfig, decay_groups, init_gpt2_  # noqa: E402

PRESETS = {
    "gpt2-124m": GPTConfig(n_layer=12, n_head=12, n_embd=768, vocab_size=50257,
                           block_size=1024, bias=True),
    "shakespeare-char": GPTConfig(n_layer=4, n_head=4, n_embd=128, vocab_size=65,
                                  block_size=64, bias=False),
}


def main(argv=None):
    ap = argparse.ArgumentParser(description="Time GPT training steps in PyTorch.")
    ap.add_argument("--preset", choices=sorted(PRESETS), required=True)
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--seq", type=int, required=True)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1337)
    args = ap.parse_args(argv)

    cfg = PRESETS[args.preset]
    if not 1 <= args.seq <= cfg.block_size:
        ap.error(f"--seq must be in [1, {cfg.block_size}] for {args.preset}")
    if args.batch < 1 or args.steps < 1 or args.warmup < 0 or args.threads < 1:
        ap.error("--batch, --steps and --threads must be >= 1, --warmup >= 0")

    torch.set_num_threads(args.threads)
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
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
