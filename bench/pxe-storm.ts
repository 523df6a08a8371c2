// PXE boot-storm benchmark. Not a test: it measures and reports, it never asserts a speed.
//
//   sudo node dist/bench/pxe-storm.js [--clients 100,500] [--rounds 3] [--no-write]
//
// N simulated BIOS PXE clients start at the same instant and each walks what a PC's PXE ROM and
// iPXE do: DHCP DISCOVER -> OFFER -> REQUEST -> ACK (RFC 2131 section 3.1; option 60
// "PXEClient", 93 arch 0, 97 UUID as RFC 4578 and the PXE spec have them), a TFTP read of the
// boot file the ACK named (undionly.kpxe, blksize 1468, RFC 2348), then, for lanboot only, the
// HTTP GET of /boot.ipxe?mac=... that iPXE makes. dnsmasq has no HTTP server, so its clients stop
// after TFTP: its "served" means DHCP + TFTP, lanboot's means DHCP + TFTP + HTTP.
//
// The same run measures lanboot (`lanboot serve --interface eth0 --dhcp full`) and dnsmasq
// (DHCP + TFTP, `--enable-tftp`), each on its own LAN of network namespaces (a bridge, a server
// host, a client host) made by test/helpers/netns.ts, so neither sees the other's DHCP. Each
// storm is run `rounds` times per server (alternating servers), with fresh MACs per round (so
// every storm allocates new leases), and the medians are reported. A second lanboot storm asks
// for TFTP windowsize 16 (RFC 7440); dnsmasq does not grant windowsize (no option in its OACK).
//
// How 100 DHCP clients share one host: one UDP socket per client bound to port 68 is impossible,
// so all clients of a storm share ONE socket bound to 0.0.0.0:68 with SO_BROADCAST, every request
// sets the BROADCAST flag (RFC 2131 section 4.1: the server then answers to 255.255.255.255:68),
// and replies are demultiplexed by xid (and checked against chaddr). Each client then does TFTP
// and HTTP from the address it leased, as a real PC does: the client host holds every address of
// the range in advance (see holdRangeAddresses), because lanboot limits unknown PCs and TFTP
// transfers per client address, and one address for 100 PCs would measure that limit. DHCP retransmits after 1 s, 2 s, 4 s (RFC 2131 section 4.1 wants about 4 s, 8 s, ...;
// shorter here so a lost packet costs less than the storm) and the TFTP client retries after 1 s.
//
// The clients run in a separate Node process inside the client namespace (this script re-invoked
// with PXE_STORM_CLIENT set), so they never share an event loop or CPU accounting with a server.
// Server CPU is utime + stime from /proc/PID/stat (proc(5)) of the server process and its
// descendants, read before and after each storm.
//
// Bounded: every storm has a deadline (clients that miss it count as errors), the whole run has
// one, and every namespace and process is removed in a finally (and by netns.ts's exit hook).
// Results go to stdout and to docs/benchmarks.md under "## PXE boot storm" (only that section).
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  BootpOp,
  DhcpMessageType,
  DhcpOption,
  FLAG_BROADCAST,
  decodeDhcpMessage,
  encodeDhcpMessage,
  encodeUint16List,
  ipv4ToBuffer,
  type DhcpMessage,
} from '../src/dhcp/codec.js';
import http from 'node:http';
import type { TftpOptionList } from '../src/tftp/codec.js';
import { createTestNetwork, type TestNetwork } from '../test/helpers/netns.js';
import { tftpGet } from '../test/tools/tftp-client.js';
import { runLanbootCli, lanbootMain } from '../test/helpers/supervisor.js';
import { processCpuSeconds, repoRoot, requireTools, waitFor } from '../test/helpers/tools.js';
import { replaceBenchmarkSection } from './support/docs-section.js';

const CLIENT_ENV = 'PXE_STORM_CLIENT';
const UNDIONLY = '/usr/lib/ipxe/undionly.kpxe';
const STORM_DEADLINE_MS = 60_000;
const RUN_DEADLINE_MS = 15 * 60_000;

// Not strict: a bench runner may hand every benchmark the same options; others' are ignored.
const { values: args } = parseArgs({
  strict: false,
  options: {
    // One storm size or several, comma-separated: each gets its own rows.
    clients: { type: 'string', default: '100,500' },
    rounds: { type: 'string', default: '3' },
    'no-write': { type: 'boolean', default: false },
    // Writes a V8 CPU profile of the lanboot supervisor to this directory (node --cpu-prof).
    'cpu-prof': { type: 'string' },
  },
});
const CLIENT_COUNTS = String(args.clients)
  .split(',')
  .map((text) => Math.min(1000, Math.max(1, Number(text) || 100)));
const ROUNDS = Math.max(1, Number(args.rounds) || 3);
/** The DHCP range is x.y.1.1 - x.y.RANGE_LAST_OCTET.254; every storm takes fresh leases. */
const RANGE_LAST_OCTET = 24;
const RANGE_ADDRESSES = RANGE_LAST_OCTET * 256 + 254 - 256;
// lanboot runs two storms per round (with and without windowsize), all with fresh MACs.
const ADDRESSES_NEEDED = 2 * ROUNDS * CLIENT_COUNTS.reduce((sum, n) => sum + n, 0);
if (ADDRESSES_NEEDED > RANGE_ADDRESSES) {
  throw new Error(`--clients ${CLIENT_COUNTS.join(',')} x --rounds ${ROUNDS} x 2 lanboot storms needs ${ADDRESSES_NEEDED} addresses, more than the ${RANGE_ADDRESSES} of the DHCP range`);
}

// ---------------------------------------------------------------------------------------------
// The client side (runs inside the client namespace).

interface StormPlan {
  clients: number;
  /** Distinguishes MACs between storms: 02:1b:<tag>:<round>:<index hi>:<index lo>. */
  tag: number;
  round: number;
  tftpOptions: TftpOptionList;
  /** http://server:port, or null (dnsmasq: no HTTP). */
  httpBase: string | null;
  expectedFile: string;
  deadlineMs: number;
}

interface ClientResult {
  mac: string;
  ok: boolean;
  error?: string;
  totalMs: number;
  dhcpMs: number;
  tftpMs: number;
  httpMs: number;
  /** From the client's start until its TFTP transfer was complete (comparable across servers). */
  throughTftpMs: number;
  /** DHCP retransmissions this client needed. */
  dhcpRetries: number;
  windowGranted: string | null;
}

interface StormResult {
  wallMs: number;
  clients: ClientResult[];
}

function macFor(plan: StormPlan, index: number): Buffer {
  return Buffer.from([0x02, 0x1b, plan.tag & 0xff, plan.round & 0xff, (index >> 8) & 0xff, index & 0xff]);
}

function formatMacBytes(mac: Buffer): string {
  return [...mac].map((byte) => byte.toString(16).padStart(2, '0')).join(':');
}

/** Options a BIOS PXE ROM sends (PXE spec 2.1; RFC 4578 sections 2.1-2.3). */
function pxeOptions(uuid: Buffer): Array<[number, Buffer]> {
  return [
    [DhcpOption.MAX_MESSAGE_SIZE, Buffer.from([0x05, 0xc0])], // 1472
    [DhcpOption.PARAMETER_REQUEST_LIST, Buffer.from([1, 2, 3, 5, 6, 11, 12, 13, 15, 16, 17, 18, 43, 54, 60, 66, 67, 128, 129, 130, 131, 132, 133, 134, 135])],
    [DhcpOption.CLIENT_ARCH, encodeUint16List([0])],
    [DhcpOption.CLIENT_NDI, Buffer.from([1, 2, 1])],
    [DhcpOption.CLIENT_UUID, Buffer.concat([Buffer.from([0]), uuid])],
    [DhcpOption.VENDOR_CLASS, Buffer.from('PXEClient:Arch:00000:UNDI:002001')],
  ];
}

class SharedDhcpPort {
  private readonly waiting = new Map<number, { chaddr: Buffer; type: number; resolve: (message: DhcpMessage) => void }>();
  private constructor(private readonly socket: dgram.Socket) {
    socket.on('message', (datagram) => {
      let message: DhcpMessage;
      try {
        message = decodeDhcpMessage(datagram);
      } catch {
        return; // hostile or foreign datagram: ignore, as a client must
      }
      if (message.op !== BootpOp.REPLY) return;
      const waiter = this.waiting.get(message.xid);
      if (!waiter || !waiter.chaddr.equals(message.chaddr)) return;
      const type = message.options.get(DhcpOption.MESSAGE_TYPE)?.[0];
      if (type === DhcpMessageType.NAK) {
        this.waiting.delete(message.xid);
        waiter.resolve(message);
        return;
      }
      if (type !== waiter.type) return;
      this.waiting.delete(message.xid);
      waiter.resolve(message);
    });
  }

  static async open(): Promise<SharedDhcpPort> {
    const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(68, '0.0.0.0', () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.setBroadcast(true);
    socket.setRecvBufferSize(4 << 20);
    return new SharedDhcpPort(socket);
  }

  /** Sends `packet` until a reply of `type` with this xid arrives; 1 s, 2 s, 4 s backoff. */
  async exchange(xid: number, chaddr: Buffer, packet: Buffer, type: number, deadline: number): Promise<{ reply: DhcpMessage; retries: number }> {
    const reply = new Promise<DhcpMessage>((resolve) => this.waiting.set(xid, { chaddr, type, resolve }));
    let retries = 0;
    try {
      for (let waitMs = 1000; ; waitMs = Math.min(waitMs * 2, 4000)) {
        this.socket.send(packet, 67, '255.255.255.255');
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no DHCP ${type === DhcpMessageType.OFFER ? 'OFFER' : 'ACK'} before the deadline`);
        let timer: NodeJS.Timeout | undefined;
        const got = await Promise.race([reply, new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), Math.min(waitMs, left))))]);
        clearTimeout(timer);
        if (got) return { reply: got, retries };
        retries++;
      }
    } finally {
      this.waiting.delete(xid);
    }
  }

  close(): void {
    this.socket.close();
  }
}

/** GET from a chosen local address (fetch cannot pick one without undici's Agent). */
function httpGet(url: string, localAddress: string, deadline: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { localAddress, agent: false, timeout: Math.max(1, deadline - Date.now()) }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        body += chunk;
        if (body.length > 1 << 20) request.destroy(new Error('HTTP body over 1 MiB'));
      });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error('HTTP timeout')));
    request.on('error', reject);
  });
}

async function oneClient(port: SharedDhcpPort, plan: StormPlan, index: number, expected: Buffer, deadline: number): Promise<ClientResult> {
  const chaddr = macFor(plan, index);
  const mac = formatMacBytes(chaddr);
  const uuid = crypto.randomBytes(16);
  const start = performance.now();
  const result: ClientResult = { mac, ok: false, totalMs: 0, dhcpMs: 0, tftpMs: 0, httpMs: 0, throughTftpMs: 0, dhcpRetries: 0, windowGranted: null };
  let step = 'dhcp';
  try {
    const xid = crypto.randomBytes(4).readUInt32BE(0);
    const discover = encodeDhcpMessage({
      op: BootpOp.REQUEST,
      xid,
      flags: FLAG_BROADCAST,
      chaddr,
      options: [[DhcpOption.MESSAGE_TYPE, Buffer.from([DhcpMessageType.DISCOVER])], ...pxeOptions(uuid)],
    });
    const offered = await port.exchange(xid, chaddr, discover, DhcpMessageType.OFFER, deadline);
    const offer = offered.reply;
    const serverId = offer.options.get(DhcpOption.SERVER_ID);
    if (!serverId || serverId.length !== 4) throw new Error('OFFER without a server identifier (option 54)');
    const request = encodeDhcpMessage({
      op: BootpOp.REQUEST,
      xid,
      secs: Math.min(0xffff, Math.floor((performance.now() - start) / 1000)),
      flags: FLAG_BROADCAST,
      chaddr,
      options: [
        [DhcpOption.MESSAGE_TYPE, Buffer.from([DhcpMessageType.REQUEST])],
        [DhcpOption.REQUESTED_IP, ipv4ToBuffer(offer.yiaddr)],
        [DhcpOption.SERVER_ID, serverId],
        ...pxeOptions(uuid),
      ],
    });
    const acked = await port.exchange(xid, chaddr, request, DhcpMessageType.ACK, deadline);
    const ack = acked.reply;
    result.dhcpRetries = offered.retries + acked.retries;
    if (ack.options.get(DhcpOption.MESSAGE_TYPE)?.[0] !== DhcpMessageType.ACK) throw new Error('DHCP NAK');
    if (ack.yiaddr !== offer.yiaddr) throw new Error(`ACK for ${ack.yiaddr}, offered ${offer.yiaddr}`);
    result.dhcpMs = performance.now() - start;

    step = 'tftp';
    const bootFile = ack.file || ack.options.get(DhcpOption.BOOTFILE_NAME)?.toString('latin1').replace(/\0+$/, '') || '';
    if (bootFile !== plan.expectedFile) throw new Error(`boot file "${bootFile}", expected "${plan.expectedFile}"`);
    // PXE spec: the TFTP server is siaddr (next-server), else the DHCP server.
    const tftpServer = ack.siaddr !== '0.0.0.0' ? ack.siaddr : [...serverId].join('.');
    const tftpStart = performance.now();
    // From the leased address: lanboot limits transfers per client address (a PC fetches one
    // file at a time), so a storm from one address would measure that limit, not the server.
    // Nine silent seconds end a transfer, well inside the storm's deadline.
    const transfer = await tftpGet({
      host: tftpServer,
      port: 69,
      localAddress: ack.yiaddr,
      filename: bootFile,
      options: plan.tftpOptions,
      timeoutMs: 1000,
      retries: 9,
      maxBytes: 16 << 20,
    });
    if (!transfer.data.equals(expected)) throw new Error(`TFTP: ${transfer.data.length} bytes differ from ${plan.expectedFile}`);
    result.windowGranted = transfer.oack?.['windowsize'] ?? null;
    result.tftpMs = performance.now() - tftpStart;
    result.throughTftpMs = performance.now() - start;

    if (plan.httpBase) {
      step = 'http';
      const httpStart = performance.now();
      const response = await httpGet(`${plan.httpBase}/boot.ipxe?mac=${encodeURIComponent(mac)}`, ack.yiaddr, deadline);
      const body = response.body;
      if (response.status !== 200) throw new Error(`HTTP ${response.status}: ${body.slice(0, 80)}`);
      if (!body.startsWith('#!ipxe')) throw new Error(`HTTP body is not an iPXE script: ${JSON.stringify(body.slice(0, 40))}`);
      result.httpMs = performance.now() - httpStart;
    }
    result.ok = true;
  } catch (error) {
    result.error = `${step}: ${(error as Error).message}`;
  }
  result.totalMs = performance.now() - start;
  return result;
}

async function clientMain(): Promise<void> {
  const plan = JSON.parse(process.env[CLIENT_ENV]!) as StormPlan;
  const expected = await fsp.readFile(UNDIONLY);
  const port = await SharedDhcpPort.open();
  try {
    const deadline = Date.now() + plan.deadlineMs;
    const start = performance.now();
    const clients = await Promise.all(Array.from({ length: plan.clients }, (_, index) => oneClient(port, plan, index, expected, deadline)));
    const wallMs = Math.max(0, ...clients.filter((c) => c.ok).map((c) => c.totalMs)) || performance.now() - start;
    const out: StormResult = { wallMs, clients };
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } finally {
    port.close();
  }
}

// ---------------------------------------------------------------------------------------------
// The orchestrator (runs in the machine's namespace; servers and clients run in namespaces).

interface Target {
  name: string;
  net: TestNetwork;
  serverAddress: string;
  pid: number;
  httpBase: string | null;
  grantsWindowsize: boolean;
}

/** CPU seconds of a process and all its descendants (proc(5): /proc/PID/task/TID/children). */
function treeCpuSeconds(pid: number): number {
  let total = 0;
  const visit = (p: number): void => {
    try {
      total += processCpuSeconds(p);
      for (const task of fs.readdirSync(`/proc/${p}/task`)) {
        const children = fs.readFileSync(`/proc/${p}/task/${task}/children`, 'utf8').trim();
        for (const child of children ? children.split(' ') : []) visit(Number(child));
      }
    } catch {
      // exited meanwhile
    }
  };
  visit(pid);
  return total;
}

const cleanups: Array<() => unknown> = [];
let interrupted = false;
const cleanupContext = { after: (fn: () => unknown) => void cleanups.push(fn) };

/**
 * Puts every address of the DHCP range (PREFIX.1.1 - PREFIX.RANGE_LAST_OCTET.254, .0 and .255 included) on the client host's eth0
 * before the storms, so each simulated PC can use the address it leased for TFTP and HTTP, as a
 * real PC does, without an `ip addr add` inside the timed path. lanboot limits unknown PCs and
 * TFTP transfers per client address (a spoofing host must not take every slot), so 100 PCs
 * behind one address would measure that limit instead of the server. Neither server probes an
 * address before offering it (lanboot never does; dnsmasq runs with no-ping), so the held
 * addresses do not change what is offered.
 */
async function holdRangeAddresses(net: TestNetwork, prefix: string): Promise<void> {
  const lines: string[] = [];
  // Every address of the range in order: in a /16, x.y.1.255 and x.y.2.0 are host
  // addresses too, and both servers hand them out.
  for (let offset = 256 + 1; offset <= RANGE_LAST_OCTET * 256 + 254; offset++) lines.push(`addr add ${prefix}.${offset >> 8}.${offset & 0xff}/32 dev eth0`);
  await net.runOk('clients', 'ip', ['-batch', '-'], { input: `${lines.join('\n')}\n`, timeoutMs: 60_000 });
}

async function startLanbootTarget(work: string): Promise<Target> {
  const net = await createTestNetwork(cleanupContext, {
    hosts: [
      { name: 'server', address: '10.83.0.1/16' },
      { name: 'clients', address: '10.83.0.2/16', defaultRoute: true },
    ],
  });
  const dataDir = path.join(work, 'lanboot-data');
  await fsp.mkdir(dataDir);
  const env = { ...process.env };
  delete env['NOTIFY_SOCKET'];
  delete env['WATCHDOG_USEC'];
  delete env['LANBOOT_TFTP_PORT'];
  const serve = net.spawn(
    'server',
    process.execPath,
    [...(args['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${String(args['cpu-prof'])}`] : []), lanbootMain, 'serve', '--data', dataDir, '--interface', 'eth0', '--iscsi-port', '0', '--http-port', '0', '--dhcp', 'full', '--dhcp-range', `10.83.1.1-10.83.${RANGE_LAST_OCTET}.254`,
      // Every simulated PC shares the client host's one MAC, so the neighbor table cannot tell
      // them apart: the boot-script owner check (for PCs on the same LAN) would refuse them all.
      '--script-owner-check', 'off'],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let logs = '';
  serve.stdout?.on('data', (b: Buffer) => (logs = (logs + b.toString()).slice(-64 * 1024)));
  serve.stderr?.on('data', (b: Buffer) => (logs = (logs + b.toString()).slice(-64 * 1024)));
  type Status = { http: { port: number }; services: Record<string, { running?: boolean; port?: number }> };
  const status = await waitFor<Status>(
    'lanboot serve to be ready',
    async () => {
      if (serve.exitCode !== null) throw new Error(`lanboot serve exited ${serve.exitCode}:\n${logs.slice(-3000)}`);
      const r = await runLanbootCli(dataDir, ['status', '--json'], 10_000);
      if (r.code !== 0) return undefined;
      const s = JSON.parse(r.stdout) as Status;
      return s.services['dhcp']?.running && s.services['tftp']?.running ? s : undefined;
    },
    60_000,
    250,
  );
  if (status.services['tftp']?.port !== 69) throw new Error(`lanboot TFTP is on port ${status.services['tftp']?.port}, not 69`);
  await holdRangeAddresses(net, '10.83');
  return { name: 'lanboot', net, serverAddress: '10.83.0.1', pid: serve.pid!, httpBase: `http://10.83.0.1:${status.http.port}`, grantsWindowsize: true };
}

async function startDnsmasqTarget(work: string): Promise<Target> {
  const net = await createTestNetwork(cleanupContext, {
    hosts: [
      { name: 'server', address: '10.84.0.1/16' },
      { name: 'clients', address: '10.84.0.2/16', defaultRoute: true },
    ],
  });
  const dir = path.join(work, 'dnsmasq');
  const root = path.join(dir, 'tftp');
  await fsp.mkdir(root, { recursive: true });
  await fsp.copyFile(UNDIONLY, path.join(root, 'undionly.kpxe'));
  const conf = path.join(dir, 'dnsmasq.conf');
  await fsp.writeFile(
    conf,
    [
      'port=0', // no DNS
      'interface=eth0',
      'bind-interfaces',
      `dhcp-range=10.84.1.1,10.84.${RANGE_LAST_OCTET}.254,255.255.0.0,10m`,
      `dhcp-leasefile=${path.join(dir, 'dnsmasq.leases')}`,
      'dhcp-boot=undionly.kpxe',
      'no-ping', // offer at once, as lanboot does, instead of pinging the address first
      'dhcp-lease-max=4000',
      'enable-tftp',
      `tftp-root=${root}`,
      'tftp-max=1000', // default 50 would throttle 100 clients; not what a fair comparison wants
      'quiet-dhcp',
      'quiet-tftp',
      'user=root',
      '',
    ].join('\n'),
  );
  const child = net.spawn('server', 'dnsmasq', [`--conf-file=${conf}`, '--keep-in-foreground', '--log-facility=-', `--pid-file=${path.join(dir, 'dnsmasq.pid')}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-8192)));
  child.stdout?.resume();
  await waitFor(
    'dnsmasq to start',
    async () => {
      if (child.exitCode !== null) throw new Error(`dnsmasq exited ${child.exitCode}: ${stderr}`);
      return /DHCP, IP range/.test(stderr) ? true : undefined;
    },
    10_000,
  );
  await holdRangeAddresses(net, '10.84');
  return { name: 'dnsmasq', net, serverAddress: '10.84.0.1', pid: child.pid!, httpBase: null, grantsWindowsize: false };
}

interface StormRow {
  clients: number;
  target: string;
  variant: string;
  round: number;
  wallMs: number;
  /** Time until every served client had its boot file: the part dnsmasq also does. */
  throughTftpWallMs: number;
  served: number;
  errors: string[];
  p50Ms: number;
  p90Ms: number;
  dhcpP50Ms: number;
  tftpP50Ms: number;
  tftpP90Ms: number;
  httpP50Ms: number;
  dhcpRetries: number;
  cpuSeconds: number;
  windowGranted: string;
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))]!;
}

async function runStorm(target: Target, variant: string, tftpOptions: TftpOptionList, tag: number, round: number, clients: number): Promise<StormRow> {
  const plan: StormPlan = {
    clients,
    tag,
    round,
    tftpOptions,
    httpBase: target.httpBase,
    expectedFile: 'undionly.kpxe',
    deadlineMs: STORM_DEADLINE_MS,
  };
  const cpuBefore = treeCpuSeconds(target.pid);
  const child = target.net.spawn('clients', process.execPath, [fileURLToPath(import.meta.url)], {
    env: { ...process.env, [CLIENT_ENV]: JSON.stringify(plan) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4096)));
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), STORM_DEADLINE_MS + 15_000);
    child.once('exit', (exitCode) => {
      clearTimeout(timer);
      resolve(exitCode);
    });
  });
  const cpuSeconds = treeCpuSeconds(target.pid) - cpuBefore;
  if (code !== 0) throw new Error(`storm client process exited ${code}: ${stderr}`);
  const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as StormResult;
  const ok = result.clients.filter((c) => c.ok);
  const windows = new Set(ok.map((c) => c.windowGranted ?? 'none'));
  return {
    clients,
    target: target.name,
    variant,
    round,
    wallMs: result.wallMs,
    throughTftpWallMs: Math.max(0, ...ok.map((c) => c.throughTftpMs)),
    served: ok.length,
    errors: result.clients.filter((c) => !c.ok).map((c) => `${c.mac} ${c.error}`),
    p50Ms: percentile(ok.map((c) => c.totalMs), 0.5),
    p90Ms: percentile(ok.map((c) => c.totalMs), 0.9),
    dhcpP50Ms: percentile(ok.map((c) => c.dhcpMs), 0.5),
    tftpP50Ms: percentile(ok.map((c) => c.tftpMs), 0.5),
    tftpP90Ms: percentile(ok.map((c) => c.tftpMs), 0.9),
    httpP50Ms: percentile(ok.map((c) => c.httpMs), 0.5),
    dhcpRetries: result.clients.reduce((sum, c) => sum + c.dhcpRetries, 0),
    cpuSeconds,
    windowGranted: [...windows].join('/'),
  };
}

const fmt = (ms: number): string => (Number.isNaN(ms) ? '–' : ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));
const median = (values: number[]): number => percentile(values, 0.5);

interface Summary {
  clients: number;
  target: string;
  variant: string;
  rows: StormRow[];
  wallMs: number;
  throughTftpWallMs: number;
  p50Ms: number;
  p90Ms: number;
  dhcpP50Ms: number;
  tftpP50Ms: number;
  tftpP90Ms: number;
  httpP50Ms: number;
  cpuMs: number;
  served: string;
  errors: number;
  dhcpRetries: number;
  windowGranted: string;
}

function summarize(rows: StormRow[]): Summary {
  const first = rows[0]!;
  return {
    clients: first.clients,
    target: first.target,
    variant: first.variant,
    rows,
    wallMs: median(rows.map((r) => r.wallMs)),
    throughTftpWallMs: median(rows.map((r) => r.throughTftpWallMs)),
    p50Ms: median(rows.map((r) => r.p50Ms)),
    p90Ms: median(rows.map((r) => r.p90Ms)),
    dhcpP50Ms: median(rows.map((r) => r.dhcpP50Ms)),
    tftpP50Ms: median(rows.map((r) => r.tftpP50Ms)),
    tftpP90Ms: median(rows.map((r) => r.tftpP90Ms)),
    httpP50Ms: median(rows.map((r) => r.httpP50Ms)),
    cpuMs: median(rows.map((r) => r.cpuSeconds * 1000)),
    served: rows.map((r) => r.served).join(' / '),
    errors: rows.reduce((sum, r) => sum + r.errors.length, 0),
    dhcpRetries: rows.reduce((sum, r) => sum + r.dhcpRetries, 0),
    windowGranted: [...new Set(rows.map((r) => r.windowGranted))].join('/'),
  };
}

function dnsmasqVersion(): string {
  try {
    const out = execFileSync('dnsmasq', ['--version'], { encoding: 'utf8' });
    return out.match(/version (\S+)/)?.[1] ?? '?';
  } catch {
    return '?';
  }
}

function renderSection(summaries: Summary[], loadStart: string, dnsmasqVer: string, fileSize: number): string {
  const cpuModel = os.cpus()[0]?.model ?? 'unknown CPU';
  const byKey = (clients: number, target: string, variant: string) => summaries.find((s) => s.clients === clients && s.target === target && s.variant === variant);
  const lines: string[] = [];
  lines.push('## PXE boot storm');
  lines.push('');
  lines.push(
    `Measured by \`bench/pxe-storm.ts\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${os.cpus().length} cores (${cpuModel}), ` +
      `Node ${process.version}, dnsmasq ${dnsmasqVer}. Load average at the start ${loadStart}, at the end ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} ` +
      '(the machine is shared with other work: compare rows of one run, not runs). Not a test: nothing here is asserted.',
  );
  lines.push('');
  lines.push(
    `${CLIENT_COUNTS.join(' or ')} simulated BIOS PXE clients start at once, each with its own MAC, on a LAN of network namespaces (veth + bridge): ` +
      'DHCP DISCOVER → OFFER → REQUEST → ACK (options 60 `PXEClient`, 93 arch 0, 97 UUID), TFTP of the boot file the ACK names ' +
      `(undionly.kpxe, ${fileSize} bytes, blksize 1468), then for lanboot the HTTP GET of \`/boot.ipxe?mac=...\` that iPXE makes ` +
      '(an unknown PC: the enrollment script). **dnsmasq has no HTTP server: its clients stop after TFTP**, so its rows cover ' +
      'DHCP + TFTP only and lanboot does one step more. lanboot: `lanboot serve --interface eth0 --dhcp full` (the whole supervisor, pino ' +
      'logs at the default level). dnsmasq: DHCP + `enable-tftp`, `dhcp-boot=undionly.kpxe`, `no-ping`, `tftp-max=1000` (its default 50 would ' +
      'throttle the storm), `quiet-dhcp`/`quiet-tftp`. Each server on its own LAN; fresh MACs every round (every storm allocates new leases). ' +
      `${ROUNDS} rounds per row, medians. All clients run in one Node process in a client namespace: one shared UDP socket on port 68 with ` +
      'SO_BROADCAST, the BROADCAST flag set in every request (RFC 2131 4.1: replies go to 255.255.255.255), replies demultiplexed by xid; ' +
      'each client then does TFTP and HTTP from the address it leased (the client host holds the whole range on its interface in advance, ' +
      'since lanboot limits unknown PCs and TFTP transfers per client address). lanboot\'s TFTP is the supervisor\'s own (port 69); the ' +
      'TFTP reader is the project\'s codec client (test/tools/tftp-client.ts), bound to the leased address. DHCP retransmits after 1, 2, 4 s. Server CPU = utime + stime of the server ' +
      'process and its children (/proc/PID/stat) during the storm.',
  );
  lines.push('');
  lines.push('| clients | server | TFTP options | all served (ms) | all through TFTP (ms) | per client p50 | p90 | DHCP p50 | TFTP p50 | TFTP p90 | HTTP p50 | server CPU ms / storm | served per round | errors | DHCP retransmits | windowsize granted |');
  lines.push('|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|');
  for (const s of summaries) {
    lines.push(
      `| ${s.clients} | ${s.target} | ${s.variant} | ${fmt(s.wallMs)} | ${fmt(s.throughTftpWallMs)} | ${fmt(s.p50Ms)} | ${fmt(s.p90Ms)} | ${fmt(s.dhcpP50Ms)} | ${fmt(s.tftpP50Ms)} | ${fmt(s.tftpP90Ms)} | ${s.target === 'dnsmasq' ? 'no HTTP' : fmt(s.httpP50Ms)} | ${fmt(s.cpuMs)} | ${s.served} | ${s.errors} | ${s.dhcpRetries} | ${s.windowGranted} |`,
    );
  }
  lines.push('');
  const ratio = (a: number | undefined, b: number | undefined): string => (a && b ? (a / b).toFixed(2) : '–');
  lines.push(
    'Columns: "all served" = from the start of the storm until the last client finished its last step; "all through TFTP" = until the last ' +
      'client had its boot file; per-client p50/p90 = each client\'s own time for all its steps; DHCP = DISCOVER until ACK; ' +
      'server CPU has the 10 ms resolution of /proc clock ticks.',
  );
  lines.push('');
  lines.push('Ratios (medians):');
  lines.push('');
  for (const clients of CLIENT_COUNTS) {
  const lanbootPlain = byKey(clients, 'lanboot', 'blksize 1468');
  const lanbootWindow = byKey(clients, 'lanboot', 'blksize 1468, windowsize 16');
  const dnsmasqPlain = byKey(clients, 'dnsmasq', 'blksize 1468');
  lines.push(
    `- ${clients} clients: lanboot (DHCP + TFTP + HTTP) / dnsmasq (DHCP + TFTP), time until all served: **${ratio(lanbootPlain?.wallMs, dnsmasqPlain?.wallMs)}**; ` +
      `until all had their boot file (DHCP + TFTP, the same work for both): **${ratio(lanbootPlain?.throughTftpWallMs, dnsmasqPlain?.throughTftpWallMs)}**; ` +
      `per-client p50: ${ratio(lanbootPlain?.p50Ms, dnsmasqPlain?.p50Ms)}; DHCP p50: ${ratio(lanbootPlain?.dhcpP50Ms, dnsmasqPlain?.dhcpP50Ms)}; ` +
      `TFTP p50: ${ratio(lanbootPlain?.tftpP50Ms, dnsmasqPlain?.tftpP50Ms)}; server CPU per storm: ${ratio(lanbootPlain?.cpuMs, dnsmasqPlain?.cpuMs)}; ` +
      `lanboot's HTTP script step alone (all served - all through TFTP): ${fmt((lanbootPlain?.wallMs ?? NaN) - (lanbootPlain?.throughTftpWallMs ?? NaN))} ms, HTTP p50 ${fmt(lanbootPlain?.httpP50Ms ?? NaN)} ms.`,
  );
  lines.push(
    `- ${clients} clients: lanboot TFTP with windowsize 16 / without (same storm): TFTP p50 ${ratio(lanbootWindow?.tftpP50Ms, lanbootPlain?.tftpP50Ms)}, ` +
      `all served ${ratio(lanbootWindow?.wallMs, lanbootPlain?.wallMs)}, server CPU ${ratio(lanbootWindow?.cpuMs, lanbootPlain?.cpuMs)}. ` +
      'dnsmasq grants no windowsize, so it has no windowsize row. Over a veth bridge the RTT is tiny, so lock-step costs little here; ' +
      'single-transfer numbers with and without windowsize (and with added ACK latency) are in the TFTP section.',
  );
  }
  lines.push('');
  lines.push('Per round (all served ms / CPU ms / errors):');
  lines.push('');
  for (const s of summaries) {
    lines.push(`- ${s.clients} clients, ${s.target}, ${s.variant}: ${s.rows.map((r) => `${fmt(r.wallMs)} / ${fmt(r.cpuSeconds * 1000)} / ${r.errors.length}`).join('; ')}`);
  }
  const firstErrors = summaries.flatMap((s) => s.rows.flatMap((r) => r.errors.map((e) => `${s.clients} clients, ${s.target} ${s.variant} round ${r.round}: ${e}`))).slice(0, 5);
  if (firstErrors.length) {
    lines.push('');
    lines.push('First errors:');
    lines.push('');
    for (const e of firstErrors) lines.push(`- ${e}`);
  }
  lines.push('');
  lines.push('Reproduce (as root): `npx tsc -p tsconfig.json && node dist/bench/pxe-storm.js [--clients 100,500] [--rounds 3] [--no-write]`.');
  lines.push('');
  return lines.join('\n');
}


async function orchestrate(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench/pxe-storm needs root (network namespaces, DHCP on 67/68, TFTP on 69)');
  requireTools('ip', 'dnsmasq');
  if (!fs.existsSync(lanbootMain)) throw new Error(`${lanbootMain} is missing: build first (npx tsc -p tsconfig.json)`);
  const loadStart = os.loadavg().map((l) => l.toFixed(1)).join(' ');
  const work = await fsp.mkdtemp(path.join(os.tmpdir(), 'lanboot-bench-pxe-'));
  const runTimer = setTimeout(() => {
    process.stderr.write(`pxe-storm: the whole run passed ${RUN_DEADLINE_MS / 60000} min; stopping\n`);
    process.kill(process.pid, 'SIGTERM');
  }, RUN_DEADLINE_MS);
  runTimer.unref();
  const onSignal = (): void => {
    interrupted = true;
    process.stderr.write('pxe-storm: interrupted; removing namespaces and processes\n');
    void cleanupAll(work).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await fsp.chmod(work, 0o755);
    const lanboot = await startLanbootTarget(work);
    const dnsmasq = await startDnsmasqTarget(work);
    const variants: Array<[Target, string, TftpOptionList, number]> = [
      [lanboot, 'blksize 1468', [['blksize', '1468']], 1],
      [lanboot, 'blksize 1468, windowsize 16', [['blksize', '1468'], ['windowsize', '16']], 2],
      [dnsmasq, 'blksize 1468', [['blksize', '1468']], 3],
    ];
    const rowsByKey = new Map<number, StormRow[]>();
    const keys: number[] = [];
    for (const [countIndex, clients] of CLIENT_COUNTS.entries()) {
      for (let round = 1; round <= ROUNDS; round++) {
        // Alternate the servers within a round so a slow moment of the shared machine hits both.
        for (const [target, variant, options, variantTag] of variants) {
          // The tag is part of every MAC: distinct per storm size and variant.
          const tag = countIndex * 16 + variantTag;
          const row = await runStorm(target, variant, options, tag, round, clients);
          if (!rowsByKey.has(tag)) keys.push(tag);
          rowsByKey.set(tag, [...(rowsByKey.get(tag) ?? []), row]);
          process.stderr.write(
            `${clients} clients round ${round} ${target.name.padEnd(8)} ${variant.padEnd(28)} all served ${fmt(row.wallMs)} ms, through TFTP ${fmt(row.throughTftpWallMs)} ms, p50 ${fmt(row.p50Ms)}, ` +
              `served ${row.served}/${clients}, CPU ${fmt(row.cpuSeconds * 1000)} ms${row.errors.length ? `, first error: ${row.errors[0]}` : ''}\n`,
          );
        }
      }
    }
    const summaries = keys.map((tag) => summarize(rowsByKey.get(tag)!));
    const section = renderSection(summaries, loadStart, dnsmasqVersion(), (await fsp.stat(UNDIONLY)).size);
    process.stdout.write(`${section}\n`);
    if (!args['no-write']) await replaceBenchmarkSection(repoRoot, 'PXE boot storm', section);
  } finally {
    clearTimeout(runTimer);
    await cleanupAll(work);
  }
}

async function cleanupAll(work: string): Promise<void> {
  // Networks last-in first-out; each kills its processes, then deletes its namespaces.
  while (cleanups.length) {
    try {
      await cleanups.pop()!();
    } catch (error) {
      process.stderr.write(`pxe-storm cleanup: ${(error as Error).message}\n`);
    }
  }
  await fsp.rm(work, { recursive: true, force: true });
}

if (process.env[CLIENT_ENV]) await clientMain();
else {
  await orchestrate().catch((error: unknown) => {
    // A storm cut short by SIGINT/SIGTERM fails on its way out; the signal handler cleans up.
    if (!interrupted) throw error;
  });
}
