// The contract between the built addon (native/src/napi/addon.cc) and its TypeScript type
// (src/native/index.ts): the exported names and kinds, the engine's methods, and the exact
// fields of every engine event, driven for real (a login, a logout, a refused login, a fresh
// start and a write past the quota, over loopback with test/helpers/iscsi-wire.ts). The tables
// below are typed against the TypeScript declarations, so a change on either side that the
// other does not follow fails here: at compile time for the TS side, at run time for the addon.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';
import { test } from 'node:test';
import { isLanbootErrorCode, LanbootError } from '../../src/log/errors.js';
import { loadNative, requireAddonModule, type EngineEvent, type IscsiEngine, type NativeAddon } from '../../src/native/index.js';
import { IscsiSession } from '../helpers/iscsi-wire.js';
import { tempDir, waitFor } from '../helpers/tools.js';

/** Every export of the addon: a plain function or the engine class. */
const EXPORTS = {
  exportDisk: 'function',
  deltaIsIdle: 'function',
  copySparseFile: 'function',
  verifiedCopy: 'function',
  sendFileRange: 'function',
  prewarmFile: 'function',
  IscsiEngine: 'class',
  sdNotify: 'function',
  openInterfaceUdpSocket: 'function',
} as const satisfies Record<keyof NativeAddon, 'function' | 'class'>;

/** Each engine method, and the code it throws when called without its arguments (null: it
 *  takes none). Native functions report length 0, so arity is checked by calling. */
const ENGINE_METHODS = {
  listen: 'LANBOOT_INVALID_ARGUMENT',
  setTarget: 'LANBOOT_INVALID_TARGET',
  removeTarget: 'LANBOOT_INVALID_ARGUMENT',
  resetDisk: 'LANBOOT_INVALID_ARGUMENT',
  armFreshStart: 'LANBOOT_INVALID_ARGUMENT',
  disarmFreshStart: 'LANBOOT_INVALID_ARGUMENT',
  deltaBytes: 'LANBOOT_INVALID_ARGUMENT',
  readDisk: 'LANBOOT_INVALID_ARGUMENT',
  sessions: null,
  setCommandTrace: 'LANBOOT_INVALID_ARGUMENT',
  commandTraceOn: 'LANBOOT_INVALID_ARGUMENT',
  close: null,
} as const satisfies Record<keyof IscsiEngine, string | null>;

type Kind = 'string' | 'number' | 'boolean';
/** Each event type's fields and their JS types; "?" marks a field the type declares optional. */
const EVENT_FIELDS = {
  login: { type: 'string', targetIqn: 'string', initiatorIqn: 'string', isid: 'string', tsih: 'number', remoteAddress: 'string', discovery: 'boolean' },
  logout: { type: 'string', targetIqn: 'string', initiatorIqn: 'string', isid: 'string', tsih: 'number', reason: 'string' },
  'login-failed': { type: 'string', targetIqn: 'string', initiatorIqn: 'string', remoteAddress: 'string', reason: 'string' },
  error: { type: 'string', targetIqn: 'string', initiatorIqn: 'string', message: 'string', code: 'string', reason: 'string?' },
  'fresh-start': { type: 'string', targetIqn: 'string', initiatorIqn: 'string', remoteAddress: 'string', reset: 'boolean', endedSessions: 'number', reason: 'string' },
} as const satisfies { [T in EngineEvent['type']]: Record<keyof Extract<EngineEvent, { type: T }>, Kind | `${Kind}?`> };

// The optional marks above must match the type's: a field optional in one and not the other
// fails to compile.
type OptionalKeys<T> = { [K in keyof T]-?: undefined extends T[K] ? K : never }[keyof T];
type MarkedOptional<F> = { [K in keyof F]: F[K] extends `${string}?` ? K : never }[keyof F];
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const optionalMarksMatch: { [T in EngineEvent['type']]: Same<OptionalKeys<Extract<EngineEvent, { type: T }>>, MarkedOptional<(typeof EVENT_FIELDS)[T]>> } = {
  login: true,
  logout: true,
  'login-failed': true,
  error: true,
  'fresh-start': true,
};

test('the addon exports exactly the names NativeAddon declares, of the declared kind', () => {
  const addon = requireAddonModule() as Record<string, unknown>;
  assert.deepEqual(Object.keys(addon).sort(), Object.keys(EXPORTS).sort(), 'no export missing, none undeclared');
  for (const [name, kind] of Object.entries(EXPORTS)) {
    assert.equal(typeof addon[name], 'function', name);
    if (kind === 'class') {
      assert.throws(() => (addon[name] as () => unknown)(), TypeError, `${name} needs new`);
    } else {
      // Every function validates its arguments: none is callable without them.
      assert.throws(() => (addon[name] as () => unknown)(), (error: Error & { code?: string }) => error instanceof TypeError && error.code === 'LANBOOT_INVALID_ARGUMENT', name);
    }
  }
});

test('the IscsiEngine instance has exactly the methods IscsiEngine declares', () => {
  const Native = (requireAddonModule() as NativeAddon).IscsiEngine;
  const engine = new Native(() => {});
  try {
    const prototype = Object.getPrototypeOf(engine) as Record<string, unknown>;
    const methods = Object.getOwnPropertyNames(prototype).filter((name) => name !== 'constructor');
    assert.deepEqual(methods.sort(), Object.keys(ENGINE_METHODS).sort());
    for (const [name, code] of Object.entries(ENGINE_METHODS)) {
      assert.equal(typeof prototype[name], 'function', name);
      if (code !== null) {
        assert.throws(() => (engine as unknown as Record<string, () => unknown>)[name]!(), (error: Error & { code?: string }) => error instanceof TypeError && error.code === code, name);
      }
    }
    assert.deepEqual(engine.sessions(), []);
  } finally {
    engine.close();
  }
});

test('loadNative(): the same surface, every failure a LanbootError with a listed code', async (t) => {
  const native = loadNative();
  assert.deepEqual(Object.keys(native).sort(), Object.keys(EXPORTS).sort());
  const engine = new native.IscsiEngine(() => {});
  t.after(() => engine.close());
  for (const name of Object.keys(ENGINE_METHODS)) assert.equal(typeof (engine as unknown as Record<string, unknown>)[name], 'function', name);
  assert.throws(
    () => engine.deltaBytes('iqn.2026-01.test.contract:none'),
    (error: unknown) => error instanceof LanbootError && error.code === 'LANBOOT_TARGET_UNKNOWN' && error.details?.['addon'] === 'deltaBytes',
  );
  assert.throws(() => native.sdNotify(undefined as unknown as string), (error: unknown) => error instanceof LanbootError && error.code === 'LANBOOT_INVALID_ARGUMENT');
  const dir = await tempDir(t, 'lanboot-contract-');
  await assert.rejects(
    native.copySparseFile(path.join(dir, 'missing'), path.join(dir, 'copy')),
    (error: unknown) => error instanceof LanbootError && error.code === 'LANBOOT_FILE_NOT_FOUND' && error.details?.['addon'] === 'copySparseFile',
  );
  assert.throws(
    () => engine.setCommandTrace('iqn.2026-01.test.contract:none', path.join(dir, 'trace.bin')),
    (error: unknown) => error instanceof LanbootError && error.code === 'LANBOOT_TARGET_UNKNOWN' && error.details?.['addon'] === 'setCommandTrace',
  );
  assert.equal(engine.commandTraceOn('iqn.2026-01.test.contract:none'), false);
  await assert.rejects(
    native.prewarmFile(path.join(dir, 'missing'), [0, 4096], 4096),
    (error: unknown) => error instanceof LanbootError && error.code === 'LANBOOT_FILE_NOT_FOUND' && error.details?.['addon'] === 'prewarmFile',
  );
});

test('every engine event carries exactly the fields its TypeScript type declares', { timeout: 60_000 }, async (t) => {
  assert.ok(Object.values(optionalMarksMatch).every(Boolean));
  const dir = await tempDir(t, 'lanboot-contract-');
  const events: EngineEvent[] = [];
  const engine = new (loadNative().IscsiEngine)((event) => events.push(event));
  t.after(() => engine.close());
  const port = engine.listen('127.0.0.1', 0);
  const targetIqn = 'iqn.2026-01.test.contract:seat';
  const initiatorIqn = 'iqn.2026-01.test.contract:pc';
  engine.setTarget({
    iqn: targetIqn,
    goldenPath: '',
    deltaDir: path.join(dir, 'delta'),
    sizeBytes: 16 * 1024 * 1024,
    quotaBytes: 256 * 1024,
    initiators: [initiatorIqn],
    serial: 'CONTRACT1',
    naaHex: '5' + crypto.createHash('sha256').update(targetIqn).digest('hex').slice(0, 15),
  });
  const open = (initiator: string) => IscsiSession.open({ host: '127.0.0.1', port, initiatorIqn: initiator, targetIqn, timeoutMs: 10_000 });
  const seen = (type: EngineEvent['type']) => waitFor(`a ${type} event`, async () => events.find((e) => e.type === type), 10_000, 20);

  // login, then a write past the quota (error, reason "quota"), then logout
  const session = await open(initiatorIqn);
  await seen('login');
  await session.clearUnitAttention();
  let refused = false;
  for (let lba = 0; lba < 4096 && !refused; lba += 128) refused = (await session.write10(lba, Buffer.alloc(128 * 512, 0xa5))).status !== 0;
  assert.ok(refused, 'a write past the 256 KiB quota is refused');
  const full = await seen('error');
  assert.equal(full.type === 'error' && full.code, 'LANBOOT_NO_SPACE');
  assert.equal(full.type === 'error' && full.reason, 'quota');
  await session.logout();
  session.destroy();
  await seen('logout');

  // a refused login: an initiator not in the ACL
  await assert.rejects(open('iqn.2026-01.test.contract:stranger'));
  await seen('login-failed');

  // an armed fresh start runs at the next login
  engine.armFreshStart(targetIqn);
  const next = await open(initiatorIqn);
  await seen('fresh-start');
  await next.logout();
  next.destroy();

  for (const [type, fields] of Object.entries(EVENT_FIELDS) as [EngineEvent['type'], Record<string, string>][]) {
    const samples = events.filter((e) => e.type === type);
    assert.ok(samples.length > 0, `saw a ${type} event`);
    for (const event of samples) {
      const record = event as unknown as Record<string, unknown>;
      const undeclared = Object.keys(record).filter((key) => !(key in fields));
      assert.deepEqual(undeclared, [], `${type}: fields the TypeScript type lacks`);
      for (const [key, kind] of Object.entries(fields)) {
        if (!(key in record)) {
          assert.ok(kind.endsWith('?'), `${type}: required field ${key} missing`);
          continue;
        }
        assert.equal(typeof record[key], kind.replace('?', ''), `${type}.${key}`);
      }
      if (event.type === 'error') assert.ok(isLanbootErrorCode(event.code), `error event code ${event.code} is in the list`);
    }
  }
});
