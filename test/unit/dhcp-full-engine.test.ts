// Full-DHCP state machine (RFC 2131 section 4.3) over a real SQLite database with the real
// migrations; time is passed in, so expiry is tested without waiting.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { openDatabase, migrate } from '../../src/db/database.js';
import { BootpOp, DhcpMessageType, DhcpOption, decodeClientRequest, encodeDhcpMessage, encodeUint16List, ipv4ToBuffer, parseMac } from '../../src/dhcp/codec.js';
import { FullDhcpEngine, validateFullDhcpSettings, type FullDhcpSettings } from '../../src/dhcp/full-engine.js';
import { LeaseStore } from '../../src/dhcp/lease-store.js';
import { DEFAULT_BOOT_POLICY } from '../../src/dhcp/boot-policy.js';
import { tempDir } from '../helpers/tools.js';

const SERVER = '10.50.0.1';

function settings(overrides: Partial<FullDhcpSettings> = {}): FullDhcpSettings {
  return {
    serverAddress: SERVER,
    subnetMask: '255.255.255.0',
    rangeFirst: '10.50.0.100',
    rangeLast: '10.50.0.102',
    leaseSeconds: 600,
    routers: [SERVER],
    dnsServers: ['10.50.0.53'],
    domainName: 'lan',
    reservations: new Map(),
    offerHoldSeconds: 30,
    declineQuarantineSeconds: 300,
    ...overrides,
  };
}

async function setup(t: TestContext, overrides: Partial<FullDhcpSettings> = {}) {
  const dir = await tempDir(t, 'lanboot-dhcp-engine-');
  const db = openDatabase(path.join(dir, 'lanboot.db'));
  t.after(() => db.close());
  await migrate(db);
  const store = new LeaseStore(db, 'eth0');
  const engine = new FullDhcpEngine(settings(overrides), { ...DEFAULT_BOOT_POLICY, serverAddress: SERVER }, store);
  return { db, store, engine };
}

interface Msg {
  type: number;
  mac: string;
  ciaddr?: string;
  requested?: string;
  serverId?: string;
  pxe?: boolean;
  flags?: number;
}

function msg(m: Msg) {
  const options: Array<[number, Buffer]> = [[DhcpOption.MESSAGE_TYPE, Buffer.from([m.type])]];
  if (m.requested) options.push([DhcpOption.REQUESTED_IP, ipv4ToBuffer(m.requested)]);
  if (m.serverId) options.push([DhcpOption.SERVER_ID, ipv4ToBuffer(m.serverId)]);
  if (m.pxe) {
    options.push([DhcpOption.VENDOR_CLASS, Buffer.from('PXEClient:Arch:00000:UNDI:002001')]);
    options.push([DhcpOption.CLIENT_ARCH, encodeUint16List([0])]);
  }
  return decodeClientRequest(
    encodeDhcpMessage({ op: BootpOp.REQUEST, xid: 42, flags: m.flags ?? 0, ciaddr: m.ciaddr ?? '0.0.0.0', chaddr: parseMac(m.mac), options }),
  );
}

const A = '52:54:00:00:00:0a';
const B = '52:54:00:00:00:0b';
const C = '52:54:00:00:00:0c';
const D = '52:54:00:00:00:0d';
const T0 = 1_700_000_000_000;

function typeOf(outcome: ReturnType<FullDhcpEngine['handle']>): number | undefined {
  const option = outcome.reply?.options.find(([code]) => code === DhcpOption.MESSAGE_TYPE);
  return option?.[1][0];
}

test('DISCOVER -> OFFER -> REQUEST -> ACK binds a lease row with the network options', async (t) => {
  const { engine, store } = await setup(t);
  const offer = engine.handle(msg({ type: DhcpMessageType.DISCOVER, mac: A }), T0);
  assert.equal(typeOf(offer), DhcpMessageType.OFFER);
  assert.equal(offer.reply?.yiaddr, '10.50.0.100');
  assert.deepEqual(offer.destination, { address: '255.255.255.255', port: 68 });
  assert.equal(store.findByIp('10.50.0.100')?.state, 'offered');

  const ack = engine.handle(msg({ type: DhcpMessageType.REQUEST, mac: A, requested: '10.50.0.100', serverId: SERVER }), T0 + 1000);
  assert.equal(typeOf(ack), DhcpMessageType.ACK);
  assert.equal(ack.reply?.yiaddr, '10.50.0.100');
  const options = new Map(ack.reply!.options);
  assert.deepEqual([...options.get(DhcpOption.SUBNET_MASK)!], [255, 255, 255, 0]);
  assert.deepEqual([...options.get(DhcpOption.ROUTER)!], [10, 50, 0, 1]);
  assert.deepEqual([...options.get(DhcpOption.DNS_SERVERS)!], [10, 50, 0, 53]);
  assert.equal(options.get(DhcpOption.DOMAIN_NAME)?.toString(), 'lan');
  assert.equal(options.get(DhcpOption.LEASE_TIME)?.readUInt32BE(0), 600);
  assert.equal(options.get(DhcpOption.RENEWAL_TIME)?.readUInt32BE(0), 300);
  assert.equal(options.get(DhcpOption.REBINDING_TIME)?.readUInt32BE(0), 525);
  assert.equal(ack.change?.kind, 'bound');
  const row = store.findByIp('10.50.0.100');
  assert.equal(row?.state, 'bound');
  assert.equal(row?.mac, A);
  assert.equal(row?.expiresAt, T0 + 1000 + 600_000);
});

test('each client gets its own address; the pool runs out; a known client gets its address again', async (t) => {
  const { engine } = await setup(t);
  const bind = (mac: string, now: number) => {
    const offer = engine.handle(msg({ type: DhcpMessageType.DISCOVER, mac }), now);
    if (!offer.reply) return undefined;
    engine.handle(msg({ type: DhcpMessageType.REQUEST, mac, requested: offer.reply.yiaddr!, serverId: SERVER }), now);
    return offer.reply.yiaddr;
  };
  assert.equal(bind(A, T0), '10.50.0.100');
  assert.equal(bind(B, T0), '10.50.0.101');
  assert.equal(bind(C, T0), '10.50.0.102');
  const none = engine.handle(msg({ type: DhcpMessageType.DISCOVER, mac: D }), T0);
  assert.equal(none.reply, undefined);
  assert.match(none.silentReason ?? '', /no free address/);
  // A's DISCOVER again (reboot): same address, lease stays bound.
  assert.equal(engine.handle(msg({ type: DhcpMessageType.DISCOVER, mac: A }), T0 + 5).reply?.yiaddr, '10.50.0.100');
});

test('expiry frees addresses: swept leases are released and reusable', async (t) => {
  const { engine, store } = await setup(t);
  engine.handle(msg({ type: DhcpMessageType.DISCOVER, mac: A }), T0);
  engine.handle(msg({ type: DhcpMessageType.REQUEST, mac: A, requested: '10.50.0.100', serverId: SERVER }), T0);
  assert.deepEqual(engine.expire(T0 + 599_000), []);
  const expired = engine.expire(T0 + 600_000);
  assert.deepEqual(expired.map((l) => [l.ip, l.mac]), [['10.50.0.100', A]]);
  assert.equal(store.findByIp('10.50.0.100')?.state, 'released');
  // Another client may now get it... but B first gets the lowest free address, which is it.
  assert.equal(engine.handle(msg({ type: DhcpMessageType.DISCOVER, mac: B }), T0 + 600_001).reply?.yiaddr, '10.50.0.100');
});

test('an un-requested offer is held only for offerHoldSeconds', async (t) => {
  const { engine } = await setup(t, { rangeLast: '10.50.0.100' });
  assert.equal(engine.handle(msg({ type: DhcpMessageType.DISCOVER, mac: A }), T0).reply?.yiaddr, '10.50.0.100');
  assert.equal(engine.handle(msg({ type: DhcpMessageType.DISCOVER, mac: B }), T0 + 29_000).reply, undefined);
  assert.equal(engine.handle(msg({ type: DhcpMessageType.DISCOVER, mac: B }), T0 + 30_000).reply?.yiaddr, '10.50.0.100');
});

test('REQUEST for another server withdraws our offer; wrong address gets NAK', async (t) => {
  const { engine, store } = await setup(t);
  engine.handle(msg({ type: DhcpMessageType.DISCOVER, mac: A }), T0);
  const other = engine.handle(msg({ type: DhcpMessageType.REQUEST, mac: A, requested: '192.168.1.9', serverId: '192.168.1.1' }), T0);
  assert.equal(other.reply, undefined);
  assert.equal(store.findByIp('10.50.0.100'), undefined);
  engine.handle(msg({ type: DhcpMessageType.DISCOVER, mac: A }), T0);
  const nak = engine.handle(msg({ type: DhcpMessageType.REQUEST, mac: A, requested: '10.50.0.101', serverId: SERVER }), T0);
  assert.equal(typeOf(nak), DhcpMessageType.NAK);
  assert.equal(nak.reply?.yiaddr ?? '0.0.0.0', '0.0.0.0');
  assert.deepEqual(nak.destination, { address: '255.255.255.255', port: 68 });
});

test('INIT-REBOOT: known client ACKed, foreign network NAKed, unknown client ignored', async (t) => {
  const { engine } = await setup(t);
  engine.handle(msg({ type: DhcpMessageType.DISCOVER, mac: A }), T0);
  engine.handle(msg({ type: DhcpMessageType.REQUEST, mac: A, requested: '10.50.0.100', serverId: SERVER }), T0);
  assert.equal(typeOf(engine.handle(msg({ type: DhcpMessageType.REQUEST, mac: A, requested: '10.50.0.100' }), T0 + 10)), DhcpMessageType.ACK);
  assert.equal(typeOf(engine.handle(msg({ type: DhcpMessageType.REQUEST, mac: A, requested: '172.16.0.5' }), T0)), DhcpMessageType.NAK);
  // B claims A's address: NAK. C claims an address nobody holds: silence (RFC 2131 4.3.2).
  assert.equal(typeOf(engine.handle(msg({ type: DhcpMessageType.REQUEST, mac: B, requested: '10.50.0.100' }), T0)), DhcpMessageType.NAK);
  const unknown = engine.handle(msg({ type: DhcpMessageType.REQUEST, mac: C, requested: '10.50.0.101' }), T0);
  assert.equal(unknown.reply, undefined);
});

test('RENEWING extends the lease and answers unicast to ciaddr', async (t) => {
  const { engine, store } = await setup(t);
  engine.handle(msg({ type: DhcpMessageType.DISCOVER, mac: A }), T0);
  engine.handle(msg({ type: DhcpMessageType.REQUEST, mac: A, requested: '10.50.0.100', serverId: SERVER }), T0);
  const renew = engine.handle(msg({ type: DhcpMessageType.REQUEST, mac: A, ciaddr: '10.50.0.100' }), T0 + 300_000);
  assert.equal(typeOf(renew), DhcpMessageType.ACK);
  assert.deepEqual(renew.destination, { address: '10.50.0.100', port: 68 });
  assert.equal(renew.reply?.ciaddr, '10.50.0.100');
  assert.equal(store.findByIp('10.50.0.100')?.expiresAt, T0 + 300_000 + 600_000);
  // Someone else renewing A's address: NAK.
  assert.equal(typeOf(engine.handle(msg({ type: DhcpMessageType.REQUEST, mac: B, ciaddr: '10.50.0.100' }), T0)), DhcpMessageType.NAK);
});

test('DECLINE quarantines the address; RELEASE frees it', async (t) => {
  const { engine, store } = await setup(t);
  engine.handle(msg({ type: DhcpMessageType.DISCOVER, mac: A }), T0);
  engine.handle(msg({ type: DhcpMessageType.REQUEST, mac: A, requested: '10.50.0.100', serverId: SERVER }), T0);
  const decline = engine.handle(msg({ type: DhcpMessageType.DECLINE, mac: A, requested: '10.50.0.100', serverId: SERVER }), T0 + 1);
  assert.equal(decline.reply, undefined);
  assert.equal(decline.change?.kind, 'declined');
  assert.equal(store.findByIp('10.50.0.100')?.state, 'declined');
  // A asks again: not the declined address.
  assert.equal(engine.handle(msg({ type: DhcpMessageType.DISCOVER, mac: A }), T0 + 2).reply?.yiaddr, '10.50.0.101');
  assert.equal(engine.handle(msg({ type: DhcpMessageType.DISCOVER, mac: B }), T0 + 2).reply?.yiaddr, '10.50.0.102');
  assert.equal(typeOf(engine.handle(msg({ type: DhcpMessageType.REQUEST, mac: A, requested: '10.50.0.101', serverId: SERVER }), T0 + 3)), DhcpMessageType.ACK);
  // After the quarantine the address is back (and B's unanswered offer is gone).
  engine.expire(T0 + 300_001);
  assert.equal(store.findByIp('10.50.0.100'), undefined);
  assert.equal(store.findByIp('10.50.0.102'), undefined);
  // RELEASE from another MAC does nothing; from A it releases.
  const later = T0 + 300_002;
  assert.equal(engine.handle(msg({ type: DhcpMessageType.RELEASE, mac: B, ciaddr: '10.50.0.101', serverId: SERVER }), later).change, undefined);
  const release = engine.handle(msg({ type: DhcpMessageType.RELEASE, mac: A, ciaddr: '10.50.0.101', serverId: SERVER }), later);
  assert.equal(release.change?.kind, 'released');
  assert.equal(store.findByIp('10.50.0.101')?.state, 'released');
  assert.equal(engine.handle(msg({ type: DhcpMessageType.DISCOVER, mac: C }), later).reply?.yiaddr, '10.50.0.100');
  assert.equal(engine.handle(msg({ type: DhcpMessageType.DISCOVER, mac: D }), later).reply?.yiaddr, '10.50.0.101');
});

test('INFORM: configuration without address or lease time, unicast', async (t) => {
  const { engine } = await setup(t);
  const inform = engine.handle(msg({ type: DhcpMessageType.INFORM, mac: D, ciaddr: '10.50.0.77' }), T0);
  assert.equal(typeOf(inform), DhcpMessageType.ACK);
  assert.equal(inform.reply?.yiaddr, '0.0.0.0');
  assert.deepEqual(inform.destination, { address: '10.50.0.77', port: 68 });
  const codes = inform.reply!.options.map(([code]) => code);
  assert.ok(codes.includes(DhcpOption.SUBNET_MASK));
  assert.ok(!codes.includes(DhcpOption.LEASE_TIME));
});

test('reservations: the reserved MAC gets its address, nobody else does', async (t) => {
  const { engine } = await setup(t, { reservations: new Map([[B, '10.50.0.100'], [C, '10.50.0.20']]) });
  assert.equal(engine.handle(msg({ type: DhcpMessageType.DISCOVER, mac: A }), T0).reply?.yiaddr, '10.50.0.101');
  assert.equal(engine.handle(msg({ type: DhcpMessageType.DISCOVER, mac: B }), T0).reply?.yiaddr, '10.50.0.100');
  // Reservations may lie outside the range.
  assert.equal(engine.handle(msg({ type: DhcpMessageType.DISCOVER, mac: C }), T0).reply?.yiaddr, '10.50.0.20');
  assert.equal(typeOf(engine.handle(msg({ type: DhcpMessageType.REQUEST, mac: C, requested: '10.50.0.20', serverId: SERVER }), T0)), DhcpMessageType.ACK);
  // C asking for another address at reboot is told no.
  assert.equal(typeOf(engine.handle(msg({ type: DhcpMessageType.REQUEST, mac: C, requested: '10.50.0.101' }), T0)), DhcpMessageType.NAK);
});

test('PXE clients get the boot file with their lease', async (t) => {
  const { engine } = await setup(t);
  const offer = engine.handle(msg({ type: DhcpMessageType.DISCOVER, mac: A, pxe: true }), T0);
  assert.equal(offer.reply?.file, 'undionly.kpxe');
  assert.equal(offer.reply?.siaddr, SERVER);
  assert.equal(offer.boot?.stage, 'pxe-bios');
  const codes = offer.reply!.options.map(([code]) => code);
  assert.ok(codes.includes(DhcpOption.VENDOR_CLASS) && codes.includes(DhcpOption.VENDOR_SPECIFIC));
  const plain = engine.handle(msg({ type: DhcpMessageType.DISCOVER, mac: B }), T0);
  assert.equal(plain.reply?.file, '');
  assert.equal(plain.boot, undefined);
});

test('settings are validated with one clear line', () => {
  assert.throws(() => validateFullDhcpSettings(settings({ rangeFirst: '10.50.0.10', rangeLast: '10.60.0.1' })), /outside the server's subnet/);
  assert.throws(() => validateFullDhcpSettings(settings({ rangeFirst: '10.50.0.200' })), /is empty/);
  assert.throws(() => validateFullDhcpSettings(settings({ subnetMask: '255.0.255.0' })), /not contiguous/);
  assert.throws(() => validateFullDhcpSettings(settings({ leaseSeconds: 5 })), /lease time/);
  assert.throws(() => validateFullDhcpSettings(settings({ routers: ['10.50.0'] })), /not an IPv4 address/);
  assert.throws(() => validateFullDhcpSettings(settings({ reservations: new Map([['zz', '10.50.0.5']]) })), /reservation MAC/);
  assert.throws(() => validateFullDhcpSettings(settings({ reservations: new Map([[A, '10.9.0.5']]) })), /outside the subnet/);
  validateFullDhcpSettings(settings());
});

test('requests relayed from another subnet are not served; from our own subnet they go back to the relay', async (t) => {
  const { engine } = await setup(t);
  const relayed = (giaddr: string) =>
    decodeClientRequest(
      encodeDhcpMessage({
        op: BootpOp.REQUEST,
        xid: 9,
        giaddr,
        hops: 1,
        chaddr: parseMac(A),
        options: [[DhcpOption.MESSAGE_TYPE, Buffer.from([DhcpMessageType.DISCOVER])]],
      }),
    );
  const foreign = engine.handle(relayed('192.168.9.1'), T0);
  assert.equal(foreign.reply, undefined);
  assert.match(foreign.silentReason ?? '', /outside the served subnet/);
  const local = engine.handle(relayed('10.50.0.254'), T0);
  assert.equal(local.reply?.yiaddr, '10.50.0.100');
  assert.deepEqual(local.destination, { address: '10.50.0.254', port: 67 });
});

test('a seat PC gets its seat name as host name (option 12); an unknown PC gets none', async (t) => {
  const dir = await tempDir(t, 'lanboot-dhcp-engine-');
  const db = openDatabase(path.join(dir, 'lanboot.db'));
  t.after(() => db.close());
  await migrate(db);
  const names = new Map([[A, 'pc-7']]);
  const engine = new FullDhcpEngine(settings(), { ...DEFAULT_BOOT_POLICY, serverAddress: SERVER }, new LeaseStore(db, 'eth0'), (mac) => names.get(mac));
  const hostnameIn = (outcome: ReturnType<FullDhcpEngine['handle']>) => outcome.reply?.options.find(([code]) => code === DhcpOption.HOSTNAME)?.[1].toString('latin1');
  const offer = engine.handle(msg({ type: DhcpMessageType.DISCOVER, mac: A, pxe: true }), T0);
  assert.equal(hostnameIn(offer), 'pc-7');
  const ack = engine.handle(msg({ type: DhcpMessageType.REQUEST, mac: A, requested: offer.reply!.yiaddr, serverId: SERVER }), T0 + 1);
  assert.equal(typeOf(ack), DhcpMessageType.ACK);
  assert.equal(hostnameIn(ack), 'pc-7');
  assert.equal(hostnameIn(engine.handle(msg({ type: DhcpMessageType.DISCOVER, mac: B }), T0)), undefined);
});
