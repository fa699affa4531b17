#!/usr/bin/env bash
# The C library's acceptance test: installs libslm to a temporary prefix, builds the examples and
# the C/C++ tests against it through pkg-config, checks the exported symbols, runs everything on
# SmolLM2 (also under valgrind), and checks that greedy slm_generate equals `slm run --temp 0`.
# Env: SLM_TEST_MODEL (default: scripts/fetch-model.sh), SWIFT_FLAGS (passed to the build).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
repo="$(pwd)"
model="${SLM_TEST_MODEL:-$(scripts/fetch-model.sh)}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix"
step() { echo "== c-api: $*" >&2; }

step "make install PREFIX=$prefix"
make --no-print-directory install PREFIX="$prefix" SWIFT_FLAGS="${SWIFT_FLAGS:-}" >"$tmp/install.log" 2>&1 \
    || { cat "$tmp/install.log" >&2; exit 1; }
bash scripts/check-abi.sh "$prefix/lib"
if ldd "$prefix/lib/libslm.so" | grep -q swift; then
    echo "libslm.so needs the Swift runtime:" >&2; ldd "$prefix/lib/libslm.so" >&2; exit 1
fi
echo "libslm.so needs: $(ldd "$prefix/lib/libslm.so" | awk '{print $1}' | tr '\n' ' ')" >&2
abi="$(sed -nE 's/^#define SLM_ABI_VERSION ([0-9]+).*/\1/p' include/slm.h)"
ls -l "$prefix/lib/libslm.so.$abi" "$prefix/lib/libslm.a" >&2

step "build the examples and tests via pkg-config (cc -std=c99 -Wall -Wextra -Werror)"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
cp -r examples-c "$tmp/examples"
make --no-print-directory -C "$tmp/examples" CFLAGS="-std=c99 -Wall -Wextra -Werror -pedantic -O2 -g" >&2
cflags="$(pkg-config --cflags slm)"
libs="$(pkg-config --libs slm) -Wl,-rpath,$prefix/lib"
# shellcheck disable=SC2086
cc -std=c99 -Wall -Wextra -Werror -pedantic -O1 -g $cflags -o "$tmp/misuse" Tests/c-api/misuse.c $libs -lpthread
# shellcheck disable=SC2086
c++ -std=c++11 -Wall -Wextra -Werror -pedantic $cflags -o "$tmp/header_cpp" Tests/c-api/header.cpp $libs
# shellcheck disable=SC2086
cc -std=c99 -Wall -Wextra -Werror -pedantic $cflags -o "$tmp/generate-pcstatic" examples-c/generate.c \
    $(pkg-config --libs --static slm) -Wl,-rpath,"$prefix/lib"
"$tmp/header_cpp" >&2

step "run the examples on $(basename "$model")"
ex="$tmp/examples"
"$ex/generate" "$model" "The capital of France is" 12 2 >"$tmp/generate.out" 2>"$tmp/generate.err"
cat "$tmp/generate.out" "$tmp/generate.err" >&2
grep -q "Paris" "$tmp/generate.out"
"$ex/generate-static" "$model" "The capital of France is" 12 2 >"$tmp/generate-static.out" 2>/dev/null
cmp "$tmp/generate.out" "$tmp/generate-static.out"
if ldd "$ex/generate-static" | grep -q libslm; then echo "generate-static links libslm.so" >&2; exit 1; fi
db="$tmp/chat.db"
printf 'What is the capital of France?\nAnd of Italy?\n' | SLM_THREADS=2 SLM_MAX_TOKENS=24 "$ex/chat" "$model" "$db" >"$tmp/chat1.out"
cat "$tmp/chat1.out" >&2
id="$(sed -nE 's/^conversation ([0-9]+)$/\1/p' "$tmp/chat1.out")"
printf 'And of Spain?\n' | SLM_THREADS=2 SLM_MAX_TOKENS=24 "$ex/chat" "$model" "$db" "$id" >"$tmp/chat2.out"
cat "$tmp/chat2.out" >&2
# Resumed: the stored history is printed back, then the new turn is answered.
grep -q "^\[user\] And of Italy?" "$tmp/chat2.out"
"$ex/chat" "$model" "$db" --list | grep -q "^$id	6 messages"
"$ex/chat" "$model" "$db" --delete "$id"
[[ -z "$("$ex/chat" "$model" "$db" --list)" ]]
"$tmp/misuse" "$model" "$(mkdir -p "$tmp/scratch" && echo "$tmp/scratch")" >&2
# Structured output: the document is valid under the schema; a bad schema fails naming the keyword.
"$ex/structured" "$model" "A cat:" '{"type":"object","properties":{"name":{"type":"string","maxLength":12},"legs":{"type":"integer","minimum":0,"maximum":4}},"required":["name","legs"],"additionalProperties":false}' >"$tmp/structured.out"
cat "$tmp/structured.out" >&2
python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert set(d) == {"name", "legs"} and 0 <= d["legs"] <= 4, d' "$tmp/structured.out"
[[ "$("$ex/structured" "$model" "Is the sky blue?" --grammar 'root ::= ("yes" | "no") "."')" =~ ^(yes|no)\.$ ]]
if "$ex/structured" "$model" "x" '{"type":"string","uniqueItems":true}' >/dev/null 2>"$tmp/structured.err"; then exit 1; fi
grep -q "uniqueItems" "$tmp/structured.err"
# Embeddings (BERT encoder): the sentence about food ranks first; the embedding of the C library
# equals the CLI's.
minilm="${SLM_TEST_MODEL_MINILM:-$(scripts/fetch-model.sh minilm)}"
"$ex/embed" "$minilm" "A man is eating food." "A monkey is playing drums." "A man is eating a piece of bread." \
    "The new movie is awesome." >"$tmp/embed.out"
cat "$tmp/embed.out" >&2
sed -n 2p "$tmp/embed.out" | grep -q "A man is eating a piece of bread.$"
grep -q "^0\.75[0-9][0-9] " "$tmp/embed.out"
if "$ex/embed" "$model.missing" "x" "y" 2>/dev/null; then exit 1; fi

if [[ -x "$prefix/bin/slmd" ]]; then
    step "socket_client against slmd"
    sock="$tmp/slmd.sock"
    "$prefix/bin/slmd" -m "$model" --socket "$sock" --db "$tmp/slmd.db" -t 2 2>"$tmp/slmd.log" &
    slmd_pid=$!
    for _ in $(seq 100); do [[ -S "$sock" ]] && break; sleep 0.1; done
    status=0
    "$ex/socket_client" "$sock" "The capital of France is" 12 >"$tmp/socket.out" || status=$?
    kill "$slmd_pid" 2>/dev/null || true
    wait "$slmd_pid" 2>/dev/null || true
    cat "$tmp/socket.out" >&2
    ((status == 0)) && grep -q "Paris" "$tmp/socket.out" || { cat "$tmp/slmd.log" >&2; exit 1; }
else
    # No daemon in this tree: check the client against a stand-in speaking protocol v1.
    step "socket_client against a stand-in for slmd (Tests/c-api/fake_slmd.py)"
    python3 Tests/c-api/fake_slmd.py "$tmp/fake.sock" "The capital of France is" &
    fake_pid=$!
    for _ in $(seq 100); do [[ -S "$tmp/fake.sock" ]] && break; sleep 0.1; done
    "$ex/socket_client" "$tmp/fake.sock" "The capital of France is" 4 >"$tmp/socket.out" 2>/dev/null
    wait "$fake_pid"
    printf ' Paris.\n"Caf\xc3\xa9" \xf0\x9f\x99\x82\n' | cmp - "$tmp/socket.out"
fi

step "greedy slm_generate == slm run --temp 0 on the foundation goldens"
goldens="Tests/SLMCoreTests/Fixtures/goldens/smollm2-135m-q4_1.json"
n_predict="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["n_predict"])' "$goldens")"
count=0
while IFS= read -r -d '' prompt; do
    "$ex/generate" "$model" "$prompt" "$n_predict" 2 2>/dev/null | head -c -1 >"$tmp/lib.out"
    "$prefix/bin/slm" run -m "$model" -p "$prompt" -n "$n_predict" --temp 0 -t 2 --no-stats >"$tmp/cli.out"
    if ! cmp -s "$tmp/lib.out" "$tmp/cli.out"; then
        echo "slm_generate and slm run differ for prompt: $prompt" >&2
        diff <(od -c "$tmp/lib.out") <(od -c "$tmp/cli.out") | head -20 >&2
        exit 1
    fi
    count=$((count + 1))
done < <(python3 -c 'import json,sys; [print(g["prompt"], end="\0") for g in json.load(open(sys.argv[1]))["generations"]]' "$goldens")
echo "identical on $count prompts ($n_predict tokens each)" >&2

if command -v valgrind >/dev/null; then
    # Memcheck runs the SIMD kernels ~100x slower: one thread, a few tokens, and the three runs
    # side by side (the CI machine has two cores). No suppressions are needed.
    step "valgrind (1 thread, few tokens): 0 errors, 0 definitely lost"
    vg=(valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite -q)
    "${vg[@]}" "$ex/generate" "$model" "The capital of France is" 3 1 >/dev/null 2>"$tmp/vg-generate.log" &
    pids=($!)
    (printf 'Hi!\n' | SLM_THREADS=1 SLM_MAX_TOKENS=2 "${vg[@]}" "$ex/chat" "$model" "$tmp/vg.db" >/dev/null \
        && "${vg[@]}" "$ex/chat" "$model" "$tmp/vg.db" --list >/dev/null) 2>"$tmp/vg-chat.log" &
    pids+=($!)
    "${vg[@]}" "$tmp/misuse" "$model" "$tmp/scratch" --light >/dev/null 2>"$tmp/vg-misuse.log" &
    pids+=($!)
    vg_failed=0
    for pid in "${pids[@]}"; do wait "$pid" || vg_failed=1; done
    if ((vg_failed)); then
        cat "$tmp"/vg-*.log >&2
        echo "valgrind found errors or definite leaks" >&2
        exit 1
    fi
    echo "valgrind: 0 errors, 0 definitely lost (generate, chat + list, misuse)" >&2
else
    echo "error: valgrind is missing (scripts/setup.sh installs it)" >&2
    exit 1
fi
step "passed"
