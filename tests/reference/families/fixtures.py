"""The family fixtures: one tiny random model per family and variant, saved as a Hugging Face
folder (config.json + model.safetensors) with a golden.safetensors of reference outputs.

All models: 2 layers, hidden 32, 4 heads of 8; batch 2, sequence 12; weights drawn by
common.draw_weights from PCG64(seed) as float32 (bfloat16-rounded for the bf16 fixture), the
forward/backward run in float64, every float output stored as F32.
"""

import json
import os

import numpy as np
import torch

import safetensors_io  # tests/reference is on sys.path (families_reference.py puts it there)

from . import common
from .bert import BertForMaskedLM, BertForSequenceClassification, BertModel
from .common import to_i32, to_np32
from .falcon import FalconForCausalLM
from .gpt2 import GPT2LMHeadModel
from .llama import LlamaForCausalLM

B, T = 2, 12
PROMPT_LEN, NEW_TOKENS = 4, 8
MIN_MARGIN = 1e-2  # greedy choices must win by this much, so float32 runs pick the same ids

# ----------------------------------------------------------------------------------------------
# Configs (the real HF field names; values tiny)


def gpt2_config(vocab, **extra):
    cfg = {
        "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"],
        "attn_pdrop": 0.0, "bos_token_id": vocab - 1, "embd_pdrop": 0.0,
        "eos_token_id": vocab - 1, "initializer_range": 0.02, "layer_norm_epsilon": 1e-05,
        "model_type": "gpt2", "n_ctx": 32, "n_embd": 32, "n_head": 4, "n_inner": None,
        "n_layer": 2, "n_positions": 32, "reorder_and_upcast_attn": False,
        "resid_pdrop": 0.0, "scale_attn_by_inverse_layer_idx": False,
        "scale_attn_weights": True, "summary_activation": None,
        "summary_first_dropout": 0.0, "summary_proj_to_labels": True,
        "summary_type": "cls_index", "summary_use_proj": True, "torch_dtype": "float32",
        "use_cache": True, "vocab_size": vocab,
    }
    cfg.update(extra)
    return cfg


def llama_config(vocab, **extra):
    # Llama-1 style: no num_key_value_heads, rope_theta, rope_scaling or tie_word_embeddings,
    # so the defaults apply (MHA, 10000, none, untied).
    cfg = {
        "architectures": ["LlamaForCausalLM"], "bos_token_id": 1, "eos_token_id": 2,
        "hidden_act": "silu", "hidden_size": 32, "initializer_range": 0.02,
        "intermediate_size": 88, "max_position_embeddings": 64, "model_type": "llama",
        "num_attention_heads": 4, "num_hidden_layers": 2, "pad_token_id": 0,
        "rms_norm_eps": 1e-06, "torch_dtype": "float32", "use_cache": True,
        "vocab_size": vocab,
    }
    cfg.update(extra)
    return cfg


def llama2_fields(**extra):
    fields = {"attention_bias": False, "attention_dropout": 0.0, "mlp_bias": False,
              "num_key_value_heads": 2, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
              "rope_scaling": None, "rope_theta": 10000.0, "tie_word_embeddings": False}
    fields.update(extra)
    return fields


def mistral_config(vocab):
    return {
        "architectures": ["MistralForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 1,
        "eos_token_id": 2, "head_dim": 8, "hidden_act": "silu", "hidden_size": 32,
        "initializer_range": 0.02, "intermediate_size": 80, "max_position_embeddings": 128,
        "model_type": "mistral", "num_attention_heads": 4, "num_hidden_layers": 2,
        "num_key_value_heads": 2, "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
        "sliding_window": 5, "tie_word_embeddings": False, "torch_dtype": "float32",
        "use_cache": True, "vocab_size": vocab,
    }


def falcon_config(vocab, **extra):
    # falcon-7b's config.json fields (rope_theta and max_position_embeddings absent: defaults).
    cfg = {
        "alibi": False, "apply_residual_connection_post_layernorm": False,
        "architectures": ["FalconForCausalLM"], "attention_dropout": 0.0, "bias": False,
        "bos_token_id": 11, "eos_token_id": 11, "hidden_dropout": 0.0, "hidden_size": 32,
        "initializer_range": 0.02, "layer_norm_epsilon": 1e-05, "model_type": "falcon",
        "multi_query": True, "new_decoder_architecture": False, "num_attention_heads": 4,
        "num_hidden_layers": 2, "parallel_attn": True, "torch_dtype": "float32",
        "use_cache": True, "vocab_size": vocab,
    }
    cfg.update(extra)
    return cfg


def bert_config(vocab, arch, **extra):
    cfg = {
        "architectures": [arch], "attention_probs_dropout_prob": 0.0, "classifier_dropout": None,
        "hidden_act": "gelu", "hidden_dropout_prob": 0.0, "hidden_size": 32,
        "initializer_range": 0.02, "intermediate_size": 96, "layer_norm_eps": 1e-12,
        "max_position_embeddings": 16, "model_type": "bert", "num_attention_heads": 4,
        "num_hidden_layers": 2, "pad_token_id": 0, "position_embedding_type": "absolute",
        "torch_dtype": "float32", "type_vocab_size": 2, "use_cache": True, "vocab_size": vocab,
    }
    cfg.update(extra)
    return cfg


LABELS3 = {"id2label": {"0": "LABEL_0", "1": "LABEL_1", "2": "LABEL_2"},
           "label2id": {"LABEL_0": 0, "LABEL_1": 1, "LABEL_2": 2}}


def strip_prefix(prefix):
    return lambda n: n[len(prefix):] if n.startswith(prefix) else n


def gamma_beta(n):
    """Names of checkpoints converted from Google's TF BERT: LayerNorm.gamma / .beta (HF's
    loader renames them to .weight / .bias)."""
    if ".LayerNorm." in n:
        return n.replace(".LayerNorm.weight", ".LayerNorm.gamma").replace(
            ".LayerNorm.bias", ".LayerNorm.beta")
    return n


# name, model class, config, seed, options:
#   task: causal_lm | bert_model | mlm | cls; dtype: F32 | BF16;
#   mask_hole: (row, position) of a causal LM's input whose attention_mask is 0;
#   rename: HF parameter name -> name in model.safetensors;
#   extras: fn(params, cfg, rng) -> extra tensors written to model.safetensors only.
FIXTURES = [
    dict(name="gpt2", cls=GPT2LMHeadModel, cfg=gpt2_config(100), seed=101,
         extras="gpt2_lm_head"),
    dict(name="gpt2_legacy", cls=GPT2LMHeadModel, seed=102,
         cfg=gpt2_config(113, n_inner=128), rename=strip_prefix("transformer."),
         extras="gpt2_legacy_buffers"),
    dict(name="llama", cls=LlamaForCausalLM, cfg=llama_config(101), seed=201),
    dict(name="llama2_gqa_bf16", cls=LlamaForCausalLM, seed=202, dtype="BF16",
         cfg=llama_config(103, **llama2_fields(
             rope_scaling={"factor": 2.0, "type": "linear"}, torch_dtype="bfloat16"))),
    dict(name="llama_dynamic_bias_tied", cls=LlamaForCausalLM, seed=203,
         cfg=llama_config(107, **llama2_fields(
             attention_bias=True, mlp_bias=True, max_position_embeddings=8,
             rope_scaling={"factor": 2.0, "rope_type": "dynamic"},
             tie_word_embeddings=True))),
    dict(name="llama3", cls=LlamaForCausalLM, seed=204,
         cfg=llama_config(109, **llama2_fields(
             max_position_embeddings=8192,
             rope_scaling={"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                           "original_max_position_embeddings": 1024, "rope_type": "llama3"}))),
    # YaRN: factor 8 is overridden by max_position_embeddings / original = 256 / 64 = 4 (HF's
    # rule); theta 100 so that the ramp (betas 32 / 1: dims 0 to 3 of 8) has dims in between.
    dict(name="llama_yarn", cls=LlamaForCausalLM, seed=205,
         cfg=llama_config(111, **llama2_fields(
             max_position_embeddings=256, rope_theta=100.0,
             rope_scaling={"factor": 8.0, "original_max_position_embeddings": 64,
                           "rope_type": "yarn"}))),
    dict(name="mistral_window", cls=LlamaForCausalLM, cfg=mistral_config(127), seed=301),
    dict(name="falcon_mqa", cls=FalconForCausalLM, cfg=falcon_config(97), seed=401),
    dict(name="falcon_new_arch", cls=FalconForCausalLM, seed=402,
         cfg=falcon_config(98, new_decoder_architecture=True, num_kv_heads=2)),
    # falcon-rw (1B/7B) style: ALiBi, per-head interleaved q/k/v, biases, sequential blocks;
    # 12 heads of 4: slopes of a non-power-of-two count, not exact in bfloat16. Row 1 of the
    # batch has a masked token in the middle (key positions then count real keys only).
    dict(name="falcon_rw", cls=FalconForCausalLM, seed=403, mask_hole=(1, 4),
         cfg=falcon_config(99, alibi=True, bias=True, multi_query=False, parallel_attn=False,
                           hidden_size=48, num_attention_heads=12,
                           bos_token_id=1, eos_token_id=2)),
    dict(name="bert", cls=BertModel, cfg=bert_config(120, "BertModel"), seed=501,
         task="bert_model"),
    dict(name="bert_mlm_legacy", cls=BertForMaskedLM, cfg=bert_config(121, "BertForMaskedLM"),
         seed=502, task="mlm", rename=gamma_beta, extras="bert_pretraining_heads"),
    dict(name="bert_cls", cls=BertForSequenceClassification, seed=503, task="cls",
         cfg=bert_config(122, "BertForSequenceClassification", **LABELS3)),
]


def fixture_by_name(name):
    for f in FIXTURES:
        if f["name"] == name:
            return f
    raise KeyError(f"no fixture {name!r} (known: {', '.join(f['name'] for f in FIXTURES)})")


def _extras(kind, params, cfg, rng):
    """Tensors present in real checkpoints that are not parameters of the HF model class."""
    out = {}
    if kind == "gpt2_lm_head":
        # Older save_pretrained / .bin conversions also store the tied head: a copy of wte.
        out["lm_head.weight"] = params["transformer.wte.weight"].copy()
    elif kind == "gpt2_legacy_buffers":
        n = cfg["n_positions"]
        mask = np.tril(np.ones((n, n), dtype=np.float32)).reshape(1, 1, n, n)
        for i in range(cfg["n_layer"]):
            out[f"h.{i}.attn.bias"] = mask
            out[f"h.{i}.attn.masked_bias"] = np.array(-10000.0, dtype=np.float32)
    elif kind == "bert_pretraining_heads":
        # bert-base-* checkpoints come from BertForPreTraining: they also hold the pooler and
        # the next-sentence head, which BertForMaskedLM does not use. Files saved by
        # transformers < 4.31 also hold the position_ids buffer (I64 (1, max_positions)).
        C = cfg["hidden_size"]
        out["bert.embeddings.position_ids"] = np.arange(
            cfg["max_position_embeddings"], dtype=np.int64).reshape(1, -1)
        out["bert.pooler.dense.weight"] = (rng.standard_normal((C, C)) / np.sqrt(C)).astype(
            np.float32)
        out["bert.pooler.dense.bias"] = (0.1 * rng.standard_normal(C)).astype(np.float32)
        out["cls.seq_relationship.weight"] = (rng.standard_normal((2, C)) / np.sqrt(C)).astype(
            np.float32)
        out["cls.seq_relationship.bias"] = (0.1 * rng.standard_normal(2)).astype(np.float32)
    elif kind is not None:
        raise ValueError(f"unknown extras {kind!r}")
    return out


# ----------------------------------------------------------------------------------------------
# Building and running


def build(fx):
    """The float64 model of fixture `fx` with its weights; returns (model, float32 values by HF
    name, file tensors by file name)."""
    model = fx["cls"](fx["cfg"])
    values = common.draw_weights(model, fx["seed"])
    file_tensors = {}
    rename = fx.get("rename") or (lambda n: n)
    for name, val in values.items():
        if fx.get("dtype", "F32") == "BF16":
            bits, val = common.bf16_round(val)
            values[name] = val
            file_tensors[rename(name)] = safetensors_io.Bf16(bits)
        else:
            file_tensors[rename(name)] = val
    rng = np.random.Generator(np.random.PCG64(fx["seed"] + 1000))
    file_tensors.update(_extras(fx.get("extras"), values, fx["cfg"], rng))
    common.load_weights(model, values)
    return model, values, file_tensors


def causal_inputs(fx, V):
    """input_ids (B, T) uniform in [0, V); labels = input_ids with two targets ignored (-100)."""
    rng = np.random.Generator(np.random.PCG64(fx["seed"] + 2000))
    ids = torch.from_numpy(rng.integers(0, V, size=(B, T))).long()
    labels = ids.clone()
    labels[0, 5] = -100
    labels[1, 9] = -100
    return ids, labels


def bert_inputs(fx, V, num_labels):
    """[CLS]=2 ... [SEP]=3; row 1 has 4 trailing pads (id 0, attention_mask 0); token types
    0 for the first 6 positions, 1 after; MLM: 3 masked positions per row ([MASK]=4) whose
    labels are the original ids, -100 elsewhere; classification labels in [0, num_labels)."""
    rng = np.random.Generator(np.random.PCG64(fx["seed"] + 2000))
    ids = rng.integers(5, V, size=(B, T))
    mask = np.ones((B, T), dtype=np.int64)
    ids[:, 0] = 2
    ids[0, T - 1] = 3
    ids[1, T - 5] = 3
    ids[1, T - 4:] = 0
    mask[1, T - 4:] = 0
    types = np.zeros((B, T), dtype=np.int64)
    types[0, 6:] = 1
    types[1, 6:T - 4] = 1
    mlm_labels = np.full((B, T), -100, dtype=np.int64)
    for r, positions in ((0, (2, 7, 9)), (1, (1, 4, 6))):
        for p in positions:
            mlm_labels[r, p] = ids[r, p]
            ids[r, p] = 4
    cls_labels = rng.integers(0, num_labels, size=(B,))
    t = lambda a: torch.from_numpy(np.asarray(a)).long()  # noqa: E731
    return t(ids), t(mask), t(types), t(mlm_labels), t(cls_labels)


def pick_prompt(model, ids):
    """The first prompt ids[r, s:s+PROMPT_LEN] (rows, then offsets) whose greedy continuation
    never has a top-1 margin under MIN_MARGIN, preferring one with at least 4 distinct new ids
    (tiny random models often repeat one token, which would test the cache less)."""
    fallback = None
    for r in range(ids.shape[0]):
        for s in range(0, ids.shape[1] - PROMPT_LEN + 1):
            prompt = ids[r:r + 1, s:s + PROMPT_LEN]
            with torch.no_grad():
                new, logits, margin = common.greedy_generate(model, prompt, NEW_TOKENS)
            if margin < MIN_MARGIN:
                continue
            if len(set(new.tolist())) >= 4:
                return prompt, new, logits, margin
            fallback = fallback or (prompt, new, logits, margin)
    if fallback is None:
        raise RuntimeError("no prompt with a clear greedy continuation")
    return fallback


def param_grads(model, golden):
    for n, p in model.named_parameters():
        if p.grad is None:
            raise RuntimeError(f"{n} got no gradient")
        golden[f"grad.{n}"] = to_np32(p.grad)


def run_fixture(fx):
    """Build, run and return (config, file tensors, golden tensors, golden metadata, model)."""
    torch.set_num_threads(1)
    cfg = fx["cfg"]
    model, values, file_tensors = build(fx)
    task = fx.get("task", "causal_lm")
    golden = {}
    meta = {
        "fixture": fx["name"], "architecture": cfg["architectures"][0],
        "model_type": cfg["model_type"], "task": task, "seed": str(fx["seed"]),
        "weights_dtype": fx.get("dtype", "F32"), "compute_dtype": "float64",
        "B": str(B), "T": str(T), "ignore_index": "-100",
        "param_names": ",".join(n for n, _ in model.named_parameters()),
        "tied": ",".join(f"{k}={v}" for k, v in model.tied.items()),
    }
    if task == "causal_lm":
        ids, labels = causal_inputs(fx, cfg["vocab_size"])
        golden["input_ids"] = to_i32(ids)
        golden["labels"] = to_i32(labels)
        if fx.get("mask_hole"):
            mask = torch.ones(B, T, dtype=torch.long)
            mask[fx["mask_hole"]] = 0
            golden["attention_mask"] = to_i32(mask)
            logits, _ = model(ids, attention_mask=mask)
        else:
            logits, _ = model(ids)
        loss = common.causal_lm_loss(logits, labels)
        loss.backward()
        golden["logits"] = to_np32(logits)
        golden["loss"] = to_np32(loss).reshape(())
        param_grads(model, golden)
        prompt, new, step_logits, margin = pick_prompt(model, ids)
        golden["generate.prompt_ids"] = to_i32(prompt)
        golden["generate.new_ids"] = to_i32(new)
        golden["generate.logits"] = to_np32(step_logits)
        meta["generate_new_tokens"] = str(NEW_TOKENS)
        meta["generate_min_margin"] = f"{margin:.4g}"
    else:
        nl = model.bert.s.num_labels if task == "cls" else 2
        ids, mask, types, mlm_labels, cls_labels = bert_inputs(fx, cfg["vocab_size"], nl)
        golden["input_ids"] = to_i32(ids)
        golden["attention_mask"] = to_i32(mask)
        golden["token_type_ids"] = to_i32(types)
        if task == "bert_model":
            with torch.no_grad():
                h, pooled = model(ids, mask, types)
            golden["last_hidden_state"] = to_np32(h)
            golden["pooler_output"] = to_np32(pooled)
        else:
            labels = mlm_labels if task == "mlm" else cls_labels
            golden["labels"] = to_i32(labels)
            logits, loss, h = model(ids, mask, types, labels)
            loss.backward()
            golden["logits"] = to_np32(logits)
            golden["loss"] = to_np32(loss).reshape(())
            golden["last_hidden_state"] = to_np32(h)
            param_grads(model, golden)
    return cfg, file_tensors, golden, meta, model


def config_json(cfg):
    """HF's PretrainedConfig.to_json_string: indent 2, sorted keys, trailing newline."""
    return json.dumps(cfg, indent=2, sort_keys=True) + "\n"


def write_fixture(out_dir, fx):
    cfg, file_tensors, golden, meta, model = run_fixture(fx)
    folder = os.path.join(out_dir, fx["name"])
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        f.write(config_json(cfg))
    ordered = {k: file_tensors[k] for k in sorted(file_tensors)}
    safetensors_io.save(os.path.join(folder, "model.safetensors"), ordered, {"format": "pt"})
    safetensors_io.save(os.path.join(folder, "golden.safetensors"), golden, meta)
    return folder, golden, meta, model
