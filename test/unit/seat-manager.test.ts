// The iSCSI control plane against the recording engine (see support/recording-engine.ts).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { parseAddSeatRequest, SeatManager } from '../../src/seats/index.js';
import { LanbootError } from '../../src/log/errors.js';
import { loadNative } from '../../src/native/index.js';
import { RecordingEngine } from './support/recording-engine.js';
import { openTestStore } from './support/test-store.js';

async function setup(t: { after(fn: () => void): void }) {
  const { layout, images, seats, store } = await openTestStore(t, 'seats');
  async function* bytes(n: number) {
    yield Buffer.alloc(n, 1);
  }
  await store.importVersion('base', bytes(4096));
  const engine = new RecordingEngine(() => {});
  const manager = new SeatManager({ layout, images, seats, engine, logger: pino({ level: 'silent' }), portal: () => '192.0.2.1:3260', diskTools: loadNative() });
  return { manager, engine, store, seats, bytes, layout };
}

test('prepareForBoot: a fresh seat is reset and gets a new CHAP secret; a persistent one keeps its delta', async (t) => {
  const { manager, engine } = await setup(t);
  const fresh = manager.add(parseAddSeatRequest({ name: 'cafe-1', image: 'base', mode: 'fresh', mac: 'AA-BB-CC-00-00-01', mutualChap: true }));
  const persistent = manager.add(parseAddSeatRequest({ name: 'lab-1', image: 'base', mode: 'persistent' }));
  const bootFresh = manager.prepareForBoot('cafe-1');
  assert.deepEqual(engine.resets, [fresh.targetIqn]);
  assert.notEqual(bootFresh.chap!.secret, fresh.chap!.secret);
  assert.notEqual(bootFresh.mutualChap!.secret, fresh.mutualChap!.secret);
  assert.notEqual(bootFresh.mutualChap!.secret, bootFresh.chap!.secret);
  assert.deepEqual(engine.targets.get(fresh.targetIqn)!.chap, bootFresh.chap, 'the engine checks the new secret');
  assert.deepEqual(manager.show('cafe-1').chap, bootFresh.chap, 'and it is stored');

  const bootPersistent = manager.prepareForBoot('lab-1');
  assert.deepEqual(engine.resets, [fresh.targetIqn], 'no reset of a persistent seat');
  assert.notEqual(bootPersistent.chap!.secret, persistent.chap!.secret);
  assert.equal(manager.findByMac('aa:bb:cc:00:00:01')?.name, 'cafe-1');
  assert.equal(manager.findByMac('aa:bb:cc:00:00:02'), undefined);
});

test('a seat without CHAP keeps none; unknown seats are reported', async (t) => {
  const { manager, engine } = await setup(t);
  const open = manager.add(parseAddSeatRequest({ name: 'open', image: 'base', chap: false, mode: 'persistent' }));
  assert.equal(manager.prepareForBoot('open').chap, null);
  assert.equal(engine.targets.get(open.targetIqn)!.chap, undefined);
  assert.throws(() => manager.prepareForBoot('ghost'), (e: unknown) => e instanceof LanbootError && e.code === 'LANBOOT_SEAT_NOT_FOUND');
  assert.throws(() => manager.add(parseAddSeatRequest({ name: 'x', image: 'base', chap: 'yes' })), /chap: expected true or false/);
  assert.throws(() => manager.add(parseAddSeatRequest({ name: 'x', image: 'base', chap: false, mutualChap: true })), /mutual CHAP needs CHAP/);
  assert.throws(() => manager.add(parseAddSeatRequest({ name: 'x', image: 'base', initiators: 'iqn.2026-11.a.b' })), /initiators: expected a list/);
  assert.throws(() => manager.add(parseAddSeatRequest({ name: 'x', image: 'base', initiators: Array.from({ length: 17 }, (_, i) => `iqn.2026-11.a.b:${i}`) })), /at most 16/);
});

test('reset without a newer version keeps the version and only drops the delta', async (t) => {
  const { manager, engine, store, bytes, layout } = await setup(t);
  const seat = manager.add(parseAddSeatRequest({ name: 'pc', image: 'base' }));
  const setTargetsBefore = engine.calls.filter((c) => c.method === 'setTarget').length;
  assert.equal(manager.reset('pc').version, 1);
  assert.equal(engine.calls.filter((c) => c.method === 'setTarget').length, setTargetsBefore, 'backing unchanged');
  await store.importVersion('base', bytes(8192));
  const details = manager.show('pc');
  assert.equal(details.version, 1);
  assert.equal(details.latestVersion, 2, 'show tells a newer version is waiting');
  const deltaDir = engine.targets.get(seat.targetIqn)!.deltaDir;
  fs.writeFileSync(path.join(deltaDir, 'delta.map'), 'made against v1');
  assert.equal(manager.reset('pc').version, 2);
  assert.equal(fs.existsSync(path.join(deltaDir, 'delta.map')), false, 'the v1 delta is gone');
  assert.equal(engine.targets.get(seat.targetIqn)!.goldenPath, layout.versionFile('base', 2));
  assert.deepEqual(engine.resets, [seat.targetIqn]);
});

test('reset to a new version that the engine refuses puts the seat back on its old version', async (t) => {
  const { manager, engine, store, bytes, layout } = await setup(t);
  const seat = manager.add(parseAddSeatRequest({ name: 'pc', image: 'base' }));
  await store.importVersion('base', bytes(8192));
  engine.failNextSetTarget = 'cannot open golden';
  assert.throws(() => manager.reset('pc'), /seat pc: reset failed: cannot open golden/);
  assert.equal(manager.show('pc').version, 1);
  assert.equal(engine.targets.get(seat.targetIqn)!.goldenPath, layout.versionFile('base', 1));
});

test('registerAll skips a seat the engine refuses and registers the rest', async (t) => {
  const { manager, engine } = await setup(t);
  manager.add(parseAddSeatRequest({ name: 'a', image: 'base' }));
  manager.add(parseAddSeatRequest({ name: 'b', image: 'base' }));
  engine.targets.clear();
  engine.failNextSetTarget = 'bad golden';
  assert.deepEqual(manager.registerAll(), { registered: 1, failed: 1 });
  assert.equal(engine.targets.size, 1);
});

test('a seat the engine does not know (registration failed) can still be removed', async (t) => {
  const { manager, engine, layout } = await setup(t);
  const seat = manager.add(parseAddSeatRequest({ name: 'broken', image: 'base' }));
  engine.targets.clear(); // as after a failed registerAll
  const realRemove = engine.removeTarget.bind(engine);
  engine.removeTarget = (iqn: string) => {
    realRemove(iqn);
    throw new Error(`no target ${iqn}`);
  };
  await manager.remove('broken');
  assert.equal(manager.list().length, 0);
  assert.equal(fs.existsSync(path.join(layout.seatsDir, '1')), false);
  assert.equal(seat.name, 'broken');
});

test('sessions are totalled per target: counts in list(), bytes read + written in sessionBytes()', async (t) => {
  const { manager, engine } = await setup(t);
  const two = manager.add(parseAddSeatRequest({ name: 'two', image: 'base' }));
  const one = manager.add(parseAddSeatRequest({ name: 'one', image: 'base' }));
  manager.add(parseAddSeatRequest({ name: 'idle', image: 'base' }));
  const session = (targetIqn: string, bytesRead: number, bytesWritten: number) => ({
    targetIqn,
    initiatorIqn: 'iqn.2026-11.test:pc',
    isid: '400001370000',
    tsih: 1,
    remoteAddress: '192.0.2.9',
    remotePort: 50000,
    connectedAt: Date.now(),
    commands: 1,
    bytesRead,
    bytesWritten,
    meanLatencyUs: 10,
  });
  let engineCalls = 0;
  engine.sessions = () => {
    engineCalls += 1;
    return [session(two.targetIqn, 1000, 24), session(one.targetIqn, 7, 0), session(two.targetIqn, 0, 300)];
  };
  assert.deepEqual(manager.sessionBytes(), new Map([[two.targetIqn, 1324], [one.targetIqn, 7]]), 'targets without a session are absent');
  assert.equal(engineCalls, 1, 'one engine call for every target');
  assert.deepEqual(
    manager.list().map((s) => [s.name, s.sessions]),
    [['idle', 0], ['one', 1], ['two', 2]],
  );
  engine.sessions = () => {
    throw new Error('engine gone');
  };
  assert.deepEqual(manager.sessionBytes(), new Map(), 'an engine that cannot answer gives no figures, not an error');
});
