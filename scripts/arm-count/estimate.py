#!/usr/bin/env python3
"""Decode and prompt rates predicted for a Raspberry Pi 5 and an RK3588 board -- an ESTIMATE --
from the per-block cycle counts of count.py's dynamic table and the weights of each model
(model_weights.py). scripts/arm-instruction-counts.sh runs it; docs/arm.md explains it.

Per type, cycles per (32-weight block x token) on one Cortex-A76 core come from count.py's
throughput model: max(SIMD+FP instructions / 2, loads / 2, all instructions / 4). A token's cycles
are the sum over the model's matrices; the compute-bound rate is cores x clock / that (perfect
scaling over the big cores, nothing but the matrix products counted). Decode is also bounded by
memory: bandwidth / bytes of weights per token. Prints Markdown.
"""
import json
import sys

BOARDS = [  # name, big cores, GHz (low, high), usable GB/s (low, high)
    ("Raspberry Pi 5 (4x A76 @ 2.4 GHz, ~15 GB/s)", 4, (2.4, 2.4), (15.0, 15.0)),
    ("RK3588 (4x A76 @ 2.26-2.4 GHz, A55s unused, ~15-20 GB/s)", 4, (2.26, 2.4), (15.0, 20.0)),
]
PROMPT_TOKENS = 512
REPACKED_ON_SDOT = {"Q4_0": "4x4", "Q4_K": "8x4", "Q6_K": "8x4", "Q8_0": "4x4"}

rows = {}
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    if f[0] == "label":
        continue
    rows[(f[0], f[1], f[2], f[3])] = {"instr": float(f[4]), "cycles": float(f[-1])}


def path(engine, t, mode, output):
    """(label, row) of the kernel an engine runs on an A76 for type t (output: the matrix is a tied
    token embedding, which llama.cpp does not repack)."""
    if engine == "slm":
        return "slm", rows[("slm", t, mode, "cortex-a76")]
    if t in REPACKED_ON_SDOT and not output:
        label = f"llama.cpp-sdot repacked {REPACKED_ON_SDOT[t]}"
        return label, rows[(label, t, mode, "max")]
    return "llama.cpp-sdot vec_dot", rows[("llama.cpp-sdot vec_dot", t, mode, "max")]


def fmt(x):
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}"


TYPES = ("Q4_0", "Q4_1", "Q5_0", "Q8_0", "Q4_K", "Q6_K")
COLUMNS = [  # header, label, mode, cpu
    ("slm NEON decode / prompt", "slm", None, "cortex-a53"),
    ("slm SDOT decode / prompt", "slm", None, "cortex-a76"),
    ("slm on qemu max (i8mm) decode / prompt", "slm", None, "max"),
    ("llama.cpp NEON vec_dot (decode = prompt)", "llama.cpp-neon vec_dot", "decode", "max"),
    ("llama.cpp SDOT vec_dot (decode = prompt)", "llama.cpp-sdot vec_dot", "decode", "max"),
    ("llama.cpp SDOT repacked decode / prompt", "llama.cpp-sdot repacked", None, "max"),
    ("llama.cpp i8mm vec_dot 2x2 prompt", "llama.cpp-i8mm vec_dot 2x2", "prompt", "max"),
    ("llama.cpp i8mm repacked decode / prompt", "llama.cpp-i8mm repacked", None, "max"),
]


def cell(t, label, mode, cpu, key):
    def find(m):
        for (l, ty, mo, c), v in rows.items():
            if ty == t and mo == m and c == cpu and (l == label or l.startswith(label + " ")):
                return v[key], l
        return None, None
    if mode:
        v, _ = find(mode)
        return "-" if v is None else f"{v:.1f}"
    (d, l), (p, _) = find("decode"), find("prompt")
    if d is None and p is None:
        return "-"
    tag = f" ({l.rsplit(' ', 1)[-1]})" if l and "repacked" in l else ""
    return f"{'-' if d is None else f'{d:.1f}'} / {'-' if p is None else f'{p:.1f}'}{tag}"


for key, title in (("instr", "Instructions executed per 32-weight block x token"),
                   ("cycles", "Cycles per 32-weight block x token on one A76 core (throughput model)")):
    print(f"### {title}\n")
    print("| type | " + " | ".join(c[0] for c in COLUMNS) + " |")
    print("|---|" + "---:|" * len(COLUMNS))
    for t in TYPES:
        print(f"| {t} | " + " | ".join(cell(t, *c[1:], key) for c in COLUMNS) + " |")
    print()

models = [json.loads(l) for l in open(sys.argv[2])]
print("### Weights per token\n")
print("| model | MiB of weights per token | 32-weight blocks per token, by type (of which output head) |")
print("|---|---:|---|")
for m in models:
    mib = sum(v["bytes"] for v in m["types"].values()) / 2**20
    blocks = ", ".join(f"{t} {v['blocks32'] / 1e6:.2f} M" + (f" ({v['output'] / 1e6:.2f} M)" if v["output"] else "")
                       for t, v in sorted(m["types"].items()))
    print(f"| {m['file']} | {mib:.1f} | {blocks} |")

print("\n### Cycles per token on one A76 core (throughput model)\n")
print("| model | mode | slm Mcycles | llama.cpp Mcycles | llama.cpp / slm |")
print("|---|---|---:|---:|---:|")
cycles = {}
for m in models:
    for mode in ("decode", "prompt"):
        c = {}
        for engine in ("slm", "llama.cpp"):
            total = 0.0
            for t, v in m["types"].items():
                if t not in {"Q4_0", "Q4_1", "Q5_0", "Q8_0", "Q4_K", "Q6_K"}:
                    raise SystemExit(f"{m['file']}: no counts for {t}")
                # A prompt computes logits for its last token only: the output head is paid once
                # per prompt, here amortised over PROMPT_TOKENS.
                head = v["output"] if mode == "decode" else v["output"] / PROMPT_TOKENS
                tied = head if m["tied_output"] else 0
                body = v["blocks32"] - v["output"] + (0 if m["tied_output"] else head)
                total += body * path(engine, t, mode, False)[1]["cycles"]
                total += tied * path(engine, t, mode, True)[1]["cycles"]
            c[engine] = total
        cycles[(m["file"], mode)] = c
        print(f"| {m['file']} | {mode} | {c['slm'] / 1e6:.1f} | {c['llama.cpp'] / 1e6:.1f} | "
              f"{c['llama.cpp'] / c['slm']:.2f} |")

print("\n### Estimated rates (tokens/s) -- an estimate, not a measurement\n")
print("| board | model | decode, bandwidth bound | decode, compute bound slm / llama.cpp | "
      "decode estimate slm / llama.cpp | prompt, compute bound slm / llama.cpp |")
print("|---|---|---:|---:|---:|---:|")
for name, cores, ghz, bw in BOARDS:
    for m in models:
        b = sum(v["bytes"] for v in m["types"].values())
        def rng(lo, hi):
            return fmt(lo) if abs(hi - lo) < 0.05 * lo else f"{fmt(lo)}-{fmt(hi)}"
        bw_lo, bw_hi = bw[0] * 1e9 / b, bw[1] * 1e9 / b
        dec, pro = cycles[(m["file"], "decode")], cycles[(m["file"], "prompt")]
        cd = {e: (cores * ghz[0] * 1e9 / dec[e], cores * ghz[1] * 1e9 / dec[e]) for e in dec}
        cp = {e: (cores * ghz[0] * 1e9 / pro[e], cores * ghz[1] * 1e9 / pro[e]) for e in pro}
        est = {e: (min(bw_lo, cd[e][0]), min(bw_hi, cd[e][1])) for e in dec}
        print(f"| {name} | {m['file']} | {rng(bw_lo, bw_hi)} | {rng(*cd['slm'])} / {rng(*cd['llama.cpp'])} | "
              f"{rng(*est['slm'])} / {rng(*est['llama.cpp'])} | {rng(*cp['slm'])} / {rng(*cp['llama.cpp'])} |")
