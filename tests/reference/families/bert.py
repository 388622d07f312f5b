"""BertModel, BertForMaskedLM and BertForSequenceClassification from a Hugging Face config.json,
in float64.

Sources: Devlin et al. 2019 (BERT: post-norm encoder, word + position + token-type embeddings,
pooler = tanh(dense(h[CLS])), MLM head = dense, GELU, LayerNorm, tied decoder plus an output
bias) and the semantics of HF's BertConfig / modeling_bert: parameter names, hidden_act "gelu"
= exact erf GELU, layer_norm_eps 1e-12, the padding mask added as (1 - mask) * finfo.min, the
classifier on the pooled output, BertForMaskedLM built without the pooler.

Parameter names, with prefix "" for BertModel and "bert." inside the task models:
    embeddings.word_embeddings.weight (V, C), embeddings.position_embeddings.weight (P, C),
    embeddings.token_type_embeddings.weight (type_vocab_size, C), embeddings.LayerNorm.weight/.bias
    encoder.layer.{i}.attention.self.query/key/value.weight (C, C) .bias (C)
    encoder.layer.{i}.attention.output.dense.weight (C, C) .bias, attention.output.LayerNorm.*
    encoder.layer.{i}.intermediate.dense.weight (I, C) .bias (I)
    encoder.layer.{i}.output.dense.weight (C, I) .bias (C), output.LayerNorm.weight/.bias
    pooler.dense.weight (C, C) .bias (C)             (BertModel, BertForSequenceClassification)
    cls.predictions.transform.dense.weight (C, C) .bias, cls.predictions.transform.LayerNorm.*,
    cls.predictions.bias (V); cls.predictions.decoder.weight is tied to word_embeddings
    (and cls.predictions.decoder.bias is cls.predictions.bias)        (BertForMaskedLM)
    classifier.weight (num_labels, C) .bias (num_labels)     (BertForSequenceClassification)
Layer: a = LN(x + dense(attn(x))); out = LN(a + dense(gelu(dense(a)))).
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from .common import Embedding, LayerNorm, Linear, activation, attend, merge_heads, split_heads


class BertSettings:
    def __init__(self, cfg):
        self.hidden = cfg.get("hidden_size", 768)
        self.n_layer = cfg.get("num_hidden_layers", 12)
        self.n_head = cfg.get("num_attention_heads", 12)
        self.intermediate = cfg.get("intermediate_size", 3072)
        self.vocab_size = cfg.get("vocab_size", 30522)
        self.max_pos = cfg.get("max_position_embeddings", 512)
        self.type_vocab = cfg.get("type_vocab_size", 2)
        self.eps = cfg.get("layer_norm_eps", 1e-12)
        self.act = activation(cfg.get("hidden_act", "gelu"))
        # num_labels is not a config field: HF derives it from id2label (default 2 labels).
        self.num_labels = len(cfg.get("id2label", {0: "LABEL_0", 1: "LABEL_1"}))
        if cfg.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError("only absolute position embeddings are modelled")


class BertEmbeddings(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.word_embeddings = Embedding(s.vocab_size, s.hidden)
        self.position_embeddings = Embedding(s.max_pos, s.hidden)
        self.token_type_embeddings = Embedding(s.type_vocab, s.hidden)
        self.LayerNorm = LayerNorm(s.hidden, s.eps)

    def forward(self, ids, token_type_ids):
        pos = torch.arange(ids.shape[1])
        x = self.word_embeddings(ids) + self.token_type_embeddings(token_type_ids)
        return self.LayerNorm(x + self.position_embeddings(pos))


class BertSelfAttention(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.s = s
        self.query = Linear(s.hidden, s.hidden, True)
        self.key = Linear(s.hidden, s.hidden, True)
        self.value = Linear(s.hidden, s.hidden, True)

    def forward(self, x, keep):
        NH, HS = self.s.n_head, self.s.hidden // self.s.n_head
        q, k, v = (split_heads(m(x), NH, HS) for m in (self.query, self.key, self.value))
        pos = torch.arange(x.shape[1])
        return merge_heads(attend(q, k, v, pos, pos, causal=False, key_keep=keep))


class BertDenseNorm(nn.Module):
    """BertSelfOutput / BertOutput: LayerNorm(dense(h) + residual)."""

    def __init__(self, n_in, s):
        super().__init__()
        self.dense = Linear(n_in, s.hidden, True)
        self.LayerNorm = LayerNorm(s.hidden, s.eps)

    def forward(self, h, residual):
        return self.LayerNorm(self.dense(h) + residual)


class BertAttention(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.self = BertSelfAttention(s)
        self.output = BertDenseNorm(s.hidden, s)

    def forward(self, x, keep):
        return self.output(self.self(x, keep), x)


class BertIntermediate(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.act = s.act
        self.dense = Linear(s.hidden, s.intermediate, True)

    def forward(self, x):
        return self.act(self.dense(x))


class BertLayer(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.attention = BertAttention(s)
        self.intermediate = BertIntermediate(s)
        self.output = BertDenseNorm(s.intermediate, s)

    def forward(self, x, keep):
        a = self.attention(x, keep)
        return self.output(self.intermediate(a), a)


class BertEncoder(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(s) for _ in range(s.n_layer)])

    def forward(self, x, keep):
        for layer in self.layer:
            x = layer(x, keep)
        return x


class BertPooler(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.dense = Linear(s.hidden, s.hidden, True)

    def forward(self, h):
        return torch.tanh(self.dense(h[:, 0]))


class BertModel(nn.Module):
    def __init__(self, cfg, add_pooling_layer=True, settings=None):
        super().__init__()
        self.s = settings or BertSettings(cfg)
        self.embeddings = BertEmbeddings(self.s)
        self.encoder = BertEncoder(self.s)
        self.pooler = BertPooler(self.s) if add_pooling_layer else None

    def forward(self, ids, attention_mask=None, token_type_ids=None):
        """ids (B, T) -> last_hidden_state (B, T, C), pooler_output (B, C) or None."""
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(ids)
        keep = None if attention_mask is None else attention_mask.bool()
        h = self.encoder(self.embeddings(ids, token_type_ids), keep)
        return h, (self.pooler(h) if self.pooler is not None else None)

    tied = {}


class BertPredictionHeadTransform(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.act = s.act
        self.dense = Linear(s.hidden, s.hidden, True)
        self.LayerNorm = LayerNorm(s.hidden, s.eps)

    def forward(self, h):
        return self.LayerNorm(self.act(self.dense(h)))


class BertLMPredictionHead(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.transform = BertPredictionHeadTransform(s)
        self.bias = nn.Parameter(torch.empty(s.vocab_size, dtype=torch.float64))


class BertOnlyMLMHead(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.predictions = BertLMPredictionHead(s)


class BertForMaskedLM(nn.Module):
    tied = {"cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
            "cls.predictions.decoder.bias": "cls.predictions.bias"}

    def __init__(self, cfg):
        super().__init__()
        self.bert = BertModel(cfg, add_pooling_layer=False)
        self.cls = BertOnlyMLMHead(self.bert.s)

    def forward(self, ids, attention_mask=None, token_type_ids=None, labels=None):
        """-> logits (B, T, V), loss (mean CE over labels != -100) or None, hidden (B, T, C)."""
        h, _ = self.bert(ids, attention_mask, token_type_ids)
        head = self.cls.predictions
        logits = head.transform(h) @ self.bert.embeddings.word_embeddings.weight.t() + head.bias
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                   ignore_index=-100)
        return logits, loss, h


class BertForSequenceClassification(nn.Module):
    tied = {}

    def __init__(self, cfg):
        super().__init__()
        self.bert = BertModel(cfg, add_pooling_layer=True)
        self.classifier = Linear(self.bert.s.hidden, self.bert.s.num_labels, True)

    def forward(self, ids, attention_mask=None, token_type_ids=None, labels=None):
        """-> logits (B, num_labels), loss (mean CE; HF's single_label_classification, chosen
        when num_labels > 1 and labels are integers) or None, hidden (B, T, C)."""
        h, pooled = self.bert(ids, attention_mask, token_type_ids)
        logits = self.classifier(pooled)  # dropout is identity (p = 0 / eval)
        loss = None if labels is None else F.cross_entropy(logits, labels)
        return logits, loss, h
