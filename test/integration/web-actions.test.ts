// Every seat and image action of the web UI, through its forms (session + CSRF, as a browser
// posts them) against a real `lanboot serve`; each outcome checked through the CLI, i.e. in
// the supervisor's state, not on the page only.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { WebClient } from '../helpers/browser.js';
import { startLanboot } from '../helpers/supervisor.js';

interface ImageList {
  name: string;
  currentVersion: number;
  versions: { number: number; seats: string[] }[];
}
interface SeatShow {
  name: string;
  mode: string;
  version: number;
  quotaBytes?: number | null;
}

test('seat and image actions from the pages: mode, commit, snapshot/restore, quota, move, rollback, delete, prune, remove', { timeout: 120_000 }, async (t) => {
  const lanboot = await startLanboot(t);
  const image = path.join(lanboot.dataDir, 'golden.raw');
  fs.writeFileSync(image, Buffer.alloc(2 * 1024 * 1024, 0x42));
  assert.equal((await lanboot.cli(['image', 'import', image, '--name', 'debian'])).code, 0);
  assert.equal((await lanboot.cli(['client', 'add', '--name', 'pc-1', '--image', 'debian'])).code, 0);
  const web = new WebClient(`http://127.0.0.1:${lanboot.httpPort}`);
  await web.setup('actions password');
  const csrf = await web.csrfToken();
  const act = async (action: string, fields: Record<string, string> = {}) => {
    const res = await web.postForm(action, { _csrf: csrf, ...fields });
    assert.equal(res.status, 303, `${action}: ${res.status} ${res.text.slice(0, 200)}`);
    const page = await web.get(res.location!);
    const notice = /class="notice (ok|error)"[^>]*>([^<]*)</.exec(page.text);
    assert.ok(notice, `${action}: no notice on ${res.location}`);
    return { kind: notice[1], text: notice[2]!.replaceAll('&#39;', "'"), page: page.text };
  };
  const seat = () => lanboot.cliJson<SeatShow>(['client', 'show', 'pc-1', '--json']);
  const images = async () => (await lanboot.cliJson<ImageList[]>(['image', 'list', '--json'])).find((i) => i.name === 'debian')!;

  // Commit is refused with the API's message while the seat is not in maintenance mode.
  const refused = await act('/seats/pc-1/commit');
  assert.equal(refused.kind, 'error');
  assert.match(refused.text, /commit failed: seat pc-1 is in fresh mode/);

  assert.equal((await act('/seats/pc-1/mode', { mode: 'maintenance' })).kind, 'ok');
  assert.equal((await seat()).mode, 'maintenance');
  const page = await web.get('/seats/pc-1');
  assert.match(page.text, /Commit as a new version of debian/);
  const committed = await act('/seats/pc-1/commit');
  assert.equal(committed.kind, 'ok', committed.text);
  assert.deepEqual((await images()).versions.map((v) => v.number), [1, 2]);
  assert.equal((await seat()).version, 2, 'the maintenance seat moves to its commit');

  assert.equal((await act('/seats/pc-1/snapshot', { label: 'known good' })).kind, 'ok');
  const snaps = (await web.request('GET', '/api/v1/clients/pc-1/snapshots')).json<{ number: number; label: string }[]>();
  assert.deepEqual(snaps.map((s) => [s.number, s.label]), [[1, 'known good']]);
  assert.equal((await act('/seats/pc-1/restore', { snapshot: '1' })).kind, 'ok');
  const badRestore = await act('/seats/pc-1/restore', { snapshot: '../1' });
  assert.equal(badRestore.kind, 'error');

  assert.equal((await act('/seats/pc-1/quota', { quota: '1G' })).kind, 'ok');
  assert.equal((await seat()).quotaBytes, 1024 ** 3);
  assert.equal((await act('/seats/pc-1/quota', { quota: 'none' })).kind, 'ok');
  assert.ok(!(await seat()).quotaBytes, 'no quota (null or 0)');
  assert.equal((await act('/seats/pc-1/quota', { quota: 'lots' })).kind, 'error');

  // Image v1 current again (rollback), the seat moved to it, v2 then unused: delete it.
  assert.equal((await act('/seats/pc-1/mode', { mode: 'fresh' })).kind, 'ok');
  const rolled = await act('/images/debian/rollback', { version: '1' });
  assert.equal(rolled.kind, 'ok', rolled.text);
  assert.equal((await images()).currentVersion, 1);
  assert.equal((await act('/seats/pc-1/move')).kind, 'ok');
  assert.equal((await seat()).version, 1);
  const deleted = await act('/images/debian/delete', { version: '2' });
  assert.equal(deleted.kind, 'ok', deleted.text);
  assert.deepEqual((await images()).versions.map((v) => v.number), [1]);
  const deleteCurrent = await act('/images/debian/delete', { version: '1' });
  assert.equal(deleteCurrent.kind, 'error', 'the current version cannot be deleted');
  assert.equal((await act('/images/debian/prune')).kind, 'ok');
  assert.deepEqual((await images()).versions.map((v) => v.number), [1]);

  // Remove needs the confirm box.
  const unconfirmed = await act('/seats/pc-1/remove');
  assert.equal(unconfirmed.kind, 'error');
  assert.match(unconfirmed.text, /tick the box/);
  const removed = await act('/seats/pc-1/remove', { confirm: 'yes' });
  assert.equal(removed.kind, 'ok');
  assert.deepEqual(await lanboot.cliJson(['client', 'list', '--json']), []);
});
