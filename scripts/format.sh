#!/usr/bin/env bash
# Formats the Swift sources and tests with the toolchain's swift-format and .swift-format.
#   scripts/format.sh           rewrite the files in place
#   scripts/format.sh --check   change nothing; name the files that are not formatted, exit 1 if any
set -euo pipefail
cd "$(dirname "$0")/.."
command -v swift >/dev/null || export PATH="/opt/swift/usr/bin:$PATH"
mapfile -t files < <(git ls-files 'Sources/*.swift' 'Tests/*.swift' 'Package.swift')
if [[ "${1:-}" != "--check" ]]; then
    swift format format --in-place --parallel --configuration .swift-format "${files[@]}"
    exit 0
fi
# A formatted copy beside the tree, compared file by file.
copy="$(mktemp -d)"
trap 'rm -rf "$copy"' EXIT
tar -cf - "${files[@]}" | tar -xf - -C "$copy"
(cd "$copy" && swift format format --in-place --parallel --configuration "$OLDPWD/.swift-format" "${files[@]}")
unformatted=()
for f in "${files[@]}"; do cmp -s "$f" "$copy/$f" || unformatted+=("$f"); done
if ((${#unformatted[@]})); then
    printf 'format: not formatted (run scripts/format.sh): %s\n' "${unformatted[@]}" >&2
    exit 1
fi
echo "format: ${#files[@]} Swift files as .swift-format lays them out"
