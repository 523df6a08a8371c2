// `lanboot group ...`: groups of seats (a room) and the actions on a whole group.
import { validateMode, validateName } from '../config/names.js';
import { LanbootError } from '../log/errors.js';
import type { GroupActionResult, GroupView } from '../seats/groups.js';
import { parseGroupName } from '../seats/groups.js';
import type { WakeResult } from '../wake/service.js';
import { COMMON, clientFor, parse, printJson, type CliIo, type Handler } from './common.js';
import { formatTable } from './format.js';
import { printWake } from './wake-commands.js';

function groupArg(command: string, args: string[], io: CliIo, count = 1, names = 'GROUP', extra = {}) {
  const { values, positionals } = parse(command, args, { ...COMMON, ...extra }, { min: count, max: count, names });
  return { values, positionals, group: parseGroupName(positionals[0], 'GROUP'), client: clientFor(values, io) };
}

function printAction(io: CliIo, verb: string, result: GroupActionResult): void {
  const lines = [`group ${result.group}: ${verb} ${result.done.length} seat(s)${result.done.length > 0 ? ` (${result.done.join(', ')})` : ''}`];
  for (const f of result.failed) lines.push(`  ${f.seat} failed: ${f.error}`);
  io.stdout.write(`${lines.join('\n')}\n`);
  if (result.failed.length > 0) {
    throw new LanbootError('LANBOOT_INVALID_INPUT', `group ${result.group}: ${result.failed.length} seat(s) failed: ${result.failed.map((f) => `${f.seat}: ${f.error}`).join('; ')}`);
  }
}

async function groupList(args: string[], io: CliIo): Promise<void> {
  const { values } = parse('group list', args, COMMON, { min: 0, max: 0, names: '' });
  const groups = await clientFor(values, io).call<GroupView[]>('GET', '/api/v1/groups');
  if (values.json) return printJson(io, groups);
  if (groups.length === 0) {
    io.stdout.write('no groups (add one with `lanboot group add NAME`)\n');
    return;
  }
  io.stdout.write(`${formatTable(['GROUP', 'SEATS', 'MEMBERS'], groups.map((g) => [g.name, String(g.seats.length), g.seats.join(', ') || '-']))}\n`);
}

async function groupAdd(args: string[], io: CliIo): Promise<void> {
  const { values, group, client } = groupArg('group add', args, io);
  const view = await client.call<GroupView>('POST', '/api/v1/groups', { json: { name: group } });
  if (values.json) return printJson(io, view);
  io.stdout.write(`group ${view.name} added\n`);
}

async function groupRemove(args: string[], io: CliIo): Promise<void> {
  const { values, group, client } = groupArg('group remove', args, io);
  const result = await client.call<{ removed: string }>('DELETE', `/api/v1/groups/${group}`);
  if (values.json) return printJson(io, result);
  io.stdout.write(`group ${result.removed} removed (its seats stay, in no group)\n`);
}

async function groupAssign(args: string[], io: CliIo): Promise<void> {
  const { values, positionals } = parse('group assign', args, COMMON, { min: 2, max: 1001, names: 'GROUP SEAT...' });
  const group = parseGroupName(positionals[0], 'GROUP');
  const seats = positionals.slice(1).map((s) => validateName(s, 'seat', 'SEAT'));
  const view = await clientFor(values, io).call<GroupView>('POST', `/api/v1/groups/${group}/seats`, { json: { seats } });
  if (values.json) return printJson(io, view);
  io.stdout.write(`group ${view.name}: ${view.seats.join(', ')}\n`);
}

async function groupReset(args: string[], io: CliIo): Promise<void> {
  const { values, group, client } = groupArg('group reset', args, io);
  const result = await client.call<GroupActionResult>('POST', `/api/v1/groups/${group}/reset`);
  if (values.json) return printJson(io, result);
  printAction(io, 'reset', result);
}

async function groupMode(args: string[], io: CliIo): Promise<void> {
  const { values, positionals, group, client } = groupArg('group mode', args, io, 2, 'GROUP MODE');
  const mode = validateMode(positionals[1], 'MODE');
  const result = await client.call<GroupActionResult>('POST', `/api/v1/groups/${group}/mode`, { json: { mode } });
  if (values.json) return printJson(io, result);
  printAction(io, `${mode} mode for`, result);
}

async function groupMove(args: string[], io: CliIo): Promise<void> {
  const { values, group, client } = groupArg('group move', args, io, 1, 'GROUP', { version: { type: 'string' } });
  const version = (values as { version?: string }).version;
  if (version !== undefined && !/^\d{1,9}$/.test(version)) throw new LanbootError('LANBOOT_INVALID_INPUT', `--version: expected a version number like 3, got '${version.slice(0, 40)}'`);
  const result = await client.call<GroupActionResult>('POST', `/api/v1/groups/${group}/move`, { json: version === undefined ? {} : { version: Number(version) } });
  if (values.json) return printJson(io, result);
  printAction(io, 'moved', result);
}

async function groupWake(args: string[], io: CliIo): Promise<void> {
  const { values, group, client } = groupArg('group wake', args, io);
  const result = await client.call<WakeResult>('POST', '/api/v1/wake', { json: { group } });
  if (values.json) return printJson(io, result);
  printWake(io, result);
}

export const GROUP_COMMANDS: Record<string, Handler> = {
  list: groupList,
  add: groupAdd,
  remove: groupRemove,
  assign: groupAssign,
  reset: groupReset,
  mode: groupMode,
  move: groupMove,
  wake: groupWake,
};
