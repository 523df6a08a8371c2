import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { LanbootError } from '../../src/log/errors.js';
import { openTestStore } from './support/test-store.js';

const setup = (t: { after(fn: () => void): void }) => openTestStore(t, 'store');

async function* chunksOf(data: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

test('import: bytes equal, sha256 right, read-only file, recorded as v1 then v2', async (t) => {
  const { layout, images, store } = await setup(t);
  const data = crypto.randomBytes(3 * 1024 * 1024 + 512);
  const seen: number[] = [];
  const v1 = await store.importVersion('debian', chunksOf(data, 65536), { expectedBytes: data.length, onProgress: (n) => seen.push(n) });
  assert.equal(v1.number, 1);
  assert.equal(v1.filePath, layout.versionFile('debian', 1));
  assert.equal(v1.sizeBytes, data.length);
  assert.equal(v1.sha256, crypto.createHash('sha256').update(data).digest('hex'));
  assert.ok(fs.readFileSync(v1.filePath).equals(data), 'bytes on disk equal the source');
  assert.equal(fs.statSync(v1.filePath).mode & 0o777, 0o444);
  assert.equal(seen.at(-1), data.length);
  assert.ok(seen.every((n, i) => i === 0 || n > seen[i - 1]!), 'progress only grows');

  const v2 = await store.importVersion('debian', chunksOf(data.subarray(0, 1024), 100));
  assert.equal(v2.number, 2);
  assert.deepEqual(images.listVersions('debian').map((v) => v.number), [1, 2]);
  assert.equal(images.latestVersion('debian')?.number, 2);
  assert.deepEqual(fs.readdirSync(layout.imageDir('debian')).sort(), ['v1.img', 'v2.img']);
});

test('a version being written is only a .partial: never listed, never under its final name', async (t) => {
  const { layout, images, store } = await setup(t);
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let halfWritten!: () => void;
  const reachedHalf = new Promise<void>((resolve) => (halfWritten = resolve));
  async function* slowSource(): AsyncGenerator<Uint8Array> {
    yield Buffer.alloc(4096, 1);
    halfWritten();
    await gate;
    yield Buffer.alloc(4096, 2);
  }
  const importing = store.importVersion('win', slowSource());
  await reachedHalf;
  // Give the first chunk time to reach the file.
  await new Promise((resolve) => setTimeout(resolve, 50));
  const entries = fs.readdirSync(layout.imageDir('win'));
  assert.equal(entries.length, 1);
  assert.match(entries[0]!, /\.partial$/);
  assert.deepEqual(images.listVersions('win'), []);
  assert.equal(images.findImage('win'), undefined);
  release();
  const version = await importing;
  assert.deepEqual(fs.readdirSync(layout.imageDir('win')), ['v1.img']);
  assert.equal(version.sizeBytes, 8192);
});

test('start-up cleanup removes leftover .partial files and unrecorded version files, keeps recorded ones', async (t) => {
  const { layout, store } = await setup(t);
  const kept = await store.importVersion('debian', chunksOf(Buffer.alloc(1024, 7), 512));
  fs.writeFileSync(path.join(layout.imageDir('debian'), 'import-1-abc.img.partial'), 'half');
  fs.mkdirSync(layout.imageDir('other'));
  fs.writeFileSync(path.join(layout.imageDir('other'), 'v3.img'), Buffer.alloc(512));
  const report = await store.cleanup();
  assert.equal(report.removedPartials.length, 1);
  assert.deepEqual(report.removedUnrecorded, [path.join(layout.imageDir('other'), 'v3.img')]);
  assert.deepEqual(fs.readdirSync(layout.imageDir('debian')), ['v1.img']);
  assert.ok(fs.existsSync(kept.filePath));
});

test('bad input is refused and leaves nothing behind', async (t) => {
  const { layout, images, store } = await setup(t);
  const refused = async (promise: Promise<unknown>, message: RegExp) => {
    await assert.rejects(promise, (e: unknown) => e instanceof LanbootError && e.code === 'LANBOOT_IMAGE_INVALID' && message.test(e.message));
  };
  await refused(store.importVersion('odd', chunksOf(Buffer.alloc(1000), 100)), /non-empty multiple of 512 bytes, this one has 1000/);
  await refused(store.importVersion('odd', chunksOf(Buffer.alloc(0), 1)), /this one has 0/);
  await refused(store.importVersion('odd', chunksOf(Buffer.alloc(1024), 512), { expectedBytes: 2048 }), /ended after 1024 of 2048 bytes/);
  await refused(store.importVersion('odd', chunksOf(Buffer.alloc(4096), 512), { expectedBytes: 2048 }), /more than the announced 2048 bytes/);
  await refused(store.importVersion('odd', chunksOf(Buffer.alloc(512), 512), { expectedBytes: 100 }), /this one has 100/);
  async function* failing(): AsyncGenerator<Uint8Array> {
    yield Buffer.alloc(512);
    throw new Error('client went away');
  }
  await assert.rejects(store.importVersion('odd', failing()), (e: unknown) => e instanceof LanbootError && e.code === 'LANBOOT_IO_FAILED' && /client went away/.test(e.message));
  await assert.rejects(store.importVersion('../escape', chunksOf(Buffer.alloc(512), 512)), /expected an image name/);
  assert.deepEqual(fs.readdirSync(layout.imageDir('odd')), []);
  assert.deepEqual(images.listVersions(), []);
  assert.ok(!fs.existsSync(path.join(layout.dataDir, 'escape')));
});

test('an image larger than the free space is refused before anything is written', async (t) => {
  const { layout, store } = await setup(t);
  const fsStat = fs.statfsSync(layout.dataDir);
  // Bigger than the whole file system: cannot fit, however much others free meanwhile.
  const tooBig = (Math.ceil((fsStat.blocks * fsStat.bsize) / 512) + 1024) * 512;
  let pulled = false;
  async function* source(): AsyncGenerator<Uint8Array> {
    pulled = true;
    yield Buffer.alloc(512);
  }
  await assert.rejects(store.importVersion('huge', source(), { expectedBytes: tooBig }), (e: unknown) => e instanceof LanbootError && e.code === 'LANBOOT_NO_SPACE' && /not enough space/.test(e.message));
  assert.equal(pulled, false);
  assert.deepEqual(fs.readdirSync(layout.imageDir('huge')), []);
});
