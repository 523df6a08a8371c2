#!/usr/bin/env bash
# Installs the Debian packages lanboot's build and test suite need, only when one is missing.
# Idempotent: a machine that has them all runs no apt-get at all.
set -euo pipefail

packages=(
  # native addon build and fuzzers; libcrypto headers + library for the standalone C++ tests
  # and fuzzers (the addon itself uses the libcrypto of the Node process that loads it)
  build-essential python3 clang libclang-rt-14-dev libssl-dev
  # iSCSI peers: initiator tools + conformance suite, and tgt as the benchmark peer
  libiscsi-bin tgt
  # the boot-storm benchmark's replay client (native/tools/boot_replay.cc, `make -C native tools`)
  libiscsi-dev
  # VM tests: qemu with iPXE ROMs, OVMF for UEFI, qemu-img/qemu-io with iscsi://
  qemu-system-x86 qemu-utils qemu-block-extra ipxe ovmf
  # network tests: namespaces, a "home router" DHCP, DHCP/TFTP clients
  iproute2 dnsmasq-base busybox isc-dhcp-client tftp-hpa atftp curl avahi-utils
  # diskless-Linux boot disk for the VM tests (test/fixtures/linux-disk): syslinux + mtools
  # make the BIOS-bootable FAT disk without loop devices; the e1000 iPXE ROM qemu loads
  syslinux syslinux-common mtools ipxe-qemu xz-utils memtest86+ xorriso isolinux
  # ... and the host libraries open-iscsi's iscsistart needs, copied into its initramfs
  libssl3 libkmod2
  # ISO-over-HTTP benchmark peer (bench/iso-http.ts runs it as a child, never as a service)
  nginx
  # misc tools used by tests and benchmarks
  procps psmisc util-linux e2fsprogs cpio
  # image import (src/storage): mount for USB sticks, openssl dgst hashes versions read back
  mount openssl
  # web UI browser tests (playwright-core drives Debian's Chromium)
  chromium
  # appliance image (image-build/): Debian rootfs, read-only root filesystem, disk layout
  mmdebstrap squashfs-tools erofs-utils dosfstools fdisk gdisk
  # ... trixie's archive key for mmdebstrap, and the FAT tools that fill the ESP without loop devices
  debian-archive-keyring mtools
  # arm64 image from any machine (docs/decisions/0025): qemu-user-static + binfmt for the foreign
  # root, the cross compiler for the native modules, qemu-system-aarch64 + UEFI to boot it
  qemu-user-static arch-test qemu-system-arm qemu-efi-aarch64 file
)
# On another architecture than arm64: the cross compiler and the arm64 libcrypto the native
# tests link (multiarch, `dpkg --add-architecture arm64`), run under qemu-user.
host_arch="$(dpkg --print-architecture)"
if [ "$host_arch" != arm64 ]; then
  packages+=(g++-aarch64-linux-gnu libssl-dev:arm64)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "lanboot: missing Debian packages: ${missing[*]} (run this script as root to install them)" >&2
  exit 1
fi

echo "lanboot: installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if [ "$host_arch" != arm64 ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
  dpkg --add-architecture arm64
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
