// Boot events and waiting PCs in a real SQLite database with the real migrations
// (src/boot/boot-store.ts), and the ARP table parser (src/boot/neighbors.ts).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { migrate, openDatabase } from '../../src/db/database.js';
import { BootStore } from '../../src/boot/boot-store.js';
import { macForAddress, parseArpTable } from '../../src/boot/neighbors.js';

async function freshDb(t: { after(fn: () => void): void }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lanboot-boot-'));
  const db = openDatabase(path.join(dir, 'lanboot.db'));
  t.after(() => {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  await migrate(db);
  return db;
}

const MAC_A = '52:54:00:00:00:0a';
const MAC_B = '52:54:00:00:00:0b';

test('a waiting PC keeps its code while it waits; first seen stays, last seen moves', async (t) => {
  const store = new BootStore(await freshDb(t));
  const first = store.touchWaiting(MAC_A, 1000)!;
  const again = store.touchWaiting(MAC_A, 5000)!;
  assert.equal(again.code, first.code, 'stable per MAC while waiting');
  assert.equal(again.firstSeen, new Date(1000).toISOString());
  assert.equal(again.lastSeen, new Date(5000).toISOString());
  const other = store.touchWaiting(MAC_B, 6000)!;
  assert.notEqual(other.code, first.code);
  assert.deepEqual(store.listWaiting().map((w) => w.mac), [MAC_A, MAC_B]);
  assert.equal(store.findWaitingByCode(first.code)?.mac, MAC_A);
  assert.equal(store.removeWaiting(MAC_A), true);
  assert.equal(store.findWaitingByCode(first.code), undefined);
  assert.equal(store.removeWaiting(MAC_A), false);
  // Back after enrollment was undone: a new entry (and, here, a new code).
  const back = store.touchWaiting(MAC_A, 9000)!;
  assert.equal(back.firstSeen, new Date(9000).toISOString());
});

test('codes never collide: a taken code is drawn again', async (t) => {
  // The first two draws give the same code; the store must draw again for the second MAC.
  const sequence = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1];
  let i = 0;
  const store = new BootStore(await freshDb(t), { randomInt: () => sequence[i++] ?? 2 });
  const a = store.touchWaiting(MAC_A)!;
  const b = store.touchWaiting(MAC_B)!;
  assert.equal(a.code, 'AAAAAA');
  assert.equal(b.code, 'CCCCCC');
});

test('waiting PCs take arch and vendor class from their DHCP steps, before and after', async (t) => {
  const store = new BootStore(await freshDb(t));
  store.record({ mac: MAC_A, arch: 0, vendorClass: 'PXEClient:Arch:00000:UNDI:002001', step: 'dhcp-discover', detail: 'pxe-bios' });
  store.record({ mac: MAC_A, step: 'http-script', detail: 'enrollment' });
  const w = store.touchWaiting(MAC_A)!;
  assert.equal(w.arch, 0);
  assert.equal(w.vendorClass, 'PXEClient:Arch:00000:UNDI:002001');
  store.touchWaiting(MAC_B);
  store.record({ mac: MAC_B, arch: 7, vendorClass: 'PXEClient:Arch:00007:UNDI:003016', step: 'dhcp-discover', detail: 'pxe-uefi' });
  const b = store.listWaiting().find((x) => x.mac === MAC_B)!;
  assert.equal(b.arch, 7);
  assert.equal(b.vendorClass, 'PXEClient:Arch:00007:UNDI:003016');
});

test('events: ordered per MAC, repeats coalesce, bounded per MAC and overall, text cleaned', async (t) => {
  const store = new BootStore(await freshDb(t), { maxEventsPerMac: 5, maxEventsTotal: 8 });
  store.record({ mac: MAC_A, step: 'dhcp-discover', detail: 'd', time: 1 });
  store.record({ mac: MAC_A, step: 'http-script', detail: 'enrollment', time: 2 });
  store.record({ mac: MAC_A, step: 'http-script', detail: 'enrollment', time: 3 });
  store.record({ mac: MAC_A, step: 'http-script', detail: 'enrollment', time: 4 });
  let events = store.events(MAC_A);
  assert.deepEqual(events.map((e) => [e.step, e.count]), [['dhcp-discover', 1], ['http-script', 3]]);
  assert.equal(events[1]!.firstAt, new Date(2).toISOString());
  assert.equal(events[1]!.lastAt, new Date(4).toISOString());

  for (let i = 0; i < 10; i++) store.record({ mac: MAC_A, step: 'tftp-ok', detail: `file ${i}`, time: 10 + i });
  events = store.events(MAC_A);
  assert.equal(events.length, 5, 'last 5 per MAC');
  assert.deepEqual(events.map((e) => e.detail), ['file 5', 'file 6', 'file 7', 'file 8', 'file 9']);

  for (let i = 0; i < 5; i++) store.record({ mac: MAC_B, step: 'tftp-ok', detail: `b ${i}` });
  assert.equal(store.events(MAC_B).length, 5);
  assert.equal(store.events(MAC_A).length, 3, 'the overall cap drops the oldest rows first');
  assert.equal(store.recentEvents(1000).length, 8);

  store.record({ mac: MAC_A, step: 'http-script', detail: `evil\n\u0000\u001b[31m${'x'.repeat(1000)}`, vendorClass: 'v\r\n'.repeat(100), arch: 1e9 });
  const last = store.events(MAC_A).at(-1)!;
  assert.ok(last.detail.length <= 200);
  assert.doesNotMatch(last.detail, /[\n\u0000\u001b]/);
  assert.ok(last.vendorClass!.length <= 64);
  assert.doesNotMatch(last.vendorClass!, /[\r\n]/);
  assert.equal(last.arch, null, 'an arch outside 16 bits is not recorded');
});

test('the waiting list is bounded: the least recently seen PC leaves first', async (t) => {
  const store = new BootStore(await freshDb(t), { maxWaiting: 3, keepRecentPollMs: 50 });
  for (let i = 0; i < 3; i++) store.touchWaiting(`52:54:00:00:01:0${i}`, 100 + i);
  store.touchWaiting('52:54:00:00:01:00', 200); // seen again: now the most recent
  store.touchWaiting('52:54:00:00:01:09', 300);
  assert.deepEqual(
    store.listWaiting().map((w) => w.mac).sort(),
    ['52:54:00:00:01:00', '52:54:00:00:01:02', '52:54:00:00:01:09'],
  );
});

test('the waiting list cannot be flushed: PCs that polled in the last seconds stay, newcomers are refused', async (t) => {
  const store = new BootStore(await freshDb(t), { maxWaiting: 4, keepRecentPollMs: 10_000 });
  const real = ['52:54:00:00:02:01', '52:54:00:00:02:02'];
  const codes = real.map((mac) => store.touchWaiting(mac, 1_000)!.code);
  // One host with many invented MACs fills the rest and goes on.
  let refused = 0;
  for (let i = 0; i < 70; i++) {
    if (store.touchWaiting(`02:00:00:00:03:${i.toString(16).padStart(2, '0')}`, 2_000 + i) === undefined) refused++;
  }
  assert.equal(refused, 68);
  // The real PCs poll again within the window: same codes.
  assert.deepEqual(real.map((mac) => store.touchWaiting(mac, 5_000)!.code), codes);
  // The invented ones stop polling; once they are older than the window they give way.
  const late = store.touchWaiting('52:54:00:00:02:03', 2_100 + 10_000);
  assert.ok(late, 'a stale entry makes room');
  assert.equal(store.listWaiting().length, 4);
  assert.deepEqual(real.map((mac) => store.findWaitingByCode(codes[real.indexOf(mac)]!)?.mac), real);
});

test('ARP table: complete entries only, hostile lines skipped', () => {
  const table = parseArpTable(
    [
      'IP address       HW type     Flags       HW address            Mask     Device',
      '10.0.0.2         0x1         0x2         52:54:00:AA:BB:CC     *        br0',
      '10.0.0.3         0x1         0x0         00:00:00:00:00:00     *        br0',
      '10.0.0.4         0x1         0x6         52:54:00:aa:bb:dd     *        br0',
      'garbage',
      '10.0.0.5 0x1 0x2 not-a-mac * br0',
      '999.0.0.1 0x1 0x2 52:54:00:aa:bb:ee * br0',
      '',
    ].join('\n'),
  );
  assert.deepEqual([...table.entries()], [
    ['10.0.0.2', '52:54:00:aa:bb:cc'],
    ['10.0.0.4', '52:54:00:aa:bb:dd'],
  ]);
});

test('macForAddress reads an ARP file and maps IPv4-mapped addresses', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lanboot-arp-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'arp');
  fs.writeFileSync(file, 'IP address HW type Flags HW address Mask Device\n10.1.2.3 0x1 0x2 52:54:00:01:02:03 * eth0\n');
  assert.equal(macForAddress('10.1.2.3', file), '52:54:00:01:02:03');
  assert.equal(macForAddress('::ffff:10.1.2.3', file), '52:54:00:01:02:03');
  assert.equal(macForAddress('10.1.2.4', file), undefined);
  assert.equal(macForAddress('::1', file), undefined);
  assert.equal(macForAddress('10.1.2.3', path.join(dir, 'missing')), undefined);
});
