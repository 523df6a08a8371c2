// The boot service's recorder inside an in-process supervisor (recording engine, real SQLite,
// real local API through the CLI's code): DHCP and TFTP events become boot events and fill in
// the waiting list. The IP -> MAC lookup is injected: TFTP clients here come from loopback,
// which has no ARP entry (the real lookup is tested on /proc/net/arp-format files in
// boot-store.test.ts and end to end in test/integration/boot-vm.test.ts).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { test } from 'node:test';
import { BootService } from '../../src/boot/service.js';
import type { PxeRequestEvent } from '../../src/dhcp/events.js';
import type { TftpTransferEvent } from '../../src/tftp/server.js';
import { startFixture } from './support/supervisor-fixture.js';

/** The embedded default: no DHCP, listening on every address. */
const NO_DHCP = { listen: '0.0.0.0', dhcp: { mode: 'off' }, scriptOwnerCheck: 'neighbor', menu: { on: false, timeoutSeconds: 5 } } as const;

const MAC = '52:54:00:aa:00:01';

function tftpEvent(overrides: Partial<TftpTransferEvent>): TftpTransferEvent {
  return {
    client: { address: '10.0.0.7', port: 2070 },
    file: 'undionly.kpxe',
    result: 'ok',
    bytes: 70000,
    fileSize: 70000,
    durationMs: 12.34,
    blockSize: 1468,
    windowSize: 1,
    virtual: true,
    ...overrides,
  };
}

test('DHCP and TFTP events become boot events; the waiting list takes arch and vendor class', async (t) => {
  const boot = new BootService(NO_DHCP, { macForAddress: (address) => (address === '10.0.0.7' ? MAC : undefined) });
  const f = await startFixture(t, { services: [boot] });
  const dhcp: PxeRequestEvent = {
    interfaceName: 'eth0',
    mac: '52-54-00-AA-00-01',
    arch: 0,
    vendorClass: 'PXEClient:Arch:00000:UNDI:002001',
    userClass: '',
    step: 'dhcp-discover',
    stage: 'pxe-bios',
    bootFile: 'undionly.kpxe',
    time: Date.now(),
  };
  boot.recordDhcpStep(dhcp);
  boot.recordDhcpStep({ ...dhcp, mac: 'not a mac' });
  boot.recordTftpTransfer(tftpEvent({ result: 'error', errorCode: 'TFTP_CLIENT_DECLINED', message: 'client sent ERROR 8', bytes: 0 }));
  boot.recordTftpTransfer(tftpEvent({}));
  boot.recordTftpTransfer(tftpEvent({ client: { address: '10.0.0.8', port: 1 } }));

  const events = JSON.parse((await f.cli(['boot', 'events', MAC, '--json'])).stdout) as { step: string; detail: string; arch: number | null }[];
  assert.deepEqual(events.map((e) => e.step), ['dhcp-discover', 'tftp-probe', 'tftp-ok']);
  assert.equal(events[0]!.arch, 0);
  assert.match(events[0]!.detail, /^pxe-bios: boot file undionly\.kpxe on eth0$/);
  assert.match(events[1]!.detail, /^undionly\.kpxe: size asked \(70000 bytes\)$/);
  assert.match(events[2]!.detail, /^undionly\.kpxe: 70000 bytes in 12 ms \(blksize 1468, windowsize 1\)$/);
  const all = JSON.parse((await f.cli(['boot', 'events', '--json'])).stdout) as { mac: string }[];
  assert.ok(all.every((e) => e.mac === MAC), 'nothing recorded for the bad MAC or the unresolvable address');

  const status = JSON.parse((await f.cli(['status', '--json'])).stdout) as { services: { boot: { started: boolean } } };
  assert.equal(status.services.boot.started, true);

  // The PC fetches its script: it is waiting with the DHCP step's arch and vendor class.
  const httpPort = (status as unknown as { http: { port: number } }).http.port;
  const script = await (await fetch(`http://127.0.0.1:${httpPort}/boot.ipxe?mac=${MAC}`)).text();
  assert.match(script, /^echo Enrollment code: /m);
  const table = await f.cli(['waiting']);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, new RegExp(`${MAC}\\s+BIOS\\s+PXEClient:Arch:00000:UNDI:002001`));
});

test('the enroll API refuses unknown codes, unknown fields and bad names with one clear line', async (t) => {
  const f = await startFixture(t, { services: [new BootService(NO_DHCP)] });
  const cases: [string[], RegExp][] = [
    [['enroll', 'ACDEFH', '--name', 'pc-1', '--image', 'x'], /^lanboot: no PC is waiting with code ACDEFH/],
    [['enroll', 'OOOOOO', '--name', 'pc-1', '--image', 'x'], /^lanboot: CODE: expected the 6-character code/],
    [['enroll', 'ACDEFH', '--name', 'PC 1', '--image', 'x'], /^lanboot: --name: expected a seat name/],
    [['enroll', 'ACDEFH', '--image', 'x'], /^lanboot: enroll: --name is required/],
    [['enroll', 'ACDEFH', '--name', 'pc-1', '--image', 'x', '--mode', 'weird'], /^lanboot: --mode: expected one of/],
    [['enroll', '--name', 'pc-1', '--image', 'x'], /^lanboot: enroll: missing CODE/],
  ];
  for (const [args, message] of cases) {
    const r = await f.cli([...args]);
    assert.equal(r.code, 1, args.join(' '));
    assert.match(r.stderr, /^lanboot: [^\n]+\n$/, 'one line');
    assert.match(r.stderr, message);
  }
  const waiting = await f.cli(['waiting']);
  assert.match(waiting.stdout, /^no PCs waiting/);
});

test('one address cannot flood the waiting list with invented MACs', async (t) => {
  const f = await startFixture(t, { services: [new BootService(NO_DHCP)] });
  const status = JSON.parse((await f.cli(['status', '--json'])).stdout) as { http: { port: number } };
  const get = (mac: string) => fetch(`http://127.0.0.1:${status.http.port}/boot.ipxe?mac=${mac}`).then(async (r) => ({ status: r.status, text: await r.text() }));
  const macs = ['52:54:00:bb:00:01', '52:54:00:bb:00:02', '52:54:00:bb:00:03', '52:54:00:bb:00:04'];
  for (const mac of macs) assert.equal((await get(mac)).status, 200, mac);
  const fifth = await get('52:54:00:bb:00:05');
  assert.equal(fifth.status, 429);
  assert.match(fifth.text, /too many unknown PCs/);
  // PCs already waiting keep polling normally.
  assert.equal((await get(macs[0]!)).status, 200);
  const waiting = JSON.parse((await f.cli(['waiting', '--json'])).stdout) as { mac: string; code: string }[];
  assert.deepEqual(waiting.map((w) => w.mac).sort(), macs);

  // Once one of them is enrolled, the address may introduce another.
  const image = path.join(f.dataDir, 'golden.raw');
  fs.writeFileSync(image, Buffer.alloc(1024 * 1024, 0x5a));
  assert.equal((await f.cli(['image', 'import', image, '--name', 'golden'])).code, 0);
  const enroll = await f.cli(['enroll', waiting.find((w) => w.mac === macs[1])!.code, '--name', 'pc-2', '--image', 'golden']);
  assert.equal(enroll.code, 0, enroll.stderr);
  assert.equal((await get('52:54:00:bb:00:05')).status, 200);
});

test('POST /api/v1/enroll reads at most 64 KiB of body: a larger one is refused with 413 before it is parsed', async (t) => {
  const f = await startFixture(t, { services: [new BootService(NO_DHCP)] });
  const post = (chunks: number) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request({ socketPath: path.join(f.dataDir, 'lanboot.sock'), path: '/api/v1/enroll', method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      req.on('error', reject);
      // Chunked, no Content-Length: the limit has to count what arrives.
      req.write('{"code":"');
      const chunk = 'A'.repeat(16 * 1024);
      let sent = 0;
      const pump = () => {
        while (sent < chunks) {
          sent++;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        req.end('"}');
      };
      pump();
    });
  const big = await post(64); // 1 MiB
  assert.equal(big.status, 413);
  assert.match(big.body, /larger than 65536 bytes/);
  const small = await post(0);
  assert.equal(small.status, 400, small.body);
});
