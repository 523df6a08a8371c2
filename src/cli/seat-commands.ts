// `lanboot seat ...` (alias `lanboot client ...`, kept for scripts): seats, one PC's disk each.
import { normalizeMac, validateIqn, validateMode, validateName } from '../config/names.js';
import { LanbootError } from '../log/errors.js';
import type { CommitResult, SeatBootView, SeatDetails, SeatSummary, SeatTraceView, SnapshotView, SpaceReport } from '../web/views.js';
import { COMMON, clientFor, parse, printJson, requireFlag, type CliIo, type Handler } from './common.js';
import { formatBytes, formatProgress, formatTable } from './format.js';
import { seatWake } from './wake-commands.js';

export function printSeat(io: CliIo, seat: SeatDetails): void {
  const lines = [
    `seat        ${seat.name}`,
    seat.image === null || seat.version === null
      ? `disk        blank, ${formatBytes(seat.diskBytes ?? 0)} (install seat: \`lanboot seat commit ${seat.name} --image NAME\` makes it an image)`
      : `image       ${seat.image} v${seat.version}${seat.latestVersion !== null && seat.latestVersion !== seat.version ? ` (v${seat.latestVersion} is current: \`lanboot seat move ${seat.name}\`)` : ''}`,
    `mode        ${seat.mode}`,
    `quota       ${seat.quotaBytes > 0 ? formatBytes(seat.quotaBytes) : 'none'}`,
    `mac         ${seat.mac ?? '-'}`,
    `target      ${seat.targetIqn}`,
    `portal      ${seat.portal}`,
    `lun         ${seat.lun}`,
    `initiators  ${seat.initiatorIqns.join(', ')}`,
    `chap        ${seat.chap ? `user ${seat.chap.user}, secret ${seat.chap.secret}` : 'off'}`,
  ];
  if (seat.mutualChap) lines.push(`mutual chap user ${seat.mutualChap.user}, secret ${seat.mutualChap.secret}`);
  lines.push(`serial      ${seat.serial}`, `naa         ${seat.naa}`);
  lines.push(...bootLines(seat.boot, seat.mode === 'install'));
  if (seat.deltaBytes !== null) lines.push(`delta       ${formatBytes(seat.deltaBytes)}`);
  if (seat.lastOperation) lines.push(`last op     ${seat.lastOperation.kind} ${seat.lastOperation.state}${seat.lastOperation.message ? `: ${seat.lastOperation.message}` : ''}`);
  lines.push(`sessions    ${seat.sessions.length === 0 ? 'none' : seat.sessions.map((s) => `${s.initiatorIqn} from ${s.remoteAddress}`).join('; ')}`);
  io.stdout.write(`${lines.join('\n')}\n`);
}

function bootLines(boot: SeatBootView, install: boolean): string[] {
  const lines = [`boot menu   ${boot.menu ?? 'as the box (--boot-menu)'}, timeout ${boot.menuTimeout === null ? 'as the box' : `${boot.menuTimeout} s`}, default ${boot.menuDefault}`];
  lines.push(`next boot   ${boot.once === null ? 'as usual' : `${boot.once} (once, set ${boot.onceSetAt ?? ''})`}`);
  if (install) {
    lines.push(`installer   ${boot.installIso ?? "the PC's next boot device (DVD/USB)"}`);
    lines.push(`disk        ${boot.diskBootable === null ? 'unknown' : boot.diskBootable ? 'bootable: the seat boots its disk, the installer is one menu entry away' : 'blank: the seat boots the installer'}`);
  }
  return lines;
}

async function seatAdd(args: string[], io: CliIo): Promise<void> {
  const { values } = parse(
    'seat add',
    args,
    {
      ...COMMON,
      name: { type: 'string' },
      image: { type: 'string' },
      mac: { type: 'string' },
      mode: { type: 'string' },
      size: { type: 'string' },
      quota: { type: 'string' },
      initiator: { type: 'string', multiple: true },
      'no-chap': { type: 'boolean' },
      'mutual-chap': { type: 'boolean' },
      iso: { type: 'string' },
      group: { type: 'string' },
    },
    { min: 0, max: 0, names: '' },
  );
  // Validated here too, so a typo is refused before anything reaches the supervisor.
  const name = validateName(requireFlag('seat add', values.name, '--name'), 'seat', '--name');
  const mode = values.mode === undefined ? undefined : validateMode(values.mode, '--mode');
  // An install seat is a blank disk of --size; every other seat starts from --image.
  const image = mode === 'install' ? undefined : validateName(requireFlag('seat add', values.image, '--image'), 'image', '--image');
  if (mode === 'install') requireFlag('seat add', values.size, '--size');
  const mac = values.mac === undefined ? undefined : normalizeMac(values.mac, '--mac');
  const initiators = values.initiator?.map((iqn) => validateIqn(iqn, '--initiator'));
  if (values['no-chap'] && values['mutual-chap']) throw new LanbootError('LANBOOT_INVALID_INPUT', 'seat add: --mutual-chap needs CHAP; drop --no-chap');
  const seat = await clientFor(values, io).call<SeatDetails>('POST', '/api/v1/clients', {
    json: { name, image, mac, mode, initiators, size: values.size, quota: values.quota, chap: !values['no-chap'], mutualChap: values['mutual-chap'] === true, iso: values.iso, group: values.group },
  });
  if (values.json) return printJson(io, seat);
  printSeat(io, seat);
}

async function seatList(args: string[], io: CliIo): Promise<void> {
  const { values } = parse('seat list', args, COMMON, { min: 0, max: 0, names: '' });
  const seats = await clientFor(values, io).call<SeatSummary[]>('GET', '/api/v1/clients');
  if (values.json) return printJson(io, seats);
  if (seats.length === 0) {
    io.stdout.write('no seats (add one with `lanboot seat add --name SEAT --image NAME`)\n');
    return;
  }
  const rows = seats.map((s) => [
    s.name,
    s.image === null ? '(blank)' : `${s.image} v${s.version}`,
    s.mode,
    s.mac ?? '-',
    s.chap ? 'on' : 'off',
    String(s.sessions),
    `${s.deltaBytes === null ? '-' : formatBytes(s.deltaBytes)}${s.quotaBytes > 0 ? ` / ${formatBytes(s.quotaBytes)}` : ''}`,
  ]);
  io.stdout.write(`${formatTable(['SEAT', 'IMAGE', 'MODE', 'MAC', 'CHAP', 'SESSIONS', 'DELTA'], rows)}\n`);
}

function seatArg(command: string, args: string[], io: CliIo) {
  const { values, positionals } = parse(command, args, COMMON, { min: 1, max: 1, names: 'SEAT' });
  return { values, seat: validateName(positionals[0], 'seat', 'SEAT'), client: clientFor(values, io) };
}

async function seatShow(args: string[], io: CliIo): Promise<void> {
  const { values, seat, client } = seatArg('seat show', args, io);
  const details = await client.call<SeatDetails>('GET', `/api/v1/clients/${seat}`);
  if (values.json) return printJson(io, details);
  printSeat(io, details);
}

async function seatReset(args: string[], io: CliIo): Promise<void> {
  const { values, seat, client } = seatArg('seat reset', args, io);
  const details = await client.call<SeatDetails>('POST', `/api/v1/clients/${seat}/reset`);
  if (values.json) return printJson(io, details);
  io.stdout.write(details.image === null ? `seat ${details.name}: blank disk again\n` : `seat ${details.name} reset to ${details.image} v${details.version}\n`);
}

async function seatRemove(args: string[], io: CliIo): Promise<void> {
  const { values, seat, client } = seatArg('seat remove', args, io);
  const result = await client.call<{ removed: string }>('DELETE', `/api/v1/clients/${seat}`);
  if (values.json) return printJson(io, result);
  io.stdout.write(`seat ${result.removed} removed\n`);
}

function seatOptions<O extends Record<string, { type: 'string' | 'boolean' }>>(command: string, args: string[], io: CliIo, extra: O, names = 'SEAT', count = 1) {
  const { values, positionals } = parse(command, args, { ...COMMON, ...extra }, { min: count, max: count, names });
  return { values, positionals, seat: validateName(positionals[0], 'seat', 'SEAT'), client: clientFor(values, io) };
}

async function seatMode(args: string[], io: CliIo): Promise<void> {
  const { values, positionals, seat, client } = seatOptions('seat mode', args, io, {}, 'SEAT MODE', 2);
  const mode = validateMode(positionals[1], 'MODE');
  const details = await client.call<SeatDetails>('POST', `/api/v1/clients/${seat}/mode`, { json: { mode } });
  if (values.json) return printJson(io, details);
  io.stdout.write(`seat ${details.name} is now in ${details.mode} mode\n`);
}

// `seat menu SEAT on|off|default [--timeout S|default] [--default disk|local|iso:NAME]`
async function seatMenu(args: string[], io: CliIo): Promise<void> {
  const { values, positionals, seat, client } = seatOptions('seat menu', args, io, { timeout: { type: 'string' }, default: { type: 'string' } }, 'SEAT on|off|default', 2);
  const json: Record<string, unknown> = { menu: positionals[1] };
  if (values.timeout !== undefined) json.timeout = values.timeout === 'default' ? null : values.timeout;
  if (values.default !== undefined) json.default = values.default;
  const boot = await client.call<SeatBootView>('POST', `/api/v1/clients/${seat}/menu`, { json });
  if (values.json) return printJson(io, boot);
  io.stdout.write(`seat ${seat}: ${bootLines(boot, false)[0]!.replace(/^boot menu\s+/, 'boot menu ')}\n`);
}

// `seat boot SEAT --once disk|local|menu|iso:NAME` (or `--cancel`)
async function seatBoot(args: string[], io: CliIo): Promise<void> {
  const { values, seat, client } = seatOptions('seat boot', args, io, { once: { type: 'string' }, cancel: { type: 'boolean' } });
  if ((values.once === undefined) === (values.cancel !== true)) {
    throw new LanbootError('LANBOOT_INVALID_INPUT', 'seat boot: give --once disk|local|menu|iso:IMAGE/FILE.iso, or --cancel');
  }
  const boot = await client.call<SeatBootView>('POST', `/api/v1/clients/${seat}/boot`, { json: { once: values.cancel ? null : values.once } });
  if (values.json) return printJson(io, boot);
  io.stdout.write(boot.once === null ? `seat ${seat}: next boot as usual\n` : `seat ${seat}: next boot ${boot.once} (once; then as usual)\n`);
}

async function seatQuota(args: string[], io: CliIo): Promise<void> {
  const { values, positionals, seat, client } = seatOptions('seat quota', args, io, {}, 'SEAT SIZE|none', 2);
  const quota = positionals[1] === 'none' ? null : positionals[1];
  const details = await client.call<SeatDetails>('POST', `/api/v1/clients/${seat}/quota`, { json: { quota } });
  if (values.json) return printJson(io, details);
  io.stdout.write(`seat ${details.name}: quota ${details.quotaBytes > 0 ? formatBytes(details.quotaBytes) : 'none'}\n`);
}

async function seatMove(args: string[], io: CliIo): Promise<void> {
  const { values, seat, client } = seatOptions('seat move', args, io, { version: { type: 'string' } });
  const details = await client.call<SeatDetails>('POST', `/api/v1/clients/${seat}/move`, { json: values.version === undefined ? {} : { version: values.version } });
  if (values.json) return printJson(io, details);
  io.stdout.write(`seat ${details.name} moved to ${details.image} v${details.version} (its changes were dropped)\n`);
}

/** `lanboot image move-seats IMAGE` (and its alias `seat move-all`). */
export const imageMoveSeats: Handler = (args, io) => moveAllSeats('image move-seats', args, io);

async function seatMoveAll(args: string[], io: CliIo): Promise<void> {
  return moveAllSeats('seat move-all', args, io);
}

async function moveAllSeats(command: string, args: string[], io: CliIo): Promise<void> {
  const { values, positionals } = parse(command, args, { ...COMMON, version: { type: 'string' } }, { min: 1, max: 1, names: 'IMAGE' });
  const image = validateName(positionals[0], 'image', 'IMAGE');
  const result = await clientFor(values, io).call<{ moved: string[]; unchanged: string[]; failed: { seat: string; error: string }[]; version: number }>('POST', '/api/v1/clients/move', {
    json: values.version === undefined ? { image } : { image, version: values.version },
  });
  if (values.json) return printJson(io, result);
  io.stdout.write(`${result.moved.length} seat(s) of ${image} moved to v${result.version}${result.moved.length ? `: ${result.moved.join(', ')}` : ''}\n`);
  if (result.unchanged.length > 0) io.stdout.write(`already on v${result.version}: ${result.unchanged.join(', ')}\n`);
  for (const f of result.failed) io.stderr.write(`seat ${f.seat} not moved: ${f.error}\n`);
  if (result.failed.length > 0) throw new LanbootError('LANBOOT_ENGINE_FAILED', `${result.failed.length} seat(s) could not be moved`);
}

async function seatCommit(args: string[], io: CliIo): Promise<void> {
  const { values, seat, client } = seatOptions('seat commit', args, io, { image: { type: 'string' }, force: { type: 'boolean' } });
  const image = values.image === undefined ? undefined : validateName(values.image, 'image', '--image');
  const showProgress = io.stderr.isTTY === true;
  const started = Date.now();
  // The commit is one request; its progress is polled from the seat's lastOperation.
  let timer: NodeJS.Timeout | undefined;
  if (showProgress) {
    timer = setInterval(() => {
      client
        .call<SeatDetails>('GET', `/api/v1/clients/${seat}`)
        .then((d) => {
          const p = d.lastOperation?.state === 'running' ? d.lastOperation.progress : undefined;
          if (p) io.stderr.write(`\rcommitting ${seat}: ${formatProgress(p.bytesDone, p.totalBytes, Date.now() - started)}\x1b[K`);
        })
        .catch(() => undefined);
    }, 500);
  }
  let result: CommitResult;
  try {
    result = await client.call<CommitResult>('POST', `/api/v1/clients/${seat}/commit`, { json: { image, force: values.force === true } });
  } finally {
    if (timer) {
      clearInterval(timer);
      io.stderr.write('\n');
    }
  }
  if (values.json) return printJson(io, result);
  io.stdout.write(`seat ${seat} committed as ${result.image} v${result.version} (${formatBytes(result.sizeBytes)}, sha256 ${result.sha256}); the seat is on it now\n`);
}

async function seatSnapshot(args: string[], io: CliIo): Promise<void> {
  const { values, seat, client } = seatOptions('seat snapshot', args, io, { label: { type: 'string' } });
  const snap = await client.call<SnapshotView>('POST', `/api/v1/clients/${seat}/snapshots`, { json: values.label === undefined ? {} : { label: values.label } });
  if (values.json) return printJson(io, snap);
  io.stdout.write(`seat ${seat}: snapshot ${snap.number}${snap.label ? ` (${snap.label})` : ''} of ${formatBytes(snap.deltaBytes)}\n`);
}

async function seatSnapshots(args: string[], io: CliIo): Promise<void> {
  const { values, seat, client } = seatOptions('seat snapshots', args, io, {});
  const list = await client.call<SnapshotView[]>('GET', `/api/v1/clients/${seat}/snapshots`);
  if (values.json) return printJson(io, list);
  if (list.length === 0) {
    io.stdout.write(`seat ${seat} has no snapshots (take one with \`lanboot seat snapshot ${seat}\`)\n`);
    return;
  }
  const rows = list.map((s) => [String(s.number), s.label ?? '-', s.image === null ? '(blank)' : `${s.image} v${s.version}`, formatBytes(s.deltaBytes), s.createdAt]);
  io.stdout.write(`${formatTable(['#', 'LABEL', 'MADE ON', 'DELTA', 'CREATED'], rows)}\n`);
}

async function seatRestore(args: string[], io: CliIo): Promise<void> {
  const { values, positionals, seat, client } = seatOptions('seat restore', args, io, {}, 'SEAT SNAPSHOT', 2);
  const details = await client.call<SeatDetails>('POST', `/api/v1/clients/${seat}/snapshots/${encodeURIComponent(positionals[1]!)}/restore`);
  if (values.json) return printJson(io, details);
  io.stdout.write(`seat ${details.name}: snapshot ${positionals[1]} restored\n`);
}

async function seatSnapshotDelete(args: string[], io: CliIo): Promise<void> {
  const { values, positionals, seat, client } = seatOptions('seat snapshot-delete', args, io, {}, 'SEAT SNAPSHOT', 2);
  const result = await client.call<{ deleted: number }>('DELETE', `/api/v1/clients/${seat}/snapshots/${encodeURIComponent(positionals[1]!)}`);
  if (values.json) return printJson(io, result);
  io.stdout.write(`seat ${seat}: snapshot ${result.deleted} deleted\n`);
}

// `seat trace SEAT [on|off]`: records the seat's boot (every READ/WRITE with its time) to
// DATA/seats/<id>/boot-trace.bin; without on/off, shows the switch.
async function seatTrace(args: string[], io: CliIo): Promise<void> {
  const { values, positionals } = parse('seat trace', args, COMMON, { min: 1, max: 2, names: 'SEAT [on|off]' });
  const seat = validateName(positionals[0], 'seat', 'SEAT');
  const client = clientFor(values, io);
  const word = positionals[1];
  if (word !== undefined && word !== 'on' && word !== 'off') throw new LanbootError('LANBOOT_INVALID_INPUT', `seat trace: expected on or off, got '${word}'`);
  const view =
    word === undefined
      ? await client.call<SeatTraceView>('GET', `/api/v1/seats/${seat}/trace`)
      : await client.call<SeatTraceView>('POST', `/api/v1/seats/${seat}/trace`, { json: { on: word === 'on' } });
  if (values.json) return printJson(io, view);
  io.stdout.write(`seat ${view.seat}: boot trace ${view.on ? 'recording' : 'off'}, ${view.records} commands in ${view.file}\n`);
}

async function seatSpace(args: string[], io: CliIo): Promise<void> {
  const { values } = parse('seat space', args, COMMON, { min: 0, max: 0, names: '' });
  const report = await clientFor(values, io).call<SpaceReport>('GET', '/api/v1/space');
  if (values.json) return printJson(io, report);
  const d = report.dataDisk;
  const lines = [`data disk ${d.path}: ${formatBytes(d.freeBytes)} free of ${formatBytes(d.totalBytes)}`];
  const rows = report.seats.map((s) => [
    s.name,
    s.deltaBytes === null ? '-' : formatBytes(s.deltaBytes),
    s.quotaBytes > 0 ? formatBytes(s.quotaBytes) : 'none',
    formatBytes(s.snapshotBytes),
    s.full ? `FULL (${s.full.reason})` : '',
  ]);
  if (rows.length > 0) lines.push(formatTable(['SEAT', 'DELTA', 'QUOTA', 'SNAPSHOTS', ''], rows));
  for (const w of report.warnings) lines.push(`warning: ${w.message}`);
  io.stdout.write(`${lines.join('\n')}\n`);
}

export const SEAT_COMMANDS: Record<string, Handler> = {
  add: seatAdd,
  list: seatList,
  show: seatShow,
  reset: seatReset,
  remove: seatRemove,
  mode: seatMode,
  quota: seatQuota,
  menu: seatMenu,
  boot: seatBoot,
  move: seatMove,
  'move-all': seatMoveAll,
  commit: seatCommit,
  snapshot: seatSnapshot,
  snapshots: seatSnapshots,
  restore: seatRestore,
  'snapshot-delete': seatSnapshotDelete,
  trace: seatTrace,
  space: seatSpace,
  wake: seatWake,
};
