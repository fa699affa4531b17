#!/usr/bin/env python3
"""Decode speed and time to first token of one greedy request three ways, side by side in one
run: `slm run` (no daemon), slmd's NDJSON protocol, slmd's HTTP API streamed (OpenAI SSE).
Clients are raw sockets, so no client library's cost is counted. Reports medians; the results
go in docs/benchmarks.md. Not a test.

  python3 scripts/bench-http.py --model M.gguf [--runs 7] [--tokens 128] [--cpus 1]
  python3 scripts/bench-http.py --model A.gguf --second-model B.gguf --cpus 0,1
"""

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROMPT = "Once upon a time, in a small village by the sea, there lived"


def slm_run(args):
    out = subprocess.run(
        [os.path.join(ROOT, ".build/release/slm"), "run", "-m", args.model, "-p", PROMPT, "--temp", "0",
         "-n", str(args.tokens), "--cpus", args.cpus], capture_output=True, text=True, check=True)
    return float(re.search(r"generated: \d+ tokens, ([0-9.]+) tokens/s", out.stderr).group(1))


def ndjson(sock_path, tokens):
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(sock_path)
        request = {"id": 1, "op": "generate", "prompt": PROMPT, "max_tokens": tokens, "temperature": 0}
        start = time.perf_counter()
        s.sendall((json.dumps(request) + "\n").encode())
        buffer, first, last, count = b"", None, None, 0
        while True:
            buffer += s.recv(65536)
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                event = json.loads(line)
                now = time.perf_counter()
                if event["event"] == "token":
                    first = first or now
                    last = now
                    count += 1
                elif event["event"] == "done":
                    return first - start, event["generated_tokens"], (event["generated_tokens"] - 1) / (last - first)


def http_stream(sock_path, tokens):
    body = json.dumps({"prompt": PROMPT, "max_tokens": tokens, "temperature": 0, "stream": True,
                       "stream_options": {"include_usage": True}}).encode()
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(sock_path)
        start = time.perf_counter()
        s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                  % len(body) + body)
        buffer, first, last, usage = b"", None, None, None
        while True:
            buffer += s.recv(65536)
            while b"\n\n" in buffer:
                head, buffer = buffer.split(b"\n\n", 1)
                now = time.perf_counter()
                data = head[head.find(b"data: ") + 6:]
                if data.startswith(b"[DONE]"):
                    generated = usage["completion_tokens"]
                    return first - start, generated, (generated - 1) / (last - first)
                event = json.loads(data)
                if event.get("usage"):
                    usage = event["usage"]
                elif event["choices"] and event["choices"][0]["text"]:
                    first = first or now
                    last = now


def two_models(args):
    """One request to each of two models, side by side and one after the other: what one
    inference thread per model buys (or costs) on this machine."""
    folder = tempfile.mkdtemp(prefix="slm-bench-")
    sock_path = os.path.join(folder, "slmd.sock")
    daemon = subprocess.Popen([os.path.join(ROOT, ".build/release/slmd"), "-m", "a=" + args.model, "-m",
                               "b=" + args.second_model, "--socket", sock_path, "--db", os.path.join(folder, "c.db"),
                               "--cpus", args.cpus, "--keep-alive", "-1", "--log-level", "warning"])
    while not os.path.exists(sock_path):
        time.sleep(0.05)

    def request(model, results):
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(sock_path)
            s.sendall((json.dumps({"id": 1, "op": "generate", "prompt": PROMPT, "max_tokens": args.tokens,
                                   "temperature": 0, "model": model}) + "\n").encode())
            buffer = b""
            while b'"event":"done"' not in buffer:
                assert b'"event":"error"' not in buffer, buffer
                buffer += s.recv(65536)
            results.append(json.loads(buffer.strip().split(b"\n")[-1]))

    import threading
    try:
        request("a", [])
        request("b", [])  # both mapped and warm
        sequential, parallel = [], []
        for _ in range(args.runs):
            start = time.perf_counter()
            request("a", [])
            request("b", [])
            sequential.append(time.perf_counter() - start)
            start = time.perf_counter()
            threads = [threading.Thread(target=request, args=(m, [])) for m in ("a", "b")]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            parallel.append(time.perf_counter() - start)
    finally:
        daemon.terminate()
        daemon.wait()
    seq, par = statistics.median(sequential), statistics.median(parallel)
    print(f"two models, {args.tokens} tokens each, CPUs {args.cpus}: one after the other {seq:.2f} s, "
          f"side by side {par:.2f} s ({seq / par:.2f}x)")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--cpus", default="1")
    parser.add_argument("--second-model", help="measure two models side by side instead")
    args = parser.parse_args()
    if args.second_model:
        return two_models(args)
    folder = tempfile.mkdtemp(prefix="slm-bench-")
    sock_path = os.path.join(folder, "slmd.sock")
    daemon = subprocess.Popen([os.path.join(ROOT, ".build/release/slmd"), "-m", args.model, "--socket", sock_path,
                               "--db", os.path.join(folder, "c.db"), "--cpus", args.cpus, "--log-level", "warning"])
    while not os.path.exists(sock_path):
        time.sleep(0.05)
    results = {"slm run": [], "NDJSON": [], "HTTP SSE": []}
    ttft = {"NDJSON": [], "HTTP SSE": []}
    try:
        ndjson(sock_path, 8)
        http_stream(sock_path, 8)  # warm both paths (and the page cache) first
        for run in range(args.runs):
            # Interleaved, so drift (thermal, other load) touches all three alike, and the two
            # daemon paths take turns going first. Each daemon request starts after the daemon's
            # idle release (0.5 s), so its KV cache is as cold as a fresh `slm run`'s.
            results["slm run"].append(slm_run(args))
            paths = [("NDJSON", ndjson), ("HTTP SSE", http_stream)]
            counts = []
            for name, request in paths if run % 2 == 0 else reversed(paths):
                time.sleep(0.8)
                first, n, speed = request(sock_path, args.tokens)
                ttft[name].append(first * 1000)
                results[name].append(speed)
                counts.append(n)
            assert counts[0] == counts[1], counts
    finally:
        daemon.terminate()
        daemon.wait()
    base = statistics.median(results["slm run"])
    print(f"{args.runs} runs of {args.tokens} tokens, CPUs {args.cpus}; medians")
    print("| path | decode tok/s | vs slm run | time to first token (ms) |")
    print("|---|---|---|---|")
    for name, speeds in results.items():
        m = statistics.median(speeds)
        t = f"{statistics.median(ttft[name]):.1f}" if name in ttft else "—"
        print(f"| {name} | {m:.1f} | {m / base * 100:.1f} % | {t} |")
    print(f"TTFT difference HTTP − NDJSON (median of per-run differences): "
          f"{statistics.median(h - n for h, n in zip(ttft['HTTP SSE'], ttft['NDJSON'])):+.2f} ms")


if __name__ == "__main__":
    main()
