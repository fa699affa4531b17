#!/usr/bin/env python3
"""Resuming a stored conversation after a restart: time to first token of the next message when
`slm chat` restores the conversation's KV snapshot, vs when it re-runs (re-prefills) the history.
Also checks that the greedy reply after the snapshot resume is the never-restarted chat's reply,
and prints the store's size per 1,000 tokens of conversation (docs/benchmarks.md).

The conversation (about 1,000 tokens) is the one of Tests/SLMStoreTests/PersistentChatTests.swift.
Usage: scripts/bench-resume.py [MODEL.gguf] (default: the cached SmolLM2-135M); needs
`swift build -c release` first. REPEATS (default 5) and THREADS (default 2) from the environment.
"""
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLM = os.environ.get("SLM_BINARY", os.path.join(ROOT, ".build/release/slm"))
REPEATS = int(os.environ.get("REPEATS", "5"))
THREADS = os.environ.get("THREADS", "2")


def conversation():
    source = open(os.path.join(ROOT, "Tests/SLMStoreTests/PersistentChatTests.swift")).read()
    block = source[source.index("static let userMessages = [\n        \"I am planning"):]
    block = block[:block.index("]")]
    history = re.findall(r'"((?:[^"\\]|\\.)*)"', block)
    after = re.search(r'static let nextMessage = "((?:[^"\\]|\\.)*)"', source).group(1)
    return history, after


def chat(model, db, lines, resume=None):
    args = [SLM, "chat", "-m", model, "--db", db, "--temp", "0", "-n", "32", "-c", "2048", "-t", THREADS, "--stats"]
    if resume is not None:
        args += ["--conversation", str(resume)]
    done = subprocess.run(args, input="\n".join(lines) + "\n", capture_output=True, text=True, check=True)
    return done.stderr


def last_reply(db):
    with sqlite3.connect(db) as c:
        return c.execute("SELECT content FROM messages WHERE role = 'assistant' ORDER BY conversation_id DESC, sequence DESC LIMIT 1").fetchone()[0]


def timings(stderr):
    resume = float(re.search(r"resume: ([0-9.]+) ms", stderr).group(1))
    ttft = [float(x) for x in re.findall(r"time to first token ([0-9.]+) ms", stderr)][-1]
    reused = [int(x) for x in re.findall(r"\((\d+) reused from the cache\)", stderr)][-1]
    prompt = [int(x) for x in re.findall(r"prompt: (\d+) tokens", stderr)][-1]
    return resume, ttft, reused, prompt


def main():
    model = sys.argv[1] if len(sys.argv) > 1 else subprocess.run(
        [os.path.join(ROOT, "scripts/fetch-model.sh")], capture_output=True, text=True, check=True).stdout.strip()
    history, after = conversation()
    tmp = tempfile.mkdtemp(prefix="slm-bench-resume-")
    try:
        base = os.path.join(tmp, "base.db")
        chat(model, base, history)
        live = os.path.join(tmp, "live.db")
        chat(model, live, history + [after])
        expected = last_reply(live)

        with sqlite3.connect(base) as c:
            (cid,) = c.execute("SELECT id FROM conversations").fetchone()
            msg_bytes, msg_tokens, msg_count = c.execute("SELECT SUM(LENGTH(CAST(content AS BLOB))), SUM(token_count), COUNT(*) FROM messages").fetchone()
            snap_bytes, snap_tokens = c.execute("SELECT byte_count, token_count FROM snapshots").fetchone()
            page_size = c.execute("PRAGMA page_size").fetchone()[0]
            pages = c.execute("PRAGMA page_count").fetchone()[0]
        file_bytes = os.path.getsize(base)
        # The same database without its snapshot, compacted: what the messages (and FTS index) cost.
        bare = os.path.join(tmp, "bare.db")
        shutil.copy(base, bare)
        c = sqlite3.connect(bare, isolation_level=None)
        c.execute("DELETE FROM snapshots")
        c.execute("VACUUM")
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        c.close()
        bare_bytes = os.path.getsize(bare)

        rows = {"snapshot": [], "re-prefill": []}
        identical = True
        for _ in range(REPEATS):  # interleaved: the machine is shared and noisy
            for mode in ("snapshot", "re-prefill"):
                db = os.path.join(tmp, mode + ".db")
                shutil.copy(base, db)
                if mode == "re-prefill":
                    with sqlite3.connect(db) as c:
                        c.execute("DELETE FROM snapshots")
                stderr = chat(model, db, [after], resume=cid)
                if mode == "snapshot":
                    identical &= last_reply(db) == expected
                    assert "resumed from the KV snapshot" in stderr, stderr
                rows[mode].append(timings(stderr))

        print(f"model: {os.path.basename(model)}, threads {THREADS}, {REPEATS} interleaved runs each (median)")
        print(f"conversation: {snap_tokens} tokens in the KV cache ({msg_count} messages, {msg_tokens} message tokens)")
        medians = {}
        for mode, values in rows.items():
            resume = statistics.median(v[0] for v in values)
            ttft = statistics.median(v[1] for v in values)
            total = statistics.median(v[0] + v[1] for v in values)
            medians[mode] = total
            print(f"{mode:>10}: resume {resume:.1f} ms + time to first token {ttft:.1f} ms = {total:.1f} ms"
                  f" (prompt {values[-1][3]} tokens, {values[-1][2]} reused)")
        print(f"snapshot path is {medians['re-prefill'] / medians['snapshot']:.1f}x faster")
        print(f"greedy reply after the snapshot resume identical to the never-restarted chat: {'yes' if identical else 'NO'}")
        per_k = 1000 / snap_tokens
        print(f"store size per 1,000 tokens of conversation: messages {msg_bytes * per_k / 1024:.1f} KiB of text, "
              f"snapshot {snap_bytes * per_k / 1024 / 1024:.1f} MiB; database file {file_bytes / 1024 / 1024:.1f} MiB "
              f"({pages} pages of {page_size} bytes) for {snap_tokens} tokens; without the snapshot, vacuumed: "
              f"{bare_bytes / 1024:.0f} KiB (pages of {page_size} bytes, mostly fixed cost of one page per table and index)")
        if not identical:
            sys.exit(1)
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
