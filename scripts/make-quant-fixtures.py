#!/usr/bin/env python3
"""Writes the small reference fixtures of the CSLMKernels tests (QuantKernelTests).

Reference values come from the PyPI package `gguf` (numpy (de)quantizers that mirror ggml):

    python3 scripts/make-quant-fixtures.py            # writes Tests/SLMCoreTests/Fixtures/quant/

Output (deterministic for a given gguf version; commit it, the tests never run Python):
  manifest.json        list of cases: {name, type, n, blocks, ref, [src]}
  <name>.blocks        raw GGUF-encoded data of n elements
  <name>.f32           gguf.quants.dequantize(blocks) as little-endian float32
  <name>.src.f32       (quantize cases only) the float input that produced <name>.blocks

Weight types gguf can quantize (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, BF16) get half their blocks from
its quantizer and half from random bytes; K-quants (no quantizer in gguf) are random bytes with
their fp16 scale fields overwritten by sane values, so every bit pattern of the quants and the
packed sub-block scales is exercised.
"""

import importlib.metadata
import json
import os
import sys

import numpy as np

from gguf import GGMLQuantizationType as T
from gguf import quants

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                       "Tests", "SLMCoreTests", "Fixtures", "quant")
SEED = 20240611

BLOCK_BYTES = {T.Q4_0: 18, T.Q4_1: 20, T.Q5_0: 22, T.Q5_1: 24, T.Q8_0: 34,
               T.Q4_K: 144, T.Q5_K: 176, T.Q6_K: 210}
BLOCK_ELEMS = {T.Q4_0: 32, T.Q4_1: 32, T.Q5_0: 32, T.Q5_1: 32, T.Q8_0: 32,
               T.Q4_K: 256, T.Q5_K: 256, T.Q6_K: 256}
# Byte offsets of the fp16 scale fields inside one block.
SCALE_FIELDS = {
    T.Q4_0: {"d": 0}, T.Q5_0: {"d": 0}, T.Q8_0: {"d": 0},
    T.Q4_1: {"d": 0, "m": 2}, T.Q5_1: {"d": 0, "m": 2},
    T.Q4_K: {"d": 0, "dmin": 2}, T.Q5_K: {"d": 0, "dmin": 2},
    T.Q6_K: {"d": 208},
}


def fp16_bytes(values: np.ndarray) -> np.ndarray:
    return values.astype(np.float16).view(np.uint8).reshape(-1, 2)


def random_blocks(rng: np.random.Generator, qtype: T, n_blocks: int) -> np.ndarray:
    """Random bytes with every fp16 scale field replaced by a value of realistic size."""
    blocks = rng.integers(0, 256, size=(n_blocks, BLOCK_BYTES[qtype]), dtype=np.uint8)
    for field, offset in SCALE_FIELDS[qtype].items():
        if field == "d" and qtype in (T.Q4_K, T.Q5_K):
            vals = rng.uniform(1e-4, 2e-3, n_blocks)            # times 6-bit sub-scales
        elif field == "dmin":
            vals = rng.uniform(1e-4, 2e-3, n_blocks)
        elif qtype == T.Q6_K:
            vals = rng.uniform(1e-5, 5e-4, n_blocks)            # times int8 sub-scales
        elif field == "m":
            vals = -rng.uniform(0.0, 0.5, n_blocks)
        else:
            vals = rng.uniform(1e-3, 5e-2, n_blocks) * rng.choice([-1.0, 1.0], n_blocks)
        blocks[:, offset:offset + 2] = fp16_bytes(vals)
    return blocks


def write_case(manifest: list, name: str, qtype: int, n: int, data: np.ndarray,
               ref: np.ndarray, src: "np.ndarray | None" = None) -> None:
    raw = np.ascontiguousarray(data).view(np.uint8).tobytes()
    ref = np.ascontiguousarray(ref, dtype="<f4").reshape(-1)
    assert ref.size == n, (name, ref.size, n)
    with open(os.path.join(OUT_DIR, f"{name}.blocks"), "wb") as f:
        f.write(raw)
    with open(os.path.join(OUT_DIR, f"{name}.f32"), "wb") as f:
        f.write(ref.tobytes())
    case = {"name": name, "type": int(qtype), "n": n, "blocks": f"{name}.blocks", "ref": f"{name}.f32"}
    if src is not None:
        src = np.ascontiguousarray(src, dtype="<f4").reshape(-1)
        with open(os.path.join(OUT_DIR, f"{name}.src.f32"), "wb") as f:
            f.write(src.tobytes())
        case["src"] = f"{name}.src.f32"
    manifest.append(case)


def main() -> int:
    os.makedirs(OUT_DIR, exist_ok=True)
    rng = np.random.default_rng(SEED)
    manifest: list = []

    # F32: plain copy.
    x = rng.normal(0.0, 1.0, 256).astype(np.float32)
    write_case(manifest, "F32", T.F32, x.size, x, x)

    # F16: numpy's float32 -> float16 conversion is round-to-nearest-even; include values near
    # the subnormal / overflow edges. The reference for quantize is these bytes, for dequantize
    # numpy's exact widening.
    x = np.concatenate([
        rng.normal(0.0, 1.0, 192),
        rng.normal(0.0, 1e-5, 32),                    # half subnormal range
        rng.uniform(6.0e4, 6.6e4, 16) * rng.choice([-1, 1], 16),   # near 65504 / overflow
        np.array([0.0, -0.0, 1.0, -2.0, 65504.0, 65519.996, 65520.0, 5.960464477539063e-08,
                  2.980232238769531e-08, 2.9802326e-08, 6.097555160522461e-05, 6.103515625e-05,
                  np.inf, -np.inf, 1e-30, 3.0e-8]),
    ]).astype(np.float32)
    with np.errstate(over="ignore"):
        h = x.astype(np.float16)
    write_case(manifest, "F16", T.F16, x.size, h.view(np.uint8), h.astype(np.float32), src=x)

    # BF16: gguf's quantizer is ggml's fp32 -> bf16 (RNE, NaN forced quiet). Finite random bit
    # patterns over the whole exponent range plus edge values.
    bits = rng.integers(0, 2**32, 240, dtype=np.uint64).astype(np.uint32)
    finite = (bits & 0x7F800000) != 0x7F800000
    x = bits[finite].view(np.float32)
    x = np.concatenate([x, np.array([0.0, -0.0, 1.0, 1.00390625, 1.01171875, 1.0019531,
                                     np.inf, -np.inf, 1e-40, -3e-39, 3.3895e38], dtype=np.float32)])
    with np.errstate(over="ignore"):
        b = quants.quantize(x, T.BF16)
    write_case(manifest, "BF16", T.BF16, x.size, b, quants.dequantize(b, T.BF16), src=x)

    # 32-element block types: 16 blocks from the quantizer, 16 random-byte blocks.
    for qtype in (T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0):
        src = (rng.normal(0.0, 1.0, (16, 32)) * rng.uniform(0.01, 2.0, (16, 1))).astype(np.float32)
        src[3, :] = 0.0                                # an all-zero block
        src[5, :] = np.abs(src[5, :])                  # one-signed blocks
        src[6, :] = -np.abs(src[6, :])
        q = quants.quantize(src.reshape(-1), qtype).reshape(16, BLOCK_BYTES[qtype])
        data = np.concatenate([q, random_blocks(rng, qtype, 16)])
        n = data.shape[0] * BLOCK_ELEMS[qtype]
        write_case(manifest, qtype.name, qtype, n, data, quants.dequantize(data.reshape(-1), qtype))

    # Q8_0 as an activation format: gguf's quantizer is bit-exact with quantize_row_q8_0_ref.
    src = (rng.normal(0.0, 1.0, (32, 32)) * rng.uniform(0.01, 4.0, (32, 1))).astype(np.float32)
    src[0, :] = 0.0
    src[1, :] = np.round(src[1, :] * 4) / 4            # many exact ties after scaling
    q = quants.quantize(src.reshape(-1), T.Q8_0)
    write_case(manifest, "Q8_0_quantize", T.Q8_0, src.size, q, quants.dequantize(q, T.Q8_0), src=src)

    # K-quants: random bytes with sane scales, 8 super-blocks each.
    for qtype in (T.Q4_K, T.Q5_K, T.Q6_K):
        data = random_blocks(rng, qtype, 8)
        n = data.shape[0] * BLOCK_ELEMS[qtype]
        write_case(manifest, qtype.name, qtype, n, data, quants.dequantize(data.reshape(-1), qtype))

    with open(os.path.join(OUT_DIR, "manifest.json"), "w") as f:
        json.dump({"generator": "scripts/make-quant-fixtures.py",
                   "gguf_version": importlib.metadata.version("gguf"),
                   "seed": SEED, "cases": manifest}, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT_DIR, p)) for p in os.listdir(OUT_DIR))
    print(f"wrote {len(manifest)} cases, {total} bytes to {os.path.normpath(OUT_DIR)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
