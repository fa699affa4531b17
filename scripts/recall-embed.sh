#!/usr/bin/env bash
# Binary-embedding recall, end to end: builds the sentence corpus and queries from text on this
# machine (scripts/make-recall-corpus.py, into $SLM_CACHE/recall), installs numpy into
# $SLM_CACHE/py (not into the system Python), then embeds both with `slm embed` and measures
# recall@10 of Hamming search, with and without a float re-rank (scripts/recall-embed.py, which
# prints the markdown tables). Arguments are passed to recall-embed.py (e.g. -t 2, --all-runs).
#   SLM_BINARY   slm executable (default .build/release/slm; this script never builds it)
#   SLM_RECALL_SIZE  corpus sentences (default 10000)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SLM_CACHE="${SLM_CACHE:-$HOME/.cache/slm}"
NUMPY_VERSION=2.4.6
PYDIR="$SLM_CACHE/py/numpy$NUMPY_VERSION"
SLM="${SLM_BINARY:-$ROOT/.build/release/slm}"
[[ -x "$SLM" ]] || { echo "recall-embed: slm not found at $SLM (swift build -c release, or set SLM_BINARY)" >&2; exit 1; }

if [[ ! -f "$PYDIR/.complete" ]]; then
    echo "installing numpy==$NUMPY_VERSION into $PYDIR" >&2
    rm -rf "$PYDIR"
    python3 -m pip install --quiet --disable-pip-version-check --target "$PYDIR" "numpy==$NUMPY_VERSION" >&2
    touch "$PYDIR/.complete"
fi
corpus="$(python3 "$ROOT/scripts/make-recall-corpus.py" --size "${SLM_RECALL_SIZE:-10000}")"
SLM_BINARY="$SLM" PYTHONPATH="$PYDIR${PYTHONPATH:+:$PYTHONPATH}" \
    python3 "$ROOT/scripts/recall-embed.py" --dir "$(dirname "$corpus")" "$@"
