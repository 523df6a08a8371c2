// The TFTP server against real Debian clients on loopback: tftp-hpa, atftp and curl, plus the
// project's own codec-based client (test/tools/tftp-client.ts) for windowsize under packet loss.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { TftpServer, type TftpTransferEvent } from '../../src/tftp/server.js';
import { tftpGet } from '../tools/tftp-client.js';

const HOST = '127.0.0.1';
const IPXE_BIOS = '/usr/lib/ipxe/undionly.kpxe';
const IPXE_EFI = '/usr/lib/ipxe/ipxe.efi';

let base = '';
let root = '';
let out = '';
let server: TftpServer;
let port = 0;
const events: TftpTransferEvent[] = [];

/** A missing client is a failed run, never a skipped test (a skip proves nothing; CI installs them). */
function requireTool(name: string): void {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  assert.equal(found.status, 0, `${name} is not installed: run scripts/install-system-deps.sh`);
}

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a client with a hard deadline; execFile kills it when the deadline passes. */
function run(command: string, args: string[], timeoutMs = 30_000): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

async function sameBytes(a: string, b: string): Promise<void> {
  const [left, right] = await Promise.all([fs.readFile(a), fs.readFile(b)]);
  assert.equal(left.length, right.length, `${a} and ${b} differ in size`);
  assert.ok(left.equals(right), `${a} and ${b} differ`);
}

function lastEventFor(file: string): TftpTransferEvent {
  const event = events.filter((candidate) => candidate.file === file).at(-1);
  assert.ok(event, `no transfer event for ${file}`);
  return event;
}

/** Events are emitted after the final ACK; a client may exit a moment before that. */
async function waitForEvents(count: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (events.length < count && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
}

before(async () => {
  for (const tool of ['tftp', 'atftp', 'curl']) requireTool(tool);
  base = await fs.mkdtemp(path.join(os.tmpdir(), 'lanboot-tftp-clients-'));
  root = path.join(base, 'root');
  out = path.join(base, 'out');
  await fs.mkdir(path.join(root, 'efi'), { recursive: true });
  await fs.mkdir(out);
  await fs.copyFile(IPXE_BIOS, path.join(root, 'undionly.kpxe'));
  await fs.copyFile(IPXE_EFI, path.join(root, 'efi', 'ipxe.efi'));
  // Exactly 4 blocks of 1468: the transfer must end with an empty DATA block.
  await fs.writeFile(path.join(root, 'exact.bin'), crypto.randomBytes(4 * 1468));
  await fs.writeFile(path.join(root, 'empty.bin'), Buffer.alloc(0));
  // >32 MiB: at blksize 512 the 16-bit block number wraps past 65535.
  await fs.writeFile(path.join(root, 'big.bin'), crypto.randomBytes(33 * 1024 * 1024 + 777));
  server = new TftpServer({
    root,
    host: HOST,
    port: 0,
    maxBlockSize: 65464,
    defaultTimeoutMs: 300,
    maxRetries: 10,
    maxTransfersPerClient: 64, // every test client comes from 127.0.0.1
    virtualFiles: ({ filename, client }) =>
      filename === 'boot/hello.ipxe' ? Buffer.from(`#!ipxe\necho hello ${client.address}\n`) : undefined,
  });
  server.on('transfer', (event) => events.push(event));
  await server.start();
  port = server.address().port;
  assert.ok(port > 0);
});

after(async () => {
  await server?.stop();
  if (base) await fs.rm(base, { recursive: true, force: true });
});

test('tftp-hpa (RFC 1350, no options) gets undionly.kpxe byte for byte', async () => {
  const target = path.join(out, 'hpa-undionly.kpxe');
  const result = await run('tftp', ['-m', 'binary', HOST, String(port), '-c', 'get', 'undionly.kpxe', target]);
  assert.equal(result.code, 0, result.stderr + result.stdout);
  await sameBytes(target, IPXE_BIOS);
  await waitForEvents(1);
  const event = lastEventFor('undionly.kpxe');
  assert.equal(event.result, 'ok');
  assert.equal(event.blockSize, 512);
  assert.equal(event.bytes, (await fs.stat(IPXE_BIOS)).size);
  assert.equal(event.client.address, HOST);
  assert.ok(event.durationMs > 0);
});

test('atftp with blksize 1428 and tsize gets ipxe.efi', async () => {
  const target = path.join(out, 'atftp-ipxe.efi');
  const before = events.length;
  const result = await run('atftp', ['--option', 'blksize 1428', '--option', 'tsize 0', '--verbose', '-g', '-r', 'efi/ipxe.efi', '-l', target, HOST, String(port)]);
  assert.equal(result.code, 0, result.stderr + result.stdout);
  await sameBytes(target, IPXE_EFI);
  await waitForEvents(before + 1);
  const event = lastEventFor('efi/ipxe.efi');
  assert.equal(event.result, 'ok');
  assert.equal(event.blockSize, 1428);
  assert.equal(event.windowSize, 1);
});

test('atftp with windowsize 16 (RFC 7440) gets ipxe.efi', async () => {
  const target = path.join(out, 'atftp-window-ipxe.efi');
  const before = events.length;
  const result = await run('atftp', ['--option', 'blksize 1428', '--option', 'windowsize 16', '-g', '-r', 'efi/ipxe.efi', '-l', target, HOST, String(port)]);
  assert.equal(result.code, 0, result.stderr + result.stdout);
  await sameBytes(target, IPXE_EFI);
  await waitForEvents(before + 1);
  const event = lastEventFor('efi/ipxe.efi');
  assert.equal(event.result, 'ok');
  assert.equal(event.windowSize, 16);
});

test('curl with --tftp-blksize 1468 (curl also asks for tsize) gets ipxe.efi, and a leading slash works', async () => {
  const target = path.join(out, 'curl-ipxe.efi');
  const before = events.length;
  const result = await run('curl', ['-sS', '--tftp-blksize', '1468', '-o', target, `tftp://${HOST}:${port}//efi/ipxe.efi`]);
  assert.equal(result.code, 0, result.stderr);
  await sameBytes(target, IPXE_EFI);
  await waitForEvents(before + 1);
  assert.equal(events.at(-1)?.blockSize, 1468);
  assert.equal(events.at(-1)?.result, 'ok');
});

test('files that end on a block boundary, and empty files, arrive whole (atftp, curl)', async () => {
  const exactAtftp = path.join(out, 'exact-atftp.bin');
  const exactCurl = path.join(out, 'exact-curl.bin');
  const empty = path.join(out, 'empty.bin');
  assert.equal((await run('atftp', ['--option', 'blksize 1468', '-g', '-r', 'exact.bin', '-l', exactAtftp, HOST, String(port)])).code, 0);
  assert.equal((await run('curl', ['-sS', '--tftp-blksize', '1468', '-o', exactCurl, `tftp://${HOST}:${port}/exact.bin`])).code, 0);
  assert.equal((await run('curl', ['-sS', '-o', empty, `tftp://${HOST}:${port}/empty.bin`])).code, 0);
  await sameBytes(exactAtftp, path.join(root, 'exact.bin'));
  await sameBytes(exactCurl, path.join(root, 'exact.bin'));
  assert.equal((await fs.stat(empty)).size, 0);
});

test('a windowsize client survives lost DATA packets (server retransmits from the last ACK)', async () => {
  const expected = await fs.readFile(IPXE_EFI);
  const before = events.length;
  let drops = 0;
  const result = await tftpGet({
    host: HOST,
    port,
    filename: 'efi/ipxe.efi',
    options: [
      ['blksize', '1468'],
      ['windowsize', '8'],
      ['tsize', '0'],
    ],
    timeoutMs: 200,
    retries: 20,
    // Lose every 37th packet that arrives, including retransmissions.
    dropData: (_block, arrival) => arrival % 37 === 0 && ++drops > 0,
  });
  assert.ok(drops > 10, `expected losses to be simulated, got ${drops}`);
  assert.deepEqual(result.oack, { blksize: '1468', windowsize: '8', tsize: String(expected.length) });
  assert.notEqual(result.serverPort, port, 'the transfer runs on its own port (RFC 1350 TID)');
  assert.ok(result.data.equals(expected), 'windowed transfer under loss delivered the exact file');
  await waitForEvents(before + 1);
  const event = lastEventFor('efi/ipxe.efi');
  assert.equal(event.result, 'ok', 'the server saw the final ACK');
  assert.equal(event.windowSize, 8);
});

test('block numbers roll over: tftp-hpa and curl at blksize 512 get a 33 MiB file', async () => {
  const hpaTarget = path.join(out, 'big-hpa.bin');
  const curlTarget = path.join(out, 'big-curl.bin');
  const [hpa, curl] = await Promise.all([
    run('tftp', ['-m', 'binary', HOST, String(port), '-c', 'get', 'big.bin', hpaTarget], 120_000),
    run('curl', ['-sS', '--tftp-blksize', '512', '-o', curlTarget, `tftp://${HOST}:${port}/big.bin`], 120_000),
  ]);
  assert.equal(hpa.code, 0, hpa.stderr + hpa.stdout);
  assert.equal(curl.code, 0, curl.stderr);
  await sameBytes(hpaTarget, path.join(root, 'big.bin'));
  await sameBytes(curlTarget, path.join(root, 'big.bin'));
});

test('30 clients at once (10 each of tftp-hpa, atftp, curl) all get undionly.kpxe', async () => {
  const before = events.length;
  const jobs: Array<Promise<{ result: RunResult; target: string }>> = [];
  for (let i = 0; i < 10; i++) {
    const hpa = path.join(out, `many-hpa-${i}`);
    const atftp = path.join(out, `many-atftp-${i}`);
    const curl = path.join(out, `many-curl-${i}`);
    jobs.push(run('tftp', ['-m', 'binary', HOST, String(port), '-c', 'get', 'undionly.kpxe', hpa]).then((result) => ({ result, target: hpa })));
    jobs.push(
      run('atftp', ['--option', 'blksize 1428', '--option', 'tsize 0', '-g', '-r', 'undionly.kpxe', '-l', atftp, HOST, String(port)]).then((result) => ({
        result,
        target: atftp,
      })),
    );
    jobs.push(run('curl', ['-sS', '--tftp-blksize', '1468', '-o', curl, `tftp://${HOST}:${port}/undionly.kpxe`]).then((result) => ({ result, target: curl })));
  }
  const results = await Promise.all(jobs);
  for (const { result, target } of results) {
    assert.equal(result.code, 0, `${target}: ${result.stderr}${result.stdout}`);
    await sameBytes(target, IPXE_BIOS);
  }
  await waitForEvents(before + 30);
  const mine = events.slice(before);
  assert.equal(mine.length, 30);
  assert.ok(mine.every((event) => event.result === 'ok' && event.file === 'undionly.kpxe'));
  assert.equal(new Set(mine.map((event) => event.client.port)).size, 30, 'one transfer per client');
  assert.equal(server.activeTransfers, 0, 'every transfer socket is closed');
});

test('virtual files are served from the callback, with the client address', async () => {
  const target = path.join(out, 'hello.ipxe');
  const before = events.length;
  const result = await run('curl', ['-sS', '-o', target, `tftp://${HOST}:${port}/boot/hello.ipxe`]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(await fs.readFile(target, 'utf8'), `#!ipxe\necho hello ${HOST}\n`);
  await waitForEvents(before + 1);
  assert.equal(events.at(-1)?.virtual, true);
});

test('IPv6: curl fetches over ::1 from a server listening there', async () => {
  const v6 = new TftpServer({ root, host: '::1', port: 0 });
  await v6.start();
  try {
    const target = path.join(out, 'v6-undionly.kpxe');
    const result = await run('curl', ['-sS', '--tftp-blksize', '1468', '-o', target, `tftp://[::1]:${v6.address().port}/undionly.kpxe`]);
    assert.equal(result.code, 0, result.stderr);
    await sameBytes(target, IPXE_BIOS);
  } finally {
    await v6.stop();
  }
});
