#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds, and runs every test with ctest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
cd build
ctest --output-on-failure -j"${ADAENSEMBLE_TEST_JOBS:-2}" "$@"
