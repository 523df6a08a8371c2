// The real supervisor process across restarts and crashes: seats come back with the same
// identity and credentials, a kill -9 leaves nothing that blocks the next start, a
// half-imported image never shows up, and the systemd watchdog is fed.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { test, type TestContext } from 'node:test';
import { exited, lanboot, lanbootJson, lanbootMain, repoRoot, run, serve, startNotifyListener, waitFor, type Serve } from '../unit/support/cli-process.js';

function tempRoot(t: TestContext): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lanboot-sup-it-'));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  return root;
}

function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NOTIFY_SOCKET: '', ...extra };
  delete env.LANBOOT_DATA;
  if (extra.WATCHDOG_USEC === undefined) delete env.WATCHDOG_USEC;
  return env;
}

async function started(server: Serve, dataDir: string): Promise<{ iscsi: { port: number }; http: { port: number } }> {
  return waitFor(
    'lanboot status --json',
    async () => {
      if (server.child.exitCode !== null) assert.fail(`lanboot serve exited ${server.child.exitCode}:\n${server.output()}`);
      const r = await lanboot(dataDir, ['status', '--json']);
      return r.code === 0 ? JSON.parse(r.stdout) : undefined;
    },
    60_000,
  );
}

async function inquiry(port: number, seat: { initiatorIqns: string[]; targetIqn: string; chap: { user: string; secret: string } }) {
  return run('iscsi-inq', ['-i', seat.initiatorIqns[0]!, `iscsi://${seat.chap.user}%${seat.chap.secret}@127.0.0.1:${port}/${seat.targetIqn}/0`], { timeoutMs: 30_000 });
}

test('seats survive a graceful restart and a kill -9 with the same identity and credentials', { timeout: 240_000 }, async (t) => {
  const root = tempRoot(t);
  const dataDir = path.join(root, 'data');
  const golden = path.join(root, 'g.raw');
  fs.writeFileSync(golden, Buffer.alloc(2 * 1024 * 1024, 0x33));

  let server = serve(t, dataDir, cleanEnv());
  let status = await started(server, dataDir);
  assert.equal((await lanboot(dataDir, ['image', 'import', golden, '--name', 'base'])).code, 0);
  assert.equal((await lanboot(dataDir, ['client', 'add', '--name', 'pc-1', '--image', 'base', '--mode', 'persistent'])).code, 0);
  const before = await lanbootJson(dataDir, ['client', 'show', 'pc-1']);
  assert.equal((await inquiry(status.iscsi.port, before)).code, 0);

  // Graceful restart.
  server.child.kill('SIGTERM');
  assert.equal(await exited(server.child), 0);
  server = serve(t, dataDir, cleanEnv());
  status = await started(server, dataDir);
  const afterRestart = await lanbootJson(dataDir, ['client', 'show', 'pc-1']);
  for (const key of ['targetIqn', 'initiatorIqns', 'chap', 'serial', 'naa', 'mode', 'image', 'version']) {
    assert.deepEqual(afterRestart[key], before[key], key);
  }
  const inq = await inquiry(status.iscsi.port, afterRestart);
  assert.equal(inq.code, 0, `iscsi-inq after restart: ${inq.stderr}`);

  // A crash: the stale lock file and socket must not block the next start.
  server.child.kill('SIGKILL');
  await exited(server.child);
  assert.ok(fs.existsSync(path.join(dataDir, 'lanboot.lock')), 'kill -9 leaves the lock file behind');
  assert.ok(fs.existsSync(path.join(dataDir, 'lanboot.sock')), 'and the socket file');
  server = serve(t, dataDir, cleanEnv());
  status = await started(server, dataDir);
  const afterCrash = await lanbootJson(dataDir, ['client', 'show', 'pc-1']);
  assert.deepEqual(afterCrash.chap, before.chap);
  assert.equal((await inquiry(status.iscsi.port, afterCrash)).code, 0);
  server.child.kill('SIGTERM');
  assert.equal(await exited(server.child), 0);
});

test('an import cut short by a crash never shows up, and its .partial is removed at the next start', { timeout: 240_000 }, async (t) => {
  const root = tempRoot(t);
  const dataDir = path.join(root, 'data');
  const big = path.join(root, 'big.raw');
  // Sparse: costs no disk to create, still streams 2 GiB of zeros.
  fs.closeSync(fs.openSync(big, 'w'));
  fs.truncateSync(big, 2 * 1024 * 1024 * 1024);

  let server = serve(t, dataDir, cleanEnv());
  await started(server, dataDir);
  const importer = spawn(process.execPath, [lanbootMain, 'image', 'import', big, '--name', 'big', '--data', dataDir], { cwd: repoRoot, stdio: 'ignore' });
  t.after(() => {
    importer.kill('SIGKILL');
  });
  const imageDir = path.join(dataDir, 'images', 'big');
  await waitFor(
    'a .partial with data in it',
    () => {
      if (!fs.existsSync(imageDir)) return undefined;
      const partial = fs.readdirSync(imageDir).find((f) => f.endsWith('.partial'));
      return partial !== undefined && fs.statSync(path.join(imageDir, partial)).size > 0 ? partial : undefined;
    },
    60_000,
  );
  assert.deepEqual(await lanbootJson(dataDir, ['image', 'list']), [], 'not listed while being written');
  server.child.kill('SIGKILL');
  await exited(server.child);
  await exited(importer);
  assert.ok(fs.readdirSync(imageDir).some((f) => f.endsWith('.partial')), 'the crash left a .partial');

  server = serve(t, dataDir, cleanEnv());
  await started(server, dataDir);
  assert.deepEqual(fs.readdirSync(imageDir), [], 'leftover removed at start');
  assert.deepEqual(await lanbootJson(dataDir, ['image', 'list']), []);
  const cleanupLine = server
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((l) => l.msg === 'removed unfinished image imports left by an earlier run');
  assert.equal((cleanupLine?.removedPartials as string[] | undefined)?.length, 1);
  server.child.kill('SIGTERM');
  assert.equal(await exited(server.child), 0);
});

test('systemd watchdog: WATCHDOG=1 about every WATCHDOG_USEC/2 on the NOTIFY_SOCKET', { timeout: 120_000 }, async (t) => {
  const root = tempRoot(t);
  const dataDir = path.join(root, 'data');
  const notify = await startNotifyListener(t, path.join(root, 'notify.sock'));
  const server = serve(t, dataDir, cleanEnv({ NOTIFY_SOCKET: path.join(root, 'notify.sock'), WATCHDOG_USEC: '400000' }));
  await started(server, dataDir);
  await waitFor('three WATCHDOG=1 pings', () => (notify.messages().filter((m) => m === 'WATCHDOG=1').length >= 3 ? true : undefined), 20_000);
  const messages = notify.messages();
  assert.ok(messages[0]!.startsWith('READY=1'), `first message is READY=1: ${JSON.stringify(messages.slice(0, 3))}`);
  server.child.kill('SIGINT');
  assert.equal(await exited(server.child), 0, 'SIGINT stops gracefully too');
  assert.ok(notify.messages().some((m) => m.startsWith('STOPPING=1')));
});

test('client reset brings back golden data, and moves the seat to a newly imported version', { timeout: 240_000 }, async (t) => {
  const root = tempRoot(t);
  const dataDir = path.join(root, 'data');
  const v1 = Buffer.alloc(1024 * 1024, 0x33);
  const v2 = Buffer.alloc(1024 * 1024, 0x44);
  fs.writeFileSync(path.join(root, 'v1.raw'), v1);
  fs.writeFileSync(path.join(root, 'v2.raw'), v2);
  const server = serve(t, dataDir, cleanEnv());
  const status = await started(server, dataDir);
  assert.equal((await lanboot(dataDir, ['image', 'import', path.join(root, 'v1.raw'), '--name', 'base'])).code, 0);
  assert.equal((await lanboot(dataDir, ['client', 'add', '--name', 'pc-1', '--image', 'base', '--mode', 'persistent'])).code, 0);
  const seat = await lanbootJson(dataDir, ['client', 'show', 'pc-1']);
  // qemu's libiscsi block driver, with the seat's initiator name and CHAP credentials.
  const imageOpts = [
    'driver=iscsi',
    'transport=tcp',
    `portal=127.0.0.1:${status.iscsi.port}`,
    `target=${seat.targetIqn}`,
    'lun=0',
    `user=${seat.chap.user}`,
    `password=${seat.chap.secret}`,
    `initiator-name=${seat.initiatorIqns[0]}`,
  ].join(',');
  const write = async () => {
    const r = await run('qemu-io', ['--image-opts', imageOpts, '-c', 'write -P 0x55 0 4096'], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, `qemu-io write: ${r.stderr}${r.stdout}`);
  };
  const readDisk = async (name: string) => {
    const out = path.join(root, name);
    const r = await run('qemu-img', ['convert', '-O', 'raw', '--image-opts', imageOpts, out], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, `qemu-img convert: ${r.stderr}${r.stdout}`);
    return fs.readFileSync(out);
  };

  await write();
  const written = await readDisk('written.raw');
  assert.equal(written[0], 0x55, 'the seat sees its write');
  assert.ok(fs.readFileSync(path.join(dataDir, 'images', 'base', 'v1.img')).equals(v1), 'the golden file never changes');
  assert.equal((await lanboot(dataDir, ['client', 'reset', 'pc-1'])).code, 0);
  assert.ok((await readDisk('reset.raw')).equals(v1), 'after reset: golden v1 again');

  await write();
  assert.equal((await lanboot(dataDir, ['image', 'import', path.join(root, 'v2.raw'), '--name', 'base'])).code, 0);
  assert.equal((await lanbootJson(dataDir, ['client', 'show', 'pc-1'])).version, 1, 'a new version waits for the reset');
  const reset = await lanboot(dataDir, ['client', 'reset', 'pc-1']);
  assert.equal(reset.code, 0, reset.stderr);
  assert.equal(reset.stdout, 'seat pc-1 reset to base v2\n');
  assert.ok((await readDisk('v2.raw.out')).equals(v2), 'after reset: golden v2, no trace of the v1 delta');
  server.child.kill('SIGTERM');
  assert.equal(await exited(server.child), 0);
});

test('an import the user interrupts (Ctrl-C) leaves nothing behind and the supervisor keeps serving', { timeout: 120_000 }, async (t) => {
  const root = tempRoot(t);
  const dataDir = path.join(root, 'data');
  const big = path.join(root, 'big.raw');
  fs.closeSync(fs.openSync(big, 'w'));
  fs.truncateSync(big, 4 * 1024 * 1024 * 1024);
  const server = serve(t, dataDir, cleanEnv());
  await started(server, dataDir);
  const importer = spawn(process.execPath, [lanbootMain, 'image', 'import', big, '--name', 'big', '--data', dataDir], { cwd: repoRoot, stdio: 'ignore' });
  t.after(() => {
    importer.kill('SIGKILL');
  });
  const imageDir = path.join(dataDir, 'images', 'big');
  await waitFor('the upload to start', () => (fs.existsSync(imageDir) && fs.readdirSync(imageDir).length > 0 ? true : undefined), 60_000);
  importer.kill('SIGINT');
  await exited(importer);
  await waitFor('the .partial to be removed', () => (fs.readdirSync(imageDir).length === 0 ? true : undefined), 20_000);
  assert.deepEqual(await lanbootJson(dataDir, ['image', 'list']), []);
  assert.equal(server.child.exitCode, null, 'still running');
  server.child.kill('SIGTERM');
  assert.equal(await exited(server.child), 0);
});
