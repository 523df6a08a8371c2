// A failing data disk under the real supervisor: the golden file of one image loses its
// second half while seats run (what a disk that can no longer read those sectors, or a
// tampered file, looks like to the store). Real lanboot serve, real iSCSI sessions:
//   - the seat on that image never gets zeros: its first READ of a lost block ends the
//     connection (the zero-copy Data-In header was already sent), and the READ retried on
//     the next session gets CHECK CONDITION, MEDIUM ERROR / UNRECOVERED READ ERROR
//     (03h/11h/00h); blocks still there read right, from memory;
//   - a write that needs the lost blocks for its copy-up gets MEDIUM ERROR / WRITE ERROR
//     (03h/0Ch/00h) and changes nothing;
//   - the seat on the other image goes on reading and writing;
//   - `lanboot status --json` (the API's status, which the phone shows) carries a
//     DISK_FAULT warning naming the seat; the supervisor keeps running.
// EIO itself (a disk that fails the read) is injected in the C++ tests (native/test:
// scsi_disk_test, /proc/self/mem as the failing file) and the disk-full case (ENOSPC, SPACE
// ALLOCATION FAILED 07h/27h/07h) on a small tmpfs there; see docs/robustness.md.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { IscsiSession, expectGood, WireError } from '../helpers/iscsi-wire.js';
import { addSeat, importImage, type SeatInfo, startLanboot } from '../helpers/supervisor.js';
import { tempDir } from '../helpers/tools.js';

const DISK_BYTES = 8 * 1024 * 1024;
const CUT_AT = 4 * 1024 * 1024;

test('a golden file that loses blocks gives MEDIUM ERROR, never zeros; other seats go on; status shows the fault', { timeout: 180_000 }, async (t) => {
  const work = await tempDir(t, 'lanboot-disk-fault-');
  const images: Record<string, Buffer> = { failing: randomBytes(DISK_BYTES), healthy: randomBytes(DISK_BYTES) };
  const lanboot = await startLanboot(t);
  const seats: Record<string, SeatInfo> = {};
  for (const [name, bytes] of Object.entries(images)) {
    fs.writeFileSync(path.join(work, `${name}.img`), bytes);
    await importImage(lanboot, path.join(work, `${name}.img`), name);
    seats[name] = await addSeat(lanboot, { name: `pc-${name}`, image: name, initiators: [`iqn.2026-11.test.lanboot:${name}`], mode: 'persistent' });
  }
  const open = async (name: string) => {
    const seat = seats[name]!;
    const s = await IscsiSession.open({ host: '127.0.0.1', port: lanboot.iscsiPort, initiatorIqn: `iqn.2026-11.test.lanboot:${name}`, targetIqn: seat.targetIqn, chap: seat.chap ?? undefined, lun: seat.lun, timeoutMs: 15_000 });
    await s.clearUnitAttention();
    return s;
  };
  const lba = (offset: number) => offset / 512;
  const healthy = await open('healthy');
  t.after(() => healthy.destroy());
  let failing = await open('failing');
  t.after(() => failing.destroy());
  const lostOffset = CUT_AT + 512 * 1024;
  const before = expectGood(await failing.read10(lba(lostOffset), 8), 'read before the fault');
  assert.ok(before.data.equals(images['failing']!.subarray(lostOffset, lostOffset + 4096)));

  // The fault: the image's golden file loses everything from 4 MiB on.
  const goldenFile = path.join(lanboot.dataDir, 'images', 'failing', 'v1.img');
  fs.chmodSync(goldenFile, 0o644);
  fs.truncateSync(goldenFile, CUT_AT);

  // First READ of a lost block: zero-copy, so the connection ends (never zeros on the wire).
  await assert.rejects(failing.read10(lba(lostOffset), 8), (e: unknown) => e instanceof WireError && (e.code === 'ISCSI_WIRE_CLOSED' || e.code === 'ISCSI_WIRE_TIMEOUT'), 'the READ of a lost block ends the connection');
  failing.destroy();
  // The initiator logs in again and retries: now sense data.
  failing = await open('failing');
  const retried = await failing.read10(lba(lostOffset), 8);
  assert.equal(retried.status, 0x02, 'CHECK CONDITION');
  assert.deepEqual([retried.senseInfo?.key, retried.senseInfo?.asc, retried.senseInfo?.ascq], [0x03, 0x11, 0x00], 'MEDIUM ERROR / UNRECOVERED READ ERROR');
  // Blocks still there read right; a READ straddling the cut fails as a whole.
  const kept = expectGood(await failing.read10(lba(CUT_AT - 4096), 8), 'read below the cut');
  assert.ok(kept.data.equals(images['failing']!.subarray(CUT_AT - 4096, CUT_AT)));
  const straddling = await failing.read10(lba(CUT_AT - 2048), 8);
  assert.deepEqual([straddling.status, straddling.senseInfo?.key, straddling.senseInfo?.asc], [0x02, 0x03, 0x11]);
  // A 512-byte write into a lost chunk needs the rest of the chunk for its copy-up.
  const partial = await failing.write10(lba(lostOffset + 8192), randomBytes(512));
  assert.deepEqual([partial.status, partial.senseInfo?.key, partial.senseInfo?.asc, partial.senseInfo?.ascq], [0x02, 0x03, 0x0c, 0x00], 'MEDIUM ERROR / WRITE ERROR');
  // A whole 4 KiB chunk needs nothing from golden: the PC can still overwrite lost blocks.
  const fresh = randomBytes(4096);
  expectGood(await failing.write10(lba(lostOffset + 16384), fresh, { fua: true }), 'whole-chunk write over a lost block');
  assert.ok(expectGood(await failing.read10(lba(lostOffset + 16384), 8), 'read it back').data.equals(fresh));

  // The other seat goes on.
  const mine = randomBytes(8192);
  expectGood(await healthy.write10(lba(lostOffset), mine, { fua: true }), 'healthy seat write');
  assert.ok(expectGood(await healthy.read10(lba(lostOffset), 16), 'healthy seat read').data.equals(mine));
  assert.ok(expectGood(await healthy.read10(lba(DISK_BYTES - 65536), 128), 'healthy seat golden read').data.equals(images['healthy']!.subarray(DISK_BYTES - 65536)));

  // The status (CLI = the API's /api/v1/status, which the phone's home page lists).
  const status = await lanboot.cliJson<{ warnings?: { code: string; seat?: string; message: string }[] }>(['status', '--json']);
  const fault = status.warnings?.find((w) => w.code === 'DISK_FAULT');
  assert.equal(fault?.seat, 'pc-failing', JSON.stringify(status.warnings));
  assert.match(fault!.message, /disk fault at .*read.*failed/);
  assert.ok(!status.warnings?.some((w) => w.seat === 'pc-healthy'), 'no warning for the healthy seat');
  assert.match(lanboot.logs(), /"code":"LANBOOT_DISK_FAULT"/);
  process.kill(lanboot.pid, 0); // still running
});
