#!/usr/bin/env bash
# The whole test suite: what `npm test` and .ci/run run.
#   scripts/test.sh                 everything (native C++ tests, fuzz smoke, all node:test files)
#   scripts/test.sh test/unit ...   only the node:test files under these paths (no native tests)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-system-deps.sh
bash scripts/ensure-node-deps.sh
npm run --silent build

if [ $# -eq 0 ]; then
  make -s -j"$(nproc)" -C native test
  make -s -j"$(nproc)" -C native fuzz-smoke FUZZ_RUNS="${LANBOOT_FUZZ_RUNS:-20000}"
  # The arm64 addon + better-sqlite3 cross-built as the image build does it. The native tests
  # as arm64 binaries under qemu-user take too long for this run on two cores (some hang under
  # qemu-user): `npm run test:native-arm64`.
  if [ "$(dpkg --print-architecture)" != arm64 ]; then
    bash image-build/cross-addon.sh arm64 build-arm64
  fi
  set -- test/unit test/integration test/conformance test/e2e
fi

files=()
for p in "$@"; do
  p="${p%/}"
  p="${p%.ts}"
  if [ -d "dist/$p" ]; then
    while IFS= read -r f; do files+=("$f"); done < <(find "dist/$p" -name '*.test.js' | sort)
  elif [ -f "dist/$p.js" ]; then
    files+=("dist/$p.js")
  else
    echo "scripts/test.sh: no tests at $p" >&2
    exit 1
  fi
done

# One test file at a time: VM and network tests share the machine's two cores.
exec node --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
