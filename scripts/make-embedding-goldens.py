#!/usr/bin/env python3
"""Writes the sentence-embedding goldens for all-MiniLM-L6-v2 (run it through
scripts/make-embedding-goldens.sh, which fetches the model and installs the packages).

    make-embedding-goldens.py --checkpoint DIR --gguf MODEL.gguf --llama-bin DIR --texts JSON --out JSON

For every text of scripts/golden/embedding-texts.json the fixture has:
  hf_ids     token ids of HF `tokenizers` loading the checkpoint's tokenizer.json, padding and
             truncation off, with [CLS] ... [SEP];
  llama_ids  token ids of llama.cpp's llama-tokenize on the GGUF (text from a file, escapes off,
             special tokens added and parsed, as llama-embedding tokenizes);
  reference  the sentence-transformers embedding computed here with numpy in float64 from
             model.safetensors on hf_ids: word + position + token-type-0 embeddings, LayerNorm; per
             layer self-attention (scale 1/sqrt(head_dim), no mask: one sequence), output dense +
             residual, LayerNorm, intermediate dense, exact (erf) GELU, output dense + residual,
             LayerNorm; mean pooling over all tokens; L2 normalization. sentence-transformers'
             max_seq_length (256) is not applied: every text is embedded whole (all fit in 512);
  llama_cpp  llama-embedding's vector for the text (--pooling mean --embd-normalize 2) on the GGUF.
Vectors are rounded to 7 significant digits (llama-embedding prints 7 decimals).

Checks printed (and failing the run when violated): the cosine of the references of
"A man is eating food." and "A man is eating a piece of bread." is 0.7553 +- 0.005
(sentence-transformers' published value); the cosine of reference and llama_cpp per text (the
minimum over texts whose ids agree must be above 0.999); which texts' hf_ids and llama_ids differ.
"""
import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

PAIR = ("A man is eating food.", "A man is eating a piece of bread.")
PAIR_COSINE, PAIR_TOLERANCE = 0.7553, 0.005
MIN_COSINE = 0.999
# The string llama.cpp's converter tokenizes to name the pre-tokenizer (conversion/base.py,
# get_vocab_base_pre); its hash for bge-small-en-v1.5's tokenizer is the "bert-bge" entry.
CHKTXT = ('\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n🚀 (normal) 😶\u200d🌫️ (multiple emojis concatenated) '
          '✅ 🦙🦙 3 33 333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 កាន់តែពិសេសអាច😁 ?我想在apple工作1314151天～ '
          '------======= нещо на Български \'\'\'\'\'\'```````""""......!!!!!!?????? I\'ve been \'told he\'s there, '
          '\'RE you sure? \'M not sure I\'ll make it, \'D you like some tea? We\'Ve a\'lL')
BERT_BGE_HASH = "0876d13b50744004aa9aeae05e7b0647eac9d801b5ba4668afc01e709c15e19f"


def sig7(v):
    return [float(f"{x:.7g}") for x in v]


class Bert:
    """A float64 BERT encoder from a HF checkpoint's safetensors."""

    def __init__(self, ckpt):
        with open(os.path.join(ckpt, "config.json"), encoding="utf-8") as f:
            self.config = json.load(f)
        raw = load_file(os.path.join(ckpt, "model.safetensors"))
        self.w = {k[len("bert."):] if k.startswith("bert.") else k: v.astype(np.float64) for k, v in raw.items()}
        self.n_head = self.config["num_attention_heads"]
        self.eps = self.config.get("layer_norm_eps", 1e-12)
        self.erf = np.frompyfunc(math.erf, 1, 1)
        assert self.config.get("hidden_act", "gelu") == "gelu"

    def layer_norm(self, x, name):
        mean = x.mean(axis=-1, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        return (x - mean) / np.sqrt(var + self.eps) * self.w[name + ".weight"] + self.w[name + ".bias"]

    def dense(self, x, name):
        return x @ self.w[name + ".weight"].T + self.w[name + ".bias"]

    def gelu(self, x):
        return 0.5 * x * (1.0 + self.erf(x / math.sqrt(2.0)).astype(np.float64))

    def embed(self, ids):
        n = len(ids)
        w = self.w
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = self.layer_norm(x, "embeddings.LayerNorm")
        dim = x.shape[1]
        hd = dim // self.n_head
        for i in range(self.config["num_hidden_layers"]):
            p = f"encoder.layer.{i}."
            heads = lambda t: t.reshape(n, self.n_head, hd).transpose(1, 0, 2)  # (head, token, hd)
            q = heads(self.dense(x, p + "attention.self.query"))
            k = heads(self.dense(x, p + "attention.self.key"))
            v = heads(self.dense(x, p + "attention.self.value"))
            scores = q @ k.transpose(0, 2, 1) / math.sqrt(hd)
            scores -= scores.max(axis=-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(axis=-1, keepdims=True)
            ctx = (probs @ v).transpose(1, 0, 2).reshape(n, dim)
            x = self.layer_norm(self.dense(ctx, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
            h = self.gelu(self.dense(x, p + "intermediate.dense"))
            x = self.layer_norm(self.dense(h, p + "output.dense") + x, p + "output.LayerNorm")
        pooled = x.mean(axis=0)
        return pooled / np.linalg.norm(pooled)


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr[-2000:]}")
    return r.stdout


def with_file(content):
    f = tempfile.NamedTemporaryFile("wb", suffix=".txt", delete=False)
    f.write(content.encode("utf-8"))
    f.close()
    return f.name


def llama_tokenize(tool, gguf, text):
    path = with_file(text)  # llama-tokenize keeps a file's bytes exactly
    try:
        out = run([tool, "-m", gguf, "-f", path, "--ids", "--no-escape", "--log-disable"])
    finally:
        os.unlink(path)
    return json.loads(out.strip().splitlines()[-1])


def llama_embed(tool, gguf, text):
    # llama-embedding's -f drops one trailing newline: add one so the text arrives whole. The
    # separator (default: newline) is set to a string no text has, so a text is one prompt.
    path = with_file(text + "\n")
    try:
        # llama.cpp prints through a logging thread; on a busy machine its stdout was once cut
        # short at exit, so an output that does not parse is retried.
        for attempt in range(3):
            out = run([tool, "-m", gguf, "-f", path, "--no-escape", "--embd-separator", "<#slm-one-prompt#>",
                       "--pooling", "mean", "--embd-normalize", "2", "--embd-output-format", "json",
                       "-c", "512", "-b", "512", "-ub", "512", "-t", "2", "--no-warmup"])
            try:
                doc = json.loads(out[out.index("{"):out.rindex("}") + 1])
                break
            except ValueError:
                print(f"llama-embedding output did not parse (attempt {attempt + 1}): {out[-200:]!r}",
                      file=sys.stderr)
        else:
            sys.exit("llama-embedding: no JSON output")
    finally:
        os.unlink(path)
    assert len(doc["data"]) == 1, "text split into several prompts"
    return np.array(doc["data"][0]["embedding"], dtype=np.float64)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--llama-bin", required=True)
    ap.add_argument("--texts", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--converter-type", default="f16")
    ap.add_argument("--checkpoint-source", default="")
    ap.add_argument("--tokenizers-version", default="")
    ap.add_argument("--llama-cpp-version", default="")
    args = ap.parse_args()

    with open(args.texts, encoding="utf-8") as f:
        corpus = json.load(f)
    assert corpus["format"] == "slm-embedding-texts-v1", corpus["format"]

    tok = Tokenizer.from_file(os.path.join(args.checkpoint, "tokenizer.json"))
    tok.no_padding()  # tokenizer.json pads to 128 and truncates at 128: off, as in sentence-transformers
    tok.no_truncation()
    pre_hash = hashlib.sha256(str(tok.encode(CHKTXT).ids).encode()).hexdigest()
    bert = Bert(args.checkpoint)
    tokenize = os.path.join(args.llama_bin, "llama-tokenize")
    embedding = os.path.join(args.llama_bin, "llama-embedding")

    cases, by_text = [], {}
    for item in corpus["texts"]:
        text = item["text"]
        hf_ids = tok.encode(text).ids
        llama_ids = llama_tokenize(tokenize, args.gguf, text)
        ref = bert.embed(hf_ids)
        lc = llama_embed(embedding, args.gguf, text)
        cos = float(ref @ lc / (np.linalg.norm(ref) * np.linalg.norm(lc)))
        by_text[text] = ref
        cases.append({"name": item["name"], "text": text, "hf_ids": hf_ids, "llama_ids": llama_ids,
                      "ids_equal": hf_ids == llama_ids, "cos_reference_llama_cpp": round(cos, 7),
                      "reference": sig7(ref), "llama_cpp": sig7(lc)})
        print(f"{item['name']:24s} {len(hf_ids):4d} tokens  cos(ref, llama.cpp) {cos:.7f}"
              f"{'' if hf_ids == llama_ids else '  ids differ'}", file=sys.stderr)

    a, b = by_text[PAIR[0]], by_text[PAIR[1]]
    pair_cos = float(a @ b)
    same = [c for c in cases if c["ids_equal"]]
    min_same = min(same, key=lambda c: c["cos_reference_llama_cpp"])
    min_all = min(cases, key=lambda c: c["cos_reference_llama_cpp"])
    differ = [c["name"] for c in cases if not c["ids_equal"]]
    print(f"cos(reference) of the pair: {pair_cos:.5f} (published {PAIR_COSINE} +- {PAIR_TOLERANCE})", file=sys.stderr)
    print(f"min cos(reference, llama.cpp): {min_all['cos_reference_llama_cpp']:.7f} ({min_all['name']}); "
          f"over texts whose ids agree: {min_same['cos_reference_llama_cpp']:.7f} ({min_same['name']})", file=sys.stderr)
    print(f"texts whose hf_ids and llama_ids differ: {differ or 'none'}", file=sys.stderr)
    print(f"tokenizer pre-hash {pre_hash}: {'bert-bge' if pre_hash == BERT_BGE_HASH else 'not bert-bge'}",
          file=sys.stderr)

    header = {
        "format": "slm-embedding-golden-v1",
        "model": os.path.basename(args.gguf),
        "converter": f"scripts/convert-bert-gguf.py --type {args.converter_type}",
        "checkpoint": args.checkpoint_source,
        "dim": int(len(a)),
        "pooling": "mean",
        "normalize": "L2",
        "hf_ids": f"HF tokenizers {args.tokenizers_version} on tokenizer.json, padding and truncation off, "
                  "with [CLS] and [SEP]",
        "llama_ids": f"llama.cpp llama-tokenize ({args.llama_cpp_version}) on the GGUF, --no-escape, "
                     "special tokens added and parsed",
        "reference": "numpy float64 BERT forward from model.safetensors on hf_ids (exact erf GELU, no "
                     "truncation to sentence-transformers' max_seq_length 256), mean pooling over all "
                     "tokens, L2 normalization; 7 significant digits",
        "llama_cpp": f"llama.cpp llama-embedding ({args.llama_cpp_version}) on the GGUF, --pooling mean "
                     "--embd-normalize 2; 7 significant digits",
        "notes": "Known differences of llama.cpp's WordPiece tokenizer from HF's, seen in ids_differ: its NFD "
                 "maps a precomposed character to one code point (the first of its decomposition), so a Hangul "
                 "syllable keeps only its leading consonant jamo where HF keeps all two or three jamo; it has "
                 "no 100-character limit on a word (HF's max_input_chars_per_word), where HF gives [UNK].",
        "checks": {
            "pair": list(PAIR),
            "pair_cosine_reference": round(pair_cos, 7),
            "pair_cosine_published": PAIR_COSINE,
            "min_cosine_reference_llama_cpp": min_all["cos_reference_llama_cpp"],
            "min_cosine_reference_llama_cpp_ids_equal": min_same["cos_reference_llama_cpp"],
            "ids_differ": differ,
            "tokenizer_pre_hash_is_bert_bge": pre_hash == BERT_BGE_HASH,
        },
    }
    dump = lambda v: json.dumps(v, ensure_ascii=False)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write("{\n")
        for k, v in header.items():
            f.write(f" {dump(k)}: {dump(v)},\n")
        f.write(' "cases": [\n')
        f.write(",\n".join("  " + dump(c) for c in cases))
        f.write("\n ]\n}\n")
    with open(args.out, encoding="utf-8") as f:
        json.load(f)  # well-formed
    print(f"wrote {len(cases)} cases to {args.out} ({os.path.getsize(args.out)} bytes)", file=sys.stderr)

    failed = []
    if abs(pair_cos - PAIR_COSINE) > PAIR_TOLERANCE:
        failed.append(f"pair cosine {pair_cos:.5f} is not {PAIR_COSINE} +- {PAIR_TOLERANCE}")
    if min_same["cos_reference_llama_cpp"] < MIN_COSINE:
        failed.append(f"cos(reference, llama.cpp) {min_same['cos_reference_llama_cpp']} < {MIN_COSINE} "
                      f"for {min_same['name']}")
    if failed:
        sys.exit("make-embedding-goldens: " + "; ".join(failed))


if __name__ == "__main__":
    main()
