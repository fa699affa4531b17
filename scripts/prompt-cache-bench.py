#!/usr/bin/env python3
"""Prompt cache acceptance (issue 22): 20 `generate` requests sharing a ~600-token system prompt
with different short user parts, sent one after another over slmd's NDJSON socket.

Measures the time to first token seen by the client (request written -> first `token` line) and
checks that
  - the median TTFT of requests 2-20 is at least 5x lower than the first's (reported; the ratio
    is the acceptance figure, the machine is shared so it is not a hard failure unless --strict),
  - every output is identical to that of a daemon running with the prompt cache off
    (--prompt-cache-bytes 0): greedy and seeded requests alternate,
  - a request from another uid (65534, via fork + setuid; needs root) with the same prompt
    reuses nothing (`cached_tokens` 0) although the first uid's entry is there.

Python 3 standard library only. Starts its own daemons (temporary socket and database):
    scripts/prompt-cache-bench.py --slmd .build/release/slmd --model "$(scripts/fetch-model.sh)"
Exit status: 0 when every check passed, 1 when one failed, 2 on a usage or startup error.
"""

import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import slmd_client  # noqa: E402
from slmd_client import Daemon  # noqa: E402

OTHER_UID = 65534
REQUESTS = 20
MAX_TOKENS = 16

SYSTEM = (
    "You are the help desk assistant of the Riverside Municipal Library. Answer in two or three short "
    "sentences, politely, and only about the library. Facts you may use: the library opens at 9 in the "
    "morning and closes at 8 in the evening from Monday to Friday, and at 5 in the afternoon on "
    "Saturdays; it is closed on Sundays and on public holidays. Members may borrow up to twelve items "
    "at a time: books for three weeks, films and music for one week, and magazines for one week; the "
    "newest issue of a magazine stays in the reading room. Loans can be renewed twice online or at the "
    "desk unless someone has reserved the item. Late returns cost twenty cents a day per item, up to "
    "five euros per item; children's cards pay no fines. A card is free for residents and costs fifteen "
    "euros a year for others; bring an identity document and a proof of address. The second floor has "
    "eight quiet study rooms that can be booked for two hours a day, up to a week ahead. There are "
    "twenty public computers with printers: black and white pages cost ten cents, colour pages fifty "
    "cents. The wireless network is free; its password is printed on the back of every library card. "
    "The children's corner runs a story hour every Wednesday at four and a reading club for teenagers "
    "on the first Saturday of each month. The local history archive in the basement is open on "
    "Tuesdays and Thursdays from two to six, by appointment; its photographs may be copied for "
    "private use. Lost cards are replaced for two euros. Donations of books in good condition are "
    "welcome at the desk, except textbooks older than five years and encyclopaedias. The library "
    "café on the ground floor serves coffee, tea and sandwiches until half an hour before closing. "
    "Bicycles can be parked in the courtyard; the car park behind the building is free for the first "
    "two hours with a stamp from the desk. Guide dogs are welcome; other pets are not. Events are "
    "announced on the notice board by the entrance and in the monthly newsletter, which members can "
    "receive by email. If a question is not about the library, say that you can only help with the "
    "library and suggest asking at the town hall, which is across the square and opens at eight. "
    "If a member reports a damaged book, thank them and ask them to bring it to the desk; they will "
    "not be charged for damage they did not cause. Audiobooks and e-books can be borrowed through the "
    "library's app with the card number and a four-digit PIN chosen at the desk; up to five at once, "
    "for two weeks. Interlibrary loans take about ten days and cost one euro per item. The makerspace "
    "next to the computers has a 3D printer, a sewing machine and a soldering station; a short safety "
    "course, given on Mondays at six, is required before first use."
)

QUESTIONS = [
    "When do you open on Saturday?", "How many books can I borrow?", "What does a late DVD cost?",
    "Can I bring my dog?", "Where can I park my car?", "How do I get a card?", "Is there wifi?",
    "When is story hour?", "Can I book a study room?", "How much is a colour print?",
    "Can I renew a loan online?", "Do you take old encyclopaedias?", "Where is the town hall?",
    "How do I borrow e-books?", "What is in the basement?", "How long is an interlibrary loan?",
    "Can I use the 3D printer?", "I lost my card, what now?", "Is the café open at 7:45 pm?",
    "Do children pay fines?",
]


def prompt_for(question):
    return (f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{question}<|im_end|>\n"
            "<|im_start|>assistant\n")


def request_fields(i, question):
    fields = {"id": i, "op": "generate", "prompt": prompt_for(question), "max_tokens": MAX_TOKENS}
    if i % 2 == 0:
        fields["temperature"] = 0
    else:
        fields.update({"temperature": 0.8, "seed": 1000 + i})
    return fields


def generate(sock_path, i, question):
    """One request on its own connection: (client TTFT s, text, done event)."""
    return slmd_client.generate(sock_path, request_fields(i, question))


def as_other_uid(sock_path, i, question):
    """`generate` from a forked child running as OTHER_UID; its result comes back through a pipe."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            os.setgroups([])
            os.setgid(OTHER_UID)
            os.setuid(OTHER_UID)
            result = generate(sock_path, i, question)
            os.write(w, json.dumps({"ok": list(result)}).encode())
        except BaseException as e:  # report anything to the parent
            os.write(w, json.dumps({"error": repr(e)}).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    reply = json.loads(data)
    if "error" in reply:
        raise RuntimeError(f"uid {OTHER_UID}: {reply['error']}")
    return reply["ok"]


def run_series(daemon):
    results = []
    for i, q in enumerate(QUESTIONS[:REQUESTS]):
        ttft, text, done = generate(daemon.sock, i, q)
        results.append({"ttft": ttft, "text": text, "cached": done.get("cached_tokens", 0),
                        "prompt_tokens": done.get("prompt_tokens"), "server_ttft_ms": done.get("ttft_ms")})
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--slmd", default=".build/release/slmd")
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", "-t", default="2")
    ap.add_argument("--strict", action="store_true", help="fail when the TTFT ratio is below 5")
    ap.add_argument("--json", help="write the numbers here")
    args = ap.parse_args()
    if not os.path.exists(args.slmd):
        print(f"no slmd at {args.slmd}", file=sys.stderr)
        return 2
    failures = []
    base = ["-c", "2048", "-t", args.threads]

    on = Daemon(args.slmd, args.model, base)
    try:
        cached = run_series(on)
        other = None
        if os.getuid() == 0:
            ttft, text, done = as_other_uid(on.sock, 0, QUESTIONS[0])
            other = {"ttft": ttft, "cached": done.get("cached_tokens"), "same_text": text == cached[0]["text"]}
        stats_on = on.stats()
    finally:
        on.stop()
    off = Daemon(args.slmd, args.model, base + ["--prompt-cache-bytes", "0"])
    try:
        plain = run_series(off)
    finally:
        off.stop()

    first = cached[0]["ttft"]
    rest = statistics.median(r["ttft"] for r in cached[1:])
    ratio = first / rest if rest > 0 else float("inf")
    plain_rest = statistics.median(r["ttft"] for r in plain[1:])
    identical = all(a["text"] == b["text"] for a, b in zip(cached, plain))
    print(f"prompt tokens: {cached[0]['prompt_tokens']} (first) .. {max(r['prompt_tokens'] for r in cached)}")
    print("request  ttft_ms(cache on)  cached_tokens  ttft_ms(cache off)  same text")
    for i, (a, b) in enumerate(zip(cached, plain)):
        print(f"{i + 1:7d}  {a['ttft'] * 1000:17.1f}  {a['cached']:13d}  {b['ttft'] * 1000:18.1f}  {a['text'] == b['text']}")
    print(f"TTFT first {first * 1000:.1f} ms, median of 2-{REQUESTS} {rest * 1000:.1f} ms: {ratio:.1f}x lower "
          f"(cache off: median of 2-{REQUESTS} {plain_rest * 1000:.1f} ms)")
    print(f"outputs identical to the cache-off daemon's: {'yes' if identical else 'NO'}")
    if other is None:
        print("another uid: not run (needs root)")
    else:
        print(f"another uid ({OTHER_UID}), same prompt as request 1: cached_tokens {other['cached']}, "
              f"ttft {other['ttft'] * 1000:.1f} ms, same text {other['same_text']}")
    print("stats.prompt_cache:", json.dumps(stats_on.get("prompt_cache")))
    if not identical:
        failures.append("outputs differ from the cache-off run")
    if cached[0]["cached"] != 0 or any(r["cached"] == 0 for r in cached[1:]):
        failures.append("expected no reuse on request 1 and reuse on 2-20")
    if other is not None and (other["cached"] != 0 or not other["same_text"]):
        failures.append("another uid reused the first uid's prompt or got another text")
    if ratio < 5:
        print(f"note: TTFT ratio {ratio:.1f} is below 5")
        if args.strict:
            failures.append("TTFT ratio below 5")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cached": cached, "plain": plain, "other_uid": other, "ratio": ratio,
                       "identical": identical, "stats": stats_on}, f, indent=1)
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
