// The hono apps. ONE /api/v1 router (`api`), served twice:
//  - on the local API socket DATA/lanboot.sock (0600, the CLI's trusted channel) without auth:
//    the socket's file mode is the trust;
//  - on the LAN-facing HTTP port behind session auth + CSRF (src/web/auth), next to the web UI
//    pages (src/web/ui), /healthz and the open iPXE boot endpoints services mount there.
// Services add API routes to `api` in mount() (MountContext.api); since the two front apps
// forward /api/v1/* to it per request, routes added after the apps are built appear on both.
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Logger } from 'pino';
import { httpStatusFor, LanbootError } from '../log/errors.js';
import { errorFields } from '../log/logger.js';
import type { ImageRepository } from '../db/images.js';
import { mountClientRoutes } from './api/clients.js';
import { mountImageRoutes } from './api/images.js';
import { mountImportRoutes } from './api/imports.js';
import { mountUsbRoutes } from './api/usb.js';
import type { ImportManager } from '../storage/import-manager.js';
import type { UsbWatcher } from '../storage/usb.js';
import type { MiddlewareHandler } from 'hono';
import type { ImageStore } from '../storage/image-store.js';
import type { SeatManager } from '../iscsi/seat-manager.js';
import type { Db } from '../db/database.js';
import { isLanHost, WebAuth } from './auth/web-auth.js';
import { mountUi } from './ui/routes.js';

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
  /** Things the user should act on: a seat near/at its quota, the data disk low, an
   *  interrupted or failed commit (src/iscsi/seat-manager.ts SpaceWarning). */
  warnings?: { code: string; message: string; seat?: string }[];
}

export interface AppContext {
  logger: Logger;
  status(): StatusView;
  images: ImageRepository;
  imageStore: ImageStore;
  /** Image import jobs (src/storage/import-manager.ts). */
  imports: ImportManager;
  /** USB sticks announced by udev (src/storage/usb.ts). */
  usb: UsbWatcher;
  seats: SeatManager;
  /** For the web UI's admin password and sessions (migration 0500). */
  db: Db;
  /** Bytes read + written per target IQN over its live iSCSI sessions (one engine call), for
   *  the seats page's throughput. */
  sessionBytes?: () => Map<string, number>;
}

/** Which front app forwarded a request to the API router. */
export type ApiOrigin = 'local' | 'lan';

/** 'local' = the trusted Unix socket (the CLI), 'lan' = an authenticated LAN session. Route
 *  modules use this for what only the box's own user may do (e.g. import from a path on the
 *  box). */
export function apiOriginOf(c: Context): ApiOrigin {
  return (c.env as { lanbootOrigin?: ApiOrigin } | undefined)?.lanbootOrigin ?? 'local';
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

function jsonNotFound(c: Context): Response {
  return c.json({ error: { code: 'LANBOOT_NOT_FOUND', message: `no route for ${c.req.method} ${c.req.path.slice(0, 200)}` } }, 404);
}

/** The /api/v1 router shared by both front apps. */
export function createApiApp(ctx: AppContext): Hono {
  const app = new Hono();
  const log = ctx.logger.child({ component: 'web' });
  app.onError((error, c) => errorResponse(c, error, log));
  app.notFound(jsonNotFound);
  const jsonLimit = bodyLimit({
    maxSize: MAX_JSON_BODY_BYTES,
    onError: (c) => c.json({ error: { code: 'LANBOOT_INVALID_INPUT', message: `request body: larger than ${MAX_JSON_BODY_BYTES} bytes` } }, 413),
  });
  app.get('/api/v1/status', (c) => c.json(ctx.status()));
  mountImageRoutes(app, ctx, { jsonLimit, log });
  mountImportRoutes(app, ctx, { jsonLimit, log });
  mountUsbRoutes(app, ctx, { jsonLimit, log });
  mountClientRoutes(app, ctx, { jsonLimit, log });
  return app;
}

/** Forwards a request to the API router, telling it where the request came from. */
function forwardTo(api: Hono, origin: ApiOrigin) {
  return (c: Context) => api.fetch(c.req.raw, { ...(c.env as object), lanbootOrigin: origin });
}

export interface WebApps {
  /** LAN HTTP port: UI, /healthz, boot endpoints (mounted by services), /api/v1 with auth. */
  http: Hono;
  /** DATA/lanboot.sock: /healthz and /api/v1 without auth. */
  local: Hono;
  /** The shared /api/v1 router. */
  api: Hono;
  auth: WebAuth;
}

export function createApps(ctx: AppContext): WebApps {
  const log = ctx.logger.child({ component: 'web' });
  const api = createApiApp(ctx);
  const auth = new WebAuth(ctx.db);

  const local = new Hono();
  local.onError((error, c) => errorResponse(c, error, log));
  local.notFound(jsonNotFound);
  local.get('/healthz', (c) => c.json({ ok: true }));
  local.all('/api/v1/*', forwardTo(api, 'local'));

  const http = new Hono();
  http.onError((error, c) => errorResponse(c, error, log));
  http.notFound(jsonNotFound);
  http.get('/healthz', (c) => c.json({ ok: true }));
  // DNS rebinding guard for the UI and the API (web-auth.ts isLanHost); the open iPXE boot
  // endpoints that services mount stay reachable under any name.
  http.use('*', async (c, next) => {
    const p = c.req.path;
    if (p === '/boot.ipxe' || p.startsWith('/ipxe/') || isLanHost(c.req.header('host'))) return next();
    return c.json({ error: { code: 'LANBOOT_HOST_REFUSED', message: 'this box answers only to its LAN address or a .local name (DNS rebinding protection)' } }, 421);
  });
  http.all('/api/v1/*', auth.apiGuard(), forwardTo(api, 'lan'));
  mountUi(http, { ctx, api, auth, log });
  return { http, local, api, auth };
}
