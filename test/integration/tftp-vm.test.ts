// Firmware as TFTP clients, in a VM: the TFTP server's real customers.
//  - UEFI: OVMF's own PXE client (edk2; the NIC has no option ROM) downloads ipxe.efi and starts
//    it. edk2 first sends a "tsize" probe that it ends with ERROR 8, then downloads with blksize
//    and windowsize: both show up as transfer events.
//  - BIOS: SeaBIOS with the NIC's option ROM (iPXE in Debian's qemu) downloads undionly.kpxe.
//
// In a network namespace each test creates: a bridge with the server address, a tap for qemu,
// dnsmasq for DHCP only (its TFTP off; it names the boot file and this server), the TFTP server
// in a child process inside the namespace (it must bind the bridge address), and qemu (TCG:
// iPXE crashed under KVM here). Everything is removed in t.after, also on failure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';
const IPXE_EFI = '/usr/lib/ipxe/ipxe.efi';
const IPXE_BIOS = '/usr/lib/ipxe/undionly.kpxe';
const SERVER_ADDRESS = '10.77.31.1';
const serverModule = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/tftp/server.js');

function requireTool(name: string): void {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  assert.equal(found.status, 0, `${name} is not installed: run scripts/install-system-deps.sh`);
}

function waitForExit(child: ChildProcess, ms: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve();
    }, ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

interface ServerLine {
  kind: 'listening' | 'request' | 'transfer';
  event?: { file: string; result?: string; errorCode?: string; bytes?: number; blockSize?: number; windowSize?: number; options?: Record<string, string> };
}

interface VmBootResult {
  lines: ServerLine[];
  download: ServerLine;
  expectedSize: number;
  serialLog: string;
}

async function bootVmFromTftp(
  t: { after: (fn: () => Promise<void>) => void },
  firmware: 'uefi' | 'bios',
  bootFile: string,
  bootFileSource: string,
): Promise<VmBootResult> {
  assert.equal(process.getuid?.(), 0, 'this test needs root (network namespace, tap device)');
  for (const tool of ['ip', 'dnsmasq', 'qemu-system-x86_64']) requireTool(tool);
  await fs.access(bootFileSource);

  const netns = `lanboot-tftp-vm-${process.pid}-${firmware}`;
  const base = await fs.mkdtemp(path.join(os.tmpdir(), `lanboot-tftp-${firmware}-`));
  const children: ChildProcess[] = [];
  t.after(async () => {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(children.map((child) => waitForExit(child, 3000)));
    try {
      execFileSync('ip', ['netns', 'del', netns], { stdio: 'ignore' });
    } catch {
      // never created
    }
    await fs.rm(base, { recursive: true, force: true });
  });

  const ns = (...argv: string[]): void => void execFileSync('ip', ['-n', netns, ...argv]);
  execFileSync('ip', ['netns', 'add', netns]);
  ns('link', 'set', 'lo', 'up');
  // forward_delay 0 / stp off, or the bridge drops frames for its first 15 s.
  ns('link', 'add', 'br0', 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0');
  ns('addr', 'add', `${SERVER_ADDRESS}/24`, 'dev', 'br0');
  ns('link', 'set', 'br0', 'up');
  ns('tuntap', 'add', 'tap0', 'mode', 'tap');
  ns('link', 'set', 'tap0', 'master', 'br0');
  ns('link', 'set', 'tap0', 'up');

  const root = path.join(base, 'root');
  await fs.mkdir(root);
  await fs.copyFile(bootFileSource, path.join(root, bootFile));
  const expectedSize = (await fs.stat(bootFileSource)).size;

  // The TFTP server, inside the namespace, reporting its events as JSON lines.
  const script = `
    import { TftpServer } from ${JSON.stringify(serverModule)};
    const server = new TftpServer({ root: ${JSON.stringify(root)}, host: ${JSON.stringify(SERVER_ADDRESS)}, port: 69 });
    server.on('request', (event) => console.log(JSON.stringify({ kind: 'request', event })));
    server.on('transfer', (event) => console.log(JSON.stringify({ kind: 'transfer', event })));
    await server.start();
    console.log(JSON.stringify({ kind: 'listening' }));
    process.on('SIGTERM', () => server.stop().then(() => process.exit(0)));
  `;
  const server = spawn('ip', ['netns', 'exec', netns, process.execPath, '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(server);
  const lines: ServerLine[] = [];
  const waiters: Array<() => void> = [];
  readline.createInterface({ input: server.stdout! }).on('line', (line) => {
    lines.push(JSON.parse(line) as ServerLine);
    for (const wake of waiters.splice(0)) wake();
  });
  const waitForLine = async (predicate: (line: ServerLine) => boolean, ms: number, what: string): Promise<ServerLine> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = lines.find(predicate);
      if (found) return found;
      const left = deadline - Date.now();
      assert.ok(left > 0, `timed out waiting for ${what}; server said: ${JSON.stringify(lines)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1000));
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  };
  await waitForLine((line) => line.kind === 'listening', 10_000, 'the TFTP server');

  // DHCP only: names the boot file and this server (next-server); dnsmasq's own TFTP stays off.
  const dnsmasq = spawn(
    'ip',
    [
      'netns', 'exec', netns, 'dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--port=0', '--no-resolv', '--no-hosts',
      `--pid-file=${path.join(base, 'dnsmasq.pid')}`, `--dhcp-leasefile=${path.join(base, 'dnsmasq.leases')}`,
      '--interface=br0', '--bind-interfaces', '--dhcp-range=10.77.31.50,10.77.31.60,255.255.255.0',
      `--dhcp-boot=${bootFile},,${SERVER_ADDRESS}`, '--log-facility=/dev/null',
    ],
    { stdio: 'ignore' },
  );
  children.push(dnsmasq);

  const serialLog = path.join(base, 'serial.log');
  let machineArgs: string[];
  if (firmware === 'uefi') {
    const vars = path.join(base, 'OVMF_VARS.fd');
    await fs.copyFile(OVMF_VARS, vars);
    machineArgs = [
      '-machine', 'q35,accel=tcg',
      '-drive', `if=pflash,format=raw,readonly=on,file=${OVMF_CODE}`, '-drive', `if=pflash,format=raw,file=${vars}`,
      // romfile= : no iPXE option ROM, so the firmware's own PXE client does the TFTP download.
      '-device', 'virtio-net-pci,netdev=n0,romfile=',
    ];
  } else {
    // SeaBIOS with the NIC's option ROM, which in Debian's qemu is iPXE: its TFTP client fetches
    // the BIOS boot file, as in the BIOS VM test of the boot chain.
    machineArgs = ['-machine', 'pc,accel=tcg', '-boot', 'n', '-device', 'e1000,netdev=n0'];
  }
  const qemu = spawn(
    'ip',
    [
      'netns', 'exec', netns, 'qemu-system-x86_64', '-m', '512', ...machineArgs,
      '-netdev', 'tap,id=n0,ifname=tap0,script=no,downscript=no',
      '-display', 'none', '-serial', `file:${serialLog}`, '-monitor', 'none',
    ],
    { stdio: 'ignore' },
  );
  children.push(qemu);

  const download = await waitForLine(
    (line) => line.kind === 'transfer' && line.event?.result === 'ok',
    180_000,
    'a completed download by the firmware',
  );
  return { lines, download, expectedSize, serialLog };
}

async function readSerialUntil(serialLog: string, needle: string, ms: number): Promise<string> {
  const deadline = Date.now() + ms;
  let serial = '';
  while (Date.now() < deadline) {
    serial = await fs.readFile(serialLog, 'utf8').catch(() => '');
    if (serial.includes(needle)) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return serial;
}

test('OVMF (UEFI PXE, edk2) downloads ipxe.efi over TFTP with windowsize and starts it', { timeout: 240_000 }, async (t) => {
  const { lines, download, expectedSize, serialLog } = await bootVmFromTftp(t, 'uefi', 'ipxe.efi', IPXE_EFI);
  assert.equal(download.event?.file, 'ipxe.efi');
  assert.equal(download.event?.bytes, expectedSize);
  const requests = lines.filter((line) => line.kind === 'request').map((line) => line.event!);
  assert.ok(requests.length >= 1);
  // What edk2 asked for and got (recorded in docs/tftp.md): blksize and windowsize.
  assert.ok(requests.some((request) => request.options?.windowsize !== undefined), `edk2 asked for windowsize: ${JSON.stringify(requests)}`);
  assert.ok((download.event?.windowSize ?? 0) > 1, 'the download ran with a window');
  const probes = lines.filter((line) => line.kind === 'transfer' && line.event?.result !== 'ok').map((line) => line.event!);
  assert.ok(
    probes.every((probe) => probe.errorCode === 'TFTP_CLIENT_DECLINED'),
    `only tsize probes end early: ${JSON.stringify(probes)}`,
  );
  // The firmware ran what it downloaded: iPXE announces itself on the serial console.
  const serial = await readSerialUntil(serialLog, 'iPXE', 60_000);
  assert.match(serial, /NBP file downloaded successfully/);
  assert.match(serial, /iPXE/);
});

test('BIOS PC (SeaBIOS + the NIC option ROM) downloads undionly.kpxe over TFTP', { timeout: 240_000 }, async (t) => {
  const { lines, download, expectedSize } = await bootVmFromTftp(t, 'bios', 'undionly.kpxe', IPXE_BIOS);
  assert.equal(download.event?.file, 'undionly.kpxe');
  assert.equal(download.event?.bytes, expectedSize);
  const failures = lines.filter((line) => line.kind === 'transfer' && line.event?.result !== 'ok' && line.event?.errorCode !== 'TFTP_CLIENT_DECLINED');
  assert.deepEqual(failures, [], 'no failed transfers');
});
