// Seat modes, sizes, quotas and space warnings in the control plane, against the recording
// engine (test/unit/support/recording-engine.ts: the real engine cannot be told what delta
// size to report, which the warning thresholds need). The same paths run against the real
// engine over iSCSI in test/integration/seat-modes.test.ts.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import { parseSize } from '../../src/config/names.js';
import { parseAddSeatRequest, parseQuota, SeatManager } from '../../src/seats/index.js';
import { loadNative } from '../../src/native/index.js';
import { RecordingEngine } from './support/recording-engine.js';
import { openTestStore } from './support/test-store.js';

class SizedEngine extends RecordingEngine {
  readonly sizes = new Map<string, number>();
  override deltaBytes(iqn: string): number {
    super.deltaBytes(iqn);
    return this.sizes.get(iqn) ?? 0;
  }
}

async function setup(t: { after(fn: () => void): void }, options: { diskLowRatio?: number; diskLowBytes?: number } = {}) {
  const { layout, images, seats, store } = await openTestStore(t, 'seat-space');
  await store.importVersion(
    'base',
    (async function* () {
      yield Buffer.alloc(4096, 1);
    })(),
  );
  const logs: { msg: string; warning?: string; seat?: string }[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) logs.push(JSON.parse(line));
      done();
    },
  });
  const engine = new SizedEngine(() => {});
  const manager = new SeatManager({ layout, images, seats, engine, logger: pino({ level: 'info' }, sink), portal: () => '192.0.2.1:3260', diskTools: loadNative(), ...options });
  return { manager, engine, logs };
}

test('sizes: units, rounding to 512-byte blocks, limits and hostile input', () => {
  const limits = { min: 2 ** 20, max: 2 ** 46 };
  assert.equal(parseSize('64G', '--size', limits), 64 * 2 ** 30);
  assert.equal(parseSize('64GiB', '--size', limits), 64 * 2 ** 30);
  assert.equal(parseSize('1.5m', '--size', limits), 1.5 * 2 ** 20);
  assert.equal(parseSize(String(2 ** 20 + 100), '--size', limits), 2 ** 20, 'rounded down to whole blocks');
  assert.equal(parseSize(4 * 2 ** 20, '--size', limits), 4 * 2 ** 20);
  for (const bad of ['', 'lots', '-1G', '1e9', '64X', '1G1', ' ', '1'.repeat(40), '65T', '512K', null, {}, [1], 2 ** 60]) {
    assert.throws(() => parseSize(bad, '--size', limits), /--size: /, String(bad));
  }
});

test('install seats: a blank disk of the asked size; modes switch by the rules', async (t) => {
  const { manager, engine } = await setup(t);
  const inst = manager.add(parseAddSeatRequest({ name: 'inst', mode: 'install', size: '1G' }));
  assert.deepEqual([inst.image, inst.version, inst.diskBytes, inst.latestVersion], [null, null, 2 ** 30, null]);
  const config = engine.targets.get(inst.targetIqn)!;
  assert.deepEqual([config.goldenPath, config.sizeBytes], ['', 2 ** 30]);
  assert.throws(() => manager.add(parseAddSeatRequest({ name: 'inst2', mode: 'install' })), /size: an install seat needs/);
  assert.throws(() => manager.add(parseAddSeatRequest({ name: 'inst2', mode: 'install', size: '1G', image: 'base' })), /blank disk/);
  assert.throws(() => manager.add(parseAddSeatRequest({ name: 'pc', image: 'base', size: '1G' })), /only an install seat has a size/);
  assert.throws(() => manager.setMode('inst', 'persistent'), (e: Error & { code?: string }) => e.code === 'LANBOOT_SEAT_CONFLICT' && /commit/.test(e.message));
  manager.add(parseAddSeatRequest({ name: 'pc', image: 'base', mode: 'persistent' }));
  assert.throws(() => manager.setMode('pc', 'install'), /install mode needs a blank disk/);
  assert.equal(manager.setMode('pc', 'maintenance').mode, 'maintenance');
  manager.add(parseAddSeatRequest({ name: 'pc2', image: 'base' }));
  assert.throws(() => manager.setMode('pc2', 'maintenance'), /already has a maintenance seat \(pc\)/);
  assert.equal(manager.setMode('pc', 'fresh').mode, 'fresh');
  assert.equal(manager.setMode('pc2', 'maintenance').mode, 'maintenance', 'free again once pc left maintenance');
  assert.throws(() => manager.move('inst'), /install seat/);
  await assert.rejects(manager.commit('pc'), /only a maintenance seat .* or an install seat can be committed/);
  await assert.rejects(manager.commit('pc2'), /no image store to publish to/);
  await assert.rejects(manager.commit('inst'), /name the image/);
});

test('space warnings: quota near, seat full, data disk low; each logged once per crossing', async (t) => {
  const { manager, engine, logs } = await setup(t, { diskLowRatio: 1, diskLowBytes: Number.MAX_SAFE_INTEGER });
  const seat = manager.add(parseAddSeatRequest({ name: 'a', image: 'base', mode: 'persistent', quota: '10M' }));
  assert.equal(seat.quotaBytes, 10 * 2 ** 20);
  assert.equal(engine.targets.get(seat.targetIqn)!.quotaBytes, 10 * 2 ** 20, 'the engine enforces it');
  manager.add(parseAddSeatRequest({ name: 'b', image: 'base' }));

  engine.sizes.set(seat.targetIqn, 9.5 * 2 ** 20);
  for (let i = 0; i < 3; i++) {
    const codes = manager.warnings().map((w) => `${w.code}:${w.seat ?? ''}`);
    assert.deepEqual(codes.sort(), ['DATA_DISK_LOW:', 'SEAT_QUOTA_NEAR:a']);
  }
  assert.equal(logs.filter((l) => l.warning === 'SEAT_QUOTA_NEAR').length, 1, 'logged once, not per check');
  assert.equal(logs.filter((l) => l.warning === 'DATA_DISK_LOW').length, 1);

  // The engine reports a refused write (as the addon does, rate limited there).
  manager.onEngineEvent({ type: 'error', targetIqn: seat.targetIqn, initiatorIqn: '', code: 'LANBOOT_NO_SPACE', message: 'write refused', reason: 'quota' } as never);
  const full = manager.warnings().find((w) => w.seat === 'a');
  assert.equal(full?.code, 'SEAT_FULL');
  assert.match(full!.message, /seat a is full: its delta reached its quota of 10\.0 MiB/);
  manager.warnings();
  assert.equal(logs.filter((l) => l.warning === 'SEAT_FULL').length, 1);
  const report = manager.spaceReport();
  assert.deepEqual(
    report.seats.map((s) => [s.name, s.deltaBytes, s.quotaBytes, s.full?.reason ?? null]),
    [
      ['a', 9.5 * 2 ** 20, 10 * 2 ** 20, 'quota'],
      ['b', 0, 0, null],
    ],
  );
  assert.ok(report.dataDisk.totalBytes > 0);

  // Raising the quota clears both seat warnings; the clearing is logged.
  manager.setQuota('a', parseQuota('20M'));
  assert.deepEqual(manager.warnings().map((w) => w.code), ['DATA_DISK_LOW']);
  assert.ok(logs.some((l) => l.msg === 'warning cleared' && l.warning === 'SEAT_FULL'));
  assert.equal(manager.setQuota('a', parseQuota(null)).quotaBytes, 0);
  assert.equal(engine.targets.get(seat.targetIqn)!.quotaBytes, undefined);
  assert.throws(() => manager.setQuota('a', parseQuota('10K')), /quota: '10K' is out of range/);
});

test('disk fault: the engine reports a failing data disk; the seat gets a DISK_FAULT warning, the others none', async (t) => {
  const { manager, logs } = await setup(t);
  const a = manager.add(parseAddSeatRequest({ name: 'a', image: 'base', mode: 'persistent' }));
  manager.add(parseAddSeatRequest({ name: 'b', image: 'base' }));
  assert.deepEqual(manager.warnings(), []);
  // As the addon reports it: reason = the failed operation, message from the fault.
  manager.onEngineEvent({
    type: 'error',
    targetIqn: a.targetIqn,
    initiatorIqn: 'iqn.2026-01.test:pc',
    code: 'LANBOOT_DISK_FAULT',
    reason: 'read',
    message: "a read of the seat's disk files failed: Input/output error (the PC got MEDIUM ERROR)",
  });
  const warnings = manager.warnings();
  assert.deepEqual(warnings.map((w) => `${w.code}:${w.seat ?? ''}`), ['DISK_FAULT:a']);
  assert.match(warnings[0]!.message, /^seat a: disk fault at .*: a read of the seat's disk files failed: Input\/output error .*The data disk may be failing/);
  manager.warnings();
  assert.equal(logs.filter((l) => l.warning === 'DISK_FAULT').length, 1, 'logged once when it appears');
  assert.ok(logs.some((l) => (l as { event?: string; seat?: string }).event === 'error' && l.seat === 'a'), 'the event is logged with the seat');
});
