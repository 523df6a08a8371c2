// Room and seat pages benchmark (not a test: it measures and reports, it never asserts a speed).
//
//   node dist/bench/room.js [--requests 200] [--no-write]
//   (or `npm run bench -- room`, which builds first)
//
// A real `lanboot serve` (native engine, SQLite, loopback, ephemeral ports) with 200 seats in
// 10 groups and 30 days of boot history (one boot per seat per day, 6000 records, written
// with the supervisor's own BootHistoryStore while it is stopped, then started again so it
// reads them as after a month of use); logged in as the admin through /setup:
//   1. response time of /room, /room?q= (a search), one seat's page (/seats/pc-0, with its
//      30 boots as SVG charts) and its history page, sequential requests after a warm-up,
//      against the UI's stylesheet served by the same server in the same run (the floor:
//      routing, static bytes, HTTP), as a ratio;
//   2. the supervisor's RSS after the page runs.
// Results go to stdout and to docs/benchmarks.md under "## Room and seat pages" (only that section).
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { openDatabase } from '../src/db/database.js';
import { BootHistoryStore } from '../src/history/store.js';
import { WebClient } from '../test/helpers/browser.js';
import { startLanboot } from '../test/helpers/supervisor.js';
import { repoRoot } from '../test/helpers/tools.js';
import { replaceBenchmarkSection } from './support/docs-section.js';

const { values: args } = parseArgs({
  strict: false,
  options: { requests: { type: 'string', default: '200' }, 'no-write': { type: 'boolean', default: false } },
});
const REQUESTS = Math.max(20, Number(args.requests) || 200);
const SEATS = 200;
const GROUPS = 10;
const DAYS = 30;
const DAY_MS = 86_400_000;

function socketRequest(socketPath: string, method: string, urlPath: string, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method, path: urlPath, headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
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
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

interface Timing {
  median: number;
  p95: number;
  bytes: number;
}

async function time(web: WebClient, urlPath: string, n: number, mustMatch?: RegExp): Promise<Timing> {
  for (let i = 0; i < 10; i++) await web.get(urlPath); // warm-up (JIT, page cache)
  const samples: number[] = [];
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const started = process.hrtime.bigint();
    const res = await web.get(urlPath);
    samples.push(Number(process.hrtime.bigint() - started) / 1e6);
    if (res.status !== 200) throw new Error(`${urlPath}: HTTP ${res.status}`);
    if (i === 0 && mustMatch && !mustMatch.test(res.text)) throw new Error(`${urlPath}: the page does not show ${mustMatch}`);
    bytes = res.text.length;
  }
  samples.sort((a, b) => a - b);
  return { median: percentile(samples, 50), p95: percentile(samples, 95), bytes };
}

/** One boot per seat per day for DAYS days: login after 3-9 s, first write a few s later,
 *  a session of hours, hundreds of MiB read; one boot in 50 a fault (no login). */
function writeHistory(dataDir: string, now: number): number {
  const db = openDatabase(path.join(dataDir, 'lanboot.db'));
  let records = 0;
  try {
    const store = new BootHistoryStore(db, { days: 90, maxRows: 200_000 });
    db.transaction(() => {
      for (let day = DAYS; day >= 1; day--) {
        for (let i = 0; i < SEATS; i++) {
          const started = now - day * DAY_MS + 8 * 3_600_000 + i * 1000;
          const mac = `52:54:00:be:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
          const id = store.open(`pc-${i}`, mac, started);
          records++;
          if ((day * SEATS + i) % 50 === 0) {
            store.update(id, { fault: 'no iSCSI login after the script fetch', endedAt: started + 300_000 });
            continue;
          }
          const login = started + 3000 + ((i * 7 + day * 13) % 6000);
          store.update(id, {
            loginAt: login,
            firstWriteAt: login + 2000 + ((i + day) % 5) * 1000,
            endedAt: login + 4 * 3_600_000,
            bytesRead: (300 + ((i * 31 + day) % 400)) * 1024 * 1024,
            bytesWritten: (20 + ((i * 17 + day) % 200)) * 1024 * 1024,
          });
        }
      }
    })();
  } finally {
    db.close();
  }
  return records;
}

async function main(): Promise<void> {
  const cleanups: (() => unknown)[] = [];
  const t = { after: (fn: () => unknown) => cleanups.push(fn) };
  try {
    const lanboot = await startLanboot(t);
    const socket = () => path.join(lanboot.dataDir, 'lanboot.sock');
    const image = Buffer.alloc(1024 * 1024);
    const imported = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request({ socketPath: socket(), method: 'POST', path: '/api/v1/images/golden/versions', headers: { 'content-type': 'application/octet-stream', 'content-length': image.length } }, (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      req.end(image);
    });
    if (imported.status !== 201 && imported.status !== 202) throw new Error(`import: ${imported.status} ${imported.text}`);
    for (let i = 0; i < SEATS; i++) {
      const mac = `52:54:00:be:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
      const r = await socketRequest(socket(), 'POST', '/api/v1/seats', JSON.stringify({ name: `pc-${i}`, image: 'golden', mac, chap: false }));
      if (r.status !== 201) throw new Error(`seat ${i}: ${r.status} ${r.text}`);
    }
    for (let g = 0; g < GROUPS; g++) {
      const seats = Array.from({ length: SEATS / GROUPS }, (_, k) => `pc-${g * (SEATS / GROUPS) + k}`);
      const created = await socketRequest(socket(), 'POST', '/api/v1/groups', JSON.stringify({ name: `room-${g}` }));
      if (created.status !== 201) throw new Error(`group ${g}: ${created.status} ${created.text}`);
      const r = await socketRequest(socket(), 'POST', `/api/v1/groups/room-${g}/seats`, JSON.stringify({ seats }));
      if (r.status !== 200) throw new Error(`group ${g} seats: ${r.status} ${r.text}`);
    }
    await lanboot.stop();
    const records = writeHistory(lanboot.dataDir, Date.now());
    await lanboot.restart();
    await new Promise((r) => setTimeout(r, 1000));
    const rssStart = rssMiB(lanboot.pid);

    const web = new WebClient(`http://127.0.0.1:${lanboot.httpPort}`);
    await web.setup('benchmark password');
    const home = await web.get('/');
    const cssPath = /href="(\/assets\/ui-[0-9a-f]+\.css)"/.exec(home.text)?.[1];
    if (!cssPath) throw new Error('no stylesheet link on the dashboard');

    const loadBefore = os.loadavg()[0]!;
    const staticFile = await time(web, cssPath, REQUESTS);
    const room = await time(web, '/room', REQUESTS, /room-9[\s\S]*pc-199/);
    const search = await time(web, '/room?q=pc-1', REQUESTS, /pc-199/);
    const seat = await time(web, '/seats/pc-0', REQUESTS, /<rect[^>]*data-value/);
    const history = await time(web, '/seats/pc-0/history', REQUESTS, /<rect[^>]*data-value/);
    const roomApi = await time(web, '/api/v1/room', REQUESTS);
    const rssAfter = rssMiB(lanboot.pid);
    const loadAfter = os.loadavg()[0]!;

    const row = (name: string, x: Timing) =>
      `| ${name} | ${x.median.toFixed(2)} | ${x.p95.toFixed(2)} | ${(x.median / staticFile.median).toFixed(1)}x | ${(x.bytes / 1024).toFixed(1)} |`;
    const section = [
      '## Room and seat pages',
      '',
      `bench/room.ts, ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), Node ${process.version}.`,
      `A real \`lanboot serve\` on loopback with ${SEATS} seats in ${GROUPS} groups and ${DAYS} days of boot history (${records} records: one boot per seat per day), logged in;`,
      `${REQUESTS} sequential requests per page after 10 warm-up requests (client: fetch in the benchmark process; the server is the lanboot serve process).`,
      `The peer is the UI stylesheet served by the same server in the same run. 1-minute load average ${loadBefore.toFixed(1)} at the start, ${loadAfter.toFixed(1)} at the end (other work on the machine: compare the ratios).`,
      '',
      '| page | median ms | p95 ms | vs static file | size KiB |',
      '|---|---|---|---|---|',
      row('static file (/assets/ui.css)', staticFile),
      row(`room (/room), ${SEATS} seats`, room),
      row('room search (/room?q=pc-1)', search),
      row(`seat (/seats/pc-0), ${DAYS} boots charted`, seat),
      row('seat history (/seats/pc-0/history)', history),
      row('room API (/api/v1/room)', roomApi),
      '',
      `Supervisor RSS: ${rssStart.toFixed(1)} MiB at start with the history in the database; ${rssAfter.toFixed(1)} MiB after ${REQUESTS * 6 + 60} requests (aim: under 120 MB; pages under 50 ms).`,
      '',
    ].join('\n');
    process.stdout.write(`${section}\n`);
    if (!args['no-write']) await replaceBenchmarkSection(repoRoot, 'Room and seat pages', section);
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
}

await main();
