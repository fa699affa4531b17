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
export SLM_TEST_MODEL_GEMMA3 SLM_TEST_MODEL_QWEN25CODER
SLM_TEST_SYNTHETIC="$(scripts/synthetic-models.sh)"
export SLM_TEST_SYNTHETIC

swift build -c release -Xswiftc -enable-testing --build-tests

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0  # pipefail: non-zero if swift test fails
# All tests are XCTest; passing-case lines are dropped to keep the log readable.
swift test -c release -Xswiftc -enable-testing --skip-build --disable-swift-testing 2>&1 \
    | tee "$log" | grep -v "^Test Case '.*' passed" || status=$?

# Close with one plain summary line taken from XCTest's overall count.
summary="$(grep -E "^[[:space:]]*Executed [0-9]+ tests?, with [0-9]+ failures?" "$log" | tail -1 || true)"
if [[ -z "$summary" ]]; then
    echo "error: no test summary found" >&2
    exit 1
fi
executed="$(sed -E 's/.*Executed ([0-9]+) tests?.*/\1/' <<<"$summary")"
failed="$(sed -E 's/.*with ([0-9]+) failures?.*/\1/' <<<"$summary")"
echo "$((executed - failed)) passed, $failed failed"
if ((failed > 0 || status != 0 || executed == 0)); then
    exit 1
fi
