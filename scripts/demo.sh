#!/usr/bin/env bash
# The run command: sets up the machine, builds slm, and runs the default model (SmolLM2-135M
# Instruct, Q4_1) end to end. Extra arguments go to `slm run` (e.g. -p "..." -n 100 --temp 0).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="/opt/swift/usr/bin:$PATH"
model="$(scripts/fetch-model.sh)"
swift build -c release --product slm >&2
if (($# == 0)); then
    set -- -p "<|im_start|>user
Write a haiku about a small computer that runs language models.<|im_end|>
<|im_start|>assistant
" -n 96 --temp 0
fi
exec .build/release/slm run -m "$model" "$@"
