#!/usr/bin/env bash
# Checks libslm's ABI promise: the functions declared in include/slm.h, the committed list
# include/slm.symbols and what libslm.so / libslm.a export are the same set, and the list never
# changes within one SLM_ABI_VERSION (compared with every committed version of it in git).
# Usage: scripts/check-abi.sh [DIR with libslm.so and libslm.a]   (default .build/libslm)
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-.build/libslm}"
fail=0
err() { echo "check-abi: $*" >&2; fail=1; }

abi="$(sed -nE 's/^#define SLM_ABI_VERSION ([0-9]+).*/\1/p' include/slm.h)"
listed_abi="$(sed -nE 's/^abi ([0-9]+)$/\1/p' include/slm.symbols)"
[[ "$abi" == "$listed_abi" ]] || err "include/slm.symbols is for ABI $listed_abi but slm.h says SLM_ABI_VERSION $abi"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
grep -E '^slm_' include/slm.symbols | sort >"$tmp/listed"
# Declarations: lines of code (not the comment with the usage example) naming slm_xxx(.
grep -vE '^\s*(\*|/\*)' include/slm.h | grep -oE '\bslm_[a-z0-9_]+\(' | tr -d '(' | sort -u >"$tmp/declared"
diff -u "$tmp/declared" "$tmp/listed" >"$tmp/d1" || err "slm.h declarations (-) differ from include/slm.symbols (+):$(printf '\n')$(cat "$tmp/d1")"

nm -D --defined-only "$dir/libslm.so" | awk '{print $3}' | sed 's/@.*//' | sort -u >"$tmp/shared"
diff -u "$tmp/listed" "$tmp/shared" >"$tmp/d2" || err "libslm.so exports (+) differ from include/slm.symbols (-):$(printf '\n')$(cat "$tmp/d2")"
nm -g --defined-only "$dir/libslm.a" 2>/dev/null | awk 'NF == 3 {print $3}' | sort -u >"$tmp/static"
diff -u "$tmp/listed" "$tmp/static" >"$tmp/d3" || err "libslm.a globals (+) differ from include/slm.symbols (-):$(printf '\n')$(cat "$tmp/d3")"

# History: every committed list that says the same ABI version must hold the same symbols.
if git rev-parse --git-dir >/dev/null 2>&1; then
    for commit in $(git log --format=%H -- include/slm.symbols); do
        old="$(git show "$commit:include/slm.symbols" 2>/dev/null)" || continue
        [[ "$(sed -nE 's/^abi ([0-9]+)$/\1/p' <<<"$old")" == "$abi" ]] || continue
        if ! diff -q <(grep -E '^slm_' <<<"$old" | sort) "$tmp/listed" >/dev/null; then
            err "include/slm.symbols changed since commit ${commit:0:10} without an ABI version bump (SLM_ABI_VERSION is still $abi)"
        fi
    done
fi

if ((fail)); then exit 1; fi
echo "check-abi: ABI $abi, $(wc -l <"$tmp/listed") symbols; libslm.so and libslm.a export exactly them"
