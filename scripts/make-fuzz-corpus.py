#!/usr/bin/env python3
"""Writes the binary seeds of the fuzz corpus (Tests/Fuzz/corpus/{gguf,snapshot}/): tiny GGUF
files that reach the tokenizer and chat-template code (the synthetic test models are 90-350 KB
of weights each, too big to commit), and real KV snapshot blobs. The text seeds (protocol lines
from docs/protocol.md, chat templates from the golden fixtures) were taken as they are.
Needs the PyPI `gguf` package: PYTHONPATH="$(dirname "$(scripts/synthetic-models.sh)")/py/gguf-*".
"""
import hashlib
import os
import struct
import sys
import tempfile

import gguf
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "Tests", "Fuzz", "corpus")
MASK = (1 << 64) - 1
PRIME = 0x100000001B3


def put(target, data):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "seed-" + hashlib.sha1(data).hexdigest()[:12]), "wb") as f:
        f.write(data)


def gguf_bytes(tokenizer_model, tokens, merges=None, template=None, tensor=True):
    with tempfile.NamedTemporaryFile(suffix=".gguf") as tmp:
        w = gguf.GGUFWriter(tmp.name, "llama")
        w.add_name("fuzz seed")
        w.add_context_length(64)
        w.add_block_count(1)
        w.add_tokenizer_model(tokenizer_model)
        w.add_token_list(tokens)
        w.add_token_scores([float(-i) for i in range(len(tokens))])
        w.add_token_types([gguf.TokenType.CONTROL if t.startswith("<") and t.endswith(">") else gguf.TokenType.NORMAL
                           for t in tokens])
        if merges:
            w.add_token_merges(merges)
        w.add_bos_token_id(1)
        w.add_eos_token_id(2)
        if template:
            w.add_chat_template(template)
        if tensor:
            w.add_tensor("token_embd.weight", np.arange(len(tokens) * 4, dtype=np.float32).reshape(len(tokens), 4))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        return open(tmp.name, "rb").read()


def snapshot_checksum(b):
    """The Swift `snapshotChecksum` (Sources/SLMCore/Inference/SessionSnapshot.swift)."""
    lanes = [0xCBF29CE484222325, 0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9]
    words = len(b) // 32 * 4
    for i in range(0, words, 4):
        for lane in range(4):
            (v,) = struct.unpack_from("<Q", b, (i + lane) * 8)
            x = ((lanes[lane] ^ v) * PRIME) & MASK
            lanes[lane] = x ^ (x >> 29)
    h = len(b)
    for lane in lanes:
        h = ((h ^ lane) * PRIME) & MASK
        h ^= h >> 32
    for c in b[words * 8:]:
        h = ((h ^ c) * PRIME) & MASK
    return h


# ggml type ids of the KV cache types, and bytes per 32-value block (F16: per value).
KV_TYPES = {"f16": (1, 2, 1), "q8_0": (8, 34, 32), "q4_0": (2, 18, 32)}


def snapshot(identity, tokens, layers, kw, vw, checksum=True, types=None):
    """Version 2 (F16 rows, no type fields) unless `types` = (key type, value type) asks for 3."""
    out = (b"SLMKV003" if types else b"SLMKV002") + identity.encode()[:16].ljust(16, b"0")
    key, value = types or ("f16", "f16")
    out += struct.pack("<3I", layers, kw, vw)
    if types:
        out += struct.pack("<2I", KV_TYPES[key][0], KV_TYPES[value][0])
    out += struct.pack("<I", len(tokens))
    out += struct.pack(f"<{len(tokens)}i", *tokens)
    row_bytes = sum(w // KV_TYPES[t][2] * KV_TYPES[t][1] for t, w in ((key, kw), (value, vw)))
    size = layers * len(tokens) * row_bytes
    out += np.linspace(-2, 2, size // 2 or 1, dtype=np.float16).tobytes()[:size]
    # The harness appends the checksum to inputs that start with an even byte ('S' is odd, so a
    # seed that should pass as is carries its own checksum).
    return out + struct.pack("<Q", snapshot_checksum(out)) if checksum else out


def main():
    byte_tokens = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"] + [chr(c) for c in range(0x21, 0x7F)]
    gpt2 = ["<unk>", "<s>", "</s>", "<|im_start|>"] + ["H", "e", "l", "o", "Ġ", "w", "r", "d", "He", "ll", "Hell", "Hello", "Ġw"]
    template = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
                "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    put("gguf", gguf_bytes("llama", byte_tokens, template=template))
    put("gguf", gguf_bytes("gpt2", gpt2, merges=["H e", "l l", "He ll", "Hell o", "Ġ w"], template=template))
    put("gguf", gguf_bytes("gpt2", gpt2, merges=["H e"], tensor=False))
    # A real snapshot as SessionSnapshot.serialized() writes it (the round trip is tested in
    # SessionTests), with and without the checksum the harness would add.
    put("snapshot", snapshot("0123456789abcdef", [1, 42, 7, 99], 2, 8, 4))
    put("snapshot", snapshot("fedcba9876543210", [5], 1, 4, 4))
    put("snapshot", b"\x00" + snapshot("0123456789abcdef", [1, 2], 1, 2, 2, checksum=False)[1:])
    put("snapshot", b"\x00" + snapshot("0123456789abcdef", [], 3, 16, 16, checksum=False)[1:])
    put("snapshot", snapshot("0123456789abcdef", [1, 42, 7], 2, 32, 64, types=("f16", "f16")))
    put("snapshot", snapshot("0123456789abcdef", [3, 9], 2, 64, 32, types=("q8_0", "q4_0")))


if __name__ == "__main__":
    sys.exit(main())
