#!/usr/bin/env python3
"""The weights one token multiplies by, from a GGUF's tensor table (scripts/arm-instruction-counts.sh).

For each matrix a token goes through (every 2-D *.weight but the token embedding, which is a row
lookup -- unless the model has no output.weight, when the embedding is also the output head), the
weight type, its bytes and its 32-weight block count. Prints one JSON object per file.
"""
import json
import struct
import sys

# ggml type id: (name, elements per block, bytes per block)
TYPES = {0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20), 6: ("Q5_0", 32, 22),
         7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110),
         12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 30: ("BF16", 1, 2)}
SCALAR = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


def read(path):
    f = open(path, "rb")
    def unpack(fmt):
        return struct.unpack("<" + fmt, f.read(struct.calcsize("<" + fmt)))[0]
    def string():
        return f.read(unpack("Q")).decode("utf-8", "replace")
    def value(t):
        if t == 8:
            return string()
        if t == 9:
            et, n = unpack("I"), unpack("Q")
            return [value(et) for _ in range(n)]
        return unpack(SCALAR[t])
    assert f.read(4) == b"GGUF", path
    unpack("I")
    n_tensors, n_kv = unpack("Q"), unpack("Q")
    meta = {}
    for _ in range(n_kv):
        k = string()
        t = unpack("I")
        v = value(t)
        if t != 9:
            meta[k] = v
    tensors = []
    for _ in range(n_tensors):
        name = string()
        dims = [unpack("Q") for _ in range(unpack("I"))]
        t = unpack("I")
        unpack("Q")
        tensors.append((name, dims, t))
    return meta, tensors


for path in sys.argv[1:]:
    meta, tensors = read(path)
    names = {t[0] for t in tensors}
    tied = "output.weight" not in names
    per_type = {}
    for name, dims, t in tensors:
        if len(dims) != 2 or dims[1] == 1 or not name.endswith(".weight"):
            continue
        if name == "token_embd.weight" and not tied:
            continue
        tname, be, bb = TYPES[t]
        n = dims[0] * dims[1]
        e = per_type.setdefault(tname, {"weights": 0, "bytes": 0, "blocks32": 0, "tensors": 0, "output": 0})
        e["weights"] += n
        e["bytes"] += n // be * bb
        e["blocks32"] += n // 32
        e["tensors"] += 1
        if name in ("output.weight", "token_embd.weight"):
            e["output"] += n // 32
    print(json.dumps({"file": path.rsplit("/", 1)[-1], "arch": meta.get("general.architecture"),
                      "tied_output": tied, "types": per_type}))
