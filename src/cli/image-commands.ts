// `lanboot image ...`: golden images and their versions.
import fs from 'node:fs';
import path from 'node:path';
import { validateName } from '../config/names.js';
import { LanbootError } from '../log/errors.js';
import { BLOCK_SIZE } from '../storage/image-store.js';
import type { ImageView } from '../web/api/images.js';
import { COMMON, clientFor, parse, printJson, requireFlag, type CliIo, type Handler } from './common.js';
import { formatBytes, formatProgress, formatTable } from './format.js';

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

export const IMAGE_COMMANDS: Record<string, Handler> = { import: imageImport, list: imageList };
