// `lanboot seat wake SEAT... | --group G | --all` and `lanboot wake ...`: Wake-on-LAN now and
// on a schedule (docs/wake.md).
import { validateName } from '../config/names.js';
import { LanbootError } from '../log/errors.js';
import { parseGroupName } from '../seats/groups.js';
import type { WakeScheduleView } from '../wake/scheduler.js';
import { parseScheduleTime } from '../wake/schedule.js';
import type { WakeResult } from '../wake/service.js';
import { COMMON, clientFor, parse, printJson, requireFlag, type CliIo, type Handler } from './common.js';
import { formatTable } from './format.js';

export function printWake(io: CliIo, result: WakeResult): void {
  const lines = result.woken.map((w) => `woke ${w.seat} (${w.mac})`);
  for (const s of result.skipped) lines.push(`skipped ${s.seat}: ${s.reason}`);
  if (lines.length === 0) lines.push('no seats to wake');
  io.stdout.write(`${lines.join('\n')}\n`);
}

export async function seatWake(args: string[], io: CliIo): Promise<void> {
  const { values, positionals } = parse('seat wake', args, { ...COMMON, group: { type: 'string' }, all: { type: 'boolean' } }, { min: 0, max: 1000, names: 'SEAT' });
  const chosen = Number(positionals.length > 0) + Number(values.group !== undefined) + Number(values.all === true);
  if (chosen !== 1) throw new LanbootError('LANBOOT_INVALID_INPUT', 'seat wake: name seats, or --group G, or --all (exactly one)');
  const json =
    positionals.length > 0
      ? { seats: positionals.map((s) => validateName(s, 'seat', 'SEAT')) }
      : values.group !== undefined
        ? { group: parseGroupName(values.group, '--group') }
        : { all: true };
  const result = await clientFor(values, io).call<WakeResult>('POST', '/api/v1/wake', { json });
  if (values.json) return printJson(io, result);
  printWake(io, result);
}

async function wakeSchedules(args: string[], io: CliIo): Promise<void> {
  const { values } = parse('wake schedules', args, COMMON, { min: 0, max: 0, names: '' });
  const list = await clientFor(values, io).call<WakeScheduleView[]>('GET', '/api/v1/wake/schedules');
  if (values.json) return printJson(io, list);
  if (list.length === 0) {
    io.stdout.write('no wake schedules (add one with `lanboot wake schedule --at "weekdays 08:45" --group G`)\n');
    return;
  }
  const rows = list.map((s) => [String(s.id), s.at, s.target.kind === 'all' ? 'all seats' : `group ${s.target.group}`, s.next, s.lastResult ?? '-']);
  io.stdout.write(`${formatTable(['ID', 'AT', 'WAKES', 'NEXT', 'LAST'], rows)}\n`);
}

async function wakeSchedule(args: string[], io: CliIo): Promise<void> {
  const { values } = parse('wake schedule', args, { ...COMMON, at: { type: 'string' }, group: { type: 'string' }, all: { type: 'boolean' } }, { min: 0, max: 0, names: '' });
  const at = requireFlag('wake schedule', values.at, '--at');
  parseScheduleTime(at);
  if ((values.group !== undefined) === (values.all === true)) throw new LanbootError('LANBOOT_INVALID_INPUT', 'wake schedule: give --group G or --all (exactly one)');
  const json = values.group !== undefined ? { at, group: parseGroupName(values.group, '--group') } : { at, all: true };
  const view = await clientFor(values, io).call<WakeScheduleView>('POST', '/api/v1/wake/schedules', { json });
  if (values.json) return printJson(io, view);
  io.stdout.write(`wake schedule ${view.id}: ${view.at}, ${view.target.kind === 'all' ? 'all seats' : `group ${view.target.group}`}; next ${view.next}\n`);
}

async function wakeUnschedule(args: string[], io: CliIo): Promise<void> {
  const { values, positionals } = parse('wake unschedule', args, COMMON, { min: 1, max: 1, names: 'ID' });
  const id = positionals[0]!;
  if (!/^\d{1,9}$/.test(id)) throw new LanbootError('LANBOOT_INVALID_INPUT', `wake unschedule: expected a schedule number like 2, got '${id.slice(0, 40)}'`);
  const result = await clientFor(values, io).call<{ removed: number }>('DELETE', `/api/v1/wake/schedules/${id}`);
  if (values.json) return printJson(io, result);
  io.stdout.write(`wake schedule ${result.removed} removed\n`);
}

export const WAKE_COMMANDS: Record<string, Handler> = {
  schedules: wakeSchedules,
  schedule: wakeSchedule,
  unschedule: wakeUnschedule,
};
