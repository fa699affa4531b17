#!/usr/bin/env python3
"""Instructions per 32-weight block, counted two ways (scripts/arm-instruction-counts.sh).

dynamic CASES.tsv
    Each line: label, kernel, mode, binary, qemu cpu, small args, large args, block dots between
    them. Runs the binary under qemu-aarch64 twice (one instruction per translation block, every
    executed instruction logged), takes the difference of the two runs' executed instructions,
    split by kind, and divides by the block dots the larger run does on top: the cost of one more
    32-weight block times one more token, everything included (loads, unpacking, dot, scales,
    float sums, loop and call overhead amortised over the row). Prints a TSV row per case.

static OBJDUMP...
    For every function with a loop holding int8 multiplies: the innermost such loop (a backward
    branch's range [target, branch]), its instruction count, the int8 multiply-accumulates in it
    and the count per 32 of them (= per 32-weight block times one token).
"""
import collections
import re
import subprocess
import sys

FUNC = re.compile(r"^([0-9a-f]+) <(.+)>:$")
INSN = re.compile(r"^\s+([0-9a-f]+):\s+(?:[0-9a-f]{8}\s+)?(\S+)\s*(.*)$")
BRANCHES = {"b", "cbz", "cbnz", "tbz", "tbnz"}
KINDS = ("load", "store", "dot", "simd", "float", "scalar")


def int8_macs(mn, ops):
    """Multiply-accumulates of 8-bit integers the instruction does (0 for anything else)."""
    if mn in ("sdot", "udot", "usdot", "sudot"):
        return 16 if ".16b" in ops or ".4b" in ops and ".4s" in ops else 8
    if mn in ("smmla", "ummla", "usmmla"):
        return 32
    if re.fullmatch(r"[su]m(ull|lal|lsl)2?", mn) and (".8b" in ops or ".16b" in ops):
        return 8
    return 0


def kind(mn, ops):
    if int8_macs(mn, ops):
        return "dot"
    if mn.startswith("ld"):
        return "load"
    if mn.startswith("st"):
        return "store"
    if mn[0] == "f" or mn in ("scvtf", "ucvtf"):
        return "float"
    if re.search(r"\bv\d+\.|\b[qdshb]\d+\b", ops) and not mn.startswith("prfm"):
        return "simd"
    return "scalar"


def disassemble(path):
    """{function: [(address, mnemonic, operands)]} from `objdump -d` text."""
    funcs, cur = {}, None
    for line in open(path):
        line = line.rstrip("\n")
        m = FUNC.match(line)
        if m:
            cur = funcs.setdefault(m.group(2), [])
            continue
        m = INSN.match(line)
        if m and cur is not None:
            cur.append((int(m.group(1), 16), m.group(2), m.group(3).split("//")[0].strip()))
    return funcs


def loops(insns):
    for a, mn, ops in insns:
        if mn in BRANCHES or mn.startswith("b."):
            m = re.search(r"\b([0-9a-f]+) <", ops)
            if m and insns[0][0] <= int(m.group(1), 16) <= a:
                yield int(m.group(1), 16), a


def static(paths):
    print("object\tfunction\tloop\tinstructions\tint8_macs\tper_32")
    for path in paths:
        for f, insns in disassemble(path).items():
            found = []
            for t, e in loops(insns):
                body = [x for x in insns if t <= x[0] <= e]
                macs = sum(int8_macs(mn, ops) for _, mn, ops in body)
                if macs:
                    found.append((t, e, len(body), macs))
            # Innermost: no other loop with multiplies inside it.
            for t, e, n, macs in found:
                if any((t2, e2) != (t, e) and t <= t2 and e2 <= e for t2, e2, _, _ in found):
                    continue
                print(f"{'/'.join(path.split('/')[-2:])}\t{f}\t{t:x}-{e:x}\t{n}\t{macs}\t{32 * n / macs:.1f}")


def executed(binary, cpu, args, pc_kind):
    """Executed instructions of one run, by kind."""
    cmd = ["qemu-aarch64-static", "-cpu", cpu, "-singlestep", "-d", "exec,nochain", "-D", "/dev/stdout", binary] + args
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, bufsize=1 << 20)
    pcs = collections.Counter()
    for line in p.stdout:
        if line.startswith("Trace "):
            pcs[line.split("/", 2)[1]] += 1
    if p.wait() != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}")
    counts = collections.Counter()
    for pc, n in pcs.items():
        counts[pc_kind.get(int(pc, 16), "scalar")] += n
    return counts


def dynamic(cases_path):
    pc_kinds = {}
    print("label\tkernel\tmode\tcpu\tper_block\t" + "\t".join(KINDS) + "\tsimd_fp\tcycles_a76")
    for line in open(cases_path):
        if not line.strip() or line.startswith("#"):
            continue
        label, kernel, mode, binary, cpu, small, large, blocks = line.rstrip("\n").split("\t")
        if binary not in pc_kinds:
            dump = subprocess.run(["aarch64-linux-gnu-objdump", "-d", "--no-show-raw-insn", binary],
                                  capture_output=True, text=True, check=True).stdout
            pc_kinds[binary] = {}
            for l in dump.splitlines():
                m = INSN.match(l)
                if m:
                    pc_kinds[binary][int(m.group(1), 16)] = kind(m.group(2), m.group(3).split("//")[0])
        a = executed(binary, cpu, small.split(), pc_kinds[binary])
        b = executed(binary, cpu, large.split(), pc_kinds[binary])
        per = {k: (b[k] - a[k]) / int(blocks) for k in KINDS}
        total = sum(per.values())
        simd_fp = per["dot"] + per["simd"] + per["float"]
        # Throughput model of one Cortex-A76 core: 2 vector/FP pipes, 2 load pipes, 4-wide decode.
        cycles = max(simd_fp / 2, per["load"] / 2, total / 4)
        print(f"{label}\t{kernel}\t{mode}\t{cpu}\t{total:.1f}\t" + "\t".join(f"{per[k]:.1f}" for k in KINDS)
              + f"\t{simd_fp:.1f}\t{cycles:.2f}", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "static":
        static(sys.argv[2:])
    elif sys.argv[1] == "dynamic":
        dynamic(sys.argv[2])
