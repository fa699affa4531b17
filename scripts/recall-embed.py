#!/usr/bin/env python3
"""Recall of binary (sign-bit) embedding search against exact float cosine search, with `slm embed`.

    scripts/recall-embed.py [--dir DIR] [--model GGUF] [--slm SLM] [-t N] [--all-runs]

Needs numpy (scripts/recall-embed.sh installs it into $SLM_CACHE/py and builds the corpus first).
Reads DIR/corpus.txt and DIR/queries.txt (scripts/make-recall-corpus.py; DIR defaults to
$SLM_CACHE/recall), one sentence a line, and embeds both with `slm embed -m GGUF -t N -f FILE`
(float vectors) and `slm embed ... --binary` (sign bits). The vectors are cached in DIR/cache,
keyed by the text, the model and the slm binary.

Matryoshka prefixes (256 and 128 dimensions): `slm embed --dims N` keeps the first N values and
normalises again, and `--dims N --binary` gives the signs of those values, so both are exactly
derived from the full float vectors. The script derives them for the corpus and checks the
derivation against `slm embed --dims N` and `--dims N --binary` run on the queries (bits equal,
floats within 1e-6). With --all-runs the corpus is embedded with those flags too (four more
runs) and the slm outputs are used directly.

For each query and each width d in 384, 256, 128 (ties broken by the lower corpus index):
  - exact top-10: the 10 corpus sentences of highest float cosine at width d (and at 384);
  - Hamming top-10: the 10 of lowest Hamming distance between the d-bit codes;
  - re-ranked: the Hamming top-100, ordered by float cosine at width d, first 10.
recall@10 = |retrieved ∩ exact top-10| / 10, averaged over the queries.

Search time per query (numpy, one thread, corpus in memory): the Hamming scan (XOR with every
code, popcount through a 256-entry lookup table over the bytes, then the top-100 by
argpartition), the same with np.bitwise_count over 64-bit words, the float re-rank of the 100
candidates, and for comparison the exact float scan (one matrix-vector product, top-10).
Median over 5 passes over the queries. Prints markdown tables.
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy: one-thread timings
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import hashlib
import json
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLM_CACHE = os.environ.get("SLM_CACHE", os.path.expanduser("~/.cache/slm"))
DIMS = (384, 256, 128)
K, CANDIDATES = 10, 100


def log(msg):
    print(f"recall-embed: {msg}", file=sys.stderr, flush=True)


def embed(args, path, extra, cache_dir):
    """Runs slm embed on a file (one input per line); returns float32 [n, d] or uint8 [n, d/8]."""
    st = os.stat(args.slm)
    key = hashlib.sha256()
    key.update(open(path, "rb").read())
    key.update(json.dumps([os.path.abspath(args.model), os.path.getsize(args.model), st.st_size,
                           st.st_mtime_ns, extra]).encode())
    cached = os.path.join(cache_dir, key.hexdigest()[:24] + ".npy")
    if os.path.exists(cached):
        return np.load(cached), None
    cmd = [args.slm, "embed", "-m", args.model, "-t", str(args.threads), "-f", path] + extra
    log(" ".join(cmd[1:]))
    t = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    wall = time.perf_counter() - t
    lines = out.splitlines()
    if "--binary" in extra:
        arr = np.array([np.frombuffer(bytes.fromhex(json.loads(l)), dtype=np.uint8) for l in lines])
    else:
        arr = np.array([json.loads(l) for l in lines], dtype=np.float32)
    n_in = sum(1 for _ in open(path, encoding="utf-8"))
    if arr.shape[0] != n_in:
        sys.exit(f"recall-embed: {len(lines)} vectors for {n_in} inputs from {' '.join(cmd)}")
    os.makedirs(cache_dir, exist_ok=True)
    np.save(cached, arr)
    return arr, wall


def truncate(f, d):
    g = f[:, :d].astype(np.float64)
    return (g / np.linalg.norm(g, axis=1, keepdims=True)).astype(np.float32)


def top(scores, k, largest):
    """Indices of the k best per row, ties broken by the lower index (stable sort)."""
    order = np.argsort(-scores if largest else scores, axis=1, kind="stable")
    return order[:, :k]


POP8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def hamming(codes, q):
    return POP8[np.bitwise_xor(codes, q)].sum(axis=1, dtype=np.uint16)


def recall(got, truth):
    return float(np.mean([len(set(g) & set(t)) / len(t) for g, t in zip(got, truth)]))


def time_per_query(fn, queries, passes=5):
    per = []
    for _ in range(passes):
        t = time.perf_counter()
        for q in queries:
            fn(q)
        per.append((time.perf_counter() - t) / len(queries))
    return statistics.median(per) * 1e3  # ms


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", default=os.path.join(SLM_CACHE, "recall"))
    ap.add_argument("--model", default=None, help="GGUF (default: scripts/fetch-model.sh minilm)")
    ap.add_argument("--slm", default=os.environ.get("SLM_BINARY", os.path.join(ROOT, ".build/release/slm")))
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("--all-runs", action="store_true",
                    help="embed the corpus with --dims 256/128 (float and binary) too, instead of deriving")
    args = ap.parse_args()
    if args.model is None:
        args.model = subprocess.run([os.path.join(ROOT, "scripts/fetch-model.sh"), "minilm"], check=True,
                                    capture_output=True, text=True).stdout.strip()
    corpus_path, query_path = os.path.join(args.dir, "corpus.txt"), os.path.join(args.dir, "queries.txt")
    cache = os.path.join(args.dir, "cache")
    n_corpus = sum(1 for _ in open(corpus_path, encoding="utf-8"))
    n_queries = sum(1 for _ in open(query_path, encoding="utf-8"))
    log(f"{n_corpus} corpus sentences, {n_queries} queries, model {args.model}")

    # --- embeddings ---------------------------------------------------------------------------
    F, wall_f = embed(args, corpus_path, [], cache)
    B, wall_b = embed(args, corpus_path, ["--binary"], cache)
    QF, _ = embed(args, query_path, [], cache)
    QB, _ = embed(args, query_path, ["--binary"], cache)
    full = F.shape[1]
    if full != DIMS[0]:
        sys.exit(f"recall-embed: the model gives {full} values; this script is written for 384")
    checks = []
    for name, f, b in (("corpus", F, B), ("queries", QF, QB)):
        bad = int(np.count_nonzero(np.packbits(f > 0, axis=1) != b))
        checks.append(f"{name}: slm's --binary bytes {'equal' if bad == 0 else f'differ in {bad} bytes from'} "
                      f"the signs of its floats")
    floats, codes, qfloats, qcodes = {}, {}, {}, {}
    for d in DIMS:
        if d == full:
            floats[d], codes[d], qfloats[d], qcodes[d] = F, B, QF, QB
            continue
        qf_slm, _ = embed(args, query_path, ["--dims", str(d)], cache)
        qb_slm, _ = embed(args, query_path, ["--dims", str(d), "--binary"], cache)
        qf, qb = truncate(QF, d), np.packbits(QF[:, :d] > 0, axis=1)
        diff = float(np.max(np.abs(qf - qf_slm)))
        same_bits = bool(np.array_equal(qb, qb_slm))
        checks.append(f"--dims {d}: derived query floats within {diff:.1e} of slm's, derived bits "
                      f"{'equal' if same_bits else 'DIFFER from'} slm's --binary")
        if diff > 1e-6 or not same_bits:
            sys.exit("recall-embed: " + checks[-1])
        qfloats[d], qcodes[d] = qf_slm, qb_slm
        if args.all_runs:
            floats[d], _ = embed(args, corpus_path, ["--dims", str(d)], cache)
            codes[d], _ = embed(args, corpus_path, ["--dims", str(d), "--binary"], cache)
        else:
            floats[d], codes[d] = truncate(F, d), np.packbits(F[:, :d] > 0, axis=1)

    # --- recall -------------------------------------------------------------------------------
    truth_full = top(QF @ F.T, K, largest=True)
    rows = []
    for d in DIMS:
        cos = qfloats[d] @ floats[d].T
        truth = top(cos, K, largest=True)
        ham = np.stack([hamming(codes[d], q) for q in qcodes[d]])
        cand = top(ham, CANDIDATES, largest=False)
        hk = cand[:, :K]
        rer = np.array([c[np.argsort(-cos[i, c], kind="stable")[:K]] for i, c in enumerate(cand)])
        rer_full = np.array([c[np.argsort(-(QF[i] @ F[c].T), kind="stable")[:K]] for i, c in enumerate(cand)])
        # ties: how often the 10th Hamming distance is shared by a candidate ranked below 10
        tie = float(np.mean([ham[i, cand[i, K - 1]] == ham[i, cand[i, K]] for i in range(len(cand))]))
        rows.append(dict(d=d, bytes=codes[d].shape[1], ham=recall(hk, truth), rerank=recall(rer, truth), tie=tie, float_vs_full=recall(truth, truth_full),
                         ham_vs_full=recall(hk, truth_full), rerank_vs_full=recall(rer, truth_full),
                         rerank_full_vs_full=recall(rer_full, truth_full)))

    # --- timing -------------------------------------------------------------------------------
    times = []
    for d in DIMS:
        c8, f32 = np.ascontiguousarray(codes[d]), np.ascontiguousarray(floats[d])
        c64 = c8.view(np.uint64) if c8.shape[1] % 8 == 0 else None
        q8, q32 = qcodes[d], qfloats[d]
        q64 = q8.view(np.uint64) if c64 is not None else None

        def scan_lut(i):
            h = POP8[np.bitwise_xor(c8, q8[i])].sum(axis=1, dtype=np.uint16)
            return np.argpartition(h, CANDIDATES)[:CANDIDATES]

        def scan_bc(i):
            h = np.bitwise_count(np.bitwise_xor(c64, q64[i])).sum(axis=1, dtype=np.uint16)
            return np.argpartition(h, CANDIDATES)[:CANDIDATES]

        cands = [scan_lut(i) for i in range(len(q8))]

        def rerank(i):
            c = cands[i]
            s = f32[c] @ q32[i]
            return c[np.argsort(-s)[:K]]

        def exact(i):
            s = f32 @ q32[i]
            p = np.argpartition(-s, K)[:K]
            return p[np.argsort(-s[p])]

        idx = range(len(q8))
        t = dict(d=d, lut=time_per_query(scan_lut, idx), rerank=time_per_query(rerank, idx),
                 exact=time_per_query(exact, idx))
        t["bc"] = time_per_query(scan_bc, idx) if c64 is not None and hasattr(np, "bitwise_count") else None
        times.append(t)

    # --- report -------------------------------------------------------------------------------
    model = os.path.basename(args.model)
    print(f"Corpus {n_corpus} sentences, {n_queries} held-out queries; {model}; "
          f"{'every width embedded by slm' if args.all_runs else 'widths 256/128 derived from the 384 floats (checked against slm --dims on the queries)'}.")
    if wall_f is not None:
        print(f"Embedding the corpus: {wall_f:.1f} s (floats), {wall_b:.1f} s (--binary), `slm embed -t {args.threads}`, "
              f"{n_corpus / wall_f:.0f} sentences/s.")
    for c in checks:
        print(f"- {c}")
    print()
    print("recall@10 against the exact float-cosine top-10 at the same width:")
    print()
    print("| dims | binary bytes/vector | Hamming top-10 | Hamming top-100 re-ranked by float cosine | queries with a tie at the 10th Hamming distance |")
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['d']} | {r['bytes']} | {r['ham']:.3f} | **{r['rerank']:.3f}** | {r['tie'] * 100:.0f} % |")
    print()
    print("recall@10 against the exact top-10 of the full 384-dimension floats:")
    print()
    print("| dims | float cosine at this width | Hamming top-10 | top-100 re-ranked, floats at this width | top-100 re-ranked, 384 floats |")
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['d']} | {r['float_vs_full']:.3f} | {r['ham_vs_full']:.3f} | {r['rerank_vs_full']:.3f} | {r['rerank_full_vs_full']:.3f} |")
    print()
    print(f"Search time per query, ms (numpy {np.__version__}, one thread, {n_corpus} vectors in memory, median of 5 passes over the queries):")
    print()
    print("| dims | Hamming scan + top-100, byte lookup table | Hamming scan + top-100, np.bitwise_count on 64-bit words | re-rank of 100 by float cosine | exact float scan + top-10 (for comparison) |")
    print("|---:|---:|---:|---:|---:|")
    for t in times:
        bc = f"{t['bc']:.3f}" if t["bc"] is not None else "n/a"
        print(f"| {t['d']} | {t['lut']:.3f} | {bc} | {t['rerank']:.3f} | {t['exact']:.3f} |")


if __name__ == "__main__":
    main()
