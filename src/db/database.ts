// The supervisor's state: one SQLite database (better-sqlite3, WAL) at DATA/lanboot.db.
// Migrations are TypeScript modules in ./migrations, discovered at run time and applied in
// name order, each inside its own transaction, and recorded in schema_migrations. Other
// parts of lanboot add their own files to that folder (0100+ DHCP leases, 0200+ boot
// events) without touching any shared index.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { LanbootError } from '../log/errors.js';

export type Db = Database.Database;

/** What a migration module exports. */
export interface Migration {
  /** Applies the change; runs inside a transaction, so it must be synchronous. */
  up(db: Db): void;
}

export const DEFAULT_MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');

/** 0001-some-name.js: four digits, a dash, lower-case words. */
const MIGRATION_FILE = /^(\d{4}-[a-z0-9][a-z0-9-]*)\.(js|mjs|ts)$/;

export function openDatabase(file: string): Db {
  const db = new Database(file);
  // WAL: readers never block the writer and a commit is one fsync of the log.
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  // Under WAL, NORMAL is durable against process crashes (not power loss between
  // checkpoints); state changes here are rare, so pay for FULL.
  db.pragma('synchronous = FULL');
  db.pragma('busy_timeout = 5000');
  return db;
}

export interface MigrationFile {
  name: string;
  file: string;
}

/** The migration files in `dir`, sorted by name; .d.ts and source maps are skipped, and a
 *  name present as both .ts and .js (source next to build output) counts once. */
export function discoverMigrations(dir: string): MigrationFile[] {
  const byName = new Map<string, string>();
  for (const entry of fs.readdirSync(dir)) {
    if (entry.endsWith('.d.ts')) continue;
    const match = MIGRATION_FILE.exec(entry);
    if (!match) continue;
    const name = match[1]!;
    const existing = byName.get(name);
    // Prefer compiled JavaScript: plain node cannot import .ts.
    if (!existing || existing.endsWith('.ts')) byName.set(name, path.join(dir, entry));
  }
  return [...byName.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, file]) => ({ name, file }));
}

export interface MigrationResult {
  applied: string[];
}

export async function migrate(db: Db, dir: string = DEFAULT_MIGRATIONS_DIR): Promise<MigrationResult> {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    name TEXT PRIMARY KEY,
    applied_at TEXT NOT NULL
  ) STRICT`);
  const done = new Set((db.prepare('SELECT name FROM schema_migrations').all() as { name: string }[]).map((r) => r.name));
  const applied: string[] = [];
  for (const { name, file } of discoverMigrations(dir)) {
    if (done.has(name)) continue;
    let migration: Partial<Migration>;
    try {
      migration = (await import(pathToFileURL(file).href)) as Partial<Migration>;
    } catch (error) {
      throw new LanbootError('LANBOOT_DB_MIGRATION_FAILED', `migration ${name}: cannot load ${file}: ${(error as Error).message}`, { migration: name }, { cause: error });
    }
    if (typeof migration.up !== 'function') {
      throw new LanbootError('LANBOOT_DB_MIGRATION_FAILED', `migration ${name}: ${file} exports no up(db) function`, { migration: name });
    }
    const up = migration.up;
    try {
      db.transaction(() => {
        const result: unknown = up(db);
        if (result instanceof Promise) throw new Error('up(db) must be synchronous (it runs inside a transaction)');
        db.prepare('INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)').run(name, new Date().toISOString());
      })();
    } catch (error) {
      throw new LanbootError('LANBOOT_DB_MIGRATION_FAILED', `migration ${name} failed and was rolled back: ${(error as Error).message}`, { migration: name }, { cause: error });
    }
    applied.push(name);
  }
  return { applied };
}
