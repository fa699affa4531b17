"""A small slmd client for the measurement scripts, Python 3 standard library only: start a
daemon on a temporary socket and database, send NDJSON requests, time the replies.

    sys.path.insert(0, os.path.dirname(__file__)); from slmd_client import Daemon, generate
"""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time


class Daemon:
    """An slmd serving `model` on a socket in a fresh temporary directory; `stop()` removes it."""

    def __init__(self, slmd, model, extra=(), start_timeout=60):
        self.dir = tempfile.mkdtemp(prefix="slmd-")
        os.chmod(self.dir, 0o755)
        self.sock = os.path.join(self.dir, "slmd.sock")
        self.log = open(os.path.join(self.dir, "slmd.log"), "w")
        cmd = [slmd, "-m", model, "--socket", self.sock, "--db", os.path.join(self.dir, "c.db"), *extra]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"slmd exited: {open(self.log.name).read()[-2000:]}")
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(self.sock)
                s.close()
                os.chmod(self.sock, 0o666)
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("slmd did not start")

    def request(self, fields):
        """One request on its own connection; the first reply line."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.sock)
        f = s.makefile("rwb", buffering=0)
        f.write((json.dumps(fields) + "\n").encode())
        line = json.loads(f.readline())
        s.close()
        return line

    def events(self, fields):
        """One request on its own connection; its replies up to the first that is not a `token`
        event (a generation's `done` or error, or any other op's one reply)."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.sock)
        f = s.makefile("rwb", buffering=0)
        f.write((json.dumps(fields) + "\n").encode())
        events = []
        for raw in f:
            events.append(json.loads(raw))
            if events[-1].get("event") != "token":
                break
        s.close()
        return events

    def stats(self):
        """The `stats` op's reply."""
        return self.request({"id": "stats", "op": "stats"})

    def hwm(self):
        """The daemon's peak resident memory in bytes (VmHWM), -1 when unreadable."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        return -1

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def generate(sock_path, fields):
    """`generate` (or `chat`) on its own connection: (client time to first token in s, text, done
    event). The clock starts when the request is written and stops at the first `token` event."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)
    f = s.makefile("rwb", buffering=0)
    start = time.monotonic()
    f.write((json.dumps(fields) + "\n").encode())
    first, text, done = None, "", None
    for raw in f:
        event = json.loads(raw)
        if event.get("event") == "token":
            if first is None:
                first = time.monotonic() - start
            text += event["text"]
        elif event.get("event") == "done":
            done = event
            break
        elif event.get("event") == "error" or "error" in event:
            raise RuntimeError(f"{fields.get('id')}: {event}")
    s.close()
    if first is None:
        first = time.monotonic() - start
    return first, text, done
