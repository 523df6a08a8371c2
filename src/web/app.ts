// The hono apps. ONE /api/v1 router (`api`), served twice:
//  - on the local API socket DATA/lanboot.sock (0600, the CLI's trusted channel) without auth:
//    the socket's file mode is the trust;
//  - on the LAN-facing HTTP port behind session auth + CSRF (src/web/auth), next to the web UI
//    pages (src/web/ui), /healthz and the open iPXE boot endpoints services mount there.
// Each group of API routes is a sub-app (./api) mounted with route(); errors thrown anywhere
// in them become the API's error JSON in the router's one onError (./json.ts).
// Services add API routes to `api` in mount() (MountContext.api); since the two front apps
// forward /api/v1/* to it per request, routes added after the apps are built appear on both.
import { Hono, type Context } from 'hono';
import { adminRoutes } from './api/admin.js';
import { groupRoutes } from './api/groups.js';
import { imageRoutes } from './api/images.js';
import { importRoutes } from './api/imports.js';
import { seatRoutes } from './api/seats.js';
import { usbRoutes } from './api/usb.js';
import { isLanHost, WebAuth } from './auth/web-auth.js';
import type { ApiOrigin, AppContext } from './context.js';
import { errorResponse, jsonNotFound } from './json.js';
import { mountUi } from './ui/index.js';

/** The /api/v1 router shared by both front apps. */
export function createApiApp(ctx: AppContext): Hono {
  const app = new Hono();
  const log = ctx.logger.child({ component: 'web' });
  app.onError((error, c) => errorResponse(c, error, log));
  app.notFound(jsonNotFound);
  app.get('/api/v1/status', (c) => c.json(ctx.status()));
  app.route('/api/v1/images', imageRoutes(ctx, log));
  app.route('/api/v1/imports', importRoutes(ctx));
  app.route('/api/v1/usb', usbRoutes(ctx));
  // A PC's disk is a seat; /clients is the older name, kept for scripts (docs/api.md).
  const seats = seatRoutes(ctx);
  app.route('/api/v1/seats', seats);
  app.route('/api/v1/clients', seats);
  app.route('/api/v1/groups', groupRoutes(ctx));
  app.route('/api/v1/admin', adminRoutes(ctx));
  app.get('/api/v1/space', (c) => c.json(ctx.seats.spaceReport()));
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
