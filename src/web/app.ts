// The hono apps. One set of routes, mounted twice:
//  - the LAN-facing HTTP port: /healthz, the read-only GET /api/v1/status, and the routes
//    services mount (the boot endpoints, src/boot); the web UI comes later, with its own auth;
//  - the local API on DATA/lanboot.sock (0600, the CLI's trusted channel): every /api/v1
//    route, including the ones that change state or reveal CHAP secrets.
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Logger } from 'pino';
import { httpStatusFor, LanbootError } from '../log/errors.js';
import { errorFields } from '../log/logger.js';
import { validateName } from '../config/names.js';
import type { ImageRepository, ImageVersionRow } from '../db/images.js';
import type { ImageStore } from '../storage/image-store.js';
import type { SeatManager } from '../iscsi/seat-manager.js';

export interface StatusView {
  version: string;
  dataDir: string;
  iscsi: { host: string; port: number };
  http: { host: string; port: number };
  /** host:port PCs use for iSCSI. */
  portal: string;
  dhcp: { mode: string; interface: string | null; running: boolean };
  seats: number;
  images: number;
  sessions: number;
  uptimeSeconds: number;
  /** Per plugged-in service (DHCP, TFTP, ...): what it reports. */
  services: Record<string, unknown>;
}

export interface AppContext {
  logger: Logger;
  status(): StatusView;
  images: ImageRepository;
  imageStore: ImageStore;
  seats: SeatManager;
}

/** JSON request bodies here are a handful of fields. */
const MAX_JSON_BODY_BYTES = 64 * 1024;

export interface ImageView {
  name: string;
  latestVersion: number;
  versions: { number: number; sizeBytes: number; sha256: string; createdAt: string; path: string }[];
}

function versionView(v: ImageVersionRow) {
  return { number: v.number, sizeBytes: v.sizeBytes, sha256: v.sha256, createdAt: v.createdAt, path: v.filePath };
}

export function listImages(images: ImageRepository): ImageView[] {
  const byName = new Map<string, ImageView>();
  for (const v of images.listVersions()) {
    let view = byName.get(v.imageName);
    if (!view) byName.set(v.imageName, (view = { name: v.imageName, latestVersion: 0, versions: [] }));
    view.versions.push(versionView(v));
    view.latestVersion = Math.max(view.latestVersion, v.number);
  }
  return [...byName.values()];
}

function errorResponse(c: Context, error: unknown, logger: Logger): Response {
  if (error instanceof LanbootError) {
    const status = httpStatusFor(error.code);
    if (status >= 500) logger.error({ path: c.req.path, ...errorFields(error) }, 'request failed');
    return c.json({ error: { code: error.code, message: error.message } }, status as 400);
  }
  logger.error({ path: c.req.path, ...errorFields(error) }, 'request failed');
  return c.json({ error: { code: 'LANBOOT_INTERNAL', message: 'internal error (see the supervisor log)' } }, 500);
}

async function readJsonObject(c: Context): Promise<Record<string, unknown>> {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    throw new LanbootError('LANBOOT_INVALID_INPUT', 'request body: expected a JSON object');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new LanbootError('LANBOOT_INVALID_INPUT', 'request body: expected a JSON object');
  return body as Record<string, unknown>;
}

function baseApp(ctx: AppContext): Hono {
  const app = new Hono();
  const log = ctx.logger.child({ component: 'web' });
  app.onError((error, c) => errorResponse(c, error, log));
  app.notFound((c) => c.json({ error: { code: 'LANBOOT_NOT_FOUND', message: `no route for ${c.req.method} ${c.req.path}` } }, 404));
  app.get('/healthz', (c) => c.json({ ok: true }));
  app.get('/api/v1/status', (c) => c.json(ctx.status()));
  return app;
}

/** The app on the LAN-facing HTTP port. */
export function createHttpApp(ctx: AppContext): Hono {
  return baseApp(ctx);
}

/** The app on the local API socket: the full /api/v1. */
export function createLocalApiApp(ctx: AppContext): Hono {
  const app = baseApp(ctx);
  const log = ctx.logger.child({ component: 'web' });
  const jsonLimit = bodyLimit({
    maxSize: MAX_JSON_BODY_BYTES,
    onError: (c) => c.json({ error: { code: 'LANBOOT_INVALID_INPUT', message: `request body: larger than ${MAX_JSON_BODY_BYTES} bytes` } }, 413),
  });

  app.get('/api/v1/images', (c) => c.json(listImages(ctx.images)));

  app.get('/api/v1/images/:name', (c) => {
    const name = validateName(c.req.param('name'), 'image', 'image');
    const view = listImages(ctx.images).find((i) => i.name === name);
    if (!view) throw new LanbootError('LANBOOT_IMAGE_NOT_FOUND', `image '${name}' does not exist`);
    return c.json(view);
  });

  // A new version from a raw disk image in the request body (application/octet-stream),
  // streamed to disk: never held in memory.
  app.post('/api/v1/images/:name/versions', async (c) => {
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
    if (!body) throw new LanbootError('LANBOOT_IMAGE_INVALID', `image ${name}: the request has no body (send the raw disk image)`);
    const started = Date.now();
    log.info({ image: name, expectedBytes }, 'image import started');
    const version = await ctx.imageStore.importVersion(name, body, { expectedBytes });
    const seconds = (Date.now() - started) / 1000;
    log.info({ image: name, version: version.number, sizeBytes: version.sizeBytes, sha256: version.sha256, seconds }, 'image version published');
    return c.json({ name, ...versionView(version) }, 201);
  });

  app.get('/api/v1/clients', (c) => c.json(ctx.seats.list()));

  app.post('/api/v1/clients', jsonLimit, async (c) => {
    const body = await readJsonObject(c);
    const known = new Set(['name', 'image', 'mac', 'mode', 'initiators', 'chap', 'mutualChap']);
    for (const key of Object.keys(body)) {
      if (!known.has(key)) throw new LanbootError('LANBOOT_INVALID_INPUT', `request body: unknown field '${key.slice(0, 40)}'`);
    }
    return c.json(ctx.seats.add({ ...body, name: body.name, image: body.image }), 201);
  });

  app.get('/api/v1/clients/:name', (c) => c.json(ctx.seats.show(c.req.param('name'))));

  app.delete('/api/v1/clients/:name', async (c) => {
    const name = c.req.param('name');
    await ctx.seats.remove(name);
    return c.json({ removed: name });
  });

  app.post('/api/v1/clients/:name/reset', (c) => c.json(ctx.seats.reset(c.req.param('name'))));

  return app;
}
