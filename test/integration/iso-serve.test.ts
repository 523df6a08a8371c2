// The ISO library through a real supervisor (`lanboot serve`): an ISO imported with the CLI
// shows in `lanboot iso list --json` with its URL, and that URL serves the file's bytes
// (whole and by Range, with curl) on the LAN HTTP port without a login.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { startLanboot } from '../helpers/supervisor.js';
import { describeRun, requireTools, runTool, tempDir } from '../helpers/tools.js';
import type { IsoListEntry } from '../../src/web/views.js';

// Debian's ipxe package ships a bootable ISO.
const SOURCE_ISO = '/usr/lib/ipxe/ipxe.iso';
requireTools('curl');

test('iso list shows an imported ISO; its URL serves the bytes with ranges', { timeout: 120_000 }, async (t) => {
  assert.ok(fs.existsSync(SOURCE_ISO), `${SOURCE_ISO} is missing: install Debian's ipxe package`);
  const dir = await tempDir(t, 'lanboot-iso-serve-');
  const source = fs.readFileSync(SOURCE_ISO);
  const sourceSha = crypto.createHash('sha256').update(source).digest('hex');
  const lanboot = await startLanboot(t);

  const empty = await lanboot.cli(['iso', 'list']);
  assert.equal(empty.code, 0, empty.stderr);
  assert.match(empty.stdout, /^no ISO files/);

  const imported = await lanboot.cliJson<{ isoFile?: string }>(['image', 'import', SOURCE_ISO, '--name', 'tools', '--iso-name', 'ipxe.iso', '--json']);
  assert.ok(imported);
  const list = await lanboot.cliJson<IsoListEntry[]>(['iso', 'list', '--json']);
  assert.equal(list.length, 1);
  const iso = list[0]!;
  assert.equal(iso.image, 'tools');
  assert.equal(iso.fileName, 'ipxe.iso');
  assert.equal(iso.sizeBytes, source.length);
  assert.equal(iso.sha256, sourceSha);
  assert.equal(iso.url, `http://127.0.0.1:${lanboot.httpPort}/iso/tools/ipxe.iso`);

  const text = await lanboot.cli(['iso', 'list']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^NAME +SIZE +SHA256 +URL\n/);
  assert.ok(text.stdout.includes(`tools/ipxe.iso`) && text.stdout.includes(sourceSha) && text.stdout.includes(iso.url));

  // The whole file, as nginx would serve it, without a login.
  const whole = path.join(dir, 'whole.iso');
  const r1 = await runTool('curl', ['-sS', '--fail', '-o', whole, iso.url]);
  assert.equal(r1.code, 0, describeRun('curl', r1));
  assert.equal(crypto.createHash('sha256').update(fs.readFileSync(whole)).digest('hex'), sourceSha);

  // A range, as iPXE's SAN device asks: 206 with the right bytes.
  const part = path.join(dir, 'part');
  const r2 = await runTool('curl', ['-sS', '--fail', '-o', part, '-D', '-', '-H', 'Range: bytes=32768-40959', iso.url]);
  assert.equal(r2.code, 0, describeRun('curl', r2));
  assert.match(r2.stdout, /^HTTP\/1\.1 206 /);
  assert.match(r2.stdout, new RegExp(`content-range: bytes 32768-40959/${source.length}`, 'i'));
  assert.match(r2.stdout, new RegExp(`etag: "${sourceSha}"`, 'i'));
  assert.ok(fs.readFileSync(part).equals(source.subarray(32768, 40960)));

  // Under any Host name (iPXE may use a DNS name), and unknown files are 404.
  const r3 = await runTool('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Host: boot.example.com', '-r', '0-0', iso.url]);
  assert.equal(r3.stdout, '206');
  for (const bad of ['/iso/tools/other.iso', '/iso/nope/ipxe.iso', '/iso/tools/..%2Fx.iso', '/iso/tools/ipxe.iso/x', '/iso/Tools/ipxe.iso']) {
    const r = await runTool('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${lanboot.httpPort}${bad}`]);
    assert.equal(r.stdout, '404', bad);
  }

  // The API on the LAN port needs a login; the ISO does not.
  const r4 = await runTool('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${lanboot.httpPort}/api/v1/isos`]);
  assert.notEqual(r4.stdout, '200');
});
