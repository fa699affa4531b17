#!/usr/bin/env python3
"""A scripted conversation longer than the context through slmd (issue 22's acceptance point):
200 turns with a 1024-token context by default. Checks that every turn is answered, that
`truncated_turns` is reported once the history outgrows the context (and never 0), that the
store keeps the whole history (conversations.get: every message, in order, as sent and as
streamed), and that the conversation resumes after slmd restarts (once half-way, once at the
end). Prints a summary; exit status 1 when a check fails. Not a benchmark: the times are shown
only to see where the turns spend theirs.

Usage: scripts/long-conversation.py [--model M.gguf] [--turns 200] [--context 1024]
           [--max-tokens 32] [--threads 2] [--slmd PATH]
Needs `swift build -c release` first; the model defaults to $SLM_TEST_MODEL, else the cached
SmolLM2-135M (scripts/fetch-model.sh). Python 3 standard library only.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 30
REPLY_TIMEOUT_SECONDS = 300

TOPICS = [
    "the moon", "bread", "rivers", "chess", "volcanoes", "bees", "the violin", "glaciers", "paper",
    "owls", "the printing press", "tea", "lighthouses", "copper", "tides", "maps", "salt", "bridges",
    "clocks", "penguins",
]
ASKS = [
    "Tell me one fact about {}.", "Why do people like {}?", "Describe {} in one sentence.",
    "What is the history of {}?", "Give me a short tip about {}.",
]


def message(turn):
    topic = TOPICS[turn % len(TOPICS)]
    ask = ASKS[(turn // len(TOPICS)) % len(ASKS)]
    return f"Turn {turn + 1}: " + ask.format(topic)


class Daemon:
    def __init__(self, args, directory):
        self.socket_path = os.path.join(directory, "slmd.sock")
        self.log = open(os.path.join(directory, "slmd.log"), "ab")
        command = [args.slmd, "-m", args.model, "--socket", self.socket_path,
                   "--db", os.path.join(directory, "conversations.db"), "-t", str(args.threads),
                   "-c", str(args.context)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            if self.process.poll() is not None:
                sys.exit(f"slmd exited with {self.process.returncode}; see {self.log.name}")
            try:
                self.connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.connection.connect(self.socket_path)
                break
            except OSError:
                self.connection.close()
                if time.monotonic() > deadline:
                    self.stop()
                    sys.exit("slmd did not start serving")
                time.sleep(0.05)
        self.connection.settimeout(REPLY_TIMEOUT_SECONDS)
        self.reader = self.connection.makefile("rb")

    def send(self, request):
        self.connection.sendall((json.dumps(request) + "\n").encode())

    def events(self, request_id):
        """The events of one request up to its last one (done, error, or a control op's reply)."""
        while True:
            line = self.reader.readline()
            if not line:
                raise RuntimeError("slmd closed the connection")
            event = json.loads(line)
            if event.get("id") != request_id:
                continue
            yield event
            if event["event"] != "token":
                return

    def request(self, request):
        self.send(request)
        return list(self.events(request["id"]))[-1]

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def chat(daemon, request_id, conversation, text, max_tokens):
    request = {"id": request_id, "op": "chat", "message": text, "max_tokens": max_tokens, "temperature": 0}
    if conversation is not None:
        request["conversation"] = conversation
    started = time.monotonic()
    daemon.send(request)
    reply = []
    for event in daemon.events(request_id):
        if event["event"] == "token":
            reply.append(event["text"])
        else:
            return "".join(reply), event, time.monotonic() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=os.environ.get("SLM_TEST_MODEL"))
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--context", type=int, default=1024)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--slmd", default=os.path.join(ROOT, ".build/release/slmd"))
    args = parser.parse_args()
    if not args.model:
        args.model = subprocess.run([os.path.join(ROOT, "scripts/fetch-model.sh")], capture_output=True, text=True,
                                    check=True).stdout.strip()
    if not os.path.exists(args.slmd):
        sys.exit(f"no slmd at {args.slmd}: run swift build -c release first")

    directory = tempfile.mkdtemp(prefix="slm-long-conversation-")
    failures = []
    sent, replies, dones, seconds = [], [], [], []
    restarts = []
    conversation = None
    daemon = Daemon(args, directory)
    started = time.monotonic()
    try:
        halfway = args.turns // 2
        for turn in range(args.turns + 1):
            if turn in (halfway, args.turns):
                # Restart: the next turn resumes the stored conversation in a fresh daemon.
                daemon.stop()
                daemon = Daemon(args, directory)
                restarts.append(turn)
            text = message(turn) if turn < args.turns else "Thank you. What did we talk about first?"
            reply, done, elapsed = chat(daemon, turn + 1, conversation, text, args.max_tokens)
            if done["event"] != "done":
                failures.append(f"turn {turn + 1}: {json.dumps(done)}")
                continue
            if done.get("generated_tokens", 0) < 1:
                failures.append(f"turn {turn + 1}: no reply")
            if done.get("truncated_turns") == 0:
                failures.append(f"turn {turn + 1}: truncated_turns sent as 0 (it is left out when 0)")
            if conversation is None:
                conversation = done["conversation"]
            elif done.get("conversation") != conversation:
                failures.append(f"turn {turn + 1}: conversation {done.get('conversation')}, expected {conversation}")
            if turn in restarts and done.get("truncated_turns", 0) < 1:
                failures.append(f"turn {turn + 1}: resumed after a restart without leaving out old turns")
            sent.append(text)
            replies.append(reply)
            dones.append(done)
            seconds.append(elapsed)

        truncated = [d.get("truncated_turns", 0) for d in dones]
        if not any(truncated):
            failures.append("truncated_turns was never reported: the conversation never outgrew the context")
        if truncated != sorted(truncated):
            failures.append(f"the window moved back: {truncated}")

        got = daemon.request({"id": "get", "op": "conversations.get", "conversation": conversation})
        stored = got.get("messages", [])
        expected = [m for pair in zip(sent, replies) for m in pair]
        if len(stored) != len(expected):
            failures.append(f"the store holds {len(stored)} messages, expected {len(expected)}")
        for index, (message_stored, content) in enumerate(zip(stored, expected)):
            role = "user" if index % 2 == 0 else "assistant"
            if message_stored.get("role") != role or message_stored.get("content") != content:
                failures.append(f"stored message {index} differs: {json.dumps(message_stored)[:200]}")
                break
    finally:
        daemon.stop()
    total = time.monotonic() - started

    truncated = [d.get("truncated_turns", 0) for d in dones]
    first_truncated = next((i + 1 for i, t in enumerate(truncated) if t), None)
    windows = len({t for t in truncated if t})
    cached_share = [d["cached_tokens"] / d["prompt_tokens"] for d in dones if d.get("prompt_tokens")]
    print(f"long conversation through slmd: {args.turns} scripted turns + 1 after the final restart, "
          f"context {args.context}, max_tokens {args.max_tokens}, model {os.path.basename(args.model)}")
    print(f"  turns answered: {len(dones)} of {args.turns + 1} (stop reasons: "
          f"{dict(sorted({r: [d['stop_reason'] for d in dones].count(r) for r in {d['stop_reason'] for d in dones}}.items()))})")
    print(f"  truncated_turns: first reported at turn {first_truncated}, reported on "
          f"{sum(1 for t in truncated if t)} turns, last {truncated[-1] if truncated else None}; "
          f"the window moved {windows} times")
    if dones:
        print(f"  prompt tokens: mean {statistics.mean(d['prompt_tokens'] for d in dones):.0f}, max "
              f"{max(d['prompt_tokens'] for d in dones)}; cached share of the prompt: mean "
              f"{statistics.mean(cached_share):.2f}")
        print(f"  time per turn: median {statistics.median(seconds):.2f} s, max {max(seconds):.2f} s; "
              f"ttft median {statistics.median(d['ttft_ms'] for d in dones):.0f} ms; total {total:.0f} s")
    print(f"  restarts before turns {[t + 1 for t in restarts]}: resumed "
          f"{'yes' if all(t < len(dones) and dones[t].get('conversation') == conversation for t in restarts) else 'NO'}")
    print(f"  stored history: {len(stored) if dones else 0} messages (expected {2 * len(dones)})")
    if failures:
        print("FAILED:")
        for failure in failures[:20]:
            print("  " + failure)
        print(f"  (slmd's log and database kept in {directory})")
        return 1
    shutil.rmtree(directory, ignore_errors=True)
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
