// The web UI pages (issue 5): server-rendered hono/jsx with plain HTML forms, readable without
// JavaScript (only the upload progress bar needs it). Every page reads and changes state
// through the same /api/v1 router the CLI uses (in process, `api.request`), so the UI can do
// exactly what the API allows, with the API's validation and error messages, and routes
// other parts add to the API (images, imports, seats) show up here as soon as they exist.
import os from 'node:os';
import type { Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { raw } from 'hono/html';
import type { Logger } from 'pino';
import { LanbootError } from '../../log/errors.js';
import type { AppContext } from '../app.js';
import type { IsoListEntry } from '../api/isos.js';
import { checkNewPassword, hashPassword, verifyPassword } from '../auth/password.js';
import { clientAddressOf, CSRF_FIELD, type AuthVariables, type WebAuth } from '../auth/web-auth.js';
import type { Session } from '../auth/sessions.js';
import { CSS_PATH, JS_PATH, UI_CSS, UI_JS } from './assets.js';
import { archName, formatBytes, Layout, timeAgo, type Notice } from './layout.js';
import { qrSvg, uiUrls } from './qr.js';

type Env = { Variables: AuthVariables };
type Ctx = Context<Env>;

export interface UiDeps {
  ctx: AppContext;
  api: Hono;
  auth: WebAuth;
  log: Logger;
}

/** Forms are a few short fields; anything bigger is refused before it is parsed. */
const MAX_FORM_BYTES = 16 * 1024;
/** The longest value any form field may carry (names are far shorter; see names.ts). */
const MAX_FIELD_CHARS = 512;

// Referrer-Policy same-origin, not no-referrer: with no-referrer Chromium sends `Origin: null`
// on form POSTs, which the CSRF Origin check (rightly) refuses.
const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
};

interface ApiResult<T = unknown> {
  ok: boolean;
  status: number;
  data: T;
  message: string;
}

interface SeatSummary {
  name: string;
  image: string;
  version: number;
  mode: string;
  mac: string | null;
  sessions: number;
  [key: string]: unknown;
}

interface SeatSession {
  initiatorIqn: string;
  remoteAddress: string;
  connectedAt: string;
  bytesRead: number;
  bytesWritten: number;
}

/** GET /api/v1/clients/:name (src/iscsi/seat-manager.ts SeatDetails; the fields shown). */
interface SeatDetails {
  name: string;
  image: string;
  version: number;
  latestVersion?: number;
  mode: string;
  mac: string | null;
  deltaBytes?: number | null;
  quotaBytes?: number | null;
  targetIqn: string;
  createdAt: string;
  sessions: SeatSession[];
}

interface ImageView {
  name: string;
  latestVersion: number;
  currentVersion?: number | null;
  versions: { number: number; sizeBytes: number; sha256: string; createdAt: string; seats?: string[]; current?: boolean }[];
}

interface ImportJobView {
  id: number;
  image: string;
  source: string;
  state: 'running' | 'done' | 'failed';
  phase?: string | null;
  bytesDone: number;
  bytesTotal: number | null;
  rateBytesPerSecond?: number | null;
  secondsLeft?: number | null;
  error: { code: string; message: string } | null;
  version: number | null;
  startedAt: string;
}

interface UsbDeviceView {
  id: string;
  devname: string;
  label: string | null;
  fsType: string | null;
  error: string | null;
  busy: boolean;
  files: { path: string; sizeBytes: number; format: string }[];
}

interface WaitingPc {
  mac: string;
  code: string;
  arch: number | null;
  vendorClass: string | null;
  firstSeen: string;
  lastSeen: string;
}

interface BootEvent {
  step: string;
  detail: string;
  firstAt: string;
  lastAt: string;
  count: number;
}

interface DetectedServer {
  serverId?: string;
  from?: string;
  offersAddress?: boolean;
  offeredAddress?: string;
  pxe?: boolean;
  bootFile?: string;
}

interface Warning {
  code?: string;
  message: string;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function errorMessage(data: unknown, status: number): string {
  const message = (data as { error?: { message?: unknown } } | undefined)?.error?.message;
  return typeof message === 'string' ? message : `HTTP ${status}`;
}

/** Bytes/s per seat from the engine's session byte counters, between two page views. */
class ThroughputMeter {
  private readonly last = new Map<string, { at: number; bytes: number }>();

  sample(seat: string, bytes: number, now = Date.now()): number | undefined {
    const previous = this.last.get(seat);
    this.last.set(seat, { at: now, bytes });
    if (this.last.size > 2000) this.last.delete(this.last.keys().next().value!);
    if (!previous || now - previous.at < 200 || bytes < previous.bytes) return undefined;
    return ((bytes - previous.bytes) * 1000) / (now - previous.at);
  }
}

export function mountUi(app: Hono, deps: UiDeps): void {
  const { ctx, api, auth, log } = deps;
  const http = app as unknown as Hono<Env>;
  const meter = new ThroughputMeter();
  const formLimit = bodyLimit({
    maxSize: MAX_FORM_BYTES,
    onError: (c) => c.text(`form too large (at most ${MAX_FORM_BYTES} bytes)`, 413),
  });

  /** Calls the shared API router in process, as the logged-in admin. */
  async function call<T = unknown>(method: string, path: string, body?: unknown): Promise<ApiResult<T>> {
    const init: RequestInit = { method };
    if (body !== undefined) {
      // Content-Length as a browser sends it: routes with optional bodies look at it.
      const text = JSON.stringify(body);
      init.body = text;
      init.headers = { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) };
    }
    const response = await api.request(path, init, { lanbootOrigin: 'lan' });
    let data: unknown = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    return { ok: response.ok, status: response.status, data: data as T, message: response.ok ? '' : errorMessage(data, response.status) };
  }

  /** Whether the API has a route (other parts add theirs over time). */
  function hasApiRoute(method: string, path: string): boolean {
    return api.routes.some((r) => r.method === method && r.path === path);
  }

  function page(c: Ctx, body: ReturnType<typeof Layout>, status: 200 | 400 | 403 | 404 | 409 | 429 = 200): Response | Promise<Response> {
    return c.html(body, status, SECURITY_HEADERS);
  }

  function notices(session: Session): Notice[] {
    const flash = auth.takeFlash(session);
    return flash ? [flash] : [];
  }

  /** Reads a urlencoded form: string fields only, each bounded. */
  async function readForm(c: Ctx): Promise<Record<string, string>> {
    const type = c.req.header('content-type') ?? '';
    if (!type.startsWith('application/x-www-form-urlencoded') && !type.startsWith('multipart/form-data')) {
      throw new LanbootError('LANBOOT_INVALID_INPUT', 'expected a form submission');
    }
    const parsed = await c.req.parseBody();
    const form: Record<string, string> = {};
    for (const [key, value] of Object.entries(parsed)) {
      if (typeof value !== 'string') throw new LanbootError('LANBOOT_INVALID_INPUT', 'unexpected file in the form');
      if (value.length > MAX_FIELD_CHARS) throw new LanbootError('LANBOOT_INVALID_INPUT', `${key.slice(0, 40)}: at most ${MAX_FIELD_CHARS} characters`);
      form[key] = value;
    }
    return form;
  }

  /** A state-changing form of a logged-in admin: CSRF, run, flash the outcome, redirect. */
  function action(path: string, run: (c: Ctx, form: Record<string, string>) => Promise<{ ok: boolean; message: string; redirect: string }>) {
    http.post(path, formLimit, auth.pageGuard(), async (c) => {
      const session = c.get('session');
      let form: Record<string, string>;
      try {
        form = await readForm(c);
        auth.checkCsrf(c, session, form[CSRF_FIELD]);
      } catch (error) {
        if (error instanceof LanbootError) return c.text(`lanboot: ${error.message}\n`, error.code === 'LANBOOT_CSRF_REJECTED' ? 403 : 400, SECURITY_HEADERS);
        throw error;
      }
      const outcome = await run(c, form);
      auth.setFlash(session, outcome.ok ? 'ok' : 'error', outcome.message);
      return c.redirect(outcome.redirect, 303);
    });
  }

  // ---- static assets (public: they reveal nothing) ----
  http.get('/assets/:file', (c) => {
    const path = c.req.path;
    const cache = { 'cache-control': 'public, max-age=31536000, immutable', 'x-content-type-options': 'nosniff' };
    if (path === CSS_PATH) return c.body(UI_CSS, 200, { ...cache, 'content-type': 'text/css; charset=utf-8' });
    if (path === JS_PATH) return c.body(UI_JS, 200, { ...cache, 'content-type': 'text/javascript; charset=utf-8' });
    return c.text('not found', 404);
  });

  // ---- first run ----
  function setupPage(c: Ctx, error?: string, status: 200 | 400 | 403 = 200) {
    const token = auth.preSessionToken(c);
    return page(
      c,
      <Layout title="Set the admin password" bare notices={error ? [{ kind: 'error', text: error }] : []}>
        <div class="card">
          <p>This box has no admin password yet. Choose one: it protects the web UI on your LAN. At least 10 characters.</p>
          <form method="post" action="/setup">
            <input type="hidden" name="_csrf" value={token} />
            <label for="password">New password</label>
            <input id="password" name="password" type="password" autocomplete="new-password" minlength={10} maxlength={256} required />
            <label for="confirm">Repeat it</label>
            <input id="confirm" name="confirm" type="password" autocomplete="new-password" minlength={10} maxlength={256} required />
            <p>
              <button type="submit">Set password</button>
            </p>
          </form>
        </div>
      </Layout>,
      status,
    );
  }

  http.get('/setup', (c) => {
    if (auth.store.isSetUp()) return c.redirect('/login', 303);
    return setupPage(c);
  });

  http.post('/setup', formLimit, async (c) => {
    if (auth.store.isSetUp()) return c.redirect('/login', 303);
    let form: Record<string, string>;
    try {
      form = await readForm(c);
      auth.checkPreSessionCsrf(c, form[CSRF_FIELD]);
    } catch (error) {
      if (error instanceof LanbootError) return setupPage(c, error.message, error.code === 'LANBOOT_CSRF_REJECTED' ? 403 : 400);
      throw error;
    }
    let password: string;
    try {
      password = checkNewPassword(form.password, form.confirm);
    } catch (error) {
      return setupPage(c, (error as Error).message, 400);
    }
    if (!auth.store.setInitialPassword(await hashPassword(password))) return c.redirect('/login', 303);
    log.info({ client: clientAddressOf(c) }, 'admin password set (first run)');
    auth.startSession(c);
    return c.redirect('/', 303);
  });

  // ---- login / logout ----
  function loginPage(c: Ctx, error?: string, status: 200 | 400 | 403 | 429 = 200) {
    const token = auth.preSessionToken(c);
    return page(
      c,
      <Layout title="Log in" bare notices={error ? [{ kind: 'error', text: error }] : []}>
        <div class="card">
          <form method="post" action="/login">
            <input type="hidden" name="_csrf" value={token} />
            <label for="password">Admin password</label>
            <input id="password" name="password" type="password" autocomplete="current-password" maxlength={256} required autofocus />
            <p>
              <button type="submit">Log in</button>
            </p>
          </form>
        </div>
      </Layout>,
      status,
    );
  }

  http.get('/login', (c) => {
    if (!auth.store.isSetUp()) return c.redirect('/setup', 303);
    if (auth.session(c)) return c.redirect('/', 303);
    return loginPage(c);
  });

  http.post('/login', formLimit, async (c) => {
    if (!auth.store.isSetUp()) return c.redirect('/setup', 303);
    const client = clientAddressOf(c);
    const wait = auth.limiter.waitMs(client);
    if (wait > 0) return loginPage(c, `Too many wrong passwords: wait ${Math.ceil(wait / 1000)} s and try again.`, 429);
    let form: Record<string, string>;
    try {
      form = await readForm(c);
      auth.checkPreSessionCsrf(c, form[CSRF_FIELD]);
    } catch (error) {
      if (error instanceof LanbootError) return loginPage(c, error.message, error.code === 'LANBOOT_CSRF_REJECTED' ? 403 : 400);
      throw error;
    }
    const hash = auth.store.passwordHash();
    const password = form.password ?? '';
    if (hash === undefined || !(await verifyPassword(password, hash))) {
      const delay = auth.limiter.recordFailure(client);
      log.warn({ client, delayMs: delay }, 'web login: wrong password');
      return loginPage(c, delay > 0 ? `Wrong password. Too many tries: wait ${Math.ceil(delay / 1000)} s before the next one.` : 'Wrong password.', delay > 0 ? 429 : 403);
    }
    auth.limiter.recordSuccess(client);
    auth.startSession(c);
    log.info({ client }, 'web login');
    return c.redirect('/', 303);
  });

  http.post('/logout', formLimit, auth.pageGuard(), async (c) => {
    const form = await readForm(c).catch(() => ({}) as Record<string, string>);
    auth.checkCsrf(c, c.get('session'), form[CSRF_FIELD]);
    auth.endSession(c);
    return c.redirect('/login', 303);
  });

  // ---- helpers for pages ----
  function statusWarnings(status: Record<string, unknown>): Warning[] {
    const warnings: Warning[] = [];
    const listed = status.warnings;
    if (Array.isArray(listed)) for (const w of listed) if (w && typeof (w as Warning).message === 'string') warnings.push(w as Warning);
    const dhcp = (status.services as Record<string, unknown> | undefined)?.dhcp as { mode?: string; detection?: { servers?: DetectedServer[] } | null } | undefined;
    for (const server of dhcp?.detection?.servers ?? []) {
      const who = String(server.serverId ?? server.from ?? '?');
      // Two answers with boot information: the PC takes whichever comes first (troubleshooting.md).
      if (server.pxe) warnings.push({ code: 'DHCP_OTHER_PXE', message: `Another DHCP server (${who}) hands out network-boot information${server.bootFile ? ` (${server.bootFile})` : ''}: PCs may boot the wrong thing. Turn its PXE option off.` });
      else if (server.offersAddress && dhcp?.mode === 'full') warnings.push({ code: 'DHCP_OTHER_SERVER', message: `Another DHCP server (${who}) hands out addresses next to lanboot's full DHCP.` });
    }
    return warnings;
  }

  function urlsFor(status: Record<string, unknown>): string[] {
    const port = (status.http as { port?: number } | undefined)?.port ?? 80;
    const portal = typeof status.portal === 'string' ? status.portal : '';
    const address = portal.includes(':') ? portal.slice(0, portal.lastIndexOf(':')) : portal;
    // The mDNS name only when the box answers to it (src/discovery; null while off).
    const mdns = (status.services as Record<string, { hostname?: unknown } | undefined> | undefined)?.mdns;
    const name = typeof mdns?.hostname === 'string' ? mdns.hostname : undefined;
    return uiUrls(name, address, port);
  }

  /** One QR code per URL in `coded`, then every URL as text. */
  function Qr(props: { urls: string[]; coded: string[] }) {
    if (props.urls.length === 0) return null;
    return (
      <div class="qr">
        {props.coded.map((u) => (
          <figure>
            {raw(qrSvg(u))}
            <figcaption class="mono">{u}</figcaption>
          </figure>
        ))}
        {props.urls
          .filter((u) => !props.coded.includes(u))
          .map((u) => (
            <div class="mono">{u}</div>
          ))}
      </div>
    );
  }

  // ---- home: waiting PCs first ----
  http.get('/', auth.pageGuard(), async (c) => {
    const session = c.get('session');
    // Counts come from status: listing every seat here would cost a stat per seat.
    const [status, waiting, images] = await Promise.all([
      call<Record<string, unknown>>('GET', '/api/v1/status'),
      call<WaitingPc[]>('GET', '/api/v1/waiting'),
      call<ImageView[]>('GET', '/api/v1/images'),
    ]);
    const pcs = waiting.ok && Array.isArray(waiting.data) ? waiting.data : [];
    const imageList = images.ok && Array.isArray(images.data) ? images.data : [];
    const seatCount = status.ok && typeof status.data.seats === 'number' ? status.data.seats : 0;
    const sessionCount = status.ok && typeof status.data.sessions === 'number' ? status.data.sessions : 0;
    const warnings = status.ok ? statusWarnings(status.data) : [];
    const all: Notice[] = [...notices(session), ...warnings.map((w) => ({ kind: 'warn' as const, text: w.message }))];
    if (!waiting.ok) all.push({ kind: 'error', text: `waiting PCs: ${waiting.message}` });
    const now = Date.now();
    return page(
      c,
      <Layout title="Home" nav="home" csrf={session.csrfToken} notices={all} script>
        <section id="waiting" data-codes={pcs.map((pc) => pc.code).sort().join(',')}>
        <h2>Waiting PCs ({pcs.length})</h2>
        {pcs.length === 0 ? (
          <p class="muted">No PC is waiting. Network-boot a PC on this LAN: it shows a code here and on its screen.</p>
        ) : null}
        {imageList.length === 0 && pcs.length > 0 ? <div class="notice warn">Import a golden image first (Images), then enroll.</div> : null}
        {pcs.map((pc) => (
          <div class="card waiting" data-mac={pc.mac}>
            <div class="row">
              <span class="code">{pc.code}</span>
              <span class="badge">{archName(pc.arch)}</span>
            </div>
            <div class="mono">{pc.mac}</div>
            <div class="muted">
              {pc.vendorClass ?? 'no vendor class'} · first seen {timeAgo(pc.firstSeen, now)}
            </div>
            <form method="post" action="/enroll">
              <input type="hidden" name="_csrf" value={session.csrfToken} />
              <input type="hidden" name="code" value={pc.code} />
              <label for={`name-${pc.code}`}>Name</label>
              <input id={`name-${pc.code}`} name="name" type="text" required maxlength={63} pattern="[a-z0-9][a-z0-9-]*" placeholder="pc-1" autocapitalize="off" />
              <label for={`image-${pc.code}`}>Image</label>
              <select id={`image-${pc.code}`} name="image" required>
                {imageList.map((i) => (
                  <option value={i.name}>{`${i.name} (v${i.currentVersion ?? i.latestVersion})`}</option>
                ))}
              </select>
              <label for={`mode-${pc.code}`}>Mode</label>
              <select id={`mode-${pc.code}`} name="mode">
                <option value="fresh">fresh (clean at every boot)</option>
                <option value="persistent">persistent (keeps changes)</option>
                <option value="maintenance">maintenance (changes become the next version)</option>
                <option value="install">install (OS installer writes the disk)</option>
              </select>
              <p>
                <button type="submit">Enroll {pc.code}</button>
              </p>
            </form>
          </div>
        ))}
        </section>
        <h2>Summary</h2>
        <div class="card">
          <div>
            <a href="/seats">{plural(seatCount, 'seat')}</a>, {plural(sessionCount, 'iSCSI session')} · <a href="/images">{plural(imageList.length, 'image')}</a>
          </div>
          {status.ok ? (
            <div class="muted">
              DHCP {(status.data.dhcp as { mode?: string } | undefined)?.mode ?? '?'} · version {String(status.data.version ?? '')}
            </div>
          ) : null}
        </div>
        <h2>Open this page on a phone</h2>
        <div class="card">
          {status.ok
            ? (() => {
                const urls = urlsFor(status.data);
                // Live on this page: the address form works on every phone (Android before 12
                // resolves no .local names); the name is listed under it.
                return <Qr urls={urls} coded={urls.slice(-1)} />;
              })()
            : null}
        </div>
      </Layout>,
    );
  });

  action('/enroll', async (_c, form) => {
    const result = await call<{ name: string; image: string; version: number }>('POST', '/api/v1/enroll', {
      code: form.code ?? '',
      name: (form.name ?? '').trim(),
      image: form.image ?? '',
      mode: form.mode || undefined,
    });
    if (!result.ok) return { ok: false, message: `Enroll failed: ${result.message}`, redirect: '/' };
    return { ok: true, message: `Enrolled ${result.data.name} on ${result.data.image} v${result.data.version}: the PC boots on within seconds.`, redirect: `/seats/${encodeURIComponent(result.data.name)}` };
  });

  // ---- seats ----
  http.get('/seats', auth.pageGuard(), async (c) => {
    const session = c.get('session');
    const seats = await call<SeatSummary[]>('GET', '/api/v1/clients');
    const list = seats.ok && Array.isArray(seats.data) ? seats.data : [];
    const rates = new Map<string, number | undefined>();
    // One engine call for every online seat's byte counters.
    const bytesByTarget = ctx.sessionBytes?.() ?? new Map<string, number>();
    for (const s of list) {
      const bytes = typeof s.targetIqn === 'string' ? bytesByTarget.get(s.targetIqn) : undefined;
      if (s.sessions > 0 && bytes !== undefined) rates.set(s.name, meter.sample(s.name, bytes));
    }
    const all = notices(session);
    if (!seats.ok) all.push({ kind: 'error', text: seats.message });
    return page(
      c,
      <Layout title="Seats" nav="seats" csrf={session.csrfToken} notices={all}>
        {list.length === 0 ? <p class="muted">No seats yet: enroll a waiting PC from Home.</p> : null}
        <table>
          <thead>
            <tr>
              <th>Seat</th>
              <th>Image</th>
              <th>Mode</th>
              <th>State</th>
            </tr>
          </thead>
          <tbody>
            {list.map((s) => {
              const rate = rates.get(s.name);
              return (
                <tr>
                  <td>
                    <a href={`/seats/${encodeURIComponent(s.name)}`}>{s.name}</a>
                    <div class="muted mono">{s.mac ?? 'no MAC'}</div>
                  </td>
                  <td>
                    {s.image} v{s.version}
                  </td>
                  <td>
                    {s.mode}
                    {typeof s.deltaBytes === 'number' ? (
                      <div class="muted">
                        {formatBytes(s.deltaBytes)}
                        {typeof s.quotaBytes === 'number' && s.quotaBytes > 0 ? ` / ${formatBytes(s.quotaBytes)}` : ''}
                      </div>
                    ) : null}
                  </td>
                  <td>
                    <span class={`badge ${s.sessions > 0 ? 'on' : 'off'}`}>{s.sessions > 0 ? 'online' : 'offline'}</span>
                    {rate !== undefined ? <div class="muted">{formatBytes(rate)}/s</div> : null}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </Layout>,
    );
  });

  http.get('/seats/:name', auth.pageGuard(), async (c) => {
    const session = c.get('session');
    const name = c.req.param('name');
    const seat = await call<SeatDetails>('GET', `/api/v1/clients/${encodeURIComponent(name)}`);
    if (!seat.ok) {
      return page(
        c,
        <Layout title="Seat" nav="seats" csrf={session.csrfToken} notices={[...notices(session), { kind: 'error', text: seat.message }]}>
          <a href="/seats">Back to seats</a>
        </Layout>,
        seat.status === 404 ? 404 : 400,
      );
    }
    const s = seat.data;
    const base = `/seats/${encodeURIComponent(s.name)}`;
    const apiBase = '/api/v1/clients/:name';
    const [events, snapshots] = await Promise.all([
      s.mac ? call<BootEvent[]>('GET', `/api/v1/boot-events?mac=${encodeURIComponent(s.mac)}`) : Promise.resolve(undefined),
      hasApiRoute('GET', `${apiBase}/snapshots`)
        ? call<{ number: number; label?: string | null; createdAt?: string; version?: number | null; deltaBytes?: number }[]>('GET', `/api/v1/clients/${encodeURIComponent(s.name)}/snapshots`)
        : Promise.resolve(undefined),
    ]);
    const sessions = Array.isArray(s.sessions) ? s.sessions : [];
    const bytes = sessions.reduce((sum, x) => sum + (x.bytesRead ?? 0) + (x.bytesWritten ?? 0), 0);
    const rate = sessions.length > 0 ? meter.sample(s.name, bytes) : undefined;
    const Button = (props: { act: string; text: string; danger?: boolean; confirm?: string; children?: unknown }) => (
      <form class="inline" method="post" action={`${base}/${props.act}`}>
        <input type="hidden" name="_csrf" value={session.csrfToken} />
        {props.children as never}
        <button type="submit" class={props.danger ? 'danger' : 'secondary'}>
          {props.text}
        </button>
      </form>
    );
    return page(
      c,
      <Layout title={`Seat ${s.name}`} nav="seats" csrf={session.csrfToken} notices={notices(session)}>
        <div class="card">
          <div class="row">
            <span class={`badge ${sessions.length > 0 ? 'on' : 'off'}`}>{sessions.length > 0 ? 'online' : 'offline'}</span>
            <span>
              {s.image} v{s.version}
              {s.latestVersion !== undefined && s.latestVersion !== s.version ? ` (v${s.latestVersion} available)` : ''}
            </span>
            <span class="badge">{s.mode}</span>
          </div>
          <div class="mono">{s.mac ?? 'no MAC'}</div>
          <div class="muted">
            delta {formatBytes(s.deltaBytes ?? null)}
            {s.quotaBytes ? ` of ${formatBytes(s.quotaBytes)} quota` : ''}
            {rate !== undefined ? ` · ${formatBytes(rate)}/s` : ''}
          </div>
          {sessions.map((x) => (
            <div class="muted">
              iSCSI from {x.remoteAddress} since {timeAgo(x.connectedAt)}: read {formatBytes(x.bytesRead)}, written {formatBytes(x.bytesWritten)}
            </div>
          ))}
        </div>
        <h2>Actions</h2>
        <div class="actions">
          <Button act="reset" text="Reset to golden" />
          {hasApiRoute('POST', `${apiBase}/move`) ? <Button act="move" text="Move to current version" /> : null}
          {hasApiRoute('POST', `${apiBase}/snapshots`) ? (
            <Button act="snapshot" text="Snapshot">
              <input type="text" name="label" maxlength={64} placeholder="label (optional)" aria-label="snapshot label" />
            </Button>
          ) : null}
          {hasApiRoute('POST', `${apiBase}/commit`) && s.mode === 'maintenance' ? <Button act="commit" text={`Commit as a new version of ${s.image}`} /> : null}
          {hasApiRoute('POST', `${apiBase}/commit`) && s.mode === 'install' ? (
            <Button act="commit" text="Commit as image">
              <input type="text" name="image" required maxlength={63} pattern="[a-z0-9][a-z0-9-]*" placeholder="image name" aria-label="image name" autocapitalize="off" />
            </Button>
          ) : null}
          {hasApiRoute('POST', `${apiBase}/mode`) ? (
            <Button act="mode" text="Set mode">
              <select name="mode" aria-label="mode">
                {['fresh', 'persistent', 'maintenance', 'install'].map((m) => (
                  <option value={m} selected={m === s.mode}>
                    {m}
                  </option>
                ))}
              </select>
            </Button>
          ) : null}
          {hasApiRoute('POST', `${apiBase}/quota`) ? (
            <Button act="quota" text="Set quota">
              <input type="text" name="quota" maxlength={16} placeholder="e.g. 20G, or none" aria-label="quota" />
            </Button>
          ) : null}
          <Button act="remove" text="Remove seat" danger>
            <label class="muted">
              <input type="checkbox" name="confirm" value="yes" required /> remove {s.name} and its disk
            </label>
          </Button>
        </div>
        {snapshots?.ok && Array.isArray(snapshots.data) ? (
          <>
            <h2>Snapshots</h2>
            {snapshots.data.length === 0 ? <p class="muted">none</p> : null}
            <ul class="timeline">
              {snapshots.data.map((snap) => (
                <li>
                  <strong>#{String(snap.number)}</strong> {snap.label ?? ''}{' '}
                  <span class="muted">
                    {timeAgo(snap.createdAt)} · v{String(snap.version ?? '?')} · {formatBytes(snap.deltaBytes ?? null)}
                  </span>{' '}
                  <Button act="restore" text="Restore">
                    <input type="hidden" name="snapshot" value={String(snap.number)} />
                  </Button>
                </li>
              ))}
            </ul>
          </>
        ) : null}
        <h2>Last boot</h2>
        {events?.ok && Array.isArray(events.data) && events.data.length > 0 ? (
          <ul class="timeline boot">
            {events.data.map((e) => (
              <li>
                <strong>{e.step}</strong> <span class="muted">{timeAgo(e.lastAt)}{e.count > 1 ? ` ×${e.count}` : ''}</span>
                <div class="muted">{e.detail}</div>
              </li>
            ))}
          </ul>
        ) : (
          <p class="muted">No boot recorded yet.</p>
        )}
      </Layout>,
    );
  });

  const seatAction = (act: string, run: (name: string, form: Record<string, string>) => Promise<ApiResult>, done: (name: string) => string) =>
    action(`/seats/:name/${act}`, async (c, form) => {
      const name = c.req.param('name') ?? '';
      const result = await run(name, form);
      const back = `/seats/${encodeURIComponent(name)}`;
      if (!result.ok) return { ok: false, message: `${act} failed: ${result.message}`, redirect: result.status === 404 ? '/seats' : back };
      return { ok: true, message: done(name), redirect: act === 'remove' ? '/seats' : back };
    });
  const seatPath = (name: string) => `/api/v1/clients/${encodeURIComponent(name)}`;
  seatAction('reset', (n) => call('POST', `${seatPath(n)}/reset`), (n) => `Seat ${n} reset: its next boot starts from the golden image.`);
  seatAction('move', (n) => call('POST', `${seatPath(n)}/move`, {}), (n) => `Seat ${n} moved to the current version.`);
  seatAction('snapshot', (n, f) => call('POST', `${seatPath(n)}/snapshots`, f.label ? { label: f.label } : {}), (n) => `Snapshot of ${n} taken.`);
  seatAction('mode', (n, f) => call('POST', `${seatPath(n)}/mode`, { mode: f.mode ?? '' }), (n) => `Seat ${n}: mode changed.`);
  seatAction(
    'quota',
    (n, f) => {
      const text = (f.quota ?? '').trim();
      return call('POST', `${seatPath(n)}/quota`, { quota: text === '' || text === 'none' ? null : text });
    },
    (n) => `Seat ${n}: quota set.`,
  );
  seatAction('restore', (n, f) => call('POST', `${seatPath(n)}/snapshots/${encodeURIComponent(f.snapshot ?? '')}/restore`, {}), (n) => `Seat ${n} restored.`);
  seatAction('commit', (n, f) => call('POST', `${seatPath(n)}/commit`, f.image ? { image: f.image.trim() } : {}), (n) => `Seat ${n} committed as a new image version.`);
  seatAction(
    'remove',
    async (n, f) => (f.confirm === 'yes' ? call('DELETE', seatPath(n)) : { ok: false, status: 400, data: null, message: 'tick the box to confirm' }),
    (n) => `Seat ${n} removed.`,
  );

  // ---- images ----
  http.get('/images', auth.pageGuard(), async (c) => {
    const session = c.get('session');
    const [images, seats, imports, usb, isos] = await Promise.all([
      call<ImageView[]>('GET', '/api/v1/images'),
      call<SeatSummary[]>('GET', '/api/v1/clients'),
      hasApiRoute('GET', '/api/v1/imports') ? call<ImportJobView[]>('GET', '/api/v1/imports?limit=20') : Promise.resolve(undefined),
      hasApiRoute('GET', '/api/v1/usb') ? call<UsbDeviceView[]>('GET', '/api/v1/usb') : Promise.resolve(undefined),
      call<IsoListEntry[]>('GET', '/api/v1/isos'),
    ]);
    const isoList = isos.ok && Array.isArray(isos.data) ? isos.data : [];
    const jobs = imports?.ok && Array.isArray(imports.data) ? imports.data : [];
    const running = jobs.filter((j) => j.state === 'running');
    const sticks = usb?.ok && Array.isArray(usb.data) ? usb.data : [];
    const canDelete = hasApiRoute('DELETE', '/api/v1/images/:name/versions/:number');
    const list = images.ok && Array.isArray(images.data) ? images.data : [];
    const seatList = seats.ok && Array.isArray(seats.data) ? seats.data : [];
    const all = notices(session);
    if (!images.ok) all.push({ kind: 'error', text: images.message });
    const canRollback = hasApiRoute('POST', '/api/v1/images/:name/rollback');
    const canPrune = hasApiRoute('POST', '/api/v1/images/:name/prune');
    return page(
      c,
      <Layout title="Images" nav="images" csrf={session.csrfToken} notices={all} script>
        {running.length > 0 ? (
          <>
            <h2>Importing</h2>
            {running.map((job) => (
              <div class="card job" data-job={String(job.id)}>
                <div>
                  <strong>{job.image}</strong> <span class="muted">{job.phase ?? ''} · {job.source}</span>
                </div>
                <progress value={job.bytesDone} max={job.bytesTotal ?? job.bytesDone + 1}></progress>
                <noscript>
                  <a href="/images">Refresh</a>
                </noscript>
                <div class="muted">
                  {formatBytes(job.bytesDone)}
                  {job.bytesTotal ? ` of ${formatBytes(job.bytesTotal)}` : ''}
                  {job.rateBytesPerSecond ? ` · ${formatBytes(job.rateBytesPerSecond)}/s` : ''}
                  {job.secondsLeft !== null && job.secondsLeft !== undefined ? ` · ${Math.ceil(job.secondsLeft)} s left` : ''}
                </div>
              </div>
            ))}
          </>
        ) : null}
        {sticks.length > 0 ? (
          <>
            <h2>USB sticks</h2>
            {sticks.map((stick) => (
              <div class="card usb" data-usb={stick.id}>
                <div class="row">
                  <strong>{stick.label ?? stick.devname}</strong>
                  <span class="muted">{stick.fsType ?? ''}</span>
                  <form class="inline" method="post" action={`/images/usb/${encodeURIComponent(stick.id)}/release`}>
                    <input type="hidden" name="_csrf" value={session.csrfToken} />
                    <button class="secondary" type="submit" disabled={stick.busy}>
                      {stick.busy ? 'Importing…' : 'Safe to remove'}
                    </button>
                  </form>
                </div>
                {stick.error ? <div class="notice error">{stick.error}</div> : null}
                {stick.files.length === 0 && !stick.error ? <p class="muted">No disk images found on this stick.</p> : null}
                {stick.files.map((file) => (
                  <form method="post" action="/images/usb-import">
                    <input type="hidden" name="_csrf" value={session.csrfToken} />
                    <input type="hidden" name="device" value={stick.id} />
                    <input type="hidden" name="file" value={file.path} />
                    <div class="mono">
                      {file.path} <span class="muted">({file.format}, {formatBytes(file.sizeBytes)})</span>
                    </div>
                    <div class="row">
                      <input type="text" name="image" required maxlength={63} pattern="[a-z0-9][a-z0-9-]*" placeholder="image name" aria-label="image name" autocapitalize="off" />
                      <button type="submit">Import</button>
                    </div>
                  </form>
                ))}
              </div>
            ))}
          </>
        ) : null}
        <h2>Upload a new version</h2>
        <div class="card">
          <form id="upload" method="post" action="/images/upload">
            <label for="upload-image">Image name</label>
            <input id="upload-image" name="image" type="text" required maxlength={63} pattern="[a-z0-9][a-z0-9-]*" placeholder="windows11" autocapitalize="off" />
            <label for="upload-file">Disk image file</label>
            <input id="upload-file" name="file" type="file" required />
            <p>
              <button type="submit">Upload</button>
            </p>
            <progress id="upload-progress" value="0" max="1" hidden></progress>
            <div id="upload-text" hidden aria-live="polite"></div>
            <noscript>
              <p class="muted">Uploading from the browser needs JavaScript; without it, import from a USB stick or with `lanboot image import` on the box.</p>
            </noscript>
          </form>
        </div>
        <h2>Golden images</h2>
        {list.length === 0 ? <p class="muted">No image yet.</p> : null}
        {list.map((image) => {
          const current = image.currentVersion ?? image.latestVersion;
          return (
            <div class="card image" data-image={image.name}>
              <div class="row">
                <strong>{image.name}</strong>
                <span class="badge">current v{current}</span>
                {canPrune ? (
                  <form class="inline" method="post" action={`/images/${encodeURIComponent(image.name)}/prune`}>
                    <input type="hidden" name="_csrf" value={session.csrfToken} />
                    <button class="secondary" type="submit">
                      Prune unused
                    </button>
                  </form>
                ) : null}
              </div>
              <table>
                <tbody>
                  {[...image.versions]
                    .sort((a, b) => b.number - a.number)
                    .map((v) => {
                      const users = v.seats ?? seatList.filter((s) => s.image === image.name && s.version === v.number).map((s) => s.name);
                      return (
                        <tr>
                          <td>v{v.number}</td>
                          <td>{formatBytes(v.sizeBytes)}</td>
                          <td class="muted">{users.length > 0 ? users.join(', ') : 'no seats'}</td>
                          <td>
                            {canDelete && v.number !== current && users.length === 0 ? (
                              <form class="inline" method="post" action={`/images/${encodeURIComponent(image.name)}/delete`}>
                                <input type="hidden" name="_csrf" value={session.csrfToken} />
                                <input type="hidden" name="version" value={String(v.number)} />
                                <button class="secondary" type="submit">
                                  Delete
                                </button>
                              </form>
                            ) : null}
                            {canRollback && v.number !== current ? (
                              <form class="inline" method="post" action={`/images/${encodeURIComponent(image.name)}/rollback`}>
                                <input type="hidden" name="_csrf" value={session.csrfToken} />
                                <input type="hidden" name="version" value={String(v.number)} />
                                <button class="secondary" type="submit">
                                  Make current
                                </button>
                              </form>
                            ) : null}
                          </td>
                        </tr>
                      );
                    })}
                </tbody>
              </table>
            </div>
          );
        })}
        {isoList.length > 0 ? (
          <>
            <h2>ISO files</h2>
            <p class="muted">Served to PCs over HTTP (iPXE: sanboot URL), no login needed.</p>
            <table>
              <tbody>
                {isoList.map((iso) => (
                  <tr data-iso={`${iso.image}/${iso.fileName}`}>
                    <td>
                      {iso.image}/{iso.fileName}
                    </td>
                    <td>{formatBytes(iso.sizeBytes)}</td>
                    <td>
                      <code>{iso.url}</code>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        ) : null}
        {jobs.length > 0 ? (
          <>
            <h2>Import history</h2>
            <ul class="timeline">
              {jobs.map((job) => (
                <li>
                  <strong>{job.image}</strong> <span class={`badge ${job.state === 'done' ? 'on' : 'off'}`}>{job.state}</span>{' '}
                  <span class="muted">
                    {job.version !== null && job.version !== undefined ? `v${job.version} · ` : ''}
                    {job.source} · {timeAgo(job.startedAt)}
                  </span>
                  {job.error ? <div class="muted">{job.error.message}</div> : null}
                </li>
              ))}
            </ul>
          </>
        ) : null}
      </Layout>,
    );
  });

  action('/images/:name/rollback', async (c, form) => {
    const name = c.req.param('name') ?? '';
    const version = Number(form.version);
    if (!Number.isSafeInteger(version) || version < 1) return { ok: false, message: 'version: expected a positive whole number', redirect: '/images' };
    const result = await call('POST', `/api/v1/images/${encodeURIComponent(name)}/rollback`, { version });
    return { ok: result.ok, message: result.ok ? `${name}: version ${version} is now current.` : `Rollback failed: ${result.message}`, redirect: '/images' };
  });

  action('/images/:name/delete', async (c, form) => {
    const name = c.req.param('name') ?? '';
    const version = Number(form.version);
    if (!Number.isSafeInteger(version) || version < 1) return { ok: false, message: 'version: expected a positive whole number', redirect: '/images' };
    const result = await call('DELETE', `/api/v1/images/${encodeURIComponent(name)}/versions/${version}`);
    return { ok: result.ok, message: result.ok ? `${name}: version ${version} deleted.` : `Delete failed: ${result.message}`, redirect: '/images' };
  });

  action('/images/usb-import', async (_c, form) => {
    const result = await call<ImportJobView>('POST', '/api/v1/imports', { image: (form.image ?? '').trim(), usb: { device: form.device ?? '', file: form.file ?? '' } });
    return { ok: result.ok, message: result.ok ? `Import of ${result.data.image} started.` : `Import failed: ${result.message}`, redirect: '/images' };
  });

  action('/images/usb/:id/release', async (c) => {
    const id = c.req.param('id') ?? '';
    const result = await call('POST', `/api/v1/usb/${encodeURIComponent(id)}/release`, {});
    return { ok: result.ok, message: result.ok ? 'The USB stick can be removed now.' : `Release failed: ${result.message}`, redirect: '/images' };
  });

  action('/images/:name/prune', async (c) => {
    const name = c.req.param('name') ?? '';
    const result = await call('POST', `/api/v1/images/${encodeURIComponent(name)}/prune`, {});
    return { ok: result.ok, message: result.ok ? `${name}: unused versions removed.` : `Prune failed: ${result.message}`, redirect: '/images' };
  });

  // ---- network ----
  http.get('/network', auth.pageGuard(), async (c) => {
    const session = c.get('session');
    const status = await call<Record<string, unknown>>('GET', '/api/v1/status');
    const dhcp = hasApiRoute('GET', '/api/v1/dhcp') ? await call<Record<string, unknown>>('GET', '/api/v1/dhcp') : undefined;
    const s = status.ok ? status.data : {};
    const dhcpStatus = (dhcp?.ok ? dhcp.data : (s.dhcp as Record<string, unknown> | undefined)) ?? {};
    const detection = dhcpStatus.detection as { at?: string; servers?: DetectedServer[] } | null | undefined;
    const interfaces = Object.entries(os.networkInterfaces()).flatMap(([name, addrs]) =>
      (addrs ?? []).filter((a) => a.family === 'IPv4').map((a) => ({ name, address: a.address, cidr: a.cidr ?? a.address, internal: a.internal })),
    );
    const all: Notice[] = [...notices(session), ...statusWarnings(s).map((w) => ({ kind: 'warn' as const, text: w.message }))];
    return page(
      c,
      <Layout title="Network" nav="network" csrf={session.csrfToken} notices={all}>
        <h2>DHCP</h2>
        <div class="card">
          <div>
            mode <strong>{String(dhcpStatus.mode ?? (s.dhcp as { mode?: string } | undefined)?.mode ?? 'off')}</strong> on{' '}
            <span class="mono">{String(dhcpStatus.interface ?? 'no interface')}</span> ·{' '}
            {dhcpStatus.running ? <span class="badge on">running</span> : <span class="badge off">not running</span>}
          </div>
          <h2>Other DHCP servers seen</h2>
          {detection && Array.isArray(detection.servers) && detection.servers.length > 0 ? (
            <ul>
              {detection.servers.map((srv) => (
                <li>
                  <span class="mono">{String(srv.serverId ?? srv.from ?? '?')}</span>{' '}
                  <span class="muted">
                    {srv.offersAddress ? `offers addresses${srv.offeredAddress ? ` (${srv.offeredAddress})` : ''}` : 'proxy only'}
                    {srv.pxe ? ` · hands out boot information${srv.bootFile ? ` (${srv.bootFile})` : ''}: PCs may boot the wrong thing` : ''}
                  </span>
                </li>
              ))}
            </ul>
          ) : (
            <p class="muted">{detection ? `none (checked ${timeAgo(detection.at)})` : 'not checked yet'}</p>
          )}
          {hasApiRoute('POST', '/api/v1/dhcp/detect') ? (
            <form method="post" action="/network/detect">
              <input type="hidden" name="_csrf" value={session.csrfToken} />
              <button class="secondary" type="submit">
                Look for DHCP servers now
              </button>
            </form>
          ) : null}
        </div>
        <h2>Interfaces</h2>
        <table>
          <tbody>
            {interfaces.map((i) => (
              <tr>
                <td>{i.name}</td>
                <td class="mono">{i.cidr}</td>
                <td class="muted">{i.internal ? 'loopback' : ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <h2>Listening</h2>
        <div class="card mono">
          HTTP {String((s.http as { host?: string; port?: number } | undefined)?.host ?? '')}:{String((s.http as { port?: number } | undefined)?.port ?? '')} · iSCSI portal {String(s.portal ?? '')}
        </div>
      </Layout>,
    );
  });

  action('/network/detect', async () => {
    const result = await call<{ servers?: unknown[] }>('POST', '/api/v1/dhcp/detect', {});
    const count = Array.isArray(result.data?.servers) ? result.data.servers.length : 0;
    return { ok: result.ok, message: result.ok ? `DHCP check done: ${count} other server(s) answered.` : `DHCP check failed: ${result.message}`, redirect: '/network' };
  });

  // ---- QR label ----
  http.get('/label', auth.pageGuard(), async (c) => {
    const session = c.get('session');
    const status = await call<Record<string, unknown>>('GET', '/api/v1/status');
    return page(
      c,
      <Layout title="Scan to manage this box" nav="label" csrf={session.csrfToken} notices={notices(session)}>
        <div class="card label">{status.ok ? <Qr urls={urlsFor(status.data)} coded={urlsFor(status.data)} /> : null}</div>
        <p class="muted">
          Print this page and stick it on the box. A .local name stays valid when the box gets another address from the router; the address also works on phones that
          resolve no .local names.
        </p>
      </Layout>,
    );
  });
}
