// What every page and form handler of the web UI shares: the request types, the security
// headers, the in-process call to the /api/v1 router, form reading and the
// CSRF-check-run-flash-redirect frame of a form POST.
import type { Context, Hono, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Logger } from 'pino';
import { LanbootError } from '../../log/errors.js';
import { CSRF_FIELD, type AuthVariables, type WebAuth } from '../auth/web-auth.js';
import type { Session } from '../auth/sessions.js';
import type { AppContext } from '../context.js';
import type { Layout, Notice } from './layout.js';

export type Env = { Variables: AuthVariables };
export type Ctx = Context<Env>;

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
export const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
};

export interface ApiResult<T = unknown> {
  ok: boolean;
  status: number;
  data: T;
  message: string;
}

/** What a form handler decided: the flash notice and where the browser goes next. */
export interface ActionOutcome {
  ok: boolean;
  message: string;
  redirect: string;
}

export type PageStatus = 200 | 400 | 403 | 404 | 409 | 429;

function errorMessage(data: unknown, status: number): string {
  const message = (data as { error?: { message?: unknown } } | undefined)?.error?.message;
  return typeof message === 'string' ? message : `HTTP ${status}`;
}

/** Bytes/s per seat from the engine's session byte counters, between two page views. */
export class ThroughputMeter {
  private readonly last = new Map<string, { at: number; bytes: number }>();

  sample(seat: string, bytes: number, now = Date.now()): number | undefined {
    const previous = this.last.get(seat);
    this.last.set(seat, { at: now, bytes });
    if (this.last.size > 2000) this.last.delete(this.last.keys().next().value!);
    if (!previous || now - previous.at < 200 || bytes < previous.bytes) return undefined;
    return ((bytes - previous.bytes) * 1000) / (now - previous.at);
  }
}

/** The UI's tools, built once per app and handed to every page and form handler. */
export class Ui {
  readonly ctx: AppContext;
  readonly api: Hono;
  readonly auth: WebAuth;
  readonly log: Logger;
  readonly meter = new ThroughputMeter();
  readonly formLimit: MiddlewareHandler = bodyLimit({
    maxSize: MAX_FORM_BYTES,
    onError: (c) => c.text(`form too large (at most ${MAX_FORM_BYTES} bytes)`, 413),
  });

  constructor(deps: UiDeps) {
    this.ctx = deps.ctx;
    this.api = deps.api;
    this.auth = deps.auth;
    this.log = deps.log;
  }

  /** Calls the shared API router in process, as the logged-in admin. */
  async call<T = unknown>(method: string, path: string, body?: unknown): Promise<ApiResult<T>> {
    const init: RequestInit = { method };
    if (body !== undefined) {
      // Content-Length as a browser sends it: routes with optional bodies look at it.
      const text = JSON.stringify(body);
      init.body = text;
      init.headers = { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) };
    }
    const response = await this.api.request(path, init, { lanbootOrigin: 'lan' });
    let data: unknown = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    return { ok: response.ok, status: response.status, data: data as T, message: response.ok ? '' : errorMessage(data, response.status) };
  }

  /** Whether the API has a route: the DHCP service, which adds /api/v1/dhcp, is built only
   *  for some configurations. */
  hasApiRoute(method: string, path: string): boolean {
    return this.api.routes.some((r) => r.method === method && r.path === path);
  }

  page(c: Ctx, body: ReturnType<typeof Layout>, status: PageStatus = 200): Response | Promise<Response> {
    return c.html(body, status, SECURITY_HEADERS);
  }

  notices(session: Session): Notice[] {
    const flash = this.auth.takeFlash(session);
    return flash ? [flash] : [];
  }

  /** Reads a urlencoded form: string fields only, each bounded. */
  async readForm(c: Ctx): Promise<Record<string, string>> {
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

  /** A state-changing form of a logged-in admin on `app`: CSRF, run, flash the outcome,
   *  redirect. */
  action(app: Hono<Env>, path: string, run: (c: Ctx, form: Record<string, string>) => Promise<ActionOutcome>): void {
    const auth = this.auth;
    app.post(path, this.formLimit, auth.pageGuard(), async (c) => {
      const session = c.get('session');
      let form: Record<string, string>;
      try {
        form = await this.readForm(c);
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
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
