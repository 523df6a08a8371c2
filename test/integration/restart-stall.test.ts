// A box restart under running PCs, as the PCs' initiators see it: two seats (persistent and
// fresh) each run a loop of FUA writes read back at once, through an initiator that does what
// open-iscsi's session recovery does after a dropped connection (log in again every 250 ms,
// then retry the command that had no answer), for up to a replacement timeout of 120 s
// (node.session.timeo.replacement_timeout, open-iscsi's default) before it would fail I/O.
// The supervisor goes down three ways:
//   1. kill -9, then a restart on the same data dir and port (what Restart=on-failure does
//      after a crash);
//   2. hung: SIGSTOP. A watchdog emulated here as systemd runs it (WatchdogSec, then the
//      abort signal, TimeoutAbortSec, SIGKILL, RestartSec): it reads the supervisor's real
//      sd_notify datagrams (READY=1, WATCHDOG=1) on its own NOTIFY_SOCKET and, once no
//      WATCHDOG=1 came for WATCHDOG_USEC, kills and restarts it. The timings are scaled down
//      (WATCHDOG_USEC 4 s instead of 30 s); docs/robustness.md gives the appliance's figure;
//   3. a clean stop and start (SIGTERM: an update).
// Asserted: no command ever fails (no CHECK CONDITION, nothing beyond the replacement
// timeout), every acknowledged write reads back at the end, the fresh seat is not reset by
// the reconnects (a fresh seat is reset only at a new boot), and each stall is measured:
// the longest gap between two completed commands of a seat.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { IscsiSession, expectGood } from '../helpers/iscsi-wire.js';
import { addSeat, importImage, type SeatInfo, startLanboot } from '../helpers/supervisor.js';
import { freePort, killTree, requireTools, tempDir, waitExit } from '../helpers/tools.js';

const BLOCK = 512;
const DISK_BYTES = 16 * 1024 * 1024;
const REPLACEMENT_TIMEOUT_MS = 120_000;
const RELOGIN_INTERVAL_MS = 250;
const WATCHDOG_USEC = 4_000_000;
const ABORT_TIMEOUT_MS = 1_000;
const RESTART_DELAY_MS = 500;

interface SeatLoop {
  name: string;
  writesAcknowledged: Map<number, Buffer>;
  /** [time, gap] of every completed command; the stall of an event is the longest gap in its window. */
  completions: number[];
  errors: string[];
  reconnects: number;
}

function blockFor(seat: string, n: number): Buffer {
  const b = Buffer.alloc(4096);
  b.write(`${seat} write ${n} `, 0, 'latin1');
  for (let i = 64; i < b.length; i += 4) b.writeUInt32BE((n * 2654435761 + i) >>> 0, i);
  return b;
}

test('PCs keep running through kill -9, a watchdog restart of a hung supervisor and a clean restart', { timeout: 600_000 }, async (t) => {
  requireTools('python3');
  const work = await tempDir(t, 'lanboot-stall-');
  const golden = path.join(work, 'golden.img');
  fs.writeFileSync(golden, Buffer.alloc(DISK_BYTES, 0x5a));

  // systemd's side of sd_notify: a Unix datagram socket (Node has none: python3 reads it).
  const notifySocket = path.join(work, 'notify.sock');
  const notify = spawn('python3', ['-u', '-c', 'import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint("LISTENING",flush=True)\nwhile True:\n  d=s.recv(4096)\n  print(d.decode("latin1").replace("\\n"," "),flush=True)', notifySocket], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(async () => {
    killTree(notify);
    await waitExit(notify);
  });
  let lastPing = 0;
  let pings = 0;
  let readySeen = 0;
  await new Promise<void>((resolve) => {
    notify.stdout!.on('data', (b: Buffer) => {
      const text = b.toString('latin1');
      if (text.includes('LISTENING')) resolve();
      if (text.includes('WATCHDOG=1')) {
        lastPing = Date.now();
        pings++;
      }
      if (text.includes('READY=1')) readySeen++;
    });
  });

  const iscsiPort = await freePort();
  const lanboot = await startLanboot(t, {
    serveArgs: ['--iscsi-port', String(iscsiPort)],
    env: { NOTIFY_SOCKET: notifySocket, WATCHDOG_USEC: String(WATCHDOG_USEC) },
  });
  assert.equal(lanboot.iscsiPort, iscsiPort);
  await importImage(lanboot, golden, 'stall-golden');
  const seats: SeatInfo[] = [];
  for (const [name, mode] of [['steady', 'persistent'], ['kiosk', 'fresh']] as const) {
    seats.push(await addSeat(lanboot, { name, image: 'stall-golden', initiators: [`iqn.2026-11.test.lanboot:${name}`], mode }));
  }

  let stopping = false;
  const loops: SeatLoop[] = [];
  const runLoop = async (seat: SeatInfo, loop: SeatLoop) => {
    const initiatorIqn = `iqn.2026-11.test.lanboot:${loop.name}`;
    let session: IscsiSession | undefined;
    const connect = async (): Promise<IscsiSession> => {
      const since = Date.now();
      for (;;) {
        try {
          const s = await IscsiSession.open({ host: '127.0.0.1', port: iscsiPort, initiatorIqn, targetIqn: seat.targetIqn, chap: seat.chap ?? undefined, lun: seat.lun, timeoutMs: 5_000 });
          await s.clearUnitAttention();
          return s;
        } catch (err) {
          if (Date.now() - since > REPLACEMENT_TIMEOUT_MS) throw new Error(`no login within the replacement timeout: ${(err as Error).message}`);
          await new Promise((r) => setTimeout(r, RELOGIN_INTERVAL_MS));
        }
      }
    };
    let n = 0;
    const slots = DISK_BYTES / 4096;
    while (!stopping) {
      const data = blockFor(loop.name, n);
      const lba = (n % slots) * 8;
      const since = Date.now();
      // The command is retried on a new session until it completes (SCSI midlayer + session recovery).
      for (;;) {
        try {
          session ??= await connect();
          expectGood(await session.write10(lba, data, { fua: true }), `${loop.name}: write ${n}`);
          const back = expectGood(await session.read10(lba, 8), `${loop.name}: read-back ${n}`);
          if (!back.data.equals(data)) loop.errors.push(`${loop.name}: write ${n} read back different data`);
          break;
        } catch (err) {
          const message = (err as Error).message;
          if (/status 0x|sense key|read back/.test(message) || Date.now() - since > REPLACEMENT_TIMEOUT_MS) {
            loop.errors.push(message);
            stopping = true;
            break;
          }
          session?.destroy();
          session = undefined;
          loop.reconnects++;
        }
      }
      loop.writesAcknowledged.set(lba, data);
      loop.completions.push(Date.now());
      n++;
    }
    session?.destroy();
  };
  const running = seats.map((seat) => {
    const loop: SeatLoop = { name: seat.name ?? 'seat', writesAcknowledged: new Map(), completions: [], errors: [], reconnects: 0 };
    loops.push(loop);
    return runLoop(seat, loop);
  });

  /** The longest gap between completions of each seat in [from, until], after `until` waited for the next completion. */
  const stallOf = async (from: number, until: number): Promise<number[]> => {
    await new Promise((r) => setTimeout(r, 2_000));
    return loops.map((loop) => {
      let worst = 0;
      for (let i = 1; i < loop.completions.length; i++) {
        const a = loop.completions[i - 1]!;
        const b = loop.completions[i]!;
        if (b >= from && a <= until) worst = Math.max(worst, b - a);
      }
      return worst;
    });
  };
  const settle = () => new Promise((r) => setTimeout(r, 3_000));
  const stalls: Record<string, number[]> = {};
  await settle();
  const before = loops.map((l) => l.completions.length);
  assert.ok(before.every((c) => c > 0), 'both seats are writing');

  // 1. kill -9, restart.
  let from = Date.now();
  await lanboot.kill9();
  await lanboot.restart();
  stalls['kill -9 + restart'] = await stallOf(from, Date.now());
  await settle();

  // 2. Hung supervisor: the emulated watchdog notices the missing pings.
  assert.ok(pings > 0, 'the supervisor pings the watchdog');
  from = Date.now();
  process.kill(lanboot.pid, 'SIGSTOP');
  const watchdogMs = WATCHDOG_USEC / 1000;
  while (Date.now() - lastPing < watchdogMs) await new Promise((r) => setTimeout(r, 100));
  const detectedAfterMs = Date.now() - from;
  process.kill(lanboot.pid, 'SIGABRT'); // pending: a stopped process does not act on it
  await new Promise((r) => setTimeout(r, ABORT_TIMEOUT_MS));
  await lanboot.kill9();
  await new Promise((r) => setTimeout(r, RESTART_DELAY_MS));
  const readyBefore = readySeen;
  await lanboot.restart();
  stalls['hung supervisor, watchdog restart'] = await stallOf(from, Date.now());
  assert.ok(readySeen > readyBefore, 'the restarted supervisor reported READY=1');
  await settle();

  // 3. Clean restart (SIGTERM).
  from = Date.now();
  await lanboot.restart();
  stalls['clean restart'] = await stallOf(from, Date.now());
  await settle();

  stopping = true;
  await Promise.all(running);
  for (const loop of loops) assert.deepEqual(loop.errors, [], `${loop.name}: I/O errors`);
  // Every acknowledged write reads back: nothing acknowledged was lost, the fresh seat was not reset.
  for (const [i, seat] of seats.entries()) {
    const loop = loops[i]!;
    const s = await IscsiSession.open({ host: '127.0.0.1', port: iscsiPort, initiatorIqn: `iqn.2026-11.test.lanboot:${loop.name}`, targetIqn: seat.targetIqn, chap: seat.chap ?? undefined, lun: seat.lun });
    try {
      await s.clearUnitAttention();
      for (const [lba, data] of loop.writesAcknowledged) {
        const back = expectGood(await s.read10(lba, 8), `${loop.name}: final read at ${lba}`);
        assert.ok(back.data.equals(data), `${loop.name}: acknowledged write at LBA ${lba} lost`);
      }
    } finally {
      s.destroy();
    }
  }
  const summary = Object.entries(stalls).map(([what, ms]) => `${what}: ${ms.map((m, i) => `${loops[i]!.name} ${m} ms`).join(', ')}`);
  t.diagnostic(`stalls: ${summary.join('; ')}; watchdog noticed the hang after ${detectedAfterMs} ms (WATCHDOG_USEC ${WATCHDOG_USEC / 1000} ms)`);
  t.diagnostic(`writes acknowledged: ${loops.map((l) => `${l.name} ${l.completions.length} (${l.reconnects} reconnects)`).join(', ')}`);
  for (const ms of Object.values(stalls).flat()) assert.ok(ms < REPLACEMENT_TIMEOUT_MS, `a stall of ${ms} ms would fail I/O on the PC`);
});
