// The whole network-boot chain through `lanboot serve` itself: in network namespaces
// this test creates, lanboot runs full DHCP on its veth (no router), and a qemu PC (TCG, BIOS,
// e1000 whose option ROM is iPXE) boots from the LAN. The PC must get lanboot's boot-script URL
// by DHCP, show up in `lanboot waiting` with its arch from the DHCP step, get enrolled with
// `lanboot enroll CODE`, and at its next poll sanboot its disk over iSCSI: the disk's boot
// sector prints a marker unique to this run on COM1. The boot timeline holds each step.
// A UEFI variant (OVMF, NIC without option ROM) takes the firmware's own PXE path: DHCP ->
// snponly.efi over lanboot's TFTP -> iPXE -> script -> enrollment -> iSCSI login.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { createTestNetwork } from '../helpers/netns.js';
import { lanbootMain, runLanbootCli } from '../helpers/supervisor.js';
import { requireTools, tempDir, waitFor } from '../helpers/tools.js';
import { bootSectorPrinting } from '../fixtures/boot-sector.js';
import { startDnsmasq } from './dhcp-harness.js';

const LANBOOT = '10.82.0.1';
const ROUTER = '10.82.0.254';
/** Under TCG the chain took about a minute here; an upper bound only. */
const BOOT_TIMEOUT_MS = 300_000;

type Status = { http: { port: number }; services: Record<string, { running?: boolean; mode?: string; port?: number }> };
type Waiting = { mac: string; code: string; arch: number | null; vendorClass: string | null };
type BootEventRow = { step: string; detail: string; arch: number | null };

/** A LAN (network namespaces) with `lanboot serve` in full-DHCP mode on it, a golden image
 *  whose boot sector prints `marker`, and a tap for the PC. */
async function lanWithLanboot(t: TestContext, mode: 'full' | 'proxy' = 'full') {
  requireTools('ip', 'qemu-system-x86_64', ...(mode === 'proxy' ? ['dnsmasq'] : []));
  const work = await tempDir(t, 'lanboot-boot-vm-');
  const dataDir = path.join(work, 'data');
  await fsp.mkdir(dataDir);
  const net = await createTestNetwork(t, {
    hosts: [{ name: 'lanboot', address: `${LANBOOT}/24` }, ...(mode === 'proxy' ? [{ name: 'router', address: `${ROUTER}/24` }] : [])],
  });
  if (mode === 'proxy') {
    // The home router: DHCP only (dnsmasq), knows nothing about network boot.
    const routerDir = path.join(work, 'router');
    await fsp.mkdir(routerDir);
    await startDnsmasq(net, 'router', routerDir, '10.82.0.150,10.82.0.160');
  }

  const env = { ...process.env };
  delete env['NOTIFY_SOCKET'];
  delete env['WATCHDOG_USEC'];
  delete env['LANBOOT_TFTP_PORT'];
  const serve = net.spawn(
    'lanboot',
    process.execPath,
    [
      lanbootMain, 'serve', '--data', dataDir, '--interface', 'eth0', '--iscsi-port', '0', '--http-port', '0',
      // proxy: the default with --interface, no flag needed.
      ...(mode === 'full' ? ['--dhcp', 'full', '--dhcp-range', '10.82.0.100-10.82.0.110'] : []),
    ],
    { env },
  );
  let logs = '';
  serve.stdout?.on('data', (b: Buffer) => (logs = (logs + b.toString()).slice(-256 * 1024)));
  serve.stderr?.on('data', (b: Buffer) => (logs = (logs + b.toString()).slice(-256 * 1024)));
  const cli = async (args: string[]) => {
    const r = await runLanbootCli(dataDir, args);
    assert.equal(r.code, 0, `lanboot ${args.join(' ')}: ${r.stderr}\n${logs.slice(-3000)}`);
    return r.stdout;
  };

  const status = await waitFor<Status>(
    'lanboot status --json',
    async () => {
      if (serve.exitCode !== null) throw new Error(`lanboot serve exited ${serve.exitCode}:\n${logs.slice(-3000)}`);
      const r = await runLanbootCli(dataDir, ['status', '--json'], 10_000);
      if (r.code !== 0) return undefined;
      const s = JSON.parse(r.stdout) as Status;
      return s.services['dhcp']?.running ? s : undefined;
    },
    60_000,
    250,
  );
  assert.equal(status.services['dhcp']?.mode, mode);
  assert.equal(status.services['tftp']?.running, true, JSON.stringify(status.services));
  assert.equal(status.services['tftp']?.port, 69, 'TFTP on its well-known port as root');

  const marker = `LANBOOT-ENROLLED-${crypto.randomBytes(6).toString('hex')}`;
  const image = path.join(work, 'disk.img');
  await fsp.writeFile(image, Buffer.concat([bootSectorPrinting(marker), Buffer.alloc(8 * 1024 * 1024 - 512)]));
  await cli(['image', 'import', image, '--name', 'marker']);
  await net.addTap('tap0');

  const waitForWaiting = (mac: string) =>
    waitFor<Waiting>(
      `${mac} in lanboot waiting (lanboot log: ${logs.slice(-1500)})`,
      async () => {
        const r = await runLanbootCli(dataDir, ['waiting', '--json'], 10_000);
        if (r.code !== 0) return undefined;
        return (JSON.parse(r.stdout) as Waiting[]).find((w) => w.mac === mac);
      },
      BOOT_TIMEOUT_MS,
      1000,
    );
  const bootEvents = async (mac: string) => JSON.parse(await cli(['boot', 'events', mac, '--json'])) as BootEventRow[];
  return { work, net, cli, marker, logs: () => logs, waitForWaiting, bootEvents };
}

function qemuArgs(mac: string, serialFile: string, nic: string[], extra: string[]): string[] {
  return [
    '-machine', 'accel=tcg', // iPXE crashed under KVM on this machine
    '-m', '256',
    '-display', 'none',
    '-serial', `file:${serialFile}`,
    '-monitor', 'none',
    '-no-reboot',
    '-netdev', 'tap,id=n0,ifname=tap0,script=no,downscript=no',
    '-device', [...nic, 'netdev=n0', `mac=${mac}`].join(','),
    ...extra,
  ];
}

function indexOfStep(events: BootEventRow[], predicate: (e: BootEventRow) => boolean, what: string): number {
  const i = events.findIndex(predicate);
  assert.ok(i >= 0, `${what} missing from ${JSON.stringify(events)}`);
  return i;
}

for (const mode of ['full', 'proxy'] as const) {
  test(`a BIOS PC boots from the LAN (${mode === 'full' ? 'lanboot full DHCP, no router' : 'home router DHCP + lanboot proxyDHCP'}), waits with a code, is enrolled and sanboots its disk`, { timeout: BOOT_TIMEOUT_MS + 120_000 }, async (t) => {
    const lan = await lanWithLanboot(t, mode);
    const mac = mode === 'full' ? '52:54:00:82:00:01' : '52:54:00:82:00:11';
    const serialFile = path.join(lan.work, 'serial.log');
    lan.net.spawn('lan', 'qemu-system-x86_64', qemuArgs(mac, serialFile, ['e1000'], ['-boot', 'n']));

    const waiting = await lan.waitForWaiting(mac);
    t.diagnostic(`waiting: ${JSON.stringify(waiting)}`);
    assert.match(waiting.code, /^[A-Z0-9]{6}$/);
    assert.equal(waiting.arch, 0, 'BIOS (RFC 4578 arch 0), from the DHCP step');
    assert.match(waiting.vendorClass ?? '', /^PXEClient/);

    await lan.cli(['enroll', waiting.code, '--name', 'vm-1', '--image', 'marker', '--mode', 'persistent']);
    await waitFor(
      `the boot sector's marker on COM1 (lanboot log: ${lan.logs().slice(-1500)})`,
      async () => (fs.existsSync(serialFile) && fs.readFileSync(serialFile, 'latin1').includes(lan.marker) ? true : undefined),
      BOOT_TIMEOUT_MS,
      1000,
    );

    const events = await lan.bootEvents(mac);
    t.diagnostic(`boot timeline: ${events.map((e) => `${e.step}: ${e.detail}`).join(' | ')}`);
    const dhcp = indexOfStep(events, (e) => e.step.startsWith('dhcp-') || e.step === 'proxy-request', 'a DHCP step');
    const enrollment = indexOfStep(events, (e) => e.step === 'http-script' && /enrollment/.test(e.detail), 'the enrollment script');
    const enrolled = indexOfStep(events, (e) => e.step === 'enrolled', 'the enrollment');
    const sanboot = indexOfStep(events, (e) => e.step === 'http-script' && /sanboot: seat vm-1/.test(e.detail), 'the sanboot script');
    assert.ok(dhcp < enrollment && enrollment < enrolled && enrolled < sanboot, 'steps in boot order');
    assert.equal(events[dhcp]!.arch, 0);
    const waitingAfter = JSON.parse(await lan.cli(['waiting', '--json'])) as Waiting[];
    assert.ok(!waitingAfter.some((w) => w.mac === mac));
  });
}

test('a UEFI PC (OVMF, NIC without ROM) gets snponly.efi from lanboot\'s TFTP, waits, is enrolled and logs in to its disk', { timeout: BOOT_TIMEOUT_MS + 120_000 }, async (t) => {
  const lan = await lanWithLanboot(t);
  const mac = '52:54:00:82:00:02';
  const vars = path.join(lan.work, 'OVMF_VARS.fd');
  await fsp.copyFile('/usr/share/OVMF/OVMF_VARS_4M.fd', vars);
  lan.net.spawn('lan', 'qemu-system-x86_64', qemuArgs(mac, path.join(lan.work, 'serial.log'), ['virtio-net-pci', 'romfile='], [
    '-drive', 'if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd',
    '-drive', `if=pflash,format=raw,unit=1,file=${vars}`,
  ]));

  const waiting = await lan.waitForWaiting(mac);
  t.diagnostic(`waiting: ${JSON.stringify(waiting)}`);
  assert.ok(waiting.arch === 7 || waiting.arch === 9, `UEFI x64 arch from the firmware's DHCP step, got ${waiting.arch}`);
  await lan.cli(['enroll', waiting.code, '--name', 'vm-2', '--image', 'marker', '--mode', 'fresh']);
  // A UEFI PC does not run an MBR boot sector: the proof is its iSCSI login as the seat.
  await waitFor(
    `an iSCSI login to seat vm-2 (lanboot log: ${lan.logs().slice(-2000)})`,
    async () => (lan.logs().split('\n').some((line) => line.includes('"msg":"iSCSI login"') && line.includes('seat.vm-2')) ? true : undefined),
    BOOT_TIMEOUT_MS,
    1000,
  );

  const events = await lan.bootEvents(mac);
  t.diagnostic(`boot timeline: ${events.map((e) => `${e.step}: ${e.detail}`).join(' | ')}`);
  const firmware = indexOfStep(events, (e) => e.step.startsWith('dhcp-') && /pxe-uefi/.test(e.detail), "the firmware's DHCP step");
  const tftp = indexOfStep(events, (e) => e.step === 'tftp-ok' && /snponly\.efi/.test(e.detail), 'the TFTP transfer of snponly.efi');
  const ipxe = indexOfStep(events, (e) => e.step.startsWith('dhcp-') && /ipxe: boot file http/.test(e.detail), "iPXE's DHCP step");
  const enrolled = indexOfStep(events, (e) => e.step === 'enrolled', 'the enrollment');
  const sanboot = indexOfStep(events, (e) => e.step === 'http-script' && /sanboot: seat vm-2/.test(e.detail), 'the sanboot script');
  assert.ok(firmware < tftp && tftp < ipxe && ipxe < enrolled && enrolled < sanboot, 'steps in boot order');
});

test('a UEFI HTTP-boot PC (OVMF, PXE off) fetches iPXE from lanboot over HTTP and reaches the enrollment script', { timeout: BOOT_TIMEOUT_MS + 120_000 }, async (t) => {
  const lan = await lanWithLanboot(t);
  const mac = '52:54:00:82:00:03';
  const vars = path.join(lan.work, 'OVMF_VARS.fd');
  await fsp.copyFile('/usr/share/OVMF/OVMF_VARS_4M.fd', vars);
  lan.net.spawn('lan', 'qemu-system-x86_64', qemuArgs(mac, path.join(lan.work, 'serial.log'), ['virtio-net-pci', 'romfile='], [
    '-drive', 'if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd',
    '-drive', `if=pflash,format=raw,unit=1,file=${vars}`,
    // OVMF reads these fw_cfg switches: no PXE, so its HTTP boot client runs.
    '-fw_cfg', 'name=opt/org.tianocore/IPv4PXESupport,string=n',
    '-fw_cfg', 'name=opt/org.tianocore/IPv6PXESupport,string=n',
  ]));
  const waiting = await lan.waitForWaiting(mac);
  t.diagnostic(`waiting: ${JSON.stringify(waiting)}`);
  const events = await lan.bootEvents(mac);
  t.diagnostic(`boot timeline: ${events.map((e) => `${e.step}: ${e.detail}`).join(' | ')}`);
  const firmware = indexOfStep(events, (e) => e.step.startsWith('dhcp-') && /http-uefi: boot file http:\/\/10\.82\.0\.1:\d+\/ipxe\/snponly\.efi/.test(e.detail), "the firmware's HTTP-boot DHCP step");
  const binary = indexOfStep(events, (e) => e.step === 'http-binary' && /^snponly\.efi: \d+ bytes/.test(e.detail), 'the HTTP fetch of snponly.efi');
  const enrollment = indexOfStep(events, (e) => e.step === 'http-script' && /enrollment/.test(e.detail), 'the enrollment script');
  assert.ok(firmware < binary && binary < enrollment, 'steps in boot order');
  // The waiting list shows the latest DHCP step's view: iPXE's (UEFI x64, PXEClient).
  assert.ok(waiting.arch === 7 || waiting.arch === 9, `arch ${waiting.arch}`);
  assert.equal(events[firmware]!.arch, 16, 'the firmware asked as UEFI x64 HTTP (RFC 4578 arch 16)');
});
