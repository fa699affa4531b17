#!/usr/bin/env python3
"""A stand-in for slmd (protocol v1, issue 8) that checks socket_client's request and answers it
with token events whose text needs JSON unescaping (newline, quote, é, an emoji as a surrogate
pair), an event the client must skip, and `done`. Used when the real daemon is not in the tree.

    fake_slmd.py SOCKET_PATH EXPECTED_PROMPT
Exits 0 when the request was as expected and the reply was sent.
"""
import json
import os
import socket
import sys

path, expected_prompt = sys.argv[1], sys.argv[2]
if os.path.exists(path):
    os.unlink(path)
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(path)
server.listen(1)
server.settimeout(60)
conn, _ = server.accept()
line = b""
while not line.endswith(b"\n"):
    chunk = conn.recv(65536)
    if not chunk:
        sys.exit("client closed before a full request line")
    line += chunk
request = json.loads(line)
ok = request.get("op") == "generate" and request.get("prompt") == expected_prompt and "id" in request
rid = request.get("id")
if not ok:
    reply = {"id": rid, "event": "error", "error": {"code": "bad_request", "message": "unexpected request %r" % request}}
    conn.sendall((json.dumps(reply) + "\n").encode())
    sys.exit("unexpected request: %r" % request)
events = [
    {"id": rid, "event": "token", "text": " Paris"},
    {"id": rid, "event": "progress", "note": {"nested": ["x", "}"]}},
    {"id": rid, "event": "token", "text": ".\n\"Café\" \U0001F642"},
    {"id": rid, "event": "done", "stop_reason": "length", "prompt_tokens": 5, "generated_tokens": 2,
     "ttft_ms": 1.0, "tokens_per_second": 100.0},
]
# ensure_ascii escapes é and the emoji as \u sequences; send in two pieces to split a line.
data = "".join(json.dumps(e, ensure_ascii=True) + "\n" for e in events).encode()
conn.sendall(data[:17])
conn.sendall(data[17:])
conn.close()
