#!/usr/bin/env bash
# Measures how closely slm's matrix kernels reproduce llama.cpp's on a real GGUF: every 2D
# weight times fixed pseudo-random activations, through ggml's CPU backend (with llama.cpp's
# weight repacking) and through slm's dispatch, for a decode step (1 token) and for batches.
# Prints per type: matrices, how many came out bit-identical, the largest difference relative
# to the matrix's largest output.
# A measurement for docs/correctness.md, not a test (x86-64 with the reference build only).
#
#   scripts/compare-kernels-with-llama-cpp.sh MODEL.gguf [TOKENS...]   (default tokens: 1 3 4 8)
set -euo pipefail
shopt -s globstar  # the kernels sit in per-architecture folders (Sources/CSLMKernels/*/)
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SLM_CACHE="${SLM_CACHE:-$HOME/.cache/slm}"
MODEL="${1:?usage: $0 MODEL.gguf [TOKENS...]}"
shift
TOKENS=("$@")
((${#TOKENS[@]})) || TOKENS=(1 3 4 8)

BUILD_DIR="$("$ROOT/scripts/build-llama-cpp.sh")"
LLAMA_DIR="$(dirname "$BUILD_DIR")"
TOOL="$SLM_CACHE/golden/kernels_vs_ggml"
SRC="$ROOT/scripts/golden/kernels_vs_ggml.c"
mkdir -p "$(dirname "$TOOL")"
if [[ ! -x "$TOOL" || "$SRC" -nt "$TOOL" || -n "$(find "$ROOT/Sources/CSLMKernels" -newer "$TOOL" -print -quit)" ]]; then
    echo "compiling $TOOL" >&2
    cc -std=gnu11 -O3 -fno-math-errno -o "$TOOL" "$SRC" "$ROOT"/Sources/CSLMKernels/**/*.c \
        -I "$ROOT/Sources/CSLMKernels/include" -I "$ROOT/Sources/CSLMKernels" \
        -I "$LLAMA_DIR/ggml/include" -L "$BUILD_DIR/bin" -Wl,-rpath,"$BUILD_DIR/bin" \
        -lggml -lggml-base -lggml-cpu -lm
fi
for t in "${TOKENS[@]}"; do
    "$TOOL" "$MODEL" "$t" 2>/dev/null
done
