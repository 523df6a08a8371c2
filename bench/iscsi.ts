// iSCSI benchmark: lanboot against tgt on the same backing
// file in one run. Not a test: it measures and writes docs/benchmarks.md, never asserts speed.
//
//   1. iscsi-perf 128 KiB sequential reads (-m 32 -b 256) for a fixed time, each target;
//   2. iscsi-perf 4 KiB random reads (-b 8 -r) for a fixed time, each target;
//   3. 20 seats on one golden image read it at once (20 iscsi-perf initiators in parallel);
//      the golden file is evicted from the page cache first and its cached size is shown after
//      (fincore), against 20x the image size that per-seat copies would need.
// For every run: throughput/IOPS and the CPU seconds (utime+stime from /proc/PID/stat) the
// target process used per GB served (GB = 10^9 bytes).
//
//   node dist/bench/iscsi.js [--seconds 10] [--image-mib 1024] [--seats 20]
//                            [--seat-image-mib 128] [--rounds 1] [--no-write]
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { findCopiesOf, makeGoldenImage, type GoldenImage } from '../test/helpers/images.js';
import { type IscsiDisk, diskFromSeat, initiatorOf, libiscsiUrl } from '../test/helpers/iscsi-disk.js';
import { addSeat, importImage, startLanboot, type Lanboot } from '../test/helpers/supervisor.js';
import { startTgt, type Tgt } from '../test/helpers/tgt.js';
import { describeRun, processCpuSeconds, repoRoot, requireTools, runTool } from '../test/helpers/tools.js';
import { Teardown } from './support/teardown.js';

const { values: opts } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    'image-mib': { type: 'string', default: '1024' },
    seats: { type: 'string', default: '20' },
    'seat-image-mib': { type: 'string', default: '128' },
    rounds: { type: 'string', default: '1' },
    'no-write': { type: 'boolean', default: false },
  },
});
const SECONDS = positive('seconds');
const IMAGE_BYTES = positive('image-mib') * 1024 * 1024;
const SEATS = positive('seats');
const SEAT_IMAGE_BYTES = positive('seat-image-mib') * 1024 * 1024;
const ROUNDS = positive('rounds');

function positive(name: keyof typeof opts): number {
  const n = Number(opts[name]);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer`);
  return n;
}

interface PerfResult {
  iops: number;
  bytes: number;
  mbPerSecond: number; // 10^6 bytes per second
  cpuSeconds: number;
  cpuSecondsPerGB: number;
  cpuMicrosPerIo: number;
}

/** Runs iscsi-perf on each disk in parallel for SECONDS; CPU of `targetPid` over the run. */
async function perf(disks: IscsiDisk[], targetPid: number, flags: string[], ioBytes: number): Promise<PerfResult> {
  const cpuBefore = processCpuSeconds(targetPid);
  const runs = await Promise.all(
    disks.map((disk) =>
      runTool('iscsi-perf', ['-i', initiatorOf(disk), ...flags, '-t', String(SECONDS), libiscsiUrl(disk)], { timeoutMs: (SECONDS + 60) * 1000 }),
    ),
  );
  const cpuSeconds = processCpuSeconds(targetPid) - cpuBefore;
  let iops = 0;
  for (const r of runs) {
    // The last "iops average N (M MB/s)" is the whole run's average (M is MiB/s).
    const all = [...r.stdout.matchAll(/iops average (\d+) \(/g)];
    const last = all[all.length - 1];
    if (r.code !== 0 || last === undefined) throw new Error(describeRun('iscsi-perf', r));
    iops += Number(last[1]);
  }
  const bytes = iops * ioBytes * SECONDS;
  return {
    iops,
    bytes,
    mbPerSecond: (iops * ioBytes) / 1e6,
    cpuSeconds,
    cpuSecondsPerGB: cpuSeconds / (bytes / 1e9),
    cpuMicrosPerIo: (cpuSeconds * 1e6) / (iops * SECONDS),
  };
}

async function residentBytes(file: string): Promise<number> {
  const r = await runTool('fincore', ['--bytes', '--noheadings', '--output', 'RES', file], { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(describeRun('fincore', r));
  return Number(r.stdout.trim());
}

/** posix_fadvise(DONTNEED) on one file (GNU dd iflag=nocache count=0): the rest of the machine's cache stays. */
async function evictFromPageCache(file: string): Promise<void> {
  const r = await runTool('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none'], { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(describeRun('dd nocache', r));
}

function meminfoCachedBytes(): number {
  const m = /^Cached:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

interface SeatsResult extends PerfResult {
  goldenResidentBefore: number;
  goldenResidentAfter: number;
  cachedGrowth: number;
}

async function seatsRun(disks: IscsiDisk[], targetPid: number, goldenFile: string): Promise<SeatsResult> {
  await evictFromPageCache(goldenFile);
  const goldenResidentBefore = await residentBytes(goldenFile);
  const cachedBefore = meminfoCachedBytes();
  // Each seat: 128 KiB sequential reads, 4 in flight, wrapping round the image for the run.
  const result = await perf(disks, targetPid, ['-m', '4', '-b', '256'], 256 * 512);
  return { ...result, goldenResidentBefore, goldenResidentAfter: await residentBytes(goldenFile), cachedGrowth: meminfoCachedBytes() - cachedBefore };
}

// The floor: a bare sendfile(2) sender over loopback, 128 KiB per call, from the same cached
// golden file, CPU measured the same way (the sender's own user+system time). Python, since
// Node has no sendfile; python3 is on every Debian test machine (Debian's own tooling needs it).
const SENDFILE_FLOOR_PY = `
import os, socket, sys, time
path, seconds = sys.argv[1], float(sys.argv[2])
size = os.path.getsize(path)
srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(1)
pid = os.fork()
if pid == 0:
    c = socket.create_connection(srv.getsockname()); buf = bytearray(1 << 20)
    while c.recv_into(buf): pass
    os._exit(0)
conn, _ = srv.accept()
conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
fd = os.open(path, os.O_RDONLY)
t0 = os.times(); end = time.monotonic() + seconds; sent = 0; off = 0
while time.monotonic() < end:
    k = os.sendfile(conn.fileno(), fd, off, 128 * 1024)
    sent += k; off = (off + k) % size
t1 = os.times()
conn.close(); os.waitpid(pid, 0)
print(sent, (t1.user - t0.user) + (t1.system - t0.system))
`;

interface FloorResult {
  mbPerSecond: number;
  cpuSecondsPerGB: number;
}

async function sendfileFloor(work: string, file: string): Promise<FloorResult> {
  const script = path.join(work, 'sendfile-floor.py');
  await fsp.writeFile(script, SENDFILE_FLOOR_PY);
  const r = await runTool('python3', [script, file, String(SECONDS)], { timeoutMs: (SECONDS + 60) * 1000 });
  const m = /^(\d+) ([\d.]+)\s*$/.exec(r.stdout);
  if (r.code !== 0 || m === null) throw new Error(describeRun('sendfile floor', r));
  const bytes = Number(m[1]);
  return { mbPerSecond: bytes / SECONDS / 1e6, cpuSecondsPerGB: Number(m[2]) / (bytes / 1e9) };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

async function main(): Promise<void> {
  requireTools('iscsi-perf', 'tgtd', 'tgtadm', 'fincore', 'dd', 'python3');
  const teardown = new Teardown();
  const onSignal = () => void teardown.run().then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const work = await fsp.mkdtemp(path.join(os.tmpdir(), 'lanboot-bench-'));
    teardown.after(() => fsp.rm(work, { recursive: true, force: true }));
    console.error(`bench: images of ${IMAGE_BYTES >> 20} MiB and ${SEAT_IMAGE_BYTES >> 20} MiB in ${work}`);
    const big = await makeGoldenImage(work, IMAGE_BYTES, 'random', 'bench.img');
    const small = await makeGoldenImage(work, SEAT_IMAGE_BYTES, 'random', 'seats.img');

    const lanboot: Lanboot = await startLanboot(teardown);
    await importImage(lanboot, big.path, 'bench');
    await importImage(lanboot, small.path, 'seats');
    const storedBig = await storedGolden(lanboot, big);
    const storedSmall = await storedGolden(lanboot, small);
    // Drop the source files: from here on, lanboot's stored golden versions are THE files.
    if (storedBig !== big.path) await fsp.rm(big.path);
    if (storedSmall !== small.path) await fsp.rm(small.path);
    const lanbootDisk = diskFromSeat(await addSeat(lanboot, { name: 'bench', image: 'bench' }));
    const lanbootSeats: IscsiDisk[] = [];
    for (let i = 0; i < SEATS; i++) lanbootSeats.push(diskFromSeat(await addSeat(lanboot, { name: `seat${i}`, image: 'seats' })));
    console.error(`bench: lanboot pid ${lanboot.pid}, golden files ${storedBig}, ${storedSmall}`);

    // tgt serves the very same files (read-only workloads: its rdwr open changes nothing).
    const tgt: Tgt = await startTgt(teardown);
    const tgtDisk = await tgt.addDisk({ targetIqn: 'iqn.2026-11.test.bench:tgt', backingFile: storedBig });
    const tgtSeats: IscsiDisk[] = [];
    for (let i = 0; i < SEATS; i++) {
      const initiator = `iqn.2026-11.test.bench:tgt-seat${i}`;
      tgtSeats.push(await tgt.addDisk({ targetIqn: `iqn.2026-11.test.bench:tgt-seat${i}`, backingFile: storedSmall, initiators: [initiator] }));
    }
    // tgt's disks accept any initiator; iscsi-perf still needs a name.
    tgtDisk.initiatorIqns = ['iqn.2026-11.test.bench:tgt-initiator'];

    const rows: Record<string, { lanboot: PerfResult[]; tgt: PerfResult[] }> = { seq: { lanboot: [], tgt: [] }, rand: { lanboot: [], tgt: [] } };
    const seats: { lanboot: SeatsResult[]; tgt: SeatsResult[] } = { lanboot: [], tgt: [] };
    const floors: FloorResult[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      console.error(`bench round ${round}: bare sendfile floor`);
      floors.push(await sendfileFloor(work, storedBig));
      // Warm the cache for 1 and 2 the same way for both targets (a first sequential pass).
      for (const [name, disk, pid] of [['lanboot', lanbootDisk, lanboot.pid], ['tgt', tgtDisk, tgt.pid]] as const) {
        console.error(`bench round ${round}: ${name} sequential`);
        rows['seq']![name].push(await perf([disk], pid, ['-m', '32', '-b', '256'], 256 * 512));
        console.error(`bench round ${round}: ${name} random`);
        rows['rand']![name].push(await perf([disk], pid, ['-m', '32', '-b', '8', '-r'], 8 * 512));
      }
      console.error(`bench round ${round}: ${SEATS} seats on lanboot`);
      seats.lanboot.push(await seatsRun(lanbootSeats, lanboot.pid, storedSmall));
      console.error(`bench round ${round}: ${SEATS} targets on tgt`);
      seats.tgt.push(await seatsRun(tgtSeats, tgt.pid, storedSmall));
    }
    const report = renderReport(rows, seats, floors);
    console.log(report);
    if (!opts['no-write']) await writeSection(report);
  } finally {
    await teardown.run();
  }
}

/** lanboot's stored golden version of an imported image (the one file all seats read). */
async function storedGolden(lanboot: Lanboot, image: GoldenImage): Promise<string> {
  const copies = await findCopiesOf(lanboot.dataDir, image);
  if (copies.length !== 1) throw new Error(`expected one stored copy of ${image.path} under ${lanboot.dataDir}, found ${copies.length}`);
  return copies[0]!;
}

function renderReport(rows: Record<string, { lanboot: PerfResult[]; tgt: PerfResult[] }>, seats: { lanboot: SeatsResult[]; tgt: SeatsResult[] }, floors: FloorResult[]): string {
  const f = (n: number, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
  const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}x` : 'n/a');
  const med = (xs: PerfResult[], k: keyof PerfResult) => median(xs.map((x) => x[k]));
  const seq = rows['seq']!;
  const rand = rows['rand']!;
  const mib = (b: number) => `${(b / 1048576).toFixed(0)} MiB`;
  const cpu = os.cpus();
  const lines = [
    `Run ${new Date().toISOString()} on ${os.hostname()}: ${cpu.length} x ${cpu[0]?.model ?? '?'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Linux ${os.release()}, Node ${process.version}; ` +
      `tgt ${pkgVersion('tgt')}, libiscsi-bin ${pkgVersion('libiscsi-bin')}. Loopback; ${SECONDS} s per iscsi-perf run; ${ROUNDS} round(s), medians shown. ` +
      `The machine's 2 cores are shared with other work, so absolute numbers are noisy; compare the ratios. GB = 10^9 bytes, MB/s = 10^6 bytes/s.`,
    '',
    `| workload (${mib(IMAGE_BYTES)} golden file, same file for both) | lanboot | tgt | lanboot / tgt |`,
    '|---|---:|---:|---:|',
    `| 128 KiB sequential reads (iscsi-perf -m 32 -b 256): MB/s | ${f(med(seq.lanboot, 'mbPerSecond'))} | ${f(med(seq.tgt, 'mbPerSecond'))} | ${ratio(med(seq.lanboot, 'mbPerSecond'), med(seq.tgt, 'mbPerSecond'))} |`,
    `| 128 KiB sequential: target CPU-s per GB | ${f(med(seq.lanboot, 'cpuSecondsPerGB'), 2)} | ${f(med(seq.tgt, 'cpuSecondsPerGB'), 2)} | ${ratio(med(seq.lanboot, 'cpuSecondsPerGB'), med(seq.tgt, 'cpuSecondsPerGB'))} (aim <= 0.70x) |`,
    `| 4 KiB random reads (iscsi-perf -m 32 -b 8 -r): IOPS | ${f(med(rand.lanboot, 'iops'))} | ${f(med(rand.tgt, 'iops'))} | ${ratio(med(rand.lanboot, 'iops'), med(rand.tgt, 'iops'))} |`,
    `| 4 KiB random: target CPU µs per I/O | ${f(med(rand.lanboot, 'cpuMicrosPerIo'), 1)} | ${f(med(rand.tgt, 'cpuMicrosPerIo'), 1)} | ${ratio(med(rand.lanboot, 'cpuMicrosPerIo'), med(rand.tgt, 'cpuMicrosPerIo'))} |`,
    `| 4 KiB random: target CPU-s per GB | ${f(med(rand.lanboot, 'cpuSecondsPerGB'), 2)} | ${f(med(rand.tgt, 'cpuSecondsPerGB'), 2)} | ${ratio(med(rand.lanboot, 'cpuSecondsPerGB'), med(rand.tgt, 'cpuSecondsPerGB'))} |`,
    '',
    `Floor, same run: a bare sendfile() sender (128 KiB per call, same cached file, its own CPU measured the same way) used ${f(median(floors.map((x) => x.cpuSecondsPerGB)), 2)} CPU-s per GB at ${f(median(floors.map((x) => x.mbPerSecond)))} MB/s.`,
    '',
    `| ${SEATS} seats read one ${mib(SEAT_IMAGE_BYTES)} golden image at once (${SEATS} iscsi-perf -m 4 -b 256) | lanboot (${SEATS} CoW seats) | tgt (${SEATS} targets, same file) | lanboot / tgt |`,
    '|---|---:|---:|---:|',
    `| aggregate MB/s | ${f(median(seats.lanboot.map((s) => s.mbPerSecond)))} | ${f(median(seats.tgt.map((s) => s.mbPerSecond)))} | ${ratio(median(seats.lanboot.map((s) => s.mbPerSecond)), median(seats.tgt.map((s) => s.mbPerSecond)))} |`,
    `| target CPU-s per GB | ${f(median(seats.lanboot.map((s) => s.cpuSecondsPerGB)), 2)} | ${f(median(seats.tgt.map((s) => s.cpuSecondsPerGB)), 2)} | ${ratio(median(seats.lanboot.map((s) => s.cpuSecondsPerGB)), median(seats.tgt.map((s) => s.cpuSecondsPerGB)))} |`,
    `| golden file in page cache before -> after (fincore) | ${seats.lanboot.map((s) => `${mib(s.goldenResidentBefore)} -> ${mib(s.goldenResidentAfter)}`).join(', ')} | ${seats.tgt.map((s) => `${mib(s.goldenResidentBefore)} -> ${mib(s.goldenResidentAfter)}`).join(', ')} | |`,
    `| growth of /proc/meminfo Cached during the run | ${seats.lanboot.map((s) => mib(s.cachedGrowth)).join(', ')} | ${seats.tgt.map((s) => mib(s.cachedGrowth)).join(', ')} | |`,
    `| what ${SEATS} per-seat copies would need in cache | ${mib(SEATS * SEAT_IMAGE_BYTES)} | | |`,
    '',
    'Meminfo growth also counts everything else the machine cached meanwhile (other users, logs); fincore of the golden file is the exact figure.',
    'CPU is the target process only: utime+stime of all its threads over the whole run, login and logout included. The test VMs\' kernel samples CPU time per tick (CONFIG_TICK_CPU_ACCOUNTING, no IRQ time accounting), so softirq work such as loopback TCP delivery is charged to whichever task the tick interrupts, often the receiver. That is why the floor line measures a bare sendfile sender in this same run, the same way (an earlier figure of about 0.5 CPU-s/GB for such a sender was measured another way). Compare ratios, not absolute figures.',
    '',
    `Reproduce: \`npm run bench -- iscsi -- --seconds ${SECONDS} --image-mib ${IMAGE_BYTES >> 20} --seats ${SEATS} --seat-image-mib ${SEAT_IMAGE_BYTES >> 20} --rounds ${ROUNDS}\` on an otherwise idle machine.`,
  ];
  return lines.join('\n');
}

function pkgVersion(name: string): string {
  try {
    const status = fs.readFileSync('/var/lib/dpkg/status', 'utf8');
    const block = status.split('\n\n').find((b) => b.startsWith(`Package: ${name}\n`));
    return /^Version: (.+)$/m.exec(block ?? '')?.[1] ?? '?';
  } catch {
    return '?';
  }
}

const BEGIN = '<!-- bench/iscsi.ts: begin (generated, do not edit by hand) -->';
const END = '<!-- bench/iscsi.ts: end -->';

/** Replaces (or appends) the iSCSI section of docs/benchmarks.md; other sections stay. */
async function writeSection(report: string): Promise<void> {
  const file = path.join(repoRoot, 'docs', 'benchmarks.md');
  let doc = fs.existsSync(file) ? await fsp.readFile(file, 'utf8') : '# Benchmarks\n';
  const section = `${BEGIN}\n${report}\n${END}`;
  const start = doc.indexOf(BEGIN);
  const end = doc.indexOf(END);
  if (start >= 0 && end > start) doc = doc.slice(0, start) + section + doc.slice(end + END.length);
  else doc = `${doc.trimEnd()}\n\n## iSCSI: lanboot vs tgt (\`npm run bench\`, bench/iscsi.ts)\n\n${section}\n`;
  await fsp.writeFile(file, doc);
  console.error(`bench: wrote ${file}`);
}

await main();
