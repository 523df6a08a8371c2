// Session auth + CSRF for the LAN-facing HTTP port (docs/web-ui.md, decision 0013).
//
// - Session: a random 256-bit token in the `lb_session` cookie: HttpOnly (no script reads it),
//   SameSite=Strict (no cross-site request carries it), Path=/. No Secure flag: the box serves
//   plain HTTP on the LAN (there is no certificate a phone would trust for lanboot.local), and
//   a Secure cookie would never be sent back over http://. Server-side row with idle and
//   absolute expiry (sessions.ts).
// - CSRF: synchronizer token per session, in a hidden `_csrf` field of every form and the
//   X-CSRF-Token header of every JSON call; in addition Origin (when sent) must be this host
//   and Sec-Fetch-Site (when sent) same-origin or none. Before login (the /login and /setup
//   forms) a short-lived pre-session token in the `lb_pre` cookie is compared with the field
//   (double submit), plus the same Origin check.
// - Login rate limit per client address (rate-limit.ts).
import type { IncomingMessage } from 'node:http';
import type { Context, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { Db } from '../../db/database.js';
import { LanbootError } from '../../log/errors.js';
import { LoginRateLimiter } from './rate-limit.js';
import { AuthStore, randomToken, SESSION_IDLE_MS, tokensEqual, type Session } from './sessions.js';

export const SESSION_COOKIE = 'lb_session';
export const PRE_SESSION_COOKIE = 'lb_pre';
export const CSRF_HEADER = 'x-csrf-token';
export const CSRF_FIELD = '_csrf';

export type AuthVariables = { session: Session };

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function clientAddressOf(c: Context): string {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  const address = incoming?.socket?.remoteAddress ?? 'unknown';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/** Origin / Sec-Fetch-Site say the request comes from a page of this box (or from no page). */
export function isSameOrigin(c: Context): boolean {
  const site = c.req.header('sec-fetch-site');
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return false;
  const origin = c.req.header('origin');
  if (origin === undefined) return true;
  const host = c.req.header('host');
  return host !== undefined && (origin === `http://${host}` || origin === `https://${host}`);
}

/** Host names the UI answers to: IP literals, `localhost`, mDNS names (`*.local`) and
 *  single-label LAN names (`lanboot`), with an optional port. Anything else (a public DNS
 *  name) is refused: a site whose name an attacker rebinds to the box's LAN address (DNS
 *  rebinding) would otherwise be "same origin" with its own requests, and could for example
 *  set the admin password of a fresh box from a LAN visitor's browser. */
export function isLanHost(host: string | undefined): boolean {
  if (host === undefined || host.length === 0 || host.length > 300) return false;
  let name = host;
  if (name.startsWith('[')) {
    const end = name.indexOf(']');
    if (end < 0) return false;
    const rest = name.slice(end + 1);
    return (rest === '' || /^:\d{1,5}$/.test(rest)) && /^[0-9a-fA-F:.]+$/.test(name.slice(1, end));
  }
  const colon = name.lastIndexOf(':');
  if (colon >= 0) {
    if (!/^\d{1,5}$/.test(name.slice(colon + 1))) return false;
    name = name.slice(0, colon);
  }
  name = name.toLowerCase().replace(/\.$/, '');
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(name)) return true;
  if (!/^[a-z0-9]([a-z0-9()-]*[a-z0-9)])?(\.[a-z0-9]([a-z0-9()-]*[a-z0-9)])?)*$/.test(name)) return false;
  return name === 'localhost' || !name.includes('.') || name.endsWith('.local');
}

export class WebAuth {
  readonly store: AuthStore;
  readonly limiter: LoginRateLimiter;
  /** Flash notices per session (what the last form did), shown once by the next page. */
  private readonly flashes = new Map<string, { kind: 'ok' | 'error'; text: string }>();

  constructor(db: Db, now: () => number = Date.now) {
    this.store = new AuthStore(db, now);
    this.limiter = new LoginRateLimiter(now);
  }

  session(c: Context): Session | undefined {
    return this.store.findSession(getCookie(c, SESSION_COOKIE));
  }

  startSession(c: Context): Session {
    const { token, session } = this.store.createSession(clientAddressOf(c));
    setCookie(c, SESSION_COOKIE, token, { httpOnly: true, sameSite: 'Strict', path: '/', maxAge: Math.floor(SESSION_IDLE_MS / 1000) });
    deleteCookie(c, PRE_SESSION_COOKIE, { path: '/' });
    return session;
  }

  endSession(c: Context): void {
    this.store.deleteSession(getCookie(c, SESSION_COOKIE));
    deleteCookie(c, SESSION_COOKIE, { path: '/' });
  }

  /** The pre-session CSRF token for the login/setup form (set as a cookie too). */
  preSessionToken(c: Context): string {
    let token = getCookie(c, PRE_SESSION_COOKIE);
    if (!token || !/^[A-Za-z0-9_-]{43}$/.test(token)) {
      token = randomToken();
      setCookie(c, PRE_SESSION_COOKIE, token, { httpOnly: true, sameSite: 'Strict', path: '/', maxAge: 3600 });
    }
    return token;
  }

  checkPreSessionCsrf(c: Context, field: unknown): void {
    if (!isSameOrigin(c) || typeof field !== 'string' || !tokensEqual(field, getCookie(c, PRE_SESSION_COOKIE))) {
      throw new LanbootError('LANBOOT_CSRF_REJECTED', 'the form expired or came from another site: reload the page and try again');
    }
  }

  checkCsrf(c: Context, session: Session, token: unknown): void {
    if (!isSameOrigin(c)) throw new LanbootError('LANBOOT_CSRF_REJECTED', 'request refused: it came from another site (Origin / Sec-Fetch-Site)');
    if (typeof token !== 'string' || !tokensEqual(token, session.csrfToken)) {
      throw new LanbootError('LANBOOT_CSRF_REJECTED', 'request refused: missing or wrong CSRF token (reload the page; JSON calls send it in X-CSRF-Token)');
    }
  }

  setFlash(session: Session, kind: 'ok' | 'error', text: string): void {
    this.flashes.set(session.tokenSha256, { kind, text: text.slice(0, 500) });
    if (this.flashes.size > 500) this.flashes.delete(this.flashes.keys().next().value!);
  }

  takeFlash(session: Session): { kind: 'ok' | 'error'; text: string } | undefined {
    const flash = this.flashes.get(session.tokenSha256);
    this.flashes.delete(session.tokenSha256);
    return flash;
  }

  /** /api/v1 on the LAN: a session, and a CSRF token for anything that changes state. */
  apiGuard(): MiddlewareHandler<{ Variables: AuthVariables }> {
    return async (c, next) => {
      if (!this.store.isSetUp()) throw new LanbootError('LANBOOT_SETUP_REQUIRED', 'no admin password is set yet: open the web UI (/setup) and set one');
      const session = this.session(c);
      if (!session) throw new LanbootError('LANBOOT_AUTH_REQUIRED', 'log in first (POST /login, or the web UI)');
      if (!SAFE_METHODS.has(c.req.method)) this.checkCsrf(c, session, c.req.header(CSRF_HEADER));
      c.set('session', session);
      await next();
    };
  }

  /** UI pages: first run -> /setup, no session -> /login. State-changing forms check CSRF
   *  themselves (the token is in the form body). */
  pageGuard(): MiddlewareHandler<{ Variables: AuthVariables }> {
    return async (c, next) => {
      if (!this.store.isSetUp()) return c.redirect('/setup', 303);
      const session = this.session(c);
      if (!session) return c.redirect('/login', 303);
      c.set('session', session);
      await next();
    };
  }
}
