// Seat commit export benchmark (not a test: it measures and reports, it never asserts a speed).
//
//   node dist/bench/seat-export.js [--golden-mib 1024] [--delta-mib 128] [--runs 3] [--no-write]
//   (or `npm run bench -- seat-export`)
//
// What a maintenance commit costs: the addon's exportDisk (golden + delta -> a new version
// file, copy_file_range over data extents, holes kept) against peers doing the same amount of
// copying in the same run: `cp --sparse=always` of the golden file alone (no delta to merge:
// the floor for a plain copy) and `qemu-img convert -O raw` of it. The golden file is sparse
// (a quarter holes); the delta is written over iSCSI through the real engine (random 64 KiB
// writes). Files live in the temp dir's file system (ext4 here); the page cache is warm
// (dropping it would disturb whatever else runs on the machine), so this is the CPU/syscall
// side of the copy more than the disk's speed.
// Results go to stdout and to docs/benchmarks.md under "## Seat commit export".
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadNative } from '../src/native/index.js';
import { IscsiSession, expectGood } from '../test/helpers/iscsi-wire.js';
import { replaceBenchmarkSection } from './support/docs-section.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { values } = parseArgs({
  options: {
    'golden-mib': { type: 'string', default: '1024' },
    'delta-mib': { type: 'string', default: '128' },
    runs: { type: 'string', default: '3' },
    'no-write': { type: 'boolean', default: false },
  },
});
const goldenMiB = Number(values['golden-mib']);
const deltaMiB = Number(values['delta-mib']);
const runs = Number(values.runs);
const MiB = 2 ** 20;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function allocated(file: string): number {
  return fs.statSync(file).blocks * 512;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lanboot-bench-export-'));
  const native = loadNative();
  const engine = new native.IscsiEngine(() => {});
  try {
    // Golden: data in 3 of every 4 blocks of 8 MiB, holes in the 4th.
    const golden = path.join(dir, 'golden.img');
    const fd = fs.openSync(golden, 'w');
    fs.ftruncateSync(fd, goldenMiB * MiB);
    for (let off = 0; off < goldenMiB * MiB; off += 8 * MiB) {
      if ((off / (8 * MiB)) % 4 !== 3) fs.writeSync(fd, crypto.randomBytes(8 * MiB), 0, 8 * MiB, off);
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);

    // Delta: random 64 KiB writes through the real engine.
    const deltaDir = path.join(dir, 'delta');
    const iqn = 'iqn.2026-11.local.lanboot:seat.bench';
    const initiator = 'iqn.2026-11.local.lanboot:pc.bench';
    const port = engine.listen('127.0.0.1', 0);
    engine.setTarget({ iqn, goldenPath: golden, deltaDir, initiators: [initiator], serial: 'BENCH0001', naaHex: '5000000000000001' });
    const session = await IscsiSession.open({ host: '127.0.0.1', port, initiatorIqn: initiator, targetIqn: iqn });
    await session.clearUnitAttention();
    const blocks = (goldenMiB * MiB) / 512;
    const piece = 64 * 1024;
    for (let done = 0; done < deltaMiB * MiB; done += piece) {
      const lba = Math.floor(Math.random() * (blocks - piece / 512));
      expectGood(await session.write10(lba - (lba % 8), crypto.randomBytes(piece)), 'write');
    }
    await session.logout();
    session.destroy();
    const deltaBytes = engine.deltaBytes(iqn);
    engine.removeTarget(iqn); // as commit does: the delta closed before the export
    while (!native.deltaIsIdle(deltaDir)) await new Promise((r) => setTimeout(r, 20));

    const time = (fn: () => unknown) => {
      const start = process.hrtime.bigint();
      fn();
      return Number(process.hrtime.bigint() - start) / 1e9;
    };
    const timeAsync = async (fn: () => Promise<unknown>) => {
      const start = process.hrtime.bigint();
      await fn();
      return Number(process.hrtime.bigint() - start) / 1e9;
    };
    const results = { exportDisk: [] as number[], cp: [] as number[], qemu: [] as number[] };
    let exportAllocated = 0;
    let cpAllocated = 0;
    for (let run = 0; run < runs; run++) {
      const out = path.join(dir, `export-${run}.img`);
      results.exportDisk.push(await timeAsync(() => native.exportDisk({ goldenPath: golden, deltaDir }, out)));
      exportAllocated = allocated(out);
      fs.rmSync(out);
      const cpOut = path.join(dir, `cp-${run}.img`);
      results.cp.push(time(() => execFileSync('sh', ['-c', `cp --sparse=always "$0" "$1" && sync "$1"`, golden, cpOut])));
      cpAllocated = allocated(cpOut);
      fs.rmSync(cpOut);
      const qOut = path.join(dir, `qemu-${run}.img`);
      results.qemu.push(time(() => execFileSync('sh', ['-c', `qemu-img convert -O raw "$0" "$1" && sync "$1"`, golden, qOut])));
      fs.rmSync(qOut);
    }
    const e = median(results.exportDisk);
    const c = median(results.cp);
    const q = median(results.qemu);
    const rate = (s: number) => `${((goldenMiB * MiB) / s / MiB).toFixed(0)} MiB/s`;
    const section = [
      '## Seat commit export',
      '',
      `\`node dist/bench/seat-export.js\` on ${new Date().toISOString().slice(0, 10)}: a ${goldenMiB} MiB golden file (a quarter holes), ` +
        `a delta of ${(deltaBytes / MiB).toFixed(0)} MiB (random 64 KiB writes over iSCSI), median of ${runs} runs, warm page cache, ` +
        `${os.cpus().length} cores. The export merges golden + delta; the peers copy the golden file alone (less work). ` +
        'cp and qemu-img times include a sync of the copy; exportDisk fsyncs its file.',
      '',
      '| copy | time | rate (disk size / time) | vs cp | allocated |',
      '|---|---|---|---|---|',
      `| lanboot exportDisk (golden + delta) | ${e.toFixed(2)} s | ${rate(e)} | ${(e / c).toFixed(2)}x | ${(exportAllocated / MiB).toFixed(0)} MiB |`,
      `| cp --sparse=always (golden only) | ${c.toFixed(2)} s | ${rate(c)} | 1.00x | ${(cpAllocated / MiB).toFixed(0)} MiB |`,
      `| qemu-img convert -O raw (golden only) | ${q.toFixed(2)} s | ${rate(q)} | ${(q / c).toFixed(2)}x | - |`,
      '',
    ].join('\n');
    process.stdout.write(`${section}\n`);
    if (!values['no-write']) await replaceBenchmarkSection(repoRoot, 'Seat commit export', section);
  } finally {
    engine.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
