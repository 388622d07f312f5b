#!/usr/bin/python3
"""Greedy generation speed of ilm against the PyTorch family references, one family at a time.

    generate_compare.py [--families gpt2,llama,mistral,falcon,falcon7b] [--prompt-tokens 32]
                        [--new-tokens 64] [--threads 2] [--runs 3] [--bench build/bench/bench_generate]
                        [--rounds 1] [--json]

For each family: a ~125M-parameter config with the real Hugging Face field names, random
weights (common.draw_weights, float32), written as an HF folder (config.json +
model.safetensors) into a temporary directory. Then, in this order so they never share the cores:
  * PyTorch: the reference model of tests/reference/families (plain torch with HF semantics,
    its KV cache grown with torch.cat as HF's DynamicCache does) in float32 under
    torch.inference_mode() with torch.set_num_threads(--threads); one untimed warm-up run, then
    best of --runs for the prefill and for the decode;
  * ilm: build/bench/bench_generate on the same folder (same prompt, warm-up, best of --runs).
With --rounds R the pair (torch, ilm) repeats R times: the figures are the best of all rounds,
and the ratio of each round is shown too (on a shared machine their spread is the noise).
Both start from the prompt id i = (1 + 7919 i) mod V; each decode step takes the argmax of the
logits (lowest id on ties) and feeds it; tokens/s = new tokens / decode time. The two lists of
new ids are compared (reported, not fatal: random models can have near-ties that float32
rounding order breaks differently).
Prints a table (and with --json one JSON line per family).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))

import safetensors_io  # noqa: E402
from families import common  # noqa: E402
from families.falcon import FalconForCausalLM  # noqa: E402
from families.fixtures import config_json, falcon_config, gpt2_config, llama_config  # noqa: E402
from families.fixtures import llama2_fields, mistral_config  # noqa: E402
from families.gpt2 import GPT2LMHeadModel  # noqa: E402
from families.llama import LlamaForCausalLM  # noqa: E402


def configs():
    """name -> (label, model class, HF config): about 125M parameters each."""
    gpt2 = gpt2_config(50257, n_layer=12, n_embd=768, n_head=12, n_positions=1024, n_ctx=1024)
    llama = llama_config(32000, hidden_size=768, intermediate_size=2048, num_hidden_layers=12,
                         num_attention_heads=12, max_position_embeddings=2048)
    mistral = mistral_config(32000)
    mistral.update(hidden_size=768, head_dim=64, intermediate_size=2048, num_hidden_layers=12,
                   num_attention_heads=12, num_key_value_heads=4, sliding_window=4096,
                   max_position_embeddings=32768)
    falcon = falcon_config(65024, hidden_size=768, num_attention_heads=12, num_hidden_layers=12,
                           new_decoder_architecture=True, num_kv_heads=4)
    falcon7b = falcon_config(65024, hidden_size=768, num_attention_heads=12, num_hidden_layers=12)
    return {
        "gpt2": ("gpt2 (MHA)", GPT2LMHeadModel, gpt2),
        "llama": ("llama (MHA)", LlamaForCausalLM, llama),
        "mistral": ("mistral (GQA 12/4)", LlamaForCausalLM, mistral),
        "falcon": ("falcon new arch (GQA 12/4)", FalconForCausalLM, falcon),
        "falcon7b": ("falcon-7b style (MQA)", FalconForCausalLM, falcon7b),
    }


def float32_rope(model):
    """The references compute RoPE's cos/sin in float64 (they run in float64); for a float32
    model hand them over as float32 so nothing is promoted back to float64."""
    rope = getattr(getattr(model, "s", None), "rope", None)
    if rope is None:
        return
    full = rope.cos_sin
    rope.cos_sin = lambda past, T: tuple(t.to(torch.float32) for t in full(past, T))


def write_folder(folder, cls, cfg, seed):
    """Random float32 weights into an HF folder; returns the float32 torch model."""
    model = cls(cfg)
    values = common.draw_weights(model, seed)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        f.write(config_json(cfg))
    safetensors_io.save(os.path.join(folder, "model.safetensors"),
                        {k: values[k] for k in sorted(values)}, {"format": "pt"})
    common.load_weights(model, values)
    del values
    model = model.float().eval()
    float32_rope(model)
    return model


def prompt_ids(n, vocab):
    return [(1 + 7919 * i) % vocab for i in range(n)]


def torch_run(model, prompt, new_tokens):
    """(prefill s, decode s, new ids): the same loop as bench_generate."""
    idx = torch.tensor([prompt], dtype=torch.long)
    t0 = time.perf_counter()
    logits, cache = model(idx)
    t1 = time.perf_counter()
    ids = []
    last = logits[0, -1]
    for _ in range(new_tokens):
        tok = int(torch.argmax(last))
        ids.append(tok)
        logits, cache = model(torch.tensor([[tok]], dtype=torch.long), cache)
        last = logits[0, -1]
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, ids


def torch_bench(model, prompt, new_tokens, runs):
    with torch.inference_mode():
        torch_run(model, prompt, new_tokens)  # warm-up
        best_p, best_d, ids = float("inf"), float("inf"), None
        for _ in range(runs):
            p, d, ids = torch_run(model, prompt, new_tokens)
            best_p, best_d = min(best_p, p), min(best_d, d)
    return {"prefill_ms": 1e3 * best_p, "decode_ms": 1e3 * best_d,
            "tokens_per_s": new_tokens / best_d, "new_ids": ids}


def best_of(x, y):
    """The faster of two results (prefill and decode taken separately, ids from x)."""
    out = dict(x)
    out["prefill_ms"] = min(x["prefill_ms"], y["prefill_ms"])
    out["decode_ms"] = min(x["decode_ms"], y["decode_ms"])
    out["tokens_per_s"] = max(x["tokens_per_s"], y["tokens_per_s"])
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--families", default="gpt2,llama,mistral,falcon,falcon7b")
    ap.add_argument("--prompt-tokens", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=1,
                    help="alternate torch and ilm this many times (best of all; ratio per round)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--bench", default=os.path.join(HERE, "..", "build", "bench", "bench_generate"))
    ap.add_argument("--json", action="store_true", help="also print one JSON line per family")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    table = configs()
    names = a.families.split(",")
    for n in names:
        if n not in table:
            ap.error(f"unknown family {n!r} (known: {', '.join(table)})")
    rows = []
    print(f"# {a.prompt_tokens} prompt tokens, {a.new_tokens} new tokens, {a.threads} threads, "
          f"best of {a.runs} x {a.rounds} rounds; torch {torch.__version__}", flush=True)
    for i, name in enumerate(names):
        label, cls, cfg = table[name]
        with tempfile.TemporaryDirectory(prefix=f"ilm-gen-{name}-") as tmp:
            model = write_folder(tmp, cls, cfg, a.seed + i)
            params = sum(p.numel() for p in model.parameters())
            prompt = prompt_ids(a.prompt_tokens, cfg["vocab_size"])
            theirs, ours, round_ratios = None, None, []
            for _ in range(a.rounds):
                t = torch_bench(model, prompt, a.new_tokens, a.runs)
                out = subprocess.run(
                    [a.bench, tmp, "--prompt-tokens", str(a.prompt_tokens), "--new-tokens",
                     str(a.new_tokens), "--threads", str(a.threads), "--runs", str(a.runs)],
                    check=True, capture_output=True, text=True).stdout
                o = json.loads(out.strip().splitlines()[-1])
                round_ratios.append(o["tokens_per_s"] / t["tokens_per_s"])
                theirs = t if theirs is None else best_of(theirs, t)
                ours = o if ours is None else best_of(ours, o)
            del model
        same = next((k for k, (x, y) in enumerate(zip(ours["new_ids"], theirs["new_ids"]))
                     if x != y), None)
        row = {"family": name, "label": label, "params": params, "ilm_params": ours["params"],
               "ilm_tokens_per_s": ours["tokens_per_s"],
               "torch_tokens_per_s": theirs["tokens_per_s"],
               "ratio": ours["tokens_per_s"] / theirs["tokens_per_s"],
               "ilm_prefill_ms": ours["prefill_ms"], "torch_prefill_ms": theirs["prefill_ms"],
               "ids_match": same is None, "first_mismatch": same,
               "round_ratios": round_ratios}
        rows.append(row)
        if a.json:
            print(json.dumps(row), flush=True)
        print(f"{label:28s} {params / 1e6:6.1f}M  ilm {row['ilm_tokens_per_s']:7.1f} tok/s  "
              f"torch {row['torch_tokens_per_s']:7.1f} tok/s  ratio {row['ratio']:5.2f}x  "
              f"prefill ilm {row['ilm_prefill_ms']:7.1f} ms torch {row['torch_prefill_ms']:7.1f} ms"
              f"  ids {'same' if same is None else f'differ from step {same}'}"
              f"  rounds {' '.join(f'{x:.2f}' for x in round_ratios)}", flush=True)
    print()
    print("| family | params | ilm tok/s | torch tok/s | ilm/torch | per round | prefill ms ilm | "
          "prefill ms torch | same ids |")
    print("|---|---:|---:|---:|---:|---|---:|---:|---|")
    for r in rows:
        ids = "yes" if r["ids_match"] else f"from step {r['first_mismatch']}"
        print(f"| {r['label']} | {r['params'] / 1e6:.1f}M | {r['ilm_tokens_per_s']:.1f} | "
              f"{r['torch_tokens_per_s']:.1f} | {r['ratio']:.2f} | "
              f"{' '.join(f'{x:.2f}' for x in r['round_ratios'])} | {r['ilm_prefill_ms']:.1f} | "
              f"{r['torch_prefill_ms']:.1f} | {ids} |")


if __name__ == "__main__":
    main()
