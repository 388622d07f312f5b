#!/usr/bin/env python3
"""A multi-megabyte Arabic text for tokenizer benchmarks, built from the word list
of Debian's hunspell-ar (170k words): seeded random sentences of those words, with
Arabic punctuation, some words with diacritics, and line breaks. Not prose, but the
script, word lengths and character mix of Arabic text.
    bench/make_arabic_text.py OUT [MEGABYTES]"""
import random
import sys

DIC = "/usr/share/hunspell/ar.dic"


def main():
    out, mb = sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 4.0
    words = []
    with open(DIC, encoding="utf-8", errors="ignore") as f:
        for line in f:
            w = line.split("/")[0].strip()
            if w and not w.startswith(":") and not w.isdigit() and any("\u0600" <= c <= "\u06ff" for c in w):
                words.append(w)
    rng = random.Random(1)
    harakat = ["\u064e", "\u064f", "\u0650", "\u0652", "\u0651"]
    target = int(mb * 1e6)
    parts, size = [], 0
    while size < target:
        n = rng.randint(5, 18)
        sent = []
        for _ in range(n):
            w = rng.choice(words)
            if rng.random() < 0.15:  # some words carry diacritics
                w = "".join(c + (rng.choice(harakat) if rng.random() < 0.5 else "") for c in w)
            sent.append(w)
        s = " ".join(sent) + rng.choice(["،", ".", "؟", "!", "؛"]) + ("\n" if rng.random() < 0.2 else " ")
        parts.append(s)
        size += len(s.encode("utf-8"))
    with open(out, "w", encoding="utf-8") as f:
        f.write("".join(parts))


if __name__ == "__main__":
    main()
