// Records the boot trace the boot-storm benchmark replays (bench/fixtures/linux-boot.trace):
// the test suite's Linux seat VM (test/fixtures/linux-disk: syslinux, a Debian kernel and an
// initramfs that logs in again with open-iscsi through the iBFT) boots once under qemu (TCG)
// from a lanboot seat while `lanboot seat trace SEAT on` records every READ/WRITE. Both
// phases are in the trace: iPXE's INT 13h reads (syslinux loading the kernel and initramfs)
// and the Linux initiator's session.
//
//   node dist/bench/support/record-boot-trace.js [--out bench/fixtures/linux-boot.trace]
import fsp from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildLinuxDisk, parseSerialLog } from '../../test/fixtures/linux-disk/build.js';
import { bootFromIscsi } from '../../test/fixtures/linux-disk/vm.js';
import { diskFromSeat, initiatorOf } from '../../test/helpers/iscsi-disk.js';
import { addSeat, importImage, startLanboot } from '../../test/helpers/supervisor.js';
import { repoRoot, tempDir } from '../../test/helpers/tools.js';
import { decodeTrace } from '../../src/seats/boot-trace.js';
import { Teardown } from './teardown.js';

const { values: opts } = parseArgs({ options: { out: { type: 'string', default: path.join(repoRoot, 'bench', 'fixtures', 'linux-boot.trace') } } });

async function main(): Promise<void> {
  const teardown = new Teardown();
  try {
    const image = await buildLinuxDisk({ log: (line) => console.error(line) });
    const lanboot = await startLanboot(teardown);
    await importImage(lanboot, image.imagePath, 'linux-disk');
    const seat = await addSeat(lanboot, { name: 'pc1', image: 'linux-disk', mode: 'fresh' });
    const on = await lanboot.cliJson<{ file: string }>(['seat', 'trace', 'pc1', 'on', '--json']);
    const work = await tempDir(teardown, 'lanboot-trace-');
    const disk = diskFromSeat(seat);
    const result = await bootFromIscsi(teardown, { disk, initiatorIqn: initiatorOf(disk), workDir: work, timeoutMs: 300_000 });
    const report = parseSerialLog(result.serial);
    if (result.timedOut || report.error !== undefined || !report.marker) {
      throw new Error(`the boot did not finish: ${report.error ?? 'timed out'}\n${result.serial.split('\n').slice(-30).join('\n')}`);
    }
    await lanboot.cliJson(['seat', 'trace', 'pc1', 'off', '--json']);
    const bytes = await fsp.readFile(on.file);
    const records = decodeTrace(bytes);
    await fsp.writeFile(opts.out!, bytes);
    const read = records.filter((r) => r.op === 'read');
    const written = records.filter((r) => r.op === 'write');
    const sum = (xs: typeof records) => xs.reduce((n, r) => n + r.length, 0);
    const spanS = records.length > 1 ? Number(records[records.length - 1]!.startNs - records[0]!.startNs) / 1e9 : 0;
    const meta = {
      recordedAt: new Date().toISOString(),
      source: 'test/fixtures/linux-disk booted by qemu (TCG, SeaBIOS, e1000 iPXE ROM) from a lanboot seat',
      kernel: image.kernelVersion,
      diskBytes: image.sizeBytes,
      bootMs: result.durationMs,
      milestonesMs: result.milestones,
      commands: records.length,
      reads: read.length,
      readBytes: sum(read),
      writes: written.length,
      writeBytes: sum(written),
      sessions: [...new Set(records.map((r) => r.session))].length,
      spanSeconds: spanS,
    };
    await fsp.writeFile(opts.out!.replace(/\.trace$/, '.json'), `${JSON.stringify(meta, null, 2)}\n`);
    console.log(JSON.stringify(meta, null, 2));
  } finally {
    await teardown.run();
  }
}

await main();
