#!/usr/bin/env bash
# Builds and runs the libFuzzer targets (harnesses in Tests/Fuzz/, corpus in Tests/Fuzz/corpus/).
#   scripts/fuzz.sh [--seconds N | --runs N] [--fork [--jobs N]] [--plain] [--max-len N] [--build-only] [target…]
#     --seconds N   run each target for N seconds (default 30)
#     --runs N      run each target for N executions instead
#     --fork        keep going after a crash, timeout or OOM (libFuzzer -fork=1 -ignore_*): for long
#                   local runs, so one known finding does not end the run; every finding is still
#                   written to the artifact folder and makes the script fail
#     --jobs N      with --fork, N fuzzing processes at once (default 1; one per core to use them all)
#     --plain       coverage instrumentation only, no AddressSanitizer (.build-fuzz-plain): for
#                   long runs of the targets written in safe Swift (the template engine), where
#                   ASan's cost buys little; Swift's own checks (bounds, overflow, unwraps) still
#                   trap. Every target still runs under ASan in CI and in the default mode.
#     --max-len N   longest input tried (default 65536); shorter inputs run faster, and a long
#                   run of `template` at 8192 covers the template grammar at several times the rate
#     --build-only  build the fuzzers and stop
#   Targets (default: all): request json gguf template template-content snapshot http grammar
# Exit status 1 when any target finds a crash, a sanitizer report, a hang (-timeout=10) or an
# OOM (-rss_limit_mb=2048); the reproducer's path is printed. Reproduce one with
#   .build-fuzz/fuzzers/<target> <file>
#
# How it is built: the library modules are compiled by SwiftPM with the fuzzer's coverage
# instrumentation and ASan into .build-fuzz (a separate build dir, so the normal build is
# untouched and nothing in Package.swift changes); each harness is then compiled by swiftc
# against those modules and linked with their object files. `-enable-testing` lets a harness
# reach an internal function (the snapshot checksum) through `@testable import`.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v swift >/dev/null || export PATH="/opt/swift/usr/bin:$PATH"

# target → harness source, dictionary ('-' for none)
declare -A harness=(
    [request]=RequestFuzzer.swift [json]=JSONFuzzer.swift [gguf]=GGUFFuzzer.swift
    [template]=TemplateFuzzer.swift [template-content]=TemplateContentFuzzer.swift
    [snapshot]=SnapshotFuzzer.swift [http]=HTTPFuzzer.swift [grammar]=GrammarFuzzer.swift
)
declare -A dict=(
    [request]=protocol.dict [json]=json.dict [gguf]=gguf.dict
    [template]=jinja.dict [template-content]=-
    [snapshot]=- [http]=http.dict [grammar]=grammar.dict
)
all_targets=(request json gguf template template-content snapshot http grammar)

seconds=30 runs="" fork=0 jobs=1 plain=0 max_len=65536 build_only=0 targets=()
while (($#)); do
    case "$1" in
        --seconds) seconds="$2"; runs=""; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        --fork) fork=1; shift ;;
        --jobs) jobs="$2"; shift 2 ;;
        --plain) plain=1; shift ;;
        --max-len) max_len="$2"; shift 2 ;;
        --build-only) build_only=1; shift ;;
        -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
        -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
        *) [[ -n "${harness[$1]:-}" ]] || { echo "fuzz.sh: unknown target $1 (${all_targets[*]})" >&2; exit 2; }
           targets+=("$1"); shift ;;
    esac
done
((${#targets[@]})) || targets=("${all_targets[@]}")

build=.build-fuzz sanitize=fuzzer,address
((plain)) && build=.build-fuzz-plain sanitize=fuzzer
config=release
# SwiftPM's --sanitize=fuzzer leaves library objects without coverage counters (checked: no
# __sancov sections), so the coverage options are passed to swiftc and clang explicitly.
flags=(-c "$config" -Xswiftc -enable-testing --sanitize=fuzzer)
((plain)) || flags+=(--sanitize=address)
flags+=(
    -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp -Xcc -fsanitize=fuzzer-no-link)
# Two build dirs: SwiftPM rebuilds everything when one build dir alternates between `--target`s.
# core: SLMCore with SLMModels, SLMCompute, CSLMKernels, SLMGrammar, SLMJSON; protocol: SLMProtocol, SLMJSON.
# A fuzzer links the objects of one of them (each has its own SLMJSON).
declare -A module=([core]=SLMCore [protocol]=SLMProtocol)
declare -A objects_of=([core]="SLMJSON SLMGrammar SLMCompute SLMModels SLMCore CSLMKernels" [protocol]="SLMJSON SLMProtocol")
declare -A side=([request]=protocol [json]=protocol [gguf]=core [template]=core [template-content]=core [snapshot]=core [http]=protocol [grammar]=core)
mkdir -p "$build/fuzzers"
declare -A needed=()
for t in "${targets[@]}"; do needed[${side[$t]}]=1; done
for s in "${!needed[@]}"; do
    if ! swift build --build-path "$build/$s" "${flags[@]}" --target "${module[$s]}" >"$build/build-$s.log" 2>&1; then
        cat "$build/build-$s.log" >&2
        echo "fuzz.sh: building ${module[$s]} failed" >&2
        exit 1
    fi
done
for t in "${targets[@]}"; do
    bin="$build/fuzzers/$t"
    src="Tests/Fuzz/${harness[$t]}"
    out="$(cd "$build/${side[$t]}/$config" && pwd -P)"
    objects=()
    for m in ${objects_of[${side[$t]}]}; do
        mapfile -t -O "${#objects[@]}" objects < <(find "$out/$m.build" -name '*.o' | sort)
    done
    if [[ ! -x "$bin" || "$src" -nt "$bin" || -n "$(find "$out" -name '*.o' -newer "$bin" -print -quit)" ]]; then
        maps=()
        [[ ${side[$t]} == core ]] && maps=(-Xcc -fmodule-map-file="$out/CSLMKernels.build/module.modulemap")
        # SLMProtocol parses HTTP with the system libhttp-parser.
        [[ ${side[$t]} == protocol ]] && maps=(-Xcc -fmodule-map-file="$PWD/Sources/CHTTPParser/module.modulemap" -lhttp_parser)
        # ld.gold warns "Cannot export local symbol __asan_…" for every global: harmless, dropped.
        rm -f "$bin"
        if ! swiftc -O -parse-as-library -sanitize="$sanitize" -enable-testing -I "$out/Modules" "${maps[@]}" \
            -module-name "Fuzz_${t//-/_}" "$src" "${objects[@]}" -o "$bin" >"$build/link-$t.log" 2>&1; then
            grep -v "Cannot export local symbol" "$build/link-$t.log" >&2
            echo "fuzz.sh: compiling the $t fuzzer failed" >&2
            exit 1
        fi
    fi
done
((build_only)) && { echo "fuzz.sh: built ${targets[*]} in $build/fuzzers"; exit 0; }

# The Swift runtime's backtracer would trace a trap from inside the crashed process, which ASan
# reports as a second, unrelated error; libFuzzer prints its own stack for the crash.
export SWIFT_BACKTRACE=enable=no
# Deep enough allocation stacks for the suppression to see LLVMFuzzerInitialize under the
# recursive template parser (the default keeps 30 frames).
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}malloc_context_size=200"
export LSAN_OPTIONS="suppressions=$PWD/Tests/Fuzz/lsan.supp:print_suppressions=0"
export SLM_FUZZ_TEMPLATES="$PWD/Tests/SLMCoreTests/Fixtures/goldens/chat-templates.json"
failed=()
for t in "${targets[@]}"; do
    work="$build/corpus/$t" artifacts="$build/artifacts/$t"
    mkdir -p "$work" "$artifacts"
    args=(-timeout=10 -rss_limit_mb=2048 -max_len="$max_len" -print_final_stats=1 -artifact_prefix="$artifacts/")
    if [[ -n "$runs" ]]; then args+=(-runs="$runs"); else args+=(-max_total_time="$seconds"); fi
    [[ "${dict[$t]}" == - ]] || args+=(-dict="Tests/Fuzz/dict/${dict[$t]}")
    ((fork)) && args+=(-fork="$jobs" -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
    log="$build/fuzz-$t.log"
    marker="$build/artifacts/.started-$t"
    touch "$marker"
    if [[ -n "$runs" ]]; then echo "fuzz.sh: $t ($runs runs)"; else echo "fuzz.sh: $t ($seconds s)"; fi
    status=0
    # New inputs go to the first (uncommitted) folder; the committed corpus is only read.
    "$build/fuzzers/$t" "${args[@]}" "$work" "Tests/Fuzz/corpus/$t" >"$log" 2>&1 || status=$?
    grep -E "^(#[0-9]+ +DONE|stat::|Done [0-9]+ runs)" "$log" | sed "s/^/  $t: /" || true
    mapfile -t found < <(find "$artifacts" -type f -newer "$marker" | sort)
    if ((status != 0 || ${#found[@]} > 0)); then
        failed+=("$t")
        echo "error: fuzz target $t failed (exit $status); log: $log" >&2
        grep -E "^==[0-9]+==ERROR|^SUMMARY|Fatal error|Test unit written|ALARM|out-of-memory" "$log" | head -20 >&2 || true
        printf '  artifact: %s\n' "${found[@]}" >&2
    fi
done
if ((${#failed[@]})); then
    echo "fuzz.sh: findings in ${failed[*]}" >&2
    exit 1
fi
echo "fuzz.sh: ${#targets[@]} targets, no findings"
