// /api/v1/images: golden images, their versions (current, sources, seats using each),
// ISO files, upload of a new version, rollback, delete and prune.
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Hono } from 'hono';
import type { Logger } from 'pino';
import { validateName } from '../../config/names.js';
import type { ImageRepository, ImageVersionRow, IsoRow } from '../../db/images.js';
import { knownErrorCode, LanbootError } from '../../log/errors.js';
import { SNIFF_BYTES, checkRawDisk, sniffContainer } from '../../storage/formats.js';
import type { AppContext } from '../context.js';
import { jsonBodyLimit, readJsonObject } from '../json.js';
import type { ImageView, IsoView, VersionView } from '../views.js';

function versionView(v: ImageVersionRow, current: number, seats: string[]): VersionView {
  return { number: v.number, sizeBytes: v.sizeBytes, sha256: v.sha256, createdAt: v.createdAt, path: v.filePath, source: v.source, current: v.number === current, seats };
}

function isoView(i: IsoRow): IsoView {
  return { fileName: i.fileName, sizeBytes: i.sizeBytes, sha256: i.sha256, source: i.source, createdAt: i.createdAt, path: i.filePath };
}

export function listImages(images: ImageRepository): ImageView[] {
  const seatsByVersion = images.seatsByVersion();
  const allVersions = images.listVersions();
  const allIsos = images.listIsos();
  return images.listImages().map((image) => {
    const current = images.currentVersion(image.name)?.number ?? 0;
    const versions = allVersions.filter((v) => v.imageName === image.name);
    return {
      name: image.name,
      latestVersion: versions.reduce((max, v) => Math.max(max, v.number), 0),
      currentVersion: current,
      versions: versions.map((v) => versionView(v, current, seatsByVersion.get(`${image.id}:${v.number}`) ?? [])),
      isos: allIsos.filter((i) => i.imageName === image.name).map(isoView),
    };
  });
}

function parseVersion(text: unknown, what = 'version'): number {
  const s = typeof text === 'number' ? String(text) : typeof text === 'string' ? text.replace(/^v/, '') : '';
  if (!/^[1-9]\d{0,8}$/.test(s)) throw new LanbootError('LANBOOT_INVALID_INPUT', `${what}: expected a version number (1, 2, ...)`);
  return Number(s);
}

/** Reads from `source` until `bytes` are gathered or it ends; returns them and the rest. */
async function peek(source: AsyncIterable<Uint8Array>, bytes: number): Promise<{ head: Buffer; rest: AsyncIterator<Uint8Array>; chunks: Uint8Array[] }> {
  const rest = source[Symbol.asyncIterator]();
  const chunks: Uint8Array[] = [];
  let total = 0;
  while (total < bytes) {
    const next = await rest.next();
    if (next.done) break;
    chunks.push(next.value);
    total += next.value.byteLength;
  }
  return { head: Buffer.concat(chunks), rest, chunks };
}

async function* replay(chunks: Uint8Array[], rest: AsyncIterator<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield* chunks;
  for (;;) {
    const next = await rest.next();
    if (next.done) return;
    yield next.value;
  }
}

export function imageRoutes(ctx: AppContext, log: Logger): Hono {
  const app = new Hono();
  const findView = (raw: string) => {
    const name = validateName(raw, 'image', 'image');
    const view = listImages(ctx.images).find((i) => i.name === name);
    if (!view) throw new LanbootError('LANBOOT_IMAGE_NOT_FOUND', `image '${name}' does not exist`);
    return view;
  };

  app.get('/', (c) => c.json(listImages(ctx.images)));

  app.get('/:name', (c) => c.json(findView(c.req.param('name'))));

  // A new version from a disk image in the request body (application/octet-stream), streamed
  // to disk, never held in memory. Raw data goes straight into the version file; any other
  // format (qcow2, VHD, VHDX, VMDK, ISO) is staged under DATA/staging and imported as a job
  // (converted and verified). Answers when the version is published.
  app.post('/:name/versions', async (c) => {
    const name = validateName(c.req.param('name'), 'image', 'name');
    const lengthHeader = c.req.header('content-length');
    let expectedBytes: number | undefined;
    if (lengthHeader !== undefined) {
      if (!/^\d{1,16}$/.test(lengthHeader)) throw new LanbootError('LANBOOT_INVALID_INPUT', 'Content-Length: not a byte count');
      expectedBytes = Number(lengthHeader);
    }
    // On Node the raw IncomingMessage is the cheapest source (no web-stream conversion).
    const incoming = (c.env as { incoming?: AsyncIterable<Uint8Array> } | undefined)?.incoming;
    const body = incoming ?? (c.req.raw.body as unknown as AsyncIterable<Uint8Array> | null);
    if (!body) throw new LanbootError('LANBOOT_IMAGE_INVALID', `image ${name}: the request has no body (send the disk image)`);
    const started = Date.now();
    const { head, rest, chunks } = await peek(body, SNIFF_BYTES);
    const container = sniffContainer(head);
    log.info({ image: name, expectedBytes, format: container ?? 'raw' }, 'image upload started');
    if (!container) {
      const version = await ctx.imageStore.importVersion(name, replay(chunks, rest), {
        expectedBytes,
        source: 'upload',
        // A truncated raw disk shows in its partition table (docs/images.md).
        verify: async (partial) => checkRawDisk(partial, (await fsp.stat(partial)).size).catch((error: unknown) => {
          if (error instanceof LanbootError) throw new LanbootError(error.code, error.message.replace(/^[^:]*: /, `image ${name}: upload: `));
          throw error;
        }),
      });
      log.info({ image: name, version: version.number, sizeBytes: version.sizeBytes, sha256: version.sha256, seconds: (Date.now() - started) / 1000 }, 'image version published');
      return c.json({ name, ...versionView(version, version.number, []) }, 201);
    }
    // Staged: the converter needs random access to the whole file.
    const staging = ctx.imageStore.stagingDir;
    await fsp.mkdir(staging, { recursive: true, mode: 0o700 });
    if (expectedBytes !== undefined) await ctx.imageStore.checkFreeSpace(name, expectedBytes * 2);
    const staged = path.join(staging, `upload-${process.pid}-${crypto.randomBytes(6).toString('hex')}.${container}`);
    try {
      const handle = await fsp.open(staged, 'wx', 0o600);
      let written = 0;
      try {
        for await (const chunk of replay(chunks, rest)) {
          written += chunk.byteLength;
          if (expectedBytes !== undefined && written > expectedBytes) throw new LanbootError('LANBOOT_IMAGE_INVALID', `image ${name}: received more than the announced ${expectedBytes} bytes`);
          await handle.write(chunk);
        }
      } finally {
        await handle.close();
      }
      if (expectedBytes !== undefined && written !== expectedBytes) throw new LanbootError('LANBOOT_IMAGE_INVALID', `image ${name}: the upload ended after ${written} of ${expectedBytes} bytes`);
    } catch (error) {
      await fsp.rm(staged, { force: true });
      throw error;
    }
    const job = await ctx.imports.wait((await ctx.imports.start({ image: name, path: staged, source: 'upload', removeSourceAfter: true })).id);
    if (job.state !== 'done') throw new LanbootError(knownErrorCode(job.error?.code, 'LANBOOT_IO_FAILED'), (job.error?.message ?? 'import failed').replaceAll(staged, 'upload').replaceAll(path.basename(staged), 'upload'));
    const view = findView(name);
    if (job.isoFile) return c.json({ name, iso: view.isos.find((i) => i.fileName === job.isoFile) }, 201);
    const version = view.versions.find((v) => v.number === job.version)!;
    return c.json({ name, ...version }, 201);
  });

  app.post('/:name/rollback', jsonBodyLimit, async (c) => {
    const name = validateName(c.req.param('name'), 'image', 'image');
    const body = await readJsonObject(c);
    const version = ctx.imageStore.rollback(name, parseVersion(body['version']));
    log.info({ image: name, version: version.number }, 'image current version set');
    return c.json(findView(name));
  });

  app.delete('/:name/versions/:number', async (c) => {
    const name = validateName(c.req.param('name'), 'image', 'image');
    const removed = await ctx.imageStore.deleteVersion(name, parseVersion(c.req.param('number')));
    log.info({ image: name, version: removed.number }, 'image version deleted');
    return c.json({ name, deleted: [removed.number] });
  });

  app.post('/:name/prune', async (c) => {
    const name = validateName(c.req.param('name'), 'image', 'image');
    const removed = await ctx.imageStore.prune(name);
    log.info({ image: name, versions: removed.map((v) => v.number) }, 'image pruned');
    return c.json({ name, deleted: removed.map((v) => v.number), freedBytes: removed.reduce((sum, v) => sum + v.sizeBytes, 0) });
  });
  return app;
}
