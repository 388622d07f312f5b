#!/usr/bin/python3
"""Write the Hugging Face family fixtures (GPT-2, Llama 1/2/3, Mistral, Falcon, BERT) and run the
references' self-checks.

    families_reference.py --out DIR [--only NAME ...] [--no-checks] [--list]

For each fixture NAME, DIR/NAME/ gets config.json and model.safetensors (a Hub-style model
folder) and golden.safetensors (inputs, logits, loss, every gradient, a greedy continuation);
tests/reference/README.md describes them. The models are in tests/reference/families/; nothing
here uses transformers. Deterministic: same torch/numpy, same bytes.
"""

import argparse
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

from families import checks, fixtures  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", help="output folder (one subfolder per fixture)")
    ap.add_argument("--only", nargs="*", default=None, help="fixture names (default: all)")
    ap.add_argument("--no-checks", action="store_true", help="skip the self-checks")
    ap.add_argument("--list", action="store_true", help="print the fixture names and exit")
    args = ap.parse_args(argv)
    if args.list:
        print("\n".join(f["name"] for f in fixtures.FIXTURES))
        return 0
    torch.set_num_threads(1)  # fixed reduction order: same bytes on every run
    chosen = fixtures.FIXTURES if args.only is None else [fixtures.fixture_by_name(n)
                                                          for n in args.only]
    if not args.no_checks:
        checks.check_pieces()
    for fx in chosen:
        if args.out:
            folder, golden, meta, _ = fixtures.write_fixture(args.out, fx)
            size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
            line = f"{fx['name']}: {size / 1024:.0f} KiB"
            if "loss" in golden:
                line += f", loss {float(golden['loss']):.6f}"
            if "generate.new_ids" in golden:
                line += (f", greedy {golden['generate.new_ids'].tolist()}"
                         f" (margin {meta['generate_min_margin']})")
            print(line)
        if not args.no_checks:
            checks.check_fixture(fx)
            print(f"{fx['name']}: self-checks passed")
    if not args.out and args.no_checks:
        print("nothing to do: give --out and/or drop --no-checks", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
