// iPXE `sanboot` in qemu (TCG, BIOS) runs the MBR code of a lanboot disk. No real interface:
// qemu user networking (slirp) gives the guest DHCP, and a guestfwd address inside the guest
// leads to lanboot's portal on the host's loopback. iPXE comes from Debian's ipxe package as
// a Linux-kernel-format image (ipxe.lkrn) that SeaBIOS boots with `-kernel`; its script is
// the `-initrd`, which iPXE runs instead of its default autoboot.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { bootSectorPrinting } from '../fixtures/boot-sector.js';
import { type DiskServer, startDiskServer } from '../helpers/disk-server.js';
import { makeGoldenImage } from '../helpers/images.js';
import { type Chap, type IscsiDisk, initiatorOf, ipxeSanUri } from '../helpers/iscsi-disk.js';
import { startVm, type Vm } from '../helpers/qemu.js';
import { type Cleanup, tempDir, waitFor } from '../helpers/tools.js';

const IPXE_LKRN = '/usr/lib/ipxe/ipxe.lkrn';
// The guest is cut off from the host's network (slirp restrict=on); one forwarded address,
// guestfwd (qemu docs, "user mode networking"), leads to lanboot's portal on 127.0.0.1.
const GUEST_PORTAL_ADDRESS = '10.0.2.100';
const GUEST_PORTAL_PORT = 3260;
// Under TCG the whole chain took about a minute on these 2-core machines; be generous.
const BOOT_TIMEOUT_MS = 240_000;
const IMAGE_BYTES = 8 * 1024 * 1024;

test('the boot-sector fixture prints its marker when booted from a local disk', { timeout: 120_000 }, async (t) => {
  // Proves the fixture alone, so a failure of the iSCSI test below is not the fixture's.
  const work = await tempDir(t);
  const marker = `LANBOOT-LOCAL-${crypto.randomBytes(6).toString('hex')}`;
  const diskFile = path.join(work, 'local.img');
  await fsp.writeFile(diskFile, Buffer.concat([bootSectorPrinting(marker), Buffer.alloc(1024 * 1024 - 512)]));
  const vm = startVm(t, ['-drive', `file=${diskFile},format=raw,if=ide`, '-net', 'none']);
  const serial = await vm.waitForSerial(new RegExp(`${marker}\r\n`), 90_000);
  await vm.kill();
  assert.ok(serial.includes(`${marker}\r\n`));
});

test('iPXE sanboot in qemu runs the MBR code of a lanboot disk', { timeout: BOOT_TIMEOUT_MS + 120_000 }, async (t) => {
  const work = await tempDir(t);
  // The marker is unique to this run, so only this disk's boot sector can produce it.
  const { disk, marker } = await bootableSeat(t, work);
  assert.ok(disk.chap, 'the seat has CHAP on');
  const vm = await bootIpxe(t, work, disk, disk.chap);
  const serial = await vm.waitForSerial(new RegExp(`${marker}\r\n`), BOOT_TIMEOUT_MS);
  await vm.kill();
  assert.ok(serial.includes(`${marker}\r\n`), `the boot sector's marker reached COM1; serial:\n${serial.slice(-3000)}`);
});

test('iPXE with a wrong CHAP secret is refused and never runs the disk\'s code', { timeout: 180_000 }, async (t) => {
  const work = await tempDir(t);
  // lanboot only: the refusal is read from lanboot's own log of the login.
  const { disk, marker, server } = await bootableSeat(t, work, 'lanboot');
  const lanboot = server.lanboot!;
  const vm = await bootIpxe(t, work, disk, { user: disk.chap!.user, secret: `${disk.chap!.secret}0` });
  // The engine's event names (src/native/index.ts EngineEvent) as the supervisor logs them.
  await waitFor('lanboot to log the refused login', async () => (/"event":"login-failed"/.test(lanboot.logs()) ? true : undefined), 120_000, 250);
  // iPXE gives up without powering off; give it time to do anything else it might.
  await new Promise((r) => setTimeout(r, 10_000));
  await vm.kill();
  assert.ok(!vm.serial().includes(marker), 'the boot sector ran although CHAP failed');
  assert.doesNotMatch(lanboot.logs(), /"event":"login"/, 'no login succeeded');
});

/** Boots ipxe.lkrn in qemu with a script that sanboots `disk` with the given CHAP secret. */
async function bootIpxe(t: Cleanup, work: string, disk: IscsiDisk, chap: Chap): Promise<Vm> {
  assert.ok(fs.existsSync(IPXE_LKRN), `${IPXE_LKRN} is missing (Debian package ipxe)`);
  // iPXE settings: initiator-iqn, username/password = one-way CHAP (iPXE docs, "iscsi").
  const script = [
    '#!ipxe',
    'dhcp || goto failed',
    `set initiator-iqn ${initiatorOf(disk)}`,
    `set username ${chap.user}`,
    `set password ${chap.secret}`,
    `sanboot ${ipxeSanUri({ ...disk, port: GUEST_PORTAL_PORT }, GUEST_PORTAL_ADDRESS)} || goto failed`,
    // Debian's ipxe.lkrn prints nothing on the serial port: a failure powers the VM off, which
    // ends a wait for the marker at once instead of at the timeout.
    ':failed',
    'poweroff',
    '',
  ].join('\n');
  const scriptFile = path.join(work, `boot-${crypto.randomBytes(4).toString('hex')}.ipxe`);
  await fsp.writeFile(scriptFile, script);
  return startVm(t, [
    '-netdev', `user,id=net0,restrict=on,guestfwd=tcp:${GUEST_PORTAL_ADDRESS}:${GUEST_PORTAL_PORT}-tcp:${disk.host}:${disk.port}`,
    '-device', 'e1000,netdev=net0',
    '-kernel', IPXE_LKRN,
    '-initrd', scriptFile,
  ]);
}

/** A disk whose boot sector prints a marker unique to this run. */
async function bootableSeat(t: Cleanup, work: string, kind?: 'lanboot' | 'tgt'): Promise<{ disk: IscsiDisk; marker: string; server: DiskServer }> {
  const marker = `LANBOOT-MBR-${crypto.randomBytes(6).toString('hex')}`;
  const golden = await makeGoldenImage(work, IMAGE_BYTES, 'lba');
  const fd = await fsp.open(golden.path, 'r+');
  try {
    await fd.write(bootSectorPrinting(marker), 0, 512, 0);
  } finally {
    await fd.close();
  }
  const server = await startDiskServer(t, kind);
  const disk = await server.addDisk({ name: 'pc1', image: 'bootable', goldenPath: golden.path });
  return { disk, marker, server };
}
