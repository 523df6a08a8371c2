import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { DEFAULT_MIGRATIONS_DIR, discoverMigrations, migrate, openDatabase } from '../../src/db/database.js';
import { LanbootError } from '../../src/log/errors.js';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lanboot-db-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function tables(db: ReturnType<typeof openDatabase>): string[] {
  return (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
}

test('fresh database: WAL, foreign keys on, every table created and the migration recorded', async (t) => {
  const dir = tempDir(t);
  const db = openDatabase(path.join(dir, 'lanboot.db'));
  t.after(() => db.close());
  assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  assert.equal(db.pragma('foreign_keys', { simple: true }), 1);
  const { applied } = await migrate(db);
  assert.ok(applied.includes('0001-images-and-seats'), `applied: ${applied.join(', ')}`);
  for (const table of ['images', 'image_versions', 'seats', 'seat_initiators', 'schema_migrations']) assert.ok(tables(db).includes(table), table);
  const recorded = (db.prepare('SELECT name FROM schema_migrations ORDER BY name').all() as { name: string }[]).map((r) => r.name);
  assert.deepEqual(recorded, applied);
  // The foreign keys hold: a seat cannot point at an image that does not exist.
  assert.throws(
    () =>
      db
        .prepare("INSERT INTO seats (name, image_id, image_version, mode, target_iqn, serial, naa_hex, created_at) VALUES ('a', 99, 1, 'fresh', 'iqn', 's', 'n', 'now')")
        .run(),
    /FOREIGN KEY constraint failed/,
  );
});

test('re-running migrations is a no-op, also after reopening the file', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'lanboot.db');
  const first = openDatabase(file);
  await migrate(first);
  first.prepare("INSERT INTO images (name, created_at) VALUES ('debian', 'now')").run();
  assert.deepEqual((await migrate(first)).applied, []);
  first.close();
  const again = openDatabase(file);
  t.after(() => again.close());
  assert.deepEqual((await migrate(again)).applied, []);
  assert.equal((again.prepare('SELECT COUNT(*) AS n FROM images').get() as { n: number }).n, 1, 'data survives');
});

test('migrations are discovered from the folder at run time, in name order', async (t) => {
  const dir = tempDir(t);
  const migrations = path.join(dir, 'migrations');
  fs.mkdirSync(migrations);
  // Written out of order, with files that are not migrations next to them.
  fs.writeFileSync(path.join(migrations, '0200-boot-events.mjs'), "export function up(db) { db.exec('CREATE TABLE boot_events (id INTEGER PRIMARY KEY, lease_ip TEXT REFERENCES leases(ip))'); }\n");
  fs.writeFileSync(path.join(migrations, '0100-leases.mjs'), "export function up(db) { db.exec('CREATE TABLE leases (ip TEXT PRIMARY KEY)'); }\n");
  fs.writeFileSync(path.join(migrations, '0100-leases.js.map'), '{}');
  fs.writeFileSync(path.join(migrations, '0100-leases.d.ts'), 'export {};');
  fs.writeFileSync(path.join(migrations, 'README.md'), 'notes');
  assert.deepEqual(
    discoverMigrations(migrations).map((m) => m.name),
    ['0100-leases', '0200-boot-events'],
  );
  const db = openDatabase(path.join(dir, 'x.db'));
  t.after(() => db.close());
  assert.deepEqual((await migrate(db, migrations)).applied, ['0100-leases', '0200-boot-events']);
  // A file added later (another part of lanboot) is applied on the next start, alone.
  fs.writeFileSync(path.join(migrations, '0101-lease-expiry.mjs'), "export function up(db) { db.exec('ALTER TABLE leases ADD COLUMN expires TEXT'); }\n");
  assert.deepEqual((await migrate(db, migrations)).applied, ['0101-lease-expiry']);
});

test('the shipped migrations folder holds only well-named migrations', () => {
  const found = discoverMigrations(DEFAULT_MIGRATIONS_DIR);
  assert.ok(found.length >= 1);
  for (const m of found) assert.match(path.basename(m.file), /^\d{4}-[a-z0-9-]+\.(js|ts)$/);
});

test('a failing migration is rolled back, not recorded, and reported with its name', async (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, '0001-ok.mjs'), "export function up(db) { db.exec('CREATE TABLE a (x INTEGER)'); }\n");
  fs.writeFileSync(path.join(dir, '0002-broken.mjs'), "export function up(db) { db.exec('CREATE TABLE b (x INTEGER)'); db.exec('NOT SQL'); }\n");
  fs.writeFileSync(path.join(dir, '0003-after.mjs'), "export function up(db) { db.exec('CREATE TABLE c (x INTEGER)'); }\n");
  const db = openDatabase(path.join(dir, 'x.db'));
  t.after(() => db.close());
  await assert.rejects(migrate(db, dir), (error: unknown) => {
    assert.ok(error instanceof LanbootError);
    assert.equal(error.code, 'LANBOOT_DB_MIGRATION_FAILED');
    assert.match(error.message, /^migration 0002-broken failed and was rolled back/);
    return true;
  });
  assert.deepEqual(tables(db).filter((n) => n.length === 1), ['a'], 'b rolled back, c never ran');
  assert.deepEqual((db.prepare('SELECT name FROM schema_migrations').all() as { name: string }[]).map((r) => r.name), ['0001-ok']);
});

test('a migration module without up() is refused', async (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, '0001-empty.mjs'), 'export const nothing = 1;\n');
  const db = openDatabase(path.join(dir, 'x.db'));
  t.after(() => db.close());
  await assert.rejects(migrate(db, dir), /migration 0001-empty: .* exports no up\(db\) function/);
});
