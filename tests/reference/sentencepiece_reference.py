#!/usr/bin/python3
"""Golden SentencePiece encodings for ilm's SentencePieceTokenizer, from Python's sentencepiece.

  sentencepiece_reference.py --out FILE [--models DIR]   encode the corpus with DIR's models
  sentencepiece_reference.py --train DIR                 (re)train sp_bpe.model, sp_unigram.model

The models in tests/reference/golden were trained once with --train (sentencepiece 0.1.97,
one thread) on a corpus from a seeded generator: English, Arabic with diacritics, emoji and
digits. They are committed, since training is not promised to be identical across versions;
the check regenerates only the encodings. Options are LLaMA's: BPE (and a unigram twin),
byte_fallback, split_digits, dummy prefix, identity normalization, spaces kept as they are.
"""
import argparse
import json
import os
import random
import sys
import tempfile

import sentencepiece as spm

MODELS = ["sp_bpe.model", "sp_unigram.model"]

WORDS_EN = ("the quick brown fox jumps over lazy dog model token piece byte fallback stream "
            "decoder training learning rate llama alpaca camel wool mountain river").split()
WORDS_AR = ["السَّلَامُ", "عَلَيْكُمْ", "كِتَابٌ", "مَدْرَسَةٌ", "الْعَرَبِيَّةُ", "قَلَمٌ", "بَيْتٌ",
            "مرحبا", "شكرا", "اللغة"]
EMOJI = ["🙂", "🚀", "👍", "🎉", "❤️", "👩‍💻"]


def training_corpus(n=3000, seed=1234):
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        words = []
        for _ in range(rng.randint(3, 12)):
            r = rng.random()
            if r < 0.6:
                w = rng.choice(WORDS_EN)
                words.append(w.capitalize() if rng.random() < 0.2 else w)
            elif r < 0.85:
                words.append(rng.choice(WORDS_AR))
            elif r < 0.93:
                words.append(str(rng.randint(0, 99999)))
            else:
                words.append(rng.choice(EMOJI))
        lines.append(" ".join(words) + rng.choice([".", ",", "!", "?", ""]))
    return lines


def test_corpus(seed=42):
    """Awkward strings: spaces and newlines, unseen scripts (byte fallback), digits, specials."""
    cases = [
        "", " ", "  ", "\n", " \n", "\t", "hello", " hello", "hello world", "Hello  world  ",
        "the quick brown fox", "السَّلَامُ عَلَيْكُمْ", "مرحبا بالعالم", "🙂🚀 rocket",
        "👩‍💻 codes", "12345 and 3.14159", "中文字符", "Ꙋ🦙 llama", "ñandú café naïve",
        "<s> and </s> are text here", "<|user|> hi <|ctrl|>", "tab\tand\nnewline\r\n",
        "\u200b zero width", "a" * 50, "x\u0301\u0302 combining",
    ]
    rng = random.Random(seed)
    alphabet = (list("abcdefghij ,.") + ["\n", "  ", "é", "ß", "ب", "َ", "ّ", "🙂", "🦙", "中",
                                          "7", "42", "▁", "\u00a0"])
    for _ in range(40):
        cases.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 30))))
    for line in training_corpus(n=10, seed=7):
        cases.append(line)
    return cases


def train(out_dir):
    lines = training_corpus()
    with tempfile.TemporaryDirectory() as tmp:
        text = os.path.join(tmp, "corpus.txt")
        with open(text, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        for model_type, vocab in (("bpe", 700), ("unigram", 420)):
            spm.SentencePieceTrainer.train(
                input=text, model_prefix=os.path.join(out_dir, "sp_" + model_type),
                model_type=model_type, vocab_size=vocab, byte_fallback=True,
                split_digits=True, add_dummy_prefix=True, normalization_rule_name="identity",
                remove_extra_whitespaces=False, character_coverage=0.9995,
                user_defined_symbols=["<|user|>"], control_symbols=["<|ctrl|>"],
                num_threads=1, input_sentence_size=0, shuffle_input_sentence=False,
                allow_whitespace_only_pieces=True, minloglevel=2)
            os.remove(os.path.join(out_dir, "sp_" + model_type + ".vocab"))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out")
    p.add_argument("--models", default=os.path.join(os.path.dirname(__file__), "golden"))
    p.add_argument("--train")
    a = p.parse_args()
    if a.train:
        train(a.train)
        return
    if not a.out:
        p.error("--out FILE or --train DIR")
    result = {"generator": "sentencepiece " + spm.__version__, "models": {}}
    cases = test_corpus()
    for name in MODELS:
        sp = spm.SentencePieceProcessor(model_file=os.path.join(a.models, name))
        rows = []
        for text in cases:
            ids = sp.encode(text)
            rows.append({"text": text, "ids": ids, "decoded": sp.decode(ids)})
        result["models"][name] = {
            "vocab_size": sp.get_piece_size(), "bos_id": sp.bos_id(), "eos_id": sp.eos_id(),
            "unk_id": sp.unk_id(), "cases": rows}
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
