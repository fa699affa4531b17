#!/usr/bin/env python3
"""Load and abuse suite for slmd (issue 18): many well-behaved clients and a few abusive ones at
once; checks that the well-behaved ones are answered correctly and that the daemon's descriptors
and memory come back, and measures the acceptance scenarios of the issue.

Python 3 standard library only. Either starts its own slmd (temporary socket and database):
    scripts/load-test.py --slmd .build/release/slmd --model "$(scripts/fetch-model.sh)" [WHAT]
or attaches to a running one (memory and fds from /proc of the socket's peer pid):
    scripts/load-test.py --socket /run/slmd/slmd.sock [WHAT]
WHAT: load (default; --quick for CI size), a, b, c (the acceptance scenarios), acceptance (a+b+c),
all (acceptance, then load). With --slmd every part gets a fresh daemon, so one part's damage
(a bloated heap after a flood) does not spoil the next part's numbers.
Exit status: 0 when every check passed, 1 when one failed, 2 on a usage or startup error.
See docs/load-test.md.
"""

import argparse
import array
import errno
import fcntl
import json
import os
import random
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time

# Acceptance thresholds of issue 18.
A_GENERATE_S = 2.0          # (a) a 3-token generate beside 6 stuck never-readers
A_INFO_MS = 50.0            # (a) info latency meanwhile (p99 of the probe)
B_RSS_GROWTH_MIB = 32       # (b) RSS growth while a never-reader floods 64 MiB of bad lines
B_INFO_P99_MS = 50.0        # (b) others' info p99 throughout
C_REPLY_MS = 100.0          # (c) the 90k-key line refused or answered within
C_INFO_MS = 50.0            # (c) info from another client meanwhile (max)

PROMPTS = ["The capital of France is", "Once upon a time", "The best way to learn is",
           "Water boils at", "My favourite food is"]
SEEDS = [7, 42, 1234]
GEN_TOKENS = 6
MESSAGES = ["Hi!", "Name a colour.", "What is 2+2?", "Say something kind.", "Tell me a fact."]
# A prompt that keeps a greedy generation going for a long time (never-readers, cancel): SmolLM2
# counts on past 400 tokens (a "count to ten thousand" prompt meets its end of text after 48).
LONG_PROMPT = "List the numbers from 1 to 1000:"


def now():
    return time.monotonic()


def pct(values, p):
    """Nearest-rank percentile of a list (not necessarily sorted); None when empty."""
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100 * (len(s) - 1)))))]


def summary(values):
    return {"count": len(values), "p50": pct(values, 50), "p99": pct(values, 99),
            "max": max(values) if values else None}


def fmt_ms(x):
    return "-" if x is None else f"{x:.1f}"


class Failure(Exception):
    pass


class Timeline:
    """What the abusers did when, so a stall seen by the probe can be put next to its cause."""

    def __init__(self):
        self.marks = []
        self.lock = threading.Lock()

    def mark(self, label):
        with self.lock:
            self.marks.append((now(), label))


TIMELINE = Timeline()


def stalls(probe, t0, threshold_ms=50.0, top=5):
    """Episodes where the probe's info took over `threshold_ms`: (start s after t0, worst ms,
    abuser marks from shortly before the episode to its end)."""
    episodes = []
    for sent, ms in sorted(probe.samples):
        if ms <= threshold_ms:
            continue
        if episodes and sent <= episodes[-1]["end"]:
            e = episodes[-1]
            e["worst"] = max(e["worst"], ms)
            e["end"] = max(e["end"], sent + ms / 1000)
        else:
            episodes.append({"start": sent, "end": sent + ms / 1000, "worst": ms})
    episodes.sort(key=lambda e: -e["worst"])
    out = []
    for e in episodes[:top]:
        marks = [f"{t - t0:.2f}s {label}" for t, label in TIMELINE.marks if e["start"] - 6.0 <= t <= e["end"]]
        out.append({"at_s": e["start"] - t0, "worst_ms": e["worst"], "abusers_around": marks[-8:]})
    return out


# ---------------------------------------------------------------------------------------------
# The daemon: started here or attached to.

class Daemon:
    def __init__(self, args, label):
        self.args = args
        self.proc = None
        self.dir = None
        self.label = label
        if args.socket:
            self.path = args.socket
        else:
            self.dir = tempfile.mkdtemp(prefix="slmd-load-")
            self.path = os.path.join(self.dir, "slmd.sock")
            cmd = [args.slmd, "-m", args.model, "--socket", self.path,
                   "--db", os.path.join(self.dir, "conversations.db"),
                   "--max-clients", str(args.max_clients), "--max-queue", str(args.max_queue)]
            # Every client of this script is one uid: a per-uid queue cap (where the daemon has
            # one) would make 64 clients each with a generation waiting get `busy`; lift it to the
            # shared queue's size so the load tests scheduling, not that cap.
            usage = subprocess.run([args.slmd, "--help"], capture_output=True, text=True)
            if "--max-queue-per-uid" in usage.stdout + usage.stderr:
                cmd += ["--max-queue-per-uid", str(args.max_queue)]
            if args.threads:
                cmd += ["-t", str(args.threads)]
            for extra in args.slmd_arg:
                cmd += extra.split()
            self.log = open(os.path.join(self.dir, "slmd.log"), "wb")
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.log)
            deadline = now() + 60
            while True:
                if self.proc.poll() is not None:
                    raise Failure(f"slmd exited with {self.proc.returncode}:\n{self.log_tail()}")
                try:
                    socket.socket(socket.AF_UNIX).connect(self.path)
                    break
                except OSError:
                    if now() > deadline:
                        raise Failure("slmd did not start serving within 60 s:\n" + self.log_tail())
                    time.sleep(0.05)
        c = Conn(self.path)
        # The daemon's pid from the socket itself (SO_PEERCRED), so /proc works when attached too.
        cred = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        self.pid = struct.unpack("3i", cred)[0]
        self.info = c.request({"id": "info", "op": "info"})[-1]
        c.close()
        if self.info.get("event") != "info":
            raise Failure(f"info failed: {self.info}")
        self.limits = self.info["limits"]

    def log_tail(self, n=3000):
        if not self.dir:
            return "(attached: no log)"
        try:
            with open(os.path.join(self.dir, "slmd.log"), "rb") as f:
                return f.read().decode(errors="replace")[-n:]
        except OSError:
            return ""

    def alive(self):
        if self.proc is not None:
            return self.proc.poll() is None
        return os.path.exists(f"/proc/{self.pid}")

    def rss_kib(self):
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return -1

    def fds(self):
        try:
            return len(os.listdir(f"/proc/{self.pid}/fd"))
        except OSError:
            return -1

    def stats(self):
        c = Conn(self.path, timeout=30)
        try:
            return c.request({"id": "s", "op": "stats"})[-1]
        finally:
            c.close()

    def wait_idle(self, timeout=120):
        """Until nothing is queued or running and only the asking client is connected; returns
        the seconds it took, or None when it never got there."""
        start = now()
        while now() - start < timeout:
            try:
                s = self.stats()
                if (s.get("active_requests") == 0 and s.get("queue_depth") == 0 and s.get("paused_requests", 0) == 0
                        and s.get("clients") == 1):
                    # The asking connection closing, and the daemon giving its kept sessions'
                    # memory back after 0.5 s idle (Scheduler.idleReleaseMilliseconds).
                    time.sleep(1.0)
                    return now() - start
            except (OSError, Failure):
                pass
            time.sleep(0.1)
        return None

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(15)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.log.close()
            if self.args.keep:
                print(f"  [{self.label}] kept {self.dir}")
            else:
                shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Clients.

class Conn:
    """One NDJSON connection with deadlines on every read."""

    def __init__(self, path, timeout=60.0, rcvbuf=None):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if rcvbuf:
            # Before connect, so the kernel never grants more.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect(path)
        self.timeout = timeout
        self.buf = b""
        self.eof = False

    def send(self, obj):
        data = obj if isinstance(obj, bytes) else (json.dumps(obj, separators=(",", ":")) + "\n").encode()
        self.sock.settimeout(self.timeout)
        self.sock.sendall(data)

    def read_line(self, timeout=None):
        deadline = now() + (self.timeout if timeout is None else timeout)
        while b"\n" not in self.buf:
            if self.eof:
                return None
            left = deadline - now()
            if left <= 0:
                raise TimeoutError("no reply line in time")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(1 << 16)
            except socket.timeout:
                raise TimeoutError("no reply line in time")
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.eof = True
                if not self.buf:
                    return None
                line, self.buf = self.buf, b""
                return line
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line

    def read_event(self, timeout=None):
        line = self.read_line(timeout)
        if line is None:
            raise Failure("connection closed by the daemon")
        return json.loads(line)

    def request(self, obj, timeout=None):
        """Sends one request and reads until its final event; returns the events."""
        self.send(obj)
        events = []
        while True:
            e = self.read_event(timeout)
            events.append(e)
            if e.get("event") != "token":
                return events

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Probe:
    """An open-loop `info` client: one request every `interval` on a fixed schedule, whether or
    not the previous one was answered, and each latency counted from its scheduled time; so a
    stalled loop shows as many slow samples rather than one, even when the daemon stops reading
    and the send itself blocks (no coordinated omission). Samples are (scheduled time, ms)."""

    def __init__(self, path, interval):
        self.conn = Conn(path)
        # The sender writes through its own socket object on a dup of the descriptor: Python's
        # timeouts belong to the object, so the reader's short ones never cut a blocked send.
        self.out = socket.socket(fileno=os.dup(self.conn.sock.fileno()))
        self.out.settimeout(600)
        self.interval = interval
        self.sent = {}
        self.samples = []
        self.errors = []
        self.unanswered = 0
        self.lock = threading.Lock()
        self.running = True
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.sender = threading.Thread(target=self._send, daemon=True)
        self.reader.start()
        self.sender.start()

    def _send(self):
        n = 0
        due = now()
        while self.running:
            with self.lock:
                self.sent[n] = due
            try:
                self.out.sendall(b'{"id":%d,"op":"info"}\n' % n)
            except OSError as e:
                self.errors.append(f"send: {e}")
                return
            n += 1
            due += self.interval
            self.next_due = due
            time.sleep(max(0, due - now()))

    def _read(self):
        while self.running or self.sent:
            try:
                e = self.conn.read_event(timeout=1.0)
            except TimeoutError:
                continue
            except (Failure, OSError, ValueError) as x:
                if self.running:
                    self.errors.append(f"read: {x}")
                return
            t = now()
            with self.lock:
                due = self.sent.pop(e.get("id"), None)
            if due is None or e.get("event") != "info":
                self.errors.append(f"unexpected reply {str(e)[:200]}")
                continue
            self.samples.append((due, (t - due) * 1000))

    def stop(self, wait=30.0):
        self.running = False
        stopped = now()
        self.sender.join(wait)
        # A send that blocked (the daemon not reading this client) leaves requests that were due
        # but never sent: each counts as unanswered, with the time it was overdue at the stop.
        due = getattr(self, "next_due", stopped)
        while due < stopped - self.interval:  # the one due as it stopped was not late
            self.samples.append((due, (stopped - due) * 1000))
            self.unsent = getattr(self, "unsent", 0) + 1
            due += self.interval
        deadline = now() + wait
        while self.sent and now() < deadline:
            time.sleep(0.02)
        t = now()
        with self.lock:
            # Unanswered at the end: their latency so far is a lower bound; counted as such.
            for due in self.sent.values():
                self.samples.append((due, (t - due) * 1000))
            self.unanswered = len(self.sent) + getattr(self, "unsent", 0)
            self.sent.clear()
        self.out.close()
        self.conn.close()
        self.reader.join(2)

    def window(self, t0=None, t1=None):
        return [ms for (s, ms) in self.samples if (t0 is None or s >= t0) and (t1 is None or s <= t1)]


class RSSWatch:
    """Samples the daemon's VmRSS every 50 ms; `tripped` is set once growth passes the safety
    cap, so a flood against a daemon without a bound stops before it takes the machine."""

    def __init__(self, daemon, safety_mib):
        self.daemon = daemon
        self.base = daemon.rss_kib()
        self.peak = self.base
        self.cap_kib = safety_mib * 1024
        self.tripped = threading.Event()
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            r = self.daemon.rss_kib()
            if r > self.peak:
                self.peak = r
            if r - self.base > self.cap_kib:
                self.tripped.set()
            time.sleep(0.05)

    def stop(self):
        self.running = False
        self.thread.join()

    @property
    def growth_mib(self):
        return (self.peak - self.base) / 1024


def never_reader(path, rcvbuf, index, id_bytes, max_tokens):
    """Sends one long generation with a huge id and never reads: each token event carries the id,
    so the daemon's send buffer fills after a few tokens and it has to apply back-pressure."""
    c = Conn(path, rcvbuf=rcvbuf)
    big_id = f"nr{index}-" + "x" * max(0, id_bytes - 8)
    c.send({"id": big_id, "op": "generate", "prompt": LONG_PROMPT, "max_tokens": max_tokens,
            "temperature": 0})
    return c


def unread_bytes(conn):
    buf = array.array("i", [0])
    try:
        fcntl.ioctl(conn.sock.fileno(), termios.FIONREAD, buf)
    except OSError:
        return -1
    return buf[0]


def wait_stuck(conns, need, limit=30.0):
    """Until the never-readers hold their generations: every one of them has been sent something
    and none receives more for 1.5 s (all paused), or at least `need` have and nothing moved for
    5 s (a daemon whose paused generations keep their slots never starts the rest)."""
    start = now()
    last = [unread_bytes(c) for c in conns]
    still = now()
    while now() - start < limit:
        time.sleep(0.25)
        cur = [unread_bytes(c) for c in conns]
        if cur != last:
            last, still = cur, now()
            continue
        got = sum(1 for b in cur if b > 0)
        if (got == len(conns) and now() - still >= 1.5) or (got >= need and now() - still >= 5.0):
            break
    return now() - start, last


def flood(path, target_bytes, rcvbuf, watch, stall_s, limit_s, line=b"x\n"):
    """Writes bad lines as fast as the daemon takes them and never reads. Ends when
    `target_bytes` are sent, the daemon stops taking bytes for `stall_s` (it stopped reading:
    the bound working), it closes the connection, or the RSS safety cap trips."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(path)
    s.setblocking(False)
    chunk = line * ((64 * 1024) // len(line))
    sent = 0
    start = now()
    progress = now()
    outcome = "sent everything"
    while sent < target_bytes:
        if watch is not None and watch.tripped.is_set():
            outcome = "stopped by the RSS safety cap"
            break
        if now() - progress > stall_s:
            outcome = f"daemon stopped taking bytes for {stall_s:.0f} s"
            break
        if now() - start > limit_s:
            outcome = f"time limit {limit_s:.0f} s"
            break
        _, w, _ = select.select([], [s], [], 0.1)
        if not w:
            continue
        try:
            n = s.send(chunk[: min(len(chunk), target_bytes - sent)])
        except BlockingIOError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            outcome = "daemon closed the connection"
            break
        sent += n
        progress = now()
    return s, sent, outcome, now() - start


def max_line(limit, extra=0):
    """A JSON object line of exactly limit+extra bytes (newline excluded): an `info` with an
    unknown padding field, so a daemon must read it whole and then refuse it (bad_request)."""
    head = b'{"id":"maxline","op":"info","pad":"'
    tail = b'"}'
    return head + b"a" * (limit + extra - len(head) - len(tail)) + tail


def big_prompt_line(limit):
    head = b'{"id":"bigprompt","op":"generate","max_tokens":1,"prompt":"'
    tail = b'"}'
    return head + b"word " * ((limit - len(head) - len(tail)) // 5) + tail


def deep_line(limit):
    n = (limit - 40) // 2
    return b'{"id":"deep","op":"info","x":' + b"[" * n + b"]" * n + b"}"


def keys_line(limit, keys=90_000):
    """About `limit` bytes: a `generate` whose object has `keys` distinct keys (then padding):
    every key must be looked at (unknown fields are refused), so any per-key work that is not
    constant time (a duplicate check, a linear field lookup) shows as a stall. A `generate`
    rather than an `info`, because its sampling fields are where a decoder walks every key."""
    parts = [b'{"id":"keys","op":"generate","prompt":"Hi","max_tokens":1']
    size = len(parts[0])
    for i in range(keys):
        p = b',"k%05d":0' % i
        parts.append(p)
        size += len(p)
    pad = limit - size - len(b',"pad":""}')
    parts.append(b',"pad":"' + b"p" * max(0, pad) + b'"}')
    return b"".join(parts)


# ---------------------------------------------------------------------------------------------
# Shared steps.

def reference_texts(daemon, seeds):
    """Every (prompt, seed) a well-behaved generate uses, run alone on the idle daemon."""
    ref = {}
    c = Conn(daemon.path)
    for p in PROMPTS:
        for s in seeds:
            events = c.request(gen_request("ref", p, s))
            if events[-1].get("event") != "done":
                raise Failure(f"reference run failed: {events[-1]}")
            ref[(p, s)] = "".join(e["text"] for e in events if e.get("event") == "token")
    c.close()
    return ref


def gen_request(rid, prompt, seed):
    return {"id": rid, "op": "generate", "prompt": prompt, "max_tokens": GEN_TOKENS,
            "temperature": 0.8, "seed": seed}


def warm_up(daemon):
    """Touches what the load will touch (every generation slot, the chat path, the store), so the
    baseline is the daemon at work, not the daemon just started."""
    n = int(daemon.limits.get("max_active_generations", 4))
    deleted = []
    conns = [Conn(daemon.path) for _ in range(n)]
    for i, c in enumerate(conns):
        c.send({"id": i, "op": "chat", "message": MESSAGES[i % len(MESSAGES)], "max_tokens": 12, "seed": 1})
    for c in conns:
        while True:
            e = c.read_event(120)
            if e.get("event") != "token":
                conv = e.get("conversation")
                break
        if conv is not None:
            c.request({"id": "c", "op": "chat", "conversation": conv, "message": "And then?", "max_tokens": 8, "seed": 1})
            c.request({"id": "g", "op": "conversations.get", "conversation": conv})
            c.request({"id": "d", "op": "conversations.delete", "conversation": conv})
            deleted.append(conv)
        c.request({"id": "l", "op": "conversations.list"})
        c.close()
    return deleted


def settled_figures(daemon):
    """(fds, RSS KiB) with no client connected, after the daemon went idle."""
    waited = daemon.wait_idle()
    time.sleep(0.5)
    return daemon.fds(), daemon.rss_kib(), waited


class Checks:
    def __init__(self):
        self.rows = []

    def add(self, name, ok, detail):
        self.rows.append({"check": name, "pass": bool(ok), "detail": detail})
        print(f"  [{'PASS' if ok else 'FAIL'}] {name}: {detail}")

    @property
    def ok(self):
        return all(r["pass"] for r in self.rows)


# ---------------------------------------------------------------------------------------------
# The load run.

class Client(threading.Thread):
    """A well-behaved client: `count` mixed requests, one at a time (a cancel goes beside its
    target), every reply checked; now and then it drops the connection mid-generation and
    reconnects (that request is abandoned, not checked)."""

    WEIGHTS = [("info", 3), ("stats", 1), ("generate", 5), ("chat_new", 2), ("chat_continue", 2),
               ("list", 1), ("get", 2), ("delete", 1), ("cancel", 2)]

    def __init__(self, run, index, count):
        super().__init__(daemon=True)
        self.run_ = run
        self.index = index
        self.count = count
        self.rng = random.Random(run.args.seed * 1000 + index)
        self.convs = {}      # conversation id -> stored turns
        self.deleted = []
        self.conn = None

    def rid(self, k):
        # Both kinds of id, and strings that would collide across clients (ids are per connection).
        return k if k % 2 else f"r{k}"

    def connect(self):
        if self.conn:
            self.conn.close()
        self.conn = Conn(self.run_.daemon.path, timeout=self.run_.args.request_timeout)

    def fail(self, k, op, why):
        self.run_.record_failure(f"client {self.index} request {k} ({op}): {why}")

    def run(self):
        try:
            self.connect()
        except OSError as e:
            self.run_.record_failure(f"client {self.index}: connect: {e}")
            return
        for k in range(self.count):
            op = self.choose()
            t0 = now()
            try:
                result = getattr(self, "op_" + op)(k)
            except (TimeoutError, socket.timeout):
                self.fail(k, op, f"no answer within {self.run_.args.request_timeout:.0f} s")
                self.run_.count("not answered", self.count - k)
                break
            except (Failure, OSError, ValueError, KeyError) as e:
                self.fail(k, op, repr(e))
                try:
                    self.connect()
                except OSError:
                    break
                continue
            if result == "abandoned":
                self.run_.count("abandoned (client disconnected mid-generation)")
                self.run_.timing("reconnect", *self.reconnect())
                continue
            self.run_.timing(op, (now() - t0) * 1000)
            self.run_.count("answered correctly" if result is True else "wrong answer")
            if result is not True:
                self.fail(k, op, result)
        if self.conn:
            self.conn.close()

    def reconnect(self):
        t = now()
        self.connect()
        return ((now() - t) * 1000,)

    def choose(self):
        allowed = [(op, w) for op, w in self.WEIGHTS
                   if op not in ("chat_continue", "get", "delete") or self.convs]
        total = sum(w for _, w in allowed)
        x = self.rng.uniform(0, total)
        for op, w in allowed:
            x -= w
            if x <= 0:
                return op
        return allowed[-1][0]

    def disconnects(self):
        return self.rng.random() < self.run_.args.disconnect_rate

    def stream(self, rid, t0):
        """Reads a generation's events: (text, done event, ms to first token)."""
        text, first = "", None
        while True:
            e = self.conn.read_event()
            if e.get("id") != rid:
                raise Failure(f"reply for another id: {str(e)[:200]}")
            if e.get("event") == "token":
                if first is None:
                    first = (now() - t0) * 1000
                text += e.get("text", "")
            else:
                return text, e, first

    def op_info(self, k):
        e = self.conn.request({"id": self.rid(k), "op": "info"})[-1]
        return True if e.get("id") == self.rid(k) and e.get("event") == "info" and "limits" in e else f"got {str(e)[:300]}"

    def op_stats(self, k):
        e = self.conn.request({"id": self.rid(k), "op": "stats"})[-1]
        return True if e.get("id") == self.rid(k) and e.get("event") == "stats" and "queue_depth" in e else f"got {str(e)[:300]}"

    def op_generate(self, k):
        rid, prompt = self.rid(k), self.rng.choice(PROMPTS)
        seed = self.rng.choice(sorted({s for (_, s) in self.run_.reference}))
        t0 = now()
        self.conn.send(gen_request(rid, prompt, seed))
        if self.disconnects():
            self.conn.read_line()  # the first token (or the answer), then gone
            return "abandoned"
        text, done, first = self.stream(rid, t0)
        if done.get("event") != "done":
            return f"got {str(done)[:300]}"
        if first is not None:
            self.run_.timing("ttft generate", first)
        want = self.run_.reference[(prompt, seed)]
        if text != want:
            return f"text {text!r} differs from the reference {want!r} (prompt {prompt!r}, seed {seed})"
        return True

    def chat(self, k, conv):
        rid = self.rid(k)
        req = {"id": rid, "op": "chat", "message": self.rng.choice(MESSAGES), "max_tokens": GEN_TOKENS, "seed": 5}
        if conv is not None:
            req["conversation"] = conv
        t0 = now()
        self.conn.send(req)
        if self.disconnects():
            self.conn.read_line()
            if conv is not None:
                self.convs.pop(conv)  # how much of the turn got stored is not known: stop checking it
            return "abandoned"
        text, done, first = self.stream(rid, t0)
        if done.get("event") != "done":
            return f"got {str(done)[:300]}"
        if first is not None:
            self.run_.timing("ttft chat", first)
        got = done.get("conversation")
        if conv is None:
            if not isinstance(got, int):
                return f"done without a conversation id: {done}"
            if got in self.run_.deleted_conversations():
                self.run_.note_reused(got)
                self.convs[got] = 1
                return f"conversation id {got} was deleted before and is handed out again (ids must never be reused)"
            if got in self.run_.all_conversations():
                return f"conversation id {got} handed out twice"
            self.run_.note_conversation(got)
            self.convs[got] = 1
        else:
            if got != conv:
                return f"continued conversation {conv} but done names {got}"
            self.convs[conv] += 1
        if done.get("stop_reason") not in ("length", "eos", "stop"):
            return f"stop_reason {done.get('stop_reason')}"
        return True

    def op_chat_new(self, k):
        return self.chat(k, None)

    def op_chat_continue(self, k):
        return self.chat(k, self.rng.choice(list(self.convs)))

    def op_list(self, k):
        e = self.conn.request({"id": self.rid(k), "op": "conversations.list", "limit": 500})[-1]
        if e.get("event") != "conversations" or e.get("id") != self.rid(k):
            return f"got {str(e)[:300]}"
        ids = {c["id"] for c in e["conversations"]}
        if len(ids) < 500:
            missing = [c for c in self.convs if c not in ids]
            if missing:
                return f"own conversations {missing} missing from the list"
            reused = self.run_.reused_conversations()
            gone = [c for c in self.deleted if c in ids and c not in reused]
            if gone:
                return f"deleted conversations {gone} still listed"
        return True

    def op_get(self, k):
        conv = self.rng.choice(list(self.convs))
        e = self.conn.request({"id": self.rid(k), "op": "conversations.get", "conversation": conv})[-1]
        if e.get("event") != "conversation" or e.get("id") != self.rid(k):
            return f"got {str(e)[:300]}"
        turns = self.convs[conv]
        if e["conversation"]["id"] != conv or len(e["messages"]) != 2 * turns:
            return f"conversation {conv}: {len(e['messages'])} messages, expected {2 * turns}"
        roles = [m["role"] for m in e["messages"]]
        if roles != ["user", "assistant"] * turns:
            return f"roles {roles}"
        return True

    def op_delete(self, k):
        conv = self.rng.choice(list(self.convs))
        e = self.conn.request({"id": self.rid(k), "op": "conversations.delete", "conversation": conv})[-1]
        if e.get("event") != "ok" or e.get("id") != self.rid(k):
            return f"got {str(e)[:300]}"
        self.convs.pop(conv)
        self.deleted.append(conv)
        self.run_.note_deleted(conv)
        e = self.conn.request({"id": "after-delete", "op": "conversations.get", "conversation": conv})[-1]
        if e.get("event") != "error" or e["error"]["code"] != "not_found":
            return f"get after delete: {str(e)[:300]}"
        return True

    def op_cancel(self, k):
        """A long greedy generate, cancelled after its first token. Either order is correct: the
        cancel lands (`ok`, then `done` cancelled) or the generation ended first (`done`, then
        `not_found` for the cancel)."""
        target, cid = f"long{k}", f"cancel{k}"
        self.conn.send({"id": target, "op": "generate", "prompt": LONG_PROMPT, "max_tokens": 200, "temperature": 0})
        e = self.conn.read_event()
        if e.get("id") != target or e.get("event") not in ("token", "done"):
            return f"got {str(e)[:300]}"
        self.conn.send({"id": cid, "op": "cancel", "target": target})
        done, answer = (e if e.get("event") == "done" else None), None
        while done is None or answer is None:
            e = self.conn.read_event()
            if e.get("id") == target and e.get("event") == "done":
                done = e
            elif e.get("id") == target and e.get("event") == "token":
                continue
            elif e.get("id") == cid:
                answer = e
            else:
                return f"got {str(e)[:300]}"
        if answer.get("event") == "ok":
            if done.get("stop_reason") != "cancelled":
                return f"cancel ok but the target ended with {done.get('stop_reason')}"
        elif not (answer.get("event") == "error" and answer["error"]["code"] == "not_found"
                  and done.get("stop_reason") != "cancelled"):
            return f"cancel answered {str(answer)[:300]}, target done {done}"
        return True


class LoadRun:
    def __init__(self, args, daemon, reference):
        self.args = args
        self.daemon = daemon
        self.reference = reference
        self.lock = threading.Lock()
        self.failures = []
        self.counts = {}
        self.timings = {}
        self.conversations = set()
        self.deleted = set()
        self.reused = set()

    def record_failure(self, text):
        with self.lock:
            self.failures.append(text)

    def count(self, what, n=1):
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + n

    def timing(self, op, ms):
        with self.lock:
            self.timings.setdefault(op, []).append(ms)

    def note_conversation(self, c):
        with self.lock:
            self.conversations.add(c)

    def all_conversations(self):
        with self.lock:
            return set(self.conversations)

    def note_deleted(self, c):
        with self.lock:
            self.deleted.add(c)

    def note_reused(self, c):
        with self.lock:
            self.reused.add(c)

    def reused_conversations(self):
        with self.lock:
            return set(self.reused)

    def deleted_conversations(self):
        with self.lock:
            return set(self.deleted)


def abuse_content(path, limit, results, stop):
    """One connection after another with hostile but legal-sized input; every answer checked
    against the protocol, and timed."""
    def attempt(name, line, expect):
        t0 = now()
        try:
            c = Conn(path, timeout=120)
            c.send(line + b"\n")
            e = c.read_event()
            ms = (now() - t0) * 1000
            ok, detail = expect(c, e)
            c.close()
        except (OSError, Failure, TimeoutError, ValueError) as x:
            ms, ok, detail = (now() - t0) * 1000, False, repr(x)
        results.append({"abuse": name, "ms": ms, "pass": ok, "detail": detail})

    def code(e):
        return (e.get("error") or {}).get("code")

    def refused_then_usable(want):
        def check(c, e):
            if e.get("event") != "error" or code(e) not in want:
                return False, f"got {str(e)[:200]}"
            e2 = c.request({"id": "after", "op": "info"})[-1]
            return e2.get("event") == "info", f"{code(e)}: {e['error']['message'][:120]}; then info: {e2.get('event')}"
        return check

    def too_large_then_closed(c, e):
        if e.get("event") != "error" or code(e) != "too_large" or e.get("id") is not None:
            return False, f"got {str(e)[:200]}"
        rest = c.read_line(10)
        return rest is None, f"too_large with id null, then {'closed' if rest is None else 'NOT closed'}"

    cases = [
        ("line of max_line_bytes", max_line(limit), refused_then_usable({"bad_request"})),
        ("line of max_line_bytes + 1", max_line(limit, 1), too_large_then_closed),
        ("deep nesting", deep_line(limit), refused_then_usable({"bad_request"})),
        ("90k distinct keys", keys_line(limit), refused_then_usable({"bad_request"})),
        ("max-size generate prompt", big_prompt_line(limit), refused_then_usable({"too_large", "bad_request"})),
    ]
    for name, line, expect in cases:
        # Every case runs, even after the well-behaved clients are done (a quick run can end
        # before the last one is due): pauses are shortened then, never skipped.
        stop.wait(random.uniform(0.5, 2.0))
        TIMELINE.mark(f"{name}: sent")
        attempt(name, line, expect)
        TIMELINE.mark(f"{name}: answered")


def run_load(args):
    quick = args.quick
    clients = args.clients or (16 if quick else 64)
    per = args.requests or (5 if quick else 20)
    n_never = args.never_readers if args.never_readers is not None else (2 if quick else 6)
    flood_mib = args.flood_mib if args.flood_mib is not None else (1 if quick else 8)
    title = f"load: {clients} clients x {per} requests" + (" (quick)" if quick else "")
    print(f"\n== {title}")
    checks = Checks()
    daemon = Daemon(args, "load")
    out = {"part": "load", "clients": clients, "requests_per_client": per, "never_readers": n_never,
           "flood_mib": flood_mib}
    try:
        limits = daemon.limits
        out["limits"] = limits
        print(f"  daemon pid {daemon.pid}, limits {json.dumps(limits)}")
        t = now()
        # Quick mode: one seed, so the reference runs take a third of the time.
        seeds = SEEDS[:1] if quick else SEEDS
        reference = reference_texts(daemon, seeds)
        warm_deleted = warm_up(daemon)
        # The 1 MiB lines once too: parsing 90k keys and tokenizing a 1 MiB prompt raise the heap
        # by ~20 MiB the first time and never again (measured: three rounds plateau), so without
        # them in the baseline the allocator's high-water mark would read as a leak.
        for line in (max_line(int(limits["max_line_bytes"])), keys_line(int(limits["max_line_bytes"])),
                     big_prompt_line(int(limits["max_line_bytes"]))):
            c = Conn(daemon.path, timeout=300)
            c.send(line + b"\n")
            c.read_event()
            c.close()
        out["reference_s"] = now() - t
        base_fds, base_rss, _ = settled_figures(daemon)
        print(f"  baseline after warm-up: {base_fds} fds, VmRSS {base_rss / 1024:.1f} MiB")

        # Connections: the well-behaved, the probe, the abusers, a margin for reconnects in
        # flight; idle ones fill the rest up to max_clients.
        max_clients = int(limits["max_clients"])
        content_conns = 1
        busy_margin = 4
        n_idle = max(0, max_clients - clients - 1 - n_never - (1 if flood_mib else 0) - content_conns - busy_margin)
        if args.idle is not None:
            n_idle = args.idle
        out["idle_connections"] = n_idle
        print(f"  abusers: {n_never} never-readers ({args.id_bytes} B ids, max_tokens 4000), flood {flood_mib} MiB, "
              f"{n_idle} idle connections, max-size/over-size/deep/90k-key/big-prompt lines")

        probe = Probe(daemon.path, args.probe_ms / 1000)
        watch = RSSWatch(daemon, args.rss_safety_mib)
        t0 = now()
        holders = []
        idle = []
        for _ in range(n_idle):
            idle.append(Conn(daemon.path))
        TIMELINE.mark(f"{n_never} never-readers: sending")
        for i in range(n_never):
            holders.append(never_reader(daemon.path, args.rcvbuf, i, args.id_bytes, 4000))
        stop = threading.Event()
        content_results = []
        content = threading.Thread(target=abuse_content, args=(daemon.path, int(limits["max_line_bytes"]), content_results, stop), daemon=True)
        flood_result = {}

        def flooder():
            TIMELINE.mark(f"flood of {flood_mib} MiB: started")
            s, sent, outcome, secs = flood(daemon.path, flood_mib << 20, args.rcvbuf, watch, 15, 600)
            TIMELINE.mark(f"flood: {outcome} after {sent / 2**20:.1f} MiB")
            flood_result.update(sent=sent, outcome=outcome, seconds=secs)
            holders.append(s)
        flood_thread = threading.Thread(target=flooder, daemon=True)
        run = LoadRun(args, daemon, reference)
        for conv in warm_deleted:
            run.note_deleted(conv)
        workers = [Client(run, i, per) for i in range(clients)]
        content.start()
        if flood_mib:
            flood_thread.start()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        TIMELINE.mark("well-behaved clients done")
        elapsed = now() - t0
        stop.set()
        content.join()
        if flood_mib:
            flood_thread.join()
        probe.stop()
        watch.stop()
        for c in holders + idle:
            c.close()
        alive = daemon.alive()
        fds, rss, waited = settled_figures(daemon) if alive else (-1, -1, None)

        worst = stalls(probe, t0)
        expected = clients * per
        answered = run.counts.get("answered correctly", 0)
        abandoned = run.counts.get("abandoned (client disconnected mid-generation)", 0)
        out.update(seconds=elapsed, counts=run.counts, failures=run.failures[:50],
                   latency_ms={op: summary(v) for op, v in sorted(run.timings.items())},
                   info_probe_ms=summary(probe.window()), probe_unanswered=probe.unanswered,
                   probe_errors=probe.errors[:10], probe_stalls=worst, flood=flood_result, abuse=content_results,
                   rss_peak_growth_mib=watch.growth_mib,
                   baseline={"fds": base_fds, "rss_kib": base_rss}, after={"fds": fds, "rss_kib": rss, "idle_after_s": waited})
        print(f"  ran {elapsed:.1f} s; requests: {expected} planned, {answered} answered correctly, "
              f"{abandoned} abandoned by a disconnect, {run.counts.get('wrong answer', 0)} wrong, "
              f"{run.counts.get('not answered', 0)} not answered")
        print(f"  {'op':<16}{'count':>7}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
        for op, s in out["latency_ms"].items():
            print(f"  {op:<16}{s['count']:>7}{fmt_ms(s['p50']):>10}{fmt_ms(s['p99']):>10}{fmt_ms(s['max']):>10}")
        pr = out["info_probe_ms"]
        print(f"  info probe every {args.probe_ms:.0f} ms: {pr['count']} samples, p50 {fmt_ms(pr['p50'])} ms, "
              f"p99 {fmt_ms(pr['p99'])} ms, max {fmt_ms(pr['max'])} ms ({probe.unanswered} unanswered at the end)")
        for e in worst:
            print(f"  info stall at {e['at_s']:.1f} s: {e['worst_ms']:.0f} ms; abusers just before: {'; '.join(e['abusers_around']) or '-'}")
        if flood_mib:
            print(f"  flood: {flood_result.get('sent', 0) / 2**20:.1f} MiB in {flood_result.get('seconds', 0):.1f} s, "
                  f"{flood_result.get('outcome')}; daemon RSS peak +{watch.growth_mib:.1f} MiB")
        for r in content_results:
            print(f"  abuse {r['abuse']}: {r['ms']:.0f} ms, {'ok' if r['pass'] else 'WRONG'} ({r['detail']})")
        for f in run.failures[:15]:
            print(f"    - {f}")
        if len(run.failures) > 15:
            print(f"    … {len(run.failures) - 15} more")

        checks.add("daemon alive", alive, "still running" if alive else "EXITED:\n" + daemon.log_tail())
        checks.add("well-behaved requests answered correctly", answered + abandoned == expected and not run.failures,
                   f"{answered} correct + {abandoned} abandoned of {expected}; {len(run.failures)} failures")
        checks.add("abusers answered per protocol", all(r["pass"] for r in content_results) and len(content_results) == 5,
                   f"{sum(r['pass'] for r in content_results)} of 5")
        checks.add("probe info answered", not probe.errors and probe.unanswered == 0,
                   f"{len(probe.errors)} errors, {probe.unanswered} unanswered")
        checks.add("fds back to baseline (exactly)", fds == base_fds, f"baseline {base_fds}, after {fds}")
        tol = args.rss_tolerance_mib
        checks.add(f"RSS back to baseline (+{tol} MiB)", 0 <= rss <= base_rss + tol * 1024,
                   f"baseline {base_rss / 1024:.1f} MiB, after {rss / 1024:.1f} MiB ({(rss - base_rss) / 1024:+.1f} MiB), "
                   f"idle after {'%.1f s' % waited if waited is not None else 'NEVER'}")
    finally:
        daemon.stop()
    out["checks"] = checks.rows
    out["pass"] = checks.ok
    return out


# ---------------------------------------------------------------------------------------------
# Acceptance scenarios.

def scenario_a(args):
    print("\n== (a) 6 never-reading clients holding long generations; a 3-token generate and info beside them")
    checks = Checks()
    daemon = Daemon(args, "a")
    out = {"part": "a"}
    try:
        probe = Probe(daemon.path, args.probe_ms / 1000)
        t0 = now()
        holders = [never_reader(daemon.path, args.rcvbuf, i, 60_000, 4000) for i in range(6)]
        stuck_s, unread = wait_stuck(holders, min(6, int(daemon.limits.get("max_active_generations", 4))))
        stats = daemon.stats()
        print(f"  never-readers stuck after {stuck_s:.1f} s (bytes waiting in their sockets: {unread}); "
              f"stats: active {stats.get('active_requests')}, queued {stats.get('queue_depth')}")
        c = Conn(daemon.path, timeout=20)
        t1 = now()
        try:
            events = c.request({"id": "small", "op": "generate", "prompt": "The capital of France is",
                                "max_tokens": 3, "temperature": 0})
            gen_s = now() - t1
            last = events[-1]
            gen_ok = last.get("event") == "done" and last.get("generated_tokens") == 3
            gen_detail = f"{gen_s:.2f} s ({last.get('event')}, {last.get('generated_tokens')} tokens)"
        except TimeoutError:
            gen_s, gen_ok, gen_detail = None, False, "not finished within 20 s"
        t2 = now()
        info_ms = (lambda t: (c.request({"id": "i", "op": "info"}, timeout=20), (now() - t) * 1000)[1])(now())
        c.close()
        time.sleep(0.5)
        probe.stop()
        for h in holders:
            h.close()
        s = summary(probe.window(t0, t2))
        out.update(stuck_after_s=stuck_s, stats_while_stuck=stats, generate_s=gen_s, info_direct_ms=info_ms,
                   info_probe_ms=s, daemon_alive=daemon.alive())
        print(f"  3-token generate: {gen_detail}; direct info {info_ms:.1f} ms; probe info p50 {fmt_ms(s['p50'])} "
              f"p99 {fmt_ms(s['p99'])} max {fmt_ms(s['max'])} ms ({s['count']} samples)")
        checks.add(f"3-token generate within {A_GENERATE_S:.0f} s", gen_ok and gen_s is not None and gen_s <= A_GENERATE_S, gen_detail)
        checks.add(f"info within {A_INFO_MS:.0f} ms (probe p99)", s["p99"] is not None and s["p99"] < A_INFO_MS,
                   f"p99 {fmt_ms(s['p99'])} ms, max {fmt_ms(s['max'])} ms, direct {info_ms:.1f} ms")
        checks.add("daemon alive", daemon.alive(), "")
    finally:
        daemon.stop()
    out["checks"] = checks.rows
    out["pass"] = checks.ok
    return out


def scenario_b(args):
    mib = args.flood_b_mib
    print(f"\n== (b) a never-reading client sending {mib} MiB of bad lines")
    checks = Checks()
    daemon = Daemon(args, "b")
    out = {"part": "b"}
    try:
        time.sleep(0.5)
        probe = Probe(daemon.path, args.probe_ms / 1000)
        watch = RSSWatch(daemon, args.rss_safety_mib)
        t0 = now()
        s, sent, outcome, secs = flood(daemon.path, mib << 20, args.rcvbuf, watch, 15, 600)
        t1 = now()
        # Keep the flooder connected (and not reading) a little longer: memory held for it counts.
        time.sleep(2)
        t2 = now()
        s.close()
        probe.stop()
        watch.stop()
        p = summary(probe.window(t0, t2))
        out.update(sent_bytes=sent, outcome=outcome, seconds=t1 - t0, rss_base_kib=watch.base,
                   rss_peak_kib=watch.peak, rss_growth_mib=watch.growth_mib, info_probe_ms=p,
                   probe_unanswered=probe.unanswered, daemon_alive=daemon.alive())
        print(f"  sent {sent / 2**20:.1f} MiB in {t1 - t0:.1f} s: {outcome}")
        print(f"  daemon VmRSS {watch.base / 1024:.1f} MiB -> peak {watch.peak / 1024:.1f} MiB (+{watch.growth_mib:.1f} MiB); "
              f"info probe p50 {fmt_ms(p['p50'])} p99 {fmt_ms(p['p99'])} max {fmt_ms(p['max'])} ms ({p['count']} samples, "
              f"{probe.unanswered} unanswered)")
        checks.add(f"RSS growth < {B_RSS_GROWTH_MIB} MiB", watch.growth_mib < B_RSS_GROWTH_MIB and outcome != "stopped by the RSS safety cap",
                   f"+{watch.growth_mib:.1f} MiB ({outcome})")
        checks.add(f"info p99 < {B_INFO_P99_MS:.0f} ms throughout", p["p99"] is not None and p["p99"] < B_INFO_P99_MS,
                   f"p99 {fmt_ms(p['p99'])} ms, max {fmt_ms(p['max'])} ms")
        checks.add("daemon alive", daemon.alive(), "")
    finally:
        daemon.stop()
    out["checks"] = checks.rows
    out["pass"] = checks.ok
    return out


def scenario_c(args):
    print("\n== (c) one 1 MiB line with 90k distinct keys")
    checks = Checks()
    daemon = Daemon(args, "c")
    out = {"part": "c"}
    try:
        line = keys_line(int(daemon.limits["max_line_bytes"]))
        probe = Probe(daemon.path, 0.01)  # finer than the load's probe: the window is short
        time.sleep(0.3)
        c = Conn(daemon.path, timeout=120)
        t0 = now()
        c.send(line + b"\n")
        try:
            line_back = c.read_line()
            reply_ms = (now() - t0) * 1000
            reply = "connection closed" if line_back is None else json.loads(line_back)
        except TimeoutError:
            reply_ms, reply = None, "no reply within 120 s"
        t1 = now()
        time.sleep(0.1)
        c.close()
        probe.stop()
        w = summary(probe.window(t0, t1 + 0.05))
        desc = reply if isinstance(reply, str) else f"{reply.get('event')} {(reply.get('error') or {}).get('code', '')}".strip()
        out.update(line_bytes=len(line), reply_ms=reply_ms, reply=desc, info_probe_ms=w, daemon_alive=daemon.alive())
        print(f"  {len(line)} B line answered in {fmt_ms(reply_ms)} ms ({desc}); info meanwhile (every 10 ms): "
              f"p50 {fmt_ms(w['p50'])} p99 {fmt_ms(w['p99'])} max {fmt_ms(w['max'])} ms ({w['count']} samples)")
        checks.add(f"refused or answered in < {C_REPLY_MS:.0f} ms", reply_ms is not None and reply_ms < C_REPLY_MS, f"{fmt_ms(reply_ms)} ms ({desc})")
        checks.add(f"info meanwhile < {C_INFO_MS:.0f} ms (max)", w["max"] is not None and w["max"] < C_INFO_MS, f"max {fmt_ms(w['max'])} ms")
        checks.add("daemon alive", daemon.alive(), "")
    finally:
        daemon.stop()
    out["checks"] = checks.rows
    out["pass"] = checks.ok
    return out


# ---------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", nargs="?", default="load", choices=["load", "a", "b", "c", "acceptance", "all"])
    ap.add_argument("--slmd", help="slmd binary to start (with --model)")
    ap.add_argument("--model", help="GGUF model for the started slmd")
    ap.add_argument("--socket", help="attach to a running slmd instead")
    ap.add_argument("--threads", type=int, help="slmd -t (default: slmd's own)")
    ap.add_argument("--max-clients", type=int, default=100,
                    help="--max-clients of the started slmd (default 100: 64 clients, the probe, the abusers, idle ones)")
    ap.add_argument("--max-queue", type=int, default=128,
                    help="--max-queue of the started slmd (default 128: every client may have a generation waiting)")
    ap.add_argument("--slmd-arg", action="append", default=[], help="more slmd arguments (repeatable, split on spaces)")
    ap.add_argument("--quick", action="store_true", help="CI size: 16 clients x 5 requests, 2 never-readers, 1 MiB flood")
    ap.add_argument("--clients", type=int)
    ap.add_argument("--requests", type=int)
    ap.add_argument("--never-readers", type=int)
    ap.add_argument("--flood-mib", type=int, help="bad-line flood during the load run (0 = none)")
    ap.add_argument("--flood-b-mib", type=int, default=64, help="scenario (b)'s flood (default 64)")
    ap.add_argument("--idle", type=int, help="idle connections (default: up to max_clients minus the others)")
    ap.add_argument("--id-bytes", type=int, default=60_000, help="id size of the never-readers' requests")
    ap.add_argument("--rcvbuf", type=int, default=4096, help="SO_RCVBUF of the never-reading clients")
    ap.add_argument("--disconnect-rate", type=float, default=0.08, help="share of generations a client walks away from")
    ap.add_argument("--request-timeout", type=float, default=600.0,
                    help="seconds a well-behaved request may take (quick: 120); generous, because 64 clients queue for 4 generation slots on a small machine")
    ap.add_argument("--probe-ms", type=float, default=50.0, help="info probe interval")
    ap.add_argument("--rss-tolerance-mib", type=int, default=16, help="RSS after the load may exceed the baseline by")
    ap.add_argument("--rss-safety-mib", type=int, default=1024,
                    help="stop flooding once the daemon's RSS grew by this much (protects the machine)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the clients' choices")
    ap.add_argument("--json", metavar="FILE", help="write the results as JSON ('-' for stdout)")
    ap.add_argument("--keep", action="store_true", help="keep the started daemon's directory (log, db)")
    args = ap.parse_args()
    if not args.socket and not (args.slmd and args.model):
        ap.error("give --slmd and --model, or --socket")
    if args.quick and args.request_timeout == 600.0:
        args.request_timeout = 120.0

    parts = {"load": [run_load], "a": [scenario_a], "b": [scenario_b], "c": [scenario_c],
             "acceptance": [scenario_a, scenario_b, scenario_c],
             "all": [scenario_a, scenario_b, scenario_c, run_load]}[args.what]
    results = []
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    try:
        for part in parts:
            results.append(part(args))
    except Failure as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    report = {"started": started, "what": args.what, "quick": args.quick, "results": results,
              "pass": all(r["pass"] for r in results)}
    print("\n== summary")
    for r in results:
        print(f"  {r['part']}: {'PASS' if r['pass'] else 'FAIL'}"
              + "".join(f"\n    {'ok  ' if c['pass'] else 'FAIL'} {c['check']}" for c in r["checks"]))
    if args.json:
        text = json.dumps(report, indent=1)
        if args.json == "-":
            print(text)
        else:
            with open(args.json, "w") as f:
                f.write(text + "\n")
    return 0 if report["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
