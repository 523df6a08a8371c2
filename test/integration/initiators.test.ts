// Real Debian initiators against a running lanboot: qemu-img and
// qemu-io (qemu's libiscsi block driver) write a pattern and read it back, iscsi-ls and
// iscsi-inq see the disk, a wrong CHAP secret and a foreign initiator IQN are refused.
// LANBOOT_TEST_TARGET=tgt runs the same against tgt (to prove the harness).
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import { test } from 'node:test';
import { startDiskServer } from '../helpers/disk-server.js';
import { makeGoldenImage } from '../helpers/images.js';
import { assertSameDisk, goldenContent, qemuIo, readWholeDisk } from '../helpers/qemu-block.js';
import { initiatorOf, libiscsiUrl, qemuImageOpts } from '../helpers/iscsi-disk.js';
import { describeRun, requireTools, runTool, tempDir } from '../helpers/tools.js';

const IMAGE_BYTES = 16 * 1024 * 1024;
const FOREIGN_IQN = 'iqn.2026-11.test.lanboot:someone-else';
// libiscsi's names for the login status classes of RFC 7143 section 11.13.5.
const AUTHENTICATION_FAILURE = /Authentication failure\(513\)/; // 0x0201
const NOT_ALLOWED = /Authorization failure\(514\)|Target not found\(515\)/; // 0x0202 / 0x0203

test('real initiators read and write a lanboot disk; strangers are refused', { timeout: 300_000 }, async (t) => {
  requireTools('qemu-img', 'qemu-io', 'iscsi-ls', 'iscsi-inq', 'iscsi-readcapacity16');
  const work = await tempDir(t);
  const golden = await makeGoldenImage(work, IMAGE_BYTES, 'lba');
  const server = await startDiskServer(t);
  const disk = await server.addDisk({ name: 'alpha', image: 'base', goldenPath: golden.path });
  assert.ok(disk.chap, 'a seat has CHAP on by default');
  const initiator = initiatorOf(disk);
  // A second seat: its target must stay invisible and closed to alpha's initiator.
  const other = await server.addDisk({ name: 'beta', image: 'base', goldenPath: golden.path });

  await t.test('qemu-img info sees the golden size', async () => {
    const r = await runTool('qemu-img', ['info', '--output=json', '--image-opts', qemuImageOpts(disk)], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, describeRun('qemu-img info', r));
    const info = JSON.parse(r.stdout) as { 'virtual-size': number };
    assert.equal(info['virtual-size'], IMAGE_BYTES);
  });

  await t.test('qemu-io writes a pattern and reads it back; the rest is still golden', async () => {
    const offset = 3 * 1024 * 1024 + 4096;
    const length = 192 * 1024;
    await qemuIo(disk, [`write -P 0x5a ${offset} ${length}`, `read -P 0x5a ${offset} ${length}`, 'write -P 0xc3 1000 24', 'flush']);
    // Read the whole disk back in another initiator session and compare it byte for byte.
    const expected = goldenContent(golden);
    expected.fill(0x5a, offset, offset + length);
    expected.fill(0xc3, 1000, 1024); // a partial-block write: the rest of block 1 stays golden
    assertSameDisk(await readWholeDisk(disk, work), expected, 'disk after qemu-io writes');
  });

  await t.test('qemu-img convert writes a whole disk in large requests and reads it back', async () => {
    const seat = await server.addDisk({ name: 'gamma', image: 'base', goldenPath: golden.path });
    const source = await makeGoldenImage(work, IMAGE_BYTES, 'random', 'source.img');
    const cv = await runTool('qemu-img', ['convert', '-n', '-f', 'raw', source.path, '--target-image-opts', qemuImageOpts(seat)], { timeoutMs: 120_000 });
    assert.equal(cv.code, 0, describeRun('qemu-img convert onto the seat', cv));
    assertSameDisk(await readWholeDisk(seat, work), await fsp.readFile(source.path), 'seat after a whole-disk write');
  });

  await t.test('iscsi-ls (SendTargets discovery) lists the seat\'s own disk and nothing else', async () => {
    const portalUrl = libiscsiUrl(disk).replace(/\/[^/]+\/\d+$/, '');
    const r = await runTool('iscsi-ls', ['-s', '-i', initiator, portalUrl], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, describeRun('iscsi-ls', r));
    assert.ok(r.stdout.includes(`Target:${disk.targetIqn} `), describeRun('iscsi-ls', r));
    assert.ok(!r.stdout.includes(other.targetIqn), `another seat's target is listed to ${initiator}:\n${r.stdout}`);
    const lunLine = new RegExp(`Lun:${disk.lun}\\s+Type:DIRECT_ACCESS \\(Size:(\\d+)M\\)`);
    const m = lunLine.exec(r.stdout);
    assert.ok(m, describeRun('iscsi-ls (LUN line)', r));
    // iscsi-ls prints the capacity in MiB, rounded down from (last LBA) * block size.
    assert.ok(Math.abs(Number(m[1]) - IMAGE_BYTES / 1024 / 1024) <= 1, `size ${m[1]} MiB`);

    // A stranger's discovery may be refused outright or answered with an empty list.
    const stranger = await runTool('iscsi-ls', ['-i', FOREIGN_IQN, portalUrl.replace(/\/\/[^@]*@/, '//')], { timeoutMs: 60_000 });
    assert.equal(stranger.timedOut, false, describeRun('iscsi-ls as a stranger', stranger));
    for (const iqn of [disk.targetIqn, other.targetIqn]) {
      assert.ok(!stranger.stdout.includes(iqn), `${iqn} is listed to a foreign initiator:\n${stranger.stdout}`);
    }
  });

  await t.test('one seat\'s initiator cannot open another seat\'s disk', async () => {
    const io = await runTool('qemu-io', ['--image-opts', qemuImageOpts(other, { initiator, chap: disk.chap ?? null }), '-c', 'read 0 512'], { timeoutMs: 60_000 });
    assert.notEqual(io.code, 0, describeRun('qemu-io on another seat\'s disk', io));
    assert.match(io.stderr, /Failed to log in/, describeRun('qemu-io on another seat\'s disk', io));
  });

  await t.test('iscsi-inq sees a direct-access disk with the VPD pages Windows needs', async () => {
    const url = libiscsiUrl(disk);
    const std = await runTool('iscsi-inq', ['-i', initiator, url], { timeoutMs: 30_000 });
    assert.equal(std.code, 0, describeRun('iscsi-inq', std));
    assert.match(std.stdout, /Peripheral Device Type:DIRECT_ACCESS/);
    const vpd = await runTool('iscsi-inq', ['-i', initiator, '-e', '1', '-c', '0', url], { timeoutMs: 30_000 });
    assert.equal(vpd.code, 0, describeRun('iscsi-inq VPD 0x00', vpd));
    for (const page of ['0x80', '0x83', '0xb0']) assert.match(vpd.stdout, new RegExp(`Page:${page} `), `VPD 0x00 lists ${page}`);
    const ids = await runTool('iscsi-inq', ['-i', initiator, '-e', '1', '-c', String(0x83), url], { timeoutMs: 30_000 });
    assert.equal(ids.code, 0, describeRun('iscsi-inq VPD 0x83', ids));
    assert.match(ids.stdout, /Designator Type:\(3\) NAA/, 'VPD 0x83 holds an NAA designator');
    if (disk.server === 'lanboot') {
      // WinPE finds its disk after sanhook by the SCSI name string (tgt has none: lanboot only).
      assert.match(ids.stdout, /Designator Type:\(8\) SCSI_NAME_STRING\s+Designator:\[([^\]]+)\]/, 'VPD 0x83 holds a SCSI name string designator');
    }
  });

  await t.test('READ CAPACITY 16: the golden size in 512-byte logical blocks, 4 KiB physical', async () => {
    requireTools('iscsi-readcapacity16');
    const r = await runTool('iscsi-readcapacity16', ['-i', initiator, libiscsiUrl(disk)], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, describeRun('iscsi-readcapacity16', r));
    assert.match(r.stdout, new RegExp(`RETURNED LOGICAL BLOCK ADDRESS:${IMAGE_BYTES / 512 - 1}\\b`));
    assert.match(r.stdout, /LOGICAL BLOCK LENGTH IN BYTES:512\b/, 'BIOS INT 13h through iPXE needs 512-byte blocks');
    if (disk.server === 'lanboot') assert.match(r.stdout, /LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT:3\b/, '4 KiB physical blocks');
  });

  await t.test('a wrong CHAP secret is refused', async () => {
    const chap = { user: disk.chap!.user, secret: `${disk.chap!.secret}x` };
    const io = await runTool('qemu-io', ['--image-opts', qemuImageOpts(disk, { chap }), '-c', 'read 0 512'], { timeoutMs: 60_000 });
    assert.notEqual(io.code, 0, describeRun('qemu-io with a wrong secret', io));
    assert.match(io.stderr, AUTHENTICATION_FAILURE, describeRun('qemu-io with a wrong secret', io));
    const inq = await runTool('iscsi-inq', ['-i', initiator, libiscsiUrl(disk, chap)], { timeoutMs: 30_000 });
    assert.notEqual(inq.code, 0, describeRun('iscsi-inq with a wrong secret', inq));
    assert.match(inq.stdout + inq.stderr, AUTHENTICATION_FAILURE);
  });

  await t.test('no CHAP at all is refused when the seat has CHAP on', async () => {
    const io = await runTool('qemu-io', ['--image-opts', qemuImageOpts(disk, { chap: null }), '-c', 'read 0 512'], { timeoutMs: 60_000 });
    assert.notEqual(io.code, 0, describeRun('qemu-io without CHAP', io));
    assert.match(io.stderr, /Failed to log in|failure/i, describeRun('qemu-io without CHAP', io));
  });

  await t.test('a foreign initiator IQN is refused, even with the right secret', async () => {
    const io = await runTool('qemu-io', ['--image-opts', qemuImageOpts(disk, { initiator: FOREIGN_IQN }), '-c', 'read 0 512'], { timeoutMs: 60_000 });
    assert.notEqual(io.code, 0, describeRun('qemu-io as a foreign initiator', io));
    assert.match(io.stderr, NOT_ALLOWED, describeRun('qemu-io as a foreign initiator', io));
    const inq = await runTool('iscsi-inq', ['-i', FOREIGN_IQN, libiscsiUrl(disk)], { timeoutMs: 30_000 });
    assert.notEqual(inq.code, 0, describeRun('iscsi-inq as a foreign initiator', inq));
    assert.match(inq.stdout + inq.stderr, NOT_ALLOWED);
  });

  await t.test('the allowed initiator still gets in after the refusals', async () => {
    const io = await runTool('qemu-io', ['--image-opts', qemuImageOpts(disk), '-c', 'read -P 0x5a 3149824 4096'], { timeoutMs: 60_000 });
    assert.equal(io.code, 0, describeRun('qemu-io', io));
    assert.doesNotMatch(io.stdout + io.stderr, /Pattern verification failed/);
  });
});
