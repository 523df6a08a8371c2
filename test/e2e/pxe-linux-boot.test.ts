// The PXE boot of a diskless PC, end to end: in network namespaces this test creates, a home
// router (dnsmasq, DHCP only) and `lanboot serve` in proxyDHCP mode share a LAN with a qemu PC
// (TCG, SeaBIOS, e1000 whose option ROM is iPXE). The PC takes its address from the router and
// its boot file from lanboot, shows up in `lanboot waiting`, is enrolled through the CLI as a
// persistent seat on an image imported from the linux-disk fixture, and sanboots it. The disk's
// Linux logs in to the same iSCSI disk through the iBFT, prints `LANBOOT-MARKER present=<0|1>
// boot=<n>`, writes the marker and powers off (-no-reboot: qemu exits).
//   persistent: boot 1 present=0, boot 2 present=1, `lanboot client reset`, boot 3 present=0.
//   the same PC as a fresh seat (client remove + client add --mac --mode fresh): two boots,
//   both present=0 (the delta is dropped at each boot-script fetch).
// Every wait is bounded; the network helper kills qemu, dnsmasq and lanboot and deletes the
// namespaces, also when the test fails.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { buildLinuxDisk, parseSerialLog, readMarkerFromImage } from '../fixtures/linux-disk/build.js';
import { E1000_IPXE_ROM } from '../fixtures/linux-disk/vm.js';
import { startDnsmasq } from '../integration/dhcp-harness.js';
import { createTestNetwork } from '../helpers/netns.js';
import { lanbootMain, runLanbootCli } from '../helpers/supervisor.js';
import { killTree, requireTools, tempDir, waitExit, waitFor } from '../helpers/tools.js';

const LANBOOT = '10.83.0.1';
const ROUTER = '10.83.0.254';
const PC_MAC = '52:54:00:83:00:01';
/** Upper bound of one boot, qemu start to power-off (about 30-60 s under TCG here). */
const BOOT_TIMEOUT_MS = 300_000;

type Status = { services: Record<string, { running?: boolean; mode?: string }> };
type Waiting = { mac: string; code: string; arch: number | null };
type BootEventRow = { step: string; detail: string };

test('a PXE PC on a LAN with a home router boots its Linux from lanboot: persistent keeps its marker until reset, fresh never does', { timeout: 1_800_000 }, async (t) => {
  requireTools('ip', 'dnsmasq', 'qemu-system-x86_64');
  const image = await buildLinuxDisk({ log: (line) => t.diagnostic(line) });
  const work = await tempDir(t, 'lanboot-pxe-linux-');
  const dataDir = path.join(work, 'data');
  const routerDir = path.join(work, 'router');
  await fsp.mkdir(dataDir);
  await fsp.mkdir(routerDir);

  const net = await createTestNetwork(t, {
    hosts: [
      { name: 'lanboot', address: `${LANBOOT}/24` },
      { name: 'router', address: `${ROUTER}/24` },
    ],
  });
  await startDnsmasq(net, 'router', routerDir, '10.83.0.150,10.83.0.160');

  const env = { ...process.env };
  delete env['NOTIFY_SOCKET'];
  delete env['WATCHDOG_USEC'];
  delete env['LANBOOT_TFTP_PORT'];
  // --interface without --dhcp: proxyDHCP, the default.
  const serve = net.spawn('lanboot', process.execPath, [lanbootMain, 'serve', '--data', dataDir, '--interface', 'eth0', '--iscsi-port', '0', '--http-port', '0'], { env });
  let logs = '';
  const keepLog = (b: Buffer) => (logs = (logs + b.toString()).slice(-256 * 1024));
  serve.stdout?.on('data', keepLog);
  serve.stderr?.on('data', keepLog);
  const logTail = () => logs.split('\n').slice(-25).join('\n');
  const cli = async (args: string[]) => {
    const r = await runLanbootCli(dataDir, args);
    assert.equal(r.code, 0, `lanboot ${args.join(' ')}: ${r.stderr}\n${logTail()}`);
    return r.stdout;
  };
  /** Reset/remove may race the end of the PC's iSCSI session after its power-off: retry, bounded. */
  const cliWhenIdle = (args: string[]) =>
    waitFor(`lanboot ${args.join(' ')}`, async () => {
      const r = await runLanbootCli(dataDir, args);
      if (r.code !== 0) throw new Error(r.stderr || r.stdout);
      return r.stdout;
    }, 30_000, 500);

  const status = await waitFor<Status>('lanboot status --json', async () => {
    if (serve.exitCode !== null) throw new Error(`lanboot serve exited ${serve.exitCode}:\n${logTail()}`);
    const r = await runLanbootCli(dataDir, ['status', '--json'], 10_000);
    if (r.code !== 0) return undefined;
    const s = JSON.parse(r.stdout) as Status;
    return s.services['dhcp']?.running ? s : undefined;
  }, 60_000, 250);
  assert.equal(status.services['dhcp']?.mode, 'proxy');

  await cli(['image', 'import', image.imagePath, '--name', 'linux']);
  await net.addTap('tap0');

  let qemuStderr = '';
  /** Starts the PC (a new qemu: a cold boot from its NIC's PXE ROM). */
  const startPc = (label: string): { qemu: ChildProcess; serialFile: string } => {
    const serialFile = path.join(work, `${label}.serial.log`);
    const qemu = net.spawn('lan', 'qemu-system-x86_64', [
      '-machine', 'pc,accel=tcg', // iPXE crashed under KVM on this machine
      '-m', '512',
      '-display', 'none',
      '-monitor', 'none',
      '-serial', `file:${serialFile}`,
      '-no-reboot', // the guest's poweroff (or a panic, panic=-1) ends qemu
      '-netdev', 'tap,id=n0,ifname=tap0,script=no,downscript=no',
      '-device', `e1000,netdev=n0,mac=${PC_MAC},romfile=${E1000_IPXE_ROM}`,
      '-boot', 'n',
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    qemu.stderr?.on('data', (b: Buffer) => (qemuStderr = (qemuStderr + b.toString()).slice(-4096)));
    return { qemu, serialFile };
  };

  /** Waits (bounded) for the PC to power off; returns the marker line its Linux printed. */
  const finishBoot = async (label: string, pc: { qemu: ChildProcess; serialFile: string }, started: number) => {
    const exited = pc.qemu.exitCode !== null || (await waitExit(pc.qemu, BOOT_TIMEOUT_MS));
    if (!exited) {
      killTree(pc.qemu);
      await waitExit(pc.qemu, 10_000);
    }
    const serial = fs.existsSync(pc.serialFile) ? fs.readFileSync(pc.serialFile, 'latin1') : '';
    const report = parseSerialLog(serial);
    const context = `${label}: ${exited ? `qemu exit ${pc.qemu.exitCode ?? pc.qemu.signalCode}` : 'TIMED OUT'}, stages=[${report.stages.join(',')}]${report.error ? ` error=${report.error}` : ''}\n--- serial tail\n${serial.split('\n').slice(-30).join('\n')}\n--- qemu stderr\n${qemuStderr}\n--- lanboot log tail\n${logTail()}`;
    assert.ok(exited, context);
    assert.equal(report.error, undefined, context);
    assert.ok(report.marker, `no LANBOOT-MARKER line: ${context}`);
    assert.equal(report.written, report.marker.boot, `marker not written back: ${context}`);
    // The address iPXE got from the router reaches Linux through the iBFT: in the router's range.
    const address = /LANBOOT-STAGE net \S+ (10\.83\.0\.(\d+))\/24/.exec(serial);
    assert.ok(address && Number(address[2]) >= 150 && Number(address[2]) <= 160, `address not from the router's range: ${context}`);
    t.diagnostic(`${label}: ${Date.now() - started} ms, ${address[1]}, present=${report.marker.present ? 1 : 0} boot=${report.marker.boot}`);
    return { present: report.marker.present, boot: report.marker.boot };
  };
  const boot = async (label: string) => {
    const started = Date.now();
    return finishBoot(label, startPc(label), started);
  };

  // Boot 1: unknown PC -> enrollment script -> waiting; enrolled while it polls, it sanboots.
  const started = Date.now();
  const firstPc = startPc('boot1');
  const waiting = await waitFor<Waiting>(`${PC_MAC} in lanboot waiting (log:\n${logTail()})`, async () => {
    if (firstPc.qemu.exitCode !== null) throw new Error(`qemu exited ${firstPc.qemu.exitCode} before enrollment`);
    const r = await runLanbootCli(dataDir, ['waiting', '--json'], 10_000);
    return r.code === 0 ? (JSON.parse(r.stdout) as Waiting[]).find((w) => w.mac === PC_MAC) : undefined;
  }, BOOT_TIMEOUT_MS, 1000);
  assert.equal(waiting.arch, 0, 'BIOS (RFC 4578 arch 0)');
  await cli(['enroll', waiting.code, '--name', 'pc1', '--image', 'linux', '--mode', 'persistent']);
  assert.deepEqual(await finishBoot('boot1', firstPc, started), { present: false, boot: 1 }, 'a new seat starts from the golden image');

  // The address came from the router, the boot file from lanboot (proxyDHCP, PXE 2.1 section 2.2).
  const leases = await fsp.readFile(path.join(routerDir, 'dnsmasq.leases'), 'utf8');
  assert.match(leases, new RegExp(PC_MAC), "the PC's lease is the router's");
  const events = JSON.parse(await cli(['boot', 'events', PC_MAC, '--json'])) as BootEventRow[];
  t.diagnostic(`boot timeline: ${events.map((e) => `${e.step}: ${e.detail}`).join(' | ')}`);
  const stepAt = (what: string, predicate: (e: BootEventRow) => boolean) => {
    const i = events.findIndex(predicate);
    assert.ok(i >= 0, `${what} missing from ${JSON.stringify(events)}`);
    return i;
  };
  const pxe = stepAt('a proxyDHCP step', (e) => e.step.startsWith('proxy-') || e.step.startsWith('dhcp-'));
  const enrollment = stepAt('the enrollment script', (e) => e.step === 'http-script' && /enrollment/.test(e.detail));
  const enrolled = stepAt('the enrollment', (e) => e.step === 'enrolled');
  const sanboot = stepAt('the sanboot script', (e) => e.step === 'http-script' && /sanboot: seat pc1 \(persistent\)/.test(e.detail));
  assert.ok(pxe < enrollment && enrollment < enrolled && enrolled < sanboot, 'steps in boot order');

  assert.deepEqual(await boot('boot2'), { present: true, boot: 2 }, 'a persistent seat keeps what it wrote');
  await cliWhenIdle(['client', 'reset', 'pc1']);
  assert.deepEqual(await boot('boot3-after-reset'), { present: false, boot: 1 }, 'reset brings back the golden image');

  // The same PC as a fresh seat: whatever it writes is gone at its next boot.
  await cliWhenIdle(['client', 'remove', 'pc1']);
  await cli(['client', 'add', '--name', 'pc1fresh', '--image', 'linux', '--mac', PC_MAC, '--mode', 'fresh']);
  assert.deepEqual(await boot('fresh-boot1'), { present: false, boot: 1 });
  assert.deepEqual(await boot('fresh-boot2'), { present: false, boot: 1 }, 'a fresh seat never keeps its marker');
  const freshScripts = (JSON.parse(await cli(['boot', 'events', PC_MAC, '--json'])) as BootEventRow[]).filter(
    (e) => e.step === 'http-script' && /sanboot: seat pc1fresh \(fresh\)/.test(e.detail),
  );
  assert.equal(freshScripts.length, 2, 'each fresh boot fetched its own sanboot script');

  assert.equal(await readMarkerFromImage(image.imagePath), undefined, 'the golden image never changes');
});
