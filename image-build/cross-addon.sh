#!/usr/bin/env bash
# Builds lanboot's native addon and better-sqlite3 for another CPU architecture with a cross
# compiler (decision 0025): g++-aarch64-linux-gnu against the Node headers the host build
# uses (node-gyp's nodedir). The host's own build/ is never touched.
#   image-build/cross-addon.sh ARCH OUT_DIR
# Writes OUT_DIR/lanboot_native.node and OUT_DIR/better_sqlite3.node. better-sqlite3 takes
# most of the time (the SQLite amalgamation); its result is kept in OUT_DIR/cache keyed by its
# version, so a second run only rebuilds lanboot's own sources.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
arch="${1:?usage: cross-addon.sh ARCH OUT_DIR}"
out="${2:?usage: cross-addon.sh ARCH OUT_DIR}"
case "$arch" in
  arm64) triplet=aarch64-linux-gnu; gyp_arch=arm64 ;;
  amd64) triplet=x86_64-linux-gnu; gyp_arch=x64 ;;
  *) echo "cross-addon.sh: unsupported arch '$arch'" >&2; exit 2 ;;
esac
log() { echo "[cross-addon $(date -u +%H:%M:%S)] $*" >&2; }
command -v "$triplet-g++" >/dev/null || { echo "cross-addon.sh: missing $triplet-g++ (run scripts/install-system-deps.sh)" >&2; exit 1; }

npm_dir="$(dirname "$(readlink -f "$(command -v npm)")")/.."
node_gyp="$npm_dir/node_modules/node-gyp/bin/node-gyp.js"
[ -f "$node_gyp" ] || { echo "cross-addon.sh: node-gyp not found beside npm ($node_gyp)" >&2; exit 1; }
# The headers the host build was configured with (build/config.gypi "nodedir"); node-gyp
# would otherwise download them.
nodedir="$(sed -n 's/.*"nodedir": "\(.*\)",*/\1/p' "$repo/build/config.gypi" 2>/dev/null | head -1)"
[ -n "$nodedir" ] || nodedir="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"
[ -f "$nodedir/include/node/node_api.h" ] || { echo "cross-addon.sh: no Node headers under $nodedir/include/node" >&2; exit 1; }

mkdir -p "$out"
out="$(cd "$out" && pwd)"
export CC="$triplet-gcc" CXX="$triplet-g++" LINK="$triplet-g++" AR="$triplet-ar"
export CC_host=gcc CXX_host=g++ LINK_host=g++ AR_host=ar
gyp_args=(--release --arch="$gyp_arch" --nodedir="$nodedir")

# better-sqlite3, from a copy of its package (the host's node_modules keeps its host build).
sqlite_version="$(node -p "require('$repo/node_modules/better-sqlite3/package.json').version")"
cached="$out/cache/better_sqlite3-$sqlite_version-$arch-$(node -p process.versions.modules).node"
if [ -f "$cached" ]; then
  log "better-sqlite3 $sqlite_version for $arch: cached"
else
  log "better-sqlite3 $sqlite_version for $arch: building"
  src="$(mktemp -d "$out/.sqlite.XXXXXX")"
  trap 'rm -rf "$src"' EXIT
  cp -a "$repo/node_modules/better-sqlite3/." "$src/"
  rm -rf "$src/build"
  (cd "$src" && node "$node_gyp" rebuild "${gyp_args[@]}" --jobs="$(nproc)" >&2)
  mkdir -p "$out/cache"
  cp "$src/build/Release/better_sqlite3.node" "$cached.tmp" && mv "$cached.tmp" "$cached"
  rm -rf "$src"
  trap - EXIT
fi
cp "$cached" "$out/better_sqlite3.node"

log "lanboot_native for $arch: building"
src="$out/addon-src"
mkdir -p "$src"
cp "$repo/binding.gyp" "$src/"
# Sources copied with their times (cp -a), and configure + build rather than rebuild: make
# recompiles only what changed since the last cross build.
rm -rf "$src/native" && mkdir -p "$src/native" && cp -a "$repo/native/src" "$src/native/src"
ln -sfn "$repo/node_modules" "$src/node_modules"
(cd "$src" && node "$node_gyp" configure "${gyp_args[@]}" >&2 && node "$node_gyp" build "${gyp_args[@]}" --jobs="$(nproc)" >&2)
cp "$src/build/Release/lanboot_native.node" "$out/lanboot_native.node"

for f in "$out/lanboot_native.node" "$out/better_sqlite3.node"; do
  file -b "$f" | grep -q "$( [ "$arch" = arm64 ] && echo aarch64 || echo x86-64)" \
    || { echo "cross-addon.sh: $f is not an $arch binary: $(file -b "$f")" >&2; exit 1; }
done
log "built $out/lanboot_native.node and $out/better_sqlite3.node"
