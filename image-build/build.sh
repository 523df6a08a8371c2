#!/usr/bin/env bash
# Builds the lanboot appliance disk image: a GPT raw image with an EFI system partition
# (systemd-boot, kernel, initramfs) and a read-only squashfs root holding Debian 13 (trixie),
# the overlay/ files and the built lanboot. See docs/appliance.md.
#
#   image-build/build.sh [--arch amd64|arm64] [--out DIR] [--cache DIR] [--mirror URL]
#
# Another architecture than the host's (arm64 on an amd64 machine): mmdebstrap runs the foreign
# root's maintainer scripts through qemu-user-static (image-build/binfmt.sh registers it), and
# the native modules are cross-compiled (image-build/cross-addon.sh, decision 0025). arm64 also
# writes a Raspberry Pi 4/5 image (-rpi.img) from the same root: an MBR disk whose first
# partition holds the Pi firmware (Debian's raspi-firmware) and the kernel.
#
# Needs root (mmdebstrap --mode=root, chroot), mmdebstrap, mksquashfs/unsquashfs, sgdisk,
# mkfs.vfat, mtools. No loop devices: partitions are assembled with dd into the image file.
# Prints the image path on the last line of stdout.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
arch=amd64
out="$repo/image-build/out"
cache=""
mirror="http://deb.debian.org/debian"
suite=trixie

usage() { echo "usage: $0 [--arch amd64|arm64] [--out DIR] [--cache DIR] [--mirror URL]" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch="${2:?}"; shift 2 ;;
    --out) out="${2:?}"; shift 2 ;;
    --cache) cache="${2:?}"; shift 2 ;;
    --mirror) mirror="${2:?}"; shift 2 ;;
    -h|--help) usage ;;
    *) echo "build.sh: unknown argument '$1'" >&2; usage ;;
  esac
done

case "$arch" in
  amd64) kernel_pkg=linux-image-amd64; efi_name=x64; boot_efi=BOOTX64.EFI; console=ttyS0; root_type=8304 ;;
  arm64) kernel_pkg=linux-image-arm64; efi_name=aa64; boot_efi=BOOTAA64.EFI; console=ttyAMA0; root_type=8305 ;;
  *) echo "build.sh: --arch must be amd64 or arm64, got '$arch'" >&2; exit 2 ;;
esac

trap 'echo "build.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
log() { echo "[image-build $(date -u +%H:%M:%S)] $*" >&2; }
die() { echo "build.sh: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (mmdebstrap --mode=root and chroot)"
for tool in mmdebstrap mksquashfs unsquashfs sgdisk sfdisk mkfs.vfat mcopy mmd sha256sum; do
  command -v "$tool" >/dev/null || die "missing tool '$tool' (run scripts/install-system-deps.sh)"
done
[ -f "$repo/dist/src/cli/main.js" ] || die "dist/ is not built: run 'npm run build' first"
[ -f "$repo/build/Release/lanboot_native.node" ] || die "the native addon is not built: run 'npm run build:native' first"
host_arch="$(dpkg --print-architecture)"
if [ "$arch" != "$host_arch" ]; then
  command -v qemu-aarch64-static >/dev/null || die "missing qemu-user-static (run scripts/install-system-deps.sh)"
  bash "$repo/image-build/binfmt.sh" "$arch"
fi

started=$(date +%s)
version="$(git -C "$repo" describe --always --dirty --tags 2>/dev/null || echo unknown)-$(date -u +%Y%m%d%H%M)"
mkdir -p "$out"
work="$(mktemp -d "$out/.work.XXXXXX")"
img=""
rpi_name=""
finished=0
# A failed build leaves neither its work tree nor a half-written image behind.
cleanup() {
  # An interrupted mmdebstrap can leave /proc, /sys, /dev mounted in the root: never delete
  # through a mount.
  local status=$?
  { grep -F " $work/" /proc/mounts || true; } | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf --one-file-system "$work"
  if [ "$finished" != 1 ] && [ -n "$img" ]; then rm -f "$img"; [ -z "$rpi_name" ] || rm -f "$out/$rpi_name"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
root="$work/root"
app="$work/app"

# 1. The application, staged with production dependencies only.
log "staging lanboot $version"
mkdir -p "$app/dist" "$app/build/Release"
cp -a "$repo/dist/src" "$app/dist/src"
cp -a "$repo/package.json" "$repo/package-lock.json" "$app/"
cp -a "$repo/node_modules/." "$app/node_modules"
if [ "$arch" = "$host_arch" ]; then
  cp -a "$repo/build/Release/lanboot_native.node" "$app/build/Release/"
else
  # The host's builds are for the host's CPU: cross-compile both native modules. Kept in the
  # ignored build-<arch>/ so a second image build reuses better-sqlite3's.
  log "cross-compiling the native modules for $arch"
  bash "$repo/image-build/cross-addon.sh" "$arch" "$repo/build-$arch"
  cp "$repo/build-$arch/lanboot_native.node" "$app/build/Release/"
  cp "$repo/build-$arch/better_sqlite3.node" "$app/node_modules/better-sqlite3/build/Release/better_sqlite3.node"
fi
# prune needs no network; --ignore-scripts: nothing may rebuild the host-built modules here.
(cd "$app" && npm prune --omit=dev --ignore-scripts --no-audit --no-fund >/dev/null)
# Build leftovers of better-sqlite3 that are not needed at run time (its sources are ~10 MB).
rm -rf "$app/node_modules/better-sqlite3/deps" "$app/node_modules/better-sqlite3/src" \
  "$app/node_modules/better-sqlite3/build/Release/obj" "$app/node_modules/better-sqlite3/build/Release/.deps" \
  "$app/node_modules/better-sqlite3/build/Release/obj.target" "$app/node_modules/better-sqlite3/build/Release/test_extension.node"
rm -rf "$app/node_modules/node-addon-api"

# 2. The root file system from Debian packages.
packages="$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$repo/image-build/packages.txt" | sed "s/^linux-image-amd64$/$kernel_pkg/" | paste -sd, -)"
hook_args=()
if [ -n "$cache" ]; then
  # Keeps downloaded .debs between builds (mmdebstrap(1), "sync-in"/"sync-out" example).
  mkdir -p "$cache/$arch"
  cache="$(cd "$cache/$arch" && pwd)"
  hook_args+=(--skip=essential/unlink --skip=download/empty
    --setup-hook="mkdir -p \"\$1\"/var/cache/apt/archives/ && cp -a '$cache'/. \"\$1\"/var/cache/apt/archives/ 2>/dev/null || true"
    --customize-hook="cp -a \"\$1\"/var/cache/apt/archives/*.deb '$cache'/ 2>/dev/null || true; rm -f \"\$1\"/var/cache/apt/archives/*.deb")
fi
# arm64: the Raspberry Pi firmware is in non-free-firmware; it is downloaded (not installed:
# its kernel hooks want a mounted /boot/firmware) and unpacked for the -rpi image.
components=main
rpi_hook=()
if [ "$arch" = arm64 ]; then
  components=main,non-free-firmware
  mkdir -p "$work/rpi"
  rpi_hook+=(--customize-hook="chroot \"\$1\" sh -c 'cd /tmp && apt-get download -q raspi-firmware' >&2 && mv \"\$1\"/tmp/raspi-firmware_*.deb '$work/rpi/'")
fi
log "mmdebstrap $suite $arch: $packages"
mmdebstrap --mode=root --variant=apt --arch="$arch" --format=directory \
  --components="$components" \
  --include="$packages" \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/lintian/*' \
  --dpkgopt='path-exclude=/usr/share/bash-completion/*' \
  --dpkgopt='path-exclude=/usr/share/zsh/*' \
  --essential-hook="mkdir -p \"\$1/etc/initramfs-tools/hooks\" && install -m 0755 '$repo/image-build/initramfs-squashfs-hook' \"\$1/etc/initramfs-tools/hooks/lanboot-squashfs\"" \
  "${hook_args[@]}" \
  "${rpi_hook[@]}" \
  --customize-hook="'$repo/image-build/customize.sh' \"\$1\" '$app' '$repo' '$version' '$arch'" \
  "$suite" "$root" "$mirror" >&2

# 3. Boot files out of the tree; the root itself does not need them.
kernel="$(ls "$root"/boot/vmlinuz-* | sort -V | tail -1)"
initrd="$(ls "$root"/boot/initrd.img-* | sort -V | tail -1)"
[ -f "$kernel" ] && [ -f "$initrd" ] || die "no kernel/initramfs in the root"
mkdir -p "$work/boot"
cp "$kernel" "$work/boot/vmlinuz"
cp "$initrd" "$work/boot/initrd.img"
cp "$root/usr/lib/systemd/boot/efi/systemd-boot$efi_name.efi" "$work/boot/$boot_efi"
if [ "$arch" = arm64 ]; then
  # Device trees of the Pi 4/5 family for the -rpi image (from linux-image-arm64).
  mkdir -p "$work/rpi/dtb"
  cp "$(dirname "$(ls -d "$root"/usr/lib/linux-image-*/broadcom | sort -V | tail -1)")"/broadcom/bcm271[12]-*.dtb "$work/rpi/dtb/"
fi
rm -f "$root"/boot/vmlinuz-* "$root"/boot/initrd.img-* "$root"/boot/System.map-* "$root"/boot/config-*
rm -f "$root/vmlinuz" "$root/vmlinuz.old" "$root/initrd.img" "$root/initrd.img.old"

# 4. The read-only root: squashfs, verified.
log "mksquashfs"
sqfs="$work/root.sqfs"
mksquashfs "$root" "$sqfs" -comp zstd -Xcompression-level 19 -b 256K -noappend -quiet -no-progress >&2
mkdir -p "$work/check"
unsquashfs -s "$sqfs" | grep -q 'Compression zstd' || die "squashfs superblock check failed"
for must in usr/bin/node usr/lib/lanboot/app/dist/src/cli/main.js usr/lib/lanboot/app/build/Release/lanboot_native.node etc/lanboot-release usr/lib/systemd/system/lanboot.service etc/lanboot/config.json; do
  unsquashfs -l "$sqfs" "$must" | grep -q "squashfs-root/$must$" || die "squashfs lacks $must"
done
sqfs_sha="$(sha256sum "$sqfs" | cut -d' ' -f1)"

# 5. The disk: GPT, ESP, root slot A. Slot B is not in the image: the first update creates it
# in the free space of the boot disk behind slot A (docs/decisions/0018), which keeps the
# image (what is downloaded and flashed) to one root.
mib=$((1024 * 1024))
sqfs_bytes=$(stat -c %s "$sqfs")
root_mib=$(( (sqfs_bytes + mib - 1) / mib + 16 ))
esp_mib=$(( ( $(stat -c %s "$work/boot/vmlinuz") + $(stat -c %s "$work/boot/initrd.img") ) * 2 / mib + 32 ))
root_a_uuid="$(cat /proc/sys/kernel/random/uuid)"
esp_start=1
root_a_start=$((esp_start + esp_mib))
root_b_start=$((root_a_start + root_mib))
disk_mib=$((root_b_start + 1))

log "ESP ${esp_mib} MiB"
esp="$work/esp.img"
mkfs.vfat -C -F 32 -n LANBOOT-ESP "$esp" $((esp_mib * 1024)) >/dev/null
cmdline="root=PARTUUID=$root_a_uuid rootfstype=squashfs ro console=tty0 console=$console,115200 lanboot.slot=a"
mkdir -p "$work/esp/loader/entries"
cat > "$work/esp/loader/loader.conf" <<EOF
default lanboot-*
timeout 2
editor yes
EOF
cat > "$work/esp/loader/entries/lanboot-a.conf" <<EOF
title lanboot $version (slot A)
version $version
linux /lanboot/a/vmlinuz
initrd /lanboot/a/initrd.img
options $cmdline
EOF
export MTOOLS_SKIP_CHECK=1
mmd -i "$esp" ::/EFI ::/EFI/BOOT ::/loader ::/loader/entries ::/lanboot ::/lanboot/a
mcopy -i "$esp" "$work/boot/$boot_efi" ::/EFI/BOOT/
mcopy -i "$esp" "$work/boot/vmlinuz" "$work/boot/initrd.img" ::/lanboot/a/
mcopy -i "$esp" "$work/esp/loader/loader.conf" ::/loader/
mcopy -i "$esp" "$work/esp/loader/entries/lanboot-a.conf" ::/loader/entries/
echo "$version" > "$work/esp/lanboot-release"
mcopy -i "$esp" "$work/esp/lanboot-release" ::/

name="lanboot-$version-$arch.img"
img="$out/$name"
rm -f "$img"
truncate -s "${disk_mib}M" "$img"
sgdisk --clear \
  -n 1:${esp_start}M:+${esp_mib}M -t 1:ef00 -c 1:lanboot-esp \
  -n 2:${root_a_start}M:+${root_mib}M -t 2:$root_type -c 2:lanboot-root-a -u 2:"$root_a_uuid" \
  "$img" >/dev/null
dd if="$esp" of="$img" bs=1M seek=$esp_start conv=notrunc,sparse status=none
dd if="$sqfs" of="$img" bs=1M seek=$root_a_start conv=notrunc,sparse status=none
sgdisk --verify "$img" | grep -q 'No problems found' || die "GPT verification failed"

# Read back: the partition holds exactly the verified squashfs.
back_sha="$(dd if="$img" bs=1M skip=$((root_a_start * mib)) count="$sqfs_bytes" iflag=skip_bytes,count_bytes status=none | sha256sum | cut -d' ' -f1)"
[ "$back_sha" = "$sqfs_sha" ] || die "root partition read-back differs from the squashfs"

# 6. arm64: the Raspberry Pi 4/5 image. The Pi boot ROM/EEPROM reads the first FAT partition of
# an MBR disk (GPT works on newer EEPROMs, MBR on all): the firmware (start4.elf/fixup4.dat on a
# Pi 4; a Pi 5 keeps it in its EEPROM), the device trees, config.txt, cmdline.txt and the
# kernel + initramfs, which the firmware loads itself (no UEFI, no systemd-boot).
if [ "$arch" = arm64 ]; then
  log "Raspberry Pi image"
  deb="$(ls "$work"/rpi/raspi-firmware_*.deb | head -1)"
  dpkg-deb -x "$deb" "$work/rpi/pkg"
  fw="$work/rpi/pkg/usr/lib/raspi-firmware"
  rpi_fat="$work/rpi/firmware.img"
  fw_bytes=$(du -cb "$fw"/start4*.elf "$fw"/fixup4*.dat "$work"/rpi/dtb/*.dtb "$work/boot/vmlinuz" "$work/boot/initrd.img" | tail -1 | cut -f1)
  fw_mib=$(( fw_bytes * 2 / mib + 32 ))
  disk_id="$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"
  mkfs.vfat -C -F 32 -n RASPIFIRM "$rpi_fat" $((fw_mib * 1024)) >/dev/null
  {
    echo "# lanboot $version for Raspberry Pi 4 / 400 / CM4 and Pi 5 (docs/appliance.md \"Raspberry Pi\")."
    echo "[all]"
    echo "arm_64bit=1"
    echo "# Debian's kernel and device trees are upstream Linux's, not the Raspberry Pi fork's."
    echo "upstream_kernel=1"
    echo "kernel=vmlinuz"
    echo "initramfs initrd.img followkernel"
    echo "# The serial console on GPIO 14/15 (ttyS1 on a Pi 4; a Pi 5's debug connector is ttyAMA10)."
    echo "enable_uart=1"
    echo "disable_overscan=1"
  } > "$work/rpi/config.txt"
  echo "root=PARTUUID=$disk_id-02 rootfstype=squashfs ro console=tty0 console=ttyS1,115200 lanboot.slot=a" > "$work/rpi/cmdline.txt"
  mcopy -i "$rpi_fat" "$fw"/start4*.elf "$fw"/fixup4*.dat "$work"/rpi/dtb/*.dtb "$work/rpi/config.txt" "$work/rpi/cmdline.txt" \
    "$work/boot/vmlinuz" "$work/boot/initrd.img" "$work/esp/lanboot-release" ::/
  for f in "$fw"/LICENCE*; do [ -f "$f" ] && mcopy -i "$rpi_fat" "$f" ::/; done
  rpi_name="lanboot-$version-arm64-rpi.img"
  rpi_img="$out/$rpi_name"
  rpi_root_start=$((1 + fw_mib))
  truncate -s "$(( rpi_root_start + root_mib + 1 ))M" "$rpi_img"
  # Type c = FAT32 (LBA), flagged bootable for firmwares that look for it; 83 = Linux.
  printf 'label: dos\nlabel-id: 0x%s\nstart=1MiB, size=%sMiB, type=c, bootable\nstart=%sMiB, size=%sMiB, type=83\n' \
    "$disk_id" "$fw_mib" "$rpi_root_start" "$root_mib" | sfdisk -q "$rpi_img"
  dd if="$rpi_fat" of="$rpi_img" bs=1M seek=1 conv=notrunc,sparse status=none
  dd if="$sqfs" of="$rpi_img" bs=1M seek=$rpi_root_start conv=notrunc,sparse status=none
  back_sha="$(dd if="$rpi_img" bs=1M skip=$((rpi_root_start * mib)) count="$sqfs_bytes" iflag=skip_bytes,count_bytes status=none | sha256sum | cut -d' ' -f1)"
  [ "$back_sha" = "$sqfs_sha" ] || die "Pi root partition read-back differs from the squashfs"
fi

img_sha="$(sha256sum "$img" | cut -d' ' -f1)"
elapsed=$(( $(date +%s) - started ))
cat > "$img.json" <<EOF
{
  "version": "$version",
  "arch": "$arch",
  "image": "$name",
  "imageBytes": $(stat -c %s "$img"),
  "imageAllocatedBytes": $(( $(stat -c %b "$img") * $(stat -c %B "$img") )),
  "imageSha256": "$img_sha",
  "squashfsBytes": $sqfs_bytes,
  "squashfsSha256": "$sqfs_sha",
  "espMiB": $esp_mib,
  "rootSlotMiB": $root_mib,
  "rootPartuuidA": "$root_a_uuid",
  "kernelCmdline": "$cmdline",
  "rpiImage": "$rpi_name",
  "buildSeconds": $elapsed
}
EOF
finished=1
ln -sf "$name" "$out/lanboot-latest-$arch.img"
ln -sf "$name.json" "$out/lanboot-latest-$arch.img.json"
[ -z "$rpi_name" ] || ln -sf "$rpi_name" "$out/lanboot-latest-arm64-rpi.img"
log "built $img ($(du -h --apparent-size "$img" | cut -f1), squashfs $((sqfs_bytes / mib)) MiB) in ${elapsed}s"
echo "$img"
