// Groups and Wake-on-LAN through the CLI and the local API of an in-process supervisor
// (recording engine, see support/recording-engine.ts). The wake packets go to a real UDP
// socket on 127.0.0.1 (a broadcast from this machine would leave on a real interface; the
// broadcast on a LAN interface is checked in test/integration/wake-netns.test.ts).
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { loadNative } from '../../src/native/index.js';
import { parseMagicPacket } from '../../src/wake/magic-packet.js';
import { WakeService } from '../../src/wake/service.js';
import { startFixture } from './support/supervisor-fixture.js';

function oneLineError(result: { code: number; stdout: string; stderr: string }, message: RegExp): void {
  assert.equal(result.code, 1, `exit code; stdout: ${result.stdout}`);
  assert.match(result.stderr, /^lanboot: [^\n]+\n$/, `exactly one line on stderr: ${result.stderr}`);
  assert.match(result.stderr, message);
}

async function receiver(t: { after(fn: () => unknown): void }) {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  t.after(() => socket.close());
  const packets: Buffer[] = [];
  socket.on('message', (m) => packets.push(m));
  return { port: socket.address().port, packets };
}

async function until(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('groups: seat add --group, assign, group reset/mode/move, wake seats, group, all; bad input stores nothing', async (t) => {
  const rx = await receiver(t);
  const f = await startFixture(t, { services: [new WakeService({ settings: { interface: null, address: '127.0.0.1', port: rx.port }, openInterfaceUdpSocket: loadNative().openInterfaceUdpSocket })] });
  const image = path.join(f.dataDir, 'golden.raw');
  fs.writeFileSync(image, Buffer.alloc(1024 * 1024, 7));
  assert.equal((await f.cli(['image', 'import', image, '--name', 'base'])).code, 0);
  const add = (name: string, mac: string, extra: string[] = []) => f.cli(['seat', 'add', '--name', name, '--image', 'base', '--mac', mac, ...extra]);
  assert.equal((await add('pc1', '52:54:00:00:00:01', ['--group', 'cafe'])).code, 0);
  assert.equal((await add('pc2', '52:54:00:00:00:02', ['--group', 'cafe'])).code, 0);
  assert.equal((await add('pc3', '52:54:00:00:00:03')).code, 0);
  assert.equal((await f.cli(['seat', 'add', '--name', 'nomac', '--image', 'base'])).code, 0);

  // A bad group name on seat add stores no seat.
  oneLineError(await add('pc4', '52:54:00:00:00:04', ['--group', 'Bad Name']), /group: expected a group name/);
  oneLineError(await f.cli(['seat', 'show', 'pc4']), /seat 'pc4' does not exist/);

  const groups = JSON.parse((await f.cli(["group", "list", "--json"])).stdout) as { name: string; seats: string[]; createdAt: string }[];
  assert.deepEqual(groups, [{ name: 'cafe', seats: ['pc1', 'pc2'], createdAt: groups[0]!.createdAt }]);

  assert.equal((await f.cli(['group', 'add', 'lab'])).code, 0);
  oneLineError(await f.cli(['group', 'add', 'lab']), /group 'lab' already exists/);
  assert.equal((await f.cli(['group', 'assign', 'lab', 'pc3', 'nomac'])).code, 0);
  // All or nothing: an unknown seat moves nobody.
  oneLineError(await f.cli(['group', 'assign', 'lab', 'pc1', 'ghost']), /seat 'ghost' does not exist/);
  const cafe = JSON.parse((await f.cli(['group', 'list', '--json'])).stdout) as { name: string; seats: string[] }[];
  assert.deepEqual(cafe.find((g) => g.name === 'cafe')!.seats, ['pc1', 'pc2']);

  const mode = JSON.parse((await f.cli(['group', 'mode', 'cafe', 'persistent', '--json'])).stdout) as { done: string[]; failed: unknown[] };
  assert.deepEqual(mode.done, ['pc1', 'pc2']);
  assert.equal(JSON.parse((await f.cli(['seat', 'show', 'pc1', '--json'])).stdout).mode, 'persistent');
  assert.equal(JSON.parse((await f.cli(['seat', 'show', 'pc3', '--json'])).stdout).mode, 'fresh', 'a seat of another group is untouched');
  const resetsBefore = f.engine().calls.filter((c) => c.method === 'resetDisk').length;
  const reset = JSON.parse((await f.cli(['group', 'reset', 'cafe', '--json'])).stdout) as { done: string[] };
  assert.deepEqual(reset.done, ['pc1', 'pc2']);
  assert.equal(f.engine().calls.filter((c) => c.method === 'resetDisk').length - resetsBefore, 2, 'each member reset');

  // A new version, then the group moves to it; the other group stays.
  fs.writeFileSync(image, Buffer.alloc(1024 * 1024, 9));
  assert.equal((await f.cli(['image', 'import', image, '--name', 'base'])).code, 0);
  const moved = JSON.parse((await f.cli(['group', 'move', 'cafe', '--json'])).stdout) as { done: string[] };
  assert.deepEqual(moved.done, ['pc1', 'pc2']);
  assert.equal(JSON.parse((await f.cli(['seat', 'show', 'pc2', '--json'])).stdout).version, 2);
  assert.equal(JSON.parse((await f.cli(['seat', 'show', 'pc3', '--json'])).stdout).version, 1);
  oneLineError(await f.cli(['group', 'move', 'cafe', '--version', '7']), /failed|no version 7/);
  oneLineError(await f.cli(['group', 'reset', 'nope']), /group 'nope' does not exist/);
  oneLineError(await f.cli(['group', 'mode', 'cafe', 'frozen']), /MODE: expected one of/);

  // Wake: one seat, several, a group, all.
  const wake = async (args: string[]) => JSON.parse((await f.cli(['seat', 'wake', ...args, '--json'])).stdout) as { woken: { seat: string; mac: string }[]; skipped: { seat: string }[] };
  assert.deepEqual((await wake(['pc1'])).woken, [{ seat: 'pc1', mac: '52:54:00:00:00:01' }]);
  await until(() => rx.packets.length === 1);
  assert.equal(rx.packets[0]!.length, 102);
  assert.equal(parseMagicPacket(rx.packets[0]!), '52:54:00:00:00:01');
  assert.deepEqual((await wake(['pc2', 'pc3'])).woken.map((w) => w.seat), ['pc2', 'pc3']);
  const lab = await wake(['--group', 'lab']);
  assert.deepEqual(lab.woken.map((w) => w.seat), ['pc3']);
  assert.deepEqual(lab.skipped.map((s) => s.seat), ['nomac']);
  assert.equal((await wake(['--all'])).woken.length, 3);
  await until(() => rx.packets.length === 1 + 2 + 1 + 3);
  assert.deepEqual(rx.packets.slice(1).map((p) => parseMagicPacket(p)), ['52:54:00:00:00:02', '52:54:00:00:00:03', '52:54:00:00:00:03', '52:54:00:00:00:01', '52:54:00:00:00:02', '52:54:00:00:00:03']);

  // Bad wake input: one line, nothing sent.
  const before = rx.packets.length;
  oneLineError(await f.cli(['seat', 'wake', 'pc1', 'ghost']), /seat 'ghost' does not exist: nothing was woken/);
  oneLineError(await f.cli(['seat', 'wake']), /exactly one/);
  oneLineError(await f.cli(['seat', 'wake', 'pc1', '--all']), /exactly one/);
  oneLineError(await f.cli(['group', 'wake', 'ghosts']), /group 'ghosts' does not exist/);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(rx.packets.length, before);

  // Schedules: an impossible time is refused and nothing is stored.
  oneLineError(await f.cli(['wake', 'schedule', '--at', 'weekdays 25:00', '--group', 'cafe']), /at: no such time of day/);
  oneLineError(await f.cli(['wake', 'schedule', '--at', 'someday 08:00', '--all']), /at: days: expected/);
  oneLineError(await f.cli(['wake', 'schedule', '--at', 'weekdays 08:45', '--group', 'ghosts']), /group 'ghosts' does not exist/);
  assert.deepEqual(JSON.parse((await f.cli(['wake', 'schedules', '--json'])).stdout), []);
  const s = JSON.parse((await f.cli(['wake', 'schedule', '--at', 'weekdays 08:45', '--group', 'cafe', '--json'])).stdout) as { id: number; at: string };
  assert.equal(s.at, 'weekdays 08:45');
  assert.equal((await f.cli(['wake', 'unschedule', String(s.id)])).code, 0);
  oneLineError(await f.cli(['wake', 'unschedule', String(s.id)]), /wake schedule \d+ does not exist/);

  // Removing a group keeps its seats.
  assert.equal((await f.cli(['group', 'remove', 'lab'])).code, 0);
  assert.equal((await f.cli(['seat', 'show', 'pc3'])).code, 0);
});
