#!/usr/bin/env python3
"""Writes tiny random-weight GGUFs for the architectures without a small real model here.

For each family (llama with a separate output matrix, stablelm, phi2, phi3) two files are written
into OUT_DIR (default ~/.cache/slm/synthetic): `<name>-f32.gguf` (every tensor F32) and
`<name>-q8_0.gguf` (the 2-D weights Q8_0, norms and biases F32). Weights come from a fixed seed,
so the files are the same on every machine and the committed goldens
(Tests/SLMCoreTests/Fixtures/goldens/synthetic-logits.json, scripts/make-synthetic-goldens.sh)
stay valid. Needs the PyPI `gguf` package (version pinned in scripts/setup.sh) and numpy.

    scripts/make-synthetic-models.py [OUT_DIR]
"""
import os
import sys

import numpy as np
import gguf

# Shapes: small, but with grouped KV heads, partial rotary and every matrix width a multiple of 32
# (Q8_0 blocks).
DIM = 64
LAYERS = 2
HEADS = 4
KV_HEADS = 2
HEAD_DIM = DIM // HEADS
FFN = 128
VOCAB = 96
CONTEXT = 256
SEED = 20261123
QUANTIZED = gguf.GGMLQuantizationType.Q8_0


class Model:
    """Collects tensors of one synthetic model; `matrix` tensors get quantized in the Q8_0 file."""

    def __init__(self, name, arch, seed):
        self.name, self.arch = name, arch
        self.rng = np.random.default_rng(seed)
        self.tensors = []  # (name, array, is_matrix)
        self.keys = []     # (writer method, args)

    def matrix(self, name, rows, cols, scale=None):
        scale = scale if scale is not None else 1.0 / np.sqrt(cols)
        self.tensors.append((name, (self.rng.standard_normal((rows, cols)) * scale).astype(np.float32), True))

    def vector(self, name, n, mean=0.0, scale=0.1):
        self.tensors.append((name, (mean + self.rng.standard_normal(n) * scale).astype(np.float32), False))

    def key(self, method, *args):
        self.keys.append((method, args))

    def write(self, path, quantized):
        w = gguf.GGUFWriter(path, self.arch)
        # general.name must not contain a family name: llama.cpp keys vocabulary quirks on it
        # (e.g. Phi-3 special tokens this vocabulary does not have).
        w.add_name("slm synthetic model")
        w.add_context_length(CONTEXT)
        w.add_embedding_length(DIM)
        w.add_block_count(LAYERS)
        w.add_feed_forward_length(FFN)
        w.add_head_count(HEADS)
        w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0 if quantized else gguf.LlamaFileType.ALL_F32)
        for method, args in self.keys:
            getattr(w, method)(*args)
        # A SentencePiece-style vocabulary llama.cpp accepts: <unk>, <s>, </s>, then plain pieces.
        tokens = ["<unk>", "<s>", "</s>"] + [f"t{i}" for i in range(VOCAB - 3)]
        w.add_tokenizer_model("llama")
        w.add_token_list(tokens)
        w.add_token_scores([0.0] * VOCAB)
        w.add_token_types([gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
                          + [gguf.TokenType.NORMAL] * (VOCAB - 3))
        w.add_bos_token_id(1)
        w.add_eos_token_id(2)
        w.add_unk_token_id(0)
        for name, array, is_matrix in self.tensors:
            if quantized and is_matrix:
                w.add_tensor(name, gguf.quants.quantize(array, QUANTIZED), raw_dtype=QUANTIZED)
            else:
                w.add_tensor(name, array)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()


def norm(m, prefix, bias):
    m.vector(prefix + ".weight", DIM, mean=1.0)
    if bias:
        m.vector(prefix + ".bias", DIM)


def separate_qkv_swiglu_layers(m, layer_norm, qkv_bias):
    """The layers of a llama-like decoder (separate Q, K, V with optional biases, SwiGLU MLP), then
    the output norm and matrix; `layer_norm` gives every norm a bias. Tensors in file order, which
    is also the order the seeded generator draws them in."""
    for i in range(LAYERS):
        p = f"blk.{i}."
        norm(m, p + "attn_norm", layer_norm)
        for projection, rows in (("q", DIM), ("k", KV_HEADS * HEAD_DIM), ("v", KV_HEADS * HEAD_DIM)):
            m.matrix(p + f"attn_{projection}.weight", rows, DIM)
            if qkv_bias:
                m.vector(p + f"attn_{projection}.bias", rows)
        m.matrix(p + "attn_output.weight", DIM, DIM)
        norm(m, p + "ffn_norm", layer_norm)
        m.matrix(p + "ffn_gate.weight", FFN, DIM)
        m.matrix(p + "ffn_up.weight", FFN, DIM)
        m.matrix(p + "ffn_down.weight", DIM, FFN)
    norm(m, "output_norm", layer_norm)
    m.matrix("output.weight", VOCAB, DIM)


def llama_separate_output():
    m = Model("synthetic llama, separate output", "llama", SEED + 1)
    m.key("add_head_count_kv", KV_HEADS)
    m.key("add_layer_norm_rms_eps", 1e-5)
    m.key("add_rope_dimension_count", HEAD_DIM)
    m.key("add_rope_freq_base", 10000.0)
    m.matrix("token_embd.weight", VOCAB, DIM, scale=1.0)
    separate_qkv_swiglu_layers(m, layer_norm=False, qkv_bias=False)
    return m


def stablelm():
    """LayerNorm with biases, 25% partial rotary, Q/K/V biases, SwiGLU."""
    m = Model("synthetic stablelm", "stablelm", SEED + 2)
    m.key("add_head_count_kv", KV_HEADS)
    m.key("add_layer_norm_eps", 1e-5)
    m.key("add_rope_dimension_count", HEAD_DIM // 4)
    m.key("add_rope_freq_base", 10000.0)
    m.matrix("token_embd.weight", VOCAB, DIM, scale=1.0)
    separate_qkv_swiglu_layers(m, layer_norm=True, qkv_bias=True)
    return m


def phi2():
    """LayerNorm, parallel attention + MLP, GELU, 50% partial rotary, fused QKV, biases everywhere."""
    m = Model("synthetic phi2", "phi2", SEED + 3)
    m.key("add_head_count_kv", HEADS)
    m.key("add_layer_norm_eps", 1e-5)
    m.key("add_rope_dimension_count", HEAD_DIM // 2)
    m.key("add_rope_freq_base", 10000.0)
    m.matrix("token_embd.weight", VOCAB, DIM, scale=1.0)
    for i in range(LAYERS):
        p = f"blk.{i}."
        norm(m, p + "attn_norm", True)
        m.matrix(p + "attn_qkv.weight", 3 * DIM, DIM)
        m.vector(p + "attn_qkv.bias", 3 * DIM)
        m.matrix(p + "attn_output.weight", DIM, DIM)
        m.vector(p + "attn_output.bias", DIM)
        m.matrix(p + "ffn_up.weight", FFN, DIM)
        m.vector(p + "ffn_up.bias", FFN)
        m.matrix(p + "ffn_down.weight", DIM, FFN)
        m.vector(p + "ffn_down.bias", DIM)
    norm(m, "output_norm", True)
    m.matrix("output.weight", VOCAB, DIM)
    m.vector("output.bias", VOCAB)
    return m


def phi3():
    """RMSNorm, fused QKV and fused gate|up, LongRoPE short/long factors with an attention factor,
    and a sliding window set in the file (which llama.cpp ignores for Phi-3, and so does slm)."""
    m = Model("synthetic phi3", "phi3", SEED + 4)
    m.key("add_head_count_kv", KV_HEADS)
    m.key("add_layer_norm_rms_eps", 1e-5)
    m.key("add_rope_dimension_count", HEAD_DIM)
    m.key("add_rope_freq_base", 10000.0)
    m.key("add_rope_scaling_attn_factors", 1.1902380714238083)
    m.key("add_rope_scaling_orig_ctx_len", CONTEXT // 2)
    m.key("add_sliding_window", 16)
    m.matrix("token_embd.weight", VOCAB, DIM, scale=1.0)
    rng = np.random.default_rng(SEED + 40)
    m.tensors.append(("rope_factors_short.weight", (1.0 + rng.random(HEAD_DIM // 2)).astype(np.float32), False))
    m.tensors.append(("rope_factors_long.weight", (1.0 + 4 * rng.random(HEAD_DIM // 2)).astype(np.float32), False))
    for i in range(LAYERS):
        p = f"blk.{i}."
        norm(m, p + "attn_norm", False)
        m.matrix(p + "attn_qkv.weight", DIM + 2 * KV_HEADS * HEAD_DIM, DIM)
        m.matrix(p + "attn_output.weight", DIM, DIM)
        norm(m, p + "ffn_norm", False)
        m.matrix(p + "ffn_up.weight", 2 * FFN, DIM)
        m.matrix(p + "ffn_down.weight", DIM, FFN)
    norm(m, "output_norm", False)
    m.matrix("output.weight", VOCAB, DIM)
    return m


def gemma2():
    """Gemma 2: pre- and post-norms, GeGLU, attention and final soft-capping (small caps so they
    bite), a 16-token sliding window on layer 0 (every other layer), layer 1 global."""
    m = Model("synthetic gemma2", "gemma2", SEED + 5)
    m.key("add_head_count_kv", KV_HEADS)
    m.key("add_layer_norm_rms_eps", 1e-6)
    m.key("add_key_length", HEAD_DIM)
    m.key("add_value_length", HEAD_DIM)
    m.key("add_rope_freq_base", 10000.0)
    m.key("add_attn_logit_softcapping", 2.0)
    m.key("add_final_logit_softcapping", 3.0)
    m.key("add_sliding_window", 16)
    m.matrix("token_embd.weight", VOCAB, DIM, scale=0.3)
    for i in range(LAYERS):
        p = f"blk.{i}."
        norm(m, p + "attn_norm", False)
        m.matrix(p + "attn_q.weight", DIM, DIM, scale=4.0 / np.sqrt(DIM))
        m.matrix(p + "attn_k.weight", KV_HEADS * HEAD_DIM, DIM, scale=4.0 / np.sqrt(DIM))
        m.matrix(p + "attn_v.weight", KV_HEADS * HEAD_DIM, DIM)
        m.matrix(p + "attn_output.weight", DIM, DIM)
        norm(m, p + "post_attention_norm", False)
        norm(m, p + "ffn_norm", False)
        m.matrix(p + "ffn_gate.weight", FFN, DIM)
        m.matrix(p + "ffn_up.weight", FFN, DIM)
        m.matrix(p + "ffn_down.weight", DIM, FFN)
        norm(m, p + "post_ffw_norm", False)
    norm(m, "output_norm", False)
    return m


FAMILIES = [("llama-output", llama_separate_output), ("stablelm", stablelm), ("phi2", phi2), ("phi3", phi3),
            ("gemma2", gemma2)]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.environ.get("SLM_CACHE", os.path.expanduser("~/.cache/slm")), "synthetic")
    os.makedirs(out, exist_ok=True)
    for name, build in FAMILIES:
        for quantized in (False, True):
            path = os.path.join(out, f"{name}-{'q8_0' if quantized else 'f32'}.gguf")
            tmp = path + ".tmp"
            build().write(tmp, quantized)
            os.replace(tmp, path)
            print(path)


if __name__ == "__main__":
    main()
