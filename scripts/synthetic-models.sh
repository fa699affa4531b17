#!/usr/bin/env bash
# Makes sure the tiny synthetic GGUFs of scripts/make-synthetic-models.py exist in
# $SLM_CACHE/synthetic (regenerated when the generator changes) and prints that directory.
# The PyPI `gguf` package (pinned below) is installed into $SLM_CACHE/py/gguf-<version>, not into
# the system Python. Called by scripts/setup.sh --for-tests and scripts/make-synthetic-goldens.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SLM_CACHE="${SLM_CACHE:-$HOME/.cache/slm}"
GGUF_VERSION=0.19.0
PYDIR="$SLM_CACHE/py/gguf-$GGUF_VERSION"
OUT="$SLM_CACHE/synthetic"
GENERATOR="$ROOT/scripts/make-synthetic-models.py"

if [[ ! -f "$PYDIR/.complete" ]]; then
    echo "installing gguf==$GGUF_VERSION into $PYDIR" >&2
    rm -rf "$PYDIR"
    python3 -m pip install --quiet --disable-pip-version-check --target "$PYDIR" "gguf==$GGUF_VERSION" >&2
    touch "$PYDIR/.complete"
fi

stamp="$(sha256sum "$GENERATOR" | cut -d' ' -f1)-gguf-$GGUF_VERSION"
if [[ "$(cat "$OUT/.generator" 2>/dev/null || true)" != "$stamp" ]]; then
    echo "writing synthetic models into $OUT" >&2
    mkdir -p "$OUT"
    rm -f "$OUT"/*.gguf
    PYTHONPATH="$PYDIR" python3 "$GENERATOR" "$OUT" >/dev/null
    echo "$stamp" > "$OUT/.generator"
fi
echo "$OUT"
