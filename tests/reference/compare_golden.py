#!/usr/bin/python3
"""Compare two safetensors files tensor by tensor.

    compare_golden.py A B [--rtol R] [--atol A] [--quiet]

Checks that both files hold the same tensor names with the same shapes and dtypes and that the
metadata agrees, then prints the max absolute and max relative difference of every tensor.
A tensor mismatches when some element has |a - b| > atol + rtol * |b| (integer tensors must be
equal). Exits 0 when everything matches, 1 otherwise (2 on usage or read errors).
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402


def compare(a_path, b_path, rtol, atol, quiet=False):
    try:
        a, meta_a = safetensors_io.load(a_path, with_metadata=True)
        b, meta_b = safetensors_io.load(b_path, with_metadata=True)
    except (OSError, ValueError, TypeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return None
    ok = True

    for key in sorted(set(meta_a) | set(meta_b)):
        if meta_a.get(key) != meta_b.get(key):
            print(f"METADATA {key}: {meta_a.get(key)!r} != {meta_b.get(key)!r}")
            ok = False

    only_a = [n for n in a if n not in b]
    only_b = [n for n in b if n not in a]
    for n in only_a:
        print(f"MISSING in {b_path}: {n}")
    for n in only_b:
        print(f"MISSING in {a_path}: {n}")
    ok = ok and not only_a and not only_b

    width = max((len(n) for n in a), default=0)
    worst_abs = worst_rel = 0.0
    for name, x in a.items():
        if name not in b:
            continue
        y = b[name]
        if x.shape != y.shape or x.dtype != y.dtype:
            print(f"MISMATCH {name}: {x.dtype}{list(x.shape)} vs {y.dtype}{list(y.shape)}")
            ok = False
            continue
        if x.dtype.kind in "iu":
            bad = int(np.count_nonzero(x != y))
            if bad or not quiet:
                print(f"{'FAIL' if bad else 'ok  '} {name:<{width}}  integer, {bad} differ")
            ok = ok and bad == 0
            continue
        x64 = x.astype(np.float64)
        y64 = y.astype(np.float64)
        if not (np.all(np.isfinite(x64)) and np.all(np.isfinite(y64))):
            same = np.array_equal(x64, y64, equal_nan=True)
            print(f"{'ok  ' if same else 'FAIL'} {name:<{width}}  non-finite values")
            ok = ok and same
            continue
        diff = np.abs(x64 - y64)
        max_abs = float(diff.max()) if diff.size else 0.0
        rel = diff / np.maximum(np.abs(y64), 1e-30)
        max_rel = float(rel.max()) if rel.size else 0.0
        bad = int(np.count_nonzero(diff > atol + rtol * np.abs(y64)))
        worst_abs = max(worst_abs, max_abs)
        worst_rel = max(worst_rel, max_rel)
        if bad or not quiet:
            print(f"{'FAIL' if bad else 'ok  '} {name:<{width}}  max_abs {max_abs:.3e}  "
                  f"max_rel {max_rel:.3e}" + (f"  {bad} elements out of tolerance" if bad else ""))
        ok = ok and bad == 0

    print(f"{'MATCH' if ok else 'MISMATCH'}: {a_path} vs {b_path}: {len(a)} tensors, "
          f"max_abs {worst_abs:.3e}, max_rel {worst_rel:.3e} (rtol {rtol:g}, atol {atol:g})")
    return ok


def main(argv=None):
    ap = argparse.ArgumentParser(description="Compare two safetensors files tensor by tensor.")
    ap.add_argument("a")
    ap.add_argument("b", help="the expected file (relative differences are taken against it)")
    ap.add_argument("--rtol", type=float, default=1e-6)
    ap.add_argument("--atol", type=float, default=1e-6)
    ap.add_argument("--quiet", action="store_true", help="only print failing tensors")
    args = ap.parse_args(argv)
    ok = compare(args.a, args.b, args.rtol, args.atol, args.quiet)
    if ok is None:
        return 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
