#!/usr/bin/env bash
# Builds libslm into $OUT (default .build/libslm): libslm.so.1 (+ libslm.so link), libslm.a, slm.pc.
#
# libslm.so: SwiftPM's dynamic product SLMCABI, linked with the Swift runtime inside
# (-static-stdlib, set in Package.swift) and a version script made from include/slm.symbols, so it
# exports the slm_ functions and nothing else.
# libslm.a: SwiftPM's static product holds only our objects, and a C program would need the
# toolchain's static runtime archives to link it. Instead its objects, swiftrt.o (which registers
# the Swift metadata sections) and the runtime archive members they need are pre-linked into one
# relocatable object whose only global symbols are the slm_ functions: the archive is
# self-contained and links with system libraries only (slm.pc's Libs.private: sqlite3, libstdc++…).
#
# Env: SWIFT_FLAGS (extra `swift build` flags, e.g. "-Xswiftc -enable-testing" to share the test
# build), OUT, PREFIX (written into slm.pc; default /usr/local).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
OUT="${OUT:-.build/libslm}"
PREFIX="${PREFIX:-/usr/local}"
read -r -a flags <<<"${SWIFT_FLAGS:-}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

abi="$(sed -nE 's/^#define SLM_ABI_VERSION ([0-9]+).*/\1/p' include/slm.h)"
version="$(sed -nE 's/.*static let string = "([^"]+)".*/\1/p' Sources/SLMCore/Version.swift)"
symbols="$OUT/symbols.txt"
grep -E '^slm_' include/slm.symbols >"$symbols"
{
    echo "{"
    echo "  global:"
    sed 's/.*/    &;/' "$symbols"
    echo "  local: *;"
    echo "};"
} >"$OUT/slm.map"

swift build -c release "${flags[@]}" --product SLMCABI \
    -Xlinker "--version-script=$OUT/slm.map" -Xlinker "-soname=libslm.so.$abi"
swift build -c release "${flags[@]}" --product SLMCABIStatic
bin="$(swift build -c release "${flags[@]}" --show-bin-path)"

# Installed without debug info (valgrind 3.19 and other older tools cannot read clang's DWARF 5;
# boards want the smaller file); the unstripped twins stay in $OUT/debug for debugging.
mkdir -p "$OUT/debug"
cp "$bin/libSLMCABI.so" "$OUT/debug/libslm.so.$abi"
objcopy --strip-debug "$OUT/debug/libslm.so.$abi" "$OUT/libslm.so.$abi"
ln -sf "libslm.so.$abi" "$OUT/libslm.so"

# The static archive: one pre-linked object.
toolchain_lib="$(dirname "$(dirname "$(command -v swift)")")/lib/swift_static/linux"
arch="$(uname -m)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && ar x "$bin/libSLMCABIStatic.a")
# The runtime libraries the objects ask for (Swift records them as autolink entries).
read -r -a runtime <<<"$(swift-autolink-extract "$work"/*.o -o - | sort -u | tr '\n' ' ')"
archives=()
system=()
for lib in "${runtime[@]}" -ldispatch -lBlocksRuntime; do
    name="${lib#-l}"
    if [[ -f "$toolchain_lib/lib$name.a" ]]; then archives+=("$toolchain_lib/lib$name.a"); else system+=("$lib"); fi
done
ld -r -o "$work/slm.o" "$work"/*.o "$toolchain_lib/$arch/swiftrt.o" --start-group "${archives[@]}" --end-group
objcopy --keep-global-symbols="$symbols" "$work/slm.o" "$work/libslm.o"
rm -f "$OUT/libslm.a" "$OUT/debug/libslm.a"
ar rcs "$OUT/debug/libslm.a" "$work/libslm.o"
objcopy --strip-debug "$work/libslm.o"
ar rcs "$OUT/libslm.a" "$work/libslm.o"
echo "libslm.a: runtime archives folded in: ${archives[*]##*/}; system libraries left: ${system[*]:-none}" >&2

# libstdc++: the Swift runtime is C++ (the toolchain's static-stdlib-args.lnk adds it the same way).
libs_private="$(printf '%s\n' "${system[@]}" -lstdc++ -lm -ldl -lpthread | awk '!seen[$0]++' | tr '\n' ' ')"
sed -e "s|@PREFIX@|$PREFIX|" -e "s|@VERSION@|$version|" -e "s|@LIBS_PRIVATE@|${libs_private% }|" include/slm.pc.in >"$OUT/slm.pc"
ls -l "$OUT"/libslm.so.* "$OUT"/libslm.a >&2
