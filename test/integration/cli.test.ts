// The real `lanboot serve` (dist/src/cli/main.js, with the native engine) as a child process
// on a temp data dir, driven only through the `lanboot` CLI, as a user or script would.
// systemd notifications go to a NOTIFY_SOCKET this test provides: Node cannot open a Unix
// datagram socket, so a short python3 listener receives them.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { spawn } from 'node:child_process';
import { assertOneLineError, exited, lanboot, lanbootJson, lanbootMain, run, serve, startNotifyListener, waitFor } from '../unit/support/cli-process.js';

test('lanboot serve driven through the CLI, then SIGTERM', { timeout: 240_000 }, async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lanboot-cli-'));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  const dataDir = path.join(root, 'data');
  const notifySocket = path.join(root, 'notify.sock');
  const notify = await startNotifyListener(t, notifySocket);
  const env: NodeJS.ProcessEnv = { ...process.env, NOTIFY_SOCKET: notifySocket };
  delete env.LANBOOT_DATA;
  delete env.WATCHDOG_USEC;

  // No supervisor yet.
  assertOneLineError(await lanboot(dataDir, ['status']), /^lanboot: no supervisor running for .*data \(start it with `lanboot serve`\)\n$/);

  const server = serve(t, dataDir, env);
  const status = await waitFor(
    'lanboot status --json',
    async () => {
      if (server.child.exitCode !== null) assert.fail(`lanboot serve exited ${server.child.exitCode}:\n${server.output()}`);
      const r = await lanboot(dataDir, ['status', '--json']);
      return r.code === 0 ? (JSON.parse(r.stdout) as { iscsi: { host: string; port: number }; http: { host: string; port: number }; version: string; dataDir: string }) : undefined;
    },
    60_000,
  );
  assert.equal(status.dataDir, dataDir);
  assert.equal(status.iscsi.host, '127.0.0.1');
  assert.ok(status.iscsi.port > 0 && status.http.port > 0 && status.iscsi.port !== status.http.port);
  assert.match(status.version, /^\d+\.\d+\.\d+/);
  await waitFor('READY=1 on NOTIFY_SOCKET', () => (notify.messages().some((m) => m.split('\n').includes('READY=1')) ? true : undefined), 10_000);
  assert.ok(notify.messages().some((m) => /^STATUS=serving/m.test(m)), `STATUS sent: ${JSON.stringify(notify.messages())}`);
  const readyLines = server
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.msg === 'ready');
  assert.equal(readyLines.length, 1);
  assert.equal(readyLines[0]!.iscsiPort, status.iscsi.port);
  assert.equal(readyLines[0]!.httpPort, status.http.port);
  const health = await fetch(`http://127.0.0.1:${status.http.port}/healthz`);
  assert.equal(health.status, 200);

  // A second supervisor on the same data dir is refused.
  const second = await run(process.execPath, [lanbootMain, 'serve', '--data', dataDir, '--iscsi-port', '0', '--http-port', '0', '--listen', '127.0.0.1'], {
    env: { ...env, NOTIFY_SOCKET: '' },
    timeoutMs: 30_000,
  });
  assert.equal(second.code, 1);
  assert.match(second.stderr, /^lanboot: another lanboot supervisor \(pid \d+\) is already running on /m);

  // Images.
  const golden = path.join(root, 'golden.raw');
  const data = crypto.randomBytes(4 * 1024 * 1024);
  fs.writeFileSync(golden, data);
  const imported = await lanboot(dataDir, ['image', 'import', golden, '--name', 'debian']);
  assert.equal(imported.code, 0, imported.stderr);
  assert.match(imported.stdout, /^image debian v1: 4\.0 MiB, sha256 [0-9a-f]{64}\n$/);
  const images = await lanbootJson(dataDir, ['image', 'list']);
  assert.equal(images.length, 1);
  assert.equal(images[0].versions[0].sha256, crypto.createHash('sha256').update(data).digest('hex'));
  assert.ok(fs.readFileSync(images[0].versions[0].path).equals(data));

  // Seats: `lanboot seat ...`, and `lanboot client ...` (the older word) for the same seats.
  const add = await lanboot(dataDir, ['seat', 'add', '--name', 'pc-1', '--image', 'debian', '--mac', '52:54:00:12:34:56', '--mode', 'persistent']);
  assert.equal(add.code, 0, add.stderr);
  const seat = await lanbootJson(dataDir, ['seat', 'show', 'pc-1']);
  assert.deepEqual(await lanbootJson(dataDir, ['client', 'show', 'pc-1']), seat, 'client is an alias of seat');
  assert.equal(seat.targetIqn, 'iqn.2026-11.local.lanboot:seat.pc-1');
  assert.equal(seat.portal, `127.0.0.1:${status.iscsi.port}`);
  assert.equal(seat.lun, 0);
  assert.deepEqual(seat.initiatorIqns, ['iqn.2026-11.local.lanboot:pc.pc-1']);
  assert.equal(seat.chap.user, 'pc-1');
  assert.equal(seat.chap.secret.length, 16);
  assert.equal(seat.mode, 'persistent');
  assert.equal(seat.image, 'debian');
  assert.equal(seat.version, 1);
  assert.equal(seat.mac, '52:54:00:12:34:56');
  const list = await lanbootJson(dataDir, ['seat', 'list']);
  assert.deepEqual(list.map((s: { name: string }) => s.name), ['pc-1']);
  assert.deepEqual(await lanbootJson(dataDir, ['client', 'list']), list);

  // The control plane really configured the engine: the seat's initiator with its CHAP
  // secret gets in; a wrong secret or a foreign initiator does not (libiscsi's iscsi-inq).
  const url = (user: string, secret: string) => `iscsi://${user}%${secret}@127.0.0.1:${status.iscsi.port}/${seat.targetIqn}/0`;
  const good = await run('iscsi-inq', ['-i', seat.initiatorIqns[0], url('pc-1', seat.chap.secret)], { timeoutMs: 30_000 });
  assert.equal(good.code, 0, `iscsi-inq with the seat's credentials: ${good.stderr}${good.stdout}`);
  const wrongSecret = await run('iscsi-inq', ['-i', seat.initiatorIqns[0], url('pc-1', 'WrongSecret1234x')], { timeoutMs: 30_000 });
  assert.notEqual(wrongSecret.code, 0, 'a wrong CHAP secret is refused');
  const foreign = await run('iscsi-inq', ['-i', 'iqn.2026-11.local.lanboot:pc.other', url('pc-1', seat.chap.secret)], { timeoutMs: 30_000 });
  assert.notEqual(foreign.code, 0, 'a foreign initiator IQN is refused');

  // Errors: one line, exit 1, nothing stored.
  assertOneLineError(await lanboot(dataDir, ['client', 'add', '--name', 'pc-2', '--image', 'nope']), /image 'nope' does not exist/);
  assertOneLineError(await lanboot(dataDir, ['seat', 'add', '--name', 'pc-1', '--image', 'debian']), /seat 'pc-1' already exists/);
  assertOneLineError(await lanboot(dataDir, ['seat', 'frobnicate']), /^lanboot: seat: expected one of add, list, show/);
  assertOneLineError(await lanboot(dataDir, ['client', 'add', '--name', 'pc-2', '--image', 'debian', '--mac', '52:54:00:12:34']), /--mac: expected a MAC address/);
  assert.equal((await lanbootJson(dataDir, ['client', 'list'])).length, 1);

  // Reset and remove.
  const reset = await lanboot(dataDir, ['client', 'reset', 'pc-1']);
  assert.equal(reset.code, 0, reset.stderr);
  assert.match(reset.stdout, /^seat pc-1 reset to debian v1\n$/);
  const removed = await lanboot(dataDir, ['seat', 'remove', 'pc-1']);
  assert.equal(removed.code, 0, removed.stderr);
  assert.deepEqual(await lanbootJson(dataDir, ['seat', 'list']), []);
  assertOneLineError(await lanboot(dataDir, ['client', 'show', 'pc-1']), /seat 'pc-1' does not exist/);
  assertOneLineError(await lanboot(dataDir, ['seat', 'show', 'pc-1']), /seat 'pc-1' does not exist/);

  // SIGTERM: STOPPING=1, exit 0, socket gone.
  server.child.kill('SIGTERM');
  const code = await Promise.race([exited(server.child), new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 15_000))]);
  assert.equal(code, 0, `exit code after SIGTERM; output:\n${server.output().slice(-2000)}`);
  await waitFor('STOPPING=1 on NOTIFY_SOCKET', () => (notify.messages().some((m) => m.split('\n').includes('STOPPING=1')) ? true : undefined), 5_000);
  assert.equal(fs.existsSync(path.join(dataDir, 'lanboot.sock')), false);
  assertOneLineError(await lanboot(dataDir, ['status']), /no supervisor running for /);
});

test('lanboot --help and lanboot serve --help list every flag of serve; seat is the word, client its alias', async () => {
  const serveFlags = ['--data', '--config', '--listen', '--iscsi-port', '--http-port', '--log-level', '--log-format', '--interface', '--dhcp', '--dhcp-range', '--dhcp-force', '--tftp-port', '--mdns'];
  const help = await run(process.execPath, [lanbootMain, '--help'], { timeoutMs: 30_000 });
  const serveHelp = await run(process.execPath, [lanbootMain, 'serve', '--help'], { timeoutMs: 30_000 });
  for (const r of [help, serveHelp]) {
    assert.equal(r.code, 0, r.stderr);
    for (const flag of serveFlags) assert.match(r.stdout, new RegExp(`${flag}\\b`), `${flag} in:\n${r.stdout}`);
    assert.match(r.stdout, /LANBOOT_DHCP_FORCE/);
  }
  assert.match(help.stdout, /^ {2}seat add --name SEAT/m);
  assert.doesNotMatch(help.stdout, /^ {2}client /m, 'client is named only as the alias');
  assert.match(help.stdout, /`lanboot client \.\.\.` is the same as `lanboot seat \.\.\.`/);
  assert.equal((await run(process.execPath, [lanbootMain, 'seat', '--help'], { timeoutMs: 30_000 })).stdout, help.stdout);
});

test('lanboot serve refuses bad settings with one line naming the setting', async () => {
  const r = await run(process.execPath, [lanbootMain, 'serve', '--iscsi-port', 'abc'], { timeoutMs: 30_000 });
  assert.equal(r.code, 1);
  assert.equal(r.stderr, "lanboot: --iscsi-port: expected a port 0-65535, got 'abc'\n");
  const dhcp = await run(process.execPath, [lanbootMain, 'serve', '--dhcp', 'full'], { timeoutMs: 30_000 });
  assert.equal(dhcp.code, 1);
  assert.match(dhcp.stderr, /^lanboot: --dhcp: DHCP mode 'full' needs --interface IF/);
});

test('lanboot serve takes its settings from DATA/lanboot.json and LANBOOT_* variables', { timeout: 120_000 }, async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lanboot-cfg-'));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  const dataDir = path.join(root, 'data');
  fs.mkdirSync(dataDir);
  fs.writeFileSync(path.join(dataDir, 'lanboot.json'), JSON.stringify({ listen: '127.0.0.1', iscsiPort: 0, httpPort: 12345, logLevel: 'warn' }));
  const env: NodeJS.ProcessEnv = { ...process.env, NOTIFY_SOCKET: '', LANBOOT_HTTP_PORT: '0' };
  delete env.LANBOOT_DATA;
  const child = spawn(process.execPath, [lanbootMain, 'serve', '--data', dataDir], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (b) => (output += b));
  child.stderr.on('data', (b) => (output += b));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited(child);
    }
  });
  const status = await waitFor(
    'lanboot status --json',
    async () => {
      if (child.exitCode !== null) assert.fail(`lanboot serve exited ${child.exitCode}:\n${output.slice(-3000)}`);
      const r = await lanboot(dataDir, ['status', '--json']);
      return r.code === 0 ? (JSON.parse(r.stdout) as { iscsi: { host: string; port: number }; http: { host: string; port: number } }) : undefined;
    },
    60_000,
  );
  assert.equal(status.iscsi.host, '127.0.0.1', 'listen from the file');
  assert.ok(status.iscsi.port > 0, 'iscsiPort 0 from the file: any free port');
  assert.notEqual(status.http.port, 12345, 'LANBOOT_HTTP_PORT=0 overrides the file');
  assert.ok(status.http.port > 0);
  child.kill('SIGTERM');
  assert.equal(await exited(child), 0, `exit code after SIGTERM; output:\n${output.slice(-2000)}`);
  assert.ok(!output.includes('"level":"info"'), `logLevel warn from the file: no info lines, got ${output.slice(0, 300)}`);
});

test('every command finds the data dir through --config FILE or LANBOOT_CONFIG (its dataDir)', { timeout: 120_000 }, async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lanboot-cfgfile-'));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  const configFile = path.join(root, 'config.json');
  fs.writeFileSync(configFile, JSON.stringify({ dataDir: 'state', listen: '127.0.0.1', iscsiPort: 0, httpPort: 0 }));
  const env: NodeJS.ProcessEnv = { ...process.env, NOTIFY_SOCKET: '', LANBOOT_CONFIG: configFile };
  delete env.LANBOOT_DATA;
  const child = spawn(process.execPath, [lanbootMain, 'serve'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (b) => (output += b));
  child.stderr.on('data', (b) => (output += b));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited(child);
    }
  });
  // Run from elsewhere: only the config file says where the data is.
  const status = await waitFor(
    'lanboot status --json through LANBOOT_CONFIG',
    async () => {
      if (child.exitCode !== null) assert.fail(`lanboot serve exited ${child.exitCode}:\n${output.slice(-3000)}`);
      const r = await run(process.execPath, [lanbootMain, 'status', '--json'], { env, cwd: os.tmpdir() });
      return r.code === 0 ? (JSON.parse(r.stdout) as { dataDir: string }) : undefined;
    },
    60_000,
  );
  assert.equal(status.dataDir, path.join(root, 'state'));
  const noEnv = { ...env };
  delete noEnv.LANBOOT_CONFIG;
  const viaFlag = await run(process.execPath, [lanbootMain, 'status', '--json', '--config', configFile], { env: noEnv, cwd: os.tmpdir() });
  assert.equal(viaFlag.code, 0, viaFlag.stderr);
  assert.equal((JSON.parse(viaFlag.stdout) as { dataDir: string }).dataDir, path.join(root, 'state'));
  child.kill('SIGTERM');
  assert.equal(await exited(child), 0, `exit code after SIGTERM; output:\n${output.slice(-2000)}`);
});
