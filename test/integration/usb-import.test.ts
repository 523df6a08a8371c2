// USB import through a real supervisor: the udev notifier script from overlay/ writes the
// event files, the supervisor's UsbWatcher picks them up, lists the images on the "stick",
// imports one, aborts an import when the stick is pulled, and releases it.
//
// The stick: a directory stand-in (LANBOOT_USB_ALLOW_DIRECTORIES=1, the only difference
// from the appliance path: no mount), and a real loop device with an ext4 filesystem (mkfs.ext4)
// that the supervisor mounts read-only, as on the appliance. That stick is also found again
// after lanboot crashes and restarts with it still plugged in (no new udev event).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { startLanboot } from '../helpers/supervisor.js';
import { describeRun, repoRoot, requireTools, runTool, tempDir, waitFor } from '../helpers/tools.js';
import { makeSourceDisk } from '../helpers/image-sources.js';
import type { ImportJob } from '../../src/storage/import-manager.js';
import type { UsbDevice } from '../../src/storage/usb.js';
import type { ImageView } from '../../src/web/views.js';

requireTools('qemu-img', 'sfdisk', 'losetup', 'mkfs.ext4', 'mount', 'umount');

const notifier = path.join(repoRoot, 'overlay', 'usr', 'lib', 'lanboot', 'usb-notify');
const lanbootMain = path.join(repoRoot, 'dist', 'src', 'cli', 'main.js');

async function announce(spool: string, action: 'add' | 'remove', devname: string, extra: Record<string, string> = {}): Promise<void> {
  const r = await runTool('sh', [notifier], { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', LANBOOT_USB_SPOOL: spool, ACTION: action, DEVNAME: devname, ...extra } });
  assert.equal(r.code, 0, describeRun('usb-notify', r));
}

/** Runs `start` with these variables in this process's environment, which startLanboot (and
 *  its restart) passes to `lanboot serve`; restores them afterwards. */
async function withEnv<T>(vars: Record<string, string>, start: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return await start();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

async function startWithSpool(t: Parameters<typeof startLanboot>[0], spool: string, extraEnv: Record<string, string> = {}) {
  return withEnv({ LANBOOT_USB_SPOOL: spool, LANBOOT_USB_ALLOW_DIRECTORIES: '1', ...extraEnv }, () => startLanboot(t));
}

test('stick stand-in: listed by content, imported, pulled mid-import (clean failure), released', { timeout: 180_000 }, async (t) => {
  const dir = await tempDir(t, 'lanboot-usb-');
  const spool = path.join(dir, 'spool');
  const stick = path.join(dir, 'stick');
  fs.mkdirSync(path.join(stick, 'images', 'old'), { recursive: true });
  const raw = await makeSourceDisk(dir, 'disk.img', 16 * 1024 * 1024);
  const r = await runTool('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, path.join(stick, 'images', 'win11.qcow2')]);
  assert.equal(r.code, 0, describeRun('qemu-img convert', r));
  fs.copyFileSync(raw, path.join(stick, 'images', 'old', 'debian.img'));
  fs.writeFileSync(path.join(stick, 'README.txt'), 'not an image\n'.repeat(200));
  fs.symlinkSync('/etc/passwd', path.join(stick, 'link.img'));
  // 768 MiB of data: slow enough to pull the stick while it is copied.
  const bigFd = fs.openSync(path.join(stick, 'big.img'), 'w');
  const block = Buffer.alloc(4 * 1024 * 1024, 0x33);
  block.fill(0, 446, 510); // an MBR without partitions
  block[510] = 0x55;
  block[511] = 0xaa;
  for (let i = 0; i < 192; i++) fs.writeSync(bigFd, block);
  fs.closeSync(bigFd);

  const lanboot = await startWithSpool(t, spool);
  await announce(spool, 'add', stick, { ID_FS_LABEL: 'IMAGES\nACTION=remove', ID_FS_TYPE: 'vfat' });
  const devices = await lanboot.cliJson<UsbDevice[]>(['usb', 'list', '--json']);
  assert.equal(devices.length, 1);
  const device = devices[0]!;
  assert.equal(device.state, 'mounted', JSON.stringify(device));
  assert.equal(device.label, 'IMAGESACTION=remove', 'control characters stripped by the notifier, no injected line');
  assert.deepEqual(
    device.files.map((f) => [f.path, f.format]),
    [
      ['big.img', 'raw'],
      ['images/old/debian.img', 'raw'],
      ['images/win11.qcow2', 'qcow2'],
    ],
    'images found by content; text files and symlinks left out',
  );
  const human = await lanboot.cli(['usb', 'list']);
  assert.match(human.stdout, new RegExp(`${device.id}  IMAGES`));

  const imported = await lanboot.cliJson<{ number: number; source: string; path: string }>(['usb', 'import', device.id, 'images/win11.qcow2', '--name', 'win', '--json']);
  assert.equal(imported.number, 1);
  assert.equal(imported.source, `usb ${device.id} images/win11.qcow2`);
  const cmp = await runTool('qemu-img', ['compare', '-f', 'qcow2', '-F', 'raw', path.join(stick, 'images', 'win11.qcow2'), imported.path]);
  assert.equal(cmp.code, 0, describeRun('qemu-img compare', cmp));
  const outside = await lanboot.cli(['usb', 'import', device.id, '../disk.img', '--name', 'win']);
  assert.equal(outside.code, 1);
  assert.match(outside.stderr, /is not a disk image or ISO on/);

  // Pull the stick in the middle of the copy of big.img.
  const imageDir = path.join(lanboot.dataDir, 'images', 'win');
  const importer = spawn(process.execPath, [lanbootMain, 'usb', 'import', device.id, 'big.img', '--name', 'win', '--data', lanboot.dataDir], { cwd: repoRoot });
  let importerErr = '';
  importer.stderr.on('data', (d: Buffer) => (importerErr += d.toString()));
  t.after(() => {
    importer.kill('SIGKILL');
  });
  await waitFor('the import to start writing', async () => (fs.readdirSync(imageDir).some((f) => f.endsWith('.partial')) ? true : undefined), 60_000, 5);
  await announce(spool, 'remove', stick);
  fs.rmSync(stick, { recursive: true, force: true });
  const code = await new Promise<number | null>((resolve) => (importer.exitCode !== null ? resolve(importer.exitCode) : importer.once('exit', (c) => resolve(c))));
  assert.equal(code, 1, importerErr);
  assert.match(importerErr, /USB device removed during import/);
  const [job] = await lanboot.cliJson<ImportJob[]>(['image', 'imports', '--json', '--limit', '1']);
  assert.equal(job!.state, 'failed');
  assert.equal(job!.error!.code, 'LANBOOT_USB_REMOVED');
  assert.deepEqual(fs.readdirSync(imageDir), ['v1.img'], 'partial removed');
  const view = await lanboot.cliJson<ImageView>(['image', 'show', 'win', '--json']);
  assert.equal(view.currentVersion, 1, 'current version untouched');
  assert.deepEqual(await lanboot.cliJson<UsbDevice[]>(['usb', 'list', '--json']), [], 'a removed stick is no longer listed');

  // Release: announced again, released, gone.
  const stick2 = path.join(dir, 'stick2');
  fs.mkdirSync(stick2);
  fs.copyFileSync(raw, path.join(stick2, 'disk.img'));
  await announce(spool, 'add', stick2);
  const [again] = await lanboot.cliJson<UsbDevice[]>(['usb', 'list', '--json']);
  const released = await lanboot.cli(['usb', 'release', again!.id]);
  assert.equal(released.code, 0, released.stderr);
  assert.match(released.stdout, /released, the stick can be pulled/);
  assert.deepEqual(await lanboot.cliJson<UsbDevice[]>(['usb', 'list', '--json']), []);
  const unknown = await lanboot.cli(['usb', 'release', 'sdz9']);
  assert.match(unknown.stderr, /no USB device 'sdz9'/);
});

test('an ext4 stick on a loop device is mounted read-only, imported from and unmounted on release', { timeout: 180_000 }, async (t) => {
  const dir = await tempDir(t, 'lanboot-usb-loop-');
  const spool = path.join(dir, 'spool');
  const backing = path.join(dir, 'stick.img');
  fs.writeFileSync(backing, '');
  fs.truncateSync(backing, 64 * 1024 * 1024);
  // ext4, not FAT: this kernel (a container) has no vfat module; the mount path is the same.
  const mk = await runTool('mkfs.ext4', ['-q', '-L', 'LANBOOT', backing]);
  assert.equal(mk.code, 0, describeRun('mkfs.ext4', mk));
  const loop = await runTool('losetup', ['--find', '--show', backing]);
  assert.equal(loop.code, 0, describeRun('losetup', loop));
  const device = loop.stdout.trim();
  t.after(async () => {
    await runTool('losetup', ['-d', device]);
  });
  // Fill the stick through a mount of our own, then unmount it again.
  const fill = path.join(dir, 'fill');
  fs.mkdirSync(fill);
  const m = await runTool('mount', [device, fill]);
  assert.equal(m.code, 0, describeRun('mount', m));
  try {
    await makeSourceDisk(fill, 'disk.img', 8 * 1024 * 1024);
  } finally {
    await runTool('umount', [fill]);
  }

  // The udev database, as udev on the appliance writes it for a USB stick's whole-disk
  // filesystem; this host runs no udev. It is only read at start, for sticks plugged in before.
  const udevData = path.join(dir, 'udev-data');
  fs.mkdirSync(udevData);
  const deviceNumber = fs.readFileSync(`/sys/class/block/${path.basename(device)}/dev`, 'utf8').trim();
  fs.writeFileSync(path.join(udevData, `b${deviceNumber}`), [
    'S:disk/by-id/usb-Lanboot_Stick_0001-0:0', 'I:1234567', 'E:ID_BUS=usb', 'E:ID_FS_USAGE=filesystem',
    'E:ID_FS_TYPE=ext4', 'E:ID_FS_LABEL=LANBOOT', 'E:ID_SERIAL=Lanboot_Stick_0001-0:0', 'G:systemd', '',
  ].join('\n'));

  const lanboot = await startWithSpool(t, spool, { LANBOOT_USB_UDEV_DATA: path.join(dir, 'no-udev-yet') });
  await announce(spool, 'add', device, { ID_FS_TYPE: 'ext4', ID_FS_LABEL: 'LANBOOT' });
  const [stick] = await lanboot.cliJson<UsbDevice[]>(['usb', 'list', '--json']);
  assert.equal(stick!.state, 'mounted', JSON.stringify(stick));
  assert.equal(stick!.id, path.basename(device));
  const mountPoint = path.join(lanboot.dataDir, 'usb', stick!.id);
  const mounts = fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').find((l) => l.split(' ')[1] === mountPoint);
  assert.ok(mounts, `mounted at ${mountPoint}`);
  const options = mounts!.split(' ')[3]!.split(',');
  for (const o of ['ro', 'nosuid', 'nodev', 'noexec']) assert.ok(options.includes(o), `${o} in ${options.join(',')}`);
  assert.deepEqual(stick!.files.map((f) => f.path), ['disk.img']);
  const imported = await lanboot.cliJson<{ number: number }>(['usb', 'import', stick!.id, 'disk.img', '--name', 'fromfat', '--json']);
  assert.equal(imported.number, 1);

  // lanboot crashes and comes back with the stick still plugged in: udev says nothing new
  // (no event file), the stick is found in sysfs + udev's database, mounted and listed again.
  await lanboot.kill9();
  assert.deepEqual(fs.readdirSync(spool), [], 'no event waits in the spool');
  await withEnv({ LANBOOT_USB_SPOOL: spool, LANBOOT_USB_ALLOW_DIRECTORIES: '1', LANBOOT_USB_UDEV_DATA: udevData }, () => lanboot.restart());
  const [again] = await lanboot.cliJson<UsbDevice[]>(['usb', 'list', '--json']);
  assert.deepEqual(
    again && { id: again.id, devname: again.devname, state: again.state, label: again.label, serial: again.serial, fsType: again.fsType, files: again.files.map((f) => f.path) },
    { id: stick!.id, devname: device, state: 'mounted', label: 'LANBOOT', serial: 'Lanboot_Stick_0001-0:0', fsType: 'ext4', files: ['disk.img'] },
  );
  const remounts = fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').filter((l) => l.split(' ')[1] === mountPoint);
  assert.equal(remounts.length, 1, `mounted once at ${mountPoint} (the crashed run's mount was cleaned up): ${remounts.join(' | ')}`);
  assert.equal((await lanboot.cli(['usb', 'release', stick!.id])).code, 0);
  const after = fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === mountPoint);
  assert.equal(after, false, 'unmounted on release');
});
