// The supervisor's local API driven through the CLI's own code (runCli), in process, with
// the recording engine standing in for the native addon (see support/recording-engine.ts).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { test } from 'node:test';
import { runCliCaptured, startFixture } from './support/supervisor-fixture.js';

function writeImage(dir: string, name: string, bytes: number, fill = 0x5a): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, Buffer.alloc(bytes, fill));
  return file;
}

function oneLineError(result: { code: number; stdout: string; stderr: string }, message: RegExp): void {
  assert.equal(result.code, 1, `exit code; stderr: ${result.stderr}`);
  assert.equal(result.stdout, '');
  assert.match(result.stderr, /^lanboot: [^\n]+\n$/, 'exactly one line on stderr');
  assert.match(result.stderr, message);
}

test('status, image import/list, client add/list/show/reset/remove through the local API', async (t) => {
  const f = await startFixture(t);
  const engine = f.engine();

  const status = await f.cli(['status', '--json']);
  assert.equal(status.code, 0, status.stderr);
  const s = JSON.parse(status.stdout);
  assert.equal(s.dataDir, f.dataDir);
  assert.deepEqual(s.iscsi, { host: '127.0.0.1', port: engine.listening!.port });
  assert.equal(s.http.host, '127.0.0.1');
  assert.ok(s.http.port > 0);
  assert.equal(s.portal, `127.0.0.1:${engine.listening!.port}`);
  assert.match(s.version, /^\d+\.\d+\.\d+/);
  const plain = await f.cli(['status']);
  assert.match(plain.stdout, /^lanboot .* serving /);

  const file = writeImage(f.dataDir, 'golden.raw', 1024 * 1024);
  const imported = await f.cli(['image', 'import', file, '--name', 'debian', '--json']);
  assert.equal(imported.code, 0, imported.stderr);
  const version = JSON.parse(imported.stdout);
  assert.equal(version.number, 1);
  assert.equal(version.sha256, crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex'));
  assert.equal(imported.stderr, '', 'no progress when stderr is not a TTY');

  const list = JSON.parse((await f.cli(['image', 'list', '--json'])).stdout);
  assert.equal(list.length, 1);
  assert.equal(list[0].name, 'debian');
  assert.equal(list[0].latestVersion, 1);
  assert.equal(list[0].versions[0].sizeBytes, 1024 * 1024);

  const added = await f.cli(['client', 'add', '--name', 'pc-1', '--image', 'debian', '--mac', '52:54:00:AA:BB:01', '--mode', 'persistent']);
  assert.equal(added.code, 0, added.stderr);
  const show = JSON.parse((await f.cli(['client', 'show', 'pc-1', '--json'])).stdout);
  assert.equal(show.targetIqn, 'iqn.2026-11.local.lanboot:seat.pc-1');
  assert.equal(show.portal, `127.0.0.1:${engine.listening!.port}`);
  assert.equal(show.lun, 0);
  assert.deepEqual(show.initiatorIqns, ['iqn.2026-11.local.lanboot:pc.pc-1']);
  assert.equal(show.chap.user, 'pc-1');
  assert.equal(show.chap.secret.length, 16);
  assert.equal(show.mode, 'persistent');
  assert.equal(show.image, 'debian');
  assert.equal(show.version, 1);
  assert.equal(show.mac, '52:54:00:aa:bb:01');

  // What the engine was told: the golden file, the seat's delta dir, the ACL and CHAP.
  const target = engine.targets.get(show.targetIqn)!;
  assert.equal(target.goldenPath, path.join(f.dataDir, 'images', 'debian', 'v1.img'));
  assert.equal(path.dirname(target.deltaDir), path.join(f.dataDir, 'seats'));
  assert.deepEqual(target.initiators, show.initiatorIqns);
  assert.deepEqual(target.chap, show.chap);
  assert.equal(target.mutualChap, undefined);
  assert.equal(target.naaHex, show.naa);
  assert.equal(target.serial, show.serial);

  const noChap = await f.cli(['client', 'add', '--name', 'pc-2', '--image', 'debian', '--no-chap', '--initiator', 'iqn.1991-05.com.microsoft:pc2', '--initiator', 'iqn.2004-10.com.ubuntu:01:pc2', '--json']);
  assert.equal(noChap.code, 0, noChap.stderr);
  const pc2 = JSON.parse(noChap.stdout);
  assert.equal(pc2.chap, null);
  assert.deepEqual(pc2.initiatorIqns.sort(), ['iqn.1991-05.com.microsoft:pc2', 'iqn.2004-10.com.ubuntu:01:pc2']);
  assert.equal(pc2.mode, 'fresh', 'fresh is the default mode');
  assert.equal(engine.targets.get(pc2.targetIqn)!.chap, undefined);
  assert.notEqual(pc2.naa, show.naa);

  const mutual = JSON.parse((await f.cli(['client', 'add', '--name', 'pc-3', '--image', 'debian', '--mutual-chap', '--json'])).stdout);
  assert.equal(mutual.mutualChap.secret.length, 16);
  assert.notEqual(mutual.mutualChap.secret, mutual.chap.secret);

  const clients = JSON.parse((await f.cli(['client', 'list', '--json'])).stdout);
  assert.deepEqual(clients.map((c: { name: string }) => c.name), ['pc-1', 'pc-2', 'pc-3']);
  assert.ok(!JSON.stringify(clients).includes(show.chap.secret), 'the list does not spill secrets');
  assert.match((await f.cli(['client', 'list'])).stdout, /^SEAT\s+IMAGE\s+MODE/);

  // A new version: reset moves the seat to it and discards the delta.
  const sameVersion = await f.cli(['client', 'reset', 'pc-1', '--json']);
  assert.equal(sameVersion.code, 0, sameVersion.stderr);
  assert.equal(JSON.parse(sameVersion.stdout).version, 1);
  assert.deepEqual(engine.resets, [show.targetIqn], 'same version: the engine discards the delta');
  await f.cli(['image', 'import', writeImage(f.dataDir, 'golden2.raw', 512 * 1024, 1), '--name', 'debian']);
  fs.writeFileSync(path.join(target.deltaDir, 'delta.data'), 'written against v1');
  const reset = await f.cli(['client', 'reset', 'pc-1', '--json']);
  assert.equal(reset.code, 0, reset.stderr);
  assert.equal(JSON.parse(reset.stdout).version, 2);
  assert.equal(fs.existsSync(path.join(target.deltaDir, 'delta.data')), false, 'new version: the old delta is deleted');
  assert.deepEqual(
    engine.calls.slice(-2).map((c) => c.method),
    ['removeTarget', 'setTarget'],
    'and the target set up again on the new golden file',
  );
  assert.equal(engine.targets.get(show.targetIqn)!.goldenPath, path.join(f.dataDir, 'images', 'debian', 'v2.img'));
  const resetLog = f.logLines().find((l) => l.msg === 'seat reset to its golden image');
  assert.equal(resetLog?.targetIqn, show.targetIqn);

  const removed = await f.cli(['client', 'remove', 'pc-1']);
  assert.equal(removed.code, 0, removed.stderr);
  assert.equal(engine.targets.has(show.targetIqn), false);
  assert.equal(fs.existsSync(target.deltaDir), false, 'the delta dir is gone');
  oneLineError(await f.cli(['client', 'show', 'pc-1']), /seat 'pc-1' does not exist/);
  // The name is free again, and the new seat is a new disk.
  const again = JSON.parse((await f.cli(['client', 'add', '--name', 'pc-1', '--image', 'debian', '--json'])).stdout);
  assert.notEqual(again.naa, show.naa);
  assert.notEqual(again.chap.secret, show.chap.secret);

  // Secrets never reach the log.
  const allLogs = JSON.stringify(f.logLines());
  for (const secret of [show.chap.secret, again.chap.secret, mutual.chap.secret, mutual.mutualChap.secret]) assert.ok(!allLogs.includes(secret));
});

test('errors exit 1 with one clear line and store nothing', async (t) => {
  const f = await startFixture(t);
  await f.cli(['image', 'import', writeImage(f.dataDir, 'g.raw', 4096), '--name', 'base']);
  await f.cli(['client', 'add', '--name', 'pc-1', '--image', 'base', '--mac', '52:54:00:00:00:01']);
  const engine = f.engine();
  const before = engine.calls.length;

  oneLineError(await f.cli(['client', 'add', '--name', 'pc-2', '--image', 'nope']), /image 'nope' does not exist/);
  oneLineError(await f.cli(['client', 'add', '--name', 'pc-1', '--image', 'base']), /seat 'pc-1' already exists/);
  oneLineError(await f.cli(['client', 'add', '--name', 'pc-2', '--image', 'base', '--mac', '52:54:00:00:00:zz']), /--mac: expected a MAC address/);
  oneLineError(await f.cli(['client', 'add', '--name', 'pc-2', '--image', 'base', '--mac', '52-54-00-00-00-01']), /MAC 52:54:00:00:00:01 already belongs to seat 'pc-1'/);
  oneLineError(await f.cli(['client', 'add', '--name', 'PC 2', '--image', 'base']), /--name: expected a seat name/);
  oneLineError(await f.cli(['client', 'add', '--image', 'base']), /seat add: --name is required/);
  oneLineError(await f.cli(['client', 'add', '--name', 'pc-2', '--image', 'base', '--mode', 'frozen']), /--mode: expected one of fresh, persistent, maintenance, install/);
  oneLineError(await f.cli(['client', 'add', '--name', 'pc-2', '--mode', 'install']), /seat add: --size is required/);
  oneLineError(await f.cli(['client', 'add', '--name', 'pc-2', '--image', 'base', '--initiator', 'bogus']), /--initiator: expected an iSCSI name/);
  oneLineError(await f.cli(['client', 'add', '--name', 'pc-2', '--image', 'base', '--bogus']), /seat add: Unknown option '--bogus'/);
  oneLineError(await f.cli(['client', 'frobnicate']), /client: expected one of add, list, show, reset, remove, mode, .*, got 'frobnicate'/);
  oneLineError(await f.cli(['dance']), /unknown command 'dance'/);
  oneLineError(await f.cli(['client', 'reset', 'ghost']), /seat 'ghost' does not exist/);
  oneLineError(await f.cli(['client', 'remove', 'ghost']), /seat 'ghost' does not exist/);
  oneLineError(await f.cli(['image', 'import', path.join(f.dataDir, 'missing.raw'), '--name', 'x']), /cannot read .*missing\.raw: ENOENT/);
  oneLineError(await f.cli(['image', 'import', writeImage(f.dataDir, 'odd.raw', 1000), '--name', 'x']), /is 1000 bytes; a raw disk image is a non-empty multiple of 512 bytes/);
  oneLineError(await f.cli(['image', 'import', f.dataDir, '--name', 'x']), /is not a regular file/);
  oneLineError(await f.cli(['image', 'import', writeImage(f.dataDir, 'ok.raw', 512), '--name', 'Bad']), /--name: expected an image name/);

  assert.equal(engine.calls.length, before, 'no engine call for refused input');
  const clients = JSON.parse((await f.cli(['client', 'list', '--json'])).stdout);
  assert.deepEqual(clients.map((c: { name: string }) => c.name), ['pc-1']);
  const images = JSON.parse((await f.cli(['image', 'list', '--json'])).stdout);
  assert.deepEqual(images.map((i: { name: string }) => i.name), ['base']);
});

test('the API validates on its own too (not only the CLI): bad JSON, unknown fields, bad names', async (t) => {
  const f = await startFixture(t);
  const socketPath = path.join(f.dataDir, 'lanboot.sock');
  const request = (method: string, urlPath: string, body?: string) =>
    new Promise<{ status: number; body: { error?: { code: string; message: string } } }>((resolve, reject) => {
      const req = http.request({ socketPath, method, path: urlPath, headers: { 'content-type': 'application/json' } }, (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
      });
      req.on('error', reject);
      req.end(body);
    });
  assert.equal((await request('POST', '/api/v1/clients', '{nope')).status, 400);
  const unknown = await request('POST', '/api/v1/clients', JSON.stringify({ name: 'a', image: 'b', admin: true }));
  assert.equal(unknown.status, 400);
  assert.match(unknown.body.error!.message, /unknown field 'admin'/);
  const badName = await request('POST', '/api/v1/clients', JSON.stringify({ name: '../../etc', image: 'b' }));
  assert.equal(badName.status, 400);
  assert.equal(badName.body.error!.code, 'LANBOOT_INVALID_INPUT');
  const huge = await request('POST', '/api/v1/clients', JSON.stringify({ name: 'x'.repeat(100_000), image: 'b' }));
  assert.equal(huge.status, 413);
  const badImage = await request('POST', '/api/v1/images/..%2F..%2Fx/versions', 'data');
  assert.equal(badImage.status, 400);
  assert.equal((await request('GET', '/api/v1/nothing')).status, 404);
  const noImage = await request('GET', '/api/v1/images/nope');
  assert.equal(noImage.status, 404);
  assert.equal(noImage.body.error!.code, 'LANBOOT_IMAGE_NOT_FOUND');
  await f.cli(['image', 'import', writeImage(f.dataDir, 'g.raw', 1024), '--name', 'one']);
  const one = await request('GET', '/api/v1/images/one');
  assert.equal(one.status, 200);
  assert.equal((one.body as unknown as { latestVersion: number }).latestVersion, 1);
  assert.equal(fs.statSync(socketPath).mode & 0o777, 0o600, 'the local API socket is 0600');
});

test('the LAN-facing HTTP port serves /healthz openly and the API only behind the web login', async (t) => {
  // The full matrix (every route, CSRF, rate limit) is test/integration/web-security.test.ts.
  const f = await startFixture(t);
  const s = JSON.parse((await f.cli(['status', '--json'])).stdout);
  const base = `http://127.0.0.1:${s.http.port}`;
  assert.deepEqual(await (await fetch(`${base}/healthz`)).json(), { ok: true });
  for (const [method, p] of [['GET', '/api/v1/status'], ['GET', '/api/v1/clients'], ['POST', '/api/v1/clients']] as const) {
    const response = await fetch(`${base}${p}`, { method, body: method === 'POST' ? '{}' : undefined });
    assert.equal(response.status, 403, `${method} ${p}`);
    assert.equal((await response.json()).error.code, 'LANBOOT_SETUP_REQUIRED');
  }
});

test('an image larger than the free space is refused at once, with one line', async (t) => {
  const f = await startFixture(t);
  const fsStat = fs.statfsSync(f.dataDir);
  const sparse = path.join(f.dataDir, 'huge.raw');
  fs.closeSync(fs.openSync(sparse, 'w'));
  // Sparse, and bigger than the whole file system: it cannot fit whatever others free.
  fs.truncateSync(sparse, (Math.ceil((fsStat.blocks * fsStat.bsize) / 512) + 2 * 1024 * 1024) * 512);
  const started = Date.now();
  oneLineError(await f.cli(['image', 'import', sparse, '--name', 'huge']), /image huge: not enough space in .*: the image needs \d+ bytes, \d+ are free/);
  assert.ok(Date.now() - started < 20_000, 'refused without streaming the whole file');
  assert.deepEqual(JSON.parse((await f.cli(['image', 'list', '--json'])).stdout), []);
});

test('import progress goes to stderr when it is a TTY', async (t) => {
  const f = await startFixture(t);
  const result = await f.cli(['image', 'import', writeImage(f.dataDir, 'g.raw', 8 * 1024 * 1024), '--name', 'big'], { tty: true });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /importing big: .*8\.0 MiB of 8\.0 MiB \(100%\), .*\/s/);
  assert.match(result.stdout, /^image big v1: 8\.0 MiB, sha256 [0-9a-f]{64}\n$/);
});

test('no supervisor: one line naming the data dir', async (t) => {
  const dir = fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', 'lanboot-none-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const args of [['status'], ['client', 'list', '--json'], ['image', 'list']]) {
    oneLineError(await runCliCaptured(args, dir), /^lanboot: no supervisor running for \.\/lanboot-data \(start it with `lanboot serve`\)\n$/);
  }
  oneLineError(await runCliCaptured(['status', '--data', 'elsewhere'], dir), /no supervisor running for elsewhere /);
  // A stale socket file (a killed supervisor) reads the same.
  fs.mkdirSync(path.join(dir, 'lanboot-data'));
  fs.writeFileSync(path.join(dir, 'lanboot-data', 'lanboot.sock'), '');
  oneLineError(await runCliCaptured(['status'], dir), /no supervisor running for \.\/lanboot-data/);
});
