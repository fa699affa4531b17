#!/usr/bin/env python3
"""Time to first token of a short prompt (issue 23): a 28-token prompt on SmolLM2 Q4_1, 2 threads.

Three views, measured in one run:
  1. slmd, the product: `generate` with max_tokens 1 over the socket, client clock (request
     written -> first token event), prompt cache off so every request computes its prompt; one
     untimed request first (the daemon is warm in service). Median of --runs.
  2. The engine alone: `slm bench -p N -n 0 -r RUNS` (prompt of N tokens into an empty context,
     logits of the last token), as milliseconds per prompt.
  3. llama.cpp on the same file and threads: `llama-bench -p N -n 0 -r RUNS` (same measure as 2).
Benches 2 and 3 alternate over --rounds; medians. Python 3 standard library only:
    scripts/ttft-short-prompt.py [--model M] [--threads 2] [--runs 10]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from slmd_client import Daemon, generate  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# 28 tokens with SmolLM2's tokenizer (which adds no BOS).
PROMPT = ("The quick brown fox jumps over the lazy dog. Now write a short story about a little robot who "
          "learns to paint the sea at night.")


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None)
    ap.add_argument("--slm", default=os.path.join(ROOT, ".build/release/slm"))
    ap.add_argument("--slmd", default=os.path.join(ROOT, ".build/release/slmd"))
    ap.add_argument("--threads", default="2")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    model = args.model or run([os.path.join(ROOT, "scripts/fetch-model.sh")]).strip()
    llama_dir = run([os.path.join(ROOT, "scripts/build-llama-cpp.sh")]).strip()
    cpu = run([os.path.join(ROOT, "scripts/cpu-features.sh")]).strip()
    tokens = len(json.loads(run([args.slm, "tokenize", "-m", model, "--add-special", PROMPT])))

    daemon = Daemon(args.slmd, model, ["-t", args.threads, "-c", "2048", "--prompt-cache-bytes", "0"])
    try:
        request = {"op": "generate", "prompt": PROMPT, "max_tokens": 1, "temperature": 0}
        generate(daemon.sock, {**request, "id": "warm-up"})
        client, server = [], []
        for i in range(args.runs):
            ttft, _, done = generate(daemon.sock, {**request, "id": i})
            client.append(ttft * 1000)
            if done and done.get("ttft_ms") is not None:
                server.append(done["ttft_ms"])
            assert done["prompt_tokens"] == tokens, done
    finally:
        daemon.stop()

    slm_ms, llama_ms = [], []
    env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(llama_dir, "bin"))
    for _ in range(args.rounds):
        rows = json.loads(run([args.slm, "bench", "-m", model, "-t", args.threads, "-p", str(tokens), "-n", "0",
                               "-r", str(args.runs), "-o", "json"]))
        slm_ms += [tokens / tps * 1000 for tps in rows[0]["samples"]]
        rows = json.loads(run([os.path.join(llama_dir, "bin/llama-bench"), "-m", model, "-t", args.threads,
                               "-p", str(tokens), "-n", "0", "-r", str(args.runs), "-o", "json"], env=env))
        llama_ms += [ns / 1e6 for ns in rows[0]["samples_ns"]]

    med = statistics.median
    print(f"CPU: {cpu}. Model: {os.path.basename(model)}, {tokens}-token prompt, {args.threads} threads.\n")
    print("| measure | median | min | max | runs |")
    print("|---|---:|---:|---:|---:|")
    print(f"| slmd `generate`, client time to first token | {med(client):.1f} ms | {min(client):.1f} | {max(client):.1f} | {len(client)} |")
    if server:
        print(f"| slmd `generate`, server `ttft_ms` | {med(server):.1f} ms | {min(server):.1f} | {max(server):.1f} | {len(server)} |")
    print(f"| slm bench pp{tokens} (engine) | {med(slm_ms):.1f} ms | {min(slm_ms):.1f} | {max(slm_ms):.1f} | {len(slm_ms)} |")
    print(f"| llama-bench pp{tokens} | {med(llama_ms):.1f} ms | {min(llama_ms):.1f} | {max(llama_ms):.1f} | {len(llama_ms)} |")
    print(f"\nslm engine vs llama.cpp: {med(llama_ms) / med(slm_ms):.2f}x faster (ratio of medians).")


if __name__ == "__main__":
    main()
