#!/usr/bin/env bash
# Installs the Debian packages named on the command line that dpkg does not list as installed
# (so reruns stay offline); sudo when not root. Used by scripts/setup.sh and the test scripts.
set -euo pipefail
missing=()
for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
((${#missing[@]})) || exit 0
echo "installing Debian packages: ${missing[*]}" >&2
SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >&2
