#!/usr/bin/env python3
"""Converts a sentence-transformers BERT checkpoint to a GGUF that llama.cpp loads as `bert`.

    scripts/convert-bert-gguf.py CHECKPOINT_DIR OUT.gguf [--type f16|f32|q8_0] [--name NAME]

CHECKPOINT_DIR holds model.safetensors and config.json (a BertModel), the WordPiece vocabulary
(tokenizer.json, or vocab.txt), tokenizer_config.json and, for the pooling type, modules.json with
its Pooling module's config.json (1_Pooling/config.json). Needs only the PyPI packages `gguf`,
`safetensors` and numpy (scripts/fetch-model.sh minilm installs them into the cache).

What is written follows llama.cpp's own converter for BERT (conversion/bert.py and gguf-py's
SpecialVocab in the llama.cpp sources), so llama.cpp's tools load the file and tokenize as they
would a file of theirs:
  * keys: bert.{context_length, embedding_length, feed_forward_length, block_count,
    attention.head_count, attention.layer_norm_epsilon, attention.causal=false, pooling_type}
    (pooling: mean=1, cls=2, last=3, llama.cpp's enum);
  * vocabulary: tokenizer.ggml.model=bert; tokens in llama.cpp's phantom-space form ("##x" is
    stored as "x", any other normal token "x" as "\u2581x", special tokens as they are); the special
    tokens ([PAD] [UNK] [CLS] [SEP] [MASK]) are CONTROL, every other token NORMAL, ids missing
    from the vocabulary "[PAD<id>]" UNUSED; bos=[CLS], eos=[SEP], unk, sep, pad, mask ids;
    add_bos=add_eos=true, add_sep=false (what SpecialVocab derives from BERT's
    "[CLS] $A [SEP]" / "[CLS] $A [SEP] $B [SEP]" templates); token_type_count;
    tokenizer.ggml.normalizer.lowercase (and strip_accents when the checkpoint sets it explicitly;
    llama.cpp strips accents when lowercasing unless told otherwise, as HF's BertNormalizer does);
  * tensors: token_embd, position_embd, token_types, token_embd_norm, and per block attn_q, attn_k,
    attn_v, attn_output, attn_output_norm, ffn_up, ffn_down, layer_output_norm (weights and
    biases). The pooler and the masked-LM head are dropped.
  * types: norms, biases (every 1-D tensor), position_embd and token_types stay F32, as llama.cpp's
    converter keeps them; the other matrices (token_embd, attention and feed-forward weights) are
    F16, F32 or Q8_0 (gguf.quants; a matrix whose rows are not a multiple of 32 falls back to F16).

tokenizer.ggml.pre is "bert-bge" unless --pre says otherwise: llama.cpp's converter names it from
a hash of a tokenization that gives "bert-bge" for the uncased English WordPiece vocabulary
(bge-small, all-MiniLM); llama.cpp does not use the name for WordPiece vocabularies.

The output is deterministic: keys and tensors are written in a fixed order, with no timestamps.
"""
import argparse
import json
import os
import sys

import numpy as np
import gguf
from safetensors.numpy import load_file

PHANTOM_SPACE = "\u2581"
SPECIAL_KEYS = ("unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
POOLING = {"mean": gguf.PoolingType.MEAN, "cls": gguf.PoolingType.CLS, "lasttoken": gguf.PoolingType.LAST}
TYPES = {
    "f32": (gguf.GGMLQuantizationType.F32, gguf.LlamaFileType.ALL_F32),
    "f16": (gguf.GGMLQuantizationType.F16, gguf.LlamaFileType.MOSTLY_F16),
    "q8_0": (gguf.GGMLQuantizationType.Q8_0, gguf.LlamaFileType.MOSTLY_Q8_0),
}


def read_json(path, default=None):
    if not os.path.isfile(path):
        if default is not None:
            return default
        sys.exit(f"convert-bert-gguf: missing {path}")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def special_token_text(entry):
    """tokenizer_config.json writes a special token as a string or as {"content": ...}."""
    if isinstance(entry, dict):
        entry = entry.get("content")
    return entry if isinstance(entry, str) else None


def load_vocabulary(ckpt, config):
    """Returns (tokens by id in HF form, the set of special token strings, normalizer options)."""
    tok_config = read_json(os.path.join(ckpt, "tokenizer_config.json"), default={})
    specials_map = read_json(os.path.join(ckpt, "special_tokens_map.json"), default={})
    tokenizer_json = os.path.join(ckpt, "tokenizer.json")
    added = []
    normalizer = None
    if os.path.isfile(tokenizer_json):
        tj = read_json(tokenizer_json)
        model = tj.get("model", {})
        if model.get("type") != "WordPiece":
            sys.exit(f"convert-bert-gguf: tokenizer.json model is {model.get('type')}, not WordPiece")
        if model.get("continuing_subword_prefix", "##") != "##":
            sys.exit("convert-bert-gguf: only the '##' continuing-subword prefix is supported")
        vocab = dict(model["vocab"])
        added = tj.get("added_tokens") or []
        for a in added:  # added tokens are part of the id space
            vocab.setdefault(a["content"], a["id"])
        norm = tj.get("normalizer") or {}
        if norm.get("type") == "BertNormalizer":
            normalizer = norm
    else:
        vocab = {}
        with open(os.path.join(ckpt, "vocab.txt"), encoding="utf-8") as f:
            for i, line in enumerate(f):
                vocab.setdefault(line.rstrip("\n"), i)

    n_vocab = int(config.get("vocab_size", max(vocab.values()) + 1))
    if max(vocab.values()) >= n_vocab:
        sys.exit(f"convert-bert-gguf: token id {max(vocab.values())} outside vocab_size {n_vocab}")
    tokens = [None] * n_vocab
    for text, i in vocab.items():
        if tokens[i] is None:
            tokens[i] = text

    # Special tokens: tokenizer.json's added tokens marked special, else the tokenizer config's.
    specials = {a["content"] for a in added if a.get("special")}
    user_defined = {a["content"] for a in added if not a.get("special")}
    if not specials:
        for key in SPECIAL_KEYS:
            text = special_token_text(tok_config.get(key)) or special_token_text(specials_map.get(key))
            if text is not None and text in vocab:
                specials.add(text)

    # Normalizer: HF's BertNormalizer options, else the slow tokenizer's config.
    if normalizer is not None:
        lowercase = normalizer.get("lowercase", True)
        strip_accents = normalizer.get("strip_accents")
    else:
        lowercase = tok_config.get("do_lower_case", True)
        strip_accents = tok_config.get("strip_accents")
    return tokens, specials, user_defined, vocab, tok_config, specials_map, (lowercase, strip_accents)


def special_id(name, default, vocab, tok_config, specials_map):
    text = special_token_text(tok_config.get(name)) or special_token_text(specials_map.get(name)) or default
    if text not in vocab:
        sys.exit(f"convert-bert-gguf: special token {name}={text!r} not in the vocabulary")
    return vocab[text]


def pooling_type(ckpt):
    modules = read_json(os.path.join(ckpt, "modules.json"), default=[])
    path = next((m["path"] for m in modules if m.get("type", "").endswith("Pooling")), None)
    if path is None:
        return None
    pooling = read_json(os.path.join(ckpt, path, "config.json"))
    if pooling.get("pooling_mode_mean_tokens"):
        return gguf.PoolingType.MEAN
    if pooling.get("pooling_mode_cls_token"):
        return gguf.PoolingType.CLS
    if pooling.get("pooling_mode_lasttoken"):
        return gguf.PoolingType.LAST
    if pooling.get("pooling_mode") in POOLING:
        return POOLING[pooling["pooling_mode"]]
    sys.exit(f"convert-bert-gguf: unsupported pooling in {path}/config.json (llama.cpp has mean, cls, last)")


def load_tensors(ckpt, n_layer):
    """HF BERT tensors by GGUF name, in the order they are written."""
    raw = load_file(os.path.join(ckpt, "model.safetensors"))
    hf = {}
    for name, array in raw.items():
        if name.startswith("bert."):
            name = name[len("bert."):]
        if name.endswith(".gamma"):
            name = name[:-len(".gamma")] + ".weight"
        elif name.endswith(".beta"):
            name = name[:-len(".beta")] + ".bias"
        if name == "embeddings.position_ids" or name.startswith(("pooler.", "cls.")):
            continue  # the pooler and the masked-LM / NSP heads are not used for embeddings
        hf[name] = array

    mapping = [
        ("token_embd.weight", "embeddings.word_embeddings.weight"),
        ("position_embd.weight", "embeddings.position_embeddings.weight"),
        ("token_types.weight", "embeddings.token_type_embeddings.weight"),
        ("token_embd_norm.weight", "embeddings.LayerNorm.weight"),
        ("token_embd_norm.bias", "embeddings.LayerNorm.bias"),
    ]
    per_block = [
        ("attn_q", "attention.self.query"),
        ("attn_k", "attention.self.key"),
        ("attn_v", "attention.self.value"),
        ("attn_output", "attention.output.dense"),
        ("attn_output_norm", "attention.output.LayerNorm"),
        ("ffn_up", "intermediate.dense"),
        ("ffn_down", "output.dense"),
        ("layer_output_norm", "output.LayerNorm"),
    ]
    for i in range(n_layer):
        for gname, hname in per_block:
            for part in ("weight", "bias"):
                mapping.append((f"blk.{i}.{gname}.{part}", f"encoder.layer.{i}.{hname}.{part}"))

    out = []
    for gname, hname in mapping:
        if hname not in hf:
            sys.exit(f"convert-bert-gguf: tensor {hname} missing from model.safetensors")
        out.append((gname, hf.pop(hname)))
    if hf:
        sys.exit(f"convert-bert-gguf: unexpected tensors: {', '.join(sorted(hf))}")
    return out


def tensor_type(name, array, wanted):
    """llama.cpp's converter: 1-D tensors, norms, position and token-type embeddings stay F32."""
    if array.ndim <= 1 or name.endswith("_norm.weight") or not name.endswith(".weight"):
        return gguf.GGMLQuantizationType.F32
    if name in ("position_embd.weight", "token_types.weight"):
        return gguf.GGMLQuantizationType.F32
    if wanted == gguf.GGMLQuantizationType.Q8_0 and array.shape[-1] % 32 != 0:
        return gguf.GGMLQuantizationType.F16
    return wanted


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("out")
    ap.add_argument("--type", choices=sorted(TYPES), default="f16")
    ap.add_argument("--name", default=None, help="general.name (default: the checkpoint's directory name)")
    ap.add_argument("--pre", default="bert-bge", help="tokenizer.ggml.pre (default: bert-bge)")
    args = ap.parse_args()
    ckpt = args.checkpoint

    config = read_json(os.path.join(ckpt, "config.json"))
    archs = config.get("architectures") or ["BertModel"]
    if config.get("model_type", "bert") != "bert" or not any(a in ("BertModel", "BertForMaskedLM") for a in archs):
        sys.exit(f"convert-bert-gguf: not a BERT checkpoint ({config.get('model_type')}, {archs})")
    if config.get("position_embedding_type", "absolute") != "absolute":
        sys.exit("convert-bert-gguf: only absolute position embeddings are supported")
    if config.get("hidden_act", "gelu") != "gelu":
        print(f"convert-bert-gguf: warning: hidden_act {config['hidden_act']}; llama.cpp's bert uses GELU",
              file=sys.stderr)
    n_layer = int(config["num_hidden_layers"])
    n_embd = int(config["hidden_size"])
    n_head = int(config["num_attention_heads"])
    if n_embd % n_head:
        sys.exit("convert-bert-gguf: hidden_size is not a multiple of num_attention_heads")

    tokens, specials, user_defined, vocab, tok_config, specials_map, (lowercase, strip_accents) = \
        load_vocabulary(ckpt, config)
    gguf_tokens, token_types = [], []
    for i, tok in enumerate(tokens):
        if tok is None:
            gguf_tokens.append(PHANTOM_SPACE + f"[PAD{i}]")  # as llama.cpp's converter names a hole
            token_types.append(gguf.TokenType.UNUSED)
        elif tok in specials:
            gguf_tokens.append(tok)
            token_types.append(gguf.TokenType.CONTROL)
        else:
            gguf_tokens.append(tok[2:] if tok.startswith("##") else PHANTOM_SPACE + tok)
            token_types.append(gguf.TokenType.USER_DEFINED if tok in user_defined else gguf.TokenType.NORMAL)

    cls_id = special_id("cls_token", "[CLS]", vocab, tok_config, specials_map)
    sep_id = special_id("sep_token", "[SEP]", vocab, tok_config, specials_map)
    unk_id = special_id("unk_token", "[UNK]", vocab, tok_config, specials_map)
    pad_id = special_id("pad_token", "[PAD]", vocab, tok_config, specials_map)
    mask_id = special_id("mask_token", "[MASK]", vocab, tok_config, specials_map)

    wanted, file_type = TYPES[args.type]
    tensors = load_tensors(ckpt, n_layer)
    name = args.name or os.path.basename(os.path.normpath(ckpt))

    w = gguf.GGUFWriter(args.out, "bert")
    w.add_name(name)
    w.add_context_length(int(config["max_position_embeddings"]))
    w.add_embedding_length(n_embd)
    w.add_feed_forward_length(int(config["intermediate_size"]))
    w.add_block_count(n_layer)
    w.add_head_count(n_head)
    w.add_layer_norm_eps(float(config.get("layer_norm_eps", 1e-12)))
    w.add_causal_attention(False)
    pooling = pooling_type(ckpt)
    if pooling is not None:
        w.add_pooling_type(pooling)
    w.add_file_type(file_type)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)

    w.add_token_type_count(int(config.get("type_vocab_size", 1)))
    w.add_tokenizer_model("bert")
    w.add_tokenizer_pre(args.pre)
    w.add_token_list(gguf_tokens)
    w.add_token_types(token_types)
    w.add_bos_token_id(cls_id)
    w.add_eos_token_id(sep_id)
    w.add_unk_token_id(unk_id)
    w.add_sep_token_id(sep_id)
    w.add_pad_token_id(pad_id)
    w.add_mask_token_id(mask_id)
    w.add_add_bos_token(True)
    w.add_add_eos_token(True)
    w.add_add_sep_token(False)
    # The gguf package on PyPI (0.19.0) has no add_normalizer_* helpers yet: the keys are written as
    # llama.cpp's gguf-py names them.
    w.add_bool("tokenizer.ggml.normalizer.lowercase", bool(lowercase))
    if isinstance(strip_accents, bool):
        w.add_bool("tokenizer.ggml.normalizer.strip_accents", strip_accents)

    counts = {}
    for tname, array in tensors:
        array = np.ascontiguousarray(array, dtype=np.float32)
        qtype = tensor_type(tname, array, wanted)
        counts[qtype.name] = counts.get(qtype.name, 0) + 1
        if qtype == gguf.GGMLQuantizationType.F32:
            w.add_tensor(tname, array)
        elif qtype == gguf.GGMLQuantizationType.F16:
            w.add_tensor(tname, array.astype(np.float16))
        else:
            w.add_tensor(tname, gguf.quants.quantize(array, qtype), raw_dtype=qtype)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    print(f"convert-bert-gguf: wrote {args.out} ({len(tensors)} tensors: {summary}; "
          f"{len(gguf_tokens)} tokens, {n_layer} layers, pooling {pooling.name if pooling else 'none'})",
          file=sys.stderr)


if __name__ == "__main__":
    main()
