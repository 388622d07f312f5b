"""Writes tests/reference/golden/hf_layout.safetensors: one tensor of every dtype ilm reads,
laid out by the rules of Hugging Face's safetensors writer (the Rust library behind
`safetensors.torch.save_file`), reimplemented here with struct + json because the package is
not installed:

  * tensors sorted by dtype, widest alignment first (the Rust Dtype order, descending), then
    by name;
  * header: compact JSON, "__metadata__" first, then per tensor "dtype", "shape",
    "data_offsets"; padded with spaces so 8 + N is a multiple of 8;
  * data back to back, little-endian. bf16 bytes come from torch (truncation of exact values).

tests/unit/test_safetensors_index.cpp checks the values it holds (known answers below) and
that ilm, reading it and writing it again in its data order, reproduces it byte for byte.
Run with /usr/bin/python3 (numpy + torch).
"""

import json
import os
import struct
import sys

import numpy as np
import torch

# The Rust library's Dtype enum order, narrowest first; the writer sorts descending.
RUST_ORDER = ["BOOL", "U8", "I8", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64",
              "I64", "U64"]


def tensors():
    bf16 = torch.tensor([1.0, -2.5, 0.15625, 65280.0], dtype=torch.bfloat16)
    return {
        "f64": ("F64", [2], np.array([1.5, -2.25], dtype="<f8").tobytes()),
        "f32": ("F32", [2, 3], np.arange(6, dtype="<f4").tobytes()),
        "f16": ("F16", [3], np.array([1.0, -0.5, 65504.0], dtype="<f2").tobytes()),
        "bf16": ("BF16", [4], bf16.view(torch.int16).numpy().astype("<i2").tobytes()),
        "i64": ("I64", [2], np.array([-3, 1 << 40], dtype="<i8").tobytes()),
        "i32": ("I32", [3], np.array([-1, 0, 2147483647], dtype="<i4").tobytes()),
        "i16": ("I16", [2], np.array([-32768, 7], dtype="<i2").tobytes()),
        "i8": ("I8", [3], np.array([-128, 0, 127], dtype="i1").tobytes()),
        "u8": ("U8", [1, 3], np.array([0, 128, 255], dtype="u1").tobytes()),
        "bool": ("BOOL", [2], np.array([True, False], dtype="?").tobytes()),
        "empty": ("F32", [0, 4], b""),
    }


def main(path):
    items = sorted(tensors().items(), key=lambda kv: (-RUST_ORDER.index(kv[1][0]), kv[0]))
    header = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, (dtype, shape, data) in items:
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for _, (_, _, data) in items:
            f.write(data)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else
         os.path.join(os.path.dirname(__file__), "golden", "hf_layout.safetensors"))
