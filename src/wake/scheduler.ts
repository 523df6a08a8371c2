// Wake schedules in SQLite and the timer that fires them. The state that matters across a
// restart is each schedule's last due time handled (last_due_at): at start and at every tick
// the scheduler looks at each schedule's latest due time; if it is newer than last_due_at it
// fires (when it is at most GRACE_MS old) or is recorded as missed (older: the box was off
// for longer; waking a room at noon for an 08:45 schedule would surprise people). Either way
// it is handled once. The clock is injected so tests can move time.
import type { Logger } from 'pino';
import type { Db } from '../db/database.js';
import { errorFields } from '../log/logger.js';
import { LanbootError } from '../log/errors.js';
import { describeScheduleTime, latestDueAtOrBefore, nextDueAfter, type ScheduleTime } from './schedule.js';

/** A schedule whose time passed while lanboot was down still fires at start when it is at
 *  most this late. */
export const GRACE_MS = 15 * 60 * 1000;
/** The timer re-checks at least this often (a changed wall clock is noticed within it). */
const MAX_SLEEP_MS = 60 * 1000;

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const SYSTEM_CLOCK: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const handle = setTimeout(fn, ms);
    handle.unref();
    return handle;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export type WakeTarget = { kind: 'all' } | { kind: 'group'; group: string };

export interface WakeScheduleView {
  id: number;
  /** "weekdays 08:45" */
  at: string;
  target: WakeTarget;
  /** Next due time, ISO. */
  next: string;
  lastDueAt: string | null;
  lastResult: string | null;
}

interface ScheduleRow {
  id: number;
  days: number;
  minute: number;
  target_kind: 'all' | 'group';
  group_name: string | null;
  created_at: number;
  last_due_at: number | null;
  last_result: string | null;
}

/** Fires a schedule: wakes its target; returns a short result for the record. */
export type FireSchedule = (target: WakeTarget) => Promise<string>;

export class WakeScheduler {
  private timer: unknown = null;
  private running = false;
  private ticking: Promise<void> | null = null;

  constructor(
    private readonly db: Db,
    private readonly fire: FireSchedule,
    private readonly log: Logger,
    private readonly clock: Clock = SYSTEM_CLOCK,
  ) {}

  private rows(): ScheduleRow[] {
    return this.db.prepare('SELECT * FROM wake_schedules ORDER BY id').all() as ScheduleRow[];
  }

  private view(row: ScheduleRow): WakeScheduleView {
    const time: ScheduleTime = { days: row.days, minute: row.minute };
    return {
      id: row.id,
      at: describeScheduleTime(time),
      target: row.target_kind === 'all' ? { kind: 'all' } : { kind: 'group', group: row.group_name! },
      next: new Date(nextDueAfter(time, this.clock.now())).toISOString(),
      lastDueAt: row.last_due_at === null ? null : new Date(row.last_due_at).toISOString(),
      lastResult: row.last_result,
    };
  }

  list(): WakeScheduleView[] {
    return this.rows().map((r) => this.view(r));
  }

  add(time: ScheduleTime, target: WakeTarget): WakeScheduleView {
    // A schedule starts counting from now: a due time earlier today is not "missed".
    const now = this.clock.now();
    const info = this.db
      .prepare('INSERT INTO wake_schedules (days, minute, target_kind, group_name, created_at, last_due_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(time.days, time.minute, target.kind, target.kind === 'group' ? target.group : null, now, latestDueAtOrBefore(time, now));
    this.log.info({ schedule: Number(info.lastInsertRowid), at: describeScheduleTime(time), target }, 'wake schedule added');
    this.rearm();
    return this.view(this.db.prepare('SELECT * FROM wake_schedules WHERE id = ?').get(Number(info.lastInsertRowid)) as ScheduleRow);
  }

  remove(id: number): void {
    if (this.db.prepare('DELETE FROM wake_schedules WHERE id = ?').run(id).changes !== 1) {
      throw new LanbootError('LANBOOT_SCHEDULE_NOT_FOUND', `wake schedule ${id} does not exist (see \`lanboot wake schedules\`)`);
    }
    this.rearm();
  }

  /** Handles every schedule due at or before now and not handled yet. Runs one at a time. */
  tick(): Promise<void> {
    if (this.ticking) return this.ticking;
    this.ticking = this.runTick().finally(() => {
      this.ticking = null;
    });
    return this.ticking;
  }

  private async runTick(): Promise<void> {
    const now = this.clock.now();
    for (const row of this.rows()) {
      const due = latestDueAtOrBefore({ days: row.days, minute: row.minute }, now);
      if (due === null || (row.last_due_at !== null && due <= row.last_due_at) || due < row.created_at) continue;
      const target: WakeTarget = row.target_kind === 'all' ? { kind: 'all' } : { kind: 'group', group: row.group_name! };
      let result: string;
      if (now - due > GRACE_MS) {
        result = `missed: lanboot was not running at ${new Date(due).toISOString()}`;
        this.log.warn({ schedule: row.id, due: new Date(due).toISOString(), target }, 'wake schedule missed (more than the grace window late)');
      } else {
        try {
          result = await this.fire(target);
          this.log.info({ schedule: row.id, due: new Date(due).toISOString(), target, result }, 'wake schedule fired');
        } catch (error) {
          result = `failed: ${(error as Error).message}`;
          this.log.error({ schedule: row.id, target, ...errorFields(error) }, 'wake schedule failed');
        }
      }
      this.db.prepare('UPDATE wake_schedules SET last_due_at = ?, last_result = ? WHERE id = ?').run(due, result, row.id);
    }
  }

  /** Ticks now (what came due while lanboot was down) and then at each due time. */
  async start(): Promise<void> {
    this.running = true;
    await this.tick();
    this.rearm();
  }

  stop(): void {
    this.running = false;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  private rearm(): void {
    if (!this.running) return;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    const now = this.clock.now();
    let next = now + MAX_SLEEP_MS;
    for (const row of this.rows()) next = Math.min(next, nextDueAfter({ days: row.days, minute: row.minute }, now));
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      void this.tick().finally(() => this.rearm());
    }, Math.max(0, next - now));
  }
}
