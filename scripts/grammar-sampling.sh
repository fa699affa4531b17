#!/usr/bin/env bash
# The long version of GrammarEndToEndTests.testSampledOutputsMatchEveryLlamaCppGrammar: every
# grammar of llama.cpp's grammars/ folder, 8 seeds each at temperature 1.0 on SmolLM2, with a
# larger token limit than CI's 96, so more generations end on their own (each finished output
# must be a complete match; a cut one must be a valid prefix). Prints how many ended per grammar.
#   scripts/grammar-sampling.sh [TOKENS]     (default 1024; results in docs/structured-output.md)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v swift >/dev/null || export PATH="/opt/swift/usr/bin:$PATH"
tokens="${1:-1024}"
model="$(scripts/fetch-model.sh)"
swift build -c release -Xswiftc -enable-testing --build-tests >&2
SLM_TEST_MODEL="$model" SLM_GRAMMAR_SAMPLING_TOKENS="$tokens" swift test -c release -Xswiftc -enable-testing \
    --skip-build --disable-swift-testing --filter GrammarEndToEndTests.testSampledOutputsMatchEveryLlamaCppGrammar 2>&1 |
    grep -E "grammar sampling|error|Executed" | head -40
