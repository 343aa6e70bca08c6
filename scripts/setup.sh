#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks, then configures and builds
# into build/ (Release). Run by run.sh and test.sh; safe to run again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

packages=(
  build-essential cmake ccache
  libtorch-dev libopenblas0-openmp python3-torch
  libyaml-cpp-dev libspdlog-dev libcli11-dev libgtest-dev libbenchmark-dev
  zlib1g-dev libfast-float-dev nlohmann-json3-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >&2
fi

# LibTorch calls the system BLAS; the reference one is about 20x slower.
blas=/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3
if [ -e "$blas" ] && command -v update-alternatives >/dev/null; then
  current=$(update-alternatives --query libblas.so.3-x86_64-linux-gnu 2>/dev/null \
    | awk '/^Value:/ {print $2}')
  if [ "$current" != "$blas" ]; then
    [ "$(id -u)" -eq 0 ] && update-alternatives --set libblas.so.3-x86_64-linux-gnu "$blas" >&2 \
      || echo "setup: warning: BLAS is $current, not OpenBLAS (run as root to switch)" >&2
  fi
fi

jobs=${ADAENSEMBLE_BUILD_JOBS:-$(nproc)}
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >&2
cmake --build build -j"$jobs" >&2
