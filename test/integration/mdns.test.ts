// mDNS discovery: lanboot runs in a network namespace ("box") on a test LAN; an
// independent resolver in another namespace ("phone") finds `lanboot.local` and the web UI's
// `_http._tcp` service. The resolver is written here (hand-built DNS questions to
// 224.0.0.251:5353, RFC 6762; answers parsed per RFC 1035 section 4.1, with name compression),
// so it shares no code with the responder (ciao). It then opens the UI at the address and port
// it resolved. A second box on the same LAN is renamed (RFC 6762 section 9), and its status
// says so.
//
// This file is also the resolver child: run with LANBOOT_MDNS_QUERY=1 inside the phone
// namespace it prints what it found as JSON and exits.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { WebClient } from '../helpers/browser.js';
import { createTestNetwork, type TestNetwork } from '../helpers/netns.js';
import { lanbootMain, runLanbootCli } from '../helpers/supervisor.js';
import { repoRoot, waitFor, type Cleanup } from '../helpers/tools.js';

const MDNS_ADDRESS = '224.0.0.251';
const MDNS_PORT = 5353;
const TYPE = { A: 1, PTR: 12, TXT: 16, SRV: 33, ANY: 255 } as const;

interface DnsRecord {
  name: string;
  type: number;
  ttl: number;
  data: string | { priority: number; weight: number; port: number; target: string } | string[];
}

function encodeName(name: string): Buffer {
  const parts = name.split('.').filter((p) => p !== '');
  return Buffer.concat([...parts.map((p) => Buffer.concat([Buffer.from([Buffer.byteLength(p)]), Buffer.from(p)])), Buffer.from([0])]);
}

/** A query with one question per [name, type]; class IN with the QU bit clear (multicast answers). */
export function buildQuery(questions: [string, number][]): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(questions.length, 4);
  return Buffer.concat([header, ...questions.map(([name, type]) => Buffer.concat([encodeName(name), Buffer.from([type >> 8, type & 0xff, 0, 1])]))]);
}

function readName(msg: Buffer, start: number): { name: string; next: number } {
  const labels: string[] = [];
  let offset = start;
  let next = -1;
  for (let hops = 0; hops < 64; hops++) {
    if (offset >= msg.length) throw new Error('name runs past the message');
    const len = msg[offset]!;
    if (len === 0) {
      if (next < 0) next = offset + 1;
      return { name: labels.join('.'), next };
    }
    if ((len & 0xc0) === 0xc0) {
      if (offset + 1 >= msg.length) throw new Error('truncated pointer');
      if (next < 0) next = offset + 2;
      offset = ((len & 0x3f) << 8) | msg[offset + 1]!;
      continue;
    }
    labels.push(msg.subarray(offset + 1, offset + 1 + len).toString('utf8'));
    offset += 1 + len;
  }
  throw new Error('name compression loop');
}

/** Every resource record of a DNS message (answers, authority, additional). */
export function parseMessage(msg: Buffer): { response: boolean; records: DnsRecord[] } {
  if (msg.length < 12) throw new Error('short message');
  const flags = msg.readUInt16BE(2);
  const counts = [msg.readUInt16BE(4), msg.readUInt16BE(6), msg.readUInt16BE(8), msg.readUInt16BE(10)];
  let offset = 12;
  for (let i = 0; i < counts[0]!; i++) offset = readName(msg, offset).next + 4;
  const records: DnsRecord[] = [];
  const total = counts[1]! + counts[2]! + counts[3]!;
  for (let i = 0; i < total; i++) {
    const { name, next } = readName(msg, offset);
    const type = msg.readUInt16BE(next);
    const ttl = msg.readUInt32BE(next + 4);
    const length = msg.readUInt16BE(next + 8);
    const rdata = next + 10;
    if (rdata + length > msg.length) throw new Error('record runs past the message');
    let data: DnsRecord['data'] = msg.subarray(rdata, rdata + length).toString('hex');
    if (type === TYPE.A && length === 4) data = [...msg.subarray(rdata, rdata + 4)].join('.');
    else if (type === TYPE.PTR) data = readName(msg, rdata).name;
    else if (type === TYPE.SRV) data = { priority: msg.readUInt16BE(rdata), weight: msg.readUInt16BE(rdata + 2), port: msg.readUInt16BE(rdata + 4), target: readName(msg, rdata + 6).name };
    else if (type === TYPE.TXT) {
      const strings: string[] = [];
      for (let o = rdata; o < rdata + length; ) {
        const l = msg[o]!;
        strings.push(msg.subarray(o + 1, o + 1 + l).toString('utf8'));
        o += 1 + l;
      }
      data = strings;
    }
    records.push({ name: name.toLowerCase(), type, ttl, data });
    offset = rdata + length;
  }
  return { response: (flags & 0x8000) !== 0, records };
}

/** The child: asks on the LAN, collects answers for `ms`, then fetches the UI it found. */
async function resolverChild(): Promise<void> {
  const localAddress = process.env.LANBOOT_MDNS_LOCAL!;
  const hostName = process.env.LANBOOT_MDNS_HOST ?? 'lanboot.local';
  const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  await new Promise<void>((resolve) => socket.bind(MDNS_PORT, resolve));
  socket.addMembership(MDNS_ADDRESS, localAddress);
  socket.setMulticastInterface(localAddress);
  const records: DnsRecord[] = [];
  socket.on('message', (msg) => {
    try {
      const parsed = parseMessage(msg);
      if (parsed.response) records.push(...parsed.records);
    } catch {
      // a malformed packet from someone else: ignore
    }
  });
  const query = buildQuery([
    [hostName, TYPE.A],
    ['_http._tcp.local', TYPE.PTR],
  ]);
  for (let i = 0; i < 3; i++) {
    socket.send(query, MDNS_PORT, MDNS_ADDRESS);
    await new Promise((r) => setTimeout(r, 700));
  }
  socket.close();
  const a = records.find((r) => r.type === TYPE.A && r.name === hostName.toLowerCase());
  const ptrs = records.filter((r) => r.type === TYPE.PTR && r.name === '_http._tcp.local').map((r) => r.data as string);
  const srv = records.filter((r) => r.type === TYPE.SRV);
  const txt = records.filter((r) => r.type === TYPE.TXT);
  let health: unknown = null;
  let labelUrls: string[] = [];
  // With two boxes on the LAN both advertise _http._tcp: take the service whose SRV target is
  // the host asked for, or the port would be the other box's.
  const target = srv.find((s) => ptrs.includes(s.name) && (s.data as { target: string }).target.toLowerCase() === hostName.toLowerCase());
  if (a && target) {
    const port = (target.data as { port: number }).port;
    try {
      health = await (await fetch(`http://${a.data as string}:${port}/healthz`)).json();
    } catch (error) {
      health = { error: (error as Error).message };
    }
    if (process.env.LANBOOT_MDNS_LABEL === '1') {
      // First run over the LAN, then the QR label: it must name the box as mDNS does.
      const web = new WebClient(`http://${a.data as string}:${port}`);
      await web.setup('mdns label password');
      const label = await web.get('/label');
      labelUrls = [...label.text.matchAll(/<figcaption class="mono">([^<]+)<\/figcaption>/g)].map((m) => m[1]!);
    }
  }
  process.stdout.write(JSON.stringify({ a: a?.data ?? null, ptrs, srv, txt, health, labelUrls }));
}

if (process.env.LANBOOT_MDNS_QUERY === '1') {
  await resolverChild();
} else {
  const selfPath = fileURLToPath(import.meta.url);

  async function startBox(t: Cleanup, net: TestNetwork, host: string, address: string) {
    const dataDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'lanboot-mdns-'));
    t.after(() => fsp.rm(dataDir, { recursive: true, force: true }));
    const child = net.spawn(host, process.execPath, [lanbootMain, 'serve', '--data', dataDir, '--iscsi-port', '0', '--http-port', '0', '--listen', address, '--interface', 'eth0', '--dhcp', 'off'], {
      cwd: repoRoot,
      env: { ...process.env, NOTIFY_SOCKET: '', LANBOOT_MDNS_RESPONDER: 'ciao' },
    });
    let output = '';
    child.stdout?.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (output += b.toString()));
    const status = await waitFor(
      'lanboot answering mDNS',
      async () => {
        if (child.exitCode !== null) throw new Error(`lanboot exited: ${output.slice(-2000)}`);
        const r = await runLanbootCli(dataDir, ['status', '--json'], 10_000);
        if (r.code !== 0) return undefined;
        const s = JSON.parse(r.stdout) as { http: { port: number }; services: { mdns?: { mode: string; hostname: string | null; serviceName: string | null } } };
        return s.services.mdns?.mode === 'ciao' ? s : undefined;
      },
      30_000,
      200,
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}\n${output.slice(-3000)}`);
    });
    return { dataDir, status, child, output: () => output };
  }

  async function resolve(net: TestNetwork, host: string, localAddress: string, hostName = 'lanboot.local', label = false) {
    const r = await net.run(host, process.execPath, [selfPath], {
      timeoutMs: 30_000,
      env: { ...process.env, LANBOOT_MDNS_QUERY: '1', LANBOOT_MDNS_LOCAL: localAddress, LANBOOT_MDNS_HOST: hostName, LANBOOT_MDNS_LABEL: label ? '1' : '0' },
    });
    assert.equal(r.code, 0, `resolver: ${r.stderr}`);
    return JSON.parse(r.stdout) as { a: string | null; ptrs: string[]; srv: DnsRecord[]; txt: DnsRecord[]; health: unknown; labelUrls: string[] };
  }

  test('a resolver on the LAN finds lanboot.local and the web UI service; a second box is renamed', { timeout: 120_000 }, async (t) => {
    const net = await createTestNetwork(t, {
      hosts: [
        { name: 'box', address: '10.66.0.1/24', defaultRoute: true },
        { name: 'phone', address: '10.66.0.2/24', defaultRoute: true },
        { name: 'box2', address: '10.66.0.3/24', defaultRoute: true },
      ],
    });
    const box = await startBox(t, net, 'box', '10.66.0.1');
    assert.equal(box.status.services.mdns?.hostname, 'lanboot.local');
    assert.equal(box.status.services.mdns?.serviceName, 'lanboot');

    const found = await resolve(net, 'phone', '10.66.0.2', 'lanboot.local', true);
    assert.equal(found.a, '10.66.0.1', `A record: ${JSON.stringify(found)}`);
    assert.ok(found.ptrs.includes('lanboot._http._tcp.local'), `PTR: ${JSON.stringify(found.ptrs)}`);
    const srv = found.srv.find((r) => r.name === 'lanboot._http._tcp.local');
    assert.ok(srv, `SRV: ${JSON.stringify(found.srv)}`);
    assert.deepEqual({ port: (srv.data as { port: number }).port, target: (srv.data as { target: string }).target.toLowerCase() }, { port: box.status.http.port, target: 'lanboot.local' });
    const txt = found.txt.find((r) => r.name === 'lanboot._http._tcp.local');
    assert.ok(txt && (txt.data as string[]).includes('path=/'), `TXT: ${JSON.stringify(found.txt)}`);
    assert.deepEqual(found.health, { ok: true }, 'the UI answers at the resolved address and port');
    assert.deepEqual(found.labelUrls, [`http://lanboot.local:${box.status.http.port}/`, `http://10.66.0.1:${box.status.http.port}/`], 'the QR label names the box as mDNS does');

    // A second lanboot on the same LAN: probing finds the names taken and renames.
    const box2 = await startBox(t, net, 'box2', '10.66.0.3');
    const renamed = box2.status.services.mdns!;
    assert.notEqual(renamed.hostname, 'lanboot.local');
    assert.match(renamed.hostname ?? '', /^lanboot-\(2\)\.local$/);
    assert.equal(renamed.serviceName, 'lanboot (2)');
    const second = await resolve(net, 'phone', '10.66.0.2', renamed.hostname!, true);
    assert.equal(second.a, '10.66.0.3', `renamed box resolves: ${JSON.stringify(second)}`);
    assert.equal(second.labelUrls[0], `http://${renamed.hostname}:${box2.status.http.port}/`, 'the label follows the rename');
    // The first box keeps its name.
    const again = await resolve(net, 'phone', '10.66.0.2');
    assert.equal(again.a, '10.66.0.1');
  });

  test('the DNS parser refuses hostile packets without crashing', () => {
    assert.throws(() => parseMessage(Buffer.alloc(5)), /short/);
    const loop = Buffer.concat([Buffer.from([0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0]), Buffer.from([0xc0, 12])]);
    assert.throws(() => parseMessage(loop), /loop|past/);
  });
}
