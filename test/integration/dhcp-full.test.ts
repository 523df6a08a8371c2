// Full-DHCP mode on a LAN of network namespaces, with no router:
//   lanboot 10.78.0.1 (full mode, range .100-.120, leases in SQLite)
//   pc1 / pc2 (no address): busybox udhcpc and ISC dhclient; pxe: a PXE-like client
// and a second LAN where dnsmasq already serves DHCP, where full mode must refuse to start.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';
import Database from 'better-sqlite3';
import { BootpOp, DhcpMessageType, DhcpOption, encodeDhcpMessage, encodeUint16List, parseMac } from '../../src/dhcp/codec.js';
import { createTestNetwork } from '../helpers/netns.js';
import { requireTools, tempDir, waitFor } from '../helpers/tools.js';
import { runDhclient, runUdhcpc, sendPackets, startDnsmasq, startLanbootDhcp, startUdhcpc } from './dhcp-harness.js';

const LANBOOT = '10.78.0.1';

interface LeaseDbRow {
  interface: string;
  ip: string;
  mac: string;
  state: string;
  expires_at: number;
}

function leaseRows(dbFile: string): LeaseDbRow[] {
  // A second connection, read-only, as an operator's sqlite3 would see the table.
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT interface, ip, mac, state, expires_at FROM dhcp_leases ORDER BY ip').all() as LeaseDbRow[];
  } finally {
    db.close();
  }
}

async function fullLan(t: TestContext) {
  requireTools('ip', 'busybox', 'dhclient');
  const dir = await tempDir(t, 'lanboot-dhcp-full-');
  const net = await createTestNetwork(t, {
    hosts: [
      { name: 'lanboot', address: `${LANBOOT}/24` },
      { name: 'pc1' },
      { name: 'pc2' },
    ],
  });
  const dbFile = path.join(dir, 'lanboot.db');
  const server = await startLanbootDhcp(net, 'lanboot', {
    mode: 'full',
    bindMode: 'interface',
    dbFile,
    rangeFirst: '10.78.0.100',
    rangeLast: '10.78.0.120',
    leaseSeconds: 120,
    routers: [LANBOOT],
    dnsServers: [LANBOOT],
    domainName: 'lan',
    detectTimeoutMs: 1000,
    expirySweepMs: 500,
  });
  assert.equal(server.events.at(-1)?.event, 'ready', JSON.stringify(server.events) + server.stderr());
  return { dir, net, dbFile, server };
}

test('full mode: udhcpc and dhclient get addresses, the right options and a lease row each', async (t) => {
  const { dir, net, dbFile, server } = await fullLan(t);
  const mac1 = await net.macOf('pc1');
  const mac2 = await net.macOf('pc2');

  const udhcpc = await runUdhcpc(net, 'pc1', dir);
  assert.equal(udhcpc['ip'], '10.78.0.100');
  assert.equal(udhcpc['subnet'], '255.255.255.0');
  assert.equal(udhcpc['router'], LANBOOT);
  assert.equal(udhcpc['dns'], LANBOOT);
  assert.equal(udhcpc['lease'], '120');
  assert.equal(udhcpc['serverid'], LANBOOT);
  assert.equal(udhcpc['domain'], 'lan');

  const dhclient = await runDhclient(net, 'pc2', dir);
  assert.equal(dhclient['ip'], '10.78.0.101');
  assert.equal(dhclient['subnet'], '255.255.255.0');
  assert.equal(dhclient['router'], LANBOOT);
  assert.equal(dhclient['dns'], LANBOOT);
  assert.equal(dhclient['lease'], '120');
  assert.equal(dhclient['serverid'], LANBOOT);

  const rows = leaseRows(dbFile);
  assert.deepEqual(
    rows.map((r) => [r.interface, r.ip, r.mac, r.state]),
    [
      ['eth0', '10.78.0.100', mac1, 'bound'],
      ['eth0', '10.78.0.101', mac2, 'bound'],
    ],
  );
  for (const row of rows) {
    assert.ok(row.expires_at > Date.now() + 100_000 && row.expires_at <= Date.now() + 120_000, `expiry ${row.expires_at}`);
  }
  await server.waitEvent((e) => e.event === 'lease' && e['mac'] === mac1 && e['ip'] === '10.78.0.100', 'lease event pc1');
  await server.waitEvent((e) => e.event === 'lease' && e['mac'] === mac2, 'lease event pc2');

  // The same client asking again keeps its address.
  assert.equal((await runUdhcpc(net, 'pc1', dir))['ip'], '10.78.0.100');
  assert.equal(leaseRows(dbFile).length, 2);
});

test('full mode: a running client renews (unicast, RFC 2131 4.4.5) and releases its lease', async (t) => {
  const { dir, net, dbFile, server } = await fullLan(t);
  const mac = await net.macOf('pc1');
  const client = await startUdhcpc(net, 'pc1', dir);
  t.after(() => client.stop());
  const bound = await client.waitFor('bound');
  assert.equal(bound['ip'], '10.78.0.100');
  const firstExpiry = leaseRows(dbFile)[0]!.expires_at;
  await new Promise((resolve) => setTimeout(resolve, 50));

  client.signal('SIGUSR1');
  const renewed = await client.waitFor('renew');
  assert.equal(renewed['ip'], '10.78.0.100');
  const row = leaseRows(dbFile)[0]!;
  assert.equal(row.state, 'bound');
  assert.ok(row.expires_at > firstExpiry, 'renewal extended the lease');

  client.signal('SIGUSR2');
  await waitFor(`released lease row (server log tail: ${server.stderr().slice(-2000)})`, async () => (leaseRows(dbFile).find((r) => r.mac === mac)?.state === 'released' ? true : undefined), 5000);
  await server.waitEvent((e) => e.event === 'lease-released' && e['mac'] === mac && e['ip'] === '10.78.0.100', 'lease-released event');
  // A released address goes back to the pool: another client may get it.
  const other = await runUdhcpc(net, 'pc2', dir);
  assert.equal(other['ip'], '10.78.0.100');
});

test('full mode: a PXE client gets an address and its boot file in one offer', async (t) => {
  const { net, server } = await fullLan(t);
  const xid = crypto.randomBytes(4).readUInt32BE(0);
  const mac = '52:54:00:78:00:99';
  const discover = encodeDhcpMessage({
    op: BootpOp.REQUEST,
    xid,
    flags: 0x8000,
    chaddr: parseMac(mac),
    options: [
      [DhcpOption.MESSAGE_TYPE, Buffer.from([DhcpMessageType.DISCOVER])],
      [DhcpOption.CLIENT_ARCH, encodeUint16List([7])],
      [DhcpOption.VENDOR_CLASS, Buffer.from('PXEClient:Arch:00007:UNDI:003000')],
    ],
  });
  // pc1 has no address: a route via eth0 lets a plain UDP socket send the broadcast.
  await net.runOk('pc1', 'ip', ['route', 'add', 'default', 'dev', 'eth0']);
  const replies = await sendPackets(net, 'pc1', [discover]);
  const offer = replies.find((r) => r.message.xid === xid)?.message;
  assert.ok(offer, 'an offer');
  assert.equal(offer.yiaddr, '10.78.0.100');
  assert.equal(offer.siaddr, LANBOOT);
  assert.equal(offer.file, 'snponly.efi');
  assert.equal(offer.options.get(DhcpOption.VENDOR_CLASS)?.toString(), 'PXEClient');
  assert.equal(offer.options.get(DhcpOption.LEASE_TIME)?.readUInt32BE(0), 120);
  const event = await server.waitEvent((e) => e.event === 'pxe-request' && e['mac'] === mac, 'pxe-request');
  assert.equal(event['arch'], 7);
  assert.equal(event['step'], 'dhcp-discover');
});

test('full mode refuses to start next to another DHCP server, unless forced', async (t) => {
  requireTools('ip', 'dnsmasq');
  const dir = await tempDir(t, 'lanboot-dhcp-full-other-');
  const net = await createTestNetwork(t, {
    hosts: [
      { name: 'router', address: '10.79.0.1/24', defaultRoute: true },
      { name: 'lanboot', address: '10.79.0.2/24' },
    ],
  });
  await startDnsmasq(net, 'router', dir, '10.79.0.100,10.79.0.150');
  const config = { mode: 'full', bindMode: 'interface', dbFile: path.join(dir, 'lanboot.db'), rangeFirst: '10.79.0.200', rangeLast: '10.79.0.210', detectTimeoutMs: 1500 };
  const refused = await startLanbootDhcp(net, 'lanboot', config);
  const failure = refused.events.find((e) => e.event === 'start-failed');
  assert.ok(failure, JSON.stringify(refused.events));
  assert.equal(failure['code'], 'LANBOOT_DHCP_OTHER_SERVER');
  assert.match(String(failure['message']), /10\.79\.0\.1 \(offers 10\.79\.0\.1\d\d\)/);
  await waitFor('refused server to exit', async () => (refused.process.exitCode !== null ? true : undefined), 5000);
  assert.equal(refused.process.exitCode, 3);

  const forced = await startLanbootDhcp(net, 'lanboot', { ...config, force: true });
  assert.ok(forced.events.some((e) => e.event === 'ready'), JSON.stringify(forced.events));
  const others = forced.events.find((e) => e.event === 'other-servers');
  assert.ok(others, 'the forced server still reports the other server');
  await forced.stop();
});
