#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need (idempotent; uses sudo when not root).
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
pkgs=(build-essential cmake ninja-build pkg-config nlohmann-json3-dev libcpp-httplib-dev libpcre2-dev
      libutf8proc-dev libhwy-dev libgtest-dev libgmock-dev ccache
      clang libclang-rt-dev llvm)  # the sanitizer + libFuzzer build (.ci/run); llvm: llvm-symbolizer
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
# Server tests drive the server with the official npm clients and headless Chromium. A machine may have
# Node.js from another source already; only install Debian's when the commands are missing.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
