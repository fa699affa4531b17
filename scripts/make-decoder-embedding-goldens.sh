#!/usr/bin/env bash
# Regenerates Tests/SLMCoreTests/Fixtures/embeddings/smollm2-decoder.json: llama-embedding's
# vectors for a few texts on SmolLM2-135M (a decoder: hidden states after the final norm), with
# mean and with last-token pooling, L2-normalised. EmbeddingTests compares slm's with them.
# Needs the reference llama.cpp build (scripts/build-llama-cpp.sh, which this calls).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODEL="$("$ROOT/scripts/fetch-model.sh")"
LLAMA_BIN="$("$ROOT/scripts/build-llama-cpp.sh")/bin"
OUT="$ROOT/Tests/SLMCoreTests/Fixtures/embeddings/smollm2-decoder.json"

python3 - "$LLAMA_BIN/llama-embedding" "$MODEL" "$OUT" <<'PY'
import json, os, subprocess, sys

tool, model, out = sys.argv[1:4]
texts = [
    "The capital of France is Paris.",
    "Bananas are yellow and grow in warm countries.",
    "def add(a, b):\n    return a + b",
    "Penguins cannot fly, but they swim very well.",
]
golden = {"format": "slm-decoder-embedding-golden-v1", "model": os.path.basename(model),
          "tool": "llama-embedding --embd-normalize 2 --embd-output-format array, one text per run", "cases": []}
for pooling in ["mean", "last"]:
    for text in texts:
        # One text per run, with a separator no text has (llama-embedding splits -p at newlines).
        result = subprocess.run(
            [tool, "-m", model, "-t", "2", "-p", text, "--pooling", pooling, "--embd-normalize", "2",
             "--embd-output-format", "array", "--embd-separator", "<#sep#>"],
            capture_output=True, text=True, check=True)
        vectors = json.loads(result.stdout)
        assert len(vectors) == 1, (text, len(vectors))
        golden["cases"].append({"pooling": pooling, "text": text, "vector": [float(f"{x:.7g}") for x in vectors[0]]})
with open(out, "w", encoding="utf-8") as f:
    json.dump(golden, f, ensure_ascii=False, separators=(",", ":"))
    f.write("\n")
print(f"{out}: {len(golden['cases'])} vectors of {len(golden['cases'][0]['vector'])}", file=sys.stderr)
PY
