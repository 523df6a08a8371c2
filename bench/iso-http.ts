// ISO-over-HTTP benchmark (not a test: it measures and reports, it never asserts a speed).
//
//   node dist/bench/iso-http.js [--size-mib 256] [--rounds 2] [--no-write]
//   (or `npm run bench -- iso-http`, which builds first)
//
// Serves one file over loopback from lanboot's ISO sender (src/iso/http-sender.ts: headers by
// Node, body by the addon's sendfile reactor) and from Debian's nginx (sendfile on, as a
// non-daemon child with a config in a temp dir), in the same run, alternating, and measures:
//   - whole-file reads, 1 client and 20 clients at once;
//   - 1 MiB ranges at random 4 KiB-aligned offsets over keep-alive connections, 1 and 20 clients;
// throughput (bytes / wall time) and server CPU per GB (utime+stime of the server's
// processes from /proc/PID/stat, all threads). Clients are curl processes (one per client,
// every request of a client on one connection via --next), the same for both servers.
// The file is read once before the run: both servers serve from the page cache.
// Results go to stdout and to docs/benchmarks.md under "## ISO over HTTP" (only that section).
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { DEFAULT_STALL_MS, sendFile } from '../src/iso/http-sender.js';
import { loadNative } from '../src/native/index.js';
import { replaceBenchmarkSection } from './support/docs-section.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..'); // dist/bench -> repo
const HOST = '127.0.0.1';
const NGINX = '/usr/sbin/nginx';

// Not strict: scripts/bench.sh hands every benchmark the same options; others' are ignored.
const { values: args } = parseArgs({
  strict: false,
  options: {
    'size-mib': { type: 'string', default: '256' },
    rounds: { type: 'string', default: '2' },
    'no-write': { type: 'boolean', default: false },
    // Internal: run as the lanboot server process.
    'serve-file': { type: 'string' },
  },
});
const SIZE = Math.max(16, Number(args['size-mib']) || 256) * 2 ** 20;
const ROUNDS = Math.max(1, Number(args.rounds) || 2);
const RANGE_BYTES = 2 ** 20;

// ---------------------------------------------------------------------------------------------
// Server mode: lanboot's sender on an ephemeral port, the port printed on stdout.

async function serve(file: string): Promise<void> {
  const { sendFileRange } = loadNative();
  const log = pino({ level: 'silent' });
  const server = http.createServer((req, res) => {
    sendFile(req, res, { path: file, etag: '"bench"', contentType: 'application/octet-stream' }, { sendFileRange, stallMs: DEFAULT_STALL_MS, log }).catch(() => res.destroy());
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  process.stdout.write(`${(server.address() as { port: number }).port}\n`);
  process.on('SIGTERM', () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}

// ---------------------------------------------------------------------------------------------

interface Server {
  name: string;
  port: number;
  pids(): number[];
  stop(): Promise<void>;
}

const CLK_TCK = 100;

function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (proc(5) fields 14, 15)
    } catch {
      // exited
    }
  }
  return ticks / CLK_TCK;
}

function childPids(pid: number): number[] {
  try {
    return fs
      .readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

async function startLanboot(file: string): Promise<Server> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--serve-file', file], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    readline.createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`lanboot bench server exited with ${code}`)));
  });
  return { name: 'lanboot', port: Number(line), pids: () => [child.pid!], stop: () => stopChild(child) };
}

async function freePort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function startNginx(dir: string, root: string): Promise<Server> {
  if (!fs.existsSync(NGINX)) throw new Error(`${NGINX} is missing: install Debian's nginx (scripts/install-system-deps.sh)`);
  const port = await freePort();
  const prefix = path.join(dir, 'nginx');
  await fsp.mkdir(path.join(prefix, 'tmp'), { recursive: true });
  const conf = path.join(prefix, 'nginx.conf');
  await fsp.writeFile(
    conf,
    `daemon off;
worker_processes auto;
${process.getuid?.() === 0 ? 'user root;' : ''}
pid ${prefix}/nginx.pid;
error_log stderr error;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  keepalive_timeout 60s;
  client_body_temp_path ${prefix}/tmp/body;
  proxy_temp_path ${prefix}/tmp/proxy;
  fastcgi_temp_path ${prefix}/tmp/fastcgi;
  uwsgi_temp_path ${prefix}/tmp/uwsgi;
  scgi_temp_path ${prefix}/tmp/scgi;
  types { application/octet-stream iso; }
  server {
    listen ${HOST}:${port};
    root ${root};
  }
}
`,
  );
  const child = spawn(NGINX, ['-p', prefix, '-c', conf], { stdio: ['ignore', 'inherit', 'inherit'] });
  // Ready once it answers.
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const req = http.request({ host: HOST, port, method: 'HEAD', path: '/bench.iso' }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
      req.end();
    });
    if (ok) break;
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { name: 'nginx', port, pids: () => [child.pid!, ...childPids(child.pid!)], stop: () => stopChild(child) };
}

/** One curl process: `requests` fetches on one keep-alive connection, bodies to /dev/null. */
async function curlClient(dir: string, port: number, requests: { range?: string }[]): Promise<void> {
  const config = path.join(dir, `curl-${crypto.randomBytes(6).toString('hex')}.conf`);
  const url = `http://${HOST}:${port}/bench.iso`;
  await fsp.writeFile(
    config,
    requests.map((r) => `url = "${url}"\noutput = "/dev/null"\nfail\nsilent\nshow-error\n${r.range ? `range = "${r.range}"\n` : ''}`).join('next\n'),
  );
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn('curl', ['-K', config], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`curl exited with ${code}: ${stderr.slice(0, 300)}`))));
    });
  } finally {
    await fsp.rm(config, { force: true });
  }
}

interface Scenario {
  name: string;
  clients: number;
  /** Requests per client. */
  plan(): { range?: string }[];
  bytesPerClient: number;
}

function randomRanges(count: number): { range: string }[] {
  return Array.from({ length: count }, () => {
    const start = Math.floor(Math.random() * ((SIZE - RANGE_BYTES) / 4096)) * 4096;
    return { range: `${start}-${start + RANGE_BYTES - 1}` };
  });
}

interface Result {
  gbPerSecond: number;
  cpuSecondsPerGb: number;
}

async function measure(server: Server, dir: string, scenario: Scenario): Promise<Result> {
  const plans = Array.from({ length: scenario.clients }, () => scenario.plan());
  const cpuBefore = cpuSeconds(server.pids());
  const began = process.hrtime.bigint();
  await Promise.all(plans.map((plan) => curlClient(dir, server.port, plan)));
  const seconds = Number(process.hrtime.bigint() - began) / 1e9;
  const cpu = cpuSeconds(server.pids()) - cpuBefore;
  const gb = (scenario.bytesPerClient * scenario.clients) / 1e9;
  return { gbPerSecond: gb / seconds, cpuSecondsPerGb: cpu / gb };
}

async function main(): Promise<void> {
  const workDir = path.join(repoRoot, 'bench', '.work', `iso-http-${process.pid}`);
  const root = path.join(workDir, 'root');
  await fsp.mkdir(root, { recursive: true });
  let lanboot: Server | undefined;
  let nginx: Server | undefined;
  try {
    const file = path.join(root, 'bench.iso');
    // Random bytes (no holes), then read once: the run serves from the page cache.
    const handle = await fsp.open(file, 'w', 0o644);
    const chunk = crypto.randomBytes(4 * 2 ** 20);
    for (let written = 0; written < SIZE; written += chunk.length) await handle.write(chunk, 0, Math.min(chunk.length, SIZE - written));
    await handle.close();
    for await (const _ of fs.createReadStream(file, { highWaterMark: 4 * 2 ** 20 })) void _;

    lanboot = await startLanboot(file);
    nginx = await startNginx(workDir, root);
    const wholeReads = Math.max(1, Math.round((1024 * 2 ** 20) / SIZE));
    const scenarios: Scenario[] = [
      { name: 'whole file, 1 client', clients: 1, plan: () => Array.from({ length: wholeReads }, () => ({})), bytesPerClient: wholeReads * SIZE },
      { name: 'whole file, 20 clients', clients: 20, plan: () => [{}], bytesPerClient: SIZE },
      { name: '1 MiB ranges, 1 client', clients: 1, plan: () => randomRanges(1000), bytesPerClient: 1000 * RANGE_BYTES },
      { name: '1 MiB ranges, 20 clients', clients: 20, plan: () => randomRanges(100), bytesPerClient: 100 * RANGE_BYTES },
    ];
    const rows: string[] = [];
    for (const scenario of scenarios) {
      const best: Record<string, Result> = {};
      for (let round = 0; round < ROUNDS; round++) {
        // Alternate which server goes first.
        const order = round % 2 === 0 ? [lanboot, nginx] : [nginx, lanboot];
        for (const server of order) {
          const result = await measure(server, workDir, scenario);
          const previous = best[server.name];
          // Best throughput of the rounds, with that round's CPU.
          if (!previous || result.gbPerSecond > previous.gbPerSecond) best[server.name] = result;
        }
      }
      const l = best['lanboot']!;
      const n = best['nginx']!;
      const row = `| ${scenario.name} | ${l.gbPerSecond.toFixed(2)} | ${n.gbPerSecond.toFixed(2)} | **${(l.gbPerSecond / n.gbPerSecond).toFixed(2)}x** | ${l.cpuSecondsPerGb.toFixed(2)} | ${n.cpuSecondsPerGb.toFixed(2)} | **${(l.cpuSecondsPerGb / n.cpuSecondsPerGb).toFixed(2)}x** |`;
      console.log(row);
      rows.push(row);
    }
    const nginxVersion = await new Promise<string>((resolve) => {
      const child = spawn(NGINX, ['-v'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let text = '';
      child.stderr!.on('data', (c: Buffer) => (text += c.toString()));
      child.on('exit', () => resolve(text.trim().replace(/^nginx version: /, '')));
    });
    const section = `## ISO over HTTP

\`npm run bench -- iso-http\` (bench/iso-http.ts), ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores (${os.cpus()[0]?.model.trim()}), Node ${process.version}, ${nginxVersion}.
One ${SIZE / 2 ** 20} MiB file (in the page cache) over loopback, served by lanboot's ISO sender (Node writes
the headers, the addon's sendfile reactor the body) and by nginx (\`sendfile on\`, \`worker_processes auto\`)
in the same run. Clients: one curl process per client, all of a client's requests on one keep-alive
connection. Whole file: ${wholeReads} read(s) per client with 1 client, 1 with 20. Ranges: 1000 (1 client) or
100 per client (20 clients) random 4 KiB-aligned 1 MiB ranges. Best throughput of ${ROUNDS} alternating
rounds; CPU = utime+stime of the server's processes (all threads) per GB sent. Clients and servers share
the machine's cores, so the ratios matter more than the absolute figures (load average at the start of
this run: ${os.loadavg()[0]!.toFixed(1)}: other work shared the cores).

| workload | lanboot GB/s | nginx GB/s | throughput ratio | lanboot CPU s/GB | nginx CPU s/GB | CPU ratio |
|---|---|---|---|---|---|---|
${rows.join('\n')}

Goal: at least 0.9x nginx's throughput at no more than 1.5x its CPU per GB.
`;
    console.log(section);
    if (!args['no-write']) await replaceBenchmarkSection(repoRoot, 'ISO over HTTP', section);
  } finally {
    await lanboot?.stop();
    await nginx?.stop();
    await fsp.rm(workDir, { recursive: true, force: true });
  }
}

if (typeof args['serve-file'] === 'string') {
  await serve(args['serve-file']);
} else {
  await main();
}
