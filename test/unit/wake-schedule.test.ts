// Wake schedules: parsing ("weekdays 08:45"), due times, and the scheduler with an injected
// clock over a real SQLite file, across a restart (a new scheduler on the same database).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { migrate, openDatabase } from '../../src/db/database.js';
import { magicPacket, parseMagicPacket } from '../../src/wake/magic-packet.js';
import { describeScheduleTime, latestDueAtOrBefore, nextDueAfter, parseScheduleTime } from '../../src/wake/schedule.js';
import { GRACE_MS, WakeScheduler, type Clock, type WakeTarget } from '../../src/wake/scheduler.js';

class TestClock implements Clock {
  timers: { fn: () => void; at: number }[] = [];
  constructor(public t: number) {}
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const timer = { fn, at: this.t + ms };
    this.timers.push(timer);
    return timer;
  }
  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((t) => t !== handle);
  }
}

const local = (y: number, mo: number, d: number, h: number, mi: number) => new Date(y, mo - 1, d, h, mi, 0, 0).getTime();

test('magic packet: 6 x 0xFF then the MAC 16 times', () => {
  const p = magicPacket('52-54-00-AB-CD-EF');
  assert.equal(p.length, 102);
  assert.equal(p.subarray(0, 6).toString('hex'), 'ffffffffffff');
  assert.equal(p.subarray(6).toString('hex'), '525400abcdef'.repeat(16));
  assert.equal(parseMagicPacket(p), '52:54:00:ab:cd:ef');
  assert.throws(() => magicPacket('52:54:00'), /expected a MAC/);
});

test('schedule times: parse, describe, due times; impossible times refused', () => {
  assert.deepEqual(parseScheduleTime('weekdays 08:45'), { days: 0b0111110, minute: 525 });
  assert.equal(describeScheduleTime(parseScheduleTime('mon-fri 8:45')), 'weekdays 08:45');
  assert.equal(describeScheduleTime(parseScheduleTime('mon,wed,fri 07:30')), 'mon,wed,fri 07:30');
  assert.equal(describeScheduleTime(parseScheduleTime('sat-sun 10:00')), 'weekends 10:00');
  for (const bad of ['weekdays 24:00', 'daily 08:60', 'funday 08:00', '08:45', 'weekdays', '', 'weekdays 8.45']) {
    assert.throws(() => parseScheduleTime(bad), /^LanbootError: at: /, bad);
  }
  assert.throws(() => parseScheduleTime(42), /at: expected DAYS HH:MM/);
  // 2024-01-05 is a Friday: the next weekday 08:45 after Friday 09:00 is Monday the 8th.
  const time = parseScheduleTime('weekdays 08:45');
  assert.equal(nextDueAfter(time, local(2024, 1, 5, 9, 0)), local(2024, 1, 8, 8, 45));
  assert.equal(latestDueAtOrBefore(time, local(2024, 1, 7, 12, 0)), local(2024, 1, 5, 8, 45));
  assert.equal(latestDueAtOrBefore(time, local(2024, 1, 8, 8, 45)), local(2024, 1, 8, 8, 45));
});

test('scheduler fires at the due time, once, and again after a restart; a long outage is recorded as missed', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lanboot-wake-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'lanboot.db');
  const log = pino({ level: 'silent' });
  const fired: { target: WakeTarget; at: number }[] = [];
  const clock = new TestClock(local(2024, 1, 8, 8, 40)); // Monday 08:40
  const fire = async (target: WakeTarget) => {
    fired.push({ target, at: clock.now() });
    return 'woke 2 seat(s)';
  };

  let db = openDatabase(file);
  await migrate(db);
  let scheduler = new WakeScheduler(db, fire, log, clock);
  await scheduler.start();
  const view = scheduler.add(parseScheduleTime('weekdays 08:45'), { kind: 'group', group: 'cafe' });
  assert.equal(view.next, new Date(local(2024, 1, 8, 8, 45)).toISOString());
  // Created after an earlier due time (none today yet): nothing fires at once.
  assert.equal(fired.length, 0);
  // A timer is armed, never later than the due time (it re-checks at least every minute).
  const armed = Math.min(...clock.timers.map((x) => x.at));
  assert.ok(armed > clock.now() && armed <= local(2024, 1, 8, 8, 45), `timer at ${new Date(armed).toISOString()}`);

  clock.t = local(2024, 1, 8, 8, 45);
  await scheduler.tick();
  assert.deepEqual(fired, [{ target: { kind: 'group', group: 'cafe' }, at: local(2024, 1, 8, 8, 45) }]);
  await scheduler.tick();
  assert.equal(fired.length, 1, 'fires once per due time');
  assert.equal(scheduler.list()[0]!.lastResult, 'woke 2 seat(s)');

  // Restart: stopped Monday, back Tuesday 08:50 (the 08:45 passed while down, within grace).
  scheduler.stop();
  db.close();
  clock.t = local(2024, 1, 9, 8, 50);
  db = openDatabase(file);
  await migrate(db);
  scheduler = new WakeScheduler(db, fire, log, clock);
  await scheduler.start();
  assert.equal(fired.length, 2, 'the due time missed while down fires at start');
  assert.equal(fired[1]!.at, local(2024, 1, 9, 8, 50));
  // And it keeps running: Wednesday 08:45 through the timer.
  clock.t = local(2024, 1, 10, 8, 45);
  await scheduler.tick();
  assert.equal(fired.length, 3);
  scheduler.stop();
  db.close();

  // Down across Thursday 08:45 and back well after the grace window: recorded, not fired.
  clock.t = local(2024, 1, 11, 8, 45) + GRACE_MS + 60_000;
  db = openDatabase(file);
  await migrate(db);
  scheduler = new WakeScheduler(db, fire, log, clock);
  await scheduler.start();
  assert.equal(fired.length, 3, 'too late: not fired');
  assert.match(scheduler.list()[0]!.lastResult ?? '', /^missed: lanboot was not running/);
  scheduler.stop();
  db.close();
});
