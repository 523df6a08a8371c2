// Security of the LAN-facing HTTP port: first run, session auth on every page and
// API route (enumerated from the apps, so routes added later are covered automatically), CSRF,
// the login rate limit, the open boot endpoints revealing nothing about other seats, and
// hostile input refused, rendered escaped and stored nowhere.
// In process (real HTTP over loopback, real SQLite, the real boot and DHCP services' routes);
// the iSCSI engine is the recording stand-in of the unit fixture: no iSCSI I/O happens here.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { test } from 'node:test';
import { BootService } from '../../src/boot/service.js';
import { DhcpService } from '../../src/dhcp/service.js';
import { createDhcpSocketFactory } from '../../src/dhcp/socket.js';
import { FREE_FAILURES } from '../../src/web/auth/rate-limit.js';
import { WebClient } from '../helpers/browser.js';
import { startFixture, type Fixture } from '../unit/support/supervisor-fixture.js';

const PASSWORD = 'correct horse battery';
const SEAT_MAC = '52:54:00:12:34:56';
const OTHER_MAC = '52:54:00:65:43:21';

/** Routes anyone on the LAN may use without a session. */
const OPEN_ROUTES = new Set(['GET /healthz', 'GET /boot.ipxe', 'GET /enroll.ipxe', 'GET /ipxe/:name', 'GET /setup', 'POST /setup', 'GET /login', 'POST /login', 'GET /assets/:file']);

function concrete(routePath: string): string {
  return routePath
    .replace(/:name\b/g, 'pc-1')
    .replace(/:id\b/g, '1')
    .replace(/:n\b/g, '1')
    .replace(/:[a-zA-Z]+/g, 'x')
    .replace(/\*$/, 'status');
}

interface RouteRef {
  method: string;
  path: string;
  api: boolean;
}

/** Every route a LAN client can reach: the HTTP app's own and the API router's. */
function lanRoutes(f: Fixture): RouteRef[] {
  const apps = f.supervisor.webApps!;
  const seen = new Set<string>();
  const routes: RouteRef[] = [];
  const add = (method: string, p: string, api: boolean) => {
    const key = `${method} ${p}`;
    if (seen.has(key)) return;
    seen.add(key);
    routes.push({ method, path: p, api });
  };
  for (const r of apps.http.routes) {
    if (r.method === 'ALL' && r.path === '/api/v1/*') continue; // the forwarder: its targets are below
    if (r.method === 'ALL') continue; // middleware registrations
    add(r.method, r.path, false);
  }
  for (const r of apps.api.routes) if (r.method !== 'ALL') add(r.method, r.path, true);
  return routes;
}

async function start(t: Parameters<typeof startFixture>[0]) {
  const f = await startFixture(t, { services: [new DhcpService({ mode: 'off' }, createDhcpSocketFactory('any-address')), new BootService({ listen: '127.0.0.1', dhcp: { mode: 'off' }, scriptOwnerCheck: 'neighbor', menu: { on: false, timeoutSeconds: 5 } })] });
  const status = JSON.parse((await f.cli(['status', '--json'])).stdout) as { http: { port: number } };
  const base = `http://127.0.0.1:${status.http.port}`;
  return { f, base };
}

async function addImageAndSeat(f: Fixture): Promise<void> {
  const file = path.join(f.dataDir, 'golden.raw');
  fs.writeFileSync(file, Buffer.alloc(1024 * 1024, 0x11));
  const imported = await f.cli(['image', 'import', file, '--name', 'debian']);
  assert.equal(imported.code, 0, imported.stderr);
  const added = await f.cli(['client', 'add', '--name', 'secret-seat', '--image', 'debian', '--mac', SEAT_MAC]);
  assert.equal(added.code, 0, added.stderr);
}

test('first run: every page leads to /setup, the API says setup is required, nothing else is reachable', async (t) => {
  const { f, base } = await start(t);
  const web = new WebClient(base);
  const routes = lanRoutes(f);
  assert.ok(routes.length > 15, `routes found: ${routes.length}`);
  for (const r of routes) {
    if (OPEN_ROUTES.has(`${r.method} ${r.path}`)) continue;
    const res = await web.request(r.method, concrete(r.path), { headers: { 'content-type': 'application/json', origin: base }, body: r.method === 'GET' || r.method === 'HEAD' ? undefined : '{}' });
    if (r.api) {
      assert.equal(res.status, 403, `${r.method} ${r.path}: ${res.text}`);
      assert.equal(res.json<{ error: { code: string } }>().error.code, 'LANBOOT_SETUP_REQUIRED', `${r.method} ${r.path}`);
    } else {
      assert.equal(res.status, 303, `${r.method} ${r.path}: ${res.status} ${res.text.slice(0, 200)}`);
      assert.equal(res.location, '/setup', `${r.method} ${r.path}`);
    }
  }
  // /login waits for setup too.
  assert.equal((await web.get('/login')).location, '/setup');

  // Setup refuses short and mismatched passwords with a clear message, and stores nothing.
  const form = await web.get('/setup');
  const csrf = WebClient.csrfOf(form.text);
  const short = await web.postForm('/setup', { _csrf: csrf, password: 'short', confirm: 'short' });
  assert.equal(short.status, 400);
  assert.match(short.text, /at least 10 characters/);
  const mismatch = await web.postForm('/setup', { _csrf: csrf, password: 'long enough 1', confirm: 'long enough 2' });
  assert.match(mismatch.text, /the two entries differ/);
  const noToken = await web.postForm('/setup', { password: PASSWORD, confirm: PASSWORD });
  assert.equal(noToken.status, 403, 'setup without the form token is refused');
  assert.equal((await web.get('/')).location, '/setup', 'still not set up');

  await web.setup(PASSWORD);
  assert.equal((await web.get('/')).status, 200);
  // A second setup (someone else on the LAN) cannot replace the password.
  const other = new WebClient(base);
  assert.equal((await other.get('/setup')).location, '/login');
  const hijack = await other.postForm('/setup', { _csrf: 'x', password: 'attacker password', confirm: 'attacker password' });
  assert.equal(hijack.location, '/login');
  assert.equal((await other.login('attacker password')).status, 403);
  assert.equal((await other.login(PASSWORD)).location, '/');
});

test('every page and API route but login, setup, assets and the boot endpoints needs a session; changes need the CSRF token', async (t) => {
  const { f, base } = await start(t);
  await addImageAndSeat(f);
  const admin = new WebClient(base);
  await admin.setup(PASSWORD);
  const csrf = await admin.csrfToken();
  const anonymous = new WebClient(base);
  const routes = lanRoutes(f);
  let checkedChanges = 0;
  for (const r of routes) {
    const target = concrete(r.path);
    const isChange = !['GET', 'HEAD', 'OPTIONS'].includes(r.method);
    const body = isChange ? (r.api ? '{}' : 'a=b') : undefined;
    const type = r.api ? 'application/json' : 'application/x-www-form-urlencoded';
    if (OPEN_ROUTES.has(`${r.method} ${r.path}`)) continue;

    const res = await anonymous.request(r.method, target, { headers: { 'content-type': type, origin: base }, body });
    if (r.api) {
      assert.equal(res.status, 401, `${r.method} ${r.path} without a session: ${res.status} ${res.text}`);
      assert.equal(res.json<{ error: { code: string } }>().error.code, 'LANBOOT_AUTH_REQUIRED');
    } else {
      assert.equal(res.status, 303, `${r.method} ${r.path} without a session`);
      assert.equal(res.location, '/login');
    }
    // A forged session cookie is no session.
    const forged = await anonymous.request(r.method, target, { headers: { 'content-type': type, cookie: 'lb_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }, body });
    assert.ok(forged.status === 401 || forged.location === '/login', `${r.method} ${r.path} with a forged cookie: ${forged.status}`);

    if (isChange) {
      // Logged in, but no CSRF token: refused, and nothing happens.
      const noToken = await admin.request(r.method, target, { headers: { 'content-type': type, origin: base }, body });
      assert.equal(noToken.status, 403, `${r.method} ${r.path} without a CSRF token: ${noToken.status} ${noToken.text.slice(0, 200)}`);
      assert.match(noToken.text, /CSRF|another site/);
      // The right token from another site (Origin) is refused too.
      const crossSite = await admin.request(r.method, target, {
        headers: { 'content-type': type, origin: 'http://evil.example', 'x-csrf-token': csrf },
        body: r.api ? body : `_csrf=${encodeURIComponent(csrf)}`,
      });
      assert.equal(crossSite.status, 403, `${r.method} ${r.path} cross-site: ${crossSite.status}`);
      checkedChanges++;
    }
  }
  assert.ok(checkedChanges >= 8, `state-changing routes checked: ${checkedChanges}`);
  // Nothing above changed anything.
  const seats = JSON.parse((await f.cli(['client', 'list', '--json'])).stdout) as { name: string }[];
  assert.deepEqual(seats.map((s) => s.name), ['secret-seat']);

  // With the token the same API works over the LAN, and the local socket needs none.
  const reset = await admin.request('POST', '/api/v1/clients/secret-seat/reset', { headers: { 'x-csrf-token': csrf, origin: base } });
  assert.equal(reset.status, 200, reset.text);
  const status = await admin.get('/api/v1/status');
  assert.equal(status.status, 200);
  assert.equal(status.json<{ seats: number }>().seats, 1);

  // Logout ends the session server-side: the old cookie no longer works.
  const cookie = admin.cookies.get('lb_session')!;
  const out = await admin.postForm('/logout', { _csrf: csrf });
  assert.equal(out.location, '/login');
  const replay = await anonymous.request('GET', '/api/v1/status', { headers: { cookie: `lb_session=${cookie}` } });
  assert.equal(replay.status, 401);
});

test('session cookie flags and security headers', async (t) => {
  const { base } = await start(t);
  const web = new WebClient(base);
  const form = await web.get('/setup');
  assert.match(form.headers.get('content-security-policy') ?? '', /script-src 'self'/);
  assert.equal(form.headers.get('x-frame-options'), 'DENY');
  const done = await web.postForm('/setup', { _csrf: WebClient.csrfOf(form.text), password: PASSWORD, confirm: PASSWORD });
  const cookie = done.headers.getSetCookie().find((c) => c.startsWith('lb_session='))!;
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Strict/);
  assert.match(cookie, /Path=\//);
  assert.match(cookie, /^lb_session=[A-Za-z0-9_-]{43};/);
});

test('wrong passwords are rate limited per address with a clear message', async (t) => {
  const { base } = await start(t);
  const admin = new WebClient(base);
  await admin.setup(PASSWORD);
  const attacker = new WebClient(base);
  for (let i = 1; i <= 4; i++) {
    const res = await attacker.login(`wrong password ${i}`);
    assert.equal(res.status, 403, `try ${i}`);
    assert.match(res.text, /Wrong password\./);
  }
  const fifth = await attacker.login('wrong password 5');
  assert.equal(fifth.status, 429);
  assert.match(fifth.text, /Too many tries: wait 1 s/);
  // Even the right password is refused while the address waits.
  const blocked = await attacker.login(PASSWORD);
  assert.equal(blocked.status, 429);
  assert.match(blocked.text, /Too many wrong passwords: wait \d+ s/);
  assert.equal(attacker.cookies.get('lb_session'), undefined, 'no session handed out');
  await new Promise((r) => setTimeout(r, 1100));
  const sixth = await attacker.login('wrong password 6');
  assert.equal(sixth.status, 429);
  assert.match(sixth.text, /wait 2 s/, 'the wait doubles');
});

test('parallel logins from one address do not slip past the rate limit: at most the free tries reach the password check', async (t) => {
  const { base } = await start(t);
  const admin = new WebClient(base);
  await admin.setup(PASSWORD);
  const attacker = new WebClient(base);
  const csrf = WebClient.csrfOf((await attacker.get('/login')).text);
  const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => attacker.postForm('/login', { _csrf: csrf, password: `wrong password ${i}` })));
  // "Wrong password." is only written after scrypt ran; the refused ones never reached it.
  const checked = answers.filter((a) => /Wrong password\./.test(a.text));
  const refused = answers.filter((a) => a.status === 429 && /Too many wrong passwords: wait \d+ s/.test(a.text));
  // FREE_FAILURES checks, then the address waits 1 s, 2 s, ...: on a busy machine the burst
  // can outlast the first waits and earn a check or two more, never forty.
  assert.ok(checked.length >= FREE_FAILURES && checked.length <= FREE_FAILURES + 3, `password checks: ${checked.length}`);
  assert.equal(refused.length, 40 - checked.length);
  assert.equal(attacker.cookies.get('lb_session'), undefined);
});

test('the open boot endpoints reveal nothing about other seats', async (t) => {
  const { f, base } = await start(t);
  await addImageAndSeat(f);
  const seat = JSON.parse((await f.cli(['client', 'show', 'secret-seat', '--json'])).stdout) as { targetIqn: string; initiatorIqns: string[] };
  const anonymous = new WebClient(base);
  const secrets = ['secret-seat', seat.targetIqn, seat.initiatorIqns[0]!, SEAT_MAC, SEAT_MAC.replaceAll(':', '-'), 'debian'];
  const probes = [
    '/healthz',
    '/boot.ipxe',
    `/boot.ipxe?mac=${OTHER_MAC}`,
    '/boot.ipxe?mac=zz:zz',
    '/ipxe/..%2F..%2Fetc%2Fpasswd',
    '/ipxe/undionly.kpxe.bak',
    '/assets/ui.css',
    '/login',
    '/setup',
    '/nonexistent',
  ];
  for (const probe of probes) {
    const res = await anonymous.get(probe);
    for (const secret of secrets) assert.ok(!res.text.includes(secret), `${probe} reveals ${secret}: ${res.text.slice(0, 300)}`);
  }
  const enroll = await anonymous.get(`/boot.ipxe?mac=${OTHER_MAC}`);
  assert.match(enroll.text, /Enrollment code: /);
  const bad = await anonymous.get('/boot.ipxe?mac=zz:zz');
  assert.equal(bad.status, 400);
});

test('hostile input is refused with a clear message, rendered escaped, and stored nowhere', async (t) => {
  const { f, base } = await start(t);
  await addImageAndSeat(f);
  const admin = new WebClient(base);
  await admin.setup(PASSWORD);
  const csrf = await admin.csrfToken();
  // A PC waits; enrolling it with hostile names fails and leaves it waiting.
  const script = await (await fetch(`${base}/boot.ipxe?mac=${OTHER_MAC}`)).text();
  const code = /Enrollment code: (\S+)/.exec(script)![1]!;
  const hostile = ['<script>alert(1)</script>', 'x'.repeat(400), '../../etc/passwd', 'UPPER', 'a b', '', 'pc\u0000one'];
  for (const name of hostile) {
    const res = await admin.postForm('/enroll', { _csrf: csrf, code, name, image: 'debian', mode: 'fresh' });
    assert.equal(res.status, 303, `enroll ${JSON.stringify(name).slice(0, 40)}`);
    const home = await admin.get('/');
    assert.match(home.text, /class="notice error"[^>]*>Enroll failed: /, `a clear message for ${JSON.stringify(name).slice(0, 40)}`);
    assert.ok(!home.text.includes('<script>alert(1)</script>'), 'markup is escaped');
  }
  const tooLong = await admin.postForm('/enroll', { _csrf: csrf, code, name: 'y'.repeat(600), image: 'debian' });
  assert.equal(tooLong.status, 400);
  assert.match(tooLong.text, /at most 512 characters/);
  const huge = await admin.postForm('/enroll', { _csrf: csrf, code, name: 'z'.repeat(20_000), image: 'debian' });
  assert.equal(huge.status, 413);
  const badImage = await admin.postForm('/enroll', { _csrf: csrf, code, name: 'pc-2', image: '<b>x</b>' });
  assert.equal(badImage.status, 303);
  const afterBadImage = await admin.get('/');
  assert.ok(afterBadImage.text.includes('&lt;b&gt;x&lt;/b&gt;') || !afterBadImage.text.includes('<b>x</b>'), 'image name escaped');

  // Path tricks in page URLs: a clear refusal, escaped.
  for (const p of ['/seats/..%2F..%2Fetc%2Fpasswd', '/seats/%3Cscript%3Ealert(1)%3C%2Fscript%3E', `/seats/${'q'.repeat(300)}`]) {
    const res = await admin.get(p);
    assert.ok(res.status === 400 || res.status === 404, `${p}: ${res.status}`);
    assert.match(res.text, /class="notice error"/);
    assert.ok(!res.text.includes('<script>alert(1)'), `${p} rendered escaped`);
  }
  const badMacEvents = await admin.get('/api/v1/boot-events?mac=%3Cscript%3E');
  assert.equal(badMacEvents.status, 400);
  assert.match(badMacEvents.json<{ error: { message: string } }>().error.message, /mac/);

  // Nothing stored: still one seat, the PC still waiting with the same code.
  const seats = JSON.parse((await f.cli(['client', 'list', '--json'])).stdout) as { name: string }[];
  assert.deepEqual(seats.map((s) => s.name), ['secret-seat']);
  const waiting = JSON.parse((await f.cli(['waiting', '--json'])).stdout) as { code: string; mac: string }[];
  assert.deepEqual(waiting.map((w) => [w.mac, w.code]), [[OTHER_MAC, code]]);

  // A valid enrollment from the page works (and its script turns into sanboot).
  const ok = await admin.postForm('/enroll', { _csrf: csrf, code, name: 'pc-2', image: 'debian', mode: 'fresh' });
  assert.equal(ok.location, '/seats/pc-2');
  const after = await (await fetch(`${base}/boot.ipxe?mac=${OTHER_MAC}`)).text();
  assert.match(after, /^sanboot /m);
});

/** A GET with a chosen Host header (fetch does not let a caller set Host). */
function getWithHost(base: string, pathname: string, host: string): Promise<{ status: number; body: string }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path: pathname, headers: { host } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('DNS rebinding: the UI and API answer only to LAN names; the boot endpoints to any', async (t) => {
  const { base } = await start(t);
  const port = new URL(base).port;
  for (const host of ['evil.example', `evil.example:${port}`, `rebind.attacker.net:${port}`]) {
    for (const p of ['/setup', '/login', '/', '/api/v1/status']) {
      const res = await getWithHost(base, p, host);
      assert.equal(res.status, 421, `${host} ${p}`);
      assert.match(res.body, /LANBOOT_HOST_REFUSED/);
    }
    assert.equal((await getWithHost(base, '/boot.ipxe', host)).status, 200, 'iPXE may use any name');
  }
  for (const host of [`127.0.0.1:${port}`, `lanboot.local:${port}`, 'lanboot', `localhost:${port}`]) {
    assert.equal((await getWithHost(base, '/setup', host)).status, 200, host);
  }
});
