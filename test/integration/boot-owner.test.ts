// Boot credentials go only to the PC that owns the MAC: over a real (namespaced) LAN, a
// seat's script is served to the address the box's neighbor table maps to that MAC, and a
// host asking for another PC's MAC is refused (403) and recorded as a spoofing event on that
// MAC's boot timeline. The same rule keeps one host from filling the waiting list with
// made-up MACs.
//
//   box 10.68.0.2 (lanboot serve)   pc 10.68.0.10   spoofer 10.68.0.66
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { createTestNetwork, type TestNetwork } from '../helpers/netns.js';
import { lanbootMain, runLanbootCli } from '../helpers/supervisor.js';
import { makeGoldenImage } from '../helpers/images.js';
import { repoRoot, requireTools, waitFor } from '../helpers/tools.js';

const BOX = '10.68.0.2';
const PC_MAC = '52:54:00:68:00:10';
const SPOOFER_MAC = '52:54:00:68:00:66';

async function fetchFrom(net: TestNetwork, host: string, url: string): Promise<{ status: number; body: string }> {
  const r = await net.run(host, 'curl', ['-s', '-m', '10', '-w', '\n%{http_code}', url], { timeoutMs: 20_000 });
  assert.equal(r.code, 0, `curl in ${host}: ${r.stderr}`);
  const cut = r.stdout.lastIndexOf('\n');
  return { status: Number(r.stdout.slice(cut + 1)), body: r.stdout.slice(0, cut) };
}

test('a boot script goes only to the address that owns the MAC; other claims are refused and recorded', { timeout: 120_000 }, async (t) => {
  requireTools('ip', 'curl');
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'lanboot-owner-'));
  t.after(() => fsp.rm(dir, { recursive: true, force: true }));
  const net = await createTestNetwork(t, {
    hosts: [
      { name: 'box', address: `${BOX}/24` },
      { name: 'pc', address: '10.68.0.10/24', mac: PC_MAC },
      { name: 'spoofer', address: '10.68.0.66/24', mac: SPOOFER_MAC },
    ],
  });
  const dataDir = path.join(dir, 'data');
  const child = net.spawn('box', process.execPath, [lanbootMain, 'serve', '--data', dataDir, '--iscsi-port', '0', '--http-port', '8080', '--tftp-port', '0', '--listen', '0.0.0.0', '--mdns', 'off'], {
    cwd: repoRoot,
    env: { ...process.env, NOTIFY_SOCKET: '' },
  });
  let output = '';
  child.stdout?.on('data', (b: Buffer) => (output = (output + b.toString()).slice(-20_000)));
  child.stderr?.on('data', (b: Buffer) => (output = (output + b.toString()).slice(-20_000)));
  const cli = async (args: string[]) => {
    const r = await runLanbootCli(dataDir, args, 30_000);
    assert.equal(r.code, 0, `lanboot ${args.join(' ')}: ${r.stderr}\n${output.slice(-2000)}`);
    return r.stdout;
  };
  await waitFor('lanboot serving', async () => {
    if (child.exitCode !== null) throw new Error(`lanboot exited: ${output.slice(-3000)}`);
    return (await runLanbootCli(dataDir, ['status', '--json'], 10_000)).code === 0 ? true : undefined;
  }, 30_000, 250);
  const golden = await makeGoldenImage(dir, 1024 * 1024, 'lba');
  await cli(['image', 'import', golden.path, '--name', 'golden']);
  await cli(['client', 'add', '--name', 'pc-1', '--image', 'golden', '--mac', PC_MAC]);
  const script = (host: string, mac: string) => fetchFrom(net, host, `http://${BOX}:8080/boot.ipxe?mac=${mac.replaceAll(':', '-')}`);

  // The PC itself gets its script with its CHAP secret.
  const own = await script('pc', PC_MAC);
  assert.equal(own.status, 200, own.body);
  assert.match(own.body, /^sanboot iscsi:/m);
  assert.match(own.body, /^set password \S+$/m);

  // Another host claiming the PC's MAC gets nothing of it.
  const claimed = await script('spoofer', PC_MAC);
  assert.equal(claimed.status, 403, claimed.body);
  assert.doesNotMatch(claimed.body, /password|iqn\.|pc-1/);
  assert.match(output, /boot script refused: the requesting address does not belong to the MAC it asked for/);
  const events = JSON.parse(await cli(['boot', 'events', PC_MAC, '--json'])) as { step: string; detail: string }[];
  const spoofing = events.find((e) => e.step === 'spoofing');
  assert.ok(spoofing, JSON.stringify(events));
  assert.match(spoofing.detail, new RegExp(`10\\.68\\.0\\.66 is ${SPOOFER_MAC}, not ${PC_MAC}`));

  // Made-up MACs cannot reach the waiting list; the spoofer's own MAC can.
  for (let i = 0; i < 5; i++) {
    const made = await script('spoofer', `52:54:00:99:00:0${i}`);
    assert.equal(made.status, 403, made.body);
  }
  const ownEnroll = await script('spoofer', SPOOFER_MAC);
  assert.equal(ownEnroll.status, 200, ownEnroll.body);
  assert.match(ownEnroll.body, /Enrollment code/);
  const waiting = JSON.parse(await cli(['waiting', '--json'])) as { mac: string }[];
  assert.deepEqual(waiting.map((w) => w.mac), [SPOOFER_MAC]);

  const status = JSON.parse(await cli(['status', '--json'])) as { services: { boot: { spoofingRefused: number; scriptOwnerCheck: string } } };
  assert.equal(status.services.boot.scriptOwnerCheck, 'neighbor');
  assert.equal(status.services.boot.spoofingRefused, 6);
});
