// The arm64 appliance, built on this (amd64) machine and booted in qemu-system-aarch64 -M virt
// with UEFI (AAVMF) under TCG: the same end-to-end checks as the amd64 image
// (test/helpers/appliance-e2e.ts: data disk on first boot, READY and the watchdog, the console
// banner, a USB stick hot-plugged and imported), then an x86 PC netbooting from the arm64 box:
// PXE -> iPXE -> enrollment -> sanboot of its seat. Before that, the file layout of both arm64
// images, since no emulator here boots a Raspberry Pi: the UEFI image (GPT, ESP with
// BOOTAA64.EFI and an arm64 kernel, the aarch64 root partition type) and the Pi 4/5 image (MBR,
// the firmware partition with Debian's raspi-firmware, the Pi device trees, config.txt,
// cmdline.txt naming the root partition, the same squashfs root).
// Slow (the build runs every maintainer script under qemu-user; the boot is TCG emulating
// another CPU): `npm run test:slow`. Results go to docs/appliance.md.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { buildApplianceImage } from '../helpers/appliance.js';
import { applianceEndToEnd } from '../helpers/appliance-e2e.js';
import { requireTools, runTool, tempDir } from '../helpers/tools.js';

/** systemd's Discoverable Partitions Specification: "Root Partition (64-bit ARM/AArch64)". */
const ROOT_AARCH64_GUID = 'B921B045-1DF0-41C3-AF44-4C6F280D3FAE';
const ESP_GUID = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B';

async function ok(command: string, args: string[]): Promise<string> {
  const r = await runTool(command, args, { timeoutMs: 120_000 });
  assert.equal(r.code, 0, `${command} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

interface SfdiskPartition { node: string; start: number; size: number; type: string; bootable?: boolean; uuid?: string; name?: string }
interface SfdiskTable { partitiontable: { label: string; id: string; sectorsize?: number; partitions: SfdiskPartition[] } }

async function partitions(image: string): Promise<SfdiskTable['partitiontable']> {
  return (JSON.parse(await ok('sfdisk', ['-J', image])) as SfdiskTable).partitiontable;
}

async function sha256Range(file: string, start: number, length: number): Promise<string> {
  const hash = crypto.createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { start, end: start + length - 1 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** A file from a FAT partition of a disk image, by mtools (no mount). */
async function fatFile(work: string, image: string, offsetBytes: number, name: string): Promise<Buffer> {
  const to = path.join(work, `fat-${crypto.randomBytes(4).toString('hex')}`);
  await ok('mcopy', ['-n', '-i', `${image}@@${offsetBytes}`, `::/${name}`, to]);
  return fsp.readFile(to);
}

test('the arm64 images: GPT/UEFI and Raspberry Pi 4/5 file layout', { timeout: 3_700_000 }, async (t) => {
  requireTools('sfdisk', 'mcopy', 'mdir', 'file', 'unsquashfs');
  const image = await buildApplianceImage((line) => t.diagnostic(line), 'arm64');
  t.diagnostic(`arm64 build ${image.buildMs} ms (build.sh ${image.meta.buildSeconds} s); image ${image.meta.imageBytes} bytes, ${image.meta.imageAllocatedBytes} allocated; squashfs ${image.meta.squashfsBytes}`);
  assert.equal(image.meta.arch, 'arm64');
  assert.ok(image.meta.imageBytes < 400 * 1024 * 1024, `image under 400 MB (${image.meta.imageBytes})`);
  assert.match(image.meta.kernelCmdline, /console=ttyAMA0,115200/);
  const work = await tempDir(t, 'lanboot-arm64-layout-');
  const env = { MTOOLS_SKIP_CHECK: '1' };
  Object.assign(process.env, env);

  // The UEFI image: GPT, ESP + aarch64 root.
  const gpt = await partitions(image.path);
  assert.equal(gpt.label, 'gpt');
  assert.deepEqual(gpt.partitions.map((p) => [p.type, p.name]), [[ESP_GUID, 'lanboot-esp'], [ROOT_AARCH64_GUID, 'lanboot-root-a']]);
  const espOffset = gpt.partitions[0]!.start * 512;
  const rootA = gpt.partitions[1]!;
  assert.match(image.meta.kernelCmdline, new RegExp(`root=PARTUUID=${rootA.uuid!.toLowerCase()} `));
  const loaderFile = path.join(work, 'BOOTAA64.EFI');
  await fsp.writeFile(loaderFile, await fatFile(work, image.path, espOffset, 'EFI/BOOT/BOOTAA64.EFI'));
  assert.match(await ok('file', ['-b', loaderFile]), /PE32\+ executable \(EFI application\) Aarch64/, 'systemd-boot for arm64 where arm64 UEFI firmware looks for it');
  const kernelFile = path.join(work, 'vmlinuz');
  await fsp.writeFile(kernelFile, await fatFile(work, image.path, espOffset, 'lanboot/a/vmlinuz'));
  const kernelType = await ok('file', ['-b', kernelFile]);
  assert.match(kernelType, /Aarch64|ARM64|aarch64/, `an arm64 kernel: ${kernelType}`);
  const entry = (await fatFile(work, image.path, espOffset, 'loader/entries/lanboot-a.conf')).toString();
  assert.match(entry, /^linux \/lanboot\/a\/vmlinuz$/m);
  assert.match(entry, /^initrd \/lanboot\/a\/initrd.img$/m);

  // The root: the arm64 node and modules (file(1) on what the squashfs holds).
  const rootFile = path.join(work, 'root.sqfs');
  await ok('dd', [`if=${image.path}`, `of=${rootFile}`, 'bs=1M', `skip=${rootA.start * 512}`, `count=${image.meta.squashfsBytes}`, 'iflag=skip_bytes,count_bytes', 'status=none']);
  const extracted = path.join(work, 'extracted');
  await ok('unsquashfs', ['-q', '-n', '-d', extracted, rootFile, 'usr/lib/lanboot/app/build/Release/lanboot_native.node', 'usr/lib/lanboot/app/node_modules/better-sqlite3/build/Release/better_sqlite3.node', 'etc/lanboot-release', 'usr/lib/systemd/system/lanboot-root-console.service']);
  for (const module of ['usr/lib/lanboot/app/build/Release/lanboot_native.node', 'usr/lib/lanboot/app/node_modules/better-sqlite3/build/Release/better_sqlite3.node']) {
    assert.match(await ok('file', ['-b', path.join(extracted, module)]), /ELF 64-bit LSB shared object, ARM aarch64/, module);
  }
  assert.match(await fsp.readFile(path.join(extracted, 'etc/lanboot-release'), 'utf8'), /^LANBOOT_ARCH=arm64$/m);
  assert.match(await fsp.readFile(path.join(extracted, 'usr/lib/systemd/system/lanboot-root-console.service'), 'utf8'), /^TTYPath=\/dev\/hvc0$/m);

  // The Raspberry Pi image: MBR, firmware partition first (FAT32, bootable), root second.
  assert.ok(image.meta.rpiImage, 'build.sh names the Pi image');
  const rpi = path.join(path.dirname(image.path), image.meta.rpiImage);
  const mbr = await partitions(rpi);
  assert.equal(mbr.label, 'dos');
  assert.deepEqual(mbr.partitions.map((p) => [p.type, p.bootable ?? false]), [['c', true], ['83', false]]);
  const fwOffset = mbr.partitions[0]!.start * 512;
  const listing = await ok('mdir', ['-b', '-i', `${rpi}@@${fwOffset}`, '::/']);
  const names = new Set(listing.split('\n').map((l) => l.trim().replace(/^::\//, '')).filter(Boolean));
  // Pi 4 firmware (a Pi 5 carries its own in EEPROM), device trees of the Pi 4, 400, CM4 and 5,
  // the kernel and initramfs the firmware loads, and the two text files it reads.
  for (const must of ['start4.elf', 'fixup4.dat', 'bcm2711-rpi-4-b.dtb', 'bcm2711-rpi-400.dtb', 'bcm2711-rpi-cm4-io.dtb', 'bcm2712-rpi-5-b.dtb', 'config.txt', 'cmdline.txt', 'vmlinuz', 'initrd.img', 'lanboot-release']) {
    assert.ok(names.has(must), `${must} on the Pi firmware partition (have: ${[...names].join(' ')})`);
  }
  const config = (await fatFile(work, rpi, fwOffset, 'config.txt')).toString();
  for (const line of ['arm_64bit=1', 'kernel=vmlinuz', 'initramfs initrd.img followkernel', 'upstream_kernel=1', 'enable_uart=1']) {
    assert.match(config, new RegExp(`^${line}$`, 'm'), `config.txt: ${line}`);
  }
  const cmdline = (await fatFile(work, rpi, fwOffset, 'cmdline.txt')).toString();
  assert.equal(cmdline.split('\n').filter(Boolean).length, 1, 'cmdline.txt is one line');
  const diskId = mbr.id.replace(/^0x/, '').padStart(8, '0');
  assert.match(cmdline, new RegExp(`^root=PARTUUID=${diskId}-02 rootfstype=squashfs ro `), 'the root named by the MBR disk id and partition 2');
  assert.deepEqual(await fatFile(work, rpi, fwOffset, 'vmlinuz'), await fsp.readFile(kernelFile), 'the same kernel as the UEFI image');
  const rpiRoot = mbr.partitions[1]!;
  assert.equal(await sha256Range(rpi, rpiRoot.start * 512, image.meta.squashfsBytes), await sha256Range(image.path, rootA.start * 512, image.meta.squashfsBytes), 'the same squashfs root');
  const rpiBytes = (await fsp.stat(rpi)).size;
  t.diagnostic(`Pi image ${rpiBytes} bytes; firmware partition ${mbr.partitions[0]!.size * 512} bytes`);
});

test('the arm64 appliance boots in qemu-system-aarch64 (virt, UEFI, TCG), passes the appliance checks, and netboots an x86 PC', { timeout: 5_400_000 }, async (t) => {
  const started = Date.now();
  const figures = await applianceEndToEnd(t, { arch: 'arm64', powerCycle: false });
  t.diagnostic(`arm64 figures: ${JSON.stringify(figures)}; test ${Date.now() - started} ms`);
});
