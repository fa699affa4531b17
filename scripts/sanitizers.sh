#!/usr/bin/env bash
# Runs tests under sanitizers; exit 1 on any report or test failure.
#   scripts/sanitizers.sh [asan] [tsan] [c]      (default: all three)
#
#   asan  the Swift tests below with AddressSanitizer (.build-asan)
#   tsan  the multithreaded subset below with ThreadSanitizer (.build-tsan)
#   Both are optimised builds (-c release -enable-testing, as scripts/test.sh builds): a debug
#   build under TSan runs the forward pass so slowly that one daemon test took over 20 minutes.
#   c     the C kernel twin tests (Tests/CKernelTests/kernel_twins.c, as scripts/test-arm-kernels.sh
#         builds them natively) with ASan + UBSan, -fno-sanitize-recover=all: any report aborts
#
# Which tests, and why. Everything except the end-to-end tests that decode hundreds of tokens
# with the real models (Llama/Gemma3/Qwen2EndToEnd, LlamaModelTests, CLITests): under an
# instrumented build they take many minutes each and exercise the same kernels and layer loop as
# SyntheticModelTests, which stay in. ASan gets the whole remaining suite. TSan gets the code that
# runs on more than one thread: the daemon (libuv loop + inference thread + store queue: its tests
# start the real slmd, built with TSan too, and drive it over the socket; the runtime's reports
# come out of the daemon's stderr, which the tests collect, and through TSAN_OPTIONS' log_path
# below), the store (a connection shared by threads under its lock, the crash-recovery child),
# the thread pool and the sessions and synthetic models that run the forward pass on it.
#
# Suppressions: scripts/sanitizers.supp (each one justified there); none are needed today.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v swift >/dev/null || export PATH="/opt/swift/usr/bin:$PATH"

modes=("$@")
((${#modes[@]})) || modes=(asan tsan c)

# SLM_SANITIZER_FILTER replaces both filters (e.g. to rerun one suite).
asan_filter='SLMJSONTests|SLMProtocolTests|SLMStoreTests|SLMDaemonTests|SLMCoreTests\.(ArchitectureKeysTests|AttentionModeTests|ChatTemplateTests|CPUTopologyTests|FamilyKernelTests|GGUFReaderTests|KernelTwinTests|ModelTokenizerTests|QuantKernelTests|SamplerTests|SessionTests|SyntheticModelTests|ThreadPoolTests|TokenizerTests)'
tsan_filter='SLMDaemonTests|SLMStoreTests|SLMProtocolTests|SLMCoreTests\.(ThreadPoolTests|SessionTests|SyntheticModelTests)'
if [[ -n "${SLM_SANITIZER_FILTER:-}" ]]; then asan_filter="$SLM_SANITIZER_FILTER" tsan_filter="$SLM_SANITIZER_FILTER"; fi

# The tests find their models the way scripts/test.sh gives them.
if [[ " ${modes[*]} " == *" asan "* || " ${modes[*]} " == *" tsan "* ]]; then
    export SLM_TEST_MODEL="${SLM_TEST_MODEL:-$(scripts/fetch-model.sh)}"
    export SLM_TEST_MODEL_GEMMA3="${SLM_TEST_MODEL_GEMMA3:-$(scripts/fetch-model.sh gemma3)}"
    export SLM_TEST_MODEL_QWEN25CODER="${SLM_TEST_MODEL_QWEN25CODER:-$(scripts/fetch-model.sh qwen25coder)}"
    export SLM_TEST_SYNTHETIC="${SLM_TEST_SYNTHETIC:-$(scripts/synthetic-models.sh)}"
fi

reports="$(mktemp -d)"
trap 'rm -rf "$reports"' EXIT
supp="$PWD/scripts/sanitizers.supp"
status=0
summary=()

# swift_suite NAME SANITIZER BUILD_DIR FILTER
swift_suite() {
    local name="$1" sanitizer="$2" build="$3" filter="$4" log="$reports/$1.log" rc=0
    local flags=(--build-path "$build" -c release -Xswiftc -enable-testing --sanitize="$sanitizer")
    echo "sanitizers: $name: building (swift build ${flags[*]} --build-tests)"
    # ld.gold warns "Cannot export local symbol" for every sanitizer runtime symbol: harmless, dropped.
    local built=0
    swift build "${flags[@]}" --build-tests >"$reports/$name.build.log" 2>&1 || built=$?
    grep -E "error|warning: .*sanitiz" "$reports/$name.build.log" | grep -v "Cannot export local symbol" || true
    ((built == 0)) || { echo "error: $name build failed" >&2; status=1; summary+=("$name: build failed"); return; }
    echo "sanitizers: $name: swift test --filter '$filter'"
    # The tests widen their wall-clock bounds and skip memory bounds under a sanitizer
    # (Tests/SLMDaemonTests/Support/DaemonTestCase.swift, TestSanitizer).
    export SLM_TEST_SANITIZER="$sanitizer"
    # Reports from child processes (slmd, the CLI) land in log_path files as well as on stderr.
    swift test "${flags[@]}" --skip-build --disable-swift-testing \
        --filter "$filter" 2>&1 | tee "$log" | grep -v "^Test Case '.*' passed" || rc=$?
    local found
    found="$( (grep -hE "^(==[0-9]+==ERROR|WARNING: ThreadSanitizer|SUMMARY: (Address|Thread|UndefinedBehavior)Sanitizer)" \
        "$log" "$reports/$name".report.* 2>/dev/null || true) | sort | uniq -c)"
    local counts
    counts="$(grep -E "^[[:space:]]*Executed [0-9]+ tests?, with ([0-9]+ tests? skipped and )?[0-9]+ failures?" "$log" | tail -1 || true)"
    if ((rc != 0)) || [[ -n "$found" || -z "$counts" ]]; then
        status=1
        summary+=("$name: FAILED (exit $rc) ${counts:-no test summary}")
        [[ -z "$found" ]] || { echo "$name reports:"; echo "$found"; ls "$reports/$name".report.* 2>/dev/null || true; } >&2
        # Keep the reports beyond this script's temporary folder.
        mkdir -p "$build/reports" && cp "$log" "$reports/$name".report.* "$build/reports/" 2>/dev/null || true
    else
        summary+=("$name: 0 reports;$(sed -E 's/^[[:space:]]*//' <<<"$counts")")
    fi
}

for mode in "${modes[@]}"; do
    case "$mode" in
        asan)
            # detect_leaks: see scripts/sanitizers.supp for the LeakSanitizer suppressions.
            ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:log_path=$reports/asan.report:halt_on_error=1" \
                LSAN_OPTIONS="suppressions=$supp:print_suppressions=0" \
                swift_suite asan address .build-asan "$asan_filter"
            ;;
        tsan)
            TSAN_OPTIONS="suppressions=$supp:log_path=$reports/tsan.report:halt_on_error=0:second_deadlock_stack=1" \
                swift_suite tsan thread .build-tsan "$tsan_filter"
            ;;
        c)
            out="$reports/c"
            mkdir -p "$out"
            shopt -s globstar
            cc_bin="$(command -v clang || command -v cc)"
            echo "sanitizers: c: kernel twins with ASan+UBSan ($cc_bin)"
            if "$cc_bin" -std=gnu11 -O1 -g -fno-omit-frame-pointer -fno-math-errno \
                -fsanitize=address,undefined -fno-sanitize-recover=all -Wall -Wextra \
                -ISources/CSLMKernels/include -ISources/CSLMKernels \
                Sources/CSLMKernels/**/*.c Tests/CKernelTests/kernel_twins.c -lm -o "$out/kernel_twins" \
                && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 "$out/kernel_twins" >"$out/log" 2>&1; then
                summary+=("c: 0 reports; $(grep -E '^kernel_twins:' "$out/log" | tail -1)")
            else
                status=1
                tail -30 "$out/log" >&2 || true
                summary+=("c: FAILED")
            fi
            ;;
        *) echo "sanitizers.sh: unknown mode $mode (asan tsan c)" >&2; exit 2 ;;
    esac
done
printf 'sanitizers: %s\n' "${summary[@]}"
exit "$status"
