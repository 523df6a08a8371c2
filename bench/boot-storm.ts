// iSCSI boot storm: a recorded boot (bench/fixtures/linux-boot.trace, recorded with
// `lanboot seat trace`, see bench/support/record-boot-trace.ts) replayed from 20, 50 and 100
// seats at once against lanboot (one golden file, copy-on-write seats) and against tgt (one
// copy of the golden image per seat, as tgt has no copy-on-write), in the same run. Then the
// pre-warm: the first seat's boot with the golden file dropped from the page cache, with and
// without lanboot's pre-warm of the boot set. Not a test: it measures and writes
// docs/benchmarks.md, never asserts speed.
//
// The replay client is native/out/tools/boot-replay (C++, libiscsi, one thread and session
// per seat, commands in the recorded order with the recorded think times). Its own CPU is
// reported next to the targets' so a run shows whether the client was the limit.
//
//   node dist/bench/boot-storm.js [--seats 20,50,100] [--rounds 3] [--think-scale 1] [--no-write]
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { bootSet, decodeTrace } from '../src/seats/boot-trace.js';
import { BOOT_SET_SECONDS } from '../src/seats/prewarm.js';
import { makeGoldenImage } from '../test/helpers/images.js';
import { type IscsiDisk, diskFromSeat, initiatorOf, libiscsiUrl } from '../test/helpers/iscsi-disk.js';
import { importImage, startLanboot, type Lanboot, type SeatInfo } from '../test/helpers/supervisor.js';
import { startTgt } from '../test/helpers/tgt.js';
import { describeRun, processCpuSeconds, repoRoot, requireTools, runTool, waitFor } from '../test/helpers/tools.js';
import { replaceBenchmarkSection } from './support/docs-section.js';
import { Teardown } from './support/teardown.js';

const { values: opts } = parseArgs({
  options: {
    seats: { type: 'string', default: '20,50,100' },
    rounds: { type: 'string', default: '3' },
    'think-scale': { type: 'string', default: '1' },
    trace: { type: 'string', default: path.join(repoRoot, 'bench', 'fixtures', 'linux-boot.trace') },
    'no-write': { type: 'boolean', default: false },
  },
});
const SEAT_COUNTS = opts.seats!.split(',').map(Number);
const ROUNDS = Number(opts.rounds);
const THINK_SCALE = Number(opts['think-scale']);
if (SEAT_COUNTS.some((n) => !Number.isInteger(n) || n <= 0) || !Number.isInteger(ROUNDS) || ROUNDS <= 0 || !(THINK_SCALE >= 0)) {
  throw new Error('--seats takes positive integers (20,50,100), --rounds a positive integer, --think-scale a number >= 0');
}
const MAX_SEATS = Math.max(...SEAT_COUNTS);
const REPLAY = path.join(repoRoot, 'native', 'out', 'tools', 'boot-replay');

interface ReplayOutput {
  wallMs: number;
  clientCpuSeconds: number;
  commandsPerSeat: number;
  thinkMs: number;
  seats: { loginMs: number; bootMs: number; commands: number; bytes: number; errors: number; error: string }[];
}

interface Prewarm {
  cold: number[];
  warmed: number[];
  warmMs: number[];
  warmBytes: number[];
  /** The trace's think time, the same in every replay: a boot minus it is time waiting for the target. */
  thinkMs: number;
}

interface StormRun {
  allDoneMs: number;
  p50Ms: number;
  p99Ms: number;
  targetCpuSeconds: number;
  clientCpuSeconds: number;
  cachedBytes: number;
  errors: number;
}

async function replay(work: string, disks: IscsiDisk[], label: string): Promise<ReplayOutput> {
  const list = path.join(work, `${label}.seats`);
  await fsp.writeFile(list, disks.map((d) => `${libiscsiUrl(d)} ${initiatorOf(d)}\n`).join(''));
  const r = await runTool(REPLAY, ['--trace', opts.trace!, '--seats', list, '--think-scale', String(THINK_SCALE)], { timeoutMs: 1_800_000 });
  if (r.code !== 0) throw new Error(describeRun('boot-replay', r));
  return JSON.parse(r.stdout) as ReplayOutput;
}

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
};
const median = (xs: number[]) => quantile(xs, 0.5);

/** posix_fadvise(DONTNEED) on each file: the rest of the machine's cache stays. */
async function evict(files: string[]): Promise<void> {
  const py = 'import os,sys\nfor f in sys.argv[1:]:\n  fd=os.open(f,os.O_RDONLY); os.posix_fadvise(fd,0,0,os.POSIX_FADV_DONTNEED); os.close(fd)\n';
  const r = await runTool('python3', ['-c', py, ...files], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(describeRun('evict', r));
}

async function residentBytes(files: string[]): Promise<number> {
  const r = await runTool('fincore', ['--bytes', '--noheadings', '--output', 'RES', ...files], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(describeRun('fincore', r));
  return r.stdout.split('\n').filter((l) => l.trim() !== '').reduce((n, l) => n + Number(l.trim()), 0);
}

async function stormRun(work: string, disks: IscsiDisk[], pid: number, files: string[], label: string): Promise<StormRun> {
  await evict(files);
  const before = processCpuSeconds(pid);
  const out = await replay(work, disks, label);
  const targetCpuSeconds = processCpuSeconds(pid) - before;
  const boots = out.seats.map((s) => s.bootMs);
  const errors = out.seats.reduce((n, s) => n + s.errors + (s.error && s.commands === 0 ? 1 : 0), 0);
  if (errors > 0) console.error(`bench: ${label}: ${errors} errors, first: ${out.seats.find((s) => s.error)?.error}`);
  return {
    allDoneMs: Math.max(...boots),
    p50Ms: quantile(boots, 0.5),
    p99Ms: quantile(boots, 0.99),
    targetCpuSeconds,
    clientCpuSeconds: out.clientCpuSeconds,
    cachedBytes: await residentBytes(files),
    errors,
  };
}

/** The local API over the data dir's socket (adding 100 seats through the CLI takes minutes). */
function api<T>(lanboot: Lanboot, method: string, route: string, body?: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = http.request(
      { socketPath: path.join(lanboot.dataDir, 'lanboot.sock'), method, path: route, headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if ((res.statusCode ?? 500) >= 300) reject(new Error(`${method} ${route}: ${res.statusCode} ${text}`));
          else resolve(JSON.parse(text) as T);
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** A per-seat copy for tgt: the golden bytes the trace reads, the rest left as holes (the
 *  page cache holds what is read, per file, so this caches like a full copy). */
async function seatCopy(golden: string, dest: string, ranges: { offset: number; length: number }[], size: number): Promise<void> {
  const src = await fsp.open(golden, 'r');
  const dst = await fsp.open(dest, 'w');
  try {
    await dst.truncate(size);
    for (const r of ranges) {
      const buf = Buffer.alloc(r.length);
      await src.read(buf, 0, r.length, r.offset);
      await dst.write(buf, 0, r.length, r.offset);
    }
  } finally {
    await src.close();
    await dst.close();
  }
}

async function main(): Promise<void> {
  requireTools('tgtd', 'tgtadm', 'fincore', 'python3');
  if (!fs.existsSync(REPLAY)) throw new Error(`${REPLAY} missing: run \`make -C native tools\` (needs libiscsi-dev)`);
  const records = decodeTrace(await fsp.readFile(opts.trace!));
  const meta = JSON.parse(await fsp.readFile(opts.trace!.replace(/\.trace$/, '.json'), 'utf8')) as { diskBytes: number; kernel: string; bootMs: number };
  const reads = records.filter((r) => r.op === 'read');
  const traceReadBytes = reads.reduce((n, r) => n + r.length, 0);
  // Every page the trace touches (reads and writes), so tgt's copies hold all a boot reads.
  const touched = bootSet([records.map((r) => ({ ...r, op: 'read' as const, status: 0 }))], 1e9, Number.MAX_SAFE_INTEGER);
  const uniqueReadBytes = bootSet([reads], 1e9, Number.MAX_SAFE_INTEGER).reduce((n, r) => n + r.length, 0);

  const teardown = new Teardown();
  const onSignal = () => void teardown.run().then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const work = await fsp.mkdtemp(path.join(os.tmpdir(), 'lanboot-storm-'));
    teardown.after(() => fsp.rm(work, { recursive: true, force: true }));
    const source = await makeGoldenImage(work, meta.diskBytes, 'random', 'storm.img');
    const lanboot = await startLanboot(teardown);
    await importImage(lanboot, source.path, 'storm');
    const golden = (await api<{ versions: { filePath?: string; path?: string }[] }[]>(lanboot, 'GET', '/api/v1/images'))
      .flatMap((i) => i.versions ?? [])
      .map((v) => v.filePath ?? v.path)
      .find((p): p is string => typeof p === 'string');
    const goldenFile = golden ?? (await findGolden(lanboot.dataDir));
    const lanbootDisks: IscsiDisk[] = [];
    for (let i = 0; i < MAX_SEATS + 2; i++) {
      lanbootDisks.push(diskFromSeat(await api<SeatInfo>(lanboot, 'POST', '/api/v1/seats', { name: `seat${i}`, image: 'storm', mode: 'persistent' })));
    }
    console.error(`bench: lanboot pid ${lanboot.pid}, ${lanbootDisks.length} seats on ${goldenFile}`);

    const tgt = await startTgt(teardown);
    const tgtDisks: IscsiDisk[] = [];
    const tgtFiles: string[] = [];
    for (let i = 0; i < MAX_SEATS; i++) {
      const file = path.join(work, `tgt-seat${i}.img`);
      await seatCopy(goldenFile, file, touched, meta.diskBytes);
      const initiator = `iqn.2026-11.test.storm:tgt-seat${i}`;
      const disk = await tgt.addDisk({ targetIqn: `iqn.2026-11.test.storm:tgt-seat${i}`, backingFile: file, initiators: [initiator] });
      disk.initiatorIqns = [initiator];
      tgtDisks.push(disk);
      tgtFiles.push(file);
    }
    console.error(`bench: tgt pid ${tgt.pid}, ${tgtDisks.length} targets, one copy each`);

    const storm: Record<number, { lanboot: StormRun[]; tgt: StormRun[] }> = {};
    const prewarm: Prewarm = { cold: [], warmed: [], warmMs: [], warmBytes: [], thinkMs: 0 };
    const coldSeat = lanbootDisks[MAX_SEATS]!;
    const warmSeat = lanbootDisks[MAX_SEATS + 1]!;
    for (let round = 1; round <= ROUNDS; round++) {
      for (const n of SEAT_COUNTS) {
        storm[n] ??= { lanboot: [], tgt: [] };
        console.error(`bench round ${round}: ${n} seats on lanboot`);
        storm[n].lanboot.push(await stormRun(work, lanbootDisks.slice(0, n), lanboot.pid, [goldenFile], `lanboot-${n}`));
        console.error(`bench round ${round}: ${n} seats on tgt`);
        storm[n].tgt.push(await stormRun(work, tgtDisks.slice(0, n), tgt.pid, tgtFiles.slice(0, n), `tgt-${n}`));
      }
      // Pre-warm. Without: the golden file dropped, one seat boots (recorded by lanboot's own
      // trace switch: that is the stored trace the pre-warm reads). With: lanboot restarted
      // with the golden file dropped; it pre-warms at start; once done, another seat boots.
      console.error(`bench round ${round}: first seat, cold page cache`);
      await api(lanboot, 'POST', '/api/v1/seats/seat' + MAX_SEATS + '/trace', { on: true });
      await evict([goldenFile]);
      const cold = await replay(work, [coldSeat], 'cold');
      prewarm.thinkMs = cold.thinkMs;
      prewarm.cold.push(cold.seats[0]!.bootMs);
      await api(lanboot, 'POST', '/api/v1/seats/seat' + MAX_SEATS + '/trace', { on: false });
      console.error(`bench round ${round}: first seat after the pre-warm`);
      await lanboot.stop();
      await evict([goldenFile]);
      const logStart = lanboot.logs().length;
      await lanboot.restart();
      const line = await waitFor(
        'the pre-warm log line',
        async () => lanboot.logs().slice(logStart).split('\n').find((l) => l.includes('golden boot set pre-warmed')),
        120_000,
      );
      const done = JSON.parse(line) as { bytes: number; ms: number };
      prewarm.warmMs.push(done.ms);
      prewarm.warmBytes.push(done.bytes);
      for (const d of [...lanbootDisks]) d.port = lanboot.iscsiPort;
      prewarm.warmed.push((await replay(work, [warmSeat], 'warmed')).seats[0]!.bootMs);
    }
    const report = render(storm, prewarm, { records: records.length, reads: reads.length, traceReadBytes, uniqueReadBytes, meta });
    console.log(report);
    const heading = `iSCSI boot storm (bench/boot-storm.ts${THINK_SCALE === 1 ? '' : `, think times x${THINK_SCALE}`})`;
    if (!opts['no-write']) await replaceBenchmarkSection(repoRoot, heading, `## ${heading}\n\n${report}\n`);
  } finally {
    await teardown.run();
  }
}

async function findGolden(dataDir: string): Promise<string> {
  const dir = path.join(dataDir, 'images', 'storm');
  const file = (await fsp.readdir(dir)).find((f) => /^v\d+\.img$/.test(f));
  if (!file) throw new Error(`no golden version under ${dir}`);
  return path.join(dir, file);
}

function render(
  storm: Record<number, { lanboot: StormRun[]; tgt: StormRun[] }>,
  prewarm: Prewarm,
  trace: { records: number; reads: number; traceReadBytes: number; uniqueReadBytes: number; meta: { diskBytes: number; kernel: string; bootMs: number } },
): string {
  const s = (ms: number) => (ms / 1000).toFixed(2);
  const mb = (b: number) => (b / 1e6).toFixed(1);
  const x = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}x` : 'n/a');
  const med = (runs: StormRun[], k: keyof StormRun) => median(runs.map((r) => r[k]));
  const cpu = os.cpus();
  const lines = [
    `Run ${new Date().toISOString()} on ${os.hostname()}: ${cpu.length} x ${cpu[0]?.model ?? '?'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Linux ${os.release()}. ` +
      `Loopback; ${ROUNDS} round(s), medians shown; think times x${THINK_SCALE}. The machine is shared with other work: compare the ratios.`,
    '',
    `The trace (bench/fixtures/linux-boot.trace, ${trace.records} commands): one boot of the test suite's Linux seat VM (syslinux, Debian kernel ${trace.meta.kernel}, ` +
      `an initramfs logging in again with open-iscsi), ${(trace.meta.bootMs / 1000).toFixed(0)} s under qemu TCG; ${trace.reads} reads of ${mb(trace.traceReadBytes)} MB ` +
      `(${mb(trace.uniqueReadBytes)} MB distinct) on a ${mb(trace.meta.diskBytes)} MB disk. Each seat replays it with the recorded think times (client: native/tools/boot_replay.cc, one libiscsi session per seat, one command at a time).`,
    '',
    '| seats | target | all finished (s) | p50 seat boot (s) | p99 seat boot (s) | target CPU-s | client CPU-s | golden in page cache (MB) | copies cached |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const n of Object.keys(storm).map(Number)) {
    for (const name of ['lanboot', 'tgt'] as const) {
      const runs = storm[n]![name];
      const cached = med(runs, 'cachedBytes');
      lines.push(
        `| ${n} | ${name} | ${s(med(runs, 'allDoneMs'))} | ${s(med(runs, 'p50Ms'))} | ${s(med(runs, 'p99Ms'))} | ${med(runs, 'targetCpuSeconds').toFixed(2)} | ${med(runs, 'clientCpuSeconds').toFixed(2)} | ${mb(cached)} | ${(cached / trace.uniqueReadBytes).toFixed(1)} |`,
      );
    }
  }
  lines.push('', '| seats | lanboot / tgt: all finished | p99 seat boot | target CPU | page cache |', '|---:|---:|---:|---:|---:|');
  for (const n of Object.keys(storm).map(Number)) {
    const l = storm[n]!.lanboot;
    const t = storm[n]!.tgt;
    lines.push(`| ${n} | ${x(med(l, 'allDoneMs'), med(t, 'allDoneMs'))} | ${x(med(l, 'p99Ms'), med(t, 'p99Ms'))} | ${x(med(l, 'targetCpuSeconds'), med(t, 'targetCpuSeconds'))} | ${x(med(l, 'cachedBytes'), med(t, 'cachedBytes'))} |`);
  }
  lines.push(
    '',
    `Pre-warm (lanboot, one seat, the golden file dropped from the page cache first): boot ${s(median(prewarm.cold))} s without, ${s(median(prewarm.warmed))} s after the pre-warm at start ` +
      `(${x(median(prewarm.warmed), median(prewarm.cold))}); the pre-warm read ${mb(median(prewarm.warmBytes))} MB (the boot set: reads in the first ${BOOT_SET_SECONDS} s of the stored traces) in ${s(median(prewarm.warmMs))} s. ` +
      `Of each boot, ${s(prewarm.thinkMs)} s is the recorded think time; waiting for the target: ${s(median(prewarm.cold) - prewarm.thinkMs)} s without, ${s(median(prewarm.warmed) - prewarm.thinkMs)} s with ` +
      `(${x(median(prewarm.warmed) - prewarm.thinkMs, median(prewarm.cold) - prewarm.thinkMs)}). Rounds: without ${prewarm.cold.map(s).join(', ')} s; with ${prewarm.warmed.map(s).join(', ')} s.`,
    '',
    '"copies cached" = bytes of the golden image(s) in the page cache after the run (fincore) / the distinct bytes the trace reads: lanboot serves every seat from one golden file, tgt from one file per seat. ' +
      'Kernel readahead caches more of each file than the trace reads (1.4-1.8x): lanboot keeps one such copy whatever the number of seats, tgt one per seat. tgt\'s per-seat copies hold the traced blocks and holes elsewhere (readahead caches those too), so they cache like full copies. ' +
      'Target CPU = utime+stime of the target process over the replay (logins included). Client CPU is the replay tool\'s own (all seats, logins included), shown to check it was not the limit: compare client + target CPU with the wall time x 2 cores.',
    '',
    `Reproduce: \`make -C native tools && npm run bench -- boot-storm -- --seats ${SEAT_COUNTS.join(',')} --rounds ${ROUNDS}\`; record a new trace with \`node dist/bench/support/record-boot-trace.js\`.`,
  );
  return lines.join('\n');
}

await main();
