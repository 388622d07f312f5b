#!/usr/bin/env python3
"""A JSON Lines corpus for the data pipeline benchmark: documents of 3-40 sentences drawn
(seeded) from the bundled English books (Moby-Dick in .assets/, tinyshakespeare in
../shared/data/) and from Arabic sentences of hunspell-ar's words, about 1 in 4 Arabic.
2% of the documents repeat an earlier one exactly and 2% repeat one with a sentence
changed (near duplicates), as crawled text does; a few records are malformed.
    bench/make_corpus.py OUT.jsonl [MEGABYTES]"""
import json
import random
import re
import sys

BOOKS = [".assets/moby-dick.txt", "../shared/data/tinyshakespeare.txt"]
DIC = "/usr/share/hunspell/ar.dic"


def english_sentences():
    sents = []
    for path in BOOKS:
        try:
            text = open(path, encoding="utf-8", errors="ignore").read()
        except OSError:
            continue
        for s in re.split(r"(?<=[.!?])\s+", re.sub(r"\s+", " ", text)):
            if 20 <= len(s) <= 400:
                sents.append(s)
    if not sents:
        sys.exit("make_corpus: no English text: run scripts/setup (for .assets/moby-dick.txt)")
    return sents


def arabic_sentences(rng, n):
    try:
        words = [l.split("/")[0].strip() for l in open(DIC, encoding="utf-8", errors="ignore")]
    except OSError:
        return []
    words = [w for w in words if w and any("\u0600" <= c <= "\u06ff" for c in w)]
    return [" ".join(rng.choice(words) for _ in range(rng.randint(5, 16))) + rng.choice([".", "؟", "!"])
            for _ in range(n)]


def main():
    out, mb = sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 100.0
    rng = random.Random(1)
    en = english_sentences()
    ar = arabic_sentences(rng, 50000)
    target = int(mb * 1e6)
    docs, size = [], 0
    with open(out, "w", encoding="utf-8") as f:
        while size < target:
            r = rng.random()
            if docs and r < 0.02:
                text = rng.choice(docs)
            elif docs and r < 0.04:
                sents = rng.choice(docs).split("\n")
                sents[rng.randrange(len(sents))] = rng.choice(en)
                text = "\n".join(sents)
            else:
                pool = ar if ar and rng.random() < 0.25 else en
                text = "\n".join(rng.choice(pool) for _ in range(rng.randint(3, 40)))
            if len(docs) < 20000:
                docs.append(text)
            elif rng.random() < 0.01:
                docs[rng.randrange(len(docs))] = text
            line = json.dumps({"text": text}, ensure_ascii=False) + "\n"
            if rng.random() < 0.0005:
                line = line[: len(line) // 2] + "\n"  # a malformed record
            f.write(line)
            size += len(line.encode("utf-8"))


if __name__ == "__main__":
    main()
