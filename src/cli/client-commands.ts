// `lanboot client ...`: seats (one PC's disk each).
import { normalizeMac, validateIqn, validateMode, validateName } from '../config/names.js';
import { LanbootError } from '../log/errors.js';
import type { SeatDetails, SeatSummary } from '../iscsi/seat-manager.js';
import { COMMON, clientFor, parse, printJson, requireFlag, type CliIo, type Handler } from './common.js';
import { formatBytes, formatTable } from './format.js';

export function printSeat(io: CliIo, seat: SeatDetails): void {
  const lines = [
    `seat        ${seat.name}`,
    `image       ${seat.image} v${seat.version}${seat.latestVersion > seat.version ? ` (v${seat.latestVersion} available: \`lanboot client reset ${seat.name}\`)` : ''}`,
    `mode        ${seat.mode}`,
    `mac         ${seat.mac ?? '-'}`,
    `target      ${seat.targetIqn}`,
    `portal      ${seat.portal}`,
    `lun         ${seat.lun}`,
    `initiators  ${seat.initiatorIqns.join(', ')}`,
    `chap        ${seat.chap ? `user ${seat.chap.user}, secret ${seat.chap.secret}` : 'off'}`,
  ];
  if (seat.mutualChap) lines.push(`mutual chap user ${seat.mutualChap.user}, secret ${seat.mutualChap.secret}`);
  lines.push(`serial      ${seat.serial}`, `naa         ${seat.naa}`);
  if (seat.deltaBytes !== null) lines.push(`delta       ${formatBytes(seat.deltaBytes)}`);
  lines.push(`sessions    ${seat.sessions.length === 0 ? 'none' : seat.sessions.map((s) => `${s.initiatorIqn} from ${s.remoteAddress}`).join('; ')}`);
  io.stdout.write(`${lines.join('\n')}\n`);
}

async function clientAdd(args: string[], io: CliIo): Promise<void> {
  const { values } = parse(
    'client add',
    args,
    {
      ...COMMON,
      name: { type: 'string' },
      image: { type: 'string' },
      mac: { type: 'string' },
      mode: { type: 'string' },
      initiator: { type: 'string', multiple: true },
      'no-chap': { type: 'boolean' },
      'mutual-chap': { type: 'boolean' },
    },
    { min: 0, max: 0, names: '' },
  );
  // Validated here too, so a typo is refused before anything reaches the supervisor.
  const name = validateName(requireFlag('client add', values.name, '--name'), 'seat', '--name');
  const image = validateName(requireFlag('client add', values.image, '--image'), 'image', '--image');
  const mac = values.mac === undefined ? undefined : normalizeMac(values.mac, '--mac');
  const mode = values.mode === undefined ? undefined : validateMode(values.mode, '--mode');
  const initiators = values.initiator?.map((iqn) => validateIqn(iqn, '--initiator'));
  if (values['no-chap'] && values['mutual-chap']) throw new LanbootError('LANBOOT_INVALID_INPUT', 'client add: --mutual-chap needs CHAP; drop --no-chap');
  const seat = await clientFor(values, io).call<SeatDetails>('POST', '/api/v1/clients', {
    json: { name, image, mac, mode, initiators, chap: !values['no-chap'], mutualChap: values['mutual-chap'] === true },
  });
  if (values.json) return printJson(io, seat);
  printSeat(io, seat);
}

async function clientList(args: string[], io: CliIo): Promise<void> {
  const { values } = parse('client list', args, COMMON, { min: 0, max: 0, names: '' });
  const seats = await clientFor(values, io).call<SeatSummary[]>('GET', '/api/v1/clients');
  if (values.json) return printJson(io, seats);
  if (seats.length === 0) {
    io.stdout.write('no seats (add one with `lanboot client add --name SEAT --image NAME`)\n');
    return;
  }
  const rows = seats.map((s) => [s.name, `${s.image} v${s.version}`, s.mode, s.mac ?? '-', s.chap ? 'on' : 'off', String(s.sessions)]);
  io.stdout.write(`${formatTable(['SEAT', 'IMAGE', 'MODE', 'MAC', 'CHAP', 'SESSIONS'], rows)}\n`);
}

function seatArg(command: string, args: string[], io: CliIo) {
  const { values, positionals } = parse(command, args, COMMON, { min: 1, max: 1, names: 'SEAT' });
  return { values, seat: validateName(positionals[0], 'seat', 'SEAT'), client: clientFor(values, io) };
}

async function clientShow(args: string[], io: CliIo): Promise<void> {
  const { values, seat, client } = seatArg('client show', args, io);
  const details = await client.call<SeatDetails>('GET', `/api/v1/clients/${seat}`);
  if (values.json) return printJson(io, details);
  printSeat(io, details);
}

async function clientReset(args: string[], io: CliIo): Promise<void> {
  const { values, seat, client } = seatArg('client reset', args, io);
  const details = await client.call<SeatDetails>('POST', `/api/v1/clients/${seat}/reset`);
  if (values.json) return printJson(io, details);
  io.stdout.write(`seat ${details.name} reset to ${details.image} v${details.version}\n`);
}

async function clientRemove(args: string[], io: CliIo): Promise<void> {
  const { values, seat, client } = seatArg('client remove', args, io);
  const result = await client.call<{ removed: string }>('DELETE', `/api/v1/clients/${seat}`);
  if (values.json) return printJson(io, result);
  io.stdout.write(`seat ${result.removed} removed\n`);
}

export const CLIENT_COMMANDS: Record<string, Handler> = { add: clientAdd, list: clientList, show: clientShow, reset: clientReset, remove: clientRemove };
