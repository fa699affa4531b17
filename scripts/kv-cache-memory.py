#!/usr/bin/env python3
"""Peak RSS of slmd with 4 concurrent generations whose 4,096-token contexts are filled, for each
KV cache type (docs/kv-cache.md): starts slmd with -c 4096 --max-active 4 -ctk T -ctv T, sends four
generate requests at once, each a ~4,000-token prompt plus a few generated tokens, and reads the
daemon's VmHWM when they are done. Prints one line per type and the KV part's cut against F16.

Usage: scripts/kv-cache-memory.py [MODEL.gguf] (default: the cached SmolLM2-135M); needs
`swift build -c release` first. TYPES (default "f16 q8_0 q4_0") and THREADS (default 2) from the
environment.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLMD = os.environ.get("SLMD_BINARY", os.path.join(ROOT, ".build/release/slmd"))
SLM = os.environ.get("SLM_BINARY", os.path.join(ROOT, ".build/release/slm"))
TYPES = os.environ.get("TYPES", "f16 q8_0 q4_0").split()
THREADS = os.environ.get("THREADS", "2")
CONTEXT = 4096
CLIENTS = 4


def model_path():
    if len(sys.argv) > 1:
        return sys.argv[1]
    return subprocess.run([os.path.join(ROOT, "scripts/fetch-model.sh")], capture_output=True, text=True, check=True).stdout.strip()


def prompt_filling(model, tokens, salt):
    """A text of about `tokens` tokens (checked with slm tokenize), different per client."""
    words = ["river", "stone", "lantern", "harbor", "meadow", "copper", "violet", "thunder", "orchard", "signal"]
    text = f"Client {salt}. " + " ".join(words[(i * 7 + salt) % len(words)] + str(i % 97) for i in range(tokens))
    count = len(json.loads(subprocess.run([SLM, "tokenize", "-m", model, text], capture_output=True, text=True, check=True).stdout))
    # Shrink proportionally to land under the target.
    keep = int(len(text) * tokens / count * 0.98)
    return text[:keep]


def request(path, line, out, index):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall((json.dumps(line) + "\n").encode())
    buf = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
        if b'"done"' in buf or b'"error"' in buf:
            break
    s.close()
    out[index] = buf.decode(errors="replace").strip().splitlines()[-1]


def vm_hwm(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def main():
    model = model_path()
    prompts = [prompt_filling(model, CONTEXT - 64, i) for i in range(CLIENTS)]
    results = {}
    for kv in TYPES:
        with tempfile.TemporaryDirectory() as tmp:
            sock = os.path.join(tmp, "slmd.sock")
            daemon = subprocess.Popen(
                [SLMD, "-m", model, "--socket", sock, "--db", os.path.join(tmp, "db.sqlite"), "-c", str(CONTEXT),
                 "--max-active", str(CLIENTS), "-t", THREADS, "-ctk", kv, "-ctv", kv],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                for _ in range(300):
                    if os.path.exists(sock):
                        break
                    time.sleep(0.1)
                idle = vm_hwm(daemon.pid)
                out = [None] * CLIENTS
                started = time.time()
                threads = [threading.Thread(target=request, args=(sock, {"id": i, "op": "generate", "prompt": prompts[i],
                                                                           "max_tokens": 8, "temperature": 0}, out, i))
                           for i in range(CLIENTS)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                peak = vm_hwm(daemon.pid)
                done = [json.loads(o) for o in out]
                ok = all(d.get("event") == "done" for d in done)
                prompt_tokens = [d.get("stats", d).get("prompt_tokens") for d in done]
                results[kv] = (idle, peak)
                print(f"{kv:>5}: peak RSS {peak / 2**20:7.1f} MiB (idle {idle / 2**20:6.1f} MiB), "
                      f"{'all done' if ok else 'NOT all done: ' + str(done)}, prompt tokens {prompt_tokens}, "
                      f"{time.time() - started:.0f} s", flush=True)
            finally:
                daemon.terminate()
                daemon.wait()
    if "f16" in results:
        base_idle, base_peak = results["f16"]
        for kv, (idle, peak) in results.items():
            if kv == "f16":
                continue
            print(f"{kv}: peak {peak / 2**20:.1f} MiB vs f16 {base_peak / 2**20:.1f} MiB; "
                  f"growth over idle {(peak - idle) / 2**20:.1f} vs {(base_peak - base_idle) / 2**20:.1f} MiB "
                  f"({100 * (1 - (peak - idle) / (base_peak - base_idle)):.1f} % less)")


if __name__ == "__main__":
    main()
