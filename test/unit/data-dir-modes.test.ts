// The data directory and the database (CHAP secrets, the admin password hash) are the owner's
// alone: a directory that already existed with a looser mode is tightened at start, and a new
// database is created 0600.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { startFixture } from './support/supervisor-fixture.js';

const mode = (file: string) => fs.statSync(file).mode & 0o777;

test('an existing data dir 0755 with a 0644 database is tightened to 0700 / 0600 at start, with a log line', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lanboot-modes-'));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  const dataDir = path.join(root, 'data');
  fs.mkdirSync(dataDir, { mode: 0o755 });
  fs.chmodSync(dataDir, 0o755);
  fs.writeFileSync(path.join(dataDir, 'lanboot.db'), '');
  fs.chmodSync(path.join(dataDir, 'lanboot.db'), 0o644);
  const f = await startFixture(t, { flags: { data: dataDir } });
  assert.equal(mode(dataDir), 0o700);
  for (const file of ['lanboot.db', 'lanboot.db-wal', 'lanboot.db-shm']) {
    const p = path.join(dataDir, file);
    if (fs.existsSync(p)) assert.equal(mode(p), 0o600, file);
  }
  assert.ok(fs.existsSync(path.join(dataDir, 'lanboot.db-wal')), 'WAL mode made a -wal file');
  const line = f.logLines().find((l) => l.msg === 'data directory was open to other users: permissions tightened');
  assert.ok(line, 'one warning says what was changed');
  assert.deepEqual((line.tightened as { path: string; from: string; to: string }[]).map((x) => [path.basename(x.path), x.from, x.to]), [
    ['data', '0755', '0700'],
    ['lanboot.db', '0644', '0600'],
  ]);
});

test('a new data dir and database are private from the start, without a warning', async (t) => {
  const previous = process.umask(0o022);
  t.after(() => process.umask(previous));
  const f = await startFixture(t);
  assert.equal(mode(f.dataDir), 0o700);
  assert.equal(mode(path.join(f.dataDir, 'lanboot.db')), 0o600);
  assert.equal(mode(path.join(f.dataDir, 'lanboot.db-wal')), 0o600);
  assert.equal(f.logLines().some((l) => l.msg === 'data directory was open to other users: permissions tightened'), false);
});
