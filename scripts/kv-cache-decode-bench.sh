#!/usr/bin/env bash
# Decode speed at a filled context with each KV-cache type, slm beside llama.cpp, interleaved.
#
#   scripts/kv-cache-decode-bench.sh [MODEL.gguf]     (default: the cached SmolLM2 Q4_1)
#
#   SLM_BENCH_THREADS  threads for both engines (default: 2)
#   SLM_BENCH_DEPTH    tokens in the context before decoding (default: 2048)
#   SLM_BENCH_GEN      tokens generated per repeat (default: 64)
#   SLM_BENCH_REPEATS  repeats per invocation (default: 5)
#   SLM_BENCH_ROUNDS   interleaved rounds (default: 3)
#   SLM_BENCH_TYPES    cache types, K and V alike (default: "f16 q8_0")
#
# Each round runs, per type, `slm bench` and then `llama-bench -fa 1` (flash attention, which
# llama.cpp needs for a quantized V) with the same -t/-d/-n/-r and -ctk/-ctv, so load from other
# processes hits both engines and all types alike. Prints every invocation's mean, then per engine
# and type the median over the rounds and the ratio of each type to f16.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
THREADS="${SLM_BENCH_THREADS:-2}"
DEPTH="${SLM_BENCH_DEPTH:-2048}"
GEN="${SLM_BENCH_GEN:-64}"
REPEATS="${SLM_BENCH_REPEATS:-5}"
ROUNDS="${SLM_BENCH_ROUNDS:-3}"
read -r -a TYPES <<<"${SLM_BENCH_TYPES:-f16 q8_0}"
MODEL="${1:-$("$ROOT/scripts/fetch-model.sh")}"
SLM="${SLM_BINARY:-$ROOT/.build/release/slm}"
[[ -x "$SLM" ]] || (cd "$ROOT" && swift build -c release >&2)
BUILD_DIR="$("$ROOT/scripts/build-llama-cpp.sh")"
LLAMA_BENCH="$BUILD_DIR/bin/llama-bench"

RESULTS="$(mktemp)"
trap 'rm -f "$RESULTS"' EXIT
for round in $(seq 1 "$ROUNDS"); do
    for type in "${TYPES[@]}"; do
        slm_tps="$("$SLM" bench -m "$MODEL" -t "$THREADS" -p 0 -n "$GEN" -d "$DEPTH" -r "$REPEATS" \
            -ctk "$type" -ctv "$type" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["tps_mean"])')"
        llama_tps="$(LD_LIBRARY_PATH="$BUILD_DIR/bin" "$LLAMA_BENCH" -m "$MODEL" -t "$THREADS" -p 0 -n "$GEN" \
            -d "$DEPTH" -r "$REPEATS" -fa 1 -ctk "$type" -ctv "$type" -o json 2>/dev/null |
            python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["avg_ts"])')"
        echo "round $round $type: slm $slm_tps t/s, llama.cpp $llama_tps t/s" >&2
        echo "$type $slm_tps $llama_tps" >>"$RESULTS"
    done
done

python3 - "$RESULTS" "$THREADS" "$DEPTH" "$GEN" "$ROUNDS" <<'PY'
import statistics, sys
path, threads, depth, gen, rounds = sys.argv[1:]
rows = [line.split() for line in open(path)]
types = list(dict.fromkeys(r[0] for r in rows))
median = {t: (statistics.median(float(r[1]) for r in rows if r[0] == t),
              statistics.median(float(r[2]) for r in rows if r[0] == t)) for t in types}
base = median.get("f16")
print(f"| cache K/V | slm tg{gen} @ d{depth} | vs f16 | llama.cpp tg{gen} @ d{depth} | vs f16 | slm / llama.cpp |")
print("|---|---:|---:|---:|---:|---:|")
for t in types:
    s, l = median[t]
    rs = f"{s / base[0]:.2f}×" if base else "—"
    rl = f"{l / base[1]:.2f}×" if base else "—"
    print(f"| {t} | {s:.2f} t/s | {rs} | {l:.2f} t/s | {rl} | {s / l:.2f}× |")
print(f"\n{threads} threads, medians of {rounds} interleaved rounds.")
PY
