#!/usr/bin/env bash
# The test command: sets up the machine (packages, default model) and runs the whole test suite.
# Tests run in release mode: the end-to-end tests decode hundreds of tokens with the real model.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --for-tests
export PATH="/opt/swift/usr/bin:$PATH"
SLM_TEST_MODEL="$(scripts/fetch-model.sh)"
export SLM_TEST_MODEL
SLM_TEST_MODEL_GEMMA3="$(scripts/fetch-model.sh gemma3)"
SLM_TEST_MODEL_QWEN25CODER="$(scripts/fetch-model.sh qwen25coder)"
SLM_TEST_MODEL_MINILM="$(scripts/fetch-model.sh minilm)"
export SLM_TEST_MODEL_GEMMA3 SLM_TEST_MODEL_QWEN25CODER SLM_TEST_MODEL_MINILM
SLM_TEST_SYNTHETIC="$(scripts/synthetic-models.sh)"
export SLM_TEST_SYNTHETIC

# The layering: every import is one docs/architecture.md's module graph allows, and no cycle.
python3 scripts/check-module-graph.py
# Swift files stay as .swift-format lays them out (scripts/format.sh rewrites them).
bash scripts/format.sh --check

swift build -c release -Xswiftc -enable-testing --build-tests

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0  # pipefail: non-zero if swift test fails
# All tests are XCTest; passing-case lines are dropped to keep the log readable.
swift test -c release -Xswiftc -enable-testing --skip-build --disable-swift-testing 2>&1 \
    | tee "$log" | grep -v "^Test Case '.*' passed" || status=$?

# The C library (libslm): install to a temporary prefix, build and run the C examples and tests,
# valgrind, greedy slm_generate == slm run. Reuses the test build above (same Swift flags).
c_api_status=0
SWIFT_FLAGS="-Xswiftc -enable-testing" bash scripts/test-c-api.sh || c_api_status=$?
((c_api_status == 0)) || echo "error: the C library test (scripts/test-c-api.sh) failed" >&2

# The load and abuse suite, quick size (16 clients x 5 requests beside never-reading, flooding,
# oversized and idle clients; about 25 s): every answer right, descriptors and memory back to
# their baseline. The full run and the acceptance scenarios are in docs/load-test.md.
load_status=0
python3 scripts/load-test.py load --quick --slmd .build/release/slmd --model "$SLM_TEST_MODEL" || load_status=$?
((load_status == 0)) || echo "error: the load and abuse suite (scripts/load-test.py --quick) failed" >&2

# The HTTP API with the real PyPI clients (openai, ollama, httpx, prometheus_client; pinned in
# scripts/http-clients.sh) and docs/http.md's curl examples, against slmd with two models.
http_log="$(mktemp)"
http_status=0
HTTP_CLIENTS="$(scripts/http-clients.sh)"
PYTHONPATH="$HTTP_CLIENTS" python3 -W ignore::ResourceWarning Tests/http/test_http_api.py 2>&1 | tee "$http_log" || http_status=$?
http_counts="$(grep -E '^HTTP API tests: [0-9]+ passed, [0-9]+ failed$' "$http_log" | tail -1 || true)"
rm -f "$http_log"
if [[ -z "$http_counts" ]]; then
    echo "error: no HTTP API test summary found" >&2
    http_counts="HTTP API tests: 0 passed, 1 failed"
fi
http_passed="$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$http_counts")"
http_failed="$(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"$http_counts")"

# Fuzzing: every libFuzzer target of Tests/Fuzz/ for 25 s from the committed corpus, built with
# ASan in its own build dir (.build-fuzz); build included this stays under 5 minutes on 2 cores.
# A crash, sanitizer report, hang or OOM fails the test command; fuzz.sh prints the reproducer.
fuzz_status=0
bash scripts/fuzz.sh --seconds 25 || fuzz_status=$?
((fuzz_status == 0)) || echo "error: fuzzing (scripts/fuzz.sh) found a crash, hang or OOM" >&2

# Close with one plain summary line taken from XCTest's overall count.
summary="$(grep -E "^[[:space:]]*Executed [0-9]+ tests?, with [0-9]+ failures?" "$log" | tail -1 || true)"
if [[ -z "$summary" ]]; then
    echo "error: no test summary found" >&2
    exit 1
fi
executed="$(sed -E 's/.*Executed ([0-9]+) tests?.*/\1/' <<<"$summary")"
failed="$(sed -E 's/.*with ([0-9]+) failures?.*/\1/' <<<"$summary")"

# The C kernel twin tests, natively and for aarch64 under qemu; their checks count in the total.
c_status=0
scripts/test-arm-kernels.sh 2>&1 | tee "$log" || c_status=$?
c_counts="$(grep -E '^C kernel tests: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -1 || true)"
if [[ -z "$c_counts" ]]; then
    echo "error: no C kernel test summary found" >&2
    exit 1
fi
c_passed="$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$c_counts")"
c_failed="$(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"$c_counts")"

echo "$((executed - failed + c_passed + http_passed)) passed, $((failed + c_failed + http_failed)) failed"
if ((failed > 0 || status != 0 || executed == 0 || c_failed > 0 || c_status != 0 || c_api_status != 0 || fuzz_status != 0 || load_status != 0 || http_failed > 0 || http_status != 0)); then
    exit 1
fi
