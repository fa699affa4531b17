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
# and type the median over the rounds, and each type's speed relative to f16 as the median of the
# per-round ratios (a type and f16 run back to back, so a round's ratio sees one load; on a
# shared machine that is steadier than the ratio of the medians).
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
        echo "$round $type $slm_tps $llama_tps" >>"$RESULTS"
    done
done

python3 - "$RESULTS" "$THREADS" "$DEPTH" "$GEN" "$ROUNDS" "$("$ROOT/scripts/cpu-features.sh")" <<'PY'
import statistics, sys
path, threads, depth, gen, rounds, cpu = sys.argv[1:]
print(f"CPU: {cpu}.\n")
rows = [line.split() for line in open(path)]
types = list(dict.fromkeys(r[1] for r in rows))
speed = {(int(r[0]), r[1]): (float(r[2]), float(r[3])) for r in rows}
rounds_seen = sorted({int(r[0]) for r in rows})
median = {t: tuple(statistics.median(speed[(k, t)][e] for k in rounds_seen if (k, t) in speed) for e in (0, 1))
          for t in types}

def ratio(t, engine):
    pairs = [speed[(k, t)][engine] / speed[(k, "f16")][engine] for k in rounds_seen
             if (k, t) in speed and (k, "f16") in speed]
    return f"{statistics.median(pairs):.2f}× ({', '.join(f'{p:.2f}' for p in pairs)})" if pairs else "—"

print(f"| cache K/V | slm tg{gen} @ d{depth} | vs f16 (per round) | llama.cpp tg{gen} @ d{depth} | vs f16 (per round) | slm / llama.cpp |")
print("|---|---:|---:|---:|---:|---:|")
for t in types:
    s, l = median[t]
    print(f"| {t} | {s:.2f} t/s | {ratio(t, 0)} | {l:.2f} t/s | {ratio(t, 1)} | {s / l:.2f}× |")
print(f"\n{threads} threads, medians of {rounds} interleaved rounds.")
PY
