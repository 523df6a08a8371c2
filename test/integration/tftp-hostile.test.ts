// The TFTP server against hostile and broken peers on loopback, with raw UDP datagrams:
// bad paths, malformed and truncated packets, absurd options, wrong TIDs, vanished clients.
// Each case checks both what comes back (the right ERROR, or silence) and that the server still
// serves a good request afterwards.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Opcode, TftpErrorCode, parsePacket, serializeAck, serializeError, serializeRequest, type TftpPacket } from '../../src/tftp/codec.js';
import { TftpServer, type TftpTransferEvent } from '../../src/tftp/server.js';
import { TftpClientError, tftpGet } from '../tools/tftp-client.js';
import { pino } from 'pino';

const HOST = '127.0.0.1';
const SECRET = 'this must never leave the box';

let base = '';
let root = '';
let server: TftpServer;
let port = 0;
const events: TftpTransferEvent[] = [];
const sockets = new Set<dgram.Socket>();

interface Received {
  packet: TftpPacket | null;
  raw: Buffer;
  fromPort: number;
}

/** A raw UDP peer that records everything it receives. */
async function openPeer(): Promise<{ socket: dgram.Socket; received: Received[]; waitFor: (count: number, ms: number) => Promise<void> }> {
  const socket = dgram.createSocket('udp4');
  sockets.add(socket);
  const received: Received[] = [];
  socket.on('message', (raw, rinfo) => {
    let packet: TftpPacket | null = null;
    try {
      packet = parsePacket(raw);
    } catch {
      packet = null;
    }
    received.push({ packet, raw, fromPort: rinfo.port });
  });
  await new Promise<void>((resolve) => socket.bind(0, HOST, () => resolve()));
  const waitFor = async (count: number, ms: number): Promise<void> => {
    const deadline = Date.now() + ms;
    while (received.length < count && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  };
  return { socket, received, waitFor };
}

/** Resolves once the datagram has left: closing a socket earlier cancels a queued send. */
function send(socket: dgram.Socket, datagram: Buffer, toPort: number): Promise<void> {
  return new Promise((resolve, reject) => socket.send(datagram, toPort, HOST, (error) => (error ? reject(error) : resolve())));
}

function closePeer(socket: dgram.Socket): void {
  sockets.delete(socket);
  socket.close();
}

/** Sends one datagram to the request port and returns what came back within `ms`. */
async function exchange(datagram: Buffer, ms = 300): Promise<Received[]> {
  const peer = await openPeer();
  try {
    await send(peer.socket, datagram, port);
    await peer.waitFor(1, ms);
    // Wait a little longer for anything that should not come.
    await new Promise((resolve) => setTimeout(resolve, 50));
    return [...peer.received];
  } finally {
    closePeer(peer.socket);
  }
}

function expectError(replies: Received[], errorCode: number, what: string): void {
  assert.equal(replies.length, 1, `${what}: expected exactly one reply, got ${replies.length}`);
  const packet = replies[0]!.packet;
  assert.ok(packet && packet.opcode === Opcode.ERROR, `${what}: expected ERROR, got ${replies[0]!.raw.toString('hex')}`);
  assert.equal(packet.errorCode, errorCode, `${what}: ${packet.message}`);
  assert.ok(!replies[0]!.raw.includes(Buffer.from(SECRET)), `${what}: leaked the secret`);
}

async function assertStillServing(): Promise<void> {
  const result = await tftpGet({ host: HOST, port, filename: 'good.bin', timeoutMs: 500 });
  assert.equal(result.data.toString(), 'good file');
}

before(async () => {
  base = await fs.mkdtemp(path.join(os.tmpdir(), 'lanboot-tftp-hostile-'));
  root = path.join(base, 'root');
  await fs.mkdir(path.join(root, 'sub'), { recursive: true });
  await fs.writeFile(path.join(root, 'good.bin'), 'good file');
  await fs.writeFile(path.join(root, 'sub', 'inner.bin'), 'inner');
  await fs.writeFile(path.join(root, 'big.bin'), Buffer.alloc(512 * 200, 7));
  await fs.writeFile(path.join(base, 'secret'), SECRET);
  await fs.symlink(path.join(base, 'secret'), path.join(root, 'escape'));
  await fs.symlink('../secret', path.join(root, 'relative-escape'));
  await fs.symlink(base, path.join(root, 'dir-escape'));
  server = new TftpServer({ root, host: HOST, port: 0, defaultTimeoutMs: 100, maxRetries: 2, maxTransfers: 4 });
  server.on('transfer', (event) => events.push(event));
  await server.start();
  port = server.address().port;
});

after(async () => {
  for (const socket of sockets) socket.close();
  sockets.clear();
  await server?.stop();
  if (base) await fs.rm(base, { recursive: true, force: true });
});

test('paths leaving the root are refused with ERROR 2 and never leak the file', async () => {
  const refused = [
    '../secret',
    'sub/../../secret',
    '/../secret',
    '..\\secret',
    'sub\\inner.bin',
    'escape',
    'relative-escape',
    'dir-escape/secret',
  ];
  for (const name of refused) {
    expectError(await exchange(serializeRequest(Opcode.RRQ, name, 'octet')), TftpErrorCode.ACCESS_VIOLATION, name);
  }
  // Absolute names are looked up under the root, so an outside absolute path is just missing.
  for (const name of ['/etc/passwd', path.join(base, 'secret'), 'missing.bin']) {
    expectError(await exchange(serializeRequest(Opcode.RRQ, name, 'octet')), TftpErrorCode.FILE_NOT_FOUND, name);
  }
  // A directory is not a file.
  expectError(await exchange(serializeRequest(Opcode.RRQ, 'sub', 'octet')), TftpErrorCode.ACCESS_VIOLATION, 'directory');
  const refusedEvents = events.filter((event) => event.result === 'refused');
  assert.ok(refusedEvents.some((event) => event.file === '../secret' && event.errorCode === 'TFTP_PATH_PARENT'));
  assert.ok(refusedEvents.some((event) => event.file === 'escape' && event.errorCode === 'TFTP_PATH_OUTSIDE_ROOT'));
  await assertStillServing();
});

test('write requests get ERROR 2 (read-only) and nothing is written', async () => {
  expectError(await exchange(serializeRequest(Opcode.WRQ, 'new.bin', 'octet')), TftpErrorCode.ACCESS_VIOLATION, 'WRQ');
  await assert.rejects(fs.stat(path.join(root, 'new.bin')));
});

test('netascii and bad option values are refused (ERROR 4, ERROR 8 per RFC 2347)', async () => {
  expectError(await exchange(serializeRequest(Opcode.RRQ, 'good.bin', 'netascii')), TftpErrorCode.ILLEGAL_OPERATION, 'netascii');
  const badOptions: Array<[string, string]> = [
    ['blksize', '7'],
    ['blksize', '65465'],
    ['blksize', 'lots'],
    ['timeout', '0'],
    ['timeout', '256'],
    ['windowsize', '0'],
    ['windowsize', '65536'],
    ['tsize', '-1'],
  ];
  for (const option of badOptions) {
    expectError(await exchange(serializeRequest(Opcode.RRQ, 'good.bin', 'octet', [option])), TftpErrorCode.OPTION_NEGOTIATION_FAILED, option.join('='));
  }
  await assertStillServing();
});

test('malformed requests get ERROR 4; garbage and stray packets get no answer at all', async () => {
  const malformedRequests: Array<[string, Buffer]> = [
    ['no file name terminator', Buffer.from([0, 1, 0x61, 0x62])],
    ['no mode', Buffer.from([0, 1, 0x61, 0])],
    ['unterminated mode', Buffer.from([0, 1, 0x61, 0, 0x6f, 0x63])],
    ['option without value', Buffer.concat([serializeRequest(Opcode.RRQ, 'good.bin', 'octet'), Buffer.from('blksize\0')])],
    ['absurd option length', Buffer.concat([serializeRequest(Opcode.RRQ, 'good.bin', 'octet'), Buffer.from(`blksize\0${'9'.repeat(300)}\0`)])],
    ['absurd option name', Buffer.concat([serializeRequest(Opcode.RRQ, 'good.bin', 'octet'), Buffer.from(`${'x'.repeat(400)}\0a\0`)])],
    ['huge request', Buffer.concat([Buffer.from([0, 1]), Buffer.alloc(60000, 0x41), Buffer.from([0])])],
    ['duplicate option', Buffer.concat([serializeRequest(Opcode.RRQ, 'good.bin', 'octet'), Buffer.from('tsize\x000\x00TSIZE\x000\x00')])],
    ['control byte in name', Buffer.from([0, 1, 0x61, 0x1b, 0, ...Buffer.from('octet'), 0])],
    ['unknown mode', Buffer.from([0, 1, 0x61, 0, ...Buffer.from('mail'), 0])],
    ['empty name', Buffer.from([0, 1, 0, ...Buffer.from('octet'), 0])],
  ];
  for (const [what, datagram] of malformedRequests) {
    expectError(await exchange(datagram), TftpErrorCode.ILLEGAL_OPERATION, what);
  }
  const silent: Array<[string, Buffer]> = [
    ['empty datagram', Buffer.alloc(0)],
    ['one byte', Buffer.from([0])],
    ['unknown opcode', Buffer.from([0, 9, 1, 2, 3])],
    ['opcode 0', Buffer.from([0, 0])],
    ['ACK on the request port', serializeAck(1)],
    ['DATA on the request port', Buffer.from([0, 3, 0, 1, 1, 2, 3])],
    ['ERROR on the request port', serializeError(0, 'hi')],
    ['OACK on the request port', Buffer.from('\x00\x06blksize\x00512\x00')],
    ['truncated ACK', Buffer.from([0, 4, 0])],
    ['big junk', Buffer.alloc(65000, 0xff)],
  ];
  for (const [what, datagram] of silent) {
    const replies = await exchange(datagram, 150);
    assert.equal(replies.length, 0, `${what}: expected silence, got ${replies.map((reply) => reply.raw.toString('hex')).join(' ')}`);
  }
  await assertStillServing();
});

test('a packet from a wrong TID gets ERROR 5 and the real transfer carries on (RFC 1350 section 4)', async () => {
  const client = await openPeer();
  const intruder = await openPeer();
  try {
    await send(client.socket, serializeRequest(Opcode.RRQ, 'good.bin', 'octet', [['tsize', '0']]), port);
    await client.waitFor(1, 1000);
    const oack = client.received[0]!;
    assert.equal(oack.packet?.opcode, Opcode.OACK);
    const transferPort = oack.fromPort;
    assert.notEqual(transferPort, port);
    await send(intruder.socket, serializeAck(0), transferPort);
    await intruder.waitFor(1, 1000);
    const reply = intruder.received[0]?.packet;
    assert.ok(reply && reply.opcode === Opcode.ERROR && reply.errorCode === TftpErrorCode.UNKNOWN_TID);
    await send(client.socket, serializeAck(0), transferPort);
    await client.waitFor(2, 1000);
    const data = client.received[1]!.packet;
    assert.ok(data && data.opcode === Opcode.DATA && data.block === 1);
    assert.equal(Buffer.from(data.data).toString(), 'good file');
    assert.equal(intruder.received.filter((r) => r.packet?.opcode === Opcode.DATA).length, 0, 'no data to the intruder');
    await send(client.socket, serializeAck(1), transferPort);
    const clientPort = client.socket.address().port;
    const deadline = Date.now() + 1000;
    while (!events.some((event) => event.client.port === clientPort) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const event = events.find((candidate) => candidate.client.port === clientPort);
    assert.equal(event?.result, 'ok', 'the intruder did not disturb the transfer');
  } finally {
    closePeer(client.socket);
    closePeer(intruder.socket);
  }
});

test('a repeated request from the same client port starts one transfer, not two', async () => {
  const client = await openPeer();
  // A long retransmit timer, so any second DATA 1 could only come from a second transfer.
  const own = new TftpServer({ root, host: HOST, port: 0, defaultTimeoutMs: 10_000 });
  await own.start();
  try {
    const request = serializeRequest(Opcode.RRQ, 'big.bin', 'octet');
    await send(client.socket, request, own.address().port);
    await send(client.socket, request, own.address().port);
    await send(client.socket, request, own.address().port);
    await client.waitFor(1, 1000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(client.received.length, 1, 'one DATA 1, from one transfer');
    assert.equal(own.activeTransfers, 1);
    await send(client.socket, serializeError(0, 'done'), client.received[0]!.fromPort);
  } finally {
    closePeer(client.socket);
    await own.stop();
  }
});

test('a client that vanishes is given up after the retries; one that sends ERROR ends its transfer', async () => {
  const before = events.length;
  const gone = await openPeer();
  const quitter = await openPeer();
  const ports = new Set([gone.socket, quitter.socket].map((socket) => socket.address().port));
  try {
    await send(gone.socket, serializeRequest(Opcode.RRQ, 'big.bin', 'octet'), port);
    await send(quitter.socket, serializeRequest(Opcode.RRQ, 'big.bin', 'octet'), port);
    await quitter.waitFor(1, 1000);
    await send(quitter.socket, serializeAck(1), quitter.received[0]!.fromPort);
    await quitter.waitFor(2, 1000);
    await send(quitter.socket, serializeError(0, 'user cancelled'), quitter.received[0]!.fromPort);
    // timeout 100 ms x (1 + 2 retries) and a margin
    await gone.waitFor(3, 1000);
    const deadline = Date.now() + 2000;
    const countMine = (): number => events.slice(before).filter((event) => ports.has(event.client.port)).length;
    while (countMine() < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  } finally {
    closePeer(gone.socket);
    closePeer(quitter.socket);
  }
  const mine = events.slice(before).filter((event) => ports.has(event.client.port));
  assert.equal(mine.length, 2);
  const timedOut = mine.find((event) => event.errorCode === 'TFTP_TIMEOUT');
  const cancelled = mine.find((event) => event.errorCode === 'TFTP_CLIENT_ERROR');
  assert.ok(timedOut && timedOut.result === 'error' && timedOut.bytes === 0);
  assert.ok(cancelled && cancelled.result === 'error' && cancelled.bytes === 512);
  assert.equal(gone.received.length, 3, 'DATA 1 sent once and retransmitted twice, then nothing');
  assert.equal(server.activeTransfers, 0);
});

test('beyond maxTransfers new requests get ERROR 0 (busy); stop() ends transfers with ERROR 0', async () => {
  const stuck = await Promise.all([openPeer(), openPeer(), openPeer(), openPeer()]);
  const own = new TftpServer({ root, host: HOST, port: 0, defaultTimeoutMs: 5000, maxTransfers: 2 });
  await own.start();
  try {
    const ownPort = own.address().port;
    for (const peer of stuck.slice(0, 2)) await send(peer.socket, serializeRequest(Opcode.RRQ, 'big.bin', 'octet'), ownPort);
    for (const peer of stuck.slice(0, 2)) await peer.waitFor(1, 1000);
    assert.equal(own.activeTransfers, 2);
    await send(stuck[2]!.socket, serializeRequest(Opcode.RRQ, 'big.bin', 'octet'), ownPort);
    await stuck[2]!.waitFor(1, 1000);
    const busy = stuck[2]!.received[0]?.packet;
    assert.ok(busy && busy.opcode === Opcode.ERROR && busy.errorCode === 0 && /busy/.test(busy.message));
    await own.stop();
    for (const peer of stuck.slice(0, 2)) {
      await peer.waitFor(2, 1000);
      const last = peer.received.at(-1)?.packet;
      assert.ok(last && last.opcode === Opcode.ERROR && last.errorCode === 0, 'client told the server is stopping');
    }
    assert.equal(own.activeTransfers, 0);
    // Stopped means stopped: the request port no longer answers.
    await send(stuck[3]!.socket, serializeRequest(Opcode.RRQ, 'good.bin', 'octet'), ownPort);
    await stuck[3]!.waitFor(1, 200);
    assert.equal(stuck[3]!.received.length, 0);
  } finally {
    await own.stop();
    for (const peer of stuck) closePeer(peer.socket);
  }
});

test('the root must exist; the port must be free', async () => {
  const missing = new TftpServer({ root: path.join(base, 'nope'), host: HOST, port: 0 });
  await assert.rejects(missing.start(), (error: unknown) => (error as { code?: string }).code === 'LANBOOT_CONFIG_INVALID');
  const clash = new TftpServer({ root, host: HOST, port });
  await assert.rejects(clash.start(), (error: unknown) => (error as { code?: string }).code === 'EADDRINUSE');
  assert.throws(() => new TftpServer({ root, maxBlockSize: 4 }), (error: unknown) => (error as { code?: string }).code === 'LANBOOT_CONFIG_INVALID');
});

test('one address cannot take more than maxTransfersPerClient slots', async () => {
  const peers = await Promise.all([openPeer(), openPeer(), openPeer()]);
  const own = new TftpServer({ root, host: HOST, port: 0, defaultTimeoutMs: 5000, maxTransfersPerClient: 2 });
  await own.start();
  try {
    const ownPort = own.address().port;
    for (const peer of peers.slice(0, 2)) await send(peer.socket, serializeRequest(Opcode.RRQ, 'big.bin', 'octet'), ownPort);
    for (const peer of peers.slice(0, 2)) await peer.waitFor(1, 1000);
    await send(peers[2]!.socket, serializeRequest(Opcode.RRQ, 'good.bin', 'octet'), ownPort);
    await peers[2]!.waitFor(1, 1000);
    const refusedPacket = peers[2]!.received[0]?.packet;
    assert.ok(refusedPacket && refusedPacket.opcode === Opcode.ERROR && refusedPacket.errorCode === 0, 'third transfer from one address refused');
    // When one ends, the address gets its slot back.
    await send(peers[0]!.socket, serializeError(0, 'done'), peers[0]!.received[0]!.fromPort);
    const deadline = Date.now() + 1000;
    while (own.activeTransfers > 1 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    const result = await tftpGet({ host: HOST, port: ownPort, filename: 'good.bin', timeoutMs: 500 });
    assert.equal(result.data.toString(), 'good file');
  } finally {
    await own.stop();
    for (const peer of peers) closePeer(peer.socket);
  }
});

test('a file that shrinks mid-transfer ends it with ERROR 0 instead of sending garbage', async () => {
  const shrinking = path.join(root, 'shrinking.bin');
  await fs.writeFile(shrinking, Buffer.alloc(64 * 1024, 1));
  const peer = await openPeer();
  // A 4 KiB read-ahead forces a fresh read every 8 blocks.
  const own = new TftpServer({ root, host: HOST, port: 0, defaultTimeoutMs: 5000, readBufferBytes: 4096 });
  const ownEvents: TftpTransferEvent[] = [];
  const requests: string[] = [];
  own.on('transfer', (event) => ownEvents.push(event));
  own.on('request', (event) => requests.push(event.file));
  await own.start();
  try {
    const ownPort = own.address().port;
    await send(peer.socket, serializeRequest(Opcode.RRQ, 'shrinking.bin', 'octet'), ownPort);
    await peer.waitFor(1, 1000);
    assert.deepEqual(requests, ['shrinking.bin']);
    await fs.truncate(shrinking, 0);
    // Acknowledge blocks until the server runs past what it had read before the truncate.
    for (let block = 1; block <= 16; block++) {
      const last = peer.received.at(-1)?.packet;
      if (last?.opcode === Opcode.ERROR) break;
      assert.ok(last && last.opcode === Opcode.DATA && last.block === block);
      assert.ok(Buffer.from(last.data).every((byte) => byte === 1), 'only bytes of the original file');
      await send(peer.socket, serializeAck(block), peer.received[0]!.fromPort);
      await peer.waitFor(block + 1, 1000);
    }
    const last = peer.received.at(-1)?.packet;
    assert.ok(last && last.opcode === Opcode.ERROR && last.errorCode === 0, 'client told the transfer failed');
    const deadline = Date.now() + 1000;
    while (ownEvents.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(ownEvents[0]?.result, 'error');
    assert.equal(ownEvents[0]?.errorCode, 'TFTP_ABORTED');
  } finally {
    await own.stop();
    closePeer(peer.socket);
  }
});

test('a virtual-file callback or an event listener that throws costs the client an ERROR 0, not the server', async () => {
  const own = new TftpServer({
    root,
    host: HOST,
    port: 0,
    virtualFiles: ({ filename }) => {
      if (filename === 'boom') throw new Error('generator failed');
      return undefined;
    },
  });
  const ownEvents: TftpTransferEvent[] = [];
  own.on('transfer', (event) => ownEvents.push(event));
  own.on('transfer', () => {
    throw new Error('listener bug');
  });
  own.on('request', () => {
    throw new Error('listener bug');
  });
  await own.start();
  const peer = await openPeer();
  try {
    await send(peer.socket, serializeRequest(Opcode.RRQ, 'boom', 'octet'), own.address().port);
    await peer.waitFor(1, 1000);
    const reply = peer.received[0]?.packet;
    assert.ok(reply && reply.opcode === Opcode.ERROR && reply.errorCode === 0);
    assert.doesNotMatch(reply.message, /generator failed/, 'internal details stay in the log');
    assert.equal(ownEvents[0]?.errorCode, 'TFTP_INTERNAL');
    const result = await tftpGet({ host: HOST, port: own.address().port, filename: 'good.bin', timeoutMs: 500 });
    assert.equal(result.data.toString(), 'good file');
    const deadline = Date.now() + 1000;
    while (own.activeTransfers > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(own.activeTransfers, 0);
    assert.equal(ownEvents.at(-1)?.result, 'ok', 'a transfer completes although a listener throws');
  } finally {
    closePeer(peer.socket);
    await own.stop();
  }
});

test('thousands of random datagrams on the request port and on a transfer port: no crash, transfer intact', async () => {
  // Deterministic xorshift, so a failure reproduces.
  let state = 0x2545f491;
  const next = (): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
  const randomDatagram = (): Buffer => {
    const length = next() % 120;
    const datagram = Buffer.alloc(length);
    for (let i = 0; i < length; i++) datagram[i] = next() % 3 === 0 ? 0 : next() & 0xff;
    if (length >= 2) {
      datagram[0] = 0;
      datagram[1] = next() % 8;
    }
    return datagram;
  };
  const client = await openPeer();
  const noise = await openPeer();
  // Its own server with a long retransmit timer: the noise takes longer than the shared one's.
  const own = new TftpServer({ root, host: HOST, port: 0, defaultTimeoutMs: 10_000 });
  await own.start();
  const port = own.address().port;
  try {
    await send(client.socket, serializeRequest(Opcode.RRQ, 'big.bin', 'octet', [['blksize', '1024']]), port);
    await client.waitFor(1, 1000);
    const transferPort = client.received[0]!.fromPort;
    assert.equal(client.received[0]!.packet?.opcode, Opcode.OACK);
    for (let i = 0; i < 3000; i++) {
      await send(noise.socket, randomDatagram(), i % 2 === 0 ? port : transferPort);
      if (i % 100 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    // A flood can fill the socket's receive buffer, and the kernel then drops datagrams (the
    // real client's too): let it drain, and re-send an ACK that got no answer, as a client would.
    await new Promise((resolve) => setTimeout(resolve, 200));
    // The real client now finishes its transfer: 100 blocks of 1024 and an empty one.
    let expectedBlock = 0;
    const payload: Buffer[] = [];
    for (;;) {
      const ack = serializeAck(expectedBlock);
      await send(client.socket, ack, transferPort);
      expectedBlock++;
      const deadline = Date.now() + 2000;
      let resendAt = Date.now() + 300;
      let data: TftpPacket | null = null;
      while (Date.now() < deadline) {
        data = client.received.map((r) => r.packet).find((p) => p?.opcode === Opcode.DATA && p.block === expectedBlock) ?? null;
        if (data) break;
        if (Date.now() > resendAt) {
          await send(client.socket, ack, transferPort);
          resendAt = Date.now() + 300;
        }
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      assert.ok(data && data.opcode === Opcode.DATA, `DATA ${expectedBlock} arrived`);
      payload.push(Buffer.from(data.data));
      if (data.data.length < 1024) break;
    }
    await send(client.socket, serializeAck(expectedBlock), transferPort);
    assert.ok(Buffer.concat(payload).equals(Buffer.alloc(512 * 200, 7)));
    // Anything the noise got back is an ERROR (4 for broken requests, 5 on the transfer port,
    // 1/2/8 for requests that parsed): never DATA or OACK.
    for (const reply of noise.received) {
      assert.ok(reply.packet?.opcode === Opcode.ERROR, `noise got ${reply.raw.subarray(0, 8).toString('hex')}`);
    }
    const result = await tftpGet({ host: HOST, port, filename: 'good.bin', timeoutMs: 500 });
    assert.equal(result.data.toString(), 'good file');
  } finally {
    closePeer(client.socket);
    closePeer(noise.socket);
    await own.stop();
  }
});

test('logs are pino JSON with the client in context, and garbage cannot flood them', async () => {
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
  const own = new TftpServer({ root, host: HOST, port: 0, logger });
  await own.start();
  const peer = await openPeer();
  try {
    const ownPort = own.address().port;
    for (let i = 0; i < 200; i++) await send(peer.socket, Buffer.from([0, 1, 0x61]), ownPort); // truncated RRQs
    await peer.waitFor(200, 2000);
    const result = await tftpGet({ host: HOST, port: ownPort, filename: 'good.bin', timeoutMs: 500 });
    assert.equal(result.data.toString(), 'good file');
    const deadline = Date.now() + 1000;
    while (own.activeTransfers > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  } finally {
    closePeer(peer.socket);
    await own.stop();
  }
  const records = lines.map((line) => JSON.parse(line) as { level: number; msg: string; code?: string; client?: { address: string }; result?: string });
  const malformed = records.filter((record) => record.msg.startsWith('malformed TFTP packet'));
  assert.equal(malformed.length, 20, 'at most 20 warnings per 10 s window');
  assert.ok(malformed.every((record) => record.code === 'TFTP_UNTERMINATED_STRING' && record.client?.address === HOST));
  const done = records.find((record) => record.msg === 'TFTP transfer done');
  assert.ok(done && done.client?.address === HOST && done.result === 'ok');
});

test('the codec client refuses an OACK with options it did not ask for or larger than asked (RFC 2347/2348)', async () => {
  const fakeServer = await openPeer();
  try {
    const serverPort = fakeServer.socket.address().port;
    const cases: Array<[string, string, string]> = [
      ['blksize', '9000', 'blksize'],
      ['multicast', '1', 'multicast'],
    ];
    for (const [name, value, expected] of cases) {
      fakeServer.received.length = 0;
      const pending = tftpGet({ host: HOST, port: serverPort, filename: 'x', options: [['blksize', '1468']], timeoutMs: 500 });
      await fakeServer.waitFor(1, 1000);
      const request = fakeServer.received[0]!;
      assert.equal(request.packet?.opcode, Opcode.RRQ);
      // Answer from the fake server's socket, to the client's port.
      await send(fakeServer.socket, Buffer.from(`\x00\x06${name}\x00${value}\x00`, 'latin1'), request.fromPort);
      await assert.rejects(pending, (error: unknown) => error instanceof TftpClientError && error.code === 'TFTP_BAD_OACK' && error.message.includes(expected));
      await fakeServer.waitFor(2, 1000);
      const refusal = fakeServer.received.find((received) => received.packet?.opcode === Opcode.ERROR)?.packet;
      assert.ok(refusal && refusal.opcode === Opcode.ERROR && refusal.errorCode === 8, 'the client told the server why');
    }
  } finally {
    closePeer(fakeServer.socket);
  }
});
