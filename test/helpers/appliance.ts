// The appliance image in qemu: builds it with image-build/build.sh (once per test process and
// architecture), boots it under UEFI + TCG with a data disk (amd64: q35 + OVMF; arm64: virt +
// AAVMF, Debian's qemu-efi-aarch64), collects the first serial port (the system console) in a
// file, and drives it through a root shell on COM2 (arm64: the virtio console hvc0, as virt
// has one UART). That shell exists only because the test asks for it:
// the SMBIOS type 11 credential `lanboot.root-console` (lanboot-root-console.service,
// docs/appliance.md "Console access"). With `usb`, the machine has an empty xHCI port that a
// test fills and empties at run time through qemu's QMP socket (plugUsbStick/pullUsbStick), the
// way a user plugs in and pulls a stick; makeUsbStick builds the stick without root mounts.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { TestNetwork } from './netns.js';
import { type Cleanup, FatalWaitError, killTree, repoRoot, requireTools, runTool, spawnTracked, waitExit, waitFor } from './tools.js';

export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
export const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';
export const AAVMF_CODE = '/usr/share/AAVMF/AAVMF_CODE.fd';
export const AAVMF_VARS = '/usr/share/AAVMF/AAVMF_VARS.fd';
export type ApplianceArch = 'amd64' | 'arm64';
/** Debian packages downloaded by earlier builds on this machine; CI starts without them. */
export const IMAGE_DEB_CACHE = path.join(repoRoot, 'test', '.cache', 'image-debs');

export interface ApplianceImage {
  path: string;
  meta: { version: string; arch: ApplianceArch; imageBytes: number; imageAllocatedBytes: number; squashfsBytes: number; buildSeconds: number; kernelCmdline: string; rpiImage?: string };
  /** Wall time of the build in this process (0 when reused). */
  buildMs: number;
}

const building = new Map<ApplianceArch, Promise<ApplianceImage>>();
const buildDirs: string[] = [];
process.once('exit', () => {
  // Never delete through a mount an interrupted mmdebstrap may have left (build.sh unmounts).
  const mounts = fs.readFileSync('/proc/mounts', 'utf8');
  for (const dir of buildDirs) if (!mounts.includes(` ${dir}/`)) fs.rmSync(dir, { recursive: true, force: true });
});

/** Builds the image for `arch` once per test process (a second caller gets the same image).
 *  arm64 on an amd64 host is the cross build (qemu-user root, cross-compiled modules). */
export function buildApplianceImage(log: (line: string) => void, arch: ApplianceArch = 'amd64'): Promise<ApplianceImage> {
  let promise = building.get(arch);
  if (promise) return promise;
  promise = (async () => {
    // Development only (CI never sets it): reuse an image built by hand with build.sh.
    const prebuilt = process.env[arch === 'amd64' ? 'LANBOOT_APPLIANCE_IMAGE' : `LANBOOT_APPLIANCE_IMAGE_${arch.toUpperCase()}`];
    if (prebuilt) {
      log(`LANBOOT_APPLIANCE_IMAGE=${prebuilt}: NOT building, reusing that image`);
      const meta = JSON.parse(await fsp.readFile(`${prebuilt}.json`, 'utf8')) as ApplianceImage['meta'];
      return { path: fs.realpathSync(prebuilt), meta, buildMs: 0 };
    }
    requireTools('mmdebstrap', 'mksquashfs', 'unsquashfs', 'sgdisk', 'mkfs.vfat', 'mcopy', 'qemu-img');
    const buildDir = fs.mkdtempSync(path.join(os.tmpdir(), `lanboot-appliance-${arch}-`));
    buildDirs.push(buildDir);
    const started = Date.now();
    // arm64 runs every maintainer script under qemu-user: several times amd64's build time.
    const result = await runTool('bash', [path.join(repoRoot, 'image-build', 'build.sh'), '--arch', arch, '--out', buildDir, '--cache', IMAGE_DEB_CACHE], { timeoutMs: arch === 'amd64' ? 900_000 : 3_600_000 });
    if (result.code !== 0) throw new Error(`image-build/build.sh failed (${result.code}):\n${result.stderr.slice(-6000)}`);
    const imagePath = result.stdout.trim().split('\n').pop() ?? '';
    assert.ok(fs.existsSync(imagePath), `build.sh printed no image path: ${result.stdout}`);
    const meta = JSON.parse(await fsp.readFile(`${imagePath}.json`, 'utf8')) as ApplianceImage['meta'];
    log(`image ${path.basename(imagePath)}: ${meta.imageBytes} bytes (${meta.imageAllocatedBytes} allocated), squashfs ${meta.squashfsBytes}, built in ${Date.now() - started} ms`);
    return { path: imagePath, meta, buildMs: Date.now() - started };
  })();
  building.set(arch, promise);
  return promise;
}

export interface ShellResult {
  code: number;
  output: string;
}

/** The root shell on the guest's COM2 (a qemu unix-socket chardev). Commands run one at a time;
 *  each ends with a marker line carrying its exit code. */
export class ApplianceShell {
  private buffer = '';
  private counter = 0;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (this.buffer = (this.buffer + chunk).slice(-4 * 1024 * 1024)));
  }

  static async connect(socketPath: string, timeoutMs: number): Promise<ApplianceShell> {
    const socket = await waitFor(`qemu serial socket ${socketPath}`, () =>
      new Promise<net.Socket | undefined>((resolve) => {
        const s = net.connect(socketPath);
        s.once('connect', () => resolve(s));
        s.once('error', () => resolve(undefined));
      }), timeoutMs, 200);
    return new ApplianceShell(socket);
  }

  close(): void {
    this.socket.destroy();
  }

  /** Runs `command` in the guest's bash; resolves with its output and exit code. */
  run(command: string, timeoutMs = 60_000): Promise<ShellResult> {
    const next = this.queue.then(() => this.runNow(command, timeoutMs));
    this.queue = next.catch(() => undefined);
    return next;
  }

  async runOk(command: string, timeoutMs = 60_000): Promise<string> {
    const r = await this.run(command, timeoutMs);
    assert.equal(r.code, 0, `guest: ${command} exited ${r.code}:\n${r.output}`);
    return r.output;
  }

  private async runNow(command: string, timeoutMs: number): Promise<ShellResult> {
    const id = `${process.pid}x${++this.counter}`;
    // The marker is split in the command text, so only the shell's echo of it can match.
    const pattern = new RegExp(`__LBEND_${id}__ (\\d+)`);
    this.buffer = '';
    this.socket.write(`${command}\necho "__LBEND_""${id}__ $?"\n`);
    const match = await waitFor(`guest command ${JSON.stringify(command)}`, async () => pattern.exec(this.buffer) ?? undefined, timeoutMs, 50);
    const output = this.buffer.slice(0, match.index).replace(/\r/g, '');
    return { code: Number(match[1]), output };
  }

  /** Waits until the shell answers (it starts late in the boot, and again after a reboot). */
  async ready(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await this.run('true', 5_000);
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
      }
    }
  }
}

export interface Appliance {
  qemu: ChildProcess;
  shell: ApplianceShell;
  consoleFile: string;
  console(): string;
  /** Resolves once `pattern` has appeared `count` times on the console. */
  waitForConsole(pattern: RegExp, timeoutMs: number, count?: number): Promise<void>;
  /** Hot-plugs `file` (raw, read-only) as a USB mass-storage device on the xHCI port (option
   *  `usb`); the device's USB serial string is `serial`. */
  plugUsbStick(stick: { file: string; serial: string }): Promise<void>;
  /** Pulls the stick plugged in with that serial (no warning to the guest, like a real pull). */
  pullUsbStick(serial: string): Promise<void>;
  kill(): Promise<void>;
}

type QmpCommand = { execute: string; arguments?: Record<string, unknown> };
type QmpMessage = Record<string, unknown>;

/** Runs QMP commands one after the other on a fresh connection; resolves with their `return`
 *  values, or with the events seen too when `untilEvent` names one to wait for at the end. */
async function qmp(socketPath: string, commands: QmpCommand[], untilEvent?: string, timeoutMs = 30_000): Promise<QmpMessage[]> {
  const socket = net.connect(socketPath);
  socket.setEncoding('utf8');
  const messages: QmpMessage[] = [];
  let buffer = '';
  let failure: Error | undefined;
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
      const line = buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
      if (line) messages.push(JSON.parse(line) as QmpMessage);
    }
  });
  socket.on('error', (error) => (failure = error));
  const take = (what: string, match: (m: QmpMessage) => boolean) =>
    waitFor(`QMP ${what}`, async () => {
      if (failure) throw new FatalWaitError(`QMP socket ${socketPath}: ${failure.message}`);
      const i = messages.findIndex(match);
      return i >= 0 ? messages.splice(i, 1)[0] : undefined;
    }, timeoutMs, 20);
  try {
    await take('greeting', (m) => 'QMP' in m);
    const results: QmpMessage[] = [];
    for (const command of [{ execute: 'qmp_capabilities' }, ...commands]) {
      socket.write(`${JSON.stringify(command)}\n`);
      const answer = await take(command.execute, (m) => 'return' in m || 'error' in m);
      if ('error' in answer) throw new Error(`QMP ${command.execute} ${JSON.stringify(command.arguments ?? {})}: ${JSON.stringify(answer['error'])}`);
      if (command.execute !== 'qmp_capabilities') results.push(answer);
    }
    if (untilEvent) results.push(await take(untilEvent, (m) => m['event'] === untilEvent));
    return results;
  } finally {
    socket.destroy();
  }
}

/** A USB stick as a raw file, made without root or loop devices: an MBR partition table
 *  (sfdisk) with one FAT32 partition at 1 MiB (mkfs.vfat --offset) holding `files`, copied
 *  in with mtools. Each file is given as its bytes or a host file to copy. */
export async function makeUsbStick(file: string, stick: { sizeBytes: number; label: string; files: Array<{ path: string; from?: string; content?: Buffer }> }): Promise<void> {
  requireTools('sfdisk', 'mkfs.vfat', 'mcopy', 'mmd');
  const partStart = 2048; // sectors
  const partSectors = stick.sizeBytes / 512 - partStart;
  assert.ok(Number.isInteger(partSectors) && partSectors * 512 >= 40 * 1024 * 1024, 'a FAT32 stick needs 41 MiB or more');
  await fsp.writeFile(file, '');
  await fsp.truncate(file, stick.sizeBytes);
  const ok = async (command: string, args: string[], input?: string) => {
    const r = await runTool(command, args, { timeoutMs: 60_000, ...(input === undefined ? {} : { input }) });
    assert.equal(r.code, 0, `${command} ${args.join(' ')}: ${r.stderr}`);
  };
  // Type c: FAT32 (LBA), what sticks come formatted with.
  await ok('sfdisk', ['-q', file], `label: dos\nstart=${partStart}, size=${partSectors}, type=c\n`);
  // mkfs.vfat counts in KiB; -s 1 keeps the cluster count above FAT32's minimum on a small stick.
  await ok('mkfs.vfat', ['-F', '32', '-s', '1', '-n', stick.label, '--offset', String(partStart), file, String(partSectors / 2)]);
  const fat = `${file}@@${partStart * 512}`;
  const work = await fsp.mkdtemp(path.join(path.dirname(file), '.stick-'));
  try {
    const dirs = new Set<string>();
    for (const entry of stick.files) {
      for (let dir = path.posix.dirname(entry.path); dir !== '.'; dir = path.posix.dirname(dir)) dirs.add(dir);
    }
    // Sorted, a parent comes before its children.
    for (const dir of [...dirs].sort()) await ok('mmd', ['-i', fat, `::/${dir}`]);
    for (const [i, entry] of stick.files.entries()) {
      let source = entry.from;
      if (!source) {
        source = path.join(work, String(i));
        await fsp.writeFile(source, entry.content ?? Buffer.alloc(0));
      }
      await ok('mcopy', ['-i', fat, source, `::/${entry.path}`]);
    }
  } finally {
    await fsp.rm(work, { recursive: true, force: true });
  }
}

export interface ApplianceOptions {
  image: string;
  /** The image's CPU architecture (default amd64); arm64 boots in qemu-system-aarch64 -M virt. */
  arch?: ApplianceArch;
  work: string;
  /** Raw file used as the data disk (its serial is LBDATA01). */
  dataDisk: string;
  /** Writable disks attached BEFORE the data disk (the guest sees them first), by serial. */
  disksBeforeData?: Array<{ file: string; serial: string }>;
  /** More disks after it, read-only, e.g. one holding a golden image to import, by serial. */
  extraDisks?: Array<{ file: string; serial: string }>;
  /** The test network and its tap for the appliance's NIC; user-mode networking otherwise. */
  network?: { net: TestNetwork; tap: string; mac: string };
  accel?: 'tcg' | 'kvm';
  /** Power the same machine on again: keep the boot disk overlay, NVRAM and console log. */
  powerOnAgain?: boolean;
  /** An xHCI controller (id xhci) with nothing plugged in; see Appliance.plugUsbStick. */
  usb?: boolean;
}

export async function startAppliance(t: Cleanup, options: ApplianceOptions): Promise<Appliance> {
  const arm64 = options.arch === 'arm64';
  const qemuBinary = arm64 ? 'qemu-system-aarch64' : 'qemu-system-x86_64';
  const [firmwareCode, firmwareVars] = arm64 ? [AAVMF_CODE, AAVMF_VARS] : [OVMF_CODE, OVMF_VARS];
  requireTools(qemuBinary, 'qemu-img');
  assert.ok(fs.existsSync(firmwareCode), `${firmwareCode} is missing (Debian package ${arm64 ? 'qemu-efi-aarch64' : 'ovmf'})`);
  const { work } = options;
  // The image itself stays pristine: the guest writes to a qcow2 overlay (the root is read-only
  // anyway; this keeps the ESP and GPT untouched for a second boot from the same build).
  const bootDisk = path.join(work, 'boot.qcow2');
  const vars = path.join(work, arm64 ? 'AAVMF_VARS.fd' : 'OVMF_VARS.fd');
  if (!options.powerOnAgain) {
    const made = await runTool('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', options.image, bootDisk], { timeoutMs: 30_000 });
    assert.equal(made.code, 0, made.stderr);
    await fsp.copyFile(firmwareVars, vars);
  }
  const consoleFile = path.join(work, 'console.log');
  const shellSocket = path.join(work, 'shell.sock');
  const qmpSocket = path.join(work, 'qmp.sock');
  await fsp.rm(shellSocket, { force: true });
  await fsp.rm(qmpSocket, { force: true });
  const args = [
    // arm64: cortex-a72 (ARMv8.0 with the crypto extensions, as a Pi 4's CPU minus nothing we
    // use) rather than `max`, whose pointer authentication makes TCG several times slower.
    ...(arm64 ? ['-machine', `virt,accel=${options.accel ?? 'tcg'}`, '-cpu', 'cortex-a72'] : ['-machine', `q35,accel=${options.accel ?? 'tcg'}`]),
    '-m', '1024',
    '-smp', '2',
    '-display', 'none',
    '-monitor', 'none',
    '-drive', `if=pflash,format=raw,readonly=on,file=${firmwareCode}`,
    '-drive', `if=pflash,format=raw,file=${vars}`,
    '-drive', `file=${bootDisk},format=qcow2,if=none,id=boot`,
    '-device', 'virtio-blk-pci,drive=boot,serial=LBBOOT01,bootindex=0',
    ...(options.disksBeforeData ?? []).flatMap((d, i) => ['-drive', `file=${d.file},format=raw,if=none,id=b${i}`, '-device', `virtio-blk-pci,drive=b${i},serial=${d.serial}`]),
    '-drive', `file=${options.dataDisk},format=raw,if=none,id=data`,
    '-device', 'virtio-blk-pci,drive=data,serial=LBDATA01',
    ...(options.extraDisks ?? []).flatMap((d, i) => ['-drive', `file=${d.file},format=raw,if=none,id=x${i},readonly=on`, '-device', `virtio-blk-pci,drive=x${i},serial=${d.serial}`]),
    // The owner's request for a root console (docs/appliance.md): a system credential.
    '-smbios', 'type=11,value=io.systemd.credential:lanboot.root-console=1',
    // Appended, so a second power-on keeps the first boot's console.
    '-chardev', `file,id=console,path=${consoleFile},append=on`,
    '-serial', 'chardev:console',
    '-chardev', `socket,id=shell,path=${shellSocket},server=on,wait=off`,
    ...(arm64 ? ['-device', 'virtio-serial-pci', '-device', 'virtconsole,chardev=shell'] : ['-serial', 'chardev:shell']),
    '-qmp', `unix:${qmpSocket},server=on,wait=off`,
    ...(options.usb ? ['-device', 'qemu-xhci,id=xhci'] : []),
  ];
  if (options.network) {
    args.push('-netdev', `tap,id=n0,ifname=${options.network.tap},script=no,downscript=no`, '-device', `virtio-net-pci,netdev=n0,mac=${options.network.mac}`);
  } else {
    args.push('-netdev', 'user,id=n0,restrict=on', '-device', 'virtio-net-pci,netdev=n0');
  }
  const qemu = options.network ? options.network.net.spawn('lan', qemuBinary, args, { stdio: ['ignore', 'ignore', 'pipe'] }) : spawnTracked(qemuBinary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  qemu.stderr?.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-8192)));
  const kill = async () => {
    shell?.close();
    if (qemu.exitCode === null && qemu.signalCode === null) {
      killTree(qemu, 'SIGKILL');
      await waitExit(qemu, 10_000);
    }
  };
  t.after(kill);
  const readConsole = () => (fs.existsSync(consoleFile) ? fs.readFileSync(consoleFile, 'latin1') : '');
  let shell: ApplianceShell | undefined;
  shell = await ApplianceShell.connect(shellSocket, 30_000);
  return {
    qemu,
    shell,
    consoleFile,
    console: readConsole,
    async waitForConsole(pattern, timeoutMs, count = 1) {
      const global = new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : `${pattern.flags}g`);
      await waitFor(`${pattern} x${count} on the appliance console`, async () => {
        if (qemu.exitCode !== null || qemu.signalCode !== null) throw new FatalWaitError(`qemu exited (${qemu.exitCode ?? qemu.signalCode}): ${stderr}`);
        return (readConsole().match(global)?.length ?? 0) >= count ? true : undefined;
      }, timeoutMs, 500).catch((error: Error) => {
        throw new Error(`${error.message}\n--- console tail\n${readConsole().slice(-4000)}\n--- qemu stderr\n${stderr}`);
      });
    },
    async plugUsbStick(stick) {
      assert.ok(options.usb, 'startAppliance: plugUsbStick needs the option usb');
      await qmp(qmpSocket, [
        { execute: 'blockdev-add', arguments: { 'node-name': `stick-${stick.serial}`, driver: 'raw', 'read-only': true, file: { driver: 'file', filename: stick.file, 'read-only': true } } },
        { execute: 'device_add', arguments: { driver: 'usb-storage', id: `usb-${stick.serial}`, bus: 'xhci.0', drive: `stick-${stick.serial}`, serial: stick.serial, removable: true } },
      ]);
    },
    async pullUsbStick(serial) {
      await qmp(qmpSocket, [{ execute: 'device_del', arguments: { id: `usb-${serial}` } }], 'DEVICE_DELETED');
      await qmp(qmpSocket, [{ execute: 'blockdev-del', arguments: { 'node-name': `stick-${serial}` } }]);
    },
    kill,
  };
}
