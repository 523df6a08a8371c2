#!/usr/bin/env bash
# mmdebstrap --customize-hook of image-build/build.sh: lays overlay/ and the staged lanboot onto
# the Debian root, sets the read-only-root specifics and strips what the box does not need.
#   customize.sh ROOT APP_STAGING REPO VERSION ARCH
set -euo pipefail
root="$1" app="$2" repo="$3" version="$4" arch="$5"
log() { echo "[image-build customize] $*" >&2; }
in_root() { chroot "$root" "$@"; }

log "overlay and lanboot"
cp -a --no-preserve=ownership "$repo/overlay/." "$root/"
mkdir -p "$root/usr/lib/lanboot"
cp -a --no-preserve=ownership "$app" "$root/usr/lib/lanboot/app"
# /usr/bin/lanboot (the CLI, from overlay/) finds the data dir through /etc/lanboot/config.json.
chmod 0755 "$root/usr/bin/lanboot"
find "$root/usr/libexec/lanboot" -type f -exec chmod 0755 {} +
[ -d "$root/usr/lib/lanboot/bin" ] && find "$root/usr/lib/lanboot/bin" -type f -exec chmod 0755 {} +

cat > "$root/etc/lanboot-release" <<EOF
LANBOOT_VERSION=$version
LANBOOT_ARCH=$arch
DEBIAN_SUITE=trixie
EOF

if [ "$arch" = arm64 ]; then
  # arm64 machines have one PL011 UART for the system console (qemu's virt machine has no
  # second one): the owner-requested root shell goes to the first virtio console instead, and
  # systemd's getty generator must not put a login prompt on that same port.
  sed -i 's|/dev/ttyS1|/dev/hvc0|; s|on ttyS1|on hvc0|' "$root/usr/lib/systemd/system/lanboot-root-console.service"
  ln -sf /dev/null "$root/etc/systemd/system/serial-getty@hvc0.service"
fi

log "system identity and read-only root"
echo lanboot > "$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tlanboot lanboot.local\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$root/etc/hosts"
# Empty machine-id on a read-only /etc: systemd generates one per boot and mounts it over
# the file (machine-id(5), "read-only root"). The data disk keeps lanboot's own identity.
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
ln -sf /usr/share/zoneinfo/Etc/UTC "$root/etc/localtime"
echo Etc/UTC > "$root/etc/timezone"
cat > "$root/etc/fstab" <<'EOF'
# The root is a read-only squashfs (kernel cmdline: root=PARTUUID=... rootfstype=squashfs ro).
# Everything that must be writable is RAM, except /var/lib/lanboot (the data disk, mounted by
# lanboot-data.service).
tmpfs /tmp              tmpfs mode=1777,nosuid,nodev,size=25%  0 0
tmpfs /var/tmp          tmpfs mode=1777,nosuid,nodev,size=10%  0 0
tmpfs /var/log          tmpfs mode=0755,nosuid,nodev,size=64m  0 0
tmpfs /var/cache        tmpfs mode=0755,nosuid,nodev,size=64m  0 0
tmpfs /var/lib/systemd  tmpfs mode=0755,nosuid,nodev,size=16m  0 0
tmpfs /var/lib/private  tmpfs mode=0700,nosuid,nodev,size=16m  0 0
EOF
mkdir -p "$root/var/lib/lanboot" "$root/var/lib/private"


log "units"
in_root systemctl enable systemd-networkd.service lanboot-data.service lanboot.service lanboot-banner.service >&2
in_root systemctl enable lanboot-root-console.service >&2
in_root systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer >&2 2>/dev/null || true
# The root account has no password: the only root shell is the one the owner asks for at the
# console (lanboot-root-console.service, docs/appliance.md).
in_root passwd -l root >/dev/null

# On another architecture than the host's, chroot runs the image's arm64 node through
# qemu-user (binfmt_misc, image-build/binfmt.sh): the cross-compiled modules are loaded by the
# very node binary the box runs.
log "checking that the native modules load under the image's node ($arch)"
in_root /usr/bin/node -e "
  const m = require('/usr/lib/lanboot/app/build/Release/lanboot_native.node');
  const Database = require('/usr/lib/lanboot/app/node_modules/better-sqlite3');
  const db = new Database(':memory:');
  const v = db.prepare('select sqlite_version() as v').get().v;
  console.error('node', process.version, process.arch, 'abi', process.versions.modules, 'addon exports', Object.keys(m).length, 'sqlite', v);
" >&2
in_root /usr/bin/node /usr/lib/lanboot/app/dist/src/cli/main.js --version >&2 || in_root /usr/bin/node /usr/lib/lanboot/app/dist/src/cli/main.js help >/dev/null

log "stripping"
# Kernel modules a LAN appliance does not use (it keeps network, storage, USB, filesystems).
for kdir in "$root"/usr/lib/modules/*; do
  [ -d "$kdir/kernel" ] || continue
  rm -rf "$kdir/kernel/drivers/gpu" "$kdir/kernel/sound" "$kdir/kernel/drivers/net/wireless" \
    "$kdir/kernel/net/wireless" "$kdir/kernel/net/mac80211" "$kdir/kernel/net/bluetooth" \
    "$kdir/kernel/drivers/bluetooth" "$kdir/kernel/drivers/media" "$kdir/kernel/drivers/infiniband" \
    "$kdir/kernel/drivers/staging" "$kdir/kernel/drivers/isdn" "$kdir/kernel/drivers/iio" \
    "$kdir/kernel/drivers/input/joystick" "$kdir/kernel/drivers/input/touchscreen" \
    "$kdir/kernel/drivers/hid/amd-sfh-hid" "$kdir/kernel/drivers/comedi" "$kdir/kernel/net/mac802154" \
    "$kdir/kernel/drivers/net/can" "$kdir/kernel/drivers/net/ieee802154" "$kdir/kernel/drivers/mtd"
  in_root depmod -a "$(basename "$kdir")"
done
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/debconf/*-old \
  "$root"/var/log/* "$root"/usr/share/doc-base "$root"/usr/share/icons "$root"/usr/share/X11/locale
find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'locale.alias' -exec rm -rf {} + 2>/dev/null || true
