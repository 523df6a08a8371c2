#!/usr/bin/env bash
# Registers qemu-user-static as the kernel's interpreter for foreign-architecture ELF binaries
# (binfmt_misc), so that mmdebstrap can run an arm64 root's maintainer scripts on an amd64 host
# and arm64 test binaries run as if native. Idempotent; needs root.
#   image-build/binfmt.sh [ARCH]        (default arm64; a host of that architecture needs nothing)
#
# Debian's qemu-user-static ships the registration lines in /usr/lib/binfmt.d/qemu-*.conf;
# systemd-binfmt.service applies them at boot, but a container or a CI runner without systemd
# as PID 1 never runs it, so this applies the one line itself. Its flags "OPF": F opens the
# interpreter at registration, which is what lets it run inside a chroot that has no qemu
# (binfmt_misc, "F - fix binary").
set -euo pipefail
arch="${1:-arm64}"
case "$arch" in
  arm64) qemu=aarch64 ;;
  amd64) qemu=x86_64 ;;
  *) echo "binfmt.sh: unsupported arch '$arch'" >&2; exit 2 ;;
esac
[ "$arch" = "$(dpkg --print-architecture)" ] && exit 0

dir=/proc/sys/fs/binfmt_misc
if [ ! -e "$dir/register" ]; then
  mount -t binfmt_misc binfmt_misc "$dir"
fi
if [ -e "$dir/qemu-$qemu" ]; then
  grep -q '^enabled' "$dir/qemu-$qemu" && exit 0
  echo 1 > "$dir/qemu-$qemu"
  exit 0
fi
conf="/usr/lib/binfmt.d/qemu-$qemu.conf"
[ -f "$conf" ] || { echo "binfmt.sh: $conf is missing (install qemu-user-static)" >&2; exit 1; }
grep -v '^#' "$conf" | grep . | head -1 > "$dir/register"
grep -q '^enabled' "$dir/qemu-$qemu" || { echo "binfmt.sh: qemu-$qemu did not register" >&2; exit 1; }
