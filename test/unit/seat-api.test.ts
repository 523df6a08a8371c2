// Hostile and mistaken input to the seat routes (modes, quotas, move, snapshots, commit):
// one clear line from the CLI, the right HTTP status from the API, nothing stored. The local
// API runs in process with the recording engine (support/recording-engine.ts) standing in
// for the addon; the real engine runs these paths in test/integration/seat-modes.test.ts.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { test } from 'node:test';
import { startFixture } from './support/supervisor-fixture.js';

function oneLineError(result: { code: number; stdout: string; stderr: string }, message: RegExp): void {
  assert.equal(result.code, 1, `exit code; stdout: ${result.stdout}`);
  assert.match(result.stderr, /^lanboot: [^\n]+\n$/, `exactly one line on stderr: ${result.stderr}`);
  assert.match(result.stderr, message);
}

function request(socketPath: string, method: string, url: string, body?: string): Promise<{ status: number; json: { error?: { code: string; message: string } } }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method, path: url, headers: body === undefined ? {} : { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('seat routes refuse bad input with a clear message and change nothing', async (t) => {
  const f = await startFixture(t);
  const image = path.join(f.dataDir, 'golden.raw');
  fs.writeFileSync(image, Buffer.alloc(1024 * 1024, 7));
  assert.equal((await f.cli(['image', 'import', image, '--name', 'base'])).code, 0);
  assert.equal((await f.cli(['client', 'add', '--name', 'pc', '--image', 'base', '--mode', 'persistent'])).code, 0);
  const before = (await f.cli(['client', 'show', 'pc', '--json'])).stdout;

  oneLineError(await f.cli(['client', 'mode', 'pc', 'frozen']), /MODE: expected one of fresh, persistent, maintenance, install, got 'frozen'/);
  oneLineError(await f.cli(['client', 'mode', 'pc']), /seat mode: missing SEAT MODE/);
  oneLineError(await f.cli(['client', 'quota', 'pc', '10Q']), /quota: expected a size like 64G, 512M or a number of bytes, got '10Q'/);
  oneLineError(await f.cli(['client', 'quota', 'pc', '100']), /quota: '100' is out of range/);
  oneLineError(await f.cli(['client', 'move', 'pc', '--version', 'abc']), /version: expected a version number like 3, got 'abc'/);
  oneLineError(await f.cli(['client', 'move', 'pc', '--version', '9']), /image 'base' has no version 9/);
  oneLineError(await f.cli(['client', 'restore', 'pc', 'x/../../y']), /snapshot: expected a snapshot number like 2|no route/);
  oneLineError(await f.cli(['client', 'restore', 'pc', '3']), /seat pc has no snapshot 3/);
  oneLineError(await f.cli(['client', 'snapshot-delete', 'pc', '0']), /snapshot: expected a snapshot number/);
  oneLineError(await f.cli(['client', 'snapshot', 'pc', '--label', '<script>']), /label: expected 1-64 letters/);
  oneLineError(await f.cli(['client', 'trace', 'pc', 'maybe']), /seat trace: expected on or off, got 'maybe'/);
  oneLineError(await f.cli(['client', 'trace', 'ghost', 'on']), /seat 'ghost' does not exist/);
  oneLineError(await f.cli(['client', 'commit', 'pc']), /in persistent mode: only a maintenance seat/);
  oneLineError(await f.cli(['client', 'add', '--name', 'big', '--mode', 'install', '--size', '100T']), /size: '100T' is out of range/);
  oneLineError(await f.cli(['image', 'move-seats', 'nope']), /image 'nope' does not exist/);
  assert.equal((await f.cli(['client', 'show', 'pc', '--json'])).stdout, before, 'the seat is unchanged');

  const socket = path.join(f.dataDir, 'lanboot.sock');
  const cases: [string, string, string | undefined, number, RegExp][] = [
    ['POST', '/api/v1/clients/pc/mode', '{"mode":"fresh","extra":1}', 400, /unknown field 'extra'/],
    ['POST', '/api/v1/clients/pc/mode', '[1]', 400, /expected a JSON object/],
    ['POST', '/api/v1/clients/pc/quota', '{}', 400, /quota is required/],
    ['POST', '/api/v1/clients/pc/trace', '{"on":"maybe"}', 400, /trace: expected on or off, got 'maybe'/],
    ['POST', '/api/v1/clients/pc/trace', '{}', 400, /trace: expected on or off/],
    ['POST', '/api/v1/clients/ghost/trace', '{"on":true}', 404, /seat 'ghost' does not exist/],
    ['POST', '/api/v1/clients/pc/quota', '{"quota":{"a":1}}', 400, /expected a size/],
    ['POST', '/api/v1/clients/move', '{}', 400, /image: expected an image name/],
    ['POST', '/api/v1/clients/move', '{"image":"base","version":1.5}', 400, /expected a version number/],
    ['POST', '/api/v1/clients/pc/commit', '{"force":"yes"}', 400, /force: expected true or false/],
    ['POST', '/api/v1/clients/ghost/commit', undefined, 404, /seat 'ghost' does not exist/],
    ['POST', '/api/v1/clients/pc/snapshots/7/restore', undefined, 404, /no snapshot 7/],
    ['POST', '/api/v1/clients', '{"name":"i2","mode":"install","size":"1G","image":"base"}', 400, /blank disk/],
  ];
  for (const [method, url, body, status, message] of cases) {
    const r = await request(socket, method, url, body);
    assert.equal(r.status, status, `${method} ${url} ${body}: ${JSON.stringify(r.json)}`);
    assert.match(r.json.error?.message ?? '', message, `${method} ${url}`);
  }
  const seats = JSON.parse((await f.cli(['client', 'list', '--json'])).stdout) as { name: string }[];
  assert.deepEqual(seats.map((s) => s.name), ['pc'], 'nothing was added');
});

test('/api/v1/seats is the seat routes\' name; /api/v1/clients answers the same', async (t) => {
  const f = await startFixture(t);
  const image = path.join(f.dataDir, 'golden.raw');
  fs.writeFileSync(image, Buffer.alloc(1024 * 1024, 7));
  assert.equal((await f.cli(['image', 'import', image, '--name', 'base'])).code, 0);
  assert.equal((await f.cli(['client', 'add', '--name', 'pc', '--image', 'base'])).code, 0);
  const socket = path.join(f.dataDir, 'lanboot.sock');
  for (const base of ['/api/v1/seats', '/api/v1/clients']) {
    const list = await request(socket, 'GET', base);
    assert.equal(list.status, 200, base);
    assert.deepEqual((list.json as unknown as { name: string }[]).map((s) => s.name), ['pc'], base);
    const one = await request(socket, 'GET', `${base}/pc`);
    assert.equal(one.status, 200, `${base}/pc`);
    assert.equal((one.json as unknown as { name: string; image: string }).image, 'base');
    const trace = await request(socket, 'POST', `${base}/pc/trace`, '{"on":true}');
    assert.equal(trace.status, 200, `${base}/pc/trace`);
    assert.equal((trace.json as unknown as { on: boolean }).on, true);
    assert.equal((await request(socket, 'POST', `${base}/pc/trace`, '{"on":"off"}')).status, 200);
    assert.equal(((await request(socket, 'GET', `${base}/pc/trace`)).json as unknown as { on: boolean }).on, false);
    const bad = await request(socket, 'POST', `${base}/pc/mode`, '{"mode":"frozen"}');
    assert.equal(bad.status, 400, `${base}/pc/mode`);
    assert.equal((await request(socket, 'GET', `${base}/ghost`)).status, 404, `${base}/ghost`);
  }
  // Added through the canonical name, visible through the alias.
  const added = await request(socket, 'POST', '/api/v1/seats', '{"name":"pc2","image":"base"}');
  assert.equal(added.status, 201, JSON.stringify(added.json));
  const viaAlias = await request(socket, 'GET', '/api/v1/clients/pc2');
  assert.equal(viaAlias.status, 200);
});
