#!/usr/bin/env bash
# Runs `npm install` (which also builds the native addon) when node_modules is missing or
# older than package.json; otherwise does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f node_modules/.package-lock.json ] || [ package.json -nt node_modules/.package-lock.json ] \
   || [ ! -f build/Release/lanboot_native.node ]; then
  npm install --no-audit --no-fund
fi
