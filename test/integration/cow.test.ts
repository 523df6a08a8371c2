// Copy-on-write seen from real initiators: two seats on
// one golden image see their own writes only; the golden file never changes (sha256 before and
// after); `lanboot client reset` brings the golden data back. lanboot only: tgt has no CoW.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { test } from 'node:test';
import { startDiskServer } from '../helpers/disk-server.js';
import { diskFromSeat } from '../helpers/iscsi-disk.js';
import { type SeatInfo } from '../helpers/supervisor.js';
import { findCopiesOf, makeGoldenImage, sha256File } from '../helpers/images.js';
import { assertSameDisk, goldenContent, qemuIo, readWholeDisk } from '../helpers/qemu-block.js';
import { describeRun, requireTools, runTool, tempDir } from '../helpers/tools.js';

const IMAGE_BYTES = 8 * 1024 * 1024;

test('two seats on one golden image see their own writes only; reset restores golden', { timeout: 600_000 }, async (t) => {
  requireTools('qemu-img', 'qemu-io');
  const work = await tempDir(t);
  const golden = await makeGoldenImage(work, IMAGE_BYTES, 'lba');
  const server = await startDiskServer(t, 'lanboot');
  const lanboot = server.lanboot!;
  const seatA = await server.addDisk({ name: 'seat-a', image: 'shared', goldenPath: golden.path, mode: 'persistent' });
  const seatB = await server.addDisk({ name: 'seat-b', image: 'shared', goldenPath: golden.path, mode: 'persistent' });
  assert.notEqual(seatA.targetIqn, seatB.targetIqn, 'each seat has its own target');

  // The golden version lanboot serves: the imported file itself, or its copy in the data dir.
  const storedGolden = await findCopiesOf(lanboot.dataDir, golden);
  const goldenFiles = [golden.path, ...storedGolden];
  t.diagnostic(`golden files watched: ${goldenFiles.join(', ')}`);
  const goldenStat = await Promise.all(storedGolden.map((f) => fsp.stat(f)));

  // Both seats write the same region (and A a partial block); B also writes elsewhere.
  const shared = { offset: 1024 * 1024, length: 64 * 1024 };
  await qemuIo(seatA, [`write -P 0xaa ${shared.offset} ${shared.length}`, 'write -P 0x11 700 100', 'flush']);
  await qemuIo(seatB, [`write -P 0xbb ${shared.offset} ${shared.length}`, `write -P 0xbc ${IMAGE_BYTES - 8192} 8192`, 'flush']);

  const expectA = goldenContent(golden);
  expectA.fill(0xaa, shared.offset, shared.offset + shared.length);
  expectA.fill(0x11, 700, 800);
  const expectB = goldenContent(golden);
  expectB.fill(0xbb, shared.offset, shared.offset + shared.length);
  expectB.fill(0xbc, IMAGE_BYTES - 8192, IMAGE_BYTES);

  await t.test('each seat reads its own writes and golden data elsewhere', async () => {
    assertSameDisk(await readWholeDisk(seatA, work), expectA, 'seat A');
    assertSameDisk(await readWholeDisk(seatB, work), expectB, 'seat B');
  });

  await t.test('the golden file never changes', async () => {
    for (const f of goldenFiles) assert.equal(await sha256File(f), golden.sha256, `${f} changed`);
    for (const [i, f] of storedGolden.entries()) {
      const now = await fsp.stat(f);
      assert.equal(now.mtimeMs, goldenStat[i]!.mtimeMs, `${f} was written to (mtime)`);
    }
  });

  await t.test('client reset brings golden data back to that seat only', async () => {
    const r = await lanboot.cli(['client', 'reset', 'seat-a']);
    assert.equal(r.code, 0, `lanboot client reset: ${r.stderr}`);
    assertSameDisk(await readWholeDisk(seatA, work), goldenContent(golden), 'seat A after reset');
    assertSameDisk(await readWholeDisk(seatB, work), expectB, 'seat B after seat A was reset');
    for (const f of goldenFiles) assert.equal(await sha256File(f), golden.sha256, `${f} changed`);
  });

  await t.test('a reset seat is writable again and still copy-on-write', async () => {
    await qemuIo(seatA, ['write -P 0x42 4096 4096', 'flush']);
    const expect = goldenContent(golden);
    expect.fill(0x42, 4096, 8192);
    assertSameDisk(await readWholeDisk(seatA, work), expect, 'seat A written after reset');
    for (const f of goldenFiles) assert.equal(await sha256File(f), golden.sha256, `${f} changed`);
  });

  await t.test('blocks a seat never wrote are read from the one golden file (shared page cache)', async () => {
    requireTools('dd', 'fincore');
    // The file lanboot serves golden data from: its stored version, else the imported file.
    const served = storedGolden[0] ?? golden.path;
    // posix_fadvise(DONTNEED) on this file only (GNU dd iflag=nocache count=0).
    const evict = await runTool('dd', [`if=${served}`, 'iflag=nocache', 'count=0', 'status=none']);
    assert.equal(evict.code, 0, describeRun('dd nocache', evict));
    const resident = async () => {
      const r = await runTool('fincore', ['--bytes', '--noheadings', '--output', 'RES', served]);
      assert.equal(r.code, 0, describeRun('fincore', r));
      return Number(r.stdout.trim());
    };
    const before = await resident();
    await readWholeDisk(seatB, work);
    const after = await resident();
    t.diagnostic(`golden file in page cache: ${before} -> ${after} of ${IMAGE_BYTES} bytes`);
    // Seat B wrote 72 KiB; everything else it read must have come through the golden file.
    assert.ok(after - before >= IMAGE_BYTES * 0.9, `reading seat B pulled only ${after - before} bytes of ${served} into the page cache`);
  });

  await t.test('writes survive a supervisor restart (persistent seat)', async () => {
    await lanboot.restart();
    const seatBAgain = diskFromSeat(await lanboot.cliJson<SeatInfo>(['client', 'show', 'seat-b', '--json']));
    assertSameDisk(await readWholeDisk(seatBAgain, work), expectB, 'seat B after restart');
    assert.ok(fs.existsSync(golden.path));
  });
});

test('eight seats on one golden image write and read at the same time, each sees only its own writes', { timeout: 600_000 }, async (t) => {
  requireTools('qemu-img', 'qemu-io');
  const SEATS = 8;
  const work = await tempDir(t);
  const golden = await makeGoldenImage(work, IMAGE_BYTES, 'lba');
  const server = await startDiskServer(t, 'lanboot');
  const seats = [];
  for (let i = 0; i < SEATS; i++) seats.push(await server.addDisk({ name: `storm-${i}`, image: 'storm', goldenPath: golden.path, mode: 'persistent' }));

  // Every seat writes its own byte over the same 256 KiB, plus one block of its own elsewhere.
  const shared = { offset: 2 * 1024 * 1024, length: 256 * 1024 };
  const ownOffset = (i: number) => 5 * 1024 * 1024 + i * 64 * 1024;
  await Promise.all(
    seats.map((seat, i) => qemuIo(seat, [`write -P ${0x20 + i} ${shared.offset} ${shared.length}`, `write -P ${0x80 + i} ${ownOffset(i)} 4096`, 'flush'])),
  );
  const disks = await Promise.all(seats.map((seat) => readWholeDisk(seat, work)));
  for (const [i, data] of disks.entries()) {
    const expect = goldenContent(golden);
    expect.fill(0x20 + i, shared.offset, shared.offset + shared.length);
    expect.fill(0x80 + i, ownOffset(i), ownOffset(i) + 4096);
    assertSameDisk(data, expect, `seat storm-${i}`);
  }
  assert.equal(await sha256File(golden.path), golden.sha256, 'the imported file is unchanged');
  for (const f of await findCopiesOf(server.lanboot!.dataDir, golden)) assert.equal(await sha256File(f), golden.sha256);
});

test('a fresh seat keeps its writes across iSCSI logins (the OS logs in again after iPXE)', { timeout: 300_000 }, async (t) => {
  // A fresh seat's delta is dropped when the PC fetches its boot script (docs/boot.md), never
  // at an iSCSI login, or the OS would lose what it wrote while iPXE's session was still open.
  requireTools('qemu-img', 'qemu-io');
  const work = await tempDir(t);
  const golden = await makeGoldenImage(work, IMAGE_BYTES, 'lba');
  const server = await startDiskServer(t, 'lanboot');
  const seat = await server.addDisk({ name: 'fresh-pc', image: 'fresh', goldenPath: golden.path, mode: 'fresh' });
  await qemuIo(seat, ['write -P 0x6b 8192 16384', 'flush']); // session 1 (iPXE's, say)
  await qemuIo(seat, ['read -P 0x6b 8192 16384']); // session 2 (the OS's)
  const expect = goldenContent(golden);
  expect.fill(0x6b, 8192, 8192 + 16384);
  assertSameDisk(await readWholeDisk(seat, work), expect, 'fresh seat after three logins');
});
