#!/usr/bin/env bash
# slm against llama.cpp on the same GGUF files and thread count, printed as the markdown table of
# docs/benchmarks.md. One command:
#
#   scripts/compare-llama-cpp.sh            all six GGUFs, 2 threads, 5 interleaved repeats
#   scripts/compare-llama-cpp.sh smollm2-Q4_1 smollm2-Q8_0     only these (names below)
#
#   SLM_BENCH_THREADS   threads for both engines        (default: 2)
#   SLM_BENCH_REPEATS   interleaved repeats per engine  (default: 5)
#   SLM_BENCH_PROMPT    N of ppN                        (default: 512)
#   SLM_BENCH_GEN       N of tgN                        (default: 128)
#   SLM_BINARY          slm executable                  (default: .build/release/slm, built if absent)
#   SLM_BASELINE        an earlier slm executable: benched in the same rotation, and the table
#                       adds its ratios ("before") beside SLM_BINARY's, so a change's effect on
#                       the ratios is measured side by side rather than across runs
#
# What it does: builds llama.cpp's llama-bench from the PyPI sdist into ~/.cache/slm when absent
# (scripts/build-llama-cpp.sh), fetches the models (scripts/fetch-model.sh) and makes the
# requantized SmolLM2 files from the Q4_1 with `llama-quantize --allow-requantize` when absent,
# then, per model, runs `llama-bench -r 1` and `slm bench -r 1` (and the baseline's) in turn (the
# order rotates every repeat) so that load from other processes hits all alike. Each invocation does its own
# warm-up. Each cell is the median of the repeats ± their standard deviation; the ratios are of
# the medians. The table's header names the CPU and its SIMD features (scripts/cpu-features.sh),
# so tables from machines with different kernels are never mixed. Last, the memory read bandwidth (`slm bench --bandwidth`) gives the decode ceiling:
# weight bytes read per token × tokens/s ÷ bandwidth. Progress goes to stderr, the table to stdout.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SLM_CACHE="${SLM_CACHE:-$HOME/.cache/slm}"
THREADS="${SLM_BENCH_THREADS:-2}"
REPEATS="${SLM_BENCH_REPEATS:-5}"
PROMPT="${SLM_BENCH_PROMPT:-512}"
GEN="${SLM_BENCH_GEN:-128}"
REQUANT="$SLM_CACHE/requant"
ALL_MODELS=(smollm2-Q4_0 smollm2-Q4_1 smollm2-Q8_0 smollm2-Q4_K_M gemma3-Q4_K_M qwen25coder-Q4_K_M)
MODELS=("${@:-${ALL_MODELS[@]}}")

log() { echo "compare: $*" >&2; }

BUILD_DIR="$("$ROOT/scripts/build-llama-cpp.sh")"
LLAMA_BENCH="$BUILD_DIR/bin/llama-bench"
LLAMA_QUANTIZE="$BUILD_DIR/bin/llama-quantize"

SLM="${SLM_BINARY:-$ROOT/.build/release/slm}"
if [[ ! -x "$SLM" ]]; then
    log "building slm (release)"
    (cd "$ROOT" && swift build -c release >&2)
fi

# model name -> GGUF path, fetching or requantizing it when absent.
model_path() {
    case "$1" in
    smollm2-Q4_1) "$ROOT/scripts/fetch-model.sh" ;;
    gemma3-Q4_K_M) "$ROOT/scripts/fetch-model.sh" gemma3 ;;
    qwen25coder-Q4_K_M) "$ROOT/scripts/fetch-model.sh" qwen25coder ;;
    smollm2-*)
        local type="${1#smollm2-}" out="$REQUANT/smollm2-${1#smollm2-}.gguf"
        if [[ ! -f "$out" ]]; then
            local source
            source="$("$ROOT/scripts/fetch-model.sh")"
            mkdir -p "$REQUANT"
            log "requantizing $source to $type"
            "$LLAMA_QUANTIZE" --allow-requantize "$source" "$out.tmp" "$type" >&2
            mv "$out.tmp" "$out"
        fi
        echo "$out"
        ;;
    *) log "unknown model '$1' (known: ${ALL_MODELS[*]})"; exit 2 ;;
    esac
}

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

log "memory read bandwidth, $THREADS threads"
"$SLM" bench --bandwidth -t "$THREADS" -r 3 -o json > "$WORK/bandwidth.json"

BASELINE="${SLM_BASELINE:-}"
ENGINES=(llama slm)
[[ -n "$BASELINE" ]] && ENGINES+=(base)

for name in "${MODELS[@]}"; do
    path="$(model_path "$name")"
    for engine in "${ENGINES[@]}"; do : > "$WORK/$name.$engine.jsonl"; done
    for ((rep = 1; rep <= REPEATS; rep++)); do
        # Rotate the order every repeat, so each engine runs first, middle and last alike.
        order=("${ENGINES[@]:$(((rep - 1) % ${#ENGINES[@]}))}" "${ENGINES[@]:0:$(((rep - 1) % ${#ENGINES[@]}))}")
        for engine in "${order[@]}"; do
            log "$name: $engine, repeat $rep/$REPEATS"
            case $engine in
            llama) "$LLAMA_BENCH" -m "$path" -t "$THREADS" -p "$PROMPT" -n "$GEN" -r 1 -o json \
                    2> "$WORK/$name.llama.err" | tr -d '\n' >> "$WORK/$name.llama.jsonl" || true ;;
            slm) "$SLM" bench -m "$path" -t "$THREADS" -p "$PROMPT" -n "$GEN" -r 1 -o json \
                    2> "$WORK/$name.slm.err" | tr -d '\n' >> "$WORK/$name.slm.jsonl" || true ;;
            base) "$BASELINE" bench -m "$path" -t "$THREADS" -p "$PROMPT" -n "$GEN" -r 1 -o json \
                    2> "$WORK/$name.base.err" | tr -d '\n' >> "$WORK/$name.base.jsonl" || true ;;
            esac
            echo >> "$WORK/$name.$engine.jsonl"
        done
        # An engine that cannot load the model fails the same way every time: stop repeating.
        [[ -s "$WORK/$name.slm.err" && ! $(tr -d '[:space:]' < "$WORK/$name.slm.jsonl") ]] && break
    done
done

python3 - "$WORK" "$THREADS" "$PROMPT" "$GEN" "$REPEATS" "$("$ROOT/scripts/cpu-features.sh")" "${MODELS[@]}" <<'PY'
import json, statistics, sys, os
work, threads, prompt, gen, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
cpu = sys.argv[6]
models = sys.argv[7:]
bandwidth = json.load(open(os.path.join(work, "bandwidth.json")))[0]["gbps_mean"] * 1e9

def samples(name, engine):
    """test name -> list of t/s, one per invocation; weight bytes per token (slm only)."""
    out, weights = {}, None
    path = os.path.join(work, f"{name}.{engine}.jsonl")
    if not os.path.exists(path):
        return out, weights
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        try:
            rows = json.loads(line)
        except json.JSONDecodeError:
            continue
        for row in rows:
            if engine == "llama":
                test = f"pp{row['n_prompt']}" if row["n_gen"] == 0 else f"tg{row['n_gen']}"
                out.setdefault(test, []).append(row["avg_ts"])
            else:
                out.setdefault(row["test"], []).append(row["tps_mean"])
                weights = row.get("weight_bytes_per_token", weights)
    return out, weights

def stat(values):
    if not values:
        return None
    return statistics.median(values), (statistics.stdev(values) if len(values) > 1 else 0.0)

def cell(s):
    return f"{s[0]:.1f} ± {s[1]:.1f}" if s else "—"

pp, tg = f"pp{prompt}", f"tg{gen}"
with_base = any(os.path.exists(os.path.join(work, f"{m}.base.jsonl")) for m in models)
print(f"CPU: {cpu}.")
print(f"Threads: {threads}; {repeats} interleaved repeats per engine, median ± sd; memory read bandwidth "
      f"{bandwidth / 1e9:.2f} GB/s (`slm bench --bandwidth`).")
print()
base_header = f" {pp} slm before t/s | {pp} ratio before | {tg} slm before t/s | {tg} ratio before |" if with_base else ""
print(f"| model | {pp} slm t/s | {pp} llama.cpp t/s | {pp} ratio | {tg} slm t/s | {tg} llama.cpp t/s | {tg} ratio "
      f"| slm decode % of ceiling | llama.cpp decode % of ceiling |{base_header}")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" * 4 if with_base else ""))
for name in models:
    llama, _ = samples(name, "llama")
    slm, weights = samples(name, "slm")
    if not slm:
        err = open(os.path.join(work, f"{name}.slm.err")).read().strip().splitlines()
        reason = err[-1] if err else "no output"
        print(f"| {name} | pending: {reason} | {cell(stat(llama.get(pp)))} | — | — | {cell(stat(llama.get(tg)))} | — | — | — |")
        continue
    row = [name]
    for test in (pp, tg):
        s, l = stat(slm.get(test)), stat(llama.get(test))
        row += [cell(s), cell(l), f"**{s[0] / l[0]:.2f}**" if s and l else "—"]
    for engine in (slm, llama):
        t = stat(engine.get(tg))
        row.append(f"{100 * weights * t[0] / bandwidth:.0f} %" if t and weights else "—")
    if with_base:
        base, _ = samples(name, "base")
        for test in (pp, tg):
            b, l = stat(base.get(test)), stat(llama.get(test))
            row += [cell(b), f"{b[0] / l[0]:.2f}" if b and l else "—"]
    print("| " + " | ".join(row) + " |")
PY
