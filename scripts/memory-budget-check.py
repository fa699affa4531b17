#!/usr/bin/env python3
"""Memory prediction and budget acceptance (issue 22), Python 3 standard library only.

1. Predictions: for each setting, `slm inspect MODEL --memory -c N --parallel P -t T` is
   compared with the peak RSS (VmHWM of /proc/PID/status) of an slmd serving P concurrent
   requests that fill their N-position contexts (a prompt of about N - 48 tokens, then
   generation up to the context's end). Passes when every prediction is within 10 %.
2. Budget: an slmd with --memory-budget 20 % below the prediction for 4 filled 4k contexts gets
   8 concurrent long requests: all must complete (the ones that do not fit wait), its peak RSS
   must stay at or below the budget, and `stats.memory` is printed as seen mid-run.

    scripts/memory-budget-check.py --slm .build/release/slm --slmd .build/release/slmd \\
        --model "$(scripts/fetch-model.sh)"
Exit status: 0 when every check passed, 1 when one failed, 2 on a usage or startup error.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from slmd_client import Daemon  # noqa: E402

SETTINGS = [(1024, 2), (4096, 1), (4096, 4)]  # (context length, filled contexts)
SETTINGS_ARG_HELP = "CTXxPARALLEL,... (default 1024x2,4096x1,4096x4)"
TOLERANCE = 0.10
BUDGET_FACTOR = 0.8


def predict(args, ctx, parallel):
    out = subprocess.run([args.slm, "inspect", args.model, "--memory", "-c", str(ctx), "--parallel", str(parallel),
                          "-t", args.threads], check=True, capture_output=True, text=True).stdout
    m = re.search(r"total.*\((\d+) bytes\)", out)
    return int(m.group(1)), out


def start_daemon(args, extra):
    return Daemon(args.slmd, args.model, ["-t", args.threads, *extra])


def filler(words):
    return " ".join(f"item{i % 97} is {i * 7 % 101}," for i in range(words))


def prompt_of(daemon, tokens):
    """A prompt of at most about `tokens` tokens: the filler's tokens per item measured on a
    short probe (the filler is regular, so its length scales), with a 2 % margin."""
    probe = daemon.events({"id": 0, "op": "generate", "prompt": filler(100), "max_tokens": 1})
    per_item = probe[-1]["prompt_tokens"] / 100
    return filler(int(tokens / per_item * 0.98))


def fill(daemon, ctx, count, prompt):
    """`count` concurrent requests that fill their contexts; their done events."""
    results = [None] * count

    def one(i):
        results[i] = daemon.events({"id": i, "op": "generate", "prompt": prompt, "max_tokens": ctx,
                                     "temperature": 0.7, "seed": i, "repeat_penalty": 1.3})[-1]

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    return threads, results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--slm", default=".build/release/slm")
    ap.add_argument("--slmd", default=".build/release/slmd")
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", "-t", default="2")
    ap.add_argument("--skip-predictions", action="store_true")
    ap.add_argument("--skip-budget", action="store_true")
    ap.add_argument("--settings", help=SETTINGS_ARG_HELP)
    ap.add_argument("--budget-ctx", type=int, default=4096,
                    help="context length of the budget run (4 such contexts, 8 requests; default 4096)")
    args = ap.parse_args()
    failures = []
    rows = []

    if not args.skip_predictions:
        settings = SETTINGS
        if args.settings:
            settings = [tuple(int(x) for x in item.split("x")) for item in args.settings.split(",")]
        for ctx, parallel in settings:
            predicted, _ = predict(args, ctx, parallel)
            d = start_daemon(args, ["-c", str(ctx), "--max-active", str(parallel), "--prompt-cache-bytes", "0"])
            try:
                prompt = prompt_of(d, ctx - 48)
                threads, results = fill(d, ctx, parallel, prompt)
                for t in threads:
                    t.join()
                filled = [r.get("prompt_tokens", 0) + r.get("generated_tokens", 0) for r in results]
                measured = d.hwm()
            finally:
                d.stop()
            error = (predicted - measured) / measured
            rows.append((ctx, parallel, predicted, measured, error, filled))
            print(f"-c {ctx} x {parallel}: predicted {predicted / 2**20:.1f} MiB, measured VmHWM {measured / 2**20:.1f} MiB, "
                  f"error {error * 100:+.1f} % (positions filled: {filled})", flush=True)
            if abs(error) > TOLERANCE:
                failures.append(f"prediction for -c {ctx} x {parallel} off by {error * 100:+.1f} %")

    if args.skip_budget:
        for f in failures:
            print("FAIL:", f)
        return 1 if failures else 0
    ctx = args.budget_ctx
    four, breakdown = predict(args, ctx, 4)
    budget = int(four * BUDGET_FACTOR)
    print(f"\nbudget run: 4 x {ctx} contexts predicted {four / 2**20:.1f} MiB; --memory-budget {budget} "
          f"({budget / 2**20:.1f} MiB, 20 % below)", flush=True)
    d = start_daemon(args, ["-c", str(ctx), "--max-active", "4", "--memory-budget", str(budget)])
    try:
        prompt = prompt_of(d, ctx - 48)
        threads, results = fill(d, ctx, 8, prompt)
        seen = []
        while any(t.is_alive() for t in threads):
            s = d.request({"id": "s", "op": "stats"})[-1]
            seen.append(s)
            time.sleep(1)
        for t in threads:
            t.join()
        measured = d.hwm()
        final = d.request({"id": "s", "op": "stats"})[-1]
    finally:
        d.stop()
    done = sum(1 for r in results if r and r.get("event") == "done")
    max_active = max((s["active_requests"] for s in seen), default=0)
    max_queue = max((s["queue_depth"] for s in seen), default=0)
    busiest = max(seen, key=lambda s: s["memory"]["accounted_bytes"]) if seen else final
    n = max((r.get("prompt_tokens", 0) for r in results if r), default=0)
    print(f"8 requests of {n} prompt tokens: {done} completed; at most {max_active} active, {max_queue} queued")
    print(f"peak RSS (VmHWM) {measured / 2**20:.1f} MiB vs budget {budget / 2**20:.1f} MiB")
    print("stats.memory at the busiest moment:", json.dumps(busiest["memory"]))
    print("stats.memory at the end:", json.dumps(final["memory"]))
    if done != 8:
        failures.append(f"only {done} of 8 requests completed: {results}")
    if measured > budget:
        failures.append("peak RSS above the budget")
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
