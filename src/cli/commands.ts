// The CLI commands. Each one parses its own flags (node:util parseArgs), talks to the
// supervisor over the local API, and prints either text or, with --json, the API's JSON.
// Any failure is ONE line on stderr ("lanboot: ...") and exit code 1.
import { settingsHelp } from '../config/config.js';
import { normalizeMac, validateMode, validateName } from '../config/names.js';
import { LanbootError } from '../log/errors.js';
import { lanbootVersion } from '../system/version.js';
import type { BootEventView, SeatDetails, StatusView, WaitingPcView } from '../web/views.js';
import { archName } from '../boot/arch.js';
import { normalizeEnrollCode } from '../boot/enroll-code.js';
import { SEAT_COMMANDS, imageMoveSeats } from './seat-commands.js';
import { COMMON, clientFor, parse, printJson, requireFlag, type CliIo, type Handler } from './common.js';
import { formatTable } from './format.js';
import { IMAGE_COMMANDS, USB_COMMANDS } from './image-commands.js';
import { ISO_COMMANDS } from './iso-commands.js';
import { GROUP_COMMANDS } from './group-commands.js';
import { WAKE_COMMANDS } from './wake-commands.js';
import { PASSWORD_COMMANDS } from './password-commands.js';

export type { CliIo } from './common.js';

export const USAGE = `usage: lanboot <command> [options]

Every command finds the supervisor through its data directory: --data DIR, else LANBOOT_DATA,
else the dataDir of --config FILE / LANBOOT_CONFIG, else ./lanboot-data.

  serve [options]       run the supervisor (\`lanboot serve --help\`):
${settingsHelp().replace(/^/gm, '    ')}
  status [--json]
  image import FILE --name NAME [--iso-name X.iso] [--json]   (raw, qcow2, vhd, vhdx, vmdk, ISO)
  image list [--json]
  image show NAME [--json]
  image rollback NAME --version N [--json]
  image delete NAME --version N [--json]
  image prune NAME [--json]
  image imports [--limit N] [--json]
  image move-seats IMAGE [--version N] [--json]
  iso list [--json]
  usb list [--json]
  usb import DEVICE FILE --name NAME [--json]
  usb release DEVICE [--json]
  seat add --name SEAT --image NAME [--mac MAC] [--mode fresh|persistent|maintenance]
           [--quota SIZE] [--group G] [--initiator IQN ...] [--no-chap] [--mutual-chap] [--json]
  seat add --name SEAT --mode install --size SIZE [--iso IMAGE/FILE.iso] [--mac MAC] [--quota SIZE] ...
  seat list [--json]
  seat show SEAT [--json]
  seat reset SEAT [--json]
  seat remove SEAT [--json]
  seat mode SEAT fresh|persistent|maintenance [--json]
  seat quota SEAT SIZE|none [--json]
  seat menu SEAT on|off|default [--timeout S|default] [--default disk|local|iso:IMAGE/FILE.iso] [--json]
  seat boot SEAT --once disk|local|menu|iso:IMAGE/FILE.iso | --cancel [--json]
  seat move SEAT [--version N] [--json]
  seat move-all IMAGE [--version N] [--json]   (= image move-seats IMAGE)
  seat commit SEAT [--image NAME] [--force] [--json]
  seat snapshot SEAT [--label L] [--json]
  seat snapshots SEAT [--json]
  seat restore SEAT SNAPSHOT [--json]
  seat snapshot-delete SEAT SNAPSHOT [--json]
  seat trace SEAT [on|off] [--json]
  seat space [--json]
  seat wake SEAT... | --group G | --all [--json]
  group list|add G|remove G|reset G|wake G [--json]
  group assign G SEAT... [--json]
  group mode G fresh|persistent|maintenance [--json]
  group move G [--version N] [--json]
  wake schedule --at "weekdays 08:45" --group G|--all [--json]
  wake schedules [--json]
  wake unschedule ID [--json]
  waiting [--json]
  enroll CODE --name SEAT --image NAME [--mode fresh|persistent|maintenance] [--json]
  enroll CODE --name SEAT --mode install --size SIZE [--iso IMAGE/FILE.iso] [--json]
  boot events [MAC] [--json]
  dhcp status|detect|leases [--json]
  password set [--json]   (the web UI admin password, read from stdin or a hidden prompt; ends every web session)

\`lanboot client ...\` is the same as \`lanboot seat ...\` (the older name, kept for scripts).
See docs/cli.md.`;

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
      ...(s.warnings ?? []).map((w) => `  warning ${w.message}`),
    ].join('\n') + '\n',
  );
}

// ---- network boot: PCs waiting to be enrolled, enrollment, boot timeline, DHCP

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
    { ...COMMON, name: { type: 'string' }, image: { type: 'string' }, mode: { type: 'string' }, size: { type: 'string' }, iso: { type: 'string' } },
    { min: 1, max: 1, names: 'CODE' },
  );
  const code = normalizeEnrollCode(positionals[0], 'CODE');
  const name = validateName(requireFlag('enroll', values.name, '--name'), 'seat', '--name');
  const mode = values.mode === undefined ? undefined : validateMode(values.mode, '--mode');
  // An install seat is a blank disk of --size (with the installer --iso); the others start from --image.
  const image = mode === 'install' ? undefined : validateName(requireFlag('enroll', values.image, '--image'), 'image', '--image');
  if (mode === 'install') requireFlag('enroll', values.size, '--size');
  const seat = await clientFor(values, io).call<SeatDetails>('POST', '/api/v1/enroll', { json: { code, name, image, mode, size: values.size, iso: values.iso } });
  if (values.json) return printJson(io, seat);
  const disk = seat.image === null ? `blank disk${seat.boot.installIso ? `, installer ${seat.boot.installIso}` : ''}` : `${seat.image} v${seat.version}`;
  io.stdout.write(`PC ${seat.mac} enrolled as seat ${seat.name} (${disk}, ${seat.mode}); it boots at its next poll\n`);
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

const COMMANDS: Record<string, Handler | Record<string, Handler>> = {
  status,
  image: { ...IMAGE_COMMANDS, 'move-seats': imageMoveSeats },
  usb: USB_COMMANDS,
  seat: SEAT_COMMANDS,
  // The older word for a seat, kept so existing scripts keep working.
  client: SEAT_COMMANDS,
  iso: ISO_COMMANDS,
  group: GROUP_COMMANDS,
  wake: WAKE_COMMANDS,
  waiting,
  enroll,
  boot: { events: bootEvents },
  dhcp: { status: dhcpStatus, detect: dhcpDetect, leases: dhcpLeases },
  password: PASSWORD_COMMANDS,
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
      return await runServe(rest, io);
    }
    const entry = COMMANDS[command];
    if (entry !== undefined && rest.includes('--help')) {
      io.stdout.write(`${USAGE}\n`);
      return 0;
    }
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
