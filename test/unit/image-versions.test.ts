// Current version, rollback, delete and prune on a real SQLite database and data dir, with
// seats inserted as rows (the seats table's foreign key is what protects a used version).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { Db } from '../../src/db/database.js';
import { LanbootError } from '../../src/log/errors.js';
import { openTestStore } from './support/test-store.js';

const setup = (t: { after(fn: () => void): void }) => openTestStore(t, 'versions');

async function* bytes(size: number, fill: number): AsyncGenerator<Uint8Array> {
  yield Buffer.alloc(size, fill);
}

let seatCounter = 0;
function addSeatRow(db: Db, name: string, imageId: number, version: number): void {
  const n = ++seatCounter;
  db.prepare(
    `INSERT INTO seats (name, image_id, image_version, mode, target_iqn, serial, naa_hex, created_at)
     VALUES (?, ?, ?, 'fresh', ?, ?, ?, ?)`,
  ).run(name, imageId, version, `iqn.2026-11.test:${name}`, `serial-${n}`, `6${String(n).padStart(31, '0')}`, new Date().toISOString());
}

function refusedWith(code: string, message: RegExp) {
  return (e: unknown) => e instanceof LanbootError && e.code === code && message.test(e.message);
}

test('publishWritten: the written file is verified, read back for its sha256 and becomes the current version', async (t) => {
  const { layout, images, store } = await setup(t);
  let partialSeen = '';
  const v1 = await store.publishWritten(
    'base',
    async (partial, onProgress) => {
      partialSeen = partial;
      assert.equal(fs.statSync(partial).size, 0, 'starts as an empty file');
      assert.equal(fs.statSync(partial).mode & 0o777, 0o600);
      fs.writeFileSync(partial, Buffer.alloc(4096, 1));
      onProgress?.(4096);
    },
    { source: 'commit seat pc-1' },
  );
  assert.ok(partialSeen.endsWith('.partial') && path.dirname(partialSeen) === layout.imageDir('base'));
  assert.equal(fs.existsSync(partialSeen), false);
  assert.equal(v1.number, 1);
  assert.equal(v1.source, 'commit seat pc-1');
  assert.equal(v1.sha256, crypto.createHash('sha256').update(Buffer.alloc(4096, 1)).digest('hex'));
  assert.equal(images.currentVersion('base')?.number, 1);
  // A write that fails, or leaves a wrong size, publishes nothing and leaves no file.
  await assert.rejects(
    store.publishWritten('base', async (p) => fs.writeFileSync(p, Buffer.alloc(1000)), { source: 'x' }),
    refusedWith('LANBOOT_IMAGE_INVALID', /multiple of 512 bytes, this one has 1000/),
  );
  await assert.rejects(
    store.publishWritten('base', async () => {
      throw new Error('seat delta unreadable');
    }, { source: 'x' }),
    refusedWith('LANBOOT_IO_FAILED', /seat delta unreadable/),
  );
  await assert.rejects(
    store.publishWritten('base', async (p) => fs.writeFileSync(p, Buffer.alloc(512)), {
      source: 'x',
      verify: async () => {
        throw new LanbootError('LANBOOT_IMAGE_INVALID', 'differs from the source');
      },
    }),
    /differs from the source/,
  );
  assert.deepEqual(fs.readdirSync(layout.imageDir('base')), ['v1.img']);
  assert.equal(images.currentVersion('base')?.number, 1);
});

test('rollback sets the current version; new versions become current; delete and prune respect current and seats', async (t) => {
  const { db, layout, images, store } = await setup(t);
  for (let i = 1; i <= 4; i++) await store.importVersion('base', bytes(1024, i));
  const image = images.findImage('base')!;
  assert.equal(images.currentVersion('base')?.number, 4);

  // Rollback to v2: new seats and resets use v2 (SeatManager asks currentVersion()).
  assert.equal(store.rollback('base', 2).number, 2);
  assert.equal(images.currentVersion('base')?.number, 2);
  assert.equal(images.latestVersion('base')?.number, 4, 'latest is still v4');
  assert.throws(() => store.rollback('base', 9), refusedWith('LANBOOT_IMAGE_NOT_FOUND', /has no version 9 \(it has v1, v2, v3, v4\)/));
  assert.throws(() => store.rollback('nope', 1), refusedWith('LANBOOT_IMAGE_NOT_FOUND', /image 'nope' does not exist/));

  addSeatRow(db, 'pc-1', image.id, 1);
  addSeatRow(db, 'pc-2', image.id, 1);
  await assert.rejects(store.deleteVersion('base', 2), refusedWith('LANBOOT_VERSION_IN_USE', /v2 is the current version/));
  await assert.rejects(store.deleteVersion('base', 1), refusedWith('LANBOOT_VERSION_IN_USE', /v1 is used by seats pc-1, pc-2/));
  assert.deepEqual(images.seatsUsingVersion(image.id, 1), ['pc-1', 'pc-2']);

  // The foreign key is the last line of defence if a seat takes the version after the check.
  assert.throws(() => images.deleteVersionRow(image.id, 1), /FOREIGN KEY/);

  const v3Path = layout.versionFile('base', 3);
  const deleted = await store.deleteVersion('base', 3);
  assert.equal(deleted.number, 3);
  assert.equal(fs.existsSync(v3Path), false, 'file removed after the row');
  assert.deepEqual(images.listVersions('base').map((v) => v.number), [1, 2, 4]);

  // Prune: v4 is neither current nor used -> removed; v1 (seats) and v2 (current) stay.
  const pruned = await store.prune('base');
  assert.deepEqual(pruned.map((v) => v.number), [4]);
  assert.deepEqual(images.listVersions('base').map((v) => v.number), [1, 2]);
  assert.deepEqual(fs.readdirSync(layout.imageDir('base')).sort(), ['v1.img', 'v2.img']);
  assert.deepEqual(await store.prune('base'), [], 'nothing left to prune');

  // Numbers are never reused: the next version is v5 even though v3 and v4 are gone.
  const v5 = await store.importVersion('base', bytes(512, 9));
  assert.equal(v5.number, 5);
  assert.equal(images.currentVersion('base')?.number, 5, 'a new version becomes current');
});

test('a crash between the row delete and the file delete leaves an unrecorded file that cleanup removes', async (t) => {
  const { layout, images, store } = await setup(t);
  await store.importVersion('base', bytes(512, 1));
  await store.importVersion('base', bytes(512, 2));
  const image = images.findImage('base')!;
  images.deleteVersionRow(image.id, 1); // the row is gone, the "crash" kept the file
  assert.ok(fs.existsSync(layout.versionFile('base', 1)));
  const report = await store.cleanup();
  assert.deepEqual(report.removedUnrecorded, [layout.versionFile('base', 1)]);
  assert.deepEqual(fs.readdirSync(layout.imageDir('base')), ['v2.img']);
});

test('the stored current version survives a version newer than it being deleted', async (t) => {
  const { images, store } = await setup(t);
  for (let i = 1; i <= 3; i++) await store.importVersion('base', bytes(512, i));
  store.rollback('base', 1);
  await store.deleteVersion('base', 3);
  assert.equal(images.currentVersion('base')?.number, 1);
  assert.equal(images.findImage('base')?.currentVersion, 1);
});
