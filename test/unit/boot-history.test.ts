// Boot history: a boot's script fetch, iSCSI login, first write, bytes and end recorded from
// the seat manager's events and the engine's session counters (recording engine with
// sessions set by the test, see support/recording-engine.ts), exported as JSON and CSV; the
// room view's states; retention.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { test } from 'node:test';
import type { SessionInfo } from '../../src/native/index.js';
import type { SeatManager } from '../../src/seats/index.js';
import { HistoryService } from '../../src/history/service.js';
import { BootHistoryStore } from '../../src/history/store.js';
import { openDatabase, migrate } from '../../src/db/database.js';
import { startFixture } from './support/supervisor-fixture.js';

function get(socketPath: string, url: string): Promise<{ status: number; text: string; type: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ socketPath, path: url }, (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, type: String(res.headers['content-type']) }));
      })
      .on('error', reject);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a boot is recorded from script fetch to session end; room states; JSON and CSV export; bad input refused', async (t) => {
  const f = await startFixture(t, { services: [new HistoryService({ sampleMs: 30 })] });
  const image = path.join(f.dataDir, 'golden.raw');
  fs.writeFileSync(image, Buffer.alloc(1024 * 1024, 7));
  assert.equal((await f.cli(['image', 'import', image, '--name', 'base'])).code, 0);
  assert.equal((await f.cli(['seat', 'add', '--name', 'pc1', '--image', 'base', '--mac', '52:54:00:00:00:01', '--group', 'cafe'])).code, 0);
  assert.equal((await f.cli(['seat', 'add', '--name', 'pc2', '--image', 'base', '--mac', '52:54:00:00:00:02'])).code, 0);
  const socket = path.join(f.dataDir, 'lanboot.sock');
  const room = async () => JSON.parse((await get(socket, '/api/v1/room')).text) as { groups: { name: string | null; seats: { name: string; state: string }[] }[] };
  const stateOf = async (seat: string) => (await room()).groups.flatMap((g) => g.seats).find((s) => s.name === seat)!.state;

  assert.equal(await stateOf('pc1'), 'off');
  const manager = (f.supervisor as unknown as { seatManager: SeatManager }).seatManager;
  const engine = f.engine();
  let sessions: SessionInfo[] = [];
  (engine as unknown as { sessions: () => SessionInfo[] }).sessions = () => sessions;
  const iqn = JSON.parse((await f.cli(['seat', 'show', 'pc1', '--json'])).stdout).targetIqn as string;

  manager.prepareForBoot('pc1');
  assert.equal(await stateOf('pc1'), 'booting');
  await sleep(20);
  const session: SessionInfo = { targetIqn: iqn, initiatorIqn: 'iqn.x:pc1', isid: '000000000001', tsih: 1, remoteAddress: '10.0.0.5', remotePort: 5000, connectedAt: Date.now(), commands: 10, bytesRead: 4096, bytesWritten: 0, meanLatencyUs: 10 };
  sessions = [session];
  engine.onEvent({ type: 'login', targetIqn: iqn, initiatorIqn: session.initiatorIqn, isid: session.isid, tsih: 1, remoteAddress: '10.0.0.5', discovery: false });
  assert.equal(await stateOf('pc1'), 'up');
  await sleep(80);
  sessions = [{ ...session, bytesRead: 10_000_000, bytesWritten: 512 }];
  await sleep(80);
  sessions = [];
  engine.onEvent({ type: 'logout', targetIqn: iqn, initiatorIqn: session.initiatorIqn, isid: session.isid, tsih: 1, reason: 'logout' });
  assert.equal(await stateOf('pc1'), 'off');

  const json = JSON.parse((await get(socket, '/api/v1/history?seat=pc1')).text) as { seat: string; loginAt: number; firstWriteAt: number; endedAt: number; bytesRead: number; bytesWritten: number; startedAt: string; scriptAt: number }[];
  assert.equal(json.length, 1);
  const r = json[0]!;
  assert.equal(r.seat, 'pc1');
  assert.equal(r.bytesRead, 10_000_000);
  assert.equal(r.bytesWritten, 512);
  const started = Date.parse(r.startedAt);
  assert.ok(r.scriptAt === started && r.loginAt >= started && r.firstWriteAt > r.loginAt && r.endedAt >= r.firstWriteAt, JSON.stringify(r));

  const csv = await get(socket, '/api/v1/history?format=csv');
  assert.match(csv.type, /^text\/csv/);
  const lines = csv.text.trim().split('\r\n');
  assert.equal(lines[0], 'seat,mac,started_at,script_at,login_ms,first_write_ms,session_ms,bytes_read,bytes_written,fault');
  assert.match(lines[1]!, /^pc1,52:54:00:00:00:01,[^,]+,[^,]+,\d+,\d+,\d+,10000000,512,$/);

  const view = await room();
  assert.deepEqual(view.groups.map((g) => [g.name, g.seats.map((s) => s.name)]), [['cafe', ['pc1']], [null, ['pc2']]]);
  const searched = JSON.parse((await get(socket, '/api/v1/room?q=pc2')).text) as { groups: { seats: { name: string }[] }[] };
  assert.deepEqual(searched.groups.flatMap((g) => g.seats.map((s) => s.name)), ['pc2']);

  for (const [url, status, message] of [
    ['/api/v1/history?seat=ghost', 404, /seat 'ghost' does not exist/],
    ['/api/v1/history?days=abc', 400, /days: expected a number of days/],
    ['/api/v1/history?format=xml', 400, /format: expected json or csv/],
    ['/api/v1/history?seat=../x', 400, /seat/],
  ] as const) {
    const res = await get(socket, url);
    assert.equal(res.status, status, url);
    assert.match(JSON.parse(res.text).error.message, message);
  }
});

test('retention drops records older than the limit and beyond the row limit', async (t) => {
  const dir = fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', 'lanboot-hist-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const db = openDatabase(path.join(dir, 'lanboot.db'));
  t.after(() => db.close());
  await migrate(db);
  const store = new BootHistoryStore(db, { days: 30, maxRows: 5 });
  const now = Date.UTC(2024, 0, 31);
  store.open('old', null, now - 31 * 86_400_000);
  for (let i = 0; i < 7; i += 1) store.open(`pc${i}`, null, now - i * 1000);
  assert.equal(store.prune(now), 3);
  assert.deepEqual([...store.latestBySeat().keys()].sort(), ['pc0', 'pc1', 'pc2', 'pc3', 'pc4']);
});
