// The image CLI end to end through a real supervisor (`lanboot serve` on a temp data dir):
// import of several formats, list/show, rollback, delete/prune refusals, import history;
// and the import crash: kill -9 of the supervisor in the middle of a large import, restart,
// the job shows as failed/interrupted, no partial, versions unchanged.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { addSeat, startLanboot } from '../helpers/supervisor.js';
import { describeRun, repoRoot, requireTools, runTool, tempDir, waitFor } from '../helpers/tools.js';
import { makeSourceDisk } from '../helpers/image-sources.js';
import type { ImportJob } from '../../src/storage/import-manager.js';
import type { ImageView } from '../../src/web/views.js';

requireTools('qemu-img', 'sfdisk');

const lanbootMain = path.join(repoRoot, 'dist', 'src', 'cli', 'main.js');

function oneLineError(r: { code: number | null; stderr: string }, message: RegExp): void {
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, message);
  assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
}

test('image import (qcow2, raw), list, show, rollback, delete, prune and imports through the CLI', { timeout: 180_000 }, async (t) => {
  const dir = await tempDir(t, 'lanboot-image-cli-');
  const lanboot = await startLanboot(t);
  const raw = await makeSourceDisk(dir, 'disk.img', 16 * 1024 * 1024);
  const qcow2 = path.join(dir, 'disk.qcow2');
  const converted = await runTool('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, qcow2]);
  assert.equal(converted.code, 0, describeRun('qemu-img convert', converted));

  const v1 = await lanboot.cliJson<{ number: number; format: string; path: string; current: boolean; source: string }>(['image', 'import', qcow2, '--name', 'golden', '--json']);
  assert.equal(v1.number, 1);
  assert.equal(v1.format, 'qcow2');
  assert.equal(v1.current, true);
  assert.equal(v1.source, `file ${qcow2}`);
  const cmp = await runTool('qemu-img', ['compare', '-f', 'qcow2', '-F', 'raw', qcow2, v1.path]);
  assert.equal(cmp.code, 0, describeRun('qemu-img compare', cmp));
  const plain = await lanboot.cli(['image', 'import', raw, '--name', 'golden']);
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stdout, /^image golden v2: 16\.0 MiB, sha256 [0-9a-f]{64}\n$/);

  // A seat on v2, then rollback to v1: v1 is current, v2 still used by the seat.
  await addSeat(lanboot, { name: 'pc-1', image: 'golden' });
  const rolled = await lanboot.cli(['image', 'rollback', 'golden', '--version', '1']);
  assert.equal(rolled.code, 0, rolled.stderr);
  assert.match(rolled.stdout, /current version is now v1/);
  const view = await lanboot.cliJson<ImageView>(['image', 'show', 'golden', '--json']);
  assert.equal(view.currentVersion, 1);
  assert.equal(view.latestVersion, 2);
  assert.deepEqual(view.versions.map((v) => [v.number, v.current, v.seats]), [
    [1, true, []],
    [2, false, ['pc-1']],
  ]);
  const shown = await lanboot.cli(['image', 'show', 'golden']);
  assert.match(shown.stdout, /v1 \(current\)/);
  assert.match(shown.stdout, /seats: pc-1/);
  const listed = await lanboot.cli(['image', 'list']);
  assert.match(listed.stdout, /golden\s+v1 \(current\)/);

  oneLineError(await lanboot.cli(['image', 'delete', 'golden', '--version', '1']), /v1 is the current version; roll back to another version first/);
  oneLineError(await lanboot.cli(['image', 'delete', 'golden', '--version', '2']), /v2 is used by seat pc-1; reset or remove it first/);
  oneLineError(await lanboot.cli(['image', 'delete', 'golden', '--version', '7']), /has no version 7/);
  oneLineError(await lanboot.cli(['image', 'rollback', 'golden', '--version', 'x']), /--version: expected a version number/);
  const nothing = await lanboot.cli(['image', 'prune', 'golden']);
  assert.match(nothing.stdout, /nothing to prune/);

  // v3, then roll back to v1 again: v3 is neither current nor used -> prune removes it.
  assert.equal((await lanboot.cli(['image', 'import', raw, '--name', 'golden'])).code, 0);
  assert.equal((await lanboot.cli(['image', 'rollback', 'golden', '--version', '1'])).code, 0);
  const pruned = await lanboot.cliJson<{ deleted: number[]; freedBytes: number }>(['image', 'prune', 'golden', '--json']);
  assert.deepEqual(pruned.deleted, [3]);
  assert.equal(pruned.freedBytes, 16 * 1024 * 1024);

  // A damaged source fails with one clear line and shows in the history.
  const bad = path.join(dir, 'bad.qcow2');
  const bytes = fs.readFileSync(qcow2);
  for (let i = 8; i < 16; i++) bytes[i]! ^= 0xa5;
  fs.writeFileSync(bad, bytes);
  oneLineError(await lanboot.cli(['image', 'import', bad, '--name', 'golden']), /bad\.qcow2: images with a backing file are not supported/);
  const history = await lanboot.cliJson<ImportJob[]>(['image', 'imports', '--json']);
  assert.deepEqual(history.map((j) => [j.state, j.format, j.version]), [
    ['failed', null, null],
    ['done', 'raw', 3],
    ['done', 'raw', 2],
    ['done', 'qcow2', 1],
  ]);
  const table = await lanboot.cli(['image', 'imports']);
  assert.match(table.stdout, /failed: bad\.qcow2: images with a backing file are not supported/);
  assert.match(table.stdout, /done: v1/);
});

/** POSTs a file as the request body on the local API socket. */
function upload(socketPath: string, url: string, file: string): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const size = fs.statSync(file).size;
    const req = http.request({ socketPath, method: 'POST', path: url, headers: { 'content-type': 'application/octet-stream', 'content-length': size } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
    });
    req.on('error', reject);
    fs.createReadStream(file).pipe(req);
  });
}

test('POST /api/v1/images/:name/versions takes any format: raw streamed, qcow2 staged and converted, damage refused', { timeout: 120_000 }, async (t) => {
  const dir = await tempDir(t, 'lanboot-image-upload-');
  const lanboot = await startLanboot(t);
  const socket = path.join(lanboot.dataDir, 'lanboot.sock');
  const raw = await makeSourceDisk(dir, 'disk.img', 8 * 1024 * 1024);
  const vhdx = path.join(dir, 'disk.vhdx');
  assert.equal((await runTool('qemu-img', ['convert', '-f', 'raw', '-O', 'vhdx', raw, vhdx])).code, 0);
  const first = await upload(socket, '/api/v1/images/up/versions', raw);
  assert.equal(first.status, 201, JSON.stringify(first.body));
  assert.equal(first.body['number'], 1);
  assert.equal(first.body['source'], 'upload');
  const second = await upload(socket, '/api/v1/images/up/versions', vhdx);
  assert.equal(second.status, 201, JSON.stringify(second.body));
  assert.equal(second.body['number'], 2);
  const cmp = await runTool('qemu-img', ['compare', '-f', 'vhdx', '-F', 'raw', vhdx, String(second.body['path'])]);
  assert.equal(cmp.code, 0, describeRun('qemu-img compare', cmp));
  const bad = path.join(dir, 'bad.vhdx');
  const bytes = fs.readFileSync(vhdx);
  for (const o of [65536 + 4, 131072 + 4]) bytes[o]! ^= 0xff;
  fs.writeFileSync(bad, bytes);
  const refused = await upload(socket, '/api/v1/images/up/versions', bad);
  assert.equal(refused.status, 400);
  assert.match(String((refused.body['error'] as { message: string }).message), /^upload: not a readable disk image/);
  const cut = path.join(dir, 'cut.img');
  fs.writeFileSync(cut, fs.readFileSync(raw).subarray(0, 4 * 1024 * 1024));
  const truncated = await upload(socket, '/api/v1/images/up/versions', cut);
  assert.equal(truncated.status, 400);
  assert.match(String((truncated.body['error'] as { message: string }).message), /^image up: upload: the GPT says the disk has 16384 sectors but the file has 8192/);
  assert.deepEqual(fs.readdirSync(path.join(lanboot.dataDir, 'staging')), [], 'staged uploads removed');
  assert.deepEqual(fs.readdirSync(path.join(lanboot.dataDir, 'images', 'up')).sort(), ['v1.img', 'v2.img']);
});

test('kill -9 during a large import: after restart the job is failed (interrupted), no partial, versions unchanged', { timeout: 180_000 }, async (t) => {
  const dir = await tempDir(t, 'lanboot-image-crash-');
  const lanboot = await startLanboot(t);
  const small = await makeSourceDisk(dir, 'small.img', 8 * 1024 * 1024);
  assert.equal((await lanboot.cli(['image', 'import', small, '--name', 'golden'])).code, 0);
  // 768 MiB of non-zero data: every block is copied, slow enough to be caught mid-copy.
  const big = path.join(dir, 'big.img');
  const fd = fs.openSync(big, 'w');
  const block = Buffer.alloc(4 * 1024 * 1024, 0x5a);
  for (let i = 0; i < 192; i++) {
    block.writeUInt32LE(i, 0);
    fs.writeSync(fd, block);
  }
  fs.closeSync(fd);
  const imageDir = path.join(lanboot.dataDir, 'images', 'golden');
  const importer = spawn(process.execPath, [lanbootMain, 'image', 'import', big, '--name', 'golden', '--data', lanboot.dataDir], { cwd: repoRoot, stdio: 'ignore' });
  t.after(() => {
    importer.kill('SIGKILL');
  });
  await waitFor('a .partial of the import', async () => (fs.readdirSync(imageDir).some((f) => f.endsWith('.partial')) ? true : undefined), 60_000, 5);
  await lanboot.kill9();
  assert.ok(fs.readdirSync(imageDir).some((f) => f.endsWith('.partial')), 'the crash left a .partial');
  await new Promise<void>((resolve) => (importer.exitCode !== null ? resolve() : importer.once('exit', () => resolve())));
  assert.notEqual(importer.exitCode, 0, 'the CLI reports the lost supervisor');

  await lanboot.restart();
  assert.deepEqual(fs.readdirSync(imageDir).sort(), ['v1.img'], 'partial removed at start');
  const images = await lanboot.cliJson<ImageView[]>(['image', 'list', '--json']);
  assert.deepEqual(images[0]!.versions.map((v) => v.number), [1]);
  assert.equal(images[0]!.currentVersion, 1);
  const [job] = await lanboot.cliJson<ImportJob[]>(['image', 'imports', '--json', '--limit', '1']);
  assert.equal(job!.state, 'failed');
  assert.equal(job!.error!.code, 'LANBOOT_IMPORT_INTERRUPTED');
  assert.match(job!.error!.message, /interrupted: lanboot restarted during the import/);
  const table = await lanboot.cli(['image', 'imports']);
  assert.match(table.stdout, /failed: interrupted: lanboot restarted during the import/);
});
