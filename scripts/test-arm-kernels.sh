#!/usr/bin/env bash
# The C kernel twin test (Tests/CKernelTests/kernel_twins.c: every SIMD dot kernel against its
# scalar twin, every aarch64 NEON / SDOT dot against its NEON-order scalar twin bit for bit, every
# aarch64 tile against its dot and that twin bit for bit) on every architecture we ship,
# without a board:
#   x86-64 native                 AVX2 vs generic (when this CPU has AVX2+FMA+F16C); the VNNI
#                                 builds (AVX-VNNI, AVX512-VNNI where the CPU has them, and the
#                                 emulated one always) vs AVX2 bit for bit and vs generic
#   aarch64 armv8-a, qemu max     NEON, SDOT and SMMLA (dotprod, i8mm, SVE: dispatch must find all)
#   aarch64 armv8-a, cortex-a76   NEON and SDOT (dotprod, no i8mm: no SMMLA tiles offered)
#   aarch64 armv8-a, cortex-a53   NEON (no dotprod: dispatch must offer neither SDOT nor SMMLA)
#   aarch64 armv8.2-a+dotprod     all of the above on qemu max, built with SDOT as the baseline
#   aarch64 clang, qemu max       the kernels compiled by clang (what SwiftPM builds them with on a
#                                 board), linked by the cross gcc; skipped when no clang is found
# The armv8.2-a build is run only on qemu's default CPU: its baseline lets the compiler use
# SDOT anywhere, so it is not meant for a CPU without it.
# Needs gcc-aarch64-linux-gnu and qemu-user-static (installed here when missing).
# Last line: "C kernel tests: P passed, F failed" (check counts summed over the runs); exits 1 on
# any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/apt-install.sh gcc-aarch64-linux-gnu qemu-user-static

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
# The kernels sit in per-architecture folders (generic/, x86/, arm/); every build compiles all of
# them, and each folder's code guards itself by architecture.
shopt -s globstar
sources=(Sources/CSLMKernels/**/*.c Tests/CKernelTests/kernel_twins.c)
# The kernels' own flags (Package.swift) plus warnings; no -march beyond each run's baseline.
cflags=(-std=gnu11 -O3 -fno-math-errno -Wall -Wextra -ISources/CSLMKernels/include -ISources/CSLMKernels)

passed=0
failed=0
status=0
# run NAME EXPECTED_TABLES EXPECTED_FEATURES COMMAND...: runs one build (checking the tables and,
# unless EXPECTED_FEATURES is empty, the CPU features the dispatch finds), adds its counts to the
# totals.
run() {
    local name="$1" expect="$2" features="$3"
    shift 3
    local log="$out/$name.log" rc=0
    local args=(--expect "$expect")
    [[ -n "$features" ]] && args+=(--expect-features "$features")
    "$@" "${args[@]}" >"$log" 2>&1 || rc=$?
    local counts
    counts="$(grep -E '^kernel_twins: [0-9]+ passed, [0-9]+ failed$' "$log" || true)"
    if [[ -z "$counts" ]]; then
        echo "$name: no result line (exit $rc)"
        tail -5 "$log"
        failed=$((failed + 1))
        status=1
        return
    fi
    local p f
    p="$(sed -E 's/^kernel_twins: ([0-9]+) passed.*/\1/' <<<"$counts")"
    f="$(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"$counts")"
    passed=$((passed + p))
    failed=$((failed + f))
    ((rc == 0)) || status=1
    echo "$name: $p passed, $f failed"
    grep -E '^FAIL' "$log" | head -10 || true
}

if [[ "$(uname -m)" == x86_64 ]]; then
    cc "${cflags[@]}" "${sources[@]}" -lm -o "$out/x86"
    # The tables this CPU must offer, in the harness's order: AVX2, then the VNNI builds it has,
    # then the emulated VNNI build (any AVX2 CPU). Native VNNI builds it lacks are reported skipped.
    expect_x86=none
    flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
    has() { for f in "$@"; do [[ "$flags" == *" $f "* ]] || return 1; done; }
    if has avx2 fma f16c; then
        expect_x86=avx2
        has avx_vnni && expect_x86+=,avxvnni
        has avx512f avx512bw avx512vl avx512_vnni && expect_x86+=,avx512vnni
        expect_x86+=,vnni_emulated
    fi
    run "x86-64 native" "$expect_x86" "" "$out/x86"
fi

# The two cross builds at once (the machine has two cores).
aarch64-linux-gnu-gcc "${cflags[@]}" -static -march=armv8-a "${sources[@]}" -lm -o "$out/armv8-a" &
aarch64-linux-gnu-gcc "${cflags[@]}" -static -march=armv8.2-a+dotprod "${sources[@]}" -lm -o "$out/armv8.2-a" &
wait %1 && wait %2
all_arm=neon,neon_dotprod,neon_i8mm
run "aarch64 armv8-a on qemu max" "$all_arm" neon,dotprod,i8mm,sve qemu-aarch64-static -cpu max "$out/armv8-a"
run "aarch64 armv8-a on qemu cortex-a76" neon,neon_dotprod neon,dotprod \
    qemu-aarch64-static -cpu cortex-a76 "$out/armv8-a"
run "aarch64 armv8-a on qemu cortex-a53" neon neon qemu-aarch64-static -cpu cortex-a53 "$out/armv8-a"
run "aarch64 armv8.2-a+dotprod on qemu max" "$all_arm" neon,dotprod,i8mm,sve \
    qemu-aarch64-static -cpu max "$out/armv8.2-a"

# clang (the Swift toolchain's, else the system's): its code generation (FMA contraction, target
# attributes) must give the same bits as gcc's.
clang_bin="$(command -v clang || true)"
[[ -z "$clang_bin" && -x /opt/swift/usr/bin/clang ]] && clang_bin=/opt/swift/usr/bin/clang
if [[ -n "$clang_bin" ]]; then
    mkdir -p "$out/clang"
    objects=()
    for f in "${sources[@]}"; do
        o="$out/clang/$(echo "$f" | tr / _).o"
        "$clang_bin" --target=aarch64-linux-gnu --sysroot=/usr/aarch64-linux-gnu -isystem /usr/aarch64-linux-gnu/include \
            "${cflags[@]}" -Wno-unused-function -march=armv8-a -c "$f" -o "$o"
        objects+=("$o")
    done
    aarch64-linux-gnu-gcc -static "${objects[@]}" -lm -o "$out/clang-armv8-a"
    run "aarch64 clang armv8-a on qemu max" "$all_arm" neon,dotprod,i8mm,sve \
        qemu-aarch64-static -cpu max "$out/clang-armv8-a"
else
    echo "aarch64 clang: skipped (no clang found)"
fi

echo "C kernel tests: $passed passed, $failed failed"
((status == 0 && failed == 0))
