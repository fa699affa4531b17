#!/usr/bin/env bash
# The test command: sets up the machine (packages, default model) and runs the whole test suite.
# Tests run in release mode: the end-to-end tests decode hundreds of tokens with the real model.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="/opt/swift/usr/bin:$PATH"
export SLM_TEST_MODEL="$(scripts/fetch-model.sh)"
swift build -c release -Xswiftc -enable-testing --build-tests
swift test -c release -Xswiftc -enable-testing --skip-build 2>&1 | tee /tmp/slm-test-$$.log | grep -v '^Test Case .* passed' || true
# tee hides swift test's status: take it from the summary lines instead.
if grep -qE "with [1-9][0-9]* failures?|error: " /tmp/slm-test-$$.log || ! grep -q "Executed" /tmp/slm-test-$$.log; then
    rm -f /tmp/slm-test-$$.log
    echo "tests FAILED" >&2
    exit 1
fi
rm -f /tmp/slm-test-$$.log
