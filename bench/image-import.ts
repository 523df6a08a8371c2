// Image import benchmark (not a test: it measures and reports, it never asserts a speed).
//
//   node dist/bench/image-import.js [--size-gib 2] [--data-percent 75] [--runs 3] [--no-write]
//                                   [--source-mbps 100]
//   (or `npm run bench -- image-import`, which builds first)
//
// One raw disk image (default 2 GiB, 75% real data in 64 MiB runs, the rest zeros) on the
// data filesystem, copied in the same run by:
//   - lanboot: ImportManager.start() + wait (probe, partition-table check, the one-pass
//     sparse copy with read-back comparison and SHA-256, fsync, rename, record): the whole
//     import as a user sees it;
//   - cp --sparse=always SRC DST && sync DST;
//   - cp SRC DST && sync DST (coreutils' default, copy_file_range where it can);
//   - qemu-img convert -f raw -O raw SRC DST && sync DST;
//   - openssl dgst -sha256 SRC: no copy, only the hash every lanboot import computes.
// Every peer pays an fsync of its output (lanboot's import fsyncs before publishing).
// Cold runs: the page cache is dropped (echo 3 > /proc/sys/vm/drop_caches) before each run
// when this process may write there; the report says whether it could.
// --source-mbps N: the source's device is read at N MB/s at most (cgroup v1 blkio throttle
// on this process and everything it starts), as a USB stick would be: where an import from
// a stick spends its time. Writes are not throttled.
// Results go to stdout and to docs/benchmarks.md under "## Image import" (or "## Image import
// from a slow source").
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { migrate, openDatabase } from '../src/db/database.js';
import { ImageRepository } from '../src/db/images.js';
import { ImageStore } from '../src/storage/image-store.js';
import { ImportManager } from '../src/storage/import-manager.js';
import { loadNative } from '../src/native/index.js';
import { DataLayout } from '../src/storage/layout.js';
import { replaceBenchmarkSection } from './support/docs-section.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const { values } = parseArgs({
  options: {
    'size-gib': { type: 'string', default: '2' },
    'data-percent': { type: 'string', default: '75' },
    runs: { type: 'string', default: '3' },
    dir: { type: 'string' },
    'no-write': { type: 'boolean', default: false },
    'source-mbps': { type: 'string' },
  },
});
const sizeBytes = Math.round(Number(values['size-gib']) * 1024 ** 3);
const dataPercent = Number(values['data-percent']);
const runs = Number(values.runs);

function dropCaches(): boolean {
  try {
    spawnSync('sync');
    fs.writeFileSync('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    return false;
  }
}

const BLKIO = '/sys/fs/cgroup/blkio';

/** Limits reads of the disk holding `file` to `bytesPerSecond` for this process and its
 *  children (cgroup v1 blkio.throttle, which names whole disks). Returns the undo. */
function throttleReads(file: string, bytesPerSecond: number): () => void {
  if (!fs.existsSync(path.join(BLKIO, 'blkio.throttle.read_bps_device'))) throw new Error(`--source-mbps needs the cgroup v1 blkio controller at ${BLKIO}`);
  const dev = fs.statSync(file).dev;
  let id = `${(dev & 0xfff00) >> 8}:${(dev & 0xff) | ((dev >> 12) & 0xfff00)}`;
  // A partition: throttle its disk (sysfs: the partition's directory is inside the disk's).
  if (fs.existsSync(`/sys/dev/block/${id}/partition`)) id = fs.readFileSync(`/sys/dev/block/${id}/../dev`, 'utf8').trim();
  const group = path.join(BLKIO, `lanboot-bench-${process.pid}`);
  fs.mkdirSync(group);
  fs.writeFileSync(path.join(group, 'blkio.throttle.read_bps_device'), `${id} ${Math.round(bytesPerSecond)}`);
  fs.writeFileSync(path.join(group, 'cgroup.procs'), String(process.pid));
  return () => {
    fs.writeFileSync(path.join(BLKIO, 'cgroup.procs'), String(process.pid));
    fs.rmdirSync(group);
  };
}

function sh(command: string, args: string[]): void {
  const r = spawnSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')}: ${r.stderr?.toString()}`);
}

async function main(): Promise<void> {
  const loadBefore = os.loadavg()[0]!;
  const work = fs.mkdtempSync(path.join(values.dir ?? os.tmpdir(), 'lanboot-bench-import-'));
  let unthrottle: (() => void) | undefined;
  try {
    // The source: 64 MiB runs, dataPercent of them random data, the others zeros.
    const source = path.join(work, 'source.img');
    const fd = fs.openSync(source, 'w');
    const run = 64 * 1024 * 1024;
    const random = crypto.randomBytes(run);
    const runsTotal = Math.ceil(sizeBytes / run);
    for (let i = 0; i < runsTotal; i++) {
      if ((i * 100) / runsTotal < dataPercent) {
        random.writeUInt32LE(i, 0);
        fs.writeSync(fd, random, 0, Math.min(run, sizeBytes - i * run), i * run);
      }
    }
    fs.ftruncateSync(fd, sizeBytes);
    fs.closeSync(fd);

    const dataDir = path.join(work, 'data');
    fs.mkdirSync(dataDir);
    const db = openDatabase(path.join(dataDir, 'lanboot.db'));
    await migrate(db);
    const layout = new DataLayout(dataDir);
    const images = new ImageRepository(db);
    const store = new ImageStore(layout, images);
    const imports = new ImportManager({ db, store, layout, logger: pino({ level: 'silent' }), verifiedCopy: loadNative().verifiedCopy });

    const target = path.join(work, 'target.img');
    const sourceMbps = values['source-mbps'] === undefined ? undefined : Number(values['source-mbps']);
    if (sourceMbps !== undefined) unthrottle = throttleReads(source, sourceMbps * 1e6);
    const peers: { name: string; run: () => Promise<void>; cleanup?: () => Promise<void> }[] = [
      {
        name: 'lanboot import (copy + verify + publish)',
        run: async () => {
          const job = await imports.wait((await imports.start({ image: 'bench', path: source })).id);
          if (job.state !== 'done') throw new Error(`import failed: ${job.error?.message}`);
        },
        // Outside the timed part, like the other peers' rm of their target.
        cleanup: async () => void (images.findImage('bench') && (await store.prune('bench'))),
      },
      { name: 'cp --sparse=always + sync', run: async () => (sh('cp', ['--sparse=always', source, target]), sh('sync', [target])) },
      { name: 'cp + sync', run: async () => (sh('cp', [source, target]), sh('sync', [target])) },
      { name: 'qemu-img convert -O raw + sync', run: async () => (sh('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', source, target]), sh('sync', [target])) },
      // Not a copy: the floor any import that records a SHA-256 of the whole disk has here.
      { name: 'openssl dgst -sha256 of the source (hash alone, no copy)', run: async () => sh('openssl', ['dgst', '-sha256', source]) },
    ];
    const results = new Map<string, number[]>();
    let cold = true;
    for (let r = 0; r < runs; r++) {
      for (const peer of peers) {
        fs.rmSync(target, { force: true });
        await peer.cleanup?.();
        cold = dropCaches() && cold;
        const started = process.hrtime.bigint();
        await peer.run();
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        results.set(peer.name, [...(results.get(peer.name) ?? []), seconds]);
        console.log(`${peer.name}: ${seconds.toFixed(2)} s`);
      }
    }
    fs.rmSync(target, { force: true });
    unthrottle?.();
    unthrottle = undefined;
    db.close();

    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const cpMedian = median(results.get('cp + sync')!);
    const rows = peers.map((p) => {
      const m = median(results.get(p.name)!);
      return `| ${p.name} | ${m.toFixed(2)} | ${(sizeBytes / m / 1e6).toFixed(0)} | ${(m / cpMedian).toFixed(2)} |`;
    });
    const title = sourceMbps === undefined ? 'Image import' : 'Image import from a slow source';
    const section = [
      `## ${title}`,
      '',
      `bench/image-import.ts, ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), ${runs} runs each, median shown.`,
      `Source: a ${(sizeBytes / 1024 ** 3).toFixed(1)} GiB raw disk, ${dataPercent}% random data in 64 MiB runs, the rest zeros, on the same filesystem as the target.`,
      ...(sourceMbps === undefined ? [] : [`Reads of the source's disk limited to ${sourceMbps} MB/s (cgroup blkio throttle), as from a USB stick; writes not limited.`]),
      cold ? 'Cold: page cache dropped (echo 3 > /proc/sys/vm/drop_caches) before every run.' : 'Warm: the page cache could not be dropped here; every run reads a cached source.',
      'MB/s = disk size / time (10^6 bytes). Every peer fsyncs its output. Peers run interleaved in each round, so load from',
      `other work hits all of them alike (1-minute load average ${loadBefore.toFixed(1)} at the start, ${os.loadavg()[0]!.toFixed(1)} at the end).`,
      '',
      '| method | seconds | MB/s | time vs cp |',
      '|---|---|---|---|',
      ...rows,
      '',
      'The lanboot import reads the source once, in 4 MiB chunks: zero 4 KiB blocks are left as holes, the rest',
      'written, started to disk (sync_file_range), read back and compared with what was read, while a second thread',
      'computes the SHA-256 recorded with the version (SHA extensions where the CPU has them); then fsync, rename,',
      'record. cp does no hashing and no read-back; qemu-img convert neither. SHA-256 cannot be split across cores,',
      "so the hash alone (last row) is the floor for the import on this machine; the rest is the fsync, the",
      'read-back and two cores shared by both threads, the kernel and the disk.',
      '',
    ].join('\n');
    console.log(`\n${section}`);
    if (!values['no-write']) await replaceBenchmarkSection(repoRoot, title, section);
  } finally {
    unthrottle?.();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

await main();
