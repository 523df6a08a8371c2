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
import type { ImageRepository } from '../db/images.js';
import { mountClientRoutes } from './api/clients.js';
import { mountImageRoutes } from './api/images.js';
import type { MiddlewareHandler } from 'hono';
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

/** What the route modules in ./api get besides the context. */
export interface RouteTools {
  /** Body-size limit for JSON requests. */
  jsonLimit: MiddlewareHandler;
  log: Logger;
}

/** JSON request bodies here are a handful of fields. */
const MAX_JSON_BODY_BYTES = 64 * 1024;

export function errorResponse(c: Context, error: unknown, logger: Logger): Response {
  if (error instanceof LanbootError) {
    const status = httpStatusFor(error.code);
    if (status >= 500) logger.error({ path: c.req.path, ...errorFields(error) }, 'request failed');
    return c.json({ error: { code: error.code, message: error.message } }, status as 400);
  }
  logger.error({ path: c.req.path, ...errorFields(error) }, 'request failed');
  return c.json({ error: { code: 'LANBOOT_INTERNAL', message: 'internal error (see the supervisor log)' } }, 500);
}

export async function readJsonObject(c: Context): Promise<Record<string, unknown>> {
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

  mountImageRoutes(app, ctx, { jsonLimit, log });
  mountClientRoutes(app, ctx, { jsonLimit, log });

  return app;
}
