#!/usr/bin/env bash
# Benchmarks (`npm run bench`): measure and write docs/benchmarks.md; they never assert speed.
#   scripts/bench.sh                     every bench/*.ts
#   scripts/bench.sh iscsi               only bench/iscsi.ts
#   scripts/bench.sh iscsi -- --seconds 5 --rounds 3   options after -- go to each bench
# Runs alone: the numbers mean nothing while a test suite or build shares the two cores.
set -euo pipefail
cd "$(dirname "$0")/.."

names=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do names+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift

bash scripts/install-system-deps.sh
bash scripts/ensure-node-deps.sh
flock /tmp/lanboot-gyp.lock npm run --silent build:native >/dev/null
make -s -C native tools
flock /tmp/lanboot-tsc.lock npm run --silent build:ts

if [ ${#names[@]} -eq 0 ]; then
  for f in bench/*.ts; do names+=("$(basename "$f" .ts)"); done
fi
for name in "${names[@]}"; do
  if [ ! -f "dist/bench/$name.js" ]; then echo "scripts/bench.sh: no benchmark bench/$name.ts" >&2; exit 1; fi
  echo "== bench/$name.ts" >&2
  node "dist/bench/$name.js" "$@"
done
