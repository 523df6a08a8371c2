// USB sticks that are already plugged in when the supervisor starts. udev announces a stick
// once, on its "add" (overlay/etc/udev/rules.d/70-lanboot-usb.rules), and the UsbWatcher
// deletes that event file when it handles it; a supervisor restarted later (crash, watchdog,
// update) would forget a stick that is still in the port. At start the watcher therefore
// asks what is present now: every block device in sysfs whose udev database entry
// (/run/udev/data/b<major>:<minor>, written by udev for every device it processed) matches
// the rule's conditions becomes the same add event usb-notify would have written.
//
// Reading sysfs and the udev database needs no privilege, unlike `udevadm trigger` (which
// writes to /sys and is refused inside the service's ProtectKernelTunables sandbox).
// Both are parsed as hostile: bounded reads, known keys only, control characters dropped.
import fsp, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';

export interface UsbColdplugPaths {
  /** One entry per block device (disks and partitions): `uevent`, `dev`. */
  sysBlockDir: string;
  /** udev's database: one file per device, named b<major>:<minor>. */
  udevDataDir: string;
  /** Where the device nodes are (DEVNAME in uevent is relative to it). */
  devDir: string;
}

export const DEFAULT_USB_COLDPLUG: UsbColdplugPaths = {
  sysBlockDir: '/sys/class/block',
  udevDataDir: '/run/udev/data',
  devDir: '/dev',
};

const FILE_MAX_BYTES = 64 * 1024;
const VALUE_MAX_BYTES = 200; // as usb-notify cuts them
const MAX_DEVICES = 512;
const DEVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;
const DEVICE_NUMBER = /^(\d{1,7}):(\d{1,7})$/;

/** KEY=VALUE lines of a sysfs uevent file (DEVNAME, DEVTYPE, MAJOR, MINOR, ...). */
export function parseUevent(text: string): Record<string, string> {
  return parseLines(text, /^([A-Z_][A-Z0-9_]{0,63})=(.*)$/);
}

/** The properties (`E:KEY=VALUE` lines) of one udev database entry; other record types
 *  (S: links, I: init time, G: tags, ...) are not needed. */
export function parseUdevDatabaseEntry(text: string): Record<string, string> {
  return parseLines(text, /^E:([A-Za-z_][A-Za-z0-9_]{0,63})=(.*)$/);
}

/** The first `maxBytes` of a file as text, or undefined when it is gone or unreadable. */
export async function readHead(file: string, maxBytes: number): Promise<string | undefined> {
  let handle: FileHandle | undefined;
  try {
    handle = await fsp.open(file, 'r');
    const buffer = Buffer.alloc(maxBytes);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return buffer.toString('utf8', 0, bytesRead);
  } catch {
    return undefined;
  } finally {
    await handle?.close();
  }
}

/** The add event usb-notify would write for this device, or undefined when the udev rule
 *  would not have run it: a USB partition, or a whole USB disk holding a filesystem. */
export function usbAddEvent(uevent: Record<string, string>, udev: Record<string, string>, devDir: string): Record<string, string> | undefined {
  const name = uevent['DEVNAME'];
  if (!name || !DEVICE_NAME.test(name) || udev['ID_BUS'] !== 'usb') return undefined;
  const devtype = uevent['DEVTYPE'];
  if (devtype !== 'partition' && !(devtype === 'disk' && udev['ID_FS_USAGE'] === 'filesystem')) return undefined;
  return {
    ACTION: 'add',
    DEVNAME: path.join(devDir, name),
    ID_FS_TYPE: udev['ID_FS_TYPE'] ?? '',
    ID_FS_LABEL: udev['ID_FS_LABEL'] ?? '',
    ID_FS_UUID: udev['ID_FS_UUID'] ?? '',
    ID_SERIAL: udev['ID_SERIAL'] ?? '',
  };
}

/** Add events for the USB storage present now, in device-name order. Devices udev has not
 *  processed yet (no database entry) are skipped: their own add event is still to come. */
export async function presentUsbStorage(paths: UsbColdplugPaths): Promise<Array<Record<string, string>>> {
  const names = (await fsp.readdir(paths.sysBlockDir).catch(() => [] as string[])).filter((n) => DEVICE_NAME.test(n)).sort().slice(0, MAX_DEVICES);
  const events: Array<Record<string, string>> = [];
  for (const name of names) {
    const uevent = parseUevent((await readHead(path.join(paths.sysBlockDir, name, 'uevent'), FILE_MAX_BYTES)) ?? '');
    const number = DEVICE_NUMBER.exec(((await readHead(path.join(paths.sysBlockDir, name, 'dev'), 64)) ?? '').trim());
    if (!number) continue;
    const udev = parseUdevDatabaseEntry((await readHead(path.join(paths.udevDataDir, `b${number[1]}:${number[2]}`), FILE_MAX_BYTES)) ?? '');
    const event = usbAddEvent(uevent, udev, paths.devDir);
    if (event) events.push(event);
  }
  return events;
}

function parseLines(text: string, line: RegExp): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const each of text.slice(0, FILE_MAX_BYTES).split('\n')) {
    const match = line.exec(each);
    if (match) fields[match[1]!] = clean(match[2]!);
  }
  return fields;
}

function clean(value: string): string {
  // eslint-disable-next-line no-control-regex
  return value.replace(/[\0-\x1f\x7f]/g, '').slice(0, VALUE_MAX_BYTES);
}
