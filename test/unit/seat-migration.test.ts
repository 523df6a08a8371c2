// Migration 0400 (seat modes) on a database that already has seats: it rebuilds `seats`
// (image columns nullable for install seats), which with foreign keys on would cascade-delete
// seat_initiators if the migration did not save and restore them. Also: the AUTOINCREMENT
// counter survives (a removed seat's id, and so its delta directory, is never reused), the
// foreign keys still hold, and the one-maintenance-seat-per-image rule is enforced.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { DEFAULT_MIGRATIONS_DIR, discoverMigrations, migrate, openDatabase } from '../../src/db/database.js';
import { SeatRepository } from '../../src/db/seats.js';

test('migration 0400 keeps existing seats, their initiators and the id counter', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lanboot-seat-migration-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const migrations = path.join(dir, 'migrations');
  fs.mkdirSync(migrations);
  const all = discoverMigrations(DEFAULT_MIGRATIONS_DIR);
  const target = all.find((m) => m.name.startsWith('0400-'));
  assert.ok(target, 'migration 0400 exists');
  // The database as it was before 0400: every earlier migration.
  for (const m of all.filter((m) => m.name < target.name)) fs.copyFileSync(m.file, path.join(migrations, path.basename(m.file)));

  const db = openDatabase(path.join(dir, 'lanboot.db'));
  t.after(() => db.close());
  await migrate(db, migrations);
  db.prepare("INSERT INTO images (id, name, created_at) VALUES (1, 'win', 'now')").run();
  db.prepare("INSERT INTO image_versions (image_id, number, file_path, size_bytes, sha256, created_at) VALUES (1, 1, '/x/v1.img', 4096, 'aa', 'now')").run();
  const insertSeat = db.prepare(
    `INSERT INTO seats (name, image_id, image_version, mode, mac, target_iqn, chap_user, chap_secret, serial, naa_hex, created_at)
     VALUES (?, 1, 1, ?, ?, ?, ?, 'secretsecret12', ?, ?, 'now')`,
  );
  for (const [i, name] of ['pc-1', 'pc-2', 'pc-3'].entries()) {
    insertSeat.run(name, i === 0 ? 'fresh' : 'persistent', `52:54:00:00:00:0${i}`, `iqn.2026-11.lanboot:${name}`, name, `serial-${i}`, `naa-${i}`);
  }
  const addInitiator = db.prepare('INSERT INTO seat_initiators (seat_id, iqn) VALUES (?, ?)');
  addInitiator.run(1, 'iqn.2026-11.pc:one');
  addInitiator.run(1, 'iqn.2026-11.pc:one-b');
  addInitiator.run(2, 'iqn.2026-11.pc:two');
  addInitiator.run(3, 'iqn.2026-11.pc:three');
  db.prepare("DELETE FROM seats WHERE name = 'pc-3'").run(); // id 3 used once: must never come back
  const before = db.prepare('SELECT * FROM seats ORDER BY id').all();
  const initiatorsBefore = db.prepare('SELECT * FROM seat_initiators ORDER BY seat_id, iqn').all();
  assert.equal(initiatorsBefore.length, 3, 'the cascade removed pc-3 initiators before the migration');

  fs.copyFileSync(target.file, path.join(migrations, path.basename(target.file)));
  const { applied } = await migrate(db, migrations);
  assert.deepEqual(applied, [target.name]);

  const columns = ['id', 'name', 'image_id', 'image_version', 'mode', 'mac', 'target_iqn', 'chap_user', 'chap_secret', 'serial', 'naa_hex', 'created_at'];
  const pick = (rows: unknown[]) => (rows as Record<string, unknown>[]).map((r) => Object.fromEntries(columns.map((c) => [c, r[c]])));
  assert.deepEqual(pick(db.prepare('SELECT * FROM seats ORDER BY id').all()), pick(before), 'seats unchanged');
  assert.deepEqual(db.prepare('SELECT * FROM seat_initiators ORDER BY seat_id, iqn').all(), initiatorsBefore, 'initiators kept');
  assert.deepEqual(db.pragma('foreign_key_check'), [], 'no dangling references');

  const repo = new SeatRepository(db);
  const pc1 = repo.findByName('pc-1')!;
  assert.deepEqual(pc1.initiatorIqns, ['iqn.2026-11.pc:one', 'iqn.2026-11.pc:one-b']);
  assert.equal(pc1.quotaBytes, 0);
  assert.equal(pc1.sizeBytes, null);
  assert.equal(repo.nextId(), 4, 'the id counter survived the rebuild');

  // An install seat: no image, a size.
  const install = repo.insert({
    name: 'inst',
    imageId: null,
    imageVersion: null,
    sizeBytes: 64 * 2 ** 30,
    mode: 'install',
    mac: null,
    targetIqn: 'iqn.2026-11.lanboot:inst',
    initiatorIqns: ['iqn.2026-11.pc:inst'],
    chap: null,
    mutualChap: null,
    serial: 'serial-i',
    naaHex: 'naa-i',
    createdAt: 'now',
  });
  assert.equal(install.id, 4);
  assert.deepEqual([install.imageName, install.imageVersion, install.sizeBytes], [null, null, 64 * 2 ** 30]);
  // The schema still refuses what makes no sense.
  assert.throws(
    () => db.prepare("INSERT INTO seats (name, image_id, image_version, mode, target_iqn, serial, naa_hex, created_at) VALUES ('x', 9, 1, 'fresh', 'i', 's', 'n', 'now')").run(),
    /FOREIGN KEY constraint failed/,
  );
  assert.throws(
    () => db.prepare("INSERT INTO seats (name, image_id, image_version, mode, target_iqn, serial, naa_hex, created_at) VALUES ('x', NULL, NULL, 'install', 'i', 's', 'n', 'now')").run(),
    /CHECK constraint failed/,
    'an install seat without a size',
  );
  // One maintenance seat per image.
  repo.setMode(pc1.id, 'maintenance');
  assert.throws(() => repo.setMode(repo.findByName('pc-2')!.id, 'maintenance'), /UNIQUE constraint failed/);
  // Removing a seat still cascades to its initiators and snapshots.
  repo.addSnapshot({ seatId: pc1.id, number: 1, label: null, imageId: 1, imageVersion: 1, deltaBytes: 0, createdAt: 'now' });
  repo.remove(pc1.id);
  assert.equal((db.prepare('SELECT COUNT(*) AS n FROM seat_initiators WHERE seat_id = ?').get(pc1.id) as { n: number }).n, 0);
  assert.equal((db.prepare('SELECT COUNT(*) AS n FROM seat_snapshots WHERE seat_id = ?').get(pc1.id) as { n: number }).n, 0);
});
