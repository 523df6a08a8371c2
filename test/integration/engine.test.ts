// The native addon's iSCSI engine (native/src/iscsi + native/src/napi) driven from JS exactly
// as the supervisor drives it, checked with Debian's real initiators (libiscsi's iscsi-ls,
// iscsi-inq, iscsi-perf and qemu-io): SendTargets filtered by the ACL, INQUIRY and VPD 0x83,
// CHAP and mutual CHAP, refused logins, session events and counters, reset, and the two
// helper syscalls (sd_notify, SO_BINDTODEVICE UDP sockets).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadNative, type EngineEvent, type IscsiEngine, type TargetConfig } from '../../src/native/index.js';
import { makeGoldenImage, sha256File, type GoldenImage } from '../helpers/images.js';
import { qemuIo, readWholeDisk, goldenContent, assertSameDisk } from '../helpers/qemu-block.js';
import type { IscsiDisk } from '../helpers/iscsi-disk.js';
import { IscsiSession, Cdb } from '../helpers/iscsi-wire.js';
import { describeRun, killTree, requireTools, runTool, spawnTracked, waitExit, waitFor } from '../helpers/tools.js';

const PC1 = 'iqn.2026-01.test.engine:pc1';
const PC2 = 'iqn.2026-01.test.engine:pc2';
const STRANGER = 'iqn.2026-01.test.engine:stranger';
const CHAP_SEAT = 'iqn.2026-01.lanboot.test:engine-chap';
const OPEN_SEAT = 'iqn.2026-01.lanboot.test:engine-open';
const SPARE_SEAT = 'iqn.2026-01.lanboot.test:engine-spare';
const CHAP = { user: 'pc1-user', secret: 'pc1-secret-0123' };
const MUTUAL = { user: 'lanboot-target', secret: 'target-secret-456' };

describe('native iSCSI engine', () => {
  const native = loadNative();
  const events: EngineEvent[] = [];
  let engine: IscsiEngine;
  let port = 0;
  let dir = '';
  let golden: GoldenImage;

  const url = (target: string, auth = '') => `iscsi://${auth}127.0.0.1:${port}/${target}/0`;
  const target = (iqn: string, initiators: string[], extra: Partial<TargetConfig> = {}): TargetConfig => ({
    iqn,
    goldenPath: golden.path,
    deltaDir: path.join(dir, 'delta-' + iqn.split(':')[1]),
    initiators,
    serial: 'SN' + iqn.length,
    naaHex: '5' + crypto.createHash('sha256').update(iqn).digest('hex').slice(0, 15),
    ...extra,
  });
  const eventsAfter = (start: number) => events.slice(start);
  const waitEvent = (what: string, match: (e: EngineEvent) => boolean, start = 0) =>
    waitFor(what, async () => eventsAfter(start).find(match), 10_000, 20);

  before(async () => {
    requireTools('iscsi-ls', 'iscsi-inq', 'iscsi-perf', 'qemu-io', 'qemu-img', 'python3');
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'lanboot-engine-test-'));
    golden = await makeGoldenImage(dir, 16 * 1024 * 1024, 'lba');
    engine = new native.IscsiEngine((event) => events.push(event));
    port = engine.listen('127.0.0.1', 0);
    engine.setTarget(target(CHAP_SEAT, [PC1], { chap: CHAP, mutualChap: MUTUAL }));
    engine.setTarget(target(OPEN_SEAT, [PC2]));
    engine.setTarget(target(SPARE_SEAT, [PC2]));
  });

  after(async () => {
    engine?.close();
    if (dir) await fsp.rm(dir, { recursive: true, force: true });
  });

  test('listens on an ephemeral port', () => {
    assert.ok(port > 0 && port < 65536, `port ${port}`);
  });

  test('SendTargets lists only the targets the initiator may log in to', async () => {
    const start = events.length;
    const asPc2 = await runTool('iscsi-ls', ['-i', PC2, `iscsi://127.0.0.1:${port}`]);
    assert.equal(asPc2.code, 0, describeRun('iscsi-ls as pc2', asPc2));
    assert.match(asPc2.stdout, new RegExp(`Target:${OPEN_SEAT} Portal:127\\.0\\.0\\.1:${port},1`));
    assert.match(asPc2.stdout, new RegExp(`Target:${SPARE_SEAT} `));
    assert.doesNotMatch(asPc2.stdout, new RegExp(CHAP_SEAT));

    const asPc1 = await runTool('iscsi-ls', ['-i', PC1, `iscsi://127.0.0.1:${port}`]);
    assert.equal(asPc1.code, 0, describeRun('iscsi-ls as pc1', asPc1));
    assert.match(asPc1.stdout, new RegExp(`Target:${CHAP_SEAT} Portal:127\\.0\\.0\\.1:${port},1`));
    assert.doesNotMatch(asPc1.stdout, new RegExp(OPEN_SEAT));

    const asStranger = await runTool('iscsi-ls', ['-i', STRANGER, `iscsi://127.0.0.1:${port}`]);
    assert.doesNotMatch(asStranger.stdout, /Target:/, describeRun('iscsi-ls as a stranger', asStranger));

    const discovery = await waitEvent('a discovery login event', (e) => e.type === 'login' && e.discovery && e.initiatorIqn === PC2, start);
    assert.equal(discovery.type === 'login' && discovery.remoteAddress, '127.0.0.1');
    await waitEvent('the discovery logout', (e) => e.type === 'logout' && e.initiatorIqn === PC2 && e.reason === 'logout', start);
  });

  test('iscsi-inq reads the standard INQUIRY and VPD 0x83 (NAA + SCSI name string)', async () => {
    const standard = await runTool('iscsi-inq', ['-i', PC2, url(OPEN_SEAT)]);
    assert.equal(standard.code, 0, describeRun('iscsi-inq', standard));
    assert.match(standard.stdout, /Peripheral Device Type:DIRECT_ACCESS/);
    assert.match(standard.stdout, /Vendor:LANBOOT/);

    const vpd83 = await runTool('iscsi-inq', ['-i', PC2, '-e', '1', '-c', String(0x83), url(OPEN_SEAT)]);
    assert.equal(vpd83.code, 0, describeRun('iscsi-inq VPD 0x83', vpd83));
    const text = vpd83.stdout.replace(/[^\x20-\x7e\n]/g, '');
    assert.match(text, /Designator Type:\(3\) NAA/);
    assert.match(text, /Designator Type:\(8\) SCSI_NAME_STRING/);
    assert.ok(text.includes(`Designator:[${OPEN_SEAT}]`), text);
  });

  test('CHAP: the right secret logs in, a wrong or missing one is refused (0201)', async () => {
    const good = await runTool('iscsi-inq', ['-i', PC1, url(CHAP_SEAT, `${CHAP.user}%${CHAP.secret}@`)]);
    assert.equal(good.code, 0, describeRun('CHAP login', good));
    assert.match(good.stdout, /Vendor:LANBOOT/);

    const start = events.length;
    const wrong = await runTool('iscsi-inq', ['-i', PC1, url(CHAP_SEAT, `${CHAP.user}%not-the-secret1@`)]);
    assert.notEqual(wrong.code, 0, describeRun('wrong CHAP secret', wrong));
    assert.match(wrong.stdout + wrong.stderr, /Authentication failure\(513\)/);
    const failed = await waitEvent('login-failed for the wrong secret', (e) => e.type === 'login-failed' && e.initiatorIqn === PC1, start);
    assert.equal(failed.type === 'login-failed' && failed.targetIqn, CHAP_SEAT);

    const none = await runTool('iscsi-inq', ['-i', PC1, url(CHAP_SEAT)]);
    assert.notEqual(none.code, 0, describeRun('no CHAP at all', none));
    assert.match(none.stdout + none.stderr, /Authentication failure\(513\)/);
  });

  test('mutual CHAP: the target proves its own secret; an initiator expecting another refuses', async () => {
    const auth = `${CHAP.user}%${CHAP.secret}@`;
    const good = await runTool('iscsi-inq', ['-i', PC1, `${url(CHAP_SEAT, auth)}?target_user=${MUTUAL.user}&target_password=${MUTUAL.secret}`]);
    assert.equal(good.code, 0, describeRun('mutual CHAP', good));
    const bad = await runTool('iscsi-inq', ['-i', PC1, `${url(CHAP_SEAT, auth)}?target_user=${MUTUAL.user}&target_password=wrong-target-pw`]);
    assert.notEqual(bad.code, 0, describeRun('mutual CHAP, wrong target secret', bad));
    assert.match(bad.stdout + bad.stderr, /Invalid CHAP_R response from the target/);
  });

  test('a foreign initiator IQN is refused (0202) and logged as login-failed', async () => {
    const start = events.length;
    const r = await runTool('iscsi-inq', ['-i', STRANGER, url(OPEN_SEAT)]);
    assert.notEqual(r.code, 0, describeRun('stranger', r));
    assert.match(r.stdout + r.stderr, /Authorization failure\(514\)/);
    const failed = await waitEvent('login-failed for the stranger', (e) => e.type === 'login-failed' && e.initiatorIqn === STRANGER, start);
    assert.match(failed.type === 'login-failed' ? failed.reason : '', /not allowed/);
    // The right initiator with the wrong target name: not found (0203).
    const missing = await runTool('iscsi-inq', ['-i', PC2, url('iqn.2026-01.lanboot.test:no-such-seat')]);
    assert.match(missing.stdout + missing.stderr, /Target not found\(515\)/);
  });

  test('session events reach JS and sessions() counters move under load; resetDisk drops the session', async (t) => {
    const start = events.length;
    const perf = spawnTracked('iscsi-perf', ['-i', PC2, '-m', '8', '-b', '8', url(SPARE_SEAT)]);
    t.after(() => killTree(perf));
    const login = await waitEvent('a login event for iscsi-perf', (e) => e.type === 'login' && !e.discovery && e.targetIqn === SPARE_SEAT, start);
    assert.ok(login.type === 'login');
    assert.equal(login.initiatorIqn, PC2);
    assert.match(login.isid, /^[0-9a-f]{12}$/);
    assert.ok(login.tsih > 0);

    const session = await waitFor(
      'counters to move',
      async () => engine.sessions().find((s) => s.targetIqn === SPARE_SEAT && s.commands > 100 && s.bytesRead > 100 * 4096),
      15_000,
    );
    assert.equal(session.initiatorIqn, PC2);
    assert.equal(session.remoteAddress, '127.0.0.1');
    assert.ok(session.remotePort > 0);
    assert.equal(session.tsih, login.tsih);
    assert.ok(Math.abs(Date.now() - session.connectedAt) < 60_000, `connectedAt ${session.connectedAt}`);
    assert.ok(session.meanLatencyUs > 0, `meanLatencyUs ${session.meanLatencyUs}`);
    const later = await waitFor(
      'counters to keep moving',
      async () => engine.sessions().find((s) => s.tsih === session.tsih && s.commands > session.commands),
      15_000,
    );
    assert.ok(later.bytesRead > session.bytesRead);

    const resetStart = events.length;
    engine.resetDisk(SPARE_SEAT);
    const logout = await waitEvent('the logout caused by resetDisk', (e) => e.type === 'logout' && e.tsih === session.tsih, resetStart);
    assert.equal(logout.type === 'logout' && logout.reason, 'disk reset');
    killTree(perf);
    await waitExit(perf);
    await waitFor('iscsi-perf sessions to end', async () => (engine.sessions().some((s) => s.targetIqn === SPARE_SEAT) ? undefined : true), 10_000);
  });

  test('writes land in the delta, the golden file never changes, resetDisk brings golden back', async () => {
    const disk: IscsiDisk = { server: 'lanboot', host: '127.0.0.1', port, targetIqn: OPEN_SEAT, lun: 0, initiatorIqns: [PC2] };
    assert.equal(engine.deltaBytes(OPEN_SEAT), 0);
    await qemuIo(disk, ['write -P 0x5a 0 64k', 'write -P 0xa5 1M 4k', 'read -P 0x5a 0 64k', 'read -P 0xa5 1M 4k']);
    assert.ok(engine.deltaBytes(OPEN_SEAT) >= 64 * 1024, `deltaBytes ${engine.deltaBytes(OPEN_SEAT)}`);
    assert.equal(await sha256File(golden.path), golden.sha256, 'golden file changed');
    engine.resetDisk(OPEN_SEAT);
    assert.equal(engine.deltaBytes(OPEN_SEAT), 0);
    assertSameDisk(await readWholeDisk(disk, dir), goldenContent(golden), 'disk after reset');
  });

  test('the same initiator name and ISID reinstates the session (RFC 7143 6.3.5); another ISID does not', async (t) => {
    const isid = Buffer.from([0x80, 0x4c, 0x42, 0x00, 0x00, 0x01]);
    const open = (id: Buffer) => IscsiSession.open({ host: '127.0.0.1', port, initiatorIqn: PC2, targetIqn: SPARE_SEAT, isid: id });
    const first = await open(isid);
    t.after(() => first.connection.destroy());
    await first.clearUnitAttention();
    const start = events.length;
    const second = await open(isid);
    t.after(() => second.connection.destroy());
    assert.notEqual(second.tsih, first.tsih);
    const logout = await waitEvent('the reinstated session to log out', (e) => e.type === 'logout' && e.tsih === first.tsih, start);
    assert.equal(logout.type === 'logout' && logout.reason, 'session reinstated');
    await Promise.race([first.connection.closed, new Promise((_, reject) => setTimeout(() => reject(new Error('old connection still open')), 5000))]);
    await second.clearUnitAttention();

    const third = await open(Buffer.from([0x80, 0x4c, 0x42, 0x00, 0x00, 0x02]));
    t.after(() => third.connection.destroy());
    await third.clearUnitAttention();
    const live = engine.sessions().filter((s) => s.targetIqn === SPARE_SEAT).map((s) => s.tsih);
    assert.deepEqual(live.sort(), [second.tsih, third.tsih].sort());
    const read = await second.scsi(Cdb.read10(0, 8), { readLength: 8 * 512 });
    assert.equal(read.status, 0);
    assert.equal(read.data.length, 8 * 512);
    assert.equal(await second.logout(), 0);
    assert.equal(await third.logout(), 0);
  });

  test('errors thrown to JS carry a code', () => {
    const codeOf = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return (e as { code?: string }).code;
      }
      return 'no error';
    };
    assert.equal(codeOf(() => engine.setTarget({ ...target(SPARE_SEAT, [PC2]), naaHex: 'not-hex' })), 'LANBOOT_INVALID_TARGET');
    assert.equal(codeOf(() => engine.setTarget({ ...target(SPARE_SEAT, [PC2]), initiators: 'x' as unknown as string[] })), 'LANBOOT_INVALID_TARGET');
    assert.equal(
      codeOf(() => engine.setTarget(target('iqn.2026-01.lanboot.test:broken', [PC2], { goldenPath: path.join(dir, 'missing.img') }))),
      'LANBOOT_TARGET_OPEN',
    );
    assert.equal(codeOf(() => engine.resetDisk('iqn.2026-01.lanboot.test:unknown')), 'LANBOOT_TARGET_RESET');
    assert.equal(codeOf(() => engine.deltaBytes('iqn.2026-01.lanboot.test:unknown')), 'LANBOOT_TARGET_UNKNOWN');
    const second = new native.IscsiEngine(() => {});
    try {
      assert.equal(codeOf(() => second.listen('127.0.0.1', port)), 'LANBOOT_ISCSI_BIND');
      assert.equal(codeOf(() => second.listen('not-an-address', 0)), 'LANBOOT_ISCSI_BIND');
    } finally {
      second.close();
    }
  });

  test('removeTarget ends the target: a later login finds nothing', async () => {
    engine.setTarget(target('iqn.2026-01.lanboot.test:doomed', [PC2]));
    const before = await runTool('iscsi-inq', ['-i', PC2, url('iqn.2026-01.lanboot.test:doomed')]);
    assert.equal(before.code, 0, describeRun('before removal', before));
    engine.removeTarget('iqn.2026-01.lanboot.test:doomed');
    const afterRemoval = await runTool('iscsi-inq', ['-i', PC2, url('iqn.2026-01.lanboot.test:doomed')]);
    assert.match(afterRemoval.stdout + afterRemoval.stderr, /Target not found\(515\)/);
  });

  test('close() is idempotent and stops accepting', async () => {
    const other = new native.IscsiEngine(() => {});
    const otherPort = other.listen('127.0.0.1', 0);
    other.close();
    other.close();
    assert.deepEqual(other.sessions(), []);
    const r = await runTool('iscsi-ls', ['-i', PC2, `iscsi://127.0.0.1:${otherPort}`], { timeoutMs: 20_000 });
    assert.notEqual(r.code, 0, describeRun('iscsi-ls against a closed engine', r));
  });
});

describe('process exit with a running engine', () => {
  test('exits promptly without close(), even with a live session', async (t) => {
    requireTools('iscsi-perf');
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'lanboot-engine-exit-'));
    t.after(() => fsp.rm(dir, { recursive: true, force: true }));
    const image = await makeGoldenImage(dir, 4 * 1024 * 1024, { byte: 0 });
    const indexUrl = new URL('../../src/native/index.js', import.meta.url).href;
    // The child never calls close(): the environment cleanup hook must stop the engine threads.
    const script = `
      const { loadNative } = await import(${JSON.stringify(indexUrl)});
      const engine = new (loadNative().IscsiEngine)(() => {});
      const port = engine.listen('127.0.0.1', 0);
      engine.setTarget({ iqn: 'iqn.2026-01.lanboot.test:exit', goldenPath: ${JSON.stringify(image.path)},
        deltaDir: ${JSON.stringify(path.join(dir, 'delta'))}, initiators: ['${PC2}'], serial: 'EXIT', naaHex: '5000000000000001' });
      console.log(JSON.stringify({ port }));
      const wait = () => { if (engine.sessions().length > 0) process.exit(0); else setTimeout(wait, 20); };
      wait();`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    t.after(() => child.exitCode === null && child.kill('SIGKILL'));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const childPort = await waitFor('the child engine to listen', async () => /"port":(\d+)/.exec(stdout)?.[1], 10_000);
    const perf = spawnTracked('iscsi-perf', ['-i', PC2, `iscsi://127.0.0.1:${childPort}/iqn.2026-01.lanboot.test:exit/0`]);
    t.after(() => killTree(perf));
    const exited = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    assert.deepEqual(exited, { code: 0, signal: null }, `child stderr:\n${stderr}`);
  });
});

describe('sdNotify', () => {
  test('returns false without NOTIFY_SOCKET and delivers the datagram to an abstract socket', async (t) => {
    const native = loadNative();
    const saved = process.env['NOTIFY_SOCKET'];
    t.after(() => {
      if (saved === undefined) delete process.env['NOTIFY_SOCKET'];
      else process.env['NOTIFY_SOCKET'] = saved;
    });
    delete process.env['NOTIFY_SOCKET'];
    assert.equal(native.sdNotify('READY=1'), false);

    // Node has no AF_UNIX datagram sockets: a python3 child receives one datagram.
    const name = `lanboot-test-notify-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
    const receiver = spawnTracked('python3', [
      '-c',
      `import socket,sys
s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\\0${name}")
print("bound", flush=True)
s.settimeout(10)
print(s.recv(4096).decode(), flush=True)`,
    ]);
    t.after(() => killTree(receiver));
    let out = '';
    receiver.stdout?.on('data', (b: Buffer) => (out += b.toString()));
    await waitFor('the receiver to bind', async () => (out.includes('bound') ? true : undefined), 10_000);
    process.env['NOTIFY_SOCKET'] = '@' + name;
    assert.equal(native.sdNotify('READY=1\nSTATUS=engine test'), true);
    await waitFor('the datagram', async () => (out.includes('STATUS=engine test') ? true : undefined), 10_000);
    assert.match(out, /READY=1\nSTATUS=engine test/);

    process.env['NOTIFY_SOCKET'] = path.join(os.tmpdir(), `no-such-dir-${process.pid}`, 'notify');
    assert.throws(() => native.sdNotify('READY=1'), (e: { code?: string }) => e.code === 'LANBOOT_SD_NOTIFY');
  });
});

describe('openInterfaceUdpSocket', () => {
  test('gives an fd bound to one interface that dgram can use', async (t) => {
    const native = loadNative();
    const fd = native.openInterfaceUdpSocket('lo', 0);
    assert.ok(Number.isInteger(fd) && fd > 2, `fd ${fd}`);
    const socket = dgram.createSocket('udp4');
    t.after(() => socket.close());
    await new Promise<void>((resolve) => socket.bind({ fd }, resolve));
    const boundPort = socket.address().port;
    assert.ok(boundPort > 0);
    const received = new Promise<Buffer>((resolve) => socket.once('message', resolve));
    const sender = dgram.createSocket('udp4');
    t.after(() => sender.close());
    sender.send(Buffer.from('hello lo'), boundPort, '127.0.0.1');
    assert.equal((await received).toString(), 'hello lo');
    assert.throws(() => native.openInterfaceUdpSocket('nosuchif0', 0), (e: { code?: string }) => e.code === 'LANBOOT_UDP_SOCKET');
    assert.throws(() => native.openInterfaceUdpSocket('x'.repeat(40), 0), (e: { code?: string }) => e.code === 'LANBOOT_UDP_SOCKET');
  });
});

