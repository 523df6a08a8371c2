// Seat modes, commit, move, snapshots and quotas with the real supervisor, driven as PCs
// would over iSCSI (fresh mode, maintenance commit, quota). One
// supervisor on loopback with ephemeral ports; iSCSI through test/helpers/iscsi-wire.ts so
// the sense data of a refused write can be asserted.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { importImage, startLanboot, type Lanboot, type SeatInfo } from '../helpers/supervisor.js';
import { BLOCK_SIZE, makeGoldenImage } from '../helpers/images.js';
import { goldenContent, assertSameDisk } from '../helpers/qemu-block.js';
import { expectGood, IscsiSession, SenseKey } from '../helpers/iscsi-wire.js';
import { tempDir } from '../helpers/tools.js';
import { refFromScript, type DiskRef } from '../helpers/boot-script.js';

const IMAGE_BYTES = 8 * 1024 * 1024;

interface SeatJson extends SeatInfo {
  sessions: unknown[];
  image: string | null;
  version: number | null;
  mode: string;
  deltaBytes: number | null;
  diskBytes: number | null;
  quotaBytes: number;
}

function refFromSeat(seat: SeatJson, host: string, port: number): DiskRef {
  return { host, port, targetIqn: seat.targetIqn, initiatorIqn: seat.initiatorIqns[0]!, chap: seat.chap ?? undefined };
}

/** Logs in as the PC, runs `work`, logs out. */
async function withDisk<T>(disk: DiskRef, work: (s: IscsiSession) => Promise<T>): Promise<T> {
  const session = await IscsiSession.open({
    host: disk.host,
    port: disk.port,
    initiatorIqn: disk.initiatorIqn,
    targetIqn: disk.targetIqn,
    ...(disk.chap ? { chap: disk.chap } : {}),
  });
  try {
    await session.clearUnitAttention();
    const result = await work(session);
    await session.logout();
    return result;
  } finally {
    session.destroy();
  }
}

async function readBlocks(s: IscsiSession, lba: number, blocks: number): Promise<Buffer> {
  return expectGood(await s.read10(lba, blocks), `READ(10) lba ${lba}`).data;
}

async function writeBlocks(s: IscsiSession, lba: number, data: Buffer): Promise<void> {
  expectGood(await s.write10(lba, data), `WRITE(10) lba ${lba}`);
}

function pattern(byte: number, blocks: number): Buffer {
  return Buffer.alloc(blocks * BLOCK_SIZE, byte);
}

async function cliFails(lanboot: Lanboot, args: string[], message: RegExp): Promise<void> {
  const r = await lanboot.cli(args);
  assert.notEqual(r.code, 0, `lanboot ${args.join(' ')} should fail: ${r.stdout}`);
  assert.match(r.stderr, message, `lanboot ${args.join(' ')}`);
}

test('seat modes, commit, move, snapshots and quotas over iSCSI', { timeout: 600_000 }, async (t) => {
  const work = await tempDir(t);
  const golden = await makeGoldenImage(work, IMAGE_BYTES, 'lba');
  const previousTftpPort = process.env['LANBOOT_TFTP_PORT'];
  process.env['LANBOOT_TFTP_PORT'] = '0'; // the boot service's TFTP on an ephemeral port
  let lanboot: Lanboot;
  try {
    lanboot = await startLanboot(t);
  } finally {
    if (previousTftpPort === undefined) delete process.env['LANBOOT_TFTP_PORT'];
    else process.env['LANBOOT_TFTP_PORT'] = previousTftpPort;
  }
  await importImage(lanboot, golden.path, 'shared');
  const base = `http://127.0.0.1:${lanboot.httpPort}`;
  const bootScript = async (mac: string) => {
    const response = await fetch(`${base}/boot.ipxe?mac=${mac.replaceAll(':', '-')}`);
    const text = await response.text();
    assert.equal(response.status, 200, text);
    return text;
  };
  const addSeat = async (args: string[]) => {
    const r = await lanboot.cli(['client', 'add', ...args]);
    assert.equal(r.code, 0, `client add ${args.join(' ')}: ${r.stderr}`);
    return showSeat(args[args.indexOf('--name') + 1]!);
  };
  const showSeat = (name: string) => lanboot.cliJson<SeatJson>(['client', 'show', name, '--json']);
  const seatDisk = async (name: string) => refFromSeat(await showSeat(name), '127.0.0.1', lanboot.iscsiPort);
  const goldenBlock = (lba: number, blocks = 1) => goldenContent(golden).subarray(lba * BLOCK_SIZE, (lba + blocks) * BLOCK_SIZE);

  await t.test('fresh mode: a write is gone at the next boot; persistent keeps it', async () => {
    await addSeat(['--name', 'pc-fresh', '--image', 'shared', '--mac', '52:54:00:00:00:01', '--mode', 'fresh']);
    await addSeat(['--name', 'pc-keep', '--image', 'shared', '--mac', '52:54:00:00:00:02', '--mode', 'persistent']);
    for (const [mac, mode] of [
      ['52:54:00:00:00:01', 'fresh'],
      ['52:54:00:00:00:02', 'persistent'],
    ] as const) {
      const first = refFromScript(await bootScript(mac));
      await withDisk(first, async (s) => {
        await writeBlocks(s, 100, pattern(0x5a, 4));
        assert.deepEqual(await readBlocks(s, 100, 4), pattern(0x5a, 4), `${mode}: the write reads back in the same boot`);
      });
      const second = refFromScript(await bootScript(mac)); // the next boot
      const after = await withDisk(second, (s) => readBlocks(s, 100, 4));
      if (mode === 'fresh') assert.deepEqual(after, goldenBlock(100, 4), 'fresh: golden again after the next boot');
      else assert.deepEqual(after, pattern(0x5a, 4), 'persistent: the write survives the next boot');
    }
  });

  const maintWrites: [number, Buffer][] = [
    [0, pattern(0x11, 1)],
    [5, pattern(0x22, 3)],
    [9000, pattern(0x33, 128)],
    [IMAGE_BYTES / BLOCK_SIZE - 8, pattern(0x44, 8)],
  ];

  await t.test('maintenance commit: the new version is golden + the writes, byte for byte; other seats keep working', async () => {
    await addSeat(['--name', 'maint', '--image', 'shared', '--mode', 'maintenance']);
    await cliFails(lanboot, ['client', 'add', '--name', 'maint2', '--image', 'shared', '--mode', 'maintenance'], /already has a maintenance seat \(maint\)/);
    await cliFails(lanboot, ['client', 'mode', 'pc-keep', 'maintenance'], /already has a maintenance seat/);
    await addSeat(['--name', 'other', '--image', 'shared', '--mode', 'persistent']);
    const other = await seatDisk('other');
    await withDisk(other, (s) => writeBlocks(s, 200, pattern(0x77, 2)));
    const snap = await lanboot.cliJson<{ number: number; version: number }>(['client', 'snapshot', 'other', '--label', 'on v1', '--json']);
    assert.equal(snap.version, 1);

    const maint = await seatDisk('maint');
    const open = await IscsiSession.open({ host: maint.host, port: maint.port, initiatorIqn: maint.initiatorIqn, targetIqn: maint.targetIqn, ...(maint.chap ? { chap: maint.chap } : {}) });
    try {
      await open.clearUnitAttention();
      for (const [lba, data] of maintWrites) await writeBlocks(open, lba, data);
      // A session is open: commit is refused without --force.
      await cliFails(lanboot, ['client', 'commit', 'maint'], /has 1 iSCSI session\(s\).*--force/);
      await open.logout();
    } finally {
      open.destroy();
    }
    await cliFails(lanboot, ['client', 'commit', 'pc-keep'], /only a maintenance seat/);

    // Another seat on v1 reads and writes during the commit.
    let stop = false;
    let otherOps = 0;
    const otherLoop = withDisk(other, async (s) => {
      while (!stop) {
        await writeBlocks(s, 300, pattern(otherOps & 0xff, 1));
        assert.deepEqual(await readBlocks(s, 200, 2), pattern(0x77, 2));
        otherOps++;
      }
    });
    let result: { image: string; version: number; sha256: string };
    try {
      result = await lanboot.cliJson(['client', 'commit', 'maint', '--json']);
    } finally {
      stop = true;
      await otherLoop;
    }
    assert.ok(otherOps > 0, 'the other seat did I/O during the commit');
    assert.equal(result.image, 'shared');
    assert.equal(result.version, 2);

    const expected = goldenContent(golden);
    for (const [lba, data] of maintWrites) data.copy(expected, lba * BLOCK_SIZE);
    const v2 = path.join(lanboot.dataDir, 'images', 'shared', 'v2.img');
    assertSameDisk(fs.readFileSync(v2), expected, 'v2 = golden v1 + the maintenance writes');

    const after = await showSeat('maint');
    assert.equal(after.version, 2, 'the maintenance seat is on the new version');
    assert.equal(after.deltaBytes, 0, 'with an empty delta');
    assert.deepEqual(await withDisk(maint, (s) => readBlocks(s, 5, 3)), pattern(0x22, 3), 'it still sees its changes (now golden)');

    // The other seat stays on v1 with its delta until moved.
    assert.equal((await showSeat('other')).version, 1);
    assert.deepEqual(await withDisk(other, (s) => readBlocks(s, 5, 3)), goldenBlock(5, 3), 'the other seat still reads v1');
    const moved = await lanboot.cliJson<SeatJson>(['client', 'move', 'other', '--json']);
    assert.equal(moved.version, 2);
    const [at200, at5] = await withDisk(other, async (s) => [await readBlocks(s, 200, 2), await readBlocks(s, 5, 3)]);
    assert.deepEqual(at200, goldenBlock(200, 2), 'moving dropped the delta (made against v1)');
    assert.deepEqual(at5, pattern(0x22, 3), 'and the seat reads v2');

    await cliFails(lanboot, ['client', 'restore', 'other', String(snap.number)], /made on shared v1, the seat is now on shared v2/);
  });

  await t.test('snapshot and restore round trip', async () => {
    const disk = await seatDisk('pc-keep');
    await withDisk(disk, (s) => writeBlocks(s, 400, pattern(0xa1, 8)));
    const snap = await lanboot.cliJson<{ number: number; label: string }>(['client', 'snapshot', 'pc-keep', '--label', 'before', '--json']);
    await withDisk(disk, async (s) => {
      await writeBlocks(s, 400, pattern(0xb2, 8));
      await writeBlocks(s, 800, pattern(0xb3, 8));
    });
    const list = await lanboot.cliJson<{ number: number; label: string }[]>(['client', 'snapshots', 'pc-keep', '--json']);
    assert.deepEqual(list.map((s) => [s.number, s.label]), [[snap.number, 'before']]);
    await lanboot.cliJson(['client', 'restore', 'pc-keep', String(snap.number), '--json']);
    const [at400, at800, at100] = await withDisk(disk, async (s) => [await readBlocks(s, 400, 8), await readBlocks(s, 800, 8), await readBlocks(s, 100, 4)]);
    assert.deepEqual(at400, pattern(0xa1, 8), 'the snapshot content is back');
    assert.deepEqual(at800, goldenBlock(800, 8), 'a write made after the snapshot is gone');
    assert.deepEqual(at100, pattern(0x5a, 4), 'earlier writes kept');
    await lanboot.cliJson(['client', 'snapshot-delete', 'pc-keep', String(snap.number), '--json']);
    await cliFails(lanboot, ['client', 'restore', 'pc-keep', String(snap.number)], /has no snapshot/);
  });

  await t.test('install seat: a blank disk of the asked size, keep-san boot script, committed as a new image', async () => {
    await cliFails(lanboot, ['client', 'add', '--name', 'inst', '--mode', 'install', '--size', 'lots'], /expected a size like 64G/);
    const seat = await addSeat(['--name', 'inst', '--mode', 'install', '--size', '4M', '--mac', '52:54:00:00:00:03']);
    assert.equal(seat.image, null);
    assert.equal(seat.diskBytes, 4 * 1024 * 1024);
    const script = await bootScript('52:54:00:00:00:03');
    const ref = refFromScript(script);
    assert.ok(ref.keepSan, `keep-san in:\n${script}`);
    assert.match(script, /^sanhook --drive 0x80 /m);
    const writes: [number, Buffer][] = [
      [0, pattern(0xeb, 1)],
      [4000, pattern(0xec, 64)],
    ];
    await withDisk(ref, async (s) => {
      const capacity = await s.readCapacity();
      assert.equal(Number(capacity.blocks) * capacity.blockSize, 4 * 1024 * 1024);
      assert.deepEqual(await readBlocks(s, 0, 16), Buffer.alloc(16 * BLOCK_SIZE), 'blank: zeros');
      for (const [lba, data] of writes) await writeBlocks(s, lba, data);
    });
    assert.deepEqual(await withDisk(ref, (s) => readBlocks(s, 4000, 64)), pattern(0xec, 64), 'writes kept');
    await cliFails(lanboot, ['client', 'mode', 'inst', 'persistent'], /install seat.*commit/);
    await cliFails(lanboot, ['client', 'commit', 'inst'], /name the image/);
    // The installer's PC is still connected: --force ends its session and commits.
    const connected = await IscsiSession.open({ host: ref.host, port: ref.port, initiatorIqn: ref.initiatorIqn, targetIqn: ref.targetIqn, ...(ref.chap ? { chap: ref.chap } : {}) });
    let result: { image: string; version: number };
    try {
      await connected.clearUnitAttention();
      assert.equal((await showSeat('inst')).sessions.length, 1);
      result = await lanboot.cliJson<{ image: string; version: number }>(['client', 'commit', 'inst', '--image', 'new-os', '--force', '--json']);
    } finally {
      connected.destroy();
    }
    assert.deepEqual([result.image, result.version], ['new-os', 1]);
    const expected = Buffer.alloc(4 * 1024 * 1024);
    for (const [lba, data] of writes) data.copy(expected, lba * BLOCK_SIZE);
    assertSameDisk(fs.readFileSync(path.join(lanboot.dataDir, 'images', 'new-os', 'v1.img')), expected, 'new-os v1 = the install disk');
    const after = await showSeat('inst');
    assert.deepEqual([after.image, after.version, after.mode], ['new-os', 1, 'maintenance']);
    assert.deepEqual(after.sessions, [], 'the forced commit ended the session');
  });

  await t.test('quota: the write past it fails with DATA PROTECT / SPACE ALLOCATION FAILED; other seats keep working; the API names the seat', async () => {
    await addSeat(['--name', 'small', '--image', 'shared', '--mode', 'persistent', '--quota', '1M']);
    const disk = await seatDisk('small');
    const failure = await withDisk(disk, async (s) => {
      // 128 KiB writes at fresh offsets: the 9th cannot fit in 1 MiB.
      for (let i = 0; i < 16; i++) {
        const r = await s.write10(2048 + i * 256, pattern(0x60 + i, 256));
        if (r.status !== 0) return { index: i, result: r };
      }
      return undefined;
    });
    assert.ok(failure, 'a write past the quota failed');
    assert.equal(failure.index, 8, 'exactly the quota fits');
    assert.equal(failure.result.status, 0x02, 'CHECK CONDITION');
    assert.equal(failure.result.senseInfo?.key, SenseKey.DataProtect);
    assert.equal(failure.result.senseInfo?.asc, 0x27);
    assert.equal(failure.result.senseInfo?.ascq, 0x07);
    // The seat still serves reads and rewrites of what it owns; another seat is unaffected.
    assert.deepEqual(await withDisk(disk, (s) => readBlocks(s, 2048, 256)), pattern(0x60, 256));
    const keep = await seatDisk('pc-keep');
    await withDisk(keep, async (s) => {
      await writeBlocks(s, 1200, pattern(0x99, 64));
      assert.deepEqual(await readBlocks(s, 1200, 64), pattern(0x99, 64));
    });
    // The engine reports the refused write (asynchronously): the API names the full seat.
    let status: { warnings?: { code: string; seat?: string; message: string }[] } = {};
    for (let i = 0; i < 50; i++) {
      status = await lanboot.cliJson(['status', '--json']);
      if (status.warnings?.some((w) => w.code === 'SEAT_FULL')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const full = status.warnings?.find((w) => w.code === 'SEAT_FULL');
    assert.equal(full?.seat, 'small', JSON.stringify(status.warnings));
    assert.match(full!.message, /reached its quota/);
    const text = await lanboot.cli(['status']);
    assert.match(text.stdout, /warning seat small is full: its delta reached its quota of 1\.0 MiB/);
    const space = await lanboot.cliJson<{ dataDisk: { totalBytes: number; freeBytes: number }; seats: { name: string; deltaBytes: number; quotaBytes: number; full: { reason: string } | null }[] }>([
      'client',
      'space',
      '--json',
    ]);
    const small = space.seats.find((s) => s.name === 'small')!;
    assert.equal(small.quotaBytes, 1024 * 1024);
    assert.equal(small.deltaBytes, 1024 * 1024);
    assert.equal(small.full?.reason, 'quota');
    assert.ok(space.dataDisk.totalBytes > 0 && space.dataDisk.freeBytes > 0);
    // Raising the quota while the PC is connected: the same session writes again (the
    // quota applies to the open disk; the session is not ended), and the warning clears.
    const connected = await IscsiSession.open({ host: disk.host, port: disk.port, initiatorIqn: disk.initiatorIqn, targetIqn: disk.targetIqn, ...(disk.chap ? { chap: disk.chap } : {}) });
    try {
      await connected.clearUnitAttention();
      const refused = await connected.write10(2048 + 8 * 256, pattern(0x70, 256));
      assert.equal(refused.senseInfo?.asc, 0x27, 'still full before the raise');
      await lanboot.cliJson(['client', 'quota', 'small', '2M', '--json']);
      assert.equal((await showSeat('small')).sessions.length, 1, 'the session survived the quota change');
      await writeBlocks(connected, 2048 + 8 * 256, pattern(0x70, 256));
      assert.deepEqual(await readBlocks(connected, 2048 + 8 * 256, 256), pattern(0x70, 256));
      await connected.logout();
    } finally {
      connected.destroy();
    }
    const cleared: { warnings?: { code: string }[] } = await lanboot.cliJson(['status', '--json']);
    assert.ok(!cleared.warnings?.some((w) => w.code === 'SEAT_FULL'), JSON.stringify(cleared.warnings));
  });

  await t.test('image move-seats: every seat of the image not on the version yet; deltas dropped, the others untouched', async () => {
    const result = await lanboot.cliJson<{ moved: string[]; unchanged: string[]; failed: unknown[]; version: number }>(['image', 'move-seats', 'shared', '--json']);
    assert.equal(result.version, 2);
    assert.deepEqual(result.moved.sort(), ['pc-fresh', 'pc-keep']);
    assert.deepEqual(result.unchanged.sort(), ['maint', 'other', 'small']);
    assert.deepEqual(result.failed, []);
    const keep = await showSeat('pc-keep');
    assert.deepEqual([keep.version, keep.deltaBytes], [2, 0]);
    const [at100, at5] = await withDisk(refFromSeat(keep, '127.0.0.1', lanboot.iscsiPort), async (s) => [await readBlocks(s, 100, 4), await readBlocks(s, 5, 3)]);
    assert.deepEqual(at100, goldenBlock(100, 4), 'its v1 delta is gone');
    assert.deepEqual(at5, pattern(0x22, 3), 'it reads v2');
    const small = await showSeat('small');
    assert.ok((small.deltaBytes ?? 0) >= 1024 * 1024, 'a seat already on v2 keeps its delta');
  });
});
