// Changing the admin password: from the box's CLI over the local API socket (no web login;
// the new password read from stdin, never argv) and from the phone form (session, CSRF and
// the current password). Either way every web session ends.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BootService } from '../../src/boot/service.js';
import { WebClient } from '../helpers/browser.js';
import { startFixture } from '../unit/support/supervisor-fixture.js';

const OLD = 'correct horse battery';
const NEW = 'a much longer new passphrase';

async function start(t: Parameters<typeof startFixture>[0]) {
  const f = await startFixture(t, { services: [new BootService({ listen: '127.0.0.1', dhcp: { mode: 'off' }, scriptOwnerCheck: 'neighbor', menu: { on: false, timeoutSeconds: 5 } })] });
  const status = JSON.parse((await f.cli(['status', '--json'])).stdout) as { http: { port: number } };
  return { f, base: `http://127.0.0.1:${status.http.port}` };
}

test('lanboot password set: reads stdin, ends every web session, the new password logs in and the old does not', async (t) => {
  const { f, base } = await start(t);
  const phone = new WebClient(base);
  await phone.setup(OLD);
  const laptop = new WebClient(base);
  assert.equal((await laptop.login(OLD)).location, '/');
  assert.equal((await phone.get('/api/v1/status')).status, 200);

  // Refusals: too short, and a password on the command line is no flag at all.
  const short = await f.cli(['password', 'set'], { stdin: 'short\n' });
  assert.equal(short.code, 1);
  assert.match(short.stderr, /^lanboot: password: at least 10 characters\n$/);
  const argv = await f.cli(['password', 'set', NEW], { stdin: '' });
  assert.equal(argv.code, 1);
  assert.match(argv.stderr, /unexpected argument/);
  assert.equal((await phone.get('/api/v1/status')).status, 200, 'a refused change ends nothing');

  const set = await f.cli(['password', 'set'], { stdin: `${NEW}\n` });
  assert.equal(set.code, 0, set.stderr);
  assert.match(set.stdout, /every web session was logged out/);
  for (const client of [phone, laptop]) {
    assert.equal((await client.get('/api/v1/status')).status, 401);
    assert.equal((await client.get('/')).location, '/login');
  }
  const again = new WebClient(base);
  assert.equal((await again.login(OLD)).status, 403);
  assert.equal((await again.login(NEW)).location, '/');

  // The LAN API cannot do what the socket does, even logged in with a CSRF token.
  const csrf = await again.csrfToken();
  const lan = await again.request('PUT', '/api/v1/admin/password', { headers: { 'content-type': 'application/json', 'x-csrf-token': csrf, origin: base }, body: JSON.stringify({ password: 'attacker chosen password' }) });
  assert.equal(lan.status, 403, lan.text);
  assert.equal(lan.json<{ error: { code: string } }>().error.code, 'LANBOOT_LOCAL_ONLY');
  assert.equal((await new WebClient(base).login(NEW)).location, '/');
});

test('phone form: needs the current password and CSRF; a change logs out every session', async (t) => {
  const { base } = await start(t);
  const phone = new WebClient(base);
  await phone.setup(OLD);
  const other = new WebClient(base);
  assert.equal((await other.login(OLD)).location, '/');

  const page = await phone.get('/password');
  assert.equal(page.status, 200);
  const csrf = WebClient.csrfOf(page.text);

  const noCsrf = await phone.postForm('/password', { current: OLD, password: NEW, confirm: NEW });
  assert.equal(noCsrf.status, 403);
  const wrong = await phone.postForm('/password', { _csrf: csrf, current: 'not the password', password: NEW, confirm: NEW });
  assert.equal(wrong.status, 403);
  assert.match(wrong.text, /current password is wrong/);
  const differ = await phone.postForm('/password', { _csrf: csrf, current: OLD, password: NEW, confirm: `${NEW}!` });
  assert.equal(differ.status, 400);
  assert.match(differ.text, /the two entries differ/);
  assert.equal((await other.get('/api/v1/status')).status, 200, 'refused changes end nothing');

  const done = await phone.postForm('/password', { _csrf: csrf, current: OLD, password: NEW, confirm: NEW });
  assert.equal(done.status, 303, done.text.slice(0, 300));
  assert.equal(done.location, '/login');
  assert.equal((await phone.get('/')).location, '/login');
  assert.equal((await other.get('/api/v1/status')).status, 401);
  assert.equal((await new WebClient(base).login(OLD)).status, 403);
  assert.equal((await new WebClient(base).login(NEW)).location, '/');
});
