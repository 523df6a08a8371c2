// The diskless-Linux boot disk fixture itself (test/fixtures/linux-disk): the image it builds is
// a BIOS-bootable disk with the right files, modules in load order and a blank marker area; the
// cache answers a second call; its pure codecs (cpio newc, MBR, ELF .modinfo, marker, serial
// report, iPXE script) are checked against real tools (cpio, sfdisk, mtools) and hostile input.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import {
  buildLinuxDisk,
  LinuxDiskError,
  MARKER_AREA_BYTES,
  MIB,
  parseMarkerSector,
  parseSerialLog,
  readMarkerFromImage,
  resolveModuleOrder,
} from '../fixtures/linux-disk/build.js';
import { CpioError, writeNewcArchive } from '../fixtures/linux-disk/cpio.js';
import { ModinfoError, parseModuleInfo } from '../fixtures/linux-disk/elf-modinfo.js';
import { buildMbr, MbrError, readFirstPartition } from '../fixtures/linux-disk/mbr.js';
import { ipxeSanbootScript, VmError } from '../fixtures/linux-disk/vm.js';
import { describeRun, requireTools, runTool, tempDir } from '../helpers/tools.js';

test('the boot disk: cached, BIOS- and UEFI-bootable, syslinux + kernel + initramfs, blank marker area', { timeout: 900_000 }, async (t) => {
  requireTools('mdir', 'mcopy', 'sfdisk', 'cpio');
  const first = await buildLinuxDisk({ log: (line) => t.diagnostic(line) });
  t.diagnostic(`first call: cached=${first.cached} ${first.durationMs} ms`);
  const second = await buildLinuxDisk();
  assert.equal(second.cached, true, 'the second call is answered from the cache');
  assert.equal(second.imagePath, first.imagePath);
  assert.equal(second.kernelVersion, first.kernelVersion);
  assert.match(first.kernelVersion, /^\d+\.\d+\.\d+-\d+-amd64$/);
  assert.ok(first.packages['busybox-static'] && first.packages['open-iscsi'], JSON.stringify(first.packages));

  const image = first.imagePath;
  const stat = await fsp.stat(image);
  assert.equal(stat.size, 64 * MIB);
  assert.equal(stat.mode & 0o222, 0, 'the cached image is read-only');
  assert.equal(first.markerOffset, stat.size - MARKER_AREA_BYTES);

  // Sector 0: syslinux's MBR code and one bootable FAT16 partition that ends before the marker area.
  const fd = await fsp.open(image, 'r');
  const sector0 = Buffer.alloc(512);
  const markerArea = Buffer.alloc(MARKER_AREA_BYTES);
  try {
    await fd.read(sector0, 0, 512, 0);
    await fd.read(markerArea, 0, MARKER_AREA_BYTES, first.markerOffset);
  } finally {
    await fd.close();
  }
  const mbrCode = await fsp.readFile('/usr/lib/syslinux/mbr/mbr.bin');
  assert.ok(sector0.subarray(0, mbrCode.length).equals(mbrCode), 'sector 0 runs syslinux mbr.bin');
  assert.deepEqual(readFirstPartition(sector0), { bootable: true, type: 0x0e, startLba: 2048, sectorCount: (stat.size - 2 * MIB) / 512 });
  const dump = await runTool('sfdisk', ['--dump', image], { timeoutMs: 30_000 });
  assert.equal(dump.code, 0, describeRun('sfdisk --dump', dump));
  assert.match(dump.stdout, /start=\s*2048, size=\s*126976, type=e, bootable/, dump.stdout);
  assert.ok(markerArea.every((b) => b === 0), 'the marker area starts blank');
  assert.equal(await readMarkerFromImage(image), undefined);

  // The FAT file system holds syslinux (ldlinux.* are hidden+system: mdir -a), its config, the kernel and the initramfs.
  const env = { ...process.env, MTOOLS_SKIP_CHECK: '1' };
  const dir = await runTool('mdir', ['-a', '-b', '-i', `${image}@@1M`, '::'], { env, timeoutMs: 30_000 });
  assert.equal(dir.code, 0, describeRun('mdir', dir));
  for (const name of ['LDLINUX.SYS', 'LDLINUX.C32', 'SYSLINUX.CFG', 'VMLINUZ', 'INITRD.GZ']) {
    assert.ok(dir.stdout.toUpperCase().includes(`::/${name}`), `${name} missing:\n${dir.stdout}`);
  }
  const efiDir = await runTool('mdir', ['-a', '-b', '-i', `${image}@@1M`, '::EFI/BOOT'], { env, timeoutMs: 30_000 });
  assert.equal(efiDir.code, 0, describeRun('mdir ::EFI/BOOT', efiDir));
  for (const name of ['BOOTX64.EFI', 'LDLINUX.E64', 'SYSLINUX.CFG']) {
    assert.ok(efiDir.stdout.toUpperCase().includes(`::/EFI/BOOT/${name}`), `EFI/BOOT/${name} missing (UEFI boot):\n${efiDir.stdout}`);
  }
  const work = await tempDir(t, 'lanboot-linux-disk-');
  const get = await runTool('mcopy', ['-i', `${image}@@1M`, '::syslinux.cfg', '::initrd.gz', work], { env, timeoutMs: 30_000 });
  assert.equal(get.code, 0, describeRun('mcopy', get));
  const cfg = await fsp.readFile(path.join(work, 'syslinux.cfg'), 'utf8');
  assert.match(cfg, /LINUX \/vmlinuz/);
  assert.match(cfg, /APPEND .*console=ttyS0/);

  // The initramfs unpacks with GNU cpio and holds /init, busybox, iscsistart and its libraries.
  const root = path.join(work, 'root');
  await fsp.mkdir(root);
  const cpioBytes = gunzipSync(await fsp.readFile(path.join(work, 'initrd.gz')));
  const unpack = await runTool('cpio', ['-id', '--quiet', '--no-absolute-filenames'], { cwd: root, input: cpioBytes, timeoutMs: 60_000 });
  assert.equal(unpack.code, 0, describeRun('cpio -id', unpack));
  for (const file of ['init', 'bin/busybox', 'sbin/iscsistart', 'etc/lanboot-modules', 'lib64/ld-linux-x86-64.so.2']) {
    assert.ok(fs.existsSync(path.join(root, file)), `initramfs lacks ${file}`);
  }
  assert.ok(fs.statSync(path.join(root, 'init')).mode & 0o100, '/init is executable');
  const ldd = await runTool('ldd', [path.join(root, 'sbin', 'iscsistart')], { timeoutMs: 30_000 });
  for (const m of ldd.stdout.matchAll(/=>\s*(\/\S+)/g)) {
    assert.ok(fs.existsSync(path.join(root, m[1]!)), `initramfs lacks ${m[1]} (iscsistart needs it)`);
  }

  // Modules: every one is loaded after everything its .modinfo depends on.
  const order = (await fsp.readFile(path.join(root, 'etc', 'lanboot-modules'), 'utf8')).trim().split('\n');
  for (const needed of ['iscsi_tcp.ko', 'libiscsi.ko', 'scsi_transport_iscsi.ko', 'iscsi_ibft.ko', 'sd_mod.ko', 'e1000.ko', 'crc32c_generic.ko']) {
    assert.ok(order.includes(needed), `${needed} not in the module list: ${order.join(' ')}`);
  }
  const position = new Map(order.map((file, i) => [file.replace(/\.ko$/, ''), i]));
  for (const file of order) {
    const info = parseModuleInfo(await fsp.readFile(path.join(root, 'lib', 'modules', file)));
    for (const dep of info.depends) {
      const depAt = position.get(dep);
      assert.ok(depAt !== undefined && depAt < position.get(file.replace(/\.ko$/, ''))!, `${file} is loaded before its dependency ${dep}`);
    }
  }

  // Hostile module input: truncations and random corruption of a real module are clean errors.
  const real = await fsp.readFile(path.join(root, 'lib', 'modules', 'sd_mod.ko'));
  assert.ok(parseModuleInfo(real).depends.includes('scsi_mod'));
  const crcT10dif = parseModuleInfo(await fsp.readFile(path.join(root, 'lib', 'modules', 'crc_t10dif.ko')));
  assert.ok(crcT10dif.softPre.includes('crct10dif'), `crc-t10dif's "softdep=pre: crct10dif" is read: ${JSON.stringify(crcT10dif)}`);
  const random = crypto.createHash('sha256').update('seed');
  let rejected = 0;
  for (let i = 0; i < 3000; i++) {
    const bytes = Buffer.from(i % 3 === 0 ? real.subarray(0, Math.floor((real.length * i) / 3000)) : real);
    if (i % 3 !== 0) {
      for (let k = 0; k < 8; k++) {
        const r = random.copy().update(String(i * 8 + k)).digest();
        // Mostly the ELF header and section table, where offsets live.
        const where = k % 2 === 0 ? r.readUInt32LE(0) % 64 : real.length - 1 - (r.readUInt32LE(0) % 4096);
        bytes[where] = r[4]!;
      }
    }
    try {
      parseModuleInfo(bytes);
    } catch (e) {
      assert.ok(e instanceof ModinfoError, `mutation ${i} threw ${(e as Error).name}: ${(e as Error).message}`);
      assert.equal(e.code, 'LINUX_DISK_BAD_MODULE');
      rejected++;
    }
  }
  assert.ok(rejected > 900, `only ${rejected} corrupt modules were rejected`);
});

test('builder options are validated with a coded error', async () => {
  await assert.rejects(buildLinuxDisk({ sizeMiB: 8 }), (e: unknown) => e instanceof LinuxDiskError && e.code === 'LINUX_DISK_BAD_SIZE');
  await assert.rejects(buildLinuxDisk({ sizeMiB: 64.5 }), (e: unknown) => e instanceof LinuxDiskError && e.code === 'LINUX_DISK_BAD_SIZE');
});

test('cpio newc archives unpack with GNU cpio; bad paths are refused', async (t) => {
  requireTools('cpio');
  const archive = writeNewcArchive([
    { kind: 'dir', path: 'etc' },
    { kind: 'file', path: 'etc/hello', data: Buffer.from('hello, odd length'), mode: 0o640 },
    { kind: 'symlink', path: 'etc/link', target: 'hello' },
    { kind: 'chardev', path: 'console', major: 5, minor: 1 },
  ]);
  assert.equal(archive.length % 4, 0);
  const list = await runTool('cpio', ['-itv', '--quiet'], { input: archive, timeoutMs: 30_000 });
  assert.equal(list.code, 0, describeRun('cpio -itv', list));
  assert.match(list.stdout, /^drwxr-xr-x .* etc$/m);
  assert.match(list.stdout, /^-rw-r----- .* 17 .* etc\/hello$/m);
  assert.match(list.stdout, /^lrwxrwxrwx .* etc\/link -> hello$/m);
  assert.match(list.stdout, /^crw------- .* 5,\s+1 .* console$/m);
  const dir = await tempDir(t);
  const unpack = await runTool('cpio', ['-id', '--quiet'], { cwd: dir, input: archive, timeoutMs: 30_000 });
  assert.equal(unpack.code, 0, describeRun('cpio -id', unpack));
  assert.equal(await fsp.readFile(path.join(dir, 'etc', 'hello'), 'utf8'), 'hello, odd length');
  for (const bad of ['', '/', '../etc', 'a/../../b', 'a//b', 'nul\0byte']) {
    assert.throws(() => writeNewcArchive([{ kind: 'dir', path: bad }]), CpioError, JSON.stringify(bad));
  }
});

test('MBR: one partition round-trips and out-of-range values are refused', () => {
  const sector = buildMbr(Buffer.alloc(440, 0x90), 0x12345678, { startLba: 2048, sectorCount: 100_000, type: 0x0e, bootable: true });
  assert.equal(sector.length, 512);
  assert.equal(sector.readUInt32LE(440), 0x12345678);
  assert.deepEqual(readFirstPartition(sector), { startLba: 2048, sectorCount: 100_000, type: 0x0e, bootable: true });
  assert.equal(readFirstPartition(Buffer.alloc(512)), undefined, 'no 55AA signature, no MBR');
  assert.equal(readFirstPartition(Buffer.alloc(100)), undefined);
  assert.throws(() => buildMbr(Buffer.alloc(441), 0, { startLba: 2048, sectorCount: 1, type: 0x0e, bootable: true }), MbrError);
  assert.throws(() => buildMbr(Buffer.alloc(0), 0, { startLba: 0, sectorCount: 1, type: 0x0e, bootable: true }), MbrError);
  assert.throws(() => buildMbr(Buffer.alloc(0), 0, { startLba: 2048, sectorCount: 0xffffffff, type: 0x0e, bootable: true }), MbrError);
});

test('marker sector and serial report parsing', () => {
  const sector = Buffer.alloc(512);
  assert.equal(parseMarkerSector(sector), undefined);
  sector.write('LANBOOT-MARKER-V1 boot=42\n');
  assert.equal(parseMarkerSector(sector), 42);
  assert.equal(parseMarkerSector(Buffer.from('LANBOOT-MARKER-V1 boot=\n')), undefined);
  assert.equal(parseMarkerSector(Buffer.from('LANBOOT-MARKER-V1 boot=12345678901\n')), undefined);
  assert.equal(parseMarkerSector(Buffer.alloc(3)), undefined);

  const log = [
    'SYSLINUX 6.04',
    '[    3.9] Run /init as init process',
    'LANBOOT-STAGE init\r',
    'LANBOOT-WARN insmod virtio_net.ko: oops',
    'LANBOOT-STAGE net eth0 10.0.2.15/24 target=10.0.2.2:3260',
    'LANBOOT-STAGE login',
    'LANBOOT-MARKER present=1 boot=2 disk=sda sectors=131072\r',
    'LANBOOT-MARKER-WRITTEN boot=2',
  ].join('\n');
  assert.deepEqual(parseSerialLog(log), {
    stages: ['init', 'net', 'login'],
    warnings: ['insmod virtio_net.ko: oops'],
    marker: { present: true, boot: 2, disk: 'sda', sectors: 131072 },
    written: 2,
  });
  const failed = parseSerialLog('LANBOOT-STAGE init\nLANBOOT-ERROR iscsistart -b failed\nLANBOOT-ERROR second\n');
  assert.equal(failed.error, 'iscsistart -b failed');
  assert.equal(failed.marker, undefined);
  assert.deepEqual(parseSerialLog('LANBOOT-MARKER present=2 boot=1 disk=sda sectors=1\n').marker, undefined);
});

test('module load order follows depends= and available softdep pre:, and refuses cycles', async () => {
  // Tiny synthetic modules: just enough ELF for readModinfoStrings (one .modinfo section).
  const elf = (modinfo: string[]) => fakeModule(modinfo);
  const modules = new Map<string, Buffer>([
    ['a', elf(['depends=b,c-d'])],
    ['b', elf(['depends=c_d', 'softdep=pre: e missing post: f'])],
    ['c_d', elf(['depends='])],
    ['e', elf([])],
    ['f', elf([])],
  ]);
  const { order, missingRoots } = await resolveModuleOrder(['a', 'nope'], async (n) => modules.get(n));
  assert.deepEqual(order, ['e', 'c_d', 'b', 'a']);
  assert.deepEqual(missingRoots, ['nope']);
  const cyclic = new Map([
    ['x', elf(['depends=y'])],
    ['y', elf(['depends=x'])],
  ]);
  await assert.rejects(resolveModuleOrder(['x'], async (n) => cyclic.get(n)), (e: unknown) => e instanceof LinuxDiskError && e.code === 'LINUX_DISK_MODULE_CYCLE');
  await assert.rejects(resolveModuleOrder(['a'], async (n) => (n === 'a' ? modules.get(n) : undefined)), (e: unknown) => e instanceof LinuxDiskError && e.code === 'LINUX_DISK_MODULE_MISSING');
  assert.throws(() => parseModuleInfo(Buffer.from('not an elf')), ModinfoError);
  assert.throws(() => parseModuleInfo(Buffer.alloc(64)), ModinfoError);
});

test('the iPXE sanboot script carries the seat\'s initiator and CHAP, and refuses unsafe values', () => {
  const disk = { server: 'lanboot' as const, host: '127.0.0.1', port: 3261, targetIqn: 'iqn.2026-11.lanboot:pc1', lun: 0, initiatorIqns: ['iqn.x:pc1'], chap: { user: 'pc1', secret: 's3cret-Value' } };
  assert.equal(
    ipxeSanbootScript(disk, 'iqn.x:pc1', '10.0.2.2'),
    '#!ipxe\nset initiator-iqn iqn.x:pc1\nset username pc1\nset password s3cret-Value\nsanboot iscsi:10.0.2.2::3261:0:iqn.2026-11.lanboot:pc1\n',
  );
  const { chap: _chap, ...noChap } = disk;
  assert.doesNotMatch(ipxeSanbootScript(noChap, 'iqn.x:pc1', '10.0.2.2'), /username|password/);
  for (const secret of ['has space', 'dollar${x}', 'hash#', '', 'tab\t']) {
    assert.throws(() => ipxeSanbootScript({ ...disk, chap: { user: 'pc1', secret } }, 'iqn.x:pc1', '10.0.2.2'), VmError, JSON.stringify(secret));
  }
});

/** A minimal ELF64 LE relocatable with a section name table and one .modinfo section. */
function fakeModule(modinfo: string[]): Buffer {
  const names = Buffer.from('\0.shstrtab\0.modinfo\0', 'latin1');
  const info = Buffer.from(modinfo.map((s) => s + '\0').join(''), 'latin1');
  const header = Buffer.alloc(64);
  header.writeUInt32LE(0x464c457f, 0);
  header[4] = 2; // ELFCLASS64
  header[5] = 1; // ELFDATA2LSB
  const namesAt = 64;
  const infoAt = namesAt + names.length;
  const tableAt = infoAt + info.length;
  header.writeBigUInt64LE(BigInt(tableAt), 0x28);
  header.writeUInt16LE(64, 0x3a);
  header.writeUInt16LE(3, 0x3c);
  header.writeUInt16LE(1, 0x3e);
  const section = (nameOffset: number, offset: number, size: number) => {
    const s = Buffer.alloc(64);
    s.writeUInt32LE(nameOffset, 0);
    s.writeBigUInt64LE(BigInt(offset), 0x18);
    s.writeBigUInt64LE(BigInt(size), 0x20);
    return s;
  };
  return Buffer.concat([header, names, info, section(0, 0, 0), section(1, namesAt, names.length), section(11, infoAt, info.length)]);
}
