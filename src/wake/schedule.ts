// Wake schedules as people write them ("weekdays 08:45", "mon,wed,fri 7:30", "daily 09:00")
// and the due times they give, in the box's local time. Pure: text and clock values in,
// values out. The scheduler (scheduler.ts) owns the timer and the stored state.
import { LanbootError } from '../log/errors.js';
import { quoteInput } from '../config/names.js';

const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const ALL_DAYS = 0b1111111;
const WEEKDAYS = 0b0111110;
const WEEKENDS = 0b1000001;

export interface ScheduleTime {
  /** Bit i set = day i (0 Sunday .. 6 Saturday). */
  days: number;
  /** Minutes after local midnight, 0..1439. */
  minute: number;
}

function parseDays(text: string): number {
  if (text === 'daily' || text === 'everyday' || text === 'every-day') return ALL_DAYS;
  if (text === 'weekdays') return WEEKDAYS;
  if (text === 'weekends') return WEEKENDS;
  let days = 0;
  for (const part of text.split(',')) {
    const range = part.split('-');
    const index = (name: string | undefined) => DAY_NAMES.indexOf((name ?? '').slice(0, 3) as (typeof DAY_NAMES)[number]);
    if (range.length === 1 && index(range[0]) >= 0 && range[0]!.length >= 3) {
      days |= 1 << index(range[0]);
    } else if (range.length === 2 && index(range[0]) >= 0 && index(range[1]) >= 0) {
      // mon-fri; a range may wrap (fri-mon).
      for (let d = index(range[0]); ; d = (d + 1) % 7) {
        days |= 1 << d;
        if (d === index(range[1])) break;
      }
    } else {
      return 0;
    }
  }
  return days;
}

/** "DAYS HH:MM": DAYS is daily, weekdays, weekends, or day names (mon,wed / mon-fri). */
export function parseScheduleTime(value: unknown): ScheduleTime {
  const fail = (why: string): never => {
    throw new LanbootError('LANBOOT_INVALID_INPUT', `at: ${why}, got ${quoteInput(value)}`);
  };
  if (typeof value !== 'string' || value.length > 64) return fail("expected DAYS HH:MM like 'weekdays 08:45' or 'mon,wed 7:30'");
  const match = /^\s*([a-z,-]+)\s+(\d{1,2}):(\d{2})\s*$/i.exec(value);
  if (!match) return fail("expected DAYS HH:MM like 'weekdays 08:45' or 'mon,wed 7:30'");
  const days = parseDays(match[1]!.toLowerCase());
  if (days === 0) return fail('days: expected daily, weekdays, weekends or day names (mon, tue, ... or mon-fri)');
  const hour = Number(match[2]);
  const minute = Number(match[3]);
  if (hour > 23 || minute > 59) return fail('no such time of day (hours 0-23, minutes 0-59)');
  return { days, minute: hour * 60 + minute };
}

/** The schedule in its canonical words ("weekdays 08:45"). */
export function describeScheduleTime(time: ScheduleTime): string {
  const hhmm = `${String(Math.floor(time.minute / 60)).padStart(2, '0')}:${String(time.minute % 60).padStart(2, '0')}`;
  const days =
    time.days === ALL_DAYS
      ? 'daily'
      : time.days === WEEKDAYS
        ? 'weekdays'
        : time.days === WEEKENDS
          ? 'weekends'
          : DAY_NAMES.filter((_, i) => (time.days & (1 << i)) !== 0).join(',');
  return `${days} ${hhmm}`;
}

/** Local midnight of the day holding `ms`, and that day's weekday. */
function dayStart(ms: number): Date {
  const d = new Date(ms);
  d.setHours(0, 0, 0, 0);
  return d;
}

/** The due time of `time` on the day starting at `midnight` (local), or null if not that day.
 *  setHours handles a day with a DST change: a time that does not exist that day (skipped
 *  hour) falls an hour later, as the clock on the wall says. */
function dueOn(time: ScheduleTime, midnight: Date): number | null {
  if ((time.days & (1 << midnight.getDay())) === 0) return null;
  const d = new Date(midnight.getTime());
  d.setHours(Math.floor(time.minute / 60), time.minute % 60, 0, 0);
  return d.getTime();
}

/** The latest due time at or before `now`, looking back at most 8 days (null: none). */
export function latestDueAtOrBefore(time: ScheduleTime, now: number): number | null {
  const midnight = dayStart(now);
  for (let back = 0; back <= 8; back += 1) {
    const day = new Date(midnight.getTime());
    day.setDate(day.getDate() - back);
    const due = dueOn(time, day);
    if (due !== null && due <= now) return due;
  }
  return null;
}

/** The first due time strictly after `now`. */
export function nextDueAfter(time: ScheduleTime, now: number): number {
  const midnight = dayStart(now);
  for (let ahead = 0; ahead <= 8; ahead += 1) {
    const day = new Date(midnight.getTime());
    day.setDate(day.getDate() + ahead);
    const due = dueOn(time, day);
    if (due !== null && due > now) return due;
  }
  // Unreachable with at least one day set (parseScheduleTime guarantees it).
  throw new LanbootError('LANBOOT_INTERNAL', 'schedule has no day');
}
