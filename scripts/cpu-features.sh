#!/usr/bin/env bash
# One line naming this machine's CPU and the SIMD features slm's kernels choose between, for the
# header of every benchmark table (tables from machines with different features must not be
# mixed). Read from /proc/cpuinfo, the same facts slm's kernel dispatch asks the CPU for.
#
#   scripts/cpu-features.sh    e.g. "AMD EPYC (family 25, model 1), 2 CPUs, x86-64: avx avx2 fma f16c; lacks avx512f avx512_vnni avx_vnni"
set -euo pipefail

field() { grep -m1 -E "^$1[[:space:]]*:" /proc/cpuinfo | sed -E 's/^[^:]*:[[:space:]]*//' || true; }

cpus="$(grep -c '^processor' /proc/cpuinfo)"
case "$(uname -m)" in
x86_64 | i?86)
    name="$(field 'model name')"
    have=" $(field flags) "
    wanted=(avx avx2 fma f16c avx512f avx512bw avx512vl avx512_vnni avx_vnni amx_int8)
    id="family $(field 'cpu family'), model $(field model)"
    arch=x86-64
    ;;
aarch64)
    name="$(field 'CPU part')"
    name="CPU part ${name:-unknown} (implementer $(field 'CPU implementer'))"
    have=" $(field Features) "
    wanted=(asimd asimddp i8mm sve sve2 bf16)
    id="variant $(field 'CPU variant')"
    arch=aarch64
    ;;
*)
    echo "$(uname -m), $cpus CPUs: no SIMD features slm uses"
    exit 0
    ;;
esac
present=()
absent=()
for f in "${wanted[@]}"; do
    if [[ "$have" == *" $f "* ]]; then present+=("$f"); else absent+=("$f"); fi
done
line="${name:-unknown CPU} ($id), $cpus CPUs, $arch: ${present[*]:-none}"
((${#absent[@]})) && line+="; lacks ${absent[*]}"
echo "$line"
