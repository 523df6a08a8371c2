// Real PXE clients against lanboot's proxyDHCP, next to a home router (dnsmasq, DHCP only),
// and against full mode with no router:
//  - BIOS: qemu's e1000 option ROM (iPXE) must get the HTTP boot-script URL at once.
//  - UEFI: OVMF's own PXE client (NIC without option ROM) must get snponly.efi by TFTP, run it,
//    and that iPXE must then get the boot-script URL: the whole chain without a loop.
//  - UEFI HTTP boot: OVMF with PXE switched off must get the iPXE binary's http URL (option 60
//    HTTPClient echoed), fetch and run it, and that iPXE must then get the script.
// The "boot script" chains to a marker URL carrying the PC's MAC; seeing that request in the
// HTTP server's log proves the PC ran lanboot's answer. TFTP and HTTP here are peers (dnsmasq
// TFTP-only, busybox httpd): this test is about DHCP, the TFTP/HTTP servers have their own.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { createTestNetwork } from '../helpers/netns.js';
import { requireTools, tempDir, waitFor } from '../helpers/tools.js';
import { startDnsmasq, startLanbootDhcp } from './dhcp-harness.js';

const ROUTER = '10.81.0.1';
const LANBOOT = '10.81.0.2';
const HTTP_PORT = 8080;
/** TCG boots are slow on a shared 2-core machine: generous, and only an upper bound. */
const BOOT_TIMEOUT_MS = 240_000;

/** proxy: a router (dnsmasq) hands out addresses and lanboot runs proxyDHCP; full: no router,
 *  lanboot hands out addresses itself (leases in SQLite at dbFile). */
async function lanWithDhcp(t: TestContext, mode: 'proxy' | 'full' = 'proxy') {
  requireTools('ip', 'dnsmasq', 'busybox', 'qemu-system-x86_64');
  const dir = await tempDir(t, 'lanboot-dhcp-qemu-');
  const net = await createTestNetwork(t, {
    hosts: mode === 'proxy' ? [{ name: 'router', address: `${ROUTER}/24` }, { name: 'lanboot', address: `${LANBOOT}/24` }] : [{ name: 'lanboot', address: `${LANBOOT}/24` }],
  });
  if (mode === 'proxy') {
    const routerDir = path.join(dir, 'router');
    await fsp.mkdir(routerDir);
    await startDnsmasq(net, 'router', routerDir, '10.81.0.100,10.81.0.150');
  }
  const dbFile = path.join(dir, 'lanboot.db');
  const lanboot = await startLanbootDhcp(net, 'lanboot', {
    mode,
    interfaceName: 'eth0',
    bindMode: 'interface',
    boot: { httpPort: HTTP_PORT },
    ...(mode === 'full' ? { dbFile, rangeFirst: '10.81.0.200', rangeLast: '10.81.0.210', detectTimeoutMs: 1000 } : {}),
  });
  assert.equal(lanboot.events.at(-1)?.event, 'ready', lanboot.stderr());

  // HTTP: boot.ipxe chains to /booted/<mac>, which the test waits for in the access log.
  const www = path.join(dir, 'www');
  await fsp.mkdir(path.join(www, 'booted'), { recursive: true });
  await fsp.writeFile(path.join(www, 'boot.ipxe'), `#!ipxe\nchain http://${LANBOOT}:${HTTP_PORT}/booted/\${net0/mac:hexhyp}\n`);
  const httpd = net.spawn('lanboot', 'busybox', ['httpd', '-f', '-vv', '-p', `${LANBOOT}:${HTTP_PORT}`, '-h', www]);
  let httpLog = '';
  httpd.stderr?.on('data', (b: Buffer) => (httpLog = (httpLog + b.toString()).slice(-65536)));

  // TFTP for the firmware's first step: dnsmasq with DHCP off, serving Debian's iPXE binaries.
  const tftp = net.spawn('lanboot', 'dnsmasq', ['--port=0', '--enable-tftp', '--tftp-root=/usr/lib/ipxe', '--interface=eth0', '--bind-interfaces', '--keep-in-foreground', '--log-facility=-', '--user=root', `--pid-file=${path.join(dir, 'tftp.pid')}`]);
  let tftpLog = '';
  tftp.stderr?.on('data', (b: Buffer) => (tftpLog = (tftpLog + b.toString()).slice(-65536)));
  await waitFor('dnsmasq TFTP', async () => (/TFTP root is/.test(tftpLog) ? true : undefined), 10_000);

  const tap = await net.addTap('tap0');
  return { dir, dbFile, www, net, lanboot, tap, httpLog: () => httpLog, tftpLog: () => tftpLog };
}

function qemuArgs(mac: string, nic: string[], extra: string[]): string[] {
  return [
    '-machine', 'accel=tcg', // iPXE crashed under KVM on this machine
    '-m', '256',
    '-display', 'none',
    '-serial', 'none',
    '-monitor', 'none',
    '-no-reboot',
    '-netdev', 'tap,id=n0,ifname=tap0,script=no,downscript=no',
    '-device', [...nic, 'netdev=n0', `mac=${mac}`].join(','),
    ...extra,
  ];
}

test('BIOS PC with an iPXE option ROM: gets the boot-script URL from lanboot, its address from the router', { timeout: BOOT_TIMEOUT_MS + 60_000 }, async (t) => {
  const { net, lanboot, httpLog } = await lanWithDhcp(t);
  const mac = '52:54:00:81:00:01';
  net.spawn('lan', 'qemu-system-x86_64', qemuArgs(mac, ['e1000'], ['-boot', 'n']));
  await waitFor(`GET /booted/52-54-00-81-00-01 (http log: ${httpLog().slice(-1500)}; lanboot: ${lanboot.stderr().slice(-1500)})`, async () => (httpLog().includes('/booted/52-54-00-81-00-01') ? true : undefined), BOOT_TIMEOUT_MS, 500);
  assert.match(httpLog(), /\/boot\.ipxe/);
  const steps = lanboot.events.filter((e) => e.event === 'pxe-request' && e['mac'] === mac);
  t.diagnostic(`boot steps: ${steps.map((e) => `${e['step']}/${e['stage']}/arch ${e['arch']}`).join(', ')}`);
  // qemu's ROM is iPXE: straight to the script, never a binary (no chainload loop).
  assert.ok(steps.length > 0);
  assert.ok(steps.every((e) => e['stage'] === 'ipxe'), JSON.stringify(steps));
  assert.ok(steps.some((e) => e['step'] === 'dhcp-discover'));
});

test('UEFI PC (OVMF, NIC without ROM): firmware PXE -> snponly.efi over TFTP -> iPXE -> boot script', { timeout: BOOT_TIMEOUT_MS + 60_000 }, async (t) => {
  const { dir, net, lanboot, httpLog, tftpLog } = await lanWithDhcp(t);
  const mac = '52:54:00:81:00:02';
  const vars = path.join(dir, 'OVMF_VARS.fd');
  await fsp.copyFile('/usr/share/OVMF/OVMF_VARS_4M.fd', vars);
  net.spawn('lan', 'qemu-system-x86_64', qemuArgs(mac, ['virtio-net-pci', 'romfile='], [
    '-drive', 'if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd',
    '-drive', `if=pflash,format=raw,unit=1,file=${vars}`,
  ]));
  await waitFor(`GET /booted/52-54-00-81-00-02 (tftp: ${tftpLog().slice(-1500)}; http: ${httpLog().slice(-1500)}; lanboot: ${lanboot.stderr().slice(-2500)})`, async () => (httpLog().includes('/booted/52-54-00-81-00-02') ? true : undefined), BOOT_TIMEOUT_MS, 500);
  assert.match(tftpLog(), /sent \/usr\/lib\/ipxe\/snponly\.efi/);
  const events = lanboot.events.filter((e) => e.event === 'pxe-request' && e['mac'] === mac);
  t.diagnostic(`boot steps: ${events.map((e) => `${e['step']}/${e['stage']}/arch ${e['arch']}`).join(', ')}`);
  const stages = events.map((e) => e['stage']);
  assert.equal(stages[0], 'pxe-uefi');
  assert.ok(stages.includes('ipxe'), JSON.stringify(stages));
  // Once iPXE runs it only ever gets the script: no pxe-uefi answer after the first ipxe one.
  assert.ok(!stages.slice(stages.indexOf('ipxe')).includes('pxe-uefi'), JSON.stringify(stages));
});

test('full mode, no router: the BIOS PC gets its address and the boot-script URL from lanboot', { timeout: BOOT_TIMEOUT_MS + 60_000 }, async (t) => {
  const { net, dbFile, lanboot, httpLog } = await lanWithDhcp(t, 'full');
  const mac = '52:54:00:81:00:03';
  net.spawn('lan', 'qemu-system-x86_64', qemuArgs(mac, ['e1000'], ['-boot', 'n']));
  await waitFor(`GET /booted/52-54-00-81-00-03 (http log: ${httpLog().slice(-1500)}; lanboot: ${lanboot.stderr().slice(-1500)})`, async () => (httpLog().includes('/booted/52-54-00-81-00-03') ? true : undefined), BOOT_TIMEOUT_MS, 500);
  const lease = await lanboot.waitEvent((e) => e.event === 'lease' && e['mac'] === mac, 'lease event');
  assert.equal(lease['ip'], '10.81.0.200');
  const db = new Database(dbFile, { readonly: true });
  try {
    const row = db.prepare('SELECT ip, state FROM dhcp_leases WHERE mac = ?').get(mac) as { ip: string; state: string } | undefined;
    assert.deepEqual({ ...row }, { ip: '10.81.0.200', state: 'bound' });
  } finally {
    db.close();
  }
  const steps = lanboot.events.filter((e) => e.event === 'pxe-request' && e['mac'] === mac);
  t.diagnostic(`boot steps: ${steps.map((e) => `${e['step']}/${e['stage']}/arch ${e['arch']}`).join(', ')}`);
  assert.ok(steps.some((e) => e['step'] === 'dhcp-request' && e['stage'] === 'ipxe'), JSON.stringify(steps));
});

test('UEFI HTTP boot (OVMF, PXE switched off): HTTPClient gets the iPXE URL, then iPXE gets the script', { timeout: BOOT_TIMEOUT_MS + 60_000 }, async (t) => {
  const { dir, net, lanboot, httpLog, www } = await lanWithDhcp(t);
  const mac = '52:54:00:81:00:04';
  await fsp.mkdir(path.join(www, 'ipxe'));
  await fsp.copyFile('/usr/lib/ipxe/snponly.efi', path.join(www, 'ipxe', 'snponly.efi'));
  const vars = path.join(dir, 'OVMF_VARS.fd');
  await fsp.copyFile('/usr/share/OVMF/OVMF_VARS_4M.fd', vars);
  net.spawn('lan', 'qemu-system-x86_64', qemuArgs(mac, ['virtio-net-pci', 'romfile='], [
    '-drive', 'if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd',
    '-drive', `if=pflash,format=raw,unit=1,file=${vars}`,
    // OVMF reads these fw_cfg switches: no PXE, so its HTTP boot client runs.
    '-fw_cfg', 'name=opt/org.tianocore/IPv4PXESupport,string=n',
    '-fw_cfg', 'name=opt/org.tianocore/IPv6PXESupport,string=n',
  ]));
  await waitFor(`GET /booted/52-54-00-81-00-04 (http: ${httpLog().slice(-1500)}; lanboot: ${lanboot.stderr().slice(-2500)})`, async () => (httpLog().includes('/booted/52-54-00-81-00-04') ? true : undefined), BOOT_TIMEOUT_MS, 500);
  assert.match(httpLog(), /\/ipxe\/snponly\.efi/);
  const events = lanboot.events.filter((e) => e.event === 'pxe-request' && e['mac'] === mac);
  t.diagnostic(`boot steps: ${events.map((e) => `${e['step']}/${e['stage']}/arch ${e['arch']}`).join(', ')}`);
  const stages = events.map((e) => e['stage']);
  assert.equal(stages[0], 'http-uefi');
  assert.ok(stages.includes('ipxe'), JSON.stringify(stages));
});
