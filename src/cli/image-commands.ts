// `lanboot image ...` and `lanboot usb ...`: golden images, their versions, imports, USB sticks.
import fs from 'node:fs';
import path from 'node:path';
import { validateName } from '../config/names.js';
import { knownErrorCode, LanbootError } from '../log/errors.js';
import { BLOCK_SIZE, SNIFF_BYTES, sniffContainer } from '../storage/formats.js';
import type { ImageView, ImportJobView, UsbDeviceView } from '../web/views.js';
import type { ApiClient } from './api-client.js';
import { COMMON, clientFor, parse, printJson, requireFlag, type CliIo, type Handler } from './common.js';
import { formatBytes, formatProgress, formatTable } from './format.js';

const POLL_MS = 200;

function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  const m = Math.floor(seconds / 60);
  return m < 60 ? `${m}m${String(seconds % 60).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** One status line of a running job: "converting 1.2 GiB of 8.0 GiB (15%), 210.0 MiB/s, 32s left". */
export function formatJobProgress(job: ImportJobView): string {
  if (job.phase === 'verifying' && job.bytesTotal) {
    return `verifying ${formatBytes(job.bytesVerified)} of ${formatBytes(job.bytesTotal)} (${Math.floor((job.bytesVerified / job.bytesTotal) * 100)}%)`;
  }
  if (!job.bytesTotal) return `${job.phase ?? job.state}`;
  const percent = Math.floor((job.bytesDone / job.bytesTotal) * 100);
  const rate = job.rateBytesPerSecond ? `, ${formatBytes(job.rateBytesPerSecond)}/s` : '';
  const left = job.secondsLeft !== null ? `, ${formatSeconds(job.secondsLeft)} left` : '';
  return `${job.phase ?? job.state} ${formatBytes(job.bytesDone)} of ${formatBytes(job.bytesTotal)} (${percent}%)${rate}${left}`;
}

/** Follows a job to its end, drawing progress on stderr when it is a TTY. Ctrl-C cancels
 *  the job on the supervisor (it removes its partial) before exiting. */
async function followJob(client: ApiClient, job: ImportJobView, io: CliIo, label: string): Promise<ImportJobView> {
  const showProgress = io.stderr.isTTY === true;
  let cancelled = false;
  const onSigint = () => {
    cancelled = true;
  };
  process.on('SIGINT', onSigint);
  let current = job;
  try {
    while (current.state === 'running') {
      if (cancelled) {
        current = await client.call<ImportJobView>('DELETE', `/api/v1/imports/${job.id}`).catch(() => current);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      current = await client.call<ImportJobView>('GET', `/api/v1/imports/${job.id}`);
      if (showProgress && current.state === 'running') io.stderr.write(`\r${label}: ${formatJobProgress(current)}\x1b[K`);
    }
  } finally {
    process.off('SIGINT', onSigint);
    if (showProgress) {
      // The last line shows where the work ended (100% and the average rate on success).
      const total = current.bytesTotal ?? 0;
      const elapsedMs = (current.finishedAt ? Date.parse(current.finishedAt) : Date.now()) - Date.parse(current.startedAt);
      const where = total > 0 ? formatProgress(current.state === 'done' ? total : current.bytesDone, total, elapsedMs) : '';
      io.stderr.write(`\r${label}: ${where}${where ? ', ' : ''}${current.state}\x1b[K\n`);
    }
  }
  if (current.state !== 'done') {
    throw new LanbootError(knownErrorCode(current.error?.code, 'LANBOOT_IO_FAILED'), current.error?.message ?? `import ${job.id} did not finish`);
  }
  return current;
}

async function printImported(client: ApiClient, job: ImportJobView, io: CliIo, json: boolean | undefined): Promise<void> {
  const view = await client.call<ImageView>('GET', `/api/v1/images/${job.image}`);
  if (job.isoFile) {
    const iso = view.isos.find((i) => i.fileName === job.isoFile);
    if (json) return printJson(io, { name: job.image, importId: job.id, format: job.format, iso });
    io.stdout.write(`image ${job.image}: ISO ${job.isoFile} stored, ${formatBytes(iso?.sizeBytes ?? 0)}, sha256 ${iso?.sha256 ?? '?'}\n`);
    return;
  }
  const version = view.versions.find((v) => v.number === job.version)!;
  if (json) return printJson(io, { name: job.image, ...version, importId: job.id, format: job.format });
  io.stdout.write(`image ${job.image} v${version.number}: ${formatBytes(version.sizeBytes)}, sha256 ${version.sha256}\n`);
}

async function imageImport(args: string[], io: CliIo): Promise<void> {
  const { values, positionals } = parse('image import', args, { ...COMMON, name: { type: 'string' }, 'iso-name': { type: 'string' } }, { min: 1, max: 1, names: 'FILE' });
  const name = validateName(requireFlag('image import', values.name, '--name'), 'image');
  const file = path.resolve(io.cwd, positionals[0]!);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (error) {
    throw new LanbootError('LANBOOT_INVALID_INPUT', `image import: cannot read ${positionals[0]}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (!stat.isFile() && !stat.isBlockDevice()) throw new LanbootError('LANBOOT_INVALID_INPUT', `image import: ${positionals[0]} is not a regular file`);
  if (stat.isFile()) {
    // Raw data must be whole 512-byte blocks; say so before starting a job.
    const head = Buffer.alloc(SNIFF_BYTES);
    const fd = fs.openSync(file, 'r');
    let bytesRead: number;
    try {
      bytesRead = fs.readSync(fd, head, 0, head.length, 0);
    } finally {
      fs.closeSync(fd);
    }
    if (!sniffContainer(head.subarray(0, bytesRead)) && (stat.size === 0 || stat.size % BLOCK_SIZE !== 0)) {
      throw new LanbootError('LANBOOT_INVALID_INPUT', `image import: ${positionals[0]} is ${stat.size} bytes; a raw disk image is a non-empty multiple of ${BLOCK_SIZE} bytes`);
    }
  }
  const client = clientFor(values, io);
  const isoName = values['iso-name'];
  const job = await client.call<ImportJobView>('POST', '/api/v1/imports', { json: { image: name, path: file, ...(isoName ? { isoName } : {}) } });
  const done = await followJob(client, job, io, `importing ${name}`);
  await printImported(client, done, io, values.json);
}

async function imageList(args: string[], io: CliIo): Promise<void> {
  const { values } = parse('image list', args, COMMON, { min: 0, max: 0, names: '' });
  const images = await clientFor(values, io).call<ImageView[]>('GET', '/api/v1/images');
  if (values.json) return printJson(io, images);
  if (images.length === 0) {
    io.stdout.write('no images (import one with `lanboot image import FILE --name NAME`)\n');
    return;
  }
  const rows = images.flatMap((image) => [
    ...image.versions.map((v) => [
      image.name,
      `v${v.number}${v.current ? ' (current)' : ''}`,
      formatBytes(v.sizeBytes),
      v.sha256.slice(0, 16),
      v.seats.length > 0 ? v.seats.join(',') : '-',
      v.createdAt,
    ]),
    ...image.isos.map((i) => [image.name, `iso ${i.fileName}`, formatBytes(i.sizeBytes), i.sha256.slice(0, 16), '-', i.createdAt]),
  ]);
  io.stdout.write(`${formatTable(['IMAGE', 'VERSION', 'SIZE', 'SHA256', 'SEATS', 'CREATED'], rows)}\n`);
}

async function imageShow(args: string[], io: CliIo): Promise<void> {
  const { values, positionals } = parse('image show', args, COMMON, { min: 1, max: 1, names: 'NAME' });
  const name = validateName(positionals[0]!, 'image', 'NAME');
  const view = await clientFor(values, io).call<ImageView>('GET', `/api/v1/images/${name}`);
  if (values.json) return printJson(io, view);
  const lines = [`image ${view.name}: current v${view.currentVersion}, latest v${view.latestVersion}`];
  for (const v of view.versions) {
    lines.push(`  v${v.number}${v.current ? ' (current)' : ''}  ${formatBytes(v.sizeBytes)}  sha256 ${v.sha256}`);
    lines.push(`      created ${v.createdAt}, from ${v.source ?? 'unknown'}, seats: ${v.seats.join(', ') || 'none'}`);
  }
  for (const i of view.isos) lines.push(`  iso ${i.fileName}  ${formatBytes(i.sizeBytes)}  sha256 ${i.sha256}  from ${i.source ?? 'unknown'}`);
  io.stdout.write(`${lines.join('\n')}\n`);
}

function versionFlag(command: string, value: string | undefined): number {
  const text = requireFlag(command, value, '--version').replace(/^v/, '');
  if (!/^[1-9]\d{0,8}$/.test(text)) throw new LanbootError('LANBOOT_INVALID_INPUT', `${command}: --version: expected a version number (1, 2, ...)`);
  return Number(text);
}

async function imageRollback(args: string[], io: CliIo): Promise<void> {
  const { values, positionals } = parse('image rollback', args, { ...COMMON, version: { type: 'string' } }, { min: 1, max: 1, names: 'NAME' });
  const name = validateName(positionals[0]!, 'image', 'NAME');
  const version = versionFlag('image rollback', values.version);
  const view = await clientFor(values, io).call<ImageView>('POST', `/api/v1/images/${name}/rollback`, { json: { version } });
  if (values.json) return printJson(io, view);
  io.stdout.write(`image ${name}: current version is now v${view.currentVersion} (new seats start on it; \`lanboot client reset SEAT\` moves a seat)\n`);
}

async function imageDelete(args: string[], io: CliIo): Promise<void> {
  const { values, positionals } = parse('image delete', args, { ...COMMON, version: { type: 'string' } }, { min: 1, max: 1, names: 'NAME' });
  const name = validateName(positionals[0]!, 'image', 'NAME');
  const version = versionFlag('image delete', values.version);
  const result = await clientFor(values, io).call<{ deleted: number[] }>('DELETE', `/api/v1/images/${name}/versions/${version}`);
  if (values.json) return printJson(io, result);
  io.stdout.write(`image ${name}: deleted v${version}\n`);
}

async function imagePrune(args: string[], io: CliIo): Promise<void> {
  const { values, positionals } = parse('image prune', args, COMMON, { min: 1, max: 1, names: 'NAME' });
  const name = validateName(positionals[0]!, 'image', 'NAME');
  const result = await clientFor(values, io).call<{ deleted: number[]; freedBytes: number }>('POST', `/api/v1/images/${name}/prune`);
  if (values.json) return printJson(io, result);
  io.stdout.write(
    result.deleted.length === 0
      ? `image ${name}: nothing to prune (every version is current or used by a seat)\n`
      : `image ${name}: deleted ${result.deleted.map((n) => `v${n}`).join(', ')}, freed ${formatBytes(result.freedBytes)}\n`,
  );
}

async function imageImports(args: string[], io: CliIo): Promise<void> {
  const { values } = parse('image imports', args, { ...COMMON, limit: { type: 'string' } }, { min: 0, max: 0, names: '' });
  const limit = values.limit ?? '20';
  if (!/^\d{1,3}$/.test(limit)) throw new LanbootError('LANBOOT_INVALID_INPUT', 'image imports: --limit: expected a number');
  const jobs = await clientFor(values, io).call<ImportJobView[]>('GET', `/api/v1/imports?limit=${limit}`);
  if (values.json) return printJson(io, jobs);
  if (jobs.length === 0) {
    io.stdout.write('no imports yet\n');
    return;
  }
  const rows = jobs.map((j) => [
    String(j.id),
    j.image,
    j.format ?? '-',
    j.state === 'running' ? formatJobProgress(j) : j.state === 'done' ? (j.isoFile ? `done: iso ${j.isoFile}` : `done: v${j.version}`) : `failed: ${j.error?.message ?? ''}`,
    j.source,
    j.startedAt,
  ]);
  io.stdout.write(`${formatTable(['ID', 'IMAGE', 'FORMAT', 'RESULT', 'SOURCE', 'STARTED'], rows)}\n`);
}

async function usbList(args: string[], io: CliIo): Promise<void> {
  const { values } = parse('usb list', args, COMMON, { min: 0, max: 0, names: '' });
  const devices = await clientFor(values, io).call<UsbDeviceView[]>('GET', '/api/v1/usb');
  if (values.json) return printJson(io, devices);
  if (devices.length === 0) {
    io.stdout.write('no USB sticks\n');
    return;
  }
  const lines: string[] = [];
  for (const d of devices) {
    lines.push(`${d.id}  ${d.label ?? '(no label)'}  ${d.fsType ?? '?'}  ${d.state}${d.error ? `: ${d.error}` : ''}${d.busy ? '  (importing)' : ''}`);
    for (const f of d.files) lines.push(`  ${f.path}  ${f.format}  ${formatBytes(f.sizeBytes)}`);
    if (d.state === 'mounted' && d.files.length === 0) lines.push('  (no disk images or ISO files found)');
    if (d.truncated) lines.push('  (more files not listed)');
  }
  io.stdout.write(`${lines.join('\n')}\n`);
}

async function usbImport(args: string[], io: CliIo): Promise<void> {
  const { values, positionals } = parse('usb import', args, { ...COMMON, name: { type: 'string' } }, { min: 2, max: 2, names: 'DEVICE FILE' });
  const name = validateName(requireFlag('usb import', values.name, '--name'), 'image');
  const client = clientFor(values, io);
  const job = await client.call<ImportJobView>('POST', '/api/v1/imports', { json: { image: name, usb: { device: positionals[0], file: positionals[1] } } });
  const done = await followJob(client, job, io, `importing ${name} from ${positionals[0]}`);
  await printImported(client, done, io, values.json);
}

async function usbRelease(args: string[], io: CliIo): Promise<void> {
  const { values, positionals } = parse('usb release', args, COMMON, { min: 1, max: 1, names: 'DEVICE' });
  const result = await clientFor(values, io).call<{ released: string }>('POST', `/api/v1/usb/${encodeURIComponent(positionals[0]!)}/release`);
  if (values.json) return printJson(io, result);
  io.stdout.write(`${result.released}: released, the stick can be pulled\n`);
}

export const IMAGE_COMMANDS: Record<string, Handler> = {
  import: imageImport,
  list: imageList,
  show: imageShow,
  rollback: imageRollback,
  delete: imageDelete,
  prune: imagePrune,
  imports: imageImports,
};

export const USB_COMMANDS: Record<string, Handler> = { list: usbList, import: usbImport, release: usbRelease };
