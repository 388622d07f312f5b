"""Minimal safetensors writer/reader over numpy arrays (standard library + numpy only).

File layout:
  * 8 bytes: unsigned little-endian 64-bit length N of the JSON header;
  * N bytes: UTF-8 JSON object mapping tensor name -> {"dtype", "shape", "data_offsets": [begin, end]},
    plus an optional "__metadata__" object of string -> string. The header is padded with
    trailing spaces so that the data section starts at an offset that is a multiple of 8;
  * the data section: raw little-endian tensor bytes; offsets are relative to its start.

Only the dtypes this project needs are supported: F64, F32, I64, I32, U8, and BF16 (numpy has no
bfloat16: write one by wrapping its raw uint16 bits in `Bf16`; `load` widens BF16 to float32,
which is exact).
Writing is deterministic: tensors are laid out in the order given (a dict keeps insertion
order) and the JSON is emitted with fixed separators.
"""

import json
import struct

import numpy as np

_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "U8": np.dtype("u1"),
}


class Bf16:
    """A bfloat16 tensor to write: `bits` is a uint16 array holding the raw bfloat16 values."""

    def __init__(self, bits):
        self.bits = np.ascontiguousarray(bits, dtype="<u2")


def bf16_to_f32(bits):
    """Widen raw bfloat16 bits (uint16) to float32 (exact: bf16 is the top half of an f32)."""
    return (np.asarray(bits, dtype="<u2").astype("<u4") << 16).view("<f4")


def _dtype_name(arr):
    dt = arr.dtype.newbyteorder("<") if arr.dtype.itemsize > 1 else arr.dtype
    for name, ref in _DTYPES.items():
        if dt == ref:
            return name
    raise TypeError(f"unsupported dtype {arr.dtype}")


def save(path, tensors, metadata=None):
    """Write `tensors` (name -> numpy array) to `path`; `metadata` is a dict of str -> str."""
    header = {}
    blobs = []
    offset = 0
    for name, value in tensors.items():
        if name == "__metadata__":
            raise ValueError("'__metadata__' is reserved")
        if isinstance(value, Bf16):
            arr = value.bits
            dname = "BF16"
            data = arr.tobytes(order="C")
        else:
            arr = np.asarray(value)
            dname = _dtype_name(arr)
            data = np.ascontiguousarray(arr, dtype=_DTYPES[dname]).tobytes(order="C")
        header[name] = {
            "dtype": dname,
            "shape": [int(d) for d in arr.shape],
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    if metadata:
        meta = {}
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise TypeError("metadata keys and values must be strings")
            meta[k] = v
        header = {"__metadata__": meta, **header}
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=True).encode("utf-8")
    pad = (-(8 + len(text))) % 8
    text += b" " * pad
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in blobs:
            f.write(data)


def load(path, with_metadata=False):
    """Read a safetensors file. Returns an ordered dict name -> numpy array (ordered by offset),
    and also the metadata dict when `with_metadata` is true."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: file too short")
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        raise ValueError(f"{path}: header length {n} exceeds file size")
    header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    data = raw[8 + n :]
    metadata = header.pop("__metadata__", None) or {}
    out = {}
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        dname = info["dtype"]
        if dname not in _DTYPES and dname != "BF16":
            raise TypeError(f"{path}: tensor {name}: unsupported dtype {dname}")
        dt = _DTYPES[dname] if dname != "BF16" else np.dtype("<u2")
        shape = tuple(int(d) for d in info["shape"])
        b, e = (int(x) for x in info["data_offsets"])
        count = 1
        for d in shape:
            count *= d
        if e - b != count * dt.itemsize or e > len(data) or b < 0:
            raise ValueError(f"{path}: tensor {name}: bad data_offsets {b},{e} for shape {shape}")
        arr = np.frombuffer(data, dtype=dt, count=count, offset=b).reshape(shape).copy()
        out[name] = bf16_to_f32(arr) if dname == "BF16" else arr
    if with_metadata:
        return out, metadata
    return out
