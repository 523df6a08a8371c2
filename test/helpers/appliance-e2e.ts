// The appliance end to end, for either architecture: what test/e2e/appliance.test.ts (amd64)
// and test/slow/appliance-arm64.test.ts (arm64, booted in qemu-system-aarch64 -M virt) check.
// Builds the appliance image (image-build/build.sh), boots it in qemu (UEFI, TCG) on a test LAN
// made of network namespaces (a dnsmasq "home router" gives it its address; lanboot runs in its
// default proxyDHCP mode), with an empty second disk as the data drive, and checks through the
// owner-requested root console:
//   - first boot formats the empty data disk and mounts it; lanboot.service is active after
//     READY=1 (systemd's "Started" line for a Type=notify unit, StatusText from the supervisor);
//   - the UI answers over the LAN; the console banner shows its address; / is a read-only
//     squashfs and a write to it fails;
//   - kill -9 of the supervisor: systemd restarts it (NRestarts +1);
//   - SIGSTOP (a hung event loop): the watchdog aborts it and systemd restarts it;
//   - a USB stick (MBR, FAT32, the boot-sector fixture in images/) is hot-plugged into the
//     box's xHCI port: udev's rule runs usb-notify, the supervisor's UsbWatcher mounts it
//     read-only and lists the image; `lanboot usb import` publishes it (its sha256 is the
//     file's); lanboot is restarted with the stick still in and finds it again (no new udev
//     event); `lanboot usb release` unmounts it, and the stick is pulled;
//   - a second qemu PC on the same LAN PXE-boots from the appliance, is enrolled, sanboots its
//     seat (the image from the stick) and runs the MBR code, whose marker appears on its COM1;
//   - after a power-off and on (clean shutdown, a new qemu on the same disks, the stick not
//     plugged in) the data disk is mounted again (not formatted) and the image and seat are
//     still there.
//   - a disk that already holds a file system is never formatted (its bytes are unchanged);
// Every qemu, dnsmasq and namespace is killed/deleted by the helpers, also when the test fails.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { bootSectorPrinting } from '../fixtures/boot-sector.js';
import { E1000_IPXE_ROM } from '../fixtures/linux-disk/vm.js';
import { startDnsmasq } from '../integration/dhcp-harness.js';
import { buildApplianceImage, makeUsbStick, startAppliance, type ApplianceArch, type ApplianceShell } from './appliance.js';
import { makeGoldenImage, sha256File } from './images.js';
import { createTestNetwork } from './netns.js';
import { FatalWaitError, requireTools, runTool, tempDir, waitExit, waitFor } from './tools.js';

import type { Cleanup } from './tools.js';
const ROUTER = '10.86.0.254';
const APPLIANCE_MAC = '52:54:00:86:00:0a';
const PC_MAC = '52:54:00:86:00:01';
/** Power-on to READY under TCG on the 2-core CI machine (about 70 s measured here). */
const BOOT_TIMEOUT_MS = 300_000;

export interface ApplianceFigures {
  readyMs?: number;
  kernelToReadyMs?: number;
  watchdogRestartMs?: number;
  pcNetbootMs?: number;
  buildMs?: number;
}

type Unit = Record<string, string>;

async function unitState(shell: ApplianceShell): Promise<Unit> {
  const out = await shell.runOk('systemctl show -p ActiveState,SubState,StatusText,NRestarts,MainPID,Result lanboot.service');
  return Object.fromEntries(out.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1).trim()]));
}

/** Waits until lanboot.service is active: for a Type=notify unit, after its READY=1. */
async function waitActive(shell: ApplianceShell, timeoutMs: number): Promise<Unit> {
  return waitFor('lanboot.service active', async () => {
    const now = await unitState(shell);
    if (now.ActiveState === 'failed') throw new Error(`lanboot.service failed: ${JSON.stringify(now)}`);
    return now.ActiveState === 'active' ? now : undefined;
  }, timeoutMs, 1000);
}

/** Waits until lanboot.service is active with a new main PID and more restarts than before. */
async function waitRestarted(shell: ApplianceShell, before: Unit, timeoutMs: number): Promise<Unit> {
  return waitFor('lanboot.service to be restarted', async () => {
    const now = await unitState(shell);
    return now.ActiveState === 'active' && now.MainPID !== before.MainPID && Number(now.NRestarts) > Number(before.NRestarts) ? now : undefined;
  }, timeoutMs, 2000);
}

/** The JSON a `lanboot ... --json` command printed (the shell adds nothing before it). */
function parseJson<T>(output: string): T {
  const start = output.search(/^[[{]/m);
  assert.ok(start >= 0, `no JSON in: ${output}`);
  return JSON.parse(output.slice(start)) as T;
}

/** Adds the appliance's console tail to a failure (the temp dir is gone after the test). */
async function showingConsole<T>(box: { console(): string }, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    (error as Error).message += `\n--- appliance console tail\n${box.console().slice(-5000)}`;
    throw error;
  }
}

/** Runs every check; `powerCycle` adds the power-off and on at the end (amd64's CI run). */
export async function applianceEndToEnd(t: Cleanup & { diagnostic(message: string): void }, options: { arch: ApplianceArch; powerCycle: boolean }): Promise<ApplianceFigures> {
  const figures: ApplianceFigures = {};
  // TCG emulating an arm64 CPU on x86 is several times slower than emulating x86.
  const bootTimeoutMs = options.arch === 'arm64' ? 4 * BOOT_TIMEOUT_MS : BOOT_TIMEOUT_MS;
  const { arch } = options;
  requireTools('ip', 'dnsmasq', 'qemu-system-x86_64', arch === 'arm64' ? 'qemu-system-aarch64' : 'qemu-system-x86_64', 'curl');
  const image = await buildApplianceImage((line) => t.diagnostic(line), arch);
  assert.equal(image.meta.arch, arch);
  t.diagnostic(`build ${image.buildMs} ms; image ${image.meta.imageBytes} bytes`);
  figures.buildMs = image.buildMs;
  assert.ok(image.meta.imageBytes < 400 * 1024 * 1024, `image under 400 MB (${image.meta.imageBytes})`);

  const work = await tempDir(t, 'lanboot-appliance-');
  const dataDisk = path.join(work, 'data.img');
  await fsp.writeFile(dataDisk, '');
  await fsp.truncate(dataDisk, 2 * 1024 * 1024 * 1024); // empty: no table, no signature
  // A disk that holds data (an ext4 file system), seen by the guest before the empty one: it
  // must be left alone, byte for byte (docs/decisions/0017).
  const oldDisk = path.join(work, 'old.img');
  await fsp.writeFile(oldDisk, '');
  await fsp.truncate(oldDisk, 64 * 1024 * 1024);
  const mkfs = await runTool('mkfs.ext4', ['-q', '-F', '-L', 'someones-data', oldDisk], { timeoutMs: 60_000 });
  assert.equal(mkfs.code, 0, mkfs.stderr);
  const oldDiskSha = crypto.createHash('sha256').update(await fsp.readFile(oldDisk)).digest('hex');
  // The golden image for the PC: a disk whose MBR code prints a marker unique to this run.
  const marker = `LANBOOT-APPLIANCE-${crypto.randomBytes(6).toString('hex')}`;
  const golden = await makeGoldenImage(work, 8 * 1024 * 1024, 'lba');
  const fd = await fsp.open(golden.path, 'r+');
  await fd.write(bootSectorPrinting(marker), 0, 512, 0);
  await fd.close();
  const goldenSha = await sha256File(golden.path);
  // ... on a USB stick, as a user brings it: in a folder, next to a file that is no image.
  const stick = path.join(work, 'stick.img');
  await makeUsbStick(stick, {
    sizeBytes: 64 * 1024 * 1024,
    label: 'LBSTICK',
    files: [
      { path: 'images/golden.img', from: golden.path },
      { path: 'README.TXT', content: Buffer.from('golden image for the lab PCs\n'.repeat(100)) },
    ],
  });

  const routerDir = path.join(work, 'router');
  await fsp.mkdir(routerDir);
  const lan = await createTestNetwork(t, { hosts: [{ name: 'router', address: `${ROUTER}/24` }] });
  await startDnsmasq(lan, 'router', routerDir, '10.86.0.100,10.86.0.120');
  await lan.addTap('tap0');
  await lan.addTap('tap1');

  const poweredOn = Date.now();
  const applianceOptions = {
    image: image.path,
    arch,
    work,
    dataDisk,
    disksBeforeData: [{ file: oldDisk, serial: 'LBOLD001' }],
    // An empty USB port; the stick goes in later, while lanboot runs. The power-on below
    // keeps the port and leaves it empty: the stick was released and pulled by then.
    usb: true,
    network: { net: lan, tap: 'tap0', mac: APPLIANCE_MAC },
  };
  const box = await startAppliance(t, applianceOptions);
  const { shell } = box;
  await showingConsole(box, shell.ready(bootTimeoutMs));
  await showingConsole(box, waitActive(shell, bootTimeoutMs));
  const readyMs = Date.now() - poweredOn;
  // ActiveEnterTimestampMonotonic: when READY=1 arrived, in µs since the kernel started.
  const readyUsec = Number((await shell.runOk('systemctl show -p ActiveEnterTimestampMonotonic --value lanboot.service')).trim());
  t.diagnostic(`${arch} power-on to lanboot READY (TCG): ${readyMs} ms seen by the test; kernel start to READY ${Math.round(readyUsec / 1000)} ms`);
  figures.readyMs = readyMs;
  figures.kernelToReadyMs = Math.round(readyUsec / 1000);

  // First boot: the empty disk became the data disk.
  assert.match(box.console(), /LBDATA01'\) is empty: first boot, formatting it as the data disk/);
  assert.match(box.console(), /\(serial 'LBOLD001'\) holds data \(ext4\): NOT formatting it\. To use it as the data disk, boot once with 'lanboot\.format=LBOLD001'/);
  assert.match(await shell.runOk('findmnt -no SOURCE,FSTYPE /var/lib/lanboot; blkid -s LABEL -o value "$(findmnt -no SOURCE /var/lib/lanboot)"'), /ext4\s*\nlanboot-data/);

  const first = await unitState(shell);
  assert.equal(first.ActiveState, 'active', JSON.stringify(first));
  assert.match(first.StatusText ?? '', /^serving \d+ seats/, 'STATUS= from the supervisor');
  assert.match(await shell.runOk('journalctl -u lanboot -o cat | grep -c \'"msg":"ready"\''), /^1\s*$/);
  assert.match(await shell.runOk('cat /etc/lanboot-release'), new RegExp(`LANBOOT_VERSION=${image.meta.version}`));

  // The read-only root.
  const rootMount = await shell.runOk('findmnt -no FSTYPE,OPTIONS /');
  assert.match(rootMount, /^squashfs\s+ro[,\s]/);
  const write = await shell.run('touch /lanboot-write-test');
  assert.notEqual(write.code, 0);
  assert.match(write.output, /Read-only file system/);

  // The UI over the LAN, at the address the router gave the box.
  const address = (await shell.runOk("ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | head -1")).trim();
  assert.match(address, /^10\.86\.0\.(1[01]\d|120)$/, 'address from the router');
  // The console banner: agetty on the system console shows the UI address (and its QR code).
  await showingConsole(box, box.waitForConsole(new RegExp(`Open http://${address.replaceAll('.', '\\.')}/ on a phone or PC on this LAN`), 120_000));
  const ui = await lan.runOk('router', 'curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-m', '20', `http://${address}/`], { timeoutMs: 30_000 });
  assert.match(ui.stdout, /^(200|30[1237])$/, `GET / answers (login/setup page or redirect): ${ui.stdout}`);

  // kill -9: Restart=on-failure.
  await shell.runOk(`kill -9 ${first.MainPID}`);
  const afterKill = await waitRestarted(shell, first, bootTimeoutMs / 2);
  t.diagnostic(`kill -9: restarted, NRestarts ${first.NRestarts} -> ${afterKill.NRestarts}`);

  // A hang: SIGSTOP freezes the event loop, the WATCHDOG=1 pings stop, WatchdogSec=30s fires.
  const hungAt = Date.now();
  await shell.runOk(`kill -STOP ${afterKill.MainPID}`);
  const afterHang = await waitRestarted(shell, afterKill, bootTimeoutMs / 2);
  t.diagnostic(`SIGSTOP: watchdog restart after ${Date.now() - hungAt} ms`);
  figures.watchdogRestartMs = Date.now() - hungAt;
  // systemd's own line, not lanboot's log lines that mention its watchdog settings.
  assert.match(await shell.runOk('journalctl -u lanboot -o cat --no-pager | grep -i "watchdog timeout" | tail -1'), /[Ww]atchdog timeout/);
  assert.equal(afterHang.ActiveState, 'active');

  // The stick is plugged in: udev (70-lanboot-usb.rules) runs usb-notify for its partition,
  // the event file reaches the UsbWatcher, which mounts it read-only and lists the image.
  const pluggedAt = Date.now();
  await box.plugUsbStick({ file: stick, serial: 'LBSTICK01' });
  type UsbDevice = { id: string; devname: string; label: string | null; fsType: string | null; serial: string | null; state: string; error: string | null; files: Array<{ path: string; sizeBytes: number; format: string }>; busy: boolean };
  const plugged = await showingConsole(box, waitFor('the stick in lanboot usb list', async () => {
    const devices = parseJson<UsbDevice[]>(await shell.runOk('lanboot usb list --json'));
    const device = devices.find((d) => d.label === 'LBSTICK');
    if (device?.state === 'failed') throw new FatalWaitError(`the stick is not usable: ${JSON.stringify(device)}`);
    return device?.state === 'mounted' ? device : undefined;
  }, 120_000, 2000));
  t.diagnostic(`USB stick listed ${Date.now() - pluggedAt} ms after the plug: ${JSON.stringify(plugged)}`);
  assert.match(plugged.devname, /^\/dev\/sd[a-z]1$/, 'the partition, announced by udev');
  assert.equal(plugged.id, path.basename(plugged.devname));
  assert.equal(plugged.fsType, 'vfat');
  assert.match(plugged.serial ?? '', /LBSTICK01/, "udev's ID_SERIAL carries the stick's USB serial");
  assert.deepEqual(plugged.files, [{ path: 'images/golden.img', sizeBytes: golden.sizeBytes, format: 'raw' }], 'the image is listed, the text file is not');
  // Mounted read-only in the supervisor's mount namespace (ProtectSystem=strict gives it one).
  const mainPid = (await unitState(shell)).MainPID;
  const stickMount = `findmnt -N ${mainPid} -rn -o TARGET,FSTYPE,OPTIONS --source ${plugged.devname}`;
  assert.match(await shell.runOk(stickMount), new RegExp(`^/var/lib/lanboot/usb/${plugged.id} vfat ro,nosuid,nodev,noexec[,\\s]`));

  const importStarted = Date.now();
  const importRun = await shell.run(`lanboot usb import ${plugged.id} images/golden.img --name mbr --json 2>/run/usb-import.err || { cat /run/usb-import.err; false; }`, 300_000);
  assert.equal(importRun.code, 0, `lanboot usb import: ${importRun.output}`);
  t.diagnostic(`lanboot usb import: ${Date.now() - importStarted} ms`);
  const imported = parseJson<{ name: string; number: number; sha256: string; sizeBytes: number; source: string; current: boolean; importId: number; format: string }>(importRun.output);
  assert.equal(imported.name, 'mbr');
  assert.equal(imported.number, 1);
  assert.equal(imported.current, true);
  assert.equal(imported.format, 'raw');
  assert.equal(imported.sizeBytes, golden.sizeBytes);
  assert.equal(imported.sha256, goldenSha, "the published version is the stick's file, byte for byte");
  assert.equal(imported.source, `usb ${plugged.id} images/golden.img`);
  const jobs = parseJson<Array<{ id: number; state: string; version: number | null; source: string }>>(await shell.runOk('lanboot image imports --json'));
  const job = jobs.find((j) => j.id === imported.importId);
  assert.deepEqual(job && { state: job.state, version: job.version, source: job.source }, { state: 'done', version: 1, source: `usb ${plugged.id} images/golden.img` });

  // lanboot restarted with the stick still in (an update, a crash): udev announces nothing
  // new; the supervisor finds the stick in sysfs and udev's database at start, mounts it again
  // (in its new mount namespace) and lists it before it reports READY.
  await shell.runOk('systemctl restart lanboot.service', 120_000);
  const restarted = await waitActive(shell, 60_000);
  assert.notEqual(restarted.MainPID, mainPid);
  const found = parseJson<UsbDevice[]>(await shell.runOk('lanboot usb list --json')).find((d) => d.label === 'LBSTICK');
  assert.deepEqual(found && { id: found.id, state: found.state, serial: found.serial, files: found.files.map((f) => f.path) }, { id: plugged.id, state: 'mounted', serial: plugged.serial, files: ['images/golden.img'] }, 'the stick is known again after the restart');
  const remount = `findmnt -N ${restarted.MainPID} -rn -o TARGET,FSTYPE,OPTIONS --source ${plugged.devname}`;
  assert.match(await shell.runOk(remount), new RegExp(`^/var/lib/lanboot/usb/${plugged.id} vfat ro,nosuid,nodev,noexec[,\\s]`));

  // Release: unmounted, and the CLI says the stick can be pulled.
  assert.match(await shell.runOk(`lanboot usb release ${plugged.id}`), new RegExp(`^${plugged.id}: released, the stick can be pulled$`, 'm'));
  const afterRelease = await shell.run(remount);
  assert.deepEqual({ code: afterRelease.code, output: afterRelease.output.trim() }, { code: 1, output: '' }, 'findmnt finds no mount of the stick');
  assert.deepEqual(parseJson<UsbDevice[]>(await shell.runOk('lanboot usb list --json')), []);
  // Pulled: udev's remove event reaches the supervisor (nothing to abort, nothing mounted).
  await box.pullUsbStick('LBSTICK01');
  await waitFor('the removal in the lanboot journal', async () => {
    const log = await shell.runOk(`journalctl -u lanboot -o cat --no-pager | grep '"msg":"USB device removed"' | grep '"usb":"${plugged.id}"' || true`);
    return log.trim() ? log : undefined;
  }, 60_000, 2000);

  // The PC: BIOS, e1000 with Debian's iPXE ROM, network boot only.
  const pcSerial = path.join(work, 'pc.serial.log');
  const pc = lan.spawn('lan', 'qemu-system-x86_64', [
    '-machine', 'pc,accel=tcg', // iPXE crashed under KVM on this machine
    '-m', '256',
    '-display', 'none',
    '-monitor', 'none',
    '-serial', `file:${pcSerial}`,
    '-netdev', 'tap,id=n0,ifname=tap1,script=no,downscript=no',
    '-device', `e1000,netdev=n0,mac=${PC_MAC},romfile=${E1000_IPXE_ROM}`,
    '-boot', 'n',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  const pcStarted = Date.now();
  const waiting = await waitFor(`${PC_MAC} in lanboot waiting`, async () => {
    if (pc.exitCode !== null) throw new Error(`the PC's qemu exited ${pc.exitCode}`);
    const r = await shell.run('lanboot waiting --json', 20_000);
    if (r.code !== 0) return undefined;
    const list = JSON.parse(r.output.slice(r.output.indexOf('['))) as Array<{ mac: string; code: string }>;
    return list.find((w) => w.mac === PC_MAC);
  }, bootTimeoutMs, 3000);
  await shell.runOk(`lanboot enroll ${waiting.code} --name pc1 --image mbr --mode fresh`);
  await waitFor(`the MBR marker on the PC's serial console`, async () => {
    if (pc.exitCode !== null) throw new Error(`the PC's qemu exited ${pc.exitCode}`);
    return fs.existsSync(pcSerial) && fs.readFileSync(pcSerial, 'latin1').includes(`${marker}\r\n`) ? true : undefined;
  }, bootTimeoutMs, 1000).catch(async (error: Error) => {
    const journal = await shell.run('journalctl -u lanboot -o cat --no-pager | tail -30').catch(() => ({ output: '' }));
    throw new Error(`${error.message}\n--- PC serial\n${fs.existsSync(pcSerial) ? fs.readFileSync(pcSerial, 'latin1').slice(-2000) : ''}\n--- lanboot journal\n${journal.output}`);
  });
  t.diagnostic(`PC: PXE -> enrollment -> sanboot -> MBR marker in ${Date.now() - pcStarted} ms`);
  figures.pcNetbootMs = Date.now() - pcStarted;
  const events = await shell.runOk(`lanboot boot events ${PC_MAC} --json`);
  assert.match(events, /sanboot: seat pc1 \(fresh\)/);
  pc.kill('SIGKILL');
  if (!options.powerCycle) {
    await box.kill();
    return figures;
  }

  // Power off and on again (a new qemu on the same disks and NVRAM): the data disk is found by
  // its label and mounted, never formatted again.
  await shell.runOk('systemd-run --quiet --on-active=1 /usr/bin/systemctl poweroff');
  const off = await waitExit(box.qemu, bootTimeoutMs);
  assert.ok(off, 'the appliance powered off');
  const again = await startAppliance(t, { ...applianceOptions, powerOnAgain: true });
  await showingConsole(again, again.shell.ready(bootTimeoutMs));
  await showingConsole(again, waitActive(again.shell, bootTimeoutMs));
  const formats = again.console().match(/formatting it as the data disk/g) ?? [];
  assert.equal(formats.length, 1, 'formatted once, at first boot only');
  assert.equal((again.console().match(/lanboot-data: mounted \/dev\/vd[a-z]1 on \/var\/lib\/lanboot/g) ?? []).length, 2);
  const images = await again.shell.runOk('lanboot image list --json');
  assert.match(images, /"mbr"/, 'the imported image survived the reboot');
  const seats = await again.shell.runOk('lanboot client list --json');
  assert.match(seats, /"pc1"/, 'the enrolled seat survived the reboot');
  const rebooted = await unitState(again.shell);
  assert.equal(rebooted.ActiveState, 'active');
  assert.equal(rebooted.NRestarts, '0', 'a fresh boot: no restarts');
  await again.kill();
  assert.equal(crypto.createHash('sha256').update(await fsp.readFile(oldDisk)).digest('hex'), oldDiskSha, 'the disk holding data was never written');
  return figures;
}
