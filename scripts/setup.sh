#!/usr/bin/env bash
# Installs what slm needs on a Debian machine and fetches the default model into the cache.
# Safe to run again: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v python3 >/dev/null || need_apt+=(python3)
python3 -m pip --version >/dev/null 2>&1 || need_apt+=(python3-pip)
command -v cc >/dev/null || need_apt+=(gcc)
command -v make >/dev/null || need_apt+=(make)
# Later issues add libuv1-dev and libsqlite3-dev here; check with dpkg so reruns stay offline.
for pkg in pkg-config; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if ((${#need_apt[@]})); then
    echo "installing Debian packages: ${need_apt[*]}" >&2
    SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >&2
fi

if ! command -v swift >/dev/null; then
    for candidate in /opt/swift/usr/bin /usr/share/swift/usr/bin; do
        [[ -x "$candidate/swift" ]] && export PATH="$candidate:$PATH" && break
    done
fi
if ! command -v swift >/dev/null; then
    echo "error: the Swift 6.3 toolchain is not installed (https://www.swift.org/install/linux/debian/)." >&2
    exit 1
fi

scripts/fetch-model.sh >/dev/null
