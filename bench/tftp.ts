// TFTP benchmark (not a test: it measures and reports, it never asserts a speed).
//
//   sudo node dist/bench/tftp.js [--runs 20] [--concurrent 100] [--no-write]
//   (or `npm run bench -- tftp`, which builds first)
//
// Serves ipxe.efi from lanboot's TFTP server and from dnsmasq's, in the same run, over the
// loopback of a network namespace this benchmark creates (dnsmasq's TFTP port is fixed at 69, so
// a private namespace keeps it off the host's port 69), and measures:
//   1. one transfer at a time, with the project's codec client (test/tools/tftp-client.ts) in this
//      process: blksize 512 (no options), blksize 1468, blksize 1468 + windowsize 4/16/64;
//      wall time per transfer and server CPU per transfer (from /proc/PID/stat);
//   2. the same with 1 ms added before each ACK (a stand-in for LAN/firmware latency: no netem);
//   3. the same with atftp, a real peer (includes atftp's process start);
//   4. N transfers at once (time until all N have the file).
// Both servers run as separate processes (lanboot's via test/tools/tftp-standalone.ts); the clients
// never share an event loop with them.
// Results go to stdout and to docs/benchmarks.md under "## TFTP" (only that section is touched).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { tftpGet } from '../test/tools/tftp-client.js';
import type { TftpOptionList } from '../src/tftp/codec.js';
import { replaceBenchmarkSection } from './support/docs-section.js';

const NETNS_ENV = 'LANBOOT_TFTP_BENCH_NETNS';
const HOST = '127.0.0.1';
const IPXE_EFI = '/usr/lib/ipxe/ipxe.efi';
const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..'); // dist/bench -> repo

// Not strict: scripts/bench.sh hands every benchmark the same options; others' are ignored.
const { values: args } = parseArgs({
  strict: false,
  options: {
    runs: { type: 'string', default: '20' },
    concurrent: { type: 'string', default: '100' },
    'no-write': { type: 'boolean', default: false },
  },
});
const RUNS = Math.max(3, Number(args.runs) || 20);
const ACK_DELAY_MS = 1;
const CONCURRENT = Math.max(1, Number(args.concurrent) || 100);

// ---------------------------------------------------------------------------------------------
// Outer process: make a namespace, run the real benchmark inside it, always remove it.

async function outer(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench/tftp needs root (network namespace, dnsmasq on port 69)');
  const netns = `lanboot-bench-tftp-${process.pid}`;
  execFileSync('ip', ['netns', 'add', netns]);
  let child: ChildProcess | null = null;
  const cleanup = (): void => {
    child?.kill('SIGTERM');
    try {
      execFileSync('ip', ['netns', 'del', netns]);
    } catch {
      // already gone
    }
  };
  process.once('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  try {
    execFileSync('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
    child = spawn('ip', ['netns', 'exec', netns, process.execPath, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
      stdio: 'inherit',
      env: { ...process.env, [NETNS_ENV]: netns },
    });
    const code = await new Promise<number | null>((resolve) => child!.on('exit', (exitCode) => resolve(exitCode)));
    if (code !== 0) throw new Error(`benchmark exited with ${code}`);
  } finally {
    cleanup();
  }
}

// ---------------------------------------------------------------------------------------------
// Inner process (inside the namespace).

interface ServerUnderTest {
  name: string;
  port: number;
  pid: number;
  supportsWindowsize: boolean;
}

const children: ChildProcess[] = [];

function clockTicksPerSecond(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}
const CLK_TCK = clockTicksPerSecond();

/** utime + stime of a process in milliseconds (proc(5), fields 14 and 15). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
}

async function startLanboot(root: string): Promise<ServerUnderTest> {
  const child = spawn(process.execPath, [path.join(here, '..', 'test', 'tools', 'tftp-standalone.js'), '--root', root, '--host', HOST, '--port', '0', '--max-block', '1468'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  const line = await new Promise<string>((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout! });
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`the standalone TFTP server exited with ${code}`)));
  });
  const { port } = JSON.parse(line) as { port: number };
  return { name: 'lanboot', port, pid: child.pid!, supportsWindowsize: true };
}

async function startDnsmasq(root: string, base: string): Promise<ServerUnderTest> {
  const child = spawn(
    'dnsmasq',
    [
      '--keep-in-foreground',
      '--conf-file=/dev/null',
      '--port=0', // no DNS
      '--no-resolv',
      '--no-hosts',
      `--pid-file=${path.join(base, 'dnsmasq.pid')}`,
      `--listen-address=${HOST}`,
      '--bind-interfaces',
      '--enable-tftp',
      `--tftp-root=${root}`,
      `--tftp-max=${Math.max(50, CONCURRENT * 2)}`,
      '--quiet-tftp',
      '--log-facility=/dev/null',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  children.push(child);
  // Ready once it answers a request (its TFTP port is always 69).
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      await tftpGet({ host: HOST, port: 69, filename: 'ready.txt', timeoutMs: 100, retries: 2 });
      break;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`dnsmasq did not answer on port 69: ${(error as Error).message}`);
    }
  }
  return { name: `dnsmasq ${dnsmasqVersion()}`, port: 69, pid: child.pid!, supportsWindowsize: false };
}

function dnsmasqVersion(): string {
  const first = execFileSync('dnsmasq', ['--version'], { encoding: 'utf8' }).split('\n')[0] ?? '';
  return first.match(/version (\S+)/)?.[1] ?? '?';
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))]!;
}

interface Row {
  server: string;
  client: string;
  options: string;
  medianMs: number;
  p10Ms: number;
  p90Ms: number;
  cpuMsPerTransfer: number | null;
  note: string;
}

async function timeSequential(
  server: ServerUnderTest,
  label: string,
  options: TftpOptionList,
  expected: Buffer,
  ackDelayMs = 0,
  runs = RUNS,
): Promise<Row> {
  let granted: Record<string, string> | null = null;
  const once = async (): Promise<number> => {
    const start = performance.now();
    const result = await tftpGet({ host: HOST, port: server.port, filename: 'ipxe.efi', options, timeoutMs: 1000, ackDelayMs });
    const elapsed = performance.now() - start;
    if (!result.data.equals(expected)) throw new Error(`${server.name} ${label}: wrong bytes`);
    granted = result.oack;
    return elapsed;
  };
  await once();
  await once(); // warm caches, JIT and the page cache
  const cpuBefore = cpuMs(server.pid);
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) samples.push(await once());
  const cpuAfter = cpuMs(server.pid);
  samples.sort((a, b) => a - b);
  const asked = Object.fromEntries(options);
  // What the server actually granted, from its OACK (not from what we believe it supports).
  const grantedWindow = (granted as Record<string, string> | null)?.windowsize;
  const note = asked.windowsize && grantedWindow === undefined ? 'no windowsize in OACK: runs lock-step' : '';
  return {
    server: server.name,
    client: 'codec client',
    options: label,
    medianMs: percentile(samples, 0.5),
    p10Ms: percentile(samples, 0.1),
    p90Ms: percentile(samples, 0.9),
    cpuMsPerTransfer: (cpuAfter - cpuBefore) / runs,
    note,
  };
}

function runProcess(command: string, argv: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(command, argv, { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(performance.now() - start) : reject(new Error(`${command} exited ${code}`))));
  });
}

async function timeAtftp(server: ServerUnderTest, label: string, atftpOptions: string[], outDir: string, expected: Buffer): Promise<Row> {
  const target = path.join(outDir, `atftp-${server.port}.bin`);
  const argv = [...atftpOptions.flatMap((option) => ['--option', option]), '-g', '-r', 'ipxe.efi', '-l', target, HOST, String(server.port)];
  await runProcess('atftp', argv);
  const samples: number[] = [];
  const runs = Math.max(5, Math.floor(RUNS / 2));
  for (let i = 0; i < runs; i++) {
    samples.push(await runProcess('atftp', argv));
    if (!(await fs.readFile(target)).equals(expected)) throw new Error(`atftp from ${server.name}: wrong bytes`);
  }
  samples.sort((a, b) => a - b);
  return {
    server: server.name,
    client: 'atftp',
    options: label,
    medianMs: percentile(samples, 0.5),
    p10Ms: percentile(samples, 0.1),
    p90Ms: percentile(samples, 0.9),
    cpuMsPerTransfer: null,
    note: label.includes('windowsize') && !server.supportsWindowsize ? 'no windowsize in OACK: runs lock-step' : '',
  };
}

interface ConcurrentRow {
  server: string;
  options: string;
  clients: number;
  medianTotalMs: number;
  worstTotalMs: number;
  cpuMsTotal: number;
}

async function timeConcurrent(server: ServerUnderTest, label: string, options: TftpOptionList, expected: Buffer): Promise<ConcurrentRow> {
  const rounds = 3;
  const totals: number[] = [];
  let cpu = 0;
  for (let round = 0; round < rounds; round++) {
    const cpuBefore = cpuMs(server.pid);
    const start = performance.now();
    const results = await Promise.all(
      Array.from({ length: CONCURRENT }, () =>
        tftpGet({ host: HOST, port: server.port, filename: 'ipxe.efi', options, timeoutMs: 1000, retries: 10 }),
      ),
    );
    totals.push(performance.now() - start);
    cpu += cpuMs(server.pid) - cpuBefore;
    if (!results.every((result) => result.data.equals(expected))) throw new Error(`${server.name}: a concurrent client got wrong bytes`);
  }
  totals.sort((a, b) => a - b);
  return {
    server: server.name,
    options: label,
    clients: CONCURRENT,
    medianTotalMs: percentile(totals, 0.5),
    worstTotalMs: totals.at(-1)!,
    cpuMsTotal: cpu / rounds,
  };
}

const loadAtStart = os.loadavg().map((load) => load.toFixed(1)).join(' ');
const fmt = (ms: number): string => (ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));

function renderSection(rows: Row[], delayedRows: Row[], atftpRows: Row[], concurrentRows: ConcurrentRow[], fileSize: number): string {
  const cpuModel = os.cpus()[0]?.model ?? 'unknown CPU';
  const lines: string[] = [];
  lines.push('## TFTP');
  lines.push('');
  lines.push(
    `Measured by \`bench/tftp.ts\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${os.cpus().length} cores (${cpuModel}), ` +
      `Node ${process.version}, over the loopback of a private network namespace. File: Debian's ipxe.efi (${fileSize} bytes). ` +
      'Both servers run as their own processes; lanboot grants at most blksize 1468 (Ethernet MTU) and windowsize 64. ' +
      `Load average at the start ${loadAtStart}, at the end ${os.loadavg().map((load) => load.toFixed(1)).join(' ')} ` +
      '(the machine is shared: compare rows of one run, not runs). ' +
      'Loopback has no loss and ~10 µs RTT, so these numbers show per-packet server cost; on a real LAN the RTT is larger and ' +
      'windowsize gains more, since a lock-step transfer pays one RTT per block. Not a test: nothing here is asserted.',
  );
  lines.push('');
  lines.push(`### One transfer at a time (median of ${RUNS}, after 2 warm-up runs)`);
  lines.push('');
  lines.push('| server | client | options | median ms | p10 ms | p90 ms | server CPU ms / transfer | note |');
  lines.push('|---|---|---|---:|---:|---:|---:|---|');
  for (const row of [...rows, ...atftpRows]) {
    lines.push(
      `| ${row.server} | ${row.client} | ${row.options} | ${fmt(row.medianMs)} | ${fmt(row.p10Ms)} | ${fmt(row.p90Ms)} | ${row.cpuMsPerTransfer === null ? '–' : fmt(row.cpuMsPerTransfer)} | ${row.note} |`,
    );
  }
  lines.push('');
  lines.push('atftp times include starting the atftp process (a few ms).');
  lines.push('');
  lines.push(`### With ${ACK_DELAY_MS} ms added before every ACK (a stand-in for LAN + firmware latency; median of 5)`);
  lines.push('');
  lines.push('No netem qdisc on this kernel, so the client waits before each ACK instead. Lock-step pays that wait once per block, a window once per window.');
  lines.push('');
  lines.push('| server | options | median ms | p10 ms | p90 ms | note |');
  lines.push('|---|---|---:|---:|---:|---|');
  for (const row of delayedRows) {
    lines.push(`| ${row.server} | ${row.options} | ${fmt(row.medianMs)} | ${fmt(row.p10Ms)} | ${fmt(row.p90Ms)} | ${row.note} |`);
  }
  lines.push('');
  lines.push(`### ${CONCURRENT} transfers at once (codec clients in one process; median of 3 rounds)`);
  lines.push('');
  lines.push('| server | options | clients | time until all have the file, median ms | worst ms | server CPU ms per round |');
  lines.push('|---|---|---:|---:|---:|---:|');
  for (const row of concurrentRows) {
    lines.push(`| ${row.server} | ${row.options} | ${row.clients} | ${fmt(row.medianTotalMs)} | ${fmt(row.worstTotalMs)} | ${fmt(row.cpuMsTotal)} |`);
  }
  lines.push('');
  lines.push('Reproduce (as root): `npm run bench -- tftp`, or after a build `node dist/bench/tftp.js [--runs 20] [--concurrent 100]`.');
  lines.push('');
  return lines.join('\n');
}


async function inner(): Promise<void> {
  const base = await fs.mkdtemp(path.join(os.tmpdir(), 'lanboot-bench-tftp-'));
  try {
    // dnsmasq drops root to "nobody": the tree it serves must be world-readable.
    await fs.chmod(base, 0o755);
    const root = path.join(base, 'root');
    const outDir = path.join(base, 'out');
    await fs.mkdir(root, { mode: 0o755 });
    await fs.mkdir(outDir);
    const expected = await fs.readFile(IPXE_EFI);
    await fs.writeFile(path.join(root, 'ipxe.efi'), expected, { mode: 0o644 });
    await fs.writeFile(path.join(root, 'ready.txt'), 'ready\n', { mode: 0o644 });

    const lanboot = await startLanboot(root);
    const dnsmasq = await startDnsmasq(root, base);
    const servers = [lanboot, dnsmasq];

    const matrix: Array<[string, TftpOptionList]> = [
      ['none (blksize 512)', []],
      ['blksize 1468', [['blksize', '1468']]],
      ['blksize 1468, windowsize 4', [['blksize', '1468'], ['windowsize', '4']]],
      ['blksize 1468, windowsize 16', [['blksize', '1468'], ['windowsize', '16']]],
      ['blksize 1468, windowsize 64', [['blksize', '1468'], ['windowsize', '64']]],
    ];
    const rows: Row[] = [];
    for (const [label, options] of matrix) {
      for (const server of servers) {
        const row = await timeSequential(server, label, options, expected);
        rows.push(row);
        process.stderr.write(`${row.server.padEnd(16)} ${label.padEnd(30)} median ${fmt(row.medianMs)} ms, CPU ${fmt(row.cpuMsPerTransfer ?? 0)} ms\n`);
      }
    }
    // Loopback has ~no RTT; a LAN and a firmware's stack add some. No netem here, so the client
    // waits before each ACK instead: that is where lock-step pays and windowsize saves.
    const delayedRows: Row[] = [];
    for (const [label, options] of [
      ['blksize 1468', [['blksize', '1468']]],
      ['blksize 1468, windowsize 16', [['blksize', '1468'], ['windowsize', '16']]],
    ] as Array<[string, TftpOptionList]>) {
      for (const server of servers) {
        const row = await timeSequential(server, label, options, expected, ACK_DELAY_MS, 5);
        delayedRows.push(row);
        process.stderr.write(`${row.server.padEnd(16)} +${ACK_DELAY_MS} ms per ACK, ${label.padEnd(30)} median ${fmt(row.medianMs)} ms\n`);
      }
    }
    const atftpRows: Row[] = [];
    for (const [label, options] of [
      ['blksize 1468', ['blksize 1468']],
      ['blksize 1468, windowsize 16', ['blksize 1468', 'windowsize 16']],
    ] as Array<[string, string[]]>) {
      for (const server of servers) atftpRows.push(await timeAtftp(server, label, options, outDir, expected));
    }
    const concurrentRows: ConcurrentRow[] = [];
    for (const [label, options] of [
      ['blksize 1468', [['blksize', '1468']]],
      ['blksize 1468, windowsize 16', [['blksize', '1468'], ['windowsize', '16']]],
    ] as Array<[string, TftpOptionList]>) {
      for (const server of servers) {
        const row = await timeConcurrent(server, label, options, expected);
        concurrentRows.push(row);
        process.stderr.write(`${row.server.padEnd(16)} ${CONCURRENT} at once, ${label.padEnd(30)} median ${fmt(row.medianTotalMs)} ms\n`);
      }
    }
    const section = renderSection(rows, delayedRows, atftpRows, concurrentRows, expected.length);
    process.stdout.write(`${section}\n`);
    if (!args['no-write']) await replaceBenchmarkSection(repoRoot, 'TFTP', section);
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(
      children.map((child) => (child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', resolve)))),
    );
    await fs.rm(base, { recursive: true, force: true });
  }
}

if (process.env[NETNS_ENV]) await inner();
else await outer();
