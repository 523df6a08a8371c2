#!/usr/bin/env bash
# `npm start`: installs and builds when needed, then runs `lanboot serve` on its embedded
# default (SQLite + ./lanboot-data, no DHCP on any interface). Extra arguments go to serve.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-node-deps.sh
npm run --silent build
exec node dist/src/cli/main.js serve "$@"
