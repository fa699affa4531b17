#!/usr/bin/env bash
# Installs the pinned PyPI clients the HTTP API is tested with (openai, ollama, httpx,
# prometheus_client, and jsonschema to check structured output) into
# $SLM_CACHE/py/http-clients-<pins>, not into the system Python, and prints that directory (for
# PYTHONPATH). Called by scripts/test.sh and scripts/bench-http.py users.
set -euo pipefail
SLM_CACHE="${SLM_CACHE:-$HOME/.cache/slm}"
PINS=(openai==1.59.7 ollama==0.4.7 httpx==0.28.1 prometheus_client==0.21.1 jsonschema==4.23.0)
PYDIR="$SLM_CACHE/py/http-clients-$(printf '%s\n' "${PINS[@]}" | sha256sum | cut -c1-12)"
if [[ ! -f "$PYDIR/.complete" ]]; then
    echo "installing ${PINS[*]} into $PYDIR" >&2
    rm -rf "$PYDIR"
    python3 -m pip install --quiet --disable-pip-version-check --target "$PYDIR" "${PINS[@]}" >&2
    touch "$PYDIR/.complete"
fi
echo "$PYDIR"
