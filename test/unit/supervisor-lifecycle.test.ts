// Start/stop order, restarts, the data-dir lock and systemd notifications of the supervisor,
// in process, with the recording engine standing in for the native addon (see
// support/recording-engine.ts). The real process with the real addon: test/integration.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/config.js';
import { acquireDataLock } from '../../src/system/data-lock.js';
import { SystemdNotifier } from '../../src/system/systemd.js';
import { Supervisor, supervisorNative } from '../../src/supervisor/supervisor.js';
import { loadNative } from '../../src/native/index.js';
import { LanbootError } from '../../src/log/errors.js';
import { RecordingEngine } from './support/recording-engine.js';
import type { SupervisorService } from '../../src/supervisor/service.js';
import { CaptureStream, startFixture } from './support/supervisor-fixture.js';

function makeSupervisor(dataDir: string, engines: RecordingEngine[], notes: string[] = []) {
  const config = loadConfig({ flags: { data: dataDir, 'iscsi-port': '0', 'http-port': '0', listen: '127.0.0.1' }, env: {}, cwd: dataDir, isRoot: false });
  return new Supervisor({
    config,
    logger: pino({ level: 'silent' }),
    native: {
      ...supervisorNative(loadNative()),
      engineFactory: (onEvent) => {
        const engine = new RecordingEngine(onEvent);
        engines.push(engine);
        return engine;
      },
      sdNotify: (state) => {
        notes.push(state);
        return true;
      },
    },
  });
}

test('READY=1 with a STATUS once serving; STOPPING=1 on stop; the engine is closed and the socket removed', async (t) => {
  const f = await startFixture(t);
  assert.equal(f.notifications.length, 1);
  assert.match(f.notifications[0]!, /^READY=1\nSTATUS=serving 0 seats; iSCSI 127\.0\.0\.1:\d+, HTTP 127\.0\.0\.1:\d+$/);
  const ready = f.logLines().filter((l) => l.msg === 'ready');
  assert.equal(ready.length, 1, 'exactly one ready line');
  assert.ok((ready[0]!.iscsiPort as number) > 0 && (ready[0]!.httpPort as number) > 0);
  await f.supervisor.stop();
  assert.match(f.notifications.at(-1)!, /^STOPPING=1/);
  assert.equal(f.engine().closed, true);
  assert.equal(fs.existsSync(path.join(f.dataDir, 'lanboot.sock')), false);
  assert.equal(fs.existsSync(path.join(f.dataDir, 'lanboot.lock')), false);
  await f.supervisor.stop(); // idempotent
});

test('a second supervisor on the same data dir is refused with a clear message', async (t) => {
  const f = await startFixture(t);
  const second = makeSupervisor(f.dataDir, []);
  await assert.rejects(second.start(), (e: unknown) => {
    assert.ok(e instanceof LanbootError);
    assert.equal(e.code, 'LANBOOT_ALREADY_RUNNING');
    assert.match(e.message, new RegExp(`another lanboot supervisor \\(pid ${process.pid}\\) is already running on `));
    return true;
  });
  // The first one is untouched.
  assert.equal((await f.cli(['status'])).code, 0);
});

test('a lock left by a dead process is taken over; a live one is not', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lanboot-lock-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const lockFile = path.join(dir, 'lanboot.lock');
  const socket = path.join(dir, 'lanboot.sock');
  // A pid that surely is gone: a child that already exited.
  const child = spawn(process.execPath, ['-e', '0']);
  await new Promise((resolve) => child.on('exit', resolve));
  fs.writeFileSync(lockFile, `${child.pid}\n`);
  const lock = await acquireDataLock(lockFile, socket, dir);
  const bootId = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  assert.equal(fs.readFileSync(lockFile, 'utf8').trim(), `${process.pid} ${bootId}`);
  lock.release();
  assert.equal(fs.existsSync(lockFile), false);
  // A live owner (our parent, which is not us) keeps it.
  fs.writeFileSync(lockFile, `${process.ppid}\n`);
  await assert.rejects(acquireDataLock(lockFile, socket, dir), /already running/);
  fs.writeFileSync(lockFile, `${process.ppid} ${bootId}\n`);
  await assert.rejects(acquireDataLock(lockFile, socket, dir), /already running/, 'a live owner of this boot');
  // After a power cut the old pid may belong to any process of the new boot: stale.
  fs.writeFileSync(lockFile, `${process.ppid} 00000000-0000-4000-8000-000000000000\n`);
  const afterPowerCut = await acquireDataLock(lockFile, socket, dir);
  afterPowerCut.release();
});

test('on restart every seat is registered again with the same identity', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lanboot-restart-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const engines: RecordingEngine[] = [];
  const first = makeSupervisor(dir, engines);
  await first.start();
  const f = { cli: (args: string[]) => import('./support/supervisor-fixture.js').then((m) => m.runCliCaptured([...args, '--data', dir], dir)) };
  fs.writeFileSync(path.join(dir, 'g.raw'), Buffer.alloc(4096, 3));
  assert.equal((await f.cli(['image', 'import', path.join(dir, 'g.raw'), '--name', 'base'])).code, 0);
  assert.equal((await f.cli(['client', 'add', '--name', 'a', '--image', 'base'])).code, 0);
  assert.equal((await f.cli(['client', 'add', '--name', 'b', '--image', 'base', '--no-chap'])).code, 0);
  const before = [...engines[0]!.targets.values()];
  await first.stop();

  const second = makeSupervisor(dir, engines);
  t.after(() => second.stop());
  await second.start();
  const after = [...engines[1]!.targets.values()];
  assert.deepEqual(after, before, 'same targets, ACLs, secrets, serials and NAAs');
  assert.equal(after.length, 2);
});

test('the engine refusing a target leaves no seat behind', async (t) => {
  const f = await startFixture(t);
  fs.writeFileSync(path.join(f.dataDir, 'g.raw'), Buffer.alloc(4096));
  await f.cli(['image', 'import', path.join(f.dataDir, 'g.raw'), '--name', 'base']);
  f.engine().failNextSetTarget = 'golden file unreadable';
  const r = await f.cli(['client', 'add', '--name', 'a', '--image', 'base']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^lanboot: seat a: the iSCSI engine refused the target: golden file unreadable\n$/);
  assert.deepEqual(JSON.parse((await f.cli(['client', 'list', '--json'])).stdout), []);
  assert.equal((await f.cli(['client', 'add', '--name', 'a', '--image', 'base'])).code, 0, 'and the name is free');
});

test('engine events are logged with the IQNs in context', async (t) => {
  const f = await startFixture(t);
  const engine = f.engine();
  engine.onEvent({ type: 'login', targetIqn: 'iqn.t', initiatorIqn: 'iqn.i', isid: '400001370000', tsih: 1, remoteAddress: '10.0.0.5', discovery: false });
  engine.onEvent({ type: 'login-failed', targetIqn: 'iqn.t', initiatorIqn: 'iqn.evil', remoteAddress: '10.0.0.6', reason: 'CHAP failed' });
  const lines = f.logLines();
  const login = lines.find((l) => l.msg === 'iSCSI login')!;
  assert.equal(login.targetIqn, 'iqn.t');
  assert.equal(login.initiatorIqn, 'iqn.i');
  assert.equal(login.remoteAddress, '10.0.0.5');
  const refused = lines.find((l) => l.msg === 'iSCSI login refused')!;
  assert.equal(refused.initiatorIqn, 'iqn.evil');
  assert.equal(refused.level, 40);
});

test('watchdog: WATCHDOG=1 every WATCHDOG_USEC/2, only for our pid, stopped on stop', async () => {
  const sent: string[] = [];
  const pingTimes: number[] = [];
  const log = pino({ level: 'silent' }, new CaptureStream());
  const notifier = new SystemdNotifier(
    (s) => {
      sent.push(s);
      if (s === 'WATCHDOG=1') pingTimes.push(Date.now());
      return true;
    },
    log,
    { watchdogUsec: 100_000 },
  );
  const startedAt = Date.now();
  assert.equal(notifier.startWatchdog(), 50);
  // Timers fire late on a loaded machine, never early: wait for three pings, however long.
  const deadline = Date.now() + 10_000;
  while (pingTimes.length < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  notifier.stopping();
  assert.ok(pingTimes.length >= 3, `pings: ${pingTimes.length}`);
  assert.ok(pingTimes[2]! - startedAt >= 145, 'not faster than every WATCHDOG_USEC/2');
  const count = sent.length;
  await new Promise((resolve) => setTimeout(resolve, 120));
  assert.equal(sent.length, count, 'no ping after STOPPING');
  assert.equal(new SystemdNotifier(() => true, log, { watchdogUsec: undefined }).startWatchdog(), undefined);
  // The configuration reads WATCHDOG_USEC, and only when WATCHDOG_PID (if set) is ours.
  const watchdogOf = (env: NodeJS.ProcessEnv) => loadConfig({ flags: { data: '/tmp/x' }, env, cwd: '/tmp', isRoot: false, pid: 4242 }).systemd.watchdogUsec;
  assert.equal(watchdogOf({ WATCHDOG_USEC: '100000' }), 100_000);
  assert.equal(watchdogOf({ WATCHDOG_USEC: '100000', WATCHDOG_PID: '4242' }), 100_000);
  assert.equal(watchdogOf({ WATCHDOG_USEC: '100000', WATCHDOG_PID: '1' }), undefined);
  assert.equal(watchdogOf({ WATCHDOG_USEC: 'soon' }), undefined);
  assert.equal(watchdogOf({}), undefined);
  // A failing sd_notify is logged, never thrown.
  new SystemdNotifier(
    () => {
      throw new Error('boom');
    },
    log,
    { watchdogUsec: undefined },
  ).ready('x');
});

test('services: routes mounted before listening, started with the bound ports, stopped in reverse before the engine', async (t) => {
  const order: string[] = [];
  let seenPorts: { iscsi: number; http: number; host: string } | undefined;
  const service = (name: string): SupervisorService => ({
    name,
    mount(ctx) {
      order.push(`mount ${name}`);
      ctx.httpApp.get(`/${name}.txt`, (c) => c.text(`hello from ${name}`));
    },
    start(ctx) {
      order.push(`start ${name}`);
      seenPorts = { iscsi: ctx.iscsiPort, http: ctx.httpPort, host: ctx.advertisedHost };
    },
    stop() {
      order.push(`stop ${name}`);
    },
    status: () => ({ name, running: true }),
  });
  const f = await startFixture(t, { services: [service('dhcp'), service('tftp')] });
  const status = JSON.parse((await f.cli(['status', '--json'])).stdout);
  assert.deepEqual(seenPorts, { iscsi: status.iscsi.port, http: status.http.port, host: '127.0.0.1' });
  assert.deepEqual(status.services, { dhcp: { name: 'dhcp', running: true }, tftp: { name: 'tftp', running: true } });
  assert.equal(await (await fetch(`http://127.0.0.1:${status.http.port}/tftp.txt`)).text(), 'hello from tftp');
  await f.supervisor.stop();
  assert.deepEqual(order, ['mount dhcp', 'mount tftp', 'start dhcp', 'start tftp', 'stop tftp', 'stop dhcp']);
  assert.equal(f.engine().closed, true);
});

test('a service failing to start stops the supervisor cleanly with its name in the error', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lanboot-svc-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const stopped: string[] = [];
  const config = loadConfig({ flags: { data: dir, 'iscsi-port': '0', 'http-port': '0', listen: '127.0.0.1' }, env: {}, cwd: dir, isRoot: false });
  const engines: RecordingEngine[] = [];
  const supervisor = new Supervisor({
    config,
    logger: pino({ level: 'silent' }),
    native: { ...supervisorNative(loadNative()), engineFactory: (onEvent) => (engines.push(new RecordingEngine(onEvent)), engines.at(-1)!), sdNotify: () => true },
    services: [
      { name: 'ok', stop: () => void stopped.push('ok') },
      {
        name: 'dhcp',
        start: () => {
          throw new LanbootError('LANBOOT_CONFIG_INVALID', 'another DHCP server answers on eth0');
        },
      },
    ],
  });
  await assert.rejects(supervisor.start(), /^LanbootError: cannot start dhcp: another DHCP server answers on eth0$/);
  assert.deepEqual(stopped, ['ok']);
  assert.equal(engines[0]!.closed, true);
  assert.equal(fs.existsSync(path.join(dir, 'lanboot.lock')), false);
  assert.equal(fs.existsSync(path.join(dir, 'lanboot.sock')), false);
});

const DHCP_NOT_STARTED = 'DHCP is not started: no DHCP service was built for this configuration';

test('--interface without a DHCP service: accepted, and the log says DHCP is not started', async (t) => {
  const f = await startFixture(t, { flags: { interface: 'eth9', dhcp: 'proxy' } });
  const line = f.logLines().find((l) => l.msg === DHCP_NOT_STARTED);
  assert.equal(line?.interface, 'eth9');
  assert.equal(line?.dhcp, 'proxy');
  const status = JSON.parse((await f.cli(['status', '--json'])).stdout);
  assert.deepEqual(status.dhcp, { mode: 'proxy', interface: 'eth9', running: false });
});

test('--interface X --dhcp off: DHCP is off as asked, no warning that it did not start', async (t) => {
  const f = await startFixture(t, { flags: { interface: 'eth9', dhcp: 'off', mdns: 'off' } });
  assert.ok(f.logLines().some((l) => l.msg === 'ready'));
  assert.equal(
    f.logLines().find((l) => l.msg === DHCP_NOT_STARTED),
    undefined,
  );
  const status = JSON.parse((await f.cli(['status', '--json'])).stdout);
  assert.deepEqual(status.dhcp, { mode: 'off', interface: 'eth9', running: false });
});
