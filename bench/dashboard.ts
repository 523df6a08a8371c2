// Web UI benchmark (not a test: it measures and reports, it never asserts a speed).
//
//   node dist/bench/dashboard.js [--requests 200] [--no-write]
//   (or `npm run bench -- dashboard`, which builds first)
//
// A real `lanboot serve` (native engine, SQLite, loopback, ephemeral ports) with 200 seats and
// an image with 20 published versions (20 imports); logged in as the admin through /setup:
//   1. response time of the dashboard (/), /seats and /images, sequential requests after a
//      warm-up, against the UI's stylesheet served by the same server in the same run (the
//      floor: routing, auth-free static bytes, HTTP), as a ratio;
//   2. the supervisor's RSS idle (200 seats, no sessions) and with 50 seats online: 50 iSCSI
//      sessions logged in with test/helpers/iscsi-wire.ts, and /seats timed again (it reads
//      the byte counters of every online seat).
// Results go to stdout and to docs/benchmarks.md under "## Web UI" (only that section).
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { WebClient } from '../test/helpers/browser.js';
import { IscsiSession } from '../test/helpers/iscsi-wire.js';
import { startLanboot } from '../test/helpers/supervisor.js';
import { repoRoot } from '../test/helpers/tools.js';
import { replaceBenchmarkSection } from './support/docs-section.js';

const { values: args } = parseArgs({
  strict: false,
  options: { requests: { type: 'string', default: '200' }, 'no-write': { type: 'boolean', default: false } },
});
const REQUESTS = Math.max(20, Number(args.requests) || 200);
const SEATS = 200;
const VERSIONS = 20;
const ONLINE = 50;
const IMAGE_BYTES = 1024 * 1024;

function socketRequest(socketPath: string, method: string, urlPath: string, body?: Buffer | string, type = 'application/json'): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method, path: urlPath, headers: body === undefined ? {} : { 'content-type': type, 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

function rssMiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

interface Timing {
  median: number;
  p95: number;
  bytes: number;
}

async function time(web: WebClient, urlPath: string, n: number): Promise<Timing> {
  for (let i = 0; i < 10; i++) await web.get(urlPath); // warm-up (JIT, page cache)
  const samples: number[] = [];
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const started = process.hrtime.bigint();
    const res = await web.get(urlPath);
    samples.push(Number(process.hrtime.bigint() - started) / 1e6);
    if (res.status !== 200) throw new Error(`${urlPath}: HTTP ${res.status}`);
    bytes = res.text.length;
  }
  samples.sort((a, b) => a - b);
  return { median: percentile(samples, 50), p95: percentile(samples, 95), bytes };
}

async function main(): Promise<void> {
  const cleanups: (() => unknown)[] = [];
  const t = { after: (fn: () => unknown) => cleanups.push(fn) };
  try {
    const lanboot = await startLanboot(t);
    const socket = path.join(lanboot.dataDir, 'lanboot.sock');
    const image = Buffer.alloc(IMAGE_BYTES);
    for (let v = 1; v <= VERSIONS; v++) {
      image.writeUInt32LE(v, 0);
      const r = await socketRequest(socket, 'POST', '/api/v1/images/golden/versions', image, 'application/octet-stream');
      if (r.status !== 201 && r.status !== 202) throw new Error(`import ${v}: ${r.status} ${r.text}`);
    }
    for (let i = 0; i < SEATS; i++) {
      const mac = `52:54:00:be:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
      const r = await socketRequest(socket, 'POST', '/api/v1/clients', JSON.stringify({ name: `pc-${i}`, image: 'golden', mac, chap: false }));
      if (r.status !== 201) throw new Error(`seat ${i}: ${r.status} ${r.text}`);
    }
    await new Promise((r) => setTimeout(r, 1000));
    const rssBeforeLogin = rssMiB(lanboot.pid);
    const base = `http://127.0.0.1:${lanboot.httpPort}`;
    const web = new WebClient(base);
    await web.setup('benchmark password');
    const home = await web.get('/');
    const cssPath = /href="(\/assets\/ui-[0-9a-f]+\.css)"/.exec(home.text)?.[1];
    if (!cssPath) throw new Error('no stylesheet link on the dashboard');

    await new Promise((r) => setTimeout(r, 1000));
    const rssIdle = rssMiB(lanboot.pid);
    const staticFile = await time(web, cssPath, REQUESTS);
    const dashboard = await time(web, '/', REQUESTS);
    const seatsPage = await time(web, '/seats', REQUESTS);
    const imagesPage = await time(web, '/images', REQUESTS);

    const rssAfterPages = rssMiB(lanboot.pid);
    const sessions: IscsiSession[] = [];
    cleanups.push(async () => {
      for (const s of sessions) s.connection.destroy();
    });
    for (let i = 0; i < ONLINE; i++) {
      sessions.push(
        await IscsiSession.open({
          host: '127.0.0.1',
          port: lanboot.iscsiPort,
          initiatorIqn: `iqn.2026-11.local.lanboot:pc.pc-${i}`,
          targetIqn: `iqn.2026-11.local.lanboot:seat.pc-${i}`,
        }),
      );
    }
    await new Promise((r) => setTimeout(r, 1000));
    const rssOnline = rssMiB(lanboot.pid);
    const seatsOnline = await time(web, '/seats', REQUESTS);
    const status = (await web.get('/api/v1/status')).json<{ sessions: number; seats: number }>();

    const row = (name: string, x: Timing) =>
      `| ${name} | ${x.median.toFixed(2)} | ${x.p95.toFixed(2)} | ${(x.median / staticFile.median).toFixed(1)}x | ${(x.bytes / 1024).toFixed(1)} |`;
    const section = [
      '## Web UI',
      '',
      `bench/dashboard.ts, ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), Node ${process.version}.`,
      `A real \`lanboot serve\` on loopback with ${SEATS} seats, ${VERSIONS} published versions of one image, logged in;`,
      `${REQUESTS} sequential requests per page after 10 warm-up requests (client: fetch in the benchmark process; the server is the lanboot serve process).`,
      'The peer is the UI stylesheet served by the same server in the same run.',
      '',
      '| page | median ms | p95 ms | vs static file | size KiB |',
      '|---|---|---|---|---|',
      row('static file (/assets/ui.css)', staticFile),
      row('dashboard (/)', dashboard),
      row(`seats (/seats), 0 online`, seatsPage),
      row('images (/images)', imagesPage),
      row(`seats (/seats), ${status.sessions} online`, seatsOnline),
      '',
      `Supervisor RSS: ${rssBeforeLogin.toFixed(1)} MiB with ${status.seats} seats before anyone logged in; ${rssIdle.toFixed(1)} MiB idle after the login (scrypt) and before the page runs; ${rssAfterPages.toFixed(1)} MiB after ${REQUESTS * 4} page views; ${rssOnline.toFixed(1)} MiB with ${status.sessions} iSCSI sessions logged in (and ${REQUESTS} more views) (aim: under 120 MB; pages under 50 ms).`,
      '',
    ].join('\n');
    process.stdout.write(`${section}\n`);
    if (!args['no-write']) await replaceBenchmarkSection(repoRoot, 'Web UI', section);
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
}

await main();
