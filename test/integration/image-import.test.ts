// Import of every supported format through the real ImportManager, qemu-img and sfdisk:
// each format is generated here from one raw GPT disk with known content, imported, and the
// published version compared with the source by qemu-img compare. Damaged and truncated
// sources of each format are refused with a clear error and publish nothing.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { migrate, openDatabase } from '../../src/db/database.js';
import { ImageRepository } from '../../src/db/images.js';
import { ImageStore } from '../../src/storage/image-store.js';
import { ImportManager } from '../../src/storage/import-manager.js';
import { loadNative } from '../../src/native/index.js';
import { DataLayout } from '../../src/storage/layout.js';
import { QemuProgressParser } from '../../src/storage/formats.js';
import { describeRun, requireTools, runTool, tempDir, type Cleanup } from '../helpers/tools.js';
import { makeIso9660, makeSourceDisk } from '../helpers/image-sources.js';

requireTools('qemu-img', 'sfdisk');

async function setup(t: Cleanup) {
  const dir = await tempDir(t, 'lanboot-import-');
  const db = openDatabase(path.join(dir, 'lanboot.db'));
  t.after(() => db.close());
  await migrate(db);
  const layout = new DataLayout(path.join(dir, 'data'));
  fs.mkdirSync(layout.dataDir);
  const images = new ImageRepository(db);
  const store = new ImageStore(layout, images);
  await store.cleanup();
  const imports = new ImportManager({ db, store, layout, logger: pino({ level: 'silent' }), verifiedCopy: loadNative().verifiedCopy });
  return { dir, db, layout, images, store, imports };
}

/** Every file under the image directory (to prove nothing stray was left). */
function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => fs.statSync(path.join(dir, f)).isFile()).sort();
}

const FORMATS = ['qcow2', 'vpc', 'vhdx', 'vmdk'] as const;

test('raw, qcow2, vhd (dynamic and fixed), vhdx and vmdk imports equal their source (qemu-img compare), raw stays sparse', async (t) => {
  const { dir, layout, images, imports } = await setup(t);
  const raw = await makeSourceDisk(dir, 'source.img', 24 * 1024 * 1024);
  const sources: [string, string][] = [['raw', raw]];
  for (const format of FORMATS) {
    const file = path.join(dir, `source.${format}`);
    const r = await runTool('qemu-img', ['convert', '-f', 'raw', '-O', format, raw, file]);
    assert.equal(r.code, 0, describeRun('qemu-img convert', r));
    // The name says nothing: detection reads the content.
    const disguised = path.join(dir, `disguised-${format}.img`);
    fs.renameSync(file, disguised);
    sources.push([format, disguised]);
  }
  // A fixed VHD (raw + footer) is recognised by its footer, not taken for raw.
  const fixed = path.join(dir, 'fixed.vhd');
  const f = await runTool('qemu-img', ['convert', '-f', 'raw', '-O', 'vpc', '-o', 'subformat=fixed', raw, fixed]);
  assert.equal(f.code, 0, describeRun('qemu-img convert', f));
  sources.push(['vpc', fixed]);
  let expected = 0;
  for (const [format, source] of sources) {
    const started = await imports.start({ image: 'golden', path: source });
    assert.equal(started.state, 'running');
    const job = await imports.wait(started.id);
    assert.equal(job.state, 'done', `${format}: ${JSON.stringify(job.error)}`);
    assert.equal(job.format, format);
    expected++;
    assert.equal(job.version, expected);
    const version = images.currentVersion('golden')!;
    assert.equal(version.number, expected, 'a new version becomes current');
    assert.equal(version.source, `file ${source}`);
    const cmp = await runTool('qemu-img', ['compare', '-f', format, '-F', 'raw', source, version.filePath]);
    assert.equal(cmp.code, 0, `${format}: ${describeRun('qemu-img compare', cmp)}`);
    const hash = crypto.createHash('sha256').update(fs.readFileSync(version.filePath)).digest('hex');
    assert.equal(version.sha256, hash, 'the recorded sha256 is that of the file on disk');
    assert.equal(fs.statSync(version.filePath).mode & 0o777, 0o444);
    assert.equal(job.bytesDone, job.bytesTotal);
  }
  // Holes stay holes: 24 MiB disk with ~2 MiB of data.
  const first = images.listVersions('golden')[0]!;
  assert.ok(fs.statSync(first.filePath).blocks * 512 < 8 * 1024 * 1024, `raw copy allocated ${fs.statSync(first.filePath).blocks * 512} bytes`);
  assert.deepEqual(
    filesUnder(layout.imageDir('golden')),
    [1, 2, 3, 4, 5, 6].map((n) => `v${n}.img`),
  );
  const history = imports.list(10);
  assert.equal(history.length, 6);
  assert.ok(history[0]!.id > history[5]!.id, 'history is newest first');
  assert.equal(images.listVersions('golden')[5]!.sizeBytes, images.listVersions('golden')[2]!.sizeBytes, 'fixed and dynamic VHD give the same disk (no footer in it)');
});

test('an ISO 9660 file is kept as an ISO (not a version), whatever its name', async (t) => {
  const { dir, layout, images, imports } = await setup(t);
  const iso = await makeIso9660(dir, 'Debian Live 13.bin', 2 * 1024 * 1024);
  const job = await imports.wait((await imports.start({ image: 'rescue', path: iso })).id);
  assert.equal(job.state, 'done', JSON.stringify(job.error));
  assert.equal(job.format, 'iso');
  assert.equal(job.version, null);
  assert.equal(job.isoFile, 'Debian-Live-13.bin.iso');
  assert.deepEqual(images.listVersions('rescue'), []);
  const [row] = images.listIsos('rescue');
  assert.equal(row!.filePath, path.join(layout.imageDir('rescue'), 'iso', 'Debian-Live-13.bin.iso'));
  assert.ok(fs.readFileSync(row!.filePath).equals(fs.readFileSync(iso)));
  assert.equal(images.currentVersion('rescue'), undefined, 'an ISO is never a seat disk');
  // A truncated ISO (its volume size says more than the file has) is refused.
  const cut = path.join(dir, 'cut.iso');
  fs.writeFileSync(cut, fs.readFileSync(iso).subarray(0, 1024 * 1024));
  const refused = await imports.wait((await imports.start({ image: 'rescue', path: cut })).id);
  assert.equal(refused.state, 'failed');
  assert.match(refused.error!.message, /ISO 9660 volume is \d+ bytes but the file has only 1048576: the file is truncated/);
});

test('damaged and truncated sources of each format are refused with a clear error and publish nothing', async (t) => {
  const { dir, layout, images, imports } = await setup(t);
  const raw = await makeSourceDisk(dir, 'source.img', 16 * 1024 * 1024);
  const good = await imports.wait((await imports.start({ image: 'golden', path: raw })).id);
  assert.equal(good.state, 'done');
  const before = images.listVersions('golden');
  const filesBefore = filesUnder(layout.imageDir('golden'));
  const bad: [string, string, RegExp][] = [];
  // raw: truncated (GPT backup header missing) and a damaged GPT header (CRC).
  const rawBytes = fs.readFileSync(raw);
  fs.writeFileSync(path.join(dir, 'raw-cut.img'), rawBytes.subarray(0, rawBytes.length - 1024 * 1024));
  bad.push(['raw truncated', path.join(dir, 'raw-cut.img'), /the GPT says the disk has 32768 sectors but the file has 30720: the image is truncated/]);
  const flipped = Buffer.from(rawBytes);
  flipped[512 + 40]! ^= 0xff; // first usable LBA, inside the CRC-protected header
  fs.writeFileSync(path.join(dir, 'raw-bad.img'), flipped);
  bad.push(['raw damaged', path.join(dir, 'raw-bad.img'), /primary GPT header fails its CRC32/]);
  // Per format: header bytes flipped where the format keeps its own checks, and the file cut.
  const damage: Record<(typeof FORMATS)[number], { offsets: number[]; message: RegExp; cut: RegExp }> = {
    qcow2: { offsets: [8, 9, 10, 11, 12, 13, 14, 15], message: /images with a backing file are not supported/, cut: /truncated|damaged/ },
    vpc: { offsets: [64, 65, 66, 67], message: /not a readable disk image: .*checksum/i, cut: /truncated|damaged/ },
    vhdx: { offsets: [65536 + 4, 65536 + 5, 131072 + 4, 131072 + 5], message: /not a readable disk image: .*No valid VHDX header/, cut: /truncated|damaged/ },
    vmdk: { offsets: [12, 13, 14, 15, 16, 17, 18, 19], message: /(damaged|more than the|not a readable)/, cut: /damaged/ },
  };
  for (const format of FORMATS) {
    const file = path.join(dir, `ok.${format}`);
    const r = await runTool('qemu-img', ['convert', '-f', 'raw', '-O', format, raw, file]);
    assert.equal(r.code, 0, describeRun('qemu-img convert', r));
    const bytes = fs.readFileSync(file);
    const broken = Buffer.from(bytes);
    for (const offset of damage[format].offsets) broken[offset]! ^= 0xa5;
    fs.writeFileSync(path.join(dir, `bad.${format}`), broken);
    bad.push([`${format} damaged`, path.join(dir, `bad.${format}`), damage[format].message]);
    fs.writeFileSync(path.join(dir, `cut.${format}`), bytes.subarray(0, Math.floor(bytes.length / 2)));
    bad.push([`${format} truncated`, path.join(dir, `cut.${format}`), damage[format].cut]);
    if (format === 'qcow2') {
      // Damage only qemu-img notices (the refcount table offset).
      const refcount = Buffer.from(bytes);
      for (let o = 48; o < 56; o++) refcount[o]! ^= 0xa5;
      fs.writeFileSync(path.join(dir, 'refcount.qcow2'), refcount);
      bad.push(['qcow2 refcount damaged', path.join(dir, 'refcount.qcow2'), /not a readable disk image: .*Reference count table offset invalid/]);
    }
  }
  for (const [what, file, message] of bad) {
    const job = await imports.wait((await imports.start({ image: 'golden', path: file })).id);
    assert.equal(job.state, 'failed', `${what} was accepted`);
    if (process.env['LANBOOT_SHOW_ERRORS']) console.log(what, '=>', job.error!.message);
    assert.equal(job.error!.code, 'LANBOOT_IMAGE_INVALID', `${what}: ${job.error!.message}`);
    assert.match(job.error!.message, message, what);
    assert.ok(job.error!.message.startsWith(path.basename(file)), `${what}: the message names the file: ${job.error!.message}`);
    assert.deepEqual(images.listVersions('golden'), before, `${what}: versions unchanged`);
    assert.deepEqual(filesUnder(layout.imageDir('golden')), filesBefore, `${what}: no stray files`);
    assert.equal(images.currentVersion('golden')!.number, 1);
  }
  // A path that is not there is refused before a job exists.
  await assert.rejects(imports.start({ image: 'golden', path: path.join(dir, 'missing.img') }), /cannot read .*ENOENT/);
  await assert.rejects(imports.start({ image: '../x', path: raw }), /image/);
});

test('qemu-img progress text is parsed defensively', () => {
  const parser = new QemuProgressParser();
  assert.equal(parser.push('    (0.00/100%)\r'), 0);
  assert.equal(parser.push('    (12.50/100%)\r    (25'), 0.125);
  assert.equal(parser.push('.00/100%)\r'), 0.25);
  assert.equal(parser.push('(999.00/100%)\r'), 0.25, 'out of range is ignored');
  assert.equal(parser.push('(10.00/100%)\r'), 0.25, 'never goes backwards');
  assert.equal(parser.push('x'.repeat(100_000)), 0.25, 'garbage is bounded and ignored');
  assert.equal(parser.push('(100.00/100%)\r'), 1);
});
