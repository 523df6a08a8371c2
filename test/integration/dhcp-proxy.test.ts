// proxyDHCP next to a home router (dnsmasq, DHCP only) on a LAN made of network namespaces:
//   router 10.77.0.1 (dnsmasq, range .100-.150)   lanboot 10.77.0.2 (proxy mode)
//   pc     (no address: udhcpc / dhclient)         pxe 10.77.0.160 (raw PXE-like packets, detect)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  BootpOp,
  DhcpMessageType,
  DhcpOption,
  encodeDhcpMessage,
  encodeUint16List,
  ipv4ToBuffer,
  parseMac,
  type DhcpMessage,
} from '../../src/dhcp/codec.js';
import { createTestNetwork, type TestNetwork } from '../helpers/netns.js';
import { requireTools } from '../helpers/tools.js';
import { CHILD_SCRIPT, runDetect, runDhclient, runUdhcpc, sendPackets, startDnsmasq, startLanbootDhcp, type RunningChild } from './dhcp-harness.js';

const ROUTER = '10.77.0.1';
const LANBOOT = '10.77.0.2';
const PXE_HOST = '10.77.0.160';
const PXE_MAC = '52:54:00:77:01:60';

let net: TestNetwork;
/** A second LAN on lanboot's eth1, where lanboot must not answer (it serves eth0 only). */
let otherLan: TestNetwork;
let dir: string;
let lanboot: RunningChild;

// One network for the file: building it and starting dnsmasq costs seconds.
const cleanups: Array<() => unknown> = [];
before(async () => {
  requireTools('ip', 'dnsmasq', 'busybox', 'dhclient');
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'lanboot-dhcp-proxy-'));
  cleanups.push(() => fsp.rm(dir, { recursive: true, force: true }));
  net = await createTestNetwork({ after: (fn) => cleanups.push(fn) }, {
    hosts: [
      { name: 'router', address: `${ROUTER}/24`, defaultRoute: true },
      // No route on lanboot's side: its sockets are bound to eth0 (SO_BINDTODEVICE, from the
      // addon), so its broadcasts leave through eth0 without one.
      { name: 'lanboot', address: `${LANBOOT}/24` },
      { name: 'pc' },
      { name: 'pxe', address: `${PXE_HOST}/24`, defaultRoute: true, mac: PXE_MAC },
      { name: 'box2', address: '10.77.0.3/24' },
    ],
  });
  otherLan = await createTestNetwork({ after: (fn) => cleanups.push(fn) }, {
    hosts: [{ name: 'stranger', address: '10.88.0.50/24', defaultRoute: true }],
  });
  await net.addInterface('lanboot', { name: 'eth1', lan: otherLan, address: '10.88.0.2/24' });
  await startDnsmasq(net, 'router', dir, '10.77.0.100,10.77.0.150');
  lanboot = await startLanbootDhcp(net, 'lanboot', { mode: 'proxy', interfaceName: 'eth0', bindMode: 'interface', boot: { httpPort: 8080 } });
  assert.equal(lanboot.events[0]?.event, 'ready', JSON.stringify(lanboot.events) + lanboot.stderr());
});
after(async () => {
  // Reverse order: network (kills every process in it) before the temp dir.
  for (const fn of cleanups.reverse()) await fn();
});

function pxeDiscover(options: { arch: number; vendorClass: string; userClass?: string; ipxe?: boolean; type?: number; ciaddr?: string }): { packet: Buffer; xid: number } {
  const xid = crypto.randomBytes(4).readUInt32BE(0);
  const list: Array<[number, Buffer]> = [
    [DhcpOption.MESSAGE_TYPE, Buffer.from([options.type ?? DhcpMessageType.DISCOVER])],
    [DhcpOption.MAX_MESSAGE_SIZE, Buffer.from([0x04, 0xec])],
    [DhcpOption.PARAMETER_REQUEST_LIST, Buffer.from([1, 3, 6, 43, 54, 60, 66, 67, 97])],
    [DhcpOption.CLIENT_ARCH, encodeUint16List([options.arch])],
    [DhcpOption.CLIENT_NDI, Buffer.from([1, 2, 1])],
    [DhcpOption.CLIENT_UUID, Buffer.concat([Buffer.from([0]), Buffer.alloc(16, 0x5a)])],
    [DhcpOption.VENDOR_CLASS, Buffer.from(options.vendorClass)],
  ];
  if (options.userClass) list.push([DhcpOption.USER_CLASS, Buffer.from(options.userClass)]);
  if (options.ipxe) list.push([DhcpOption.IPXE_ENCAP, Buffer.from([0x13, 0x01, 0x01, 0x11, 0x01, 0x01])]);
  return {
    xid,
    packet: encodeDhcpMessage({ op: BootpOp.REQUEST, xid, flags: 0x8000, ciaddr: options.ciaddr ?? '0.0.0.0', chaddr: parseMac(PXE_MAC), options: list }),
  };
}

function option(message: DhcpMessage, code: number): string | undefined {
  return message.options.get(code)?.toString('latin1');
}

test('a PXE BIOS client gets its address from the router and undionly.kpxe from lanboot', async () => {
  const { packet, xid } = pxeDiscover({ arch: 0, vendorClass: 'PXEClient:Arch:00000:UNDI:002001' });
  const replies = (await sendPackets(net, 'pxe', [packet])).filter((r) => r.message.xid === xid);
  const fromRouter = replies.filter((r) => r.from === ROUTER);
  const fromLanboot = replies.filter((r) => r.from === LANBOOT);
  assert.equal(fromRouter.length, 1, 'one offer from dnsmasq');
  assert.equal(fromLanboot.length, 1, 'one proxy offer from lanboot');
  const routerOffer = fromRouter[0]!.message;
  assert.match(routerOffer.yiaddr, /^10\.77\.0\.(1[0-4]\d|150)$/);

  const proxy = fromLanboot[0]!.message;
  assert.equal(proxy.op, BootpOp.REPLY);
  assert.equal(proxy.yiaddr, '0.0.0.0', 'a proxy never hands out an address');
  assert.equal(proxy.siaddr, LANBOOT);
  assert.equal(proxy.file, 'undionly.kpxe');
  assert.equal(proxy.options.get(DhcpOption.MESSAGE_TYPE)?.[0], DhcpMessageType.OFFER);
  assert.deepEqual(proxy.options.get(DhcpOption.SERVER_ID), ipv4ToBuffer(LANBOOT));
  assert.equal(option(proxy, DhcpOption.VENDOR_CLASS), 'PXEClient');
  assert.deepEqual([...proxy.options.get(DhcpOption.VENDOR_SPECIFIC)!], [6, 1, 8, 255]);
  assert.deepEqual(proxy.options.get(DhcpOption.CLIENT_UUID), Buffer.concat([Buffer.from([0]), Buffer.alloc(16, 0x5a)]));
  assert.equal(proxy.options.has(DhcpOption.LEASE_TIME), false);

  const event = await lanboot.waitEvent((e) => e.event === 'pxe-request' && e['step'] === 'dhcp-discover' && e['arch'] === 0, 'pxe-request event');
  assert.equal(event['mac'], PXE_MAC);
  assert.equal(event['vendorClass'], 'PXEClient:Arch:00000:UNDI:002001');
  assert.equal(event['stage'], 'pxe-bios');
});

test('UEFI x64 gets snponly.efi; HTTP boot gets a URL and HTTPClient; iPXE gets the script', async () => {
  const uefi = pxeDiscover({ arch: 7, vendorClass: 'PXEClient:Arch:00007:UNDI:003000' });
  const http = pxeDiscover({ arch: 16, vendorClass: 'HTTPClient:Arch:00016:UNDI:003000' });
  const ipxe = pxeDiscover({ arch: 0, vendorClass: 'PXEClient:Arch:00000:UNDI:002001', userClass: 'iPXE', ipxe: true });
  const replies = (await sendPackets(net, 'pxe', [uefi.packet, http.packet, ipxe.packet])).filter((r) => r.from === LANBOOT);
  const byXid = (xid: number) => replies.find((r) => r.message.xid === xid)?.message;
  assert.equal(byXid(uefi.xid)?.file, 'snponly.efi');
  assert.equal(byXid(http.xid)?.file, `http://${LANBOOT}:8080/ipxe/snponly.efi`);
  assert.equal(option(byXid(http.xid)!, DhcpOption.VENDOR_CLASS), 'HTTPClient');
  assert.equal(option(byXid(http.xid)!, DhcpOption.BOOTFILE_NAME), `http://${LANBOOT}:8080/ipxe/snponly.efi`);
  assert.equal(byXid(ipxe.xid)?.file, `http://${LANBOOT}:8080/boot.ipxe`);
  await lanboot.waitEvent((e) => e.event === 'pxe-request' && e['stage'] === 'ipxe' && e['userClass'] === 'iPXE', 'iPXE event');
});

test('ProxyDHCPREQUEST on port 4011 gets a unicast ACK with the boot file', async () => {
  const { packet, xid } = pxeDiscover({ arch: 0, vendorClass: 'PXEClient:Arch:00000:UNDI:002001', type: DhcpMessageType.REQUEST, ciaddr: PXE_HOST });
  const replies = await sendPackets(net, 'pxe', [packet], { address: LANBOOT, port: 4011, bindPort: 4011 });
  assert.equal(replies.length, 1);
  const ack = replies[0]!;
  assert.equal(ack.from, LANBOOT);
  assert.equal(ack.message.xid, xid);
  assert.equal(ack.message.options.get(DhcpOption.MESSAGE_TYPE)?.[0], DhcpMessageType.ACK);
  assert.equal(ack.message.yiaddr, '0.0.0.0');
  assert.equal(ack.message.ciaddr, PXE_HOST);
  assert.equal(ack.message.file, 'undionly.kpxe');
  await lanboot.waitEvent((e) => e.event === 'pxe-request' && e['step'] === 'proxy-request', 'proxy-request event');
});

test('ordinary clients: udhcpc and dhclient get their address from dnsmasq only', async () => {
  const before = lanboot.events.filter((e) => e.event === 'pxe-request').length;
  const udhcpc = await runUdhcpc(net, 'pc', dir);
  assert.equal(udhcpc['serverid'], ROUTER);
  assert.match(udhcpc['ip'] ?? '', /^10\.77\.0\.\d+$/);
  assert.equal(udhcpc['subnet'], '255.255.255.0');
  assert.equal(udhcpc['boot_file'] ?? '', '');
  const dhclient = await runDhclient(net, 'pc', dir);
  assert.equal(dhclient['serverid'], ROUTER);
  assert.match(dhclient['ip'] ?? '', /^10\.77\.0\.\d+$/);
  // A PC that is not network booting is none of lanboot's business.
  assert.equal(lanboot.events.filter((e) => e.event === 'pxe-request').length, before);
});

test('detect sees dnsmasq (offers an address) and lanboot (proxy, PXE)', async () => {
  // From the PC without address or route: the interface-bound socket still broadcasts.
  const servers = await runDetect(net, 'pc', { timeoutMs: 2000 });
  const router = servers.find((s) => s['serverId'] === ROUTER);
  const proxy = servers.find((s) => s['serverId'] === LANBOOT);
  assert.ok(router, JSON.stringify(servers));
  assert.equal(router['offersAddress'], true);
  assert.equal(router['pxe'], false);
  assert.ok(proxy, JSON.stringify(servers));
  assert.equal(proxy['offersAddress'], false);
  assert.equal(proxy['pxe'], true);
  assert.equal(proxy['bootFile'], 'undionly.kpxe');
  assert.equal(servers.length, 2);
});

test('the supervisor service: proxy on start, detection on request through the local API', async () => {
  // A second lanboot box (box2) on the same LAN: it must report the router and lanboot's proxy
  // (a PXE server: two proxies fight over the PCs) but not itself.
  const result = await net.runOk('box2', process.execPath, [CHILD_SCRIPT, 'service', JSON.stringify({ dhcp: 'proxy', dbFile: path.join(dir, 'box2.db') })], { timeoutMs: 30_000 });
  const lines = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines[0]?.['event'], 'ready', result.stdout + result.stderr);
  const api = (p: string) => lines.find((l) => l['event'] === 'api' && l['path'] === p) as { status: number; body: Record<string, unknown> } | undefined;
  const detect = api('/api/v1/dhcp/detect');
  assert.equal(detect?.status, 200);
  const servers = detect!.body['servers'] as Array<Record<string, unknown>>;
  assert.deepEqual(servers.map((s) => s['serverId']).sort(), [ROUTER, LANBOOT]);
  assert.equal(servers.find((s) => s['serverId'] === LANBOOT)?.['pxe'], true);
  const status = api('/api/v1/dhcp')!.body;
  assert.equal(status['mode'], 'proxy');
  assert.equal(status['serverAddress'], '10.77.0.3');
  assert.equal(status['running'], true);
  assert.deepEqual(api('/api/v1/dhcp/leases')?.body, []);
  assert.match(result.stderr, /another server on this LAN answers PXE clients/);
});

test('bound to eth0: a PXE client on the LAN of eth1 gets no answer', async () => {
  const { packet, xid } = pxeDiscover({ arch: 0, vendorClass: 'PXEClient:Arch:00000:UNDI:002001' });
  const replies = await sendPackets(otherLan, 'stranger', [packet]);
  assert.deepEqual(replies.filter((r) => r.message.xid === xid), []);
  // The same packet on eth0's LAN is answered: the difference is the interface only.
  const onLan = await sendPackets(net, 'pxe', [packet]);
  assert.equal(onLan.filter((r) => r.from === LANBOOT && r.message.xid === xid).length, 1);
});

test('malformed and truncated packets get no answer and do not crash the server', async () => {
  const good = pxeDiscover({ arch: 0, vendorClass: 'PXEClient:Arch:00000:UNDI:002001' }).packet;
  const dropsBefore = lanboot.events.filter((e) => e.event === 'dropped').length;
  const bad: Buffer[] = [
    Buffer.alloc(0),
    good.subarray(0, 100),
    good.subarray(0, 239),
    good.subarray(0, 250), // cut inside an option
    Buffer.concat([good.subarray(0, 240), Buffer.from([0x3c, 0xff, 0x41])]), // length past the end
    Buffer.concat([good.subarray(0, 236), Buffer.from([1, 2, 3, 4]), good.subarray(240)]), // bad cookie
    Buffer.concat([good.subarray(0, 240), Buffer.from([0x34, 0x01, 0x01, 0xff])]), // overload, no end in file
    Buffer.alloc(9000, 0x01), // too large
    crypto.randomBytes(400),
  ];
  // Each to 67 and 4011; waitMs long enough for any (wrong) answer to arrive.
  const replies67 = await sendPackets(net, 'pxe', bad, { waitMs: 1000 });
  assert.deepEqual(replies67.filter((r) => r.from === LANBOOT), []);
  const replies4011 = await sendPackets(net, 'pxe', bad, { address: LANBOOT, port: 4011, bindPort: 4011, waitMs: 1000 });
  assert.deepEqual(replies4011, []);
  // Datagrams of 9000 bytes do not fit the veth MTU of 1500 and fragments reassemble; every
  // one but the random one must be counted as dropped (the random one may fail op checks too).
  const drops = await lanboot.waitEvent(
    () => lanboot.events.filter((e) => e.event === 'dropped').length - dropsBefore >= 2 * (bad.length - 1),
    'dropped events',
  );
  assert.ok(drops);
  // Still alive and still answering.
  const { packet, xid } = pxeDiscover({ arch: 9, vendorClass: 'PXEClient:Arch:00009:UNDI:003000' });
  const after = await sendPackets(net, 'pxe', [packet]);
  assert.equal(after.find((r) => r.from === LANBOOT && r.message.xid === xid)?.message.file, 'snponly.efi');
  assert.equal(lanboot.process.exitCode, null);
});

test('500 randomly corrupted PXE packets: the server survives and every answer is a proper proxy reply', async () => {
  const seeds = [
    pxeDiscover({ arch: 0, vendorClass: 'PXEClient:Arch:00000:UNDI:002001' }).packet,
    pxeDiscover({ arch: 7, vendorClass: 'PXEClient:Arch:00007:UNDI:003000', userClass: 'iPXE', ipxe: true }).packet,
  ];
  const packets = Array.from({ length: 500 }, (_, i) => {
    const packet = Buffer.from(seeds[i % 2]!);
    for (let flips = 0; flips < 1 + (i % 6); flips++) packet[236 + crypto.randomInt(packet.length - 236)] = crypto.randomInt(256);
    return i % 4 === 0 ? packet.subarray(0, crypto.randomInt(packet.length)) : packet;
  });
  const replies = (await sendPackets(net, 'pxe', packets, { waitMs: 2000 })).filter((r) => r.from === LANBOOT);
  // Many corruptions hit padding or values and leave a valid request: those are answered.
  assert.ok(replies.length > 0, 'some corrupted packets are still valid and answered');
  for (const reply of replies) {
    assert.equal(reply.message.op, BootpOp.REPLY);
    assert.equal(reply.message.yiaddr, '0.0.0.0');
    assert.deepEqual(reply.message.options.get(DhcpOption.SERVER_ID), ipv4ToBuffer(LANBOOT));
  }
  const { packet, xid } = pxeDiscover({ arch: 0, vendorClass: 'PXEClient:Arch:00000:UNDI:002001' });
  const after = await sendPackets(net, 'pxe', [packet]);
  assert.equal(after.find((r) => r.from === LANBOOT && r.message.xid === xid)?.message.file, 'undionly.kpxe');
  assert.equal(lanboot.process.exitCode, null);
});

test('a proxy started before its interface has an address answers once it has one', async () => {
  // In proxy mode the box itself usually gets its address from the router, maybe after
  // lanboot started. Runs last: a second proxy on the LAN would show up in the tests above.
  await net.addHost({ name: 'late' });
  const late = await startLanbootDhcp(net, 'late', { mode: 'proxy', interfaceName: 'eth0', bindMode: 'interface' });
  try {
    assert.equal(late.events.at(-1)?.event, 'ready', late.stderr());
    const first = pxeDiscover({ arch: 0, vendorClass: 'PXEClient:Arch:00000:UNDI:002001' });
    const before = await sendPackets(net, 'pxe', [first.packet]);
    assert.deepEqual(before.filter((r) => r.from !== ROUTER && r.from !== LANBOOT), []);
    assert.match(late.stderr(), /no IPv4 address/);

    await net.runOk('late', 'ip', ['addr', 'add', '10.77.0.4/24', 'dev', 'eth0']);
    // The address is looked up again after at most 2 s.
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const second = pxeDiscover({ arch: 0, vendorClass: 'PXEClient:Arch:00000:UNDI:002001' });
    const after = await sendPackets(net, 'pxe', [second.packet]);
    const answer = after.find((r) => r.from === '10.77.0.4' && r.message.xid === second.xid)?.message;
    assert.ok(answer, JSON.stringify(after.map((r) => r.from)));
    assert.equal(answer.siaddr, '10.77.0.4');
    assert.deepEqual(answer.options.get(DhcpOption.SERVER_ID), ipv4ToBuffer('10.77.0.4'));
  } finally {
    await late.stop();
  }
});
