// Wake-on-LAN on a real LAN interface: `lanboot serve --interface eth1` runs in a test
// namespace with two LANs (eth0, eth1); `lanboot seat wake` (CLI over the local socket) must
// put one 102-byte magic packet for the seat's MAC on eth1's LAN as a UDP broadcast to port 9,
// and nothing on eth0's LAN.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { createTestNetwork } from '../helpers/netns.js';
import { lanbootMain, runLanbootCli } from '../helpers/supervisor.js';
import { tempDir, waitFor } from '../helpers/tools.js';

const LISTEN = `
const dgram = require('node:dgram');
const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
s.on('message', (m, r) => process.stdout.write(JSON.stringify({ hex: m.toString('hex'), from: r.address }) + '\\n'));
s.bind(9, '0.0.0.0', () => process.stdout.write('ready\\n'));
`;

function collect(child: ChildProcess): { lines: string[] } {
  const out = { lines: [] as string[] };
  let buffer = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    const parts = buffer.split('\n');
    buffer = parts.pop()!;
    out.lines.push(...parts);
  });
  return out;
}

test('seat wake sends the magic packet as a broadcast on the LAN interface only', { timeout: 120_000 }, async (t) => {
  const lanA = await createTestNetwork(t, { hosts: [{ name: 'box', address: '10.71.0.1/24' }, { name: 'pca', address: '10.71.0.2/24' }] });
  const lanB = await createTestNetwork(t, { hosts: [{ name: 'pcb', address: '10.72.0.2/24' }] });
  await lanA.addInterface('box', { name: 'eth1', lan: lanB, address: '10.72.0.1/24' });

  const rxA = collect(lanA.spawn('pca', process.execPath, ['-e', LISTEN]));
  const rxB = collect(lanB.spawn('pcb', process.execPath, ['-e', LISTEN]));
  await waitFor('receivers', async () => (rxA.lines.includes('ready') && rxB.lines.includes('ready') ? true : undefined), 10_000);

  const dataDir = await tempDir(t, 'lanboot-wake-');
  const serve = lanA.spawn('box', process.execPath, [
    lanbootMain, 'serve', '--data', dataDir, '--interface', 'eth1', '--dhcp', 'off', '--mdns', 'off', '--listen', '10.72.0.1', '--iscsi-port', '0', '--http-port', '0',
  ]);
  let logs = '';
  serve.stdout!.on('data', (c: Buffer) => (logs += c.toString()));
  serve.stderr!.on('data', (c: Buffer) => (logs += c.toString()));
  await waitFor('supervisor', async () => ((await runLanbootCli(dataDir, ['status', '--json'])).code === 0 ? true : undefined), 30_000).catch((e) => {
    throw new Error(`${(e as Error).message}\n${logs}`);
  });

  const image = path.join(dataDir, 'golden.raw');
  fs.writeFileSync(image, Buffer.alloc(1024 * 1024, 1));
  assert.equal((await runLanbootCli(dataDir, ['image', 'import', image, '--name', 'base'])).code, 0);
  const mac = '52:54:00:ab:cd:ef';
  assert.equal((await runLanbootCli(dataDir, ['seat', 'add', '--name', 'pc1', '--image', 'base', '--mac', mac, '--group', 'cafe'])).code, 0);

  const unknown = await runLanbootCli(dataDir, ['seat', 'wake', 'ghost']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /^lanboot: seat 'ghost' does not exist: nothing was woken\n$/);

  const woke = await runLanbootCli(dataDir, ['seat', 'wake', 'pc1']);
  assert.equal(woke.code, 0, woke.stderr + logs);
  await waitFor('packet on eth1', async () => (rxB.lines.length >= 2 ? true : undefined), 5000);
  const packet = JSON.parse(rxB.lines[1]!) as { hex: string; from: string };
  const bytes = Buffer.from(packet.hex, 'hex');
  assert.equal(bytes.length, 102);
  assert.deepEqual(bytes.subarray(0, 6), Buffer.alloc(6, 0xff));
  const macBytes = Buffer.from(mac.replace(/:/g, ''), 'hex');
  for (let i = 0; i < 16; i += 1) assert.deepEqual(bytes.subarray(6 + i * 6, 12 + i * 6), macBytes, `copy ${i} of the MAC`);
  assert.equal(packet.from, '10.72.0.1', 'sent from the box on eth1');

  // The group wake goes the same way; eth0's LAN never sees a packet.
  assert.equal((await runLanbootCli(dataDir, ['group', 'wake', 'cafe'])).code, 0);
  await waitFor('second packet', async () => (rxB.lines.length >= 3 ? true : undefined), 5000);
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(rxA.lines, ['ready'], 'nothing on the other LAN');
  serve.kill('SIGTERM');
});
