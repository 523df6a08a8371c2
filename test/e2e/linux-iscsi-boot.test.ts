// The VM test's disk part: a qemu PC (TCG, BIOS or UEFI, the e1000's iPXE ROM)
// `sanboot`s a lanboot seat's iSCSI disk. The disk (test/fixtures/linux-disk) holds syslinux, a
// Debian kernel and an initramfs whose /init logs in to the same disk through the iBFT with
// open-iscsi's iscsistart, reads the marker at the start of the disk's last MiB, prints it on
// ttyS0, writes marker+1 and powers off.
//   boot 1: no marker; boot 2 (persistent seat): marker from boot 1; after `lanboot client
//   reset`: no marker again. The golden image never changes. A UEFI PC (OVMF) boots the same
//   disk twice through syslinux.efi (marker absent, then present).
// The PC uses qemu's user networking (slirp): its DHCP + TFTP hand iPXE the boot script, and the
// guest reaches the host's loopback, where lanboot listens, as 10.0.2.2.
// LANBOOT_TEST_TARGET=tgt runs the same boots against tgt (reset = zeroing the marker area of
// its backing file), to prove the fixture and this harness against a known target.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { buildLinuxDisk, copyLinuxDisk, type LinuxDisk, MARKER_AREA_BYTES, parseSerialLog, readMarkerFromImage } from '../fixtures/linux-disk/build.js';
import { bootFromIscsi } from '../fixtures/linux-disk/vm.js';
import { targetKindFromEnv } from '../helpers/disk-server.js';
import { diskFromSeat, initiatorOf, type IscsiDisk } from '../helpers/iscsi-disk.js';
import { addSeat, importImage, startLanboot } from '../helpers/supervisor.js';
import { startTgt } from '../helpers/tgt.js';
import { type Cleanup, tempDir } from '../helpers/tools.js';

/** Generous for one TCG boot (about 30-40 s here, see docs/testing-vm.md) on a busy 2-core box. */
const BOOT_TIMEOUT_MS = 240_000;

interface BootTarget {
  disk: IscsiDisk;
  /** Brings the seat back to its golden image. */
  reset(): Promise<void>;
  describe(): string;
}

async function lanbootTarget(t: Cleanup, image: LinuxDisk): Promise<BootTarget> {
  const lanboot = await startLanboot(t);
  await importImage(lanboot, image.imagePath, 'linux-disk');
  const seat = await addSeat(lanboot, { name: 'pc1', image: 'linux-disk', mode: 'persistent' });
  return {
    disk: diskFromSeat(seat),
    async reset() {
      const r = await lanboot.cli(['client', 'reset', 'pc1']);
      assert.equal(r.code, 0, `lanboot client reset pc1: ${r.stderr || r.stdout}`);
    },
    describe: () => `lanboot log tail:\n${lanboot.logs().split('\n').slice(-30).join('\n')}`,
  };
}

async function tgtTarget(t: Cleanup, image: LinuxDisk, work: string): Promise<BootTarget> {
  const tgt = await startTgt(t);
  const backingFile = await copyLinuxDisk(image, path.join(work, 'tgt-pc1.img'));
  const disk = await tgt.addDisk({
    targetIqn: 'iqn.2026-11.test.tgt:pc1',
    backingFile,
    initiators: ['iqn.2026-11.test.lanboot:seat:pc1'],
    chap: { user: 'seat-pc1', secret: 'tgt-chap-secret-pc1' },
  });
  return {
    disk,
    async reset() {
      // tgt has no copy-on-write: zero the marker area in place (tgtd reads the file per I/O).
      const fd = await fsp.open(backingFile, 'r+');
      try {
        await fd.write(Buffer.alloc(MARKER_AREA_BYTES), 0, MARKER_AREA_BYTES, image.markerOffset);
        await fd.sync();
      } finally {
        await fd.close();
      }
    },
    describe: () => `tgt on port ${tgt.port}`,
  };
}

test('a diskless Linux boots from its iSCSI disk via iPXE + iBFT; persistent keeps its marker, reset drops it', { timeout: 1_200_000 }, async (t) => {
  const image = await buildLinuxDisk({ log: (line) => t.diagnostic(line) });
  t.diagnostic(`disk ${image.imagePath} (${image.cached ? 'cached' : `built in ${image.durationMs} ms`}), kernel ${image.kernelVersion}`);
  assert.equal(await readMarkerFromImage(image.imagePath), undefined, 'the golden image holds no marker');
  const goldenBefore = await fsp.stat(image.imagePath);

  const work = await tempDir(t, 'lanboot-linux-boot-');
  const kind = targetKindFromEnv();
  const target = kind === 'tgt' ? await tgtTarget(t, image, work) : await lanbootTarget(t, image);

  const boot = (label: string) => bootAndReadMarker(t, target, work, label, 'bios');

  const first = await boot('boot1');
  assert.deepEqual({ present: first.present, boot: first.boot }, { present: false, boot: 1 }, 'a fresh seat has no marker');
  assert.equal(first.sectors * 512, image.sizeBytes, 'Linux sees the whole disk');

  const second = await boot('boot2');
  assert.deepEqual({ present: second.present, boot: second.boot }, { present: true, boot: 2 }, 'a persistent seat keeps what it wrote');

  await target.reset();
  const third = await boot('boot3-after-reset');
  assert.deepEqual({ present: third.present, boot: third.boot }, { present: false, boot: 1 }, 'reset brings back the golden image');

  const goldenAfter = await fsp.stat(image.imagePath);
  assert.equal(await readMarkerFromImage(image.imagePath), undefined, 'the golden image never changes');
  assert.equal(goldenAfter.mtimeMs, goldenBefore.mtimeMs, 'the golden image file was not written');
  assert.ok(fs.existsSync(image.imagePath));
});

/** One boot of the PC; returns the marker line it printed, after checking the boot went right. */
async function bootAndReadMarker(t: TestContext, target: BootTarget, work: string, label: string, firmware: 'bios' | 'uefi') {
  const result = await bootFromIscsi(t, {
    disk: target.disk,
    initiatorIqn: initiatorOf(target.disk),
    workDir: path.join(work, label),
    timeoutMs: BOOT_TIMEOUT_MS,
    firmware,
  });
  const steps = Object.entries(result.milestones).map(([step, ms]) => `${step}@${(ms / 1000).toFixed(1)}s`);
  t.diagnostic(`${label}: ${result.durationMs} ms, qemu exit ${result.exitCode ?? result.signal}; ${steps.join(' ')}`);
  const report = parseSerialLog(result.serial);
  const context = `${label}: ${result.timedOut ? 'TIMED OUT, ' : ''}stages=[${report.stages.join(',')}]${report.error ? ` error=${report.error}` : ''}\n--- serial tail\n${result.serial.split('\n').slice(-40).join('\n')}\n--- ${target.describe()}`;
  assert.equal(result.timedOut, false, context);
  assert.equal(report.error, undefined, context);
  assert.ok(report.marker, `no LANBOOT-MARKER line: ${context}`);
  assert.equal(report.written, report.marker.boot, `marker not written back: ${context}`);
  return report.marker;
}


test('a UEFI PC (OVMF, iPXE EFI ROM) boots the same disk through syslinux.efi and the ACPI iBFT', { timeout: 600_000 }, async (t) => {
  const image = await buildLinuxDisk({ log: (line) => t.diagnostic(line) });
  const work = await tempDir(t, 'lanboot-linux-uefi-');
  const target = targetKindFromEnv() === 'tgt' ? await tgtTarget(t, image, work) : await lanbootTarget(t, image);
  const first = await bootAndReadMarker(t, target, work, 'uefi-boot1', 'uefi');
  assert.deepEqual({ present: first.present, boot: first.boot }, { present: false, boot: 1 });
  const second = await bootAndReadMarker(t, target, work, 'uefi-boot2', 'uefi');
  assert.deepEqual({ present: second.present, boot: second.boot }, { present: true, boot: 2 }, 'the UEFI boot wrote to the same disk');
});
