// The web UI's auth building blocks: scrypt password hashes, the login rate limit's backoff,
// and server-side sessions (hashed tokens, idle and absolute expiry, first-run race).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { migrate, openDatabase } from '../../src/db/database.js';
import { checkNewPassword, hashPassword, verifyPassword } from '../../src/web/auth/password.js';
import { FREE_FAILURES, LoginRateLimiter } from '../../src/web/auth/rate-limit.js';
import { AuthStore, SESSION_IDLE_MS, SESSION_MAX_MS, tokensEqual } from '../../src/web/auth/sessions.js';

test('scrypt hashes: salted, verifiable, wrong passwords and damaged rows refused', async () => {
  const a = await hashPassword('correct horse battery');
  const b = await hashPassword('correct horse battery');
  assert.match(a, /^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
  assert.notEqual(a, b, 'a fresh salt per hash');
  assert.equal(await verifyPassword('correct horse battery', a), true);
  assert.equal(await verifyPassword('correct horse batterY', a), false);
  assert.equal(await verifyPassword('', a), false);
  assert.equal(await verifyPassword('x'.repeat(10_000), a), false, 'over-long input is refused before scrypt');
  // Unicode normalization: the same password typed as NFC or NFD.
  const nfc = await hashPassword('caf\u00e9 au lait!');
  assert.equal(await verifyPassword('cafe\u0301 au lait!', nfc), true);
  for (const damaged of ['', 'scrypt$1$1$1$a$b', 'bcrypt$x', a.replace('$32768$', '$4294967296$'), a.slice(0, -4)]) {
    assert.equal(await verifyPassword('correct horse battery', damaged), false, damaged);
  }
});

test('new passwords: length limits and confirmation, clear messages', () => {
  assert.throws(() => checkNewPassword('', ''), /password: required/);
  assert.throws(() => checkNewPassword('short', 'short'), /at least 10 characters/);
  assert.throws(() => checkNewPassword('y'.repeat(300), 'y'.repeat(300)), /at most 256 characters/);
  assert.throws(() => checkNewPassword('long enough 1', 'long enough 2'), /the two entries differ/);
  assert.throws(() => checkNewPassword(['array'], ['array']), /required/);
  assert.equal(checkNewPassword('long enough', 'long enough'), 'long enough');
});

test('login rate limit: free tries, then doubling waits per address, cleared by success', () => {
  let now = 1_000_000;
  const limiter = new LoginRateLimiter(() => now);
  for (let i = 1; i < FREE_FAILURES; i++) assert.equal(limiter.recordFailure('10.0.0.5'), 0, `failure ${i} is free`);
  assert.equal(limiter.waitMs('10.0.0.5'), 0);
  assert.equal(limiter.recordFailure('10.0.0.5'), 1000);
  assert.equal(limiter.waitMs('10.0.0.5'), 1000);
  assert.equal(limiter.waitMs('10.0.0.6'), 0, 'other addresses are not affected');
  now += 1000;
  assert.equal(limiter.waitMs('10.0.0.5'), 0);
  assert.equal(limiter.recordFailure('10.0.0.5'), 2000);
  now += 2000;
  assert.equal(limiter.recordFailure('10.0.0.5'), 4000);
  for (let i = 0; i < 30; i++) {
    now += limiter.waitMs('10.0.0.5');
    limiter.recordFailure('10.0.0.5');
  }
  assert.equal(limiter.waitMs('10.0.0.5'), 15 * 60 * 1000, 'capped at 15 min');
  limiter.recordSuccess('10.0.0.5');
  assert.equal(limiter.waitMs('10.0.0.5'), 0);
  // Bounded memory: thousands of addresses.
  for (let i = 0; i < 10_000; i++) limiter.recordFailure(`10.1.${i >> 8}.${i & 255}`);
  assert.ok((limiter as unknown as { entries: Map<string, unknown> }).entries.size <= 4096);
});
test('login limiter: an attempt is counted before the password check, so parallel tries cannot pass the gate together', () => {
  let now = 1_000_000;
  const limiter = new LoginRateLimiter(() => now);
  const admitted = Array.from({ length: 40 }, () => limiter.beginAttempt('10.0.0.9')).filter((wait) => wait === 0).length;
  assert.equal(admitted, FREE_FAILURES);
  assert.ok(limiter.waitMs('10.0.0.9') > 0);
  limiter.recordSuccess('10.0.0.9');
  assert.equal(limiter.beginAttempt('10.0.0.9'), 0, 'a right password clears the address');
  now += 1;
  assert.equal(limiter.beginAttempt('10.0.0.10'), 0, 'other addresses are not affected');
});


test('sessions: only token hashes stored, idle and absolute expiry, logout, first-run race', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lanboot-auth-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const db = openDatabase(path.join(dir, 'db'));
  t.after(() => db.close());
  await migrate(db);
  let now = 5_000_000;
  const store = new AuthStore(db, () => now);
  assert.equal(store.isSetUp(), false);
  assert.equal(store.setInitialPassword('hash-1'), true);
  assert.equal(store.setInitialPassword('hash-2'), false, 'a second setup never overwrites');
  assert.equal(store.passwordHash(), 'hash-1');

  const { token, session } = store.createSession('10.0.0.5');
  const stored = JSON.stringify(db.prepare('SELECT * FROM web_sessions').all());
  assert.ok(!stored.includes(token), 'the cookie token itself is not stored');
  assert.equal(store.findSession(token)?.csrfToken, session.csrfToken);
  assert.equal(store.findSession(token + 'x'), undefined);
  assert.equal(store.findSession(undefined), undefined);
  assert.equal(store.findSession('a'.repeat(1000)), undefined);

  // Idle expiry slides with use...
  now += SESSION_IDLE_MS - 1000;
  assert.ok(store.findSession(token));
  now += SESSION_IDLE_MS - 1000;
  assert.ok(store.findSession(token), 'used within the idle window: still valid');
  // ...but never beyond the absolute maximum.
  while (now < session.createdAt + SESSION_MAX_MS) {
    now += SESSION_IDLE_MS / 2;
    store.findSession(token);
  }
  assert.equal(store.findSession(token), undefined, 'absolute expiry');

  const second = store.createSession('10.0.0.5');
  now += SESSION_IDLE_MS + 1;
  assert.equal(store.findSession(second.token), undefined, 'idle expiry');

  const third = store.createSession('10.0.0.5');
  store.deleteSession(third.token);
  assert.equal(store.findSession(third.token), undefined, 'logout');

  const fourth = store.createSession('10.0.0.5');
  store.changePassword('hash-3');
  assert.equal(store.findSession(fourth.token), undefined, 'a password change ends every session');

  assert.equal(tokensEqual('abc', 'abc'), true);
  assert.equal(tokensEqual('abc', 'abd'), false);
  assert.equal(tokensEqual('abc', 'abcd'), false);
  assert.equal(tokensEqual(undefined, 'abc'), false);
});
