// ISO files over HTTP with byte ranges, body by the addon's sendfile reactor: a real Node HTTP
// server on loopback running src/iso/http-sender.ts, driven by curl and raw sockets. Covers
// single/open/suffix/multiple ranges, 416, HEAD, bad Range headers, offsets past 4 GiB in a
// sparse file, keep-alive and pipelining, 200 concurrent readers, a reader that stops
// reading (stall timeout), a reader that goes away, and no fd left behind.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { sendFile, type SendOutcome } from '../../src/iso/http-sender.js';
import { loadNative } from '../../src/native/index.js';
import { describeRun, requireTools, runTool, tempDir, waitFor } from '../helpers/tools.js';

requireTools('curl');

const SMALL_BYTES = 3 * 1024 * 1024 + 1234;
const SPARSE_BYTES = 5 * 2 ** 30 + 4096;
const FAR = 2 ** 32 + 12345; // past 4 GiB
const STALL_MS = 1500;

interface Fixture {
  base: string;
  small: Buffer;
  smallSha: string;
  farBytes: Buffer;
  tailBytes: Buffer;
  outcomes: SendOutcome[];
  serverSockets: Set<net.Socket>;
}

function sha256(data: Buffer): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}

function openFds(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

async function setup(t: Parameters<typeof tempDir>[0]): Promise<Fixture> {
  const dir = await tempDir(t, 'lanboot-iso-http-');
  const small = crypto.randomBytes(SMALL_BYTES);
  fs.writeFileSync(path.join(dir, 'small.iso'), small);
  // A sparse file over 4 GiB: data only past the 4 GiB mark and at the very end.
  const farBytes = crypto.randomBytes(4096);
  const tailBytes = crypto.randomBytes(4096);
  const fd = fs.openSync(path.join(dir, 'big.iso'), 'w');
  fs.writeSync(fd, farBytes, 0, farBytes.length, FAR);
  fs.writeSync(fd, tailBytes, 0, tailBytes.length, SPARSE_BYTES - tailBytes.length);
  fs.closeSync(fd);
  assert.equal(fs.statSync(path.join(dir, 'big.iso')).size, SPARSE_BYTES);

  const outcomes: SendOutcome[] = [];
  const serverSockets = new Set<net.Socket>();
  const log = pino({ level: 'silent' });
  const { sendFileRange } = loadNative();
  const server = http.createServer((req, res) => {
    const name = req.url === '/big.iso' ? 'big.iso' : 'small.iso';
    sendFile(req, res, { path: path.join(dir, name), etag: '"v1"', contentType: 'application/octet-stream' }, { sendFileRange, stallMs: STALL_MS, log }).then(
      (outcome) => outcomes.push(outcome),
      (error: unknown) => {
        res.destroy();
        outcomes.push({ status: -1, bytes: 0, ignoredRange: String(error) });
      },
    );
  });
  server.on('connection', (socket) => {
    serverSockets.add(socket);
    socket.on('close', () => serverSockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const port = (server.address() as net.AddressInfo).port;
  return { base: `http://127.0.0.1:${port}`, small, smallSha: sha256(small), farBytes, tailBytes, outcomes, serverSockets };
}

/** curl: status line code, headers (lower-case names) and body. */
async function curl(url: string, extra: string[] = []): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
  const dir = fs.mkdtempSync('/tmp/lanboot-iso-curl-');
  try {
    const bodyFile = path.join(dir, 'body');
    const headerFile = path.join(dir, 'headers');
    const r = await runTool('curl', ['-sS', '--max-time', '30', '-o', bodyFile, '-D', headerFile, ...extra, url]);
    assert.equal(r.code, 0, describeRun('curl', r));
    const lines = fs.readFileSync(headerFile, 'latin1').split('\r\n');
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0]!)?.[1]);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    return { status, headers, body: fs.existsSync(bodyFile) ? fs.readFileSync(bodyFile) : Buffer.alloc(0) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('ISO over HTTP: ranges, HEAD, 416, bad headers, offsets past 4 GiB (curl)', { timeout: 120_000 }, async (t) => {
  const fx = await setup(t);
  const size = SMALL_BYTES;

  const whole = await curl(`${fx.base}/small.iso`);
  // After the first transfer: the addon's reactor keeps its epoll and event fds.
  const fdsBefore = openFds();
  assert.equal(whole.status, 200);
  assert.equal(whole.headers['accept-ranges'], 'bytes');
  assert.equal(whole.headers['content-length'], String(size));
  assert.equal(sha256(whole.body), fx.smallSha);

  const head = await curl(`${fx.base}/small.iso`, ['-I']);
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-length'], String(size));
  assert.equal(head.headers['accept-ranges'], 'bytes');
  // No body after HEAD: a GET on the same connection right after it parses cleanly.
  const port = Number(new URL(fx.base).port);
  const headThenGet = await rawExchange(port, 'HEAD /small.iso HTTP/1.1\r\nHost: x\r\n\r\nGET /small.iso HTTP/1.1\r\nHost: x\r\nRange: bytes=0-4\r\n\r\n', (all) =>
    all.subarray(all.length - 5).equals(fx.small.subarray(0, 5)),
  );
  const text = headThenGet.toString('latin1');
  assert.match(text, /^HTTP\/1\.1 200 OK\r\n[^]*?\r\n\r\nHTTP\/1\.1 206 Partial Content\r\n[^]*?\r\n\r\n[^]{5}$/);

  const headRange = await curl(`${fx.base}/small.iso`, ['-I', '-H', 'Range: bytes=10-19']);
  assert.equal(headRange.status, 206);
  assert.equal(headRange.headers['content-range'], `bytes 10-19/${size}`);
  assert.equal(headRange.headers['content-length'], '10');

  const one = await curl(`${fx.base}/small.iso`, ['-H', 'Range: bytes=1000-34999']);
  assert.equal(one.status, 206);
  assert.equal(one.headers['content-range'], `bytes 1000-34999/${size}`);
  assert.ok(one.body.equals(fx.small.subarray(1000, 35000)));

  const open = await curl(`${fx.base}/small.iso`, ['-H', `Range: bytes=${size - 700}-`]);
  assert.equal(open.status, 206);
  assert.equal(open.headers['content-range'], `bytes ${size - 700}-${size - 1}/${size}`);
  assert.ok(open.body.equals(fx.small.subarray(size - 700)));

  const suffix = await curl(`${fx.base}/small.iso`, ['-H', 'Range: bytes=-2048']);
  assert.equal(suffix.status, 206);
  assert.equal(suffix.headers['content-range'], `bytes ${size - 2048}-${size - 1}/${size}`);
  assert.ok(suffix.body.equals(fx.small.subarray(size - 2048)));

  const clamped = await curl(`${fx.base}/small.iso`, ['-H', `Range: bytes=${size - 10}-${size + 5000}`]);
  assert.equal(clamped.status, 206);
  assert.ok(clamped.body.equals(fx.small.subarray(size - 10)));

  // Several ranges: the whole file with 200 (documented in docs/isos.md).
  const multi = await curl(`${fx.base}/small.iso`, ['-H', 'Range: bytes=0-9,100-109']);
  assert.equal(multi.status, 200);
  assert.equal(sha256(multi.body), fx.smallSha);

  for (const header of [`bytes=${size}-`, `bytes=${size + 1}-${size + 100}`, 'bytes=-0']) {
    const past = await curl(`${fx.base}/small.iso`, ['-H', `Range: ${header}`]);
    assert.equal(past.status, 416, header);
    assert.equal(past.headers['content-range'], `bytes */${size}`);
    assert.equal(past.body.length, 0);
  }

  for (const header of ['bytes=5-1', 'bytes=abc', 'chunks=0-1', `bytes=${'0-1,'.repeat(40)}0-1`]) {
    const bad = await curl(`${fx.base}/small.iso`, ['-H', `Range: ${header}`]);
    assert.equal(bad.status, 200, header);
    assert.equal(sha256(bad.body), fx.smallSha);
  }

  // If-Range with another entity-tag: the whole (changed) file, not a piece of it.
  const stale = await curl(`${fx.base}/small.iso`, ['-H', 'Range: bytes=0-9', '-H', 'If-Range: "v0"']);
  assert.equal(stale.status, 200);
  const fresh = await curl(`${fx.base}/small.iso`, ['-H', 'Range: bytes=0-9', '-H', 'If-Range: "v1"']);
  assert.equal(fresh.status, 206);

  // Past 4 GiB in a sparse 5 GiB file: 64-bit offsets all the way to sendfile(2).
  const far = await curl(`${fx.base}/big.iso`, ['-H', `Range: bytes=${FAR}-${FAR + 4095}`]);
  assert.equal(far.status, 206);
  assert.equal(far.headers['content-range'], `bytes ${FAR}-${FAR + 4095}/${SPARSE_BYTES}`);
  assert.ok(far.body.equals(fx.farBytes));
  const straddle = await curl(`${fx.base}/big.iso`, ['-H', `Range: bytes=${FAR - 100}-${FAR + 99}`]);
  assert.ok(straddle.body.equals(Buffer.concat([Buffer.alloc(100), fx.farBytes.subarray(0, 100)])));
  const tail = await curl(`${fx.base}/big.iso`, ['-H', 'Range: bytes=-4096']);
  assert.equal(tail.headers['content-range'], `bytes ${SPARSE_BYTES - 4096}-${SPARSE_BYTES - 1}/${SPARSE_BYTES}`);
  assert.ok(tail.body.equals(fx.tailBytes));
  const bigHead = await curl(`${fx.base}/big.iso`, ['-I']);
  assert.equal(bigHead.headers['content-length'], String(SPARSE_BYTES));

  await waitFor('server connections closed', async () => (fx.serverSockets.size === 0 ? true : undefined), 5000);
  assert.ok(openFds() <= fdsBefore, `fds: ${fdsBefore} before, ${openFds()} after`);
});

/** Sends raw bytes on one connection and collects what comes back until `done` says so. */
function rawExchange(port: number, request: string, done: (received: Buffer) => boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`timed out; got ${Buffer.concat(chunks).length} bytes`));
    }, 20_000);
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      const all = Buffer.concat(chunks);
      if (done(all)) {
        clearTimeout(timer);
        socket.destroy();
        resolve(all);
      }
    });
    socket.on('error', reject);
    socket.write(request);
  });
}

test('keep-alive and pipelining: responses in order, bodies intact', { timeout: 60_000 }, async (t) => {
  const fx = await setup(t);
  const port = Number(new URL(fx.base).port);

  // 50 range requests on one keep-alive connection, as iPXE's SAN device does.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const sockets = new Set<net.Socket>();
  for (let i = 0; i < 50; i++) {
    const start = (i * 65_537) % (SMALL_BYTES - 40_000);
    const body = await new Promise<Buffer>((resolve, reject) => {
      const req = http.get(`${fx.base}/small.iso`, { agent, headers: { range: `bytes=${start}-${start + 35_000 - 1}` } }, (res) => {
        assert.equal(res.statusCode, 206);
        sockets.add(res.socket);
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(Buffer.concat(chunks)));
        res.on('error', reject);
      });
      req.on('error', reject);
    });
    assert.ok(body.equals(fx.small.subarray(start, start + 35_000)), `request ${i}`);
  }
  assert.equal(sockets.size, 1, 'all 50 requests on one connection');

  // Three pipelined requests in one write: the second waits for the first's sendfile.
  const request = (range: string) => `GET /small.iso HTTP/1.1\r\nHost: x\r\nRange: bytes=${range}\r\n\r\n`;
  const expected = [fx.small.subarray(0, 100_000), fx.small.subarray(5, 10), fx.small.subarray(SMALL_BYTES - 3)];
  const reply = await rawExchange(port, request('0-99999') + request('5-9') + request('-3'), (all) => {
    const text = all.toString('latin1');
    return (text.match(/HTTP\/1\.1 206/g) ?? []).length === 3 && all.length >= expected.reduce((n, b) => n + b.length, 0) + 3 * 100 && all.subarray(all.length - 3).equals(expected[2]!);
  });
  let offset = 0;
  for (const body of expected) {
    const headerEnd = reply.indexOf('\r\n\r\n', offset);
    assert.ok(headerEnd > 0);
    assert.match(reply.subarray(offset, headerEnd).toString('latin1'), /^HTTP\/1\.1 206/);
    const got = reply.subarray(headerEnd + 4, headerEnd + 4 + body.length);
    assert.ok(got.equals(body), `pipelined body at ${offset}`);
    offset = headerEnd + 4 + body.length;
  }
  assert.equal(offset, reply.length);
});

test('200 concurrent readers each get the whole file intact', { timeout: 120_000 }, async (t) => {
  const fx = await setup(t);
  const fdsBefore = openFds();
  const agent = new http.Agent({ keepAlive: false, maxSockets: 1000 });
  t.after(() => agent.destroy());
  const readers = Array.from(
    { length: 200 },
    () =>
      new Promise<string>((resolve, reject) => {
        const req = http.get(`${fx.base}/small.iso`, { agent }, (res) => {
          const hash = crypto.createHash('sha256');
          res.on('data', (c: Buffer) => hash.update(c));
          res.on('end', () => resolve(hash.digest('hex')));
          res.on('error', reject);
        });
        req.on('error', reject);
      }),
  );
  const hashes = await Promise.all(readers);
  assert.equal(hashes.length, 200);
  for (const hash of hashes) assert.equal(hash, fx.smallSha);
  await waitFor('server connections closed', async () => (fx.serverSockets.size === 0 ? true : undefined), 5000);
  assert.ok(openFds() <= fdsBefore + 2, `fds: ${fdsBefore} before, ${openFds()} after`);
});

test('a reader that stops reading is dropped after the stall timeout; one that leaves ends its transfer', { timeout: 60_000 }, async (t) => {
  const fx = await setup(t);
  const port = Number(new URL(fx.base).port);

  // Asks for 5 GiB and reads nothing: the socket buffers fill, sendfile makes no progress.
  const stalled = net.connect(port, '127.0.0.1');
  t.after(() => stalled.destroy());
  await new Promise((resolve) => stalled.once('connect', resolve));
  stalled.pause();
  const began = Date.now();
  stalled.write('GET /big.iso HTTP/1.1\r\nHost: x\r\n\r\n');
  await waitFor('the server drops the stalled reader', async () => (fx.outcomes.some((o) => o.status === 200 && o.bytes < SPARSE_BYTES) ? true : undefined), STALL_MS + 10_000);
  const elapsed = Date.now() - began;
  assert.ok(elapsed >= STALL_MS, `dropped after ${elapsed} ms`);
  await waitFor('its server socket closed', async () => (fx.serverSockets.size === 0 ? true : undefined), 5000);

  // Reads a little of 5 GiB, then hangs up: the transfer ends (peer gone), not after 5 GiB.
  const leaving = await new Promise<number>((resolve, reject) => {
    const req = http.get(`${fx.base}/big.iso`, (res) => {
      let got = 0;
      res.on('data', (c: Buffer) => {
        got += c.length;
        if (got > 1_000_000) {
          res.destroy();
          resolve(got);
        }
      });
    });
    req.on('error', (error) => ((error as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(error)));
  });
  assert.ok(leaving > 1_000_000);
  await waitFor('the abandoned transfer ended', async () => (fx.outcomes.filter((o) => o.status === 200 && o.bytes < SPARSE_BYTES).length === 2 ? true : undefined), 10_000);
  // The server still answers.
  const after = await curl(`${fx.base}/small.iso`, ['-H', 'Range: bytes=0-99']);
  assert.ok(after.body.equals(fx.small.subarray(0, 100)));
});
