// Web UI test helpers: a cookie-keeping HTTP client that fills in forms the way a browser does
// (CSRF field from the page, Origin header), and Debian's Chromium driven by playwright-core.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Cleanup } from './tools.js';

export interface WebResponse {
  status: number;
  location: string | null;
  text: string;
  headers: Headers;
  json<T = unknown>(): T;
}

/** A minimal browser stand-in over fetch: keeps cookies, does not follow redirects. */
export class WebClient {
  readonly cookies = new Map<string, string>();

  constructor(readonly base: string) {}

  async request(method: string, pathname: string, options: { body?: string | Uint8Array; headers?: Record<string, string>; noCookies?: boolean } = {}): Promise<WebResponse> {
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    if (!options.noCookies && this.cookies.size > 0) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const response = await fetch(`${this.base}${pathname}`, { method, headers, body: options.body as BodyInit | undefined, redirect: 'manual' });
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (attributes.some((a) => /^\s*max-age=0\s*$/i.test(a)) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const text = await response.text();
    return {
      status: response.status,
      location: response.headers.get('location'),
      text,
      headers: response.headers,
      json: <T>() => JSON.parse(text) as T,
    };
  }

  get(pathname: string): Promise<WebResponse> {
    return this.request('GET', pathname);
  }

  /** POSTs a urlencoded form with this origin's Origin header, as a browser does. */
  postForm(pathname: string, fields: Record<string, string>, extraHeaders: Record<string, string> = {}): Promise<WebResponse> {
    return this.request('POST', pathname, {
      body: new URLSearchParams(fields).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: this.base, ...extraHeaders },
    });
  }

  /** The first hidden _csrf value on a page. */
  static csrfOf(html: string): string {
    const m = /name="_csrf" value="([^"]+)"/.exec(html);
    if (!m) throw new Error(`no CSRF field on the page: ${html.slice(0, 300)}`);
    return m[1]!;
  }

  /** First run: sets the admin password through /setup; the client is then logged in. */
  async setup(password: string): Promise<void> {
    const form = await this.get('/setup');
    if (form.status !== 200) throw new Error(`GET /setup: ${form.status}`);
    const done = await this.postForm('/setup', { _csrf: WebClient.csrfOf(form.text), password, confirm: password });
    if (done.status !== 303 || done.location !== '/') throw new Error(`POST /setup: ${done.status} ${done.text.slice(0, 300)}`);
  }

  async login(password: string): Promise<WebResponse> {
    const form = await this.get('/login');
    return this.postForm('/login', { _csrf: WebClient.csrfOf(form.text), password });
  }

  /** The session's CSRF token (from the meta tag of any page). */
  async csrfToken(): Promise<string> {
    const page = await this.get('/');
    const m = /<meta name="csrf-token" content="([^"]+)"/.exec(page.text);
    if (!m) throw new Error(`not logged in (GET / -> ${page.status} ${page.location ?? ''})`);
    return m[1]!;
  }
}

export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Debian's Chromium, headless, phone-sized, with a fresh profile removed afterwards. */
export async function launchPhoneBrowser(t: Cleanup) {
  if (!fs.existsSync(CHROMIUM_PATH)) throw new Error(`${CHROMIUM_PATH} is missing: install the chromium package (scripts/install-system-deps.sh)`);
  const { chromium } = await import('playwright-core');
  const profile = await fsp.mkdtemp(path.join(os.tmpdir(), 'lanboot-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 1,
    isMobile: true,
    hasTouch: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.after(async () => {
    await context.close().catch(() => undefined);
    await fsp.rm(profile, { recursive: true, force: true });
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return { context, page };
}
