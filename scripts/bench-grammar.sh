#!/usr/bin/env bash
# Decode speed with and without a grammar (issue 20): what does constrained sampling cost?
#
#   scripts/bench-grammar.sh                   SmolLM2 and Qwen2.5-Coder, 3 interleaved repeats
#   scripts/bench-grammar.sh smollm2           one model (smollm2 | qwen25coder | gemma3)
#
#   SLM_BENCH_REPEATS   repeats per (model, mode)        (default: 3)
#   SLM_BENCH_GEN       tokens to generate, tgN-like     (default: 128)
#   SLM_BENCH_CPU       CPU the single thread is pinned to with taskset (default: the last one)
#
# Needs the reference llama.cpp build (scripts/build-llama-cpp.sh, built into the cache on first
# use) and the models (scripts/fetch-model.sh). Per model, three modes on the same prompt:
#   none     unconstrained
#   gbnf     --grammar-file grammars/json.gbnf (from the llama.cpp sdist)
#   schema   --json-schema-file with the schema below (llama.cpp converts it to a grammar; its
#            minItems 40 keeps the grammar from completing within the generated tokens)
# Each run is llama-completion, greedy (--temp 0), 1 thread pinned with taskset, no chat template,
# -n GEN; the modes are interleaved and their order rotates every repeat so that load from other
# processes hits all alike. From llama-completion's timings (stderr) the script takes:
#   decode t/s  = eval runs / "eval time"                  (llama_decode only: should not change)
#   gen t/s     = eval runs / ("total time" - "prompt eval time")   decode + sampling + grammar,
#                 the rate a user sees after the first token (slm run's "generated: … tokens/s"
#                 is the same measure)
#   sample ms   = "sampling time" / sampled tokens         (the grammar's cost shows up here)
# and prints mean ± sd per mode, the ratios constrained/unconstrained, and the extra sampling time
# per token as a share of an unconstrained token's time (the grammar's cost without decode noise). Note: llama-completion
# checks the unconstrained argmax against the grammar first and applies the full grammar mask only
# when that token is rejected, so its grammar cost depends on how often the model strays.
#
# The slm side runs `slm run` (SLM_BIN, default .build/release/slm) the same way, interleaved.
# Benchmarks are noisy on shared machines: compare ratios, not absolute numbers.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SLM_CACHE="${SLM_CACHE:-$HOME/.cache/slm}"
export SLM_CACHE
REPEATS="${SLM_BENCH_REPEATS:-3}"
GEN="${SLM_BENCH_GEN:-128}"
CPU="${SLM_BENCH_CPU:-$(($(nproc) - 1))}"
if (($#)); then MODELS=("$@"); else MODELS=(smollm2 qwen25coder); fi
MODES=(none gbnf schema)

log() { echo "bench-grammar: $*" >&2; }

command -v taskset >/dev/null || { log "taskset (util-linux) is needed"; exit 1; }
BUILD_DIR="$("$ROOT/scripts/build-llama-cpp.sh")"
LLAMA_DIR="$(dirname "$BUILD_DIR")"
COMPLETION="$BUILD_DIR/bin/llama-completion"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# The same prompt for every mode; the models answer it with a long JSON object, so unconstrained
# runs also generate GEN tokens without an end-of-text (checked below).
PROMPT=$'Here is a JSON object whose key "people" lists forty people, each with a name, an age and a city:\n'
GRAMMAR="$LLAMA_DIR/grammars/json.gbnf"
SCHEMA="$WORK/people.schema.json"
cat > "$SCHEMA" <<'JSON'
{"type": "object",
 "properties": {"people": {"type": "array", "minItems": 40,
   "items": {"type": "object",
             "properties": {"name": {"type": "string"},
                            "age": {"type": "integer", "minimum": 0, "maximum": 120},
                            "city": {"type": "string"}},
             "required": ["name", "age", "city"], "additionalProperties": false}}},
 "required": ["people"], "additionalProperties": false}
JSON

mode_args() {
    case "$1" in
    none) ;;
    gbnf) echo "--grammar-file $GRAMMAR" ;;
    schema) echo "--json-schema-file $SCHEMA" ;;
    esac
}

# One llama-completion run; appends "llama MODEL MODE REP runs eval_ms prompt_ms total_ms sampling_ms"
# to results.tsv.
llama_run() {
    local key="$1" model="$2" mode="$3" rep="$4" err="$WORK/llama.err"
    # shellcheck disable=SC2046  # mode_args is word-split on purpose (paths without spaces)
    taskset -c "$CPU" "$COMPLETION" -m "$model" -p "$PROMPT" -n "$GEN" --temp 0 -s 42 -t 1 -tb 1 \
        -c 2048 -no-cnv --no-display-prompt --simple-io --no-escape --color off $(mode_args "$mode") \
        > "$WORK/llama.out" 2> "$err" || { log "llama-completion failed ($key $mode):"; tail -5 "$err" >&2; exit 1; }
    python3 - "$err" "$key" "$mode" "$rep" >> "$WORK/results.tsv" <<'PY'
import re, sys
err, key, mode, rep = sys.argv[1:5]
t = open(err, encoding="utf-8", errors="replace").read()
def ms(label, unit=None):
    m = re.search(label + r"\s*=\s*([0-9.]+) ms" + (r"\s*/\s*([0-9]+) " + unit if unit else ""), t)
    if not m:
        sys.exit(f"bench-grammar: no '{label}' line in llama-completion's output")
    return m.groups()
eval_ms, runs = ms(r"(?<!prompt )eval time", "runs")
prompt_ms, _ = ms(r"prompt eval time", "tokens")
total_ms, _ = ms(r"total time", "tokens")
(sampling_ms,) = ms(r"sampling time")
print("llama", key, mode, rep, runs, eval_ms, prompt_ms, total_ms, sampling_ms, sep="\t")
PY
}

# ---- slm side --------------------------------------------------------------------------------------
# `slm run`, same prompt, -n, greedy, one worker pinned to the same CPU; its "generated: N tokens,
# R tokens/s" line is decode + sampling + grammar after the first token (llama.cpp's gen t/s).
SLM="${SLM_BIN:-$ROOT/.build/release/slm}"
slm_mode_args() {
    case "$1" in
    none) ;;
    gbnf) echo "--grammar-file $GRAMMAR" ;;
    schema) echo "--json-schema $SCHEMA" ;;
    esac
}
slm_run() {
    local key="$1" model="$2" mode="$3" rep="$4" err="$WORK/slm.err"
    [[ -x "$SLM" ]] || { log "no slm binary at $SLM (swift build -c release, or set SLM_BIN)"; return 1; }
    # shellcheck disable=SC2046  # word-split on purpose (paths without spaces)
    taskset -c "$CPU" "$SLM" run -m "$model" -p "$PROMPT" -n "$GEN" --temp 0 -t 1 --cpus "$CPU" -c 2048 \
        $(slm_mode_args "$mode") > "$WORK/slm.out" 2> "$err" || { log "slm run failed ($key $mode):"; tail -5 "$err" >&2; exit 1; }
    python3 - "$err" "$key" "$mode" "$rep" >> "$WORK/results.tsv" <<'PY'
import re, sys
err, key, mode, rep = sys.argv[1:5]
m = re.search(r"generated: ([0-9]+) tokens, ([0-9.]+) tokens/s", open(err, encoding="utf-8", errors="replace").read())
if not m:
    sys.exit("bench-grammar: no 'generated:' line in slm run's output")
print("slm", key, mode, rep, m.group(1), m.group(2), sep="\t")
PY
}
# ----------------------------------------------------------------------------------------------------

: > "$WORK/results.tsv"
slm_measured=1
for key in "${MODELS[@]}"; do
    case "$key" in smollm2) fetch=() ;; *) fetch=("$key") ;; esac
    model="$("$ROOT/scripts/fetch-model.sh" "${fetch[@]}")"
    for ((rep = 1; rep <= REPEATS; rep++)); do
        # rotate the order of the modes every repeat
        order=("${MODES[@]:$(((rep - 1) % 3))}" "${MODES[@]:0:$(((rep - 1) % 3))}")
        for mode in "${order[@]}"; do
            log "$key: $mode, repeat $rep/$REPEATS (cpu $CPU)"
            llama_run "$key" "$model" "$mode" "$rep"
            if ((slm_measured)) && ! slm_run "$key" "$model" "$mode" "$rep"; then slm_measured=0; fi
        done
    done
done

python3 - "$WORK/results.tsv" "$GEN" "$CPU" <<'PY'
import statistics, sys
path, gen, cpu = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows = [l.rstrip("\n").split("\t") for l in open(path) if l.strip()]
llama, slm = {}, {}
for r in rows:
    if r[0] == "llama":
        _, key, mode, rep, runs, eval_ms, prompt_ms, total_ms, sampling_ms = r
        runs = int(runs)
        if runs != gen - 1:
            print(f"bench-grammar: warning: {key} {mode} repeat {rep} generated {runs + 1} tokens, not {gen}",
                  file=sys.stderr)
        llama.setdefault((key, mode), []).append((
            1000 * runs / float(eval_ms),
            1000 * runs / (float(total_ms) - float(prompt_ms)),
            float(sampling_ms) / (runs + 1)))
    elif r[0] == "slm":
        _, key, mode, rep, n, tps = r
        slm.setdefault((key, mode), []).append(float(tps))

def ms(xs):
    return (statistics.mean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0)
def fmt(xs, d=2):
    m, s = ms(xs)
    return f"{m:.{d}f} ± {s:.{d}f}"

print(f"llama.cpp, greedy, 1 thread on cpu {cpu}, tg{gen}; mean ± sd over repeats\n")
print("| model | mode | decode t/s | gen t/s (incl. sampling) | sampling ms/token | gen ratio vs none | decode ratio vs none | extra sampling, % of a token | slm gen t/s | slm ratio vs none |")
print("|---|---|---|---|---|---|---|---|---|---|")
for key in dict.fromkeys(k for k, _ in llama):
    base = llama.get((key, "none"))
    for mode in ("none", "gbnf", "schema"):
        xs = llama.get((key, mode))
        if not xs:
            continue
        dec, genr, samp = zip(*xs)
        gr = ms(genr)[0] / ms([b[1] for b in base])[0] if base else float("nan")
        dr = ms(dec)[0] / ms([b[0] for b in base])[0] if base else float("nan")
        # The grammar's own cost, free of decode noise: extra sampling time per token relative to
        # the unconstrained run's whole time per token.
        extra = (100 * (ms(samp)[0] - ms([b[2] for b in base])[0]) * ms([b[1] for b in base])[0] / 1000
                 if base else float("nan"))
        s = slm.get((key, mode))
        sb = slm.get((key, "none"))
        s_cell = fmt(s) if s else "not measured"
        s_ratio = f"{ms(s)[0] / ms(sb)[0]:.3f}" if s and sb else "–"
        print(f"| {key} | {mode} | {fmt(dec)} | {fmt(genr)} | {fmt(samp, 3)} | {gr:.3f} | {dr:.3f} | {extra:+.1f} % | {s_cell} | {s_ratio} |")
PY
((slm_measured)) || log "slm side not measured (see the messages above)"
