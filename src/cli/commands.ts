// The CLI commands. Each one parses its own flags (node:util parseArgs), talks to the
// supervisor over the local API, and prints either text or, with --json, the API's JSON.
// Any failure is ONE line on stderr ("lanboot: ...") and exit code 1.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { resolveDataDir } from '../config/config.js';
import { normalizeMac, validateIqn, validateMode, validateName } from '../config/names.js';
import { LanbootError } from '../log/errors.js';
import { DataLayout } from '../storage/layout.js';
import { BLOCK_SIZE } from '../storage/image-store.js';
import { lanbootVersion } from '../system/version.js';
import type { ImageView, StatusView } from '../web/app.js';
import type { SeatDetails, SeatSummary } from '../iscsi/seat-manager.js';
import { normalizeEnrollCode } from '../boot/enroll-code.js';
import { ApiClient } from './api-client.js';
import { formatBytes, formatProgress, formatTable } from './format.js';

export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export const USAGE = `usage: lanboot <command> [options]   (every command takes --data DIR, default ./lanboot-data)

  serve [--data DIR] [--config FILE] [--iscsi-port N] [--http-port N] [--listen ADDR]
        [--log-level LEVEL] [--interface IF [--dhcp proxy|full|off] [--dhcp-range FIRST-LAST]]
  status [--json]
  image import FILE --name NAME [--json]
  image list [--json]
  client add --name SEAT --image NAME [--mac MAC] [--mode fresh|persistent]
             [--initiator IQN ...] [--no-chap] [--mutual-chap] [--json]
  client list [--json]
  client show SEAT [--json]
  client reset SEAT [--json]
  client remove SEAT [--json]
  waiting [--json]
  enroll CODE --name SEAT --image NAME [--mode fresh|persistent] [--json]
  boot events [MAC] [--json]
  dhcp status|detect|leases [--json]

See docs/cli.md.`;

const COMMON = { data: { type: 'string' }, json: { type: 'boolean' } } as const;

type Options = NonNullable<ParseArgsConfig['options']>;

function parse<O extends Options>(command: string, args: string[], options: O, positionals: { min: number; max: number; names: string }) {
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    // parseArgs' messages run on over several sentences; keep the first.
    const first = (error as Error).message.split('. ')[0]!.replace(/\.$/, '');
    throw new LanbootError('LANBOOT_INVALID_INPUT', `${command}: ${first}`);
  }
  const count = parsed.positionals.length;
  if (count < positionals.min) throw new LanbootError('LANBOOT_INVALID_INPUT', `${command}: missing ${positionals.names}`);
  if (count > positionals.max) throw new LanbootError('LANBOOT_INVALID_INPUT', `${command}: unexpected argument '${parsed.positionals[positionals.max]}'`);
  return parsed;
}

function clientFor(values: { data?: string | undefined }, io: CliIo): ApiClient {
  const { dataDir, label } = resolveDataDir(values, io.env, io.cwd);
  return new ApiClient(new DataLayout(dataDir).socket, label);
}

function requireFlag(command: string, value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new LanbootError('LANBOOT_INVALID_INPUT', `${command}: ${flag} is required`);
  return value;
}

function printJson(io: CliIo, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

async function status(args: string[], io: CliIo): Promise<void> {
  const { values } = parse('status', args, COMMON, { min: 0, max: 0, names: '' });
  const s = await clientFor(values, io).call<StatusView>('GET', '/api/v1/status');
  if (values.json) return printJson(io, s);
  io.stdout.write(
    [
      `lanboot ${s.version} serving ${s.dataDir}`,
      `  iSCSI   ${s.iscsi.host}:${s.iscsi.port} (portal ${s.portal})`,
      `  HTTP    ${s.http.host}:${s.http.port}`,
      `  DHCP    ${s.dhcp.mode}${s.dhcp.interface ? ` on ${s.dhcp.interface}` : ''}${s.dhcp.running ? '' : ' (not running)'}`,
      `  images  ${s.images}, seats ${s.seats}, iSCSI sessions ${s.sessions}, up ${s.uptimeSeconds}s`,
      ...Object.entries(s.services ?? {}).map(([name, state]) => `  ${name.padEnd(7)} ${JSON.stringify(state)}`),
    ].join('\n') + '\n',
  );
}

async function imageImport(args: string[], io: CliIo): Promise<void> {
  const { values, positionals } = parse('image import', args, { ...COMMON, name: { type: 'string' } }, { min: 1, max: 1, names: 'FILE' });
  const name = validateName(requireFlag('image import', values.name, '--name'), 'image');
  const file = path.resolve(io.cwd, positionals[0]!);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (error) {
    throw new LanbootError('LANBOOT_INVALID_INPUT', `image import: cannot read ${positionals[0]}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (!stat.isFile()) throw new LanbootError('LANBOOT_INVALID_INPUT', `image import: ${positionals[0]} is not a regular file (raw disk images only for now)`);
  if (stat.size === 0 || stat.size % BLOCK_SIZE !== 0) {
    throw new LanbootError('LANBOOT_INVALID_INPUT', `image import: ${positionals[0]} is ${stat.size} bytes; a raw disk image is a non-empty multiple of ${BLOCK_SIZE} bytes`);
  }
  const client = clientFor(values, io);
  const started = Date.now();
  let lastDraw = 0;
  const showProgress = io.stderr.isTTY === true;
  let lastSent = 0;
  const draw = (sent: number, force = false) => {
    lastSent = sent;
    const now = Date.now();
    if (!force && now - lastDraw < 250) return;
    lastDraw = now;
    io.stderr.write(`\rimporting ${name}: ${formatProgress(sent, stat.size, now - started)}\x1b[K`);
  };
  let result: { name: string; number: number; sizeBytes: number; sha256: string; path: string };
  try {
    result = await client.call('POST', `/api/v1/images/${name}/versions`, {
      file,
      size: stat.size,
      onProgress: showProgress ? (sent: number) => draw(sent) : undefined,
    });
  } finally {
    // The last line shows where the copy ended (100% on success).
    if (showProgress) {
      draw(lastSent, true);
      io.stderr.write('\n');
    }
  }
  if (values.json) return printJson(io, result);
  io.stdout.write(`image ${result.name} v${result.number}: ${formatBytes(result.sizeBytes)}, sha256 ${result.sha256}\n`);
}

async function imageList(args: string[], io: CliIo): Promise<void> {
  const { values } = parse('image list', args, COMMON, { min: 0, max: 0, names: '' });
  const images = await clientFor(values, io).call<ImageView[]>('GET', '/api/v1/images');
  if (values.json) return printJson(io, images);
  if (images.length === 0) {
    io.stdout.write('no images (import one with `lanboot image import FILE --name NAME`)\n');
    return;
  }
  const rows = images.flatMap((image) =>
    image.versions.map((v) => [image.name, `v${v.number}${v.number === image.latestVersion ? ' (latest)' : ''}`, formatBytes(v.sizeBytes), v.sha256.slice(0, 16), v.createdAt]),
  );
  io.stdout.write(`${formatTable(['IMAGE', 'VERSION', 'SIZE', 'SHA256', 'CREATED'], rows)}\n`);
}

function printSeat(io: CliIo, seat: SeatDetails): void {
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

// ---- network boot (issue 3): PCs waiting to be enrolled, enrollment, boot timeline, DHCP

interface WaitingPcView {
  mac: string;
  code: string;
  arch: number | null;
  vendorClass: string | null;
  firstSeen: string;
  lastSeen: string;
}

interface BootEventView {
  mac: string;
  arch: number | null;
  vendorClass: string | null;
  step: string;
  detail: string;
  firstAt: string;
  lastAt: string;
  count: number;
}

/** RFC 4578 section 2.1 architecture numbers people meet on a LAN. */
function archName(arch: number | null): string {
  switch (arch) {
    case null:
      return '-';
    case 0:
      return 'BIOS';
    case 6:
      return 'UEFI ia32';
    case 7:
    case 9:
      return 'UEFI x64';
    case 16:
      return 'UEFI x64 HTTP';
    case 11:
      return 'UEFI arm64';
    default:
      return `arch ${arch}`;
  }
}

async function waiting(args: string[], io: CliIo): Promise<void> {
  const { values } = parse('waiting', args, COMMON, { min: 0, max: 0, names: '' });
  const pcs = await clientFor(values, io).call<WaitingPcView[]>('GET', '/api/v1/waiting');
  if (values.json) return printJson(io, pcs);
  if (pcs.length === 0) {
    io.stdout.write('no PCs waiting (an unknown PC that network-boots shows up here with the code on its screen)\n');
    return;
  }
  const rows = pcs.map((pc) => [pc.code, pc.mac, archName(pc.arch), pc.vendorClass ?? '-', pc.firstSeen, pc.lastSeen]);
  io.stdout.write(`${formatTable(['CODE', 'MAC', 'ARCH', 'VENDOR CLASS', 'FIRST SEEN', 'LAST SEEN'], rows)}\n`);
}

async function enroll(args: string[], io: CliIo): Promise<void> {
  const { values, positionals } = parse(
    'enroll',
    args,
    { ...COMMON, name: { type: 'string' }, image: { type: 'string' }, mode: { type: 'string' } },
    { min: 1, max: 1, names: 'CODE' },
  );
  const code = normalizeEnrollCode(positionals[0], 'CODE');
  const name = validateName(requireFlag('enroll', values.name, '--name'), 'seat', '--name');
  const image = validateName(requireFlag('enroll', values.image, '--image'), 'image', '--image');
  const mode = values.mode === undefined ? undefined : validateMode(values.mode, '--mode');
  const seat = await clientFor(values, io).call<SeatDetails>('POST', '/api/v1/enroll', { json: { code, name, image, mode } });
  if (values.json) return printJson(io, seat);
  io.stdout.write(`PC ${seat.mac} enrolled as seat ${seat.name} (${seat.image} v${seat.version}, ${seat.mode}); it boots at its next poll\n`);
}

async function bootEvents(args: string[], io: CliIo): Promise<void> {
  const { values, positionals } = parse('boot events', args, COMMON, { min: 0, max: 1, names: 'MAC' });
  const mac = positionals[0] === undefined ? undefined : normalizeMac(positionals[0], 'MAC');
  const events = await clientFor(values, io).call<BootEventView[]>('GET', `/api/v1/boot-events${mac ? `?mac=${encodeURIComponent(mac)}` : ''}`);
  if (values.json) return printJson(io, events);
  if (events.length === 0) {
    io.stdout.write(`no boot steps recorded${mac ? ` for ${mac}` : ''}\n`);
    return;
  }
  const rows = events.map((e) => [e.lastAt, e.mac, archName(e.arch), e.step, e.count > 1 ? `${e.detail} (x${e.count})` : e.detail]);
  io.stdout.write(`${formatTable(['TIME', 'MAC', 'ARCH', 'STEP', 'DETAIL'], rows)}\n`);
}

async function dhcpStatus(args: string[], io: CliIo): Promise<void> {
  const { values } = parse('dhcp status', args, COMMON, { min: 0, max: 0, names: '' });
  printJson(io, await clientFor(values, io).call<unknown>('GET', '/api/v1/dhcp'));
}

async function dhcpDetect(args: string[], io: CliIo): Promise<void> {
  const { values } = parse('dhcp detect', args, COMMON, { min: 0, max: 0, names: '' });
  const found = await clientFor(values, io).call<{ at: string; servers: { serverId?: string; pxe?: boolean; [key: string]: unknown }[] }>(
    'POST',
    '/api/v1/dhcp/detect',
  );
  if (values.json) return printJson(io, found);
  if (found.servers.length === 0) {
    io.stdout.write('no other DHCP server or proxy answered\n');
    return;
  }
  for (const server of found.servers) io.stdout.write(`${JSON.stringify(server)}\n`);
}

async function dhcpLeases(args: string[], io: CliIo): Promise<void> {
  const { values } = parse('dhcp leases', args, COMMON, { min: 0, max: 0, names: '' });
  printJson(io, await clientFor(values, io).call<unknown>('GET', '/api/v1/dhcp/leases'));
}

type Handler = (args: string[], io: CliIo) => Promise<void>;

const COMMANDS: Record<string, Handler | Record<string, Handler>> = {
  status,
  image: { import: imageImport, list: imageList },
  client: { add: clientAdd, list: clientList, show: clientShow, reset: clientReset, remove: clientRemove },
  waiting,
  enroll,
  boot: { events: bootEvents },
  dhcp: { status: dhcpStatus, detect: dhcpDetect, leases: dhcpLeases },
};

/** Runs one CLI invocation; returns the exit code. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined) throw new LanbootError('LANBOOT_INVALID_INPUT', 'missing command (try `lanboot help`)');
    if (command === 'help' || command === '--help' || command === '-h') {
      io.stdout.write(`${USAGE}\n`);
      return 0;
    }
    if (command === '--version' || command === 'version') {
      io.stdout.write(`${lanbootVersion()}\n`);
      return 0;
    }
    if (command === 'serve') {
      const { runServe } = await import('../supervisor/serve.js');
      return await runServe(rest);
    }
    const entry = COMMANDS[command];
    if (entry === undefined) throw new LanbootError('LANBOOT_INVALID_INPUT', `unknown command '${command.slice(0, 40)}' (try \`lanboot help\`)`);
    if (typeof entry === 'function') {
      await entry(rest, io);
      return 0;
    }
    const [sub, ...subArgs] = rest;
    const handler = sub === undefined ? undefined : entry[sub];
    if (handler === undefined) {
      throw new LanbootError('LANBOOT_INVALID_INPUT', `${command}: expected one of ${Object.keys(entry).join(', ')}${sub === undefined ? '' : `, got '${sub.slice(0, 40)}'`}`);
    }
    await handler(subArgs, io);
    return 0;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // One line, whatever the message holds.
    io.stderr.write(`lanboot: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
    return 1;
  }
}
