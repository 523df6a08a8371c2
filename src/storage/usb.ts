// USB sticks holding disk images, for importing golden images at the box. udev runs overlay/usr/lib/lanboot/
// usb-notify on add/remove of a USB partition; it drops one small event file into a spool
// directory (/run/lanboot/usb-events, decision 0010). The UsbWatcher reads and deletes those
// files, mounts the partition read-only (ro,nosuid,nodev,noexec) under DATA/usb/<id>, lists
// the files whose content is a disk image or ISO (bounded depth, count and sizes), imports
// the chosen one through the ImportManager, and unmounts on release. A removal aborts the
// imports reading from the device ("USB device removed during import"); the partial is
// removed by the import and the current version stays as it was.
//
// Sticks already plugged in at start (a restarted supervisor) are found in sysfs and udev's
// database (usb-coldplug.ts) and go through the same add handling.
//
// Test stand-in: with allowDirectories (env LANBOOT_USB_ALLOW_DIRECTORIES=1, never set on
// the appliance), an event whose DEVNAME is a directory is used in place of a mount; the
// rest of the path (event files, listing, import, removal, release) is the same code.
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { LanbootError } from '../log/errors.js';
import { runTool, sniffContainer } from './formats.js';
import type { ImportJob, ImportManager } from './import-manager.js';
import type { DataLayout } from './layout.js';
import { presentUsbStorage, readHead, type UsbColdplugPaths } from './usb-coldplug.js';

export const DEFAULT_USB_SPOOL = '/run/lanboot/usb-events';

/** Filesystems a stick may carry; anything else is not mounted. */
const FILESYSTEMS = new Set(['vfat', 'exfat', 'ntfs', 'ntfs3', 'ext2', 'ext3', 'ext4', 'iso9660', 'udf', 'btrfs', 'xfs']);
const EVENT_FILE = /^[A-Za-z0-9._-]{1,100}\.event$/;
const EVENT_MAX_BYTES = 4096;
const SCAN_MAX_DEPTH = 3;
const SCAN_MAX_ENTRIES = 5000;
const SCAN_MAX_FILES = 200;
const DEVICE_ID = /^[a-z0-9][a-z0-9_-]{0,39}$/;

export interface UsbFile {
  /** Path inside the stick, '/'-separated. */
  path: string;
  sizeBytes: number;
  /** Guessed from the first bytes (the import probes again with qemu-img). */
  format: 'raw' | 'qcow2' | 'vpc' | 'vhdx' | 'vmdk' | 'iso';
}

export interface UsbDevice {
  id: string;
  devname: string;
  label: string | null;
  fsType: string | null;
  serial: string | null;
  state: 'mounted' | 'failed';
  /** Why it could not be mounted / listed. */
  error: string | null;
  files: UsbFile[];
  /** Files beyond the listing limits were left out. */
  truncated: boolean;
  addedAt: string;
  /** Whether an import reads from it now (release is refused then). */
  busy: boolean;
}

interface DeviceState {
  id: string;
  devname: string;
  label: string | null;
  fsType: string | null;
  serial: string | null;
  state: 'mounted' | 'failed';
  error: string | null;
  root: string | null;
  mounted: boolean;
  files: UsbFile[];
  truncated: boolean;
  addedAt: string;
}

export interface UsbWatcherOptions {
  layout: DataLayout;
  imports: ImportManager;
  logger: Logger;
  spoolDir?: string;
  allowDirectories?: boolean;
  /** Rescan of the spool in case an fs.watch event was missed. */
  pollMs?: number;
  /** Where to look, at start, for sticks plugged in before it (usb-coldplug.ts); false: don't. */
  coldplug?: UsbColdplugPaths | false;
}

/** Parses one event file: KEY=VALUE lines, known keys only, bounded. */
export function parseUsbEvent(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.slice(0, EVENT_MAX_BYTES).split('\n')) {
    const match = /^(ACTION|DEVNAME|ID_FS_TYPE|ID_FS_LABEL|ID_SERIAL|ID_FS_UUID)=([^\0-\x1f]{0,255})$/.exec(line);
    if (match) fields[match[1]!] = match[2]!;
  }
  return fields;
}

/** Cheap content sniffing for the listing (magic numbers of each format). */
async function sniff(file: string, size: number): Promise<UsbFile['format'] | undefined> {
  const handle = await fsp.open(file, 'r');
  try {
    const head = Buffer.alloc(34 * 1024);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    const h = head.subarray(0, bytesRead);
    const container = sniffContainer(h);
    if (container) return container;
    if (size >= 1024 && size % 512 === 0) {
      const footer = Buffer.alloc(8);
      await handle.read(footer, 0, 8, size - 512);
      if (footer.toString('latin1') === 'conectix') return 'vpc';
      if (h[510] === 0x55 && h[511] === 0xaa) return 'raw';
    }
    return undefined;
  } finally {
    await handle.close();
  }
}

export class UsbWatcher {
  private readonly devices = new Map<string, DeviceState>();
  private readonly spoolDir: string;
  private watcher: fs.FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private draining: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly log: Logger;

  constructor(private readonly options: UsbWatcherOptions) {
    this.spoolDir = options.spoolDir ?? DEFAULT_USB_SPOOL;
    this.log = options.logger.child({ component: 'usb' });
  }

  get mountRoot(): string {
    return path.join(this.options.layout.dataDir, 'usb');
  }

  async start(): Promise<void> {
    await this.unmountLeftovers();
    try {
      await fsp.mkdir(this.spoolDir, { recursive: true, mode: 0o700 });
    } catch (error) {
      this.log.warn({ spool: this.spoolDir, err: error }, 'USB import disabled: cannot create the event spool');
      return;
    }
    this.watcher = fs.watch(this.spoolDir, () => this.drainSoon());
    this.watcher.on('error', (error) => this.log.warn({ err: error }, 'USB event spool watch failed'));
    this.timer = setInterval(() => this.drainSoon(), this.options.pollMs ?? 2000);
    this.timer.unref();
    this.drainSoon();
    // After the spool: an event left there from before (a stick pulled while lanboot was
    // down) must not remove a stick found present now under the same name.
    if (this.options.coldplug) {
      const present = await presentUsbStorage(this.options.coldplug);
      if (present.length > 0) this.log.info({ devices: present.map((e) => e['DEVNAME']) }, 'USB storage plugged in before the start');
      this.draining = this.draining.then(async () => {
        for (const event of present) await this.handleLogged(event, 'present at start');
      });
    }
    await this.draining;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
    await this.draining;
    for (const device of [...this.devices.values()]) await this.unmount(device).catch(() => undefined);
    this.devices.clear();
  }

  list(): UsbDevice[] {
    return [...this.devices.values()].map((d) => this.view(d));
  }

  get(id: string): UsbDevice {
    return this.view(this.require(id));
  }

  /** Processes pending event files now (tests and the API call this to not wait for a poll). */
  async sync(): Promise<void> {
    this.drainSoon();
    await this.draining;
  }

  /** Imports `file` (a path inside the stick, as listed) as a new version of `image`. */
  async importFile(id: string, file: string, image: string): Promise<ImportJob> {
    const device = this.require(id);
    if (device.state !== 'mounted' || !device.root) throw new LanbootError('LANBOOT_USB_NOT_FOUND', `USB device ${id} is not mounted: ${device.error ?? 'unknown error'}`);
    if (typeof file !== 'string' || file.length === 0 || file.length > 1024 || file.includes('\0')) {
      throw new LanbootError('LANBOOT_INVALID_INPUT', 'usb import: file must be a path on the stick as listed');
    }
    const listed = device.files.find((f) => f.path === file.replace(/^\/+/, ''));
    if (!listed) throw new LanbootError('LANBOOT_INVALID_INPUT', `usb import: ${file} is not a disk image or ISO on ${id} (see lanboot usb list)`);
    const full = path.join(device.root, listed.path);
    // The listing never follows links; make sure the file did not become one since.
    const real = await fsp.realpath(full).catch(() => '');
    if (!real.startsWith(`${await fsp.realpath(device.root)}/`)) throw new LanbootError('LANBOOT_INVALID_INPUT', `usb import: ${file} leaves the stick`);
    return this.options.imports.start({ image, path: real, source: `usb ${id} ${listed.path}`, usbDevice: id });
  }

  /** Unmounts the stick so it can be pulled. Refused while an import reads from it. */
  async release(id: string): Promise<void> {
    const device = this.require(id);
    if (this.options.imports.usbBusy(id)) {
      throw new LanbootError('LANBOOT_USB_BUSY', `USB device ${id} is being imported from; wait for the import to finish`);
    }
    await this.unmount(device);
    this.devices.delete(id);
    this.log.info({ usb: id }, 'USB device released');
  }

  private require(id: string): DeviceState {
    const device = typeof id === 'string' ? this.devices.get(id) : undefined;
    if (!device) throw new LanbootError('LANBOOT_USB_NOT_FOUND', `no USB device '${String(id).slice(0, 40)}' (see lanboot usb list)`);
    return device;
  }

  private view(d: DeviceState): UsbDevice {
    return {
      id: d.id,
      devname: d.devname,
      label: d.label,
      fsType: d.fsType,
      serial: d.serial,
      state: d.state,
      error: d.error,
      files: d.files,
      truncated: d.truncated,
      addedAt: d.addedAt,
      busy: this.options.imports.usbBusy(d.id),
    };
  }

  private drainSoon(): void {
    if (this.stopped) return;
    this.draining = this.draining.then(() => this.drain()).catch((error) => this.log.error({ err: error }, 'USB event processing failed'));
  }

  private async drain(): Promise<void> {
    const names = (await fsp.readdir(this.spoolDir).catch(() => [] as string[])).filter((n) => EVENT_FILE.test(n)).sort();
    for (const name of names) {
      if (this.stopped) return;
      const file = path.join(this.spoolDir, name);
      const text = await readHead(file, EVENT_MAX_BYTES);
      // Gone already, or not deletable: skipped (an undeletable event would be handled again at every poll).
      if (text === undefined || !(await fsp.rm(file, { force: true }).then(() => true, () => false))) continue;
      await this.handleLogged(parseUsbEvent(text), name);
    }
  }

  private idFor(devname: string): string {
    const base = path.basename(devname).toLowerCase();
    if (devname.startsWith('/dev/') && DEVICE_ID.test(base)) return base;
    return `dir-${crypto.createHash('sha256').update(devname).digest('hex').slice(0, 10)}`;
  }

  /** An event's failure is logged and never stops the ones after it. */
  private async handleLogged(event: Record<string, string>, source: string): Promise<void> {
    await this.handle(event).catch((error) => this.log.warn({ err: error, event: source, devname: event['DEVNAME'] }, 'USB event failed'));
  }

  private async handle(event: Record<string, string>): Promise<void> {
    const action = event['ACTION'];
    const devname = event['DEVNAME'];
    if (!devname || !path.isAbsolute(devname) || (action !== 'add' && action !== 'remove')) {
      this.log.warn({ event }, 'ignored a malformed USB event');
      return;
    }
    const id = this.idFor(devname);
    if (action === 'remove') {
      const device = this.devices.get(id);
      const aborted = this.options.imports.abortUsb(id, new LanbootError('LANBOOT_USB_REMOVED', `USB device removed during import (${id})`, { usb: id }));
      this.log.warn({ usb: id, abortedImports: aborted }, 'USB device removed');
      if (device) {
        this.devices.delete(id);
        await this.unmount(device, true).catch((error) => this.log.warn({ usb: id, err: error }, 'unmount after removal failed'));
      }
      return;
    }
    if (this.devices.has(id)) return;
    const device: DeviceState = {
      id,
      devname,
      label: event['ID_FS_LABEL'] || null,
      fsType: event['ID_FS_TYPE'] || null,
      serial: event['ID_SERIAL'] || null,
      state: 'failed',
      error: null,
      root: null,
      mounted: false,
      files: [],
      truncated: false,
      addedAt: new Date().toISOString(),
    };
    const stat = await fsp.stat(devname).catch(() => undefined);
    if (!stat) {
      // An old event (the stick is gone already, e.g. events left from before a restart).
      this.log.info({ usb: id, devname }, 'USB device announced but already gone');
      return;
    }
    this.devices.set(id, device);
    try {
      if (stat.isDirectory()) {
        if (!this.options.allowDirectories) throw new LanbootError('LANBOOT_INVALID_INPUT', `${devname} is a directory, not a device`);
        device.root = devname;
      } else if (stat.isBlockDevice()) {
        if (!device.fsType || !FILESYSTEMS.has(device.fsType)) throw new LanbootError('LANBOOT_INVALID_INPUT', `filesystem '${device.fsType ?? 'unknown'}' is not supported on USB sticks`);
        const target = path.join(this.mountRoot, id);
        await fsp.mkdir(target, { recursive: true, mode: 0o700 });
        const run = await runTool('mount', ['-t', device.fsType, '-o', 'ro,nosuid,nodev,noexec', devname, target], { timeoutMs: 30_000 });
        if (run.code !== 0) throw new LanbootError('LANBOOT_IO_FAILED', `cannot mount ${devname}: ${(run.stderr || run.stdout).trim().slice(0, 300)}`);
        device.mounted = true;
        device.root = target;
      } else {
        throw new LanbootError('LANBOOT_INVALID_INPUT', `${devname} is not a block device`);
      }
      const { files, truncated } = await this.scan(device.root);
      device.files = files;
      device.truncated = truncated;
      device.state = 'mounted';
      this.log.info({ usb: id, devname, label: device.label, files: files.length }, 'USB device ready');
    } catch (error) {
      device.error = (error as Error).message;
      this.log.warn({ usb: id, devname, err: error }, 'USB device not usable');
    }
  }

  /** Disk images and ISOs on the stick: bounded depth and count, links never followed. */
  private async scan(root: string): Promise<{ files: UsbFile[]; truncated: boolean }> {
    const files: UsbFile[] = [];
    let visited = 0;
    let truncated = false;
    const walk = async (dir: string, depth: number) => {
      let entries: fs.Dirent[];
      try {
        entries = await fsp.readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      entries.sort((a, b) => (a.name < b.name ? -1 : 1));
      for (const entry of entries) {
        if (++visited > SCAN_MAX_ENTRIES || files.length >= SCAN_MAX_FILES) {
          truncated = true;
          return;
        }
        if (entry.name.startsWith('.')) continue;
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) {
          if (depth < SCAN_MAX_DEPTH) await walk(full, depth + 1);
          continue;
        }
        if (!entry.isFile()) continue;
        const stat = await fsp.lstat(full).catch(() => undefined);
        if (!stat || stat.size < 1024) continue;
        const format = await sniff(full, stat.size).catch(() => undefined);
        if (format) files.push({ path: path.relative(root, full).split(path.sep).join('/'), sizeBytes: stat.size, format });
      }
    };
    await walk(root, 0);
    return { files, truncated };
  }

  private async unmount(device: DeviceState, lazy = false): Promise<void> {
    if (!device.mounted || !device.root) return;
    const run = await runTool('umount', lazy ? ['-l', device.root] : [device.root], { timeoutMs: 30_000 });
    if (run.code !== 0) throw new LanbootError('LANBOOT_IO_FAILED', `cannot unmount ${device.devname}: ${(run.stderr || run.stdout).trim().slice(0, 300)}`);
    device.mounted = false;
    await fsp.rmdir(device.root).catch(() => undefined);
  }

  /** Sticks left mounted by a crash: unmount everything under DATA/usb. */
  private async unmountLeftovers(): Promise<void> {
    const mountinfo = await fsp.readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
    const prefix = `${this.mountRoot}/`;
    for (const line of mountinfo.split('\n')) {
      const mountPoint = line.split(' ')[4]?.replace(/\\040/g, ' ');
      if (mountPoint?.startsWith(prefix)) {
        const run = await runTool('umount', ['-l', mountPoint], { timeoutMs: 30_000 }).catch(() => undefined);
        this.log.warn({ mountPoint, ok: run?.code === 0 }, 'unmounted a USB stick left mounted by an earlier run');
      }
    }
    for (const entry of await fsp.readdir(this.mountRoot).catch(() => [] as string[])) {
      await fsp.rmdir(path.join(this.mountRoot, entry)).catch(() => undefined);
    }
  }
}
