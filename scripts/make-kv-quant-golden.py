"""Writes Tests/SLMCoreTests/Fixtures/kv-quant-q4_0.json: float rows and their Q4_0 blocks as gguf-py's
numpy reference quantizer makes them (the algorithm of ggml's quantize_row_q4_0_ref, which llama.cpp's
CPU backend runs when it stores K or V in a q4_0 cache). KVCacheTypeTests checks slm's quantizer
against it.

    PYTHONPATH=$SLM_CACHE/py/gguf-0.19.0 python3 scripts/make-kv-quant-golden.py
(scripts/synthetic-models.sh installs that gguf package.)"""
import json
import os
import sys

import numpy as np
from gguf import GGMLQuantizationType
from gguf.quants import quantize


def main():
    rng = np.random.default_rng(0x4B5651)
    cases = []
    rows = [
        rng.uniform(-2, 2, 64),  # two ordinary blocks
        rng.normal(0, 1, 96) * np.repeat(10.0 ** rng.uniform(-3, 2, 3), 32),  # blocks of very different scale
        np.zeros(32),  # d = 0
        np.concatenate([np.full(16, 1.0), np.full(16, -1.0)]),  # ties in |x|: the first one sets the sign
        np.linspace(-8, 7, 32),  # every quant level, values on the rounding boundaries
        rng.uniform(-1, 1, 192) * np.where(rng.uniform(0, 1, 192) < 0.1, 50.0, 1.0),  # outliers, SmolLM2's width
    ]
    for row in rows:
        values = row.astype(np.float32)
        q = quantize(values.reshape(1, -1), GGMLQuantizationType.Q4_0)
        cases.append({"values": [float(v) for v in values], "q4_0_hex": q.tobytes().hex()})
    out = os.path.join(os.path.dirname(__file__), "..", "Tests", "SLMCoreTests", "Fixtures", "kv-quant-q4_0.json")
    with open(out, "w") as f:
        json.dump({"generator": "scripts/make-kv-quant-golden.py (gguf-py 0.19.0 quantize, Q4_0)", "cases": cases}, f)
        f.write("\n")
    print(f"wrote {out}: {len(cases)} rows", file=sys.stderr)


if __name__ == "__main__":
    main()
