#!/usr/bin/env bash
# Throughput of slmd through its socket vs `slm run` on the same greedy request, interleaved
# (the machine is shared: compare medians of pairs), plus slmd's idle memory.
# Usage: scripts/bench-daemon.sh [MODEL] [TOKENS] [PAIRS]   (run after swift build -c release)
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL="${1:-$(scripts/fetch-model.sh)}"
TOKENS="${2:-256}"
PAIRS="${3:-5}"
THREADS="${THREADS:-2}"
PROMPT="Once upon a time, in a land far away,"
BIN=.build/release
dir="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT

"$BIN/slmd" -m "$MODEL" --socket "$dir/s.sock" --db "$dir/c.db" -t "$THREADS" 2>"$dir/log" &
pid=$!
for _ in $(seq 100); do [[ -S "$dir/s.sock" ]] && break; sleep 0.1; done
sleep 1
echo "slmd idle after start: $(grep -E 'VmRSS|RssAnon|RssFile' /proc/$pid/status | tr -s ' \t' ' ' | tr '\n' ' ')"

python3 - "$dir/s.sock" "$MODEL" "$TOKENS" "$PAIRS" "$THREADS" "$PROMPT" "$BIN/slm" <<'PY'
import json, re, socket, statistics, subprocess, sys, time
sock, model, tokens, pairs, threads, prompt, slm = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6], sys.argv[7]
def daemon():
    s = socket.socket(socket.AF_UNIX); s.connect(sock); f = s.makefile("rwb")
    f.write((json.dumps({"id": 1, "op": "generate", "prompt": prompt, "max_tokens": tokens, "temperature": 0}) + "\n").encode()); f.flush()
    first = None; n = 0; text = ""
    while True:
        e = json.loads(f.readline())
        if e["event"] == "token":
            n += 1; text += e["text"]
            if first is None: first = time.monotonic()
        elif e["event"] == "done":
            end = time.monotonic(); s.close()
            client = (n - 1) / (end - first) if n > 1 else 0
            return e["tokens_per_second"], client, e["generated_tokens"], text
        else: raise SystemExit(e)
def run():
    p = subprocess.run([slm, "run", "-m", model, "-p", prompt, "-n", str(tokens), "--temp", "0", "-t", threads], capture_output=True, text=True, check=True)
    m = re.search(r"generated: (\d+) tokens, ([\d.]+) tokens/s", p.stderr)
    return float(m.group(2)), int(m.group(1)), p.stdout
rows = []
for i in range(pairs):
    r_tps, r_n, r_text = run()
    d_server, d_client, d_n, d_text = daemon()
    assert d_text == r_text, "different text"
    rows.append((r_tps, d_server, d_client))
    print(f"pair {i+1}: slm run {r_tps:.2f} t/s ({r_n} tokens) | slmd server {d_server:.2f} t/s, client-observed {d_client:.2f} t/s ({d_n} tokens)")
r = statistics.median(x[0] for x in rows); s = statistics.median(x[1] for x in rows); c = statistics.median(x[2] for x in rows)
ratios = sorted(x[2] / x[0] for x in rows)
print(f"median: slm run {r:.2f} t/s, slmd {s:.2f} t/s (server), {c:.2f} t/s (client); client/run median of pair ratios {statistics.median(ratios)*100:.1f}% (min {ratios[0]*100:.1f}%, max {ratios[-1]*100:.1f}%)")
PY
echo "slmd after the requests: $(grep -E 'VmRSS|RssAnon' /proc/$pid/status | tr -s ' \t' ' ' | tr '\n' ' ')"
