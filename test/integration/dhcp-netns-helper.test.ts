// The network-namespace helper (test/helpers/netns.ts) that the DHCP and VM tests build their
// LANs with: hosts talk over the bridge, and everything is cleaned up: on destroy, when the
// test process exits without destroying, and when it was killed (swept by the next run).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { createTestNetwork, sweepStaleNamespaces } from '../helpers/netns.js';
import { repoRoot, requireTools, runTool, waitExit, waitFor } from '../helpers/tools.js';

function namespaces(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter(Boolean);
}

test('hosts on the bridge reach each other; destroy kills processes and deletes namespaces', async (t) => {
  requireTools('ip', 'busybox');
  const net = await createTestNetwork(t, {
    hosts: [
      { name: 'a', address: '10.91.0.1/24', mac: '52:54:00:91:00:01' },
      { name: 'b', address: '10.91.0.2/24' },
    ],
  });
  assert.equal(await net.macOf('a'), '52:54:00:91:00:01');
  // Bridge forwarding works at once (forward_delay 0, no STP).
  await net.runOk('a', 'busybox', ['ping', '-c', '1', '-W', '2', '10.91.0.2']);
  // A second interface on another LAN, and a tap on the bridge for qemu.
  const other = await createTestNetwork(t, { hosts: [{ name: 'c', address: '10.92.0.3/24' }] });
  await net.addInterface('b', { name: 'eth1', lan: other, address: '10.92.0.2/24' });
  await other.runOk('c', 'busybox', ['ping', '-c', '1', '-W', '2', '10.92.0.2']);
  const tap = await net.addTap('tap7');
  const link = await net.runOk('lan', 'ip', ['-o', 'link', 'show', tap.interfaceName]);
  assert.match(link.stdout, /master br0/);

  const sleeper = net.spawn('b', 'sleep', ['300']);
  const mine = namespaces().filter((n) => n.startsWith(`${net.prefix}-`));
  assert.deepEqual(mine.sort(), [`${net.prefix}-a`, `${net.prefix}-b`, `${net.prefix}-lan`]);

  await net.destroy();
  assert.ok(await waitExit(sleeper, 5000), 'the spawned process is gone');
  assert.deepEqual(namespaces().filter((n) => n.startsWith(`${net.prefix}-`)), []);
  // Idempotent (t.after calls it again).
  await net.destroy();
});

test('a failing setup leaves nothing behind', async (t) => {
  let prefix = '';
  await assert.rejects(async () => {
    const net = await createTestNetwork(t, { hosts: [{ name: 'ok' }, { name: 'Not-Valid' }] });
    prefix = net.prefix;
  }, /must be 1-12 of \[a-z0-9\]/);
  assert.equal(prefix, '');
  assert.deepEqual(namespaces().filter((n) => n.startsWith(`lbt-${process.pid}-`) && n.endsWith('-ok')), []);
});

const childScript = (body: string) => `
  import { createTestNetwork } from ${JSON.stringify(path.join(repoRoot, 'dist/test/helpers/netns.js'))};
  const net = await createTestNetwork({ after() {} }, { hosts: [{ name: 'x' }] });
  console.log(net.prefix);
  ${body}
`;

test('a test process that exits without cleaning up: the exit hook deletes its namespaces', async () => {
  const result = await runTool(process.execPath, ['--input-type=module', '-e', childScript('')], { timeoutMs: 30_000 });
  assert.equal(result.code, 0, result.stderr);
  const prefix = result.stdout.trim();
  assert.match(prefix, /^lbt-\d+-1$/);
  assert.deepEqual(namespaces().filter((n) => n.startsWith(`${prefix}-`)), []);
});

test('a killed test process: the next run sweeps its namespaces', async (t) => {
  const result = await runTool(process.execPath, ['--input-type=module', '-e', childScript('process.kill(process.pid, "SIGKILL");')], { timeoutMs: 30_000 });
  assert.equal(result.signal, 'SIGKILL');
  const prefix = result.stdout.trim();
  t.after(() => {
    for (const ns of namespaces().filter((n) => n.startsWith(`${prefix}-`))) execFileSync('ip', ['netns', 'delete', ns]);
  });
  assert.equal(namespaces().filter((n) => n.startsWith(`${prefix}-`)).length, 2, 'left behind by the kill');
  const removed = sweepStaleNamespaces();
  assert.deepEqual(removed.filter((n) => n.startsWith(`${prefix}-`)).sort(), [`${prefix}-lan`, `${prefix}-x`]);
  await waitFor('namespaces gone', async () => (namespaces().some((n) => n.startsWith(`${prefix}-`)) ? undefined : true), 5000);
});
