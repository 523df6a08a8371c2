// Soak: many seats with mixed reads and writes for a long time, with restarts of lanboot in
// between; the supervisor's RSS and open descriptors are sampled all along. Not a test: it
// measures and prints a JSON summary (record it in docs/robustness.md, "Soak").
//
//   node dist/bench/soak.js [--seats 20] [--minutes 30] [--restarts 4] [--image-mib 64]
//
// Each seat (persistent, CHAP) runs one initiator that, in a loop, writes 4 KiB at a random
// chunk of its own (a share with FUA, the rest followed by SYNCHRONIZE CACHE now and then),
// reads random 64 KiB from golden or its own writes and checks every byte against what it
// expects. A dropped connection (a restart) is logged in again every 250 ms and the command
// retried, as open-iscsi's session recovery does. Restarts alternate kill -9 and SIGTERM, at
// even intervals, on the same iSCSI port. Any wrong byte, CHECK CONDITION or a command that
// cannot complete within 120 s (open-iscsi's replacement_timeout) is an error. A write
// acknowledged without FUA and not yet covered by a SYNCHRONIZE CACHE may be lost by a
// kill -9 (a write-back cache, SBC-4): such a chunk may read as its older content.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { IscsiSession, expectGood } from '../test/helpers/iscsi-wire.js';
import { addSeat, importImage, type SeatInfo, startLanboot } from '../test/helpers/supervisor.js';
import { freePort } from '../test/helpers/tools.js';
import { Teardown } from './support/teardown.js';

const { values: opts } = parseArgs({
  options: {
    seats: { type: 'string', default: '20' },
    minutes: { type: 'string', default: '30' },
    restarts: { type: 'string', default: '4' },
    'image-mib': { type: 'string', default: '64' },
  },
});
const SEATS = Number(opts.seats);
const DURATION_MS = Number(opts.minutes) * 60_000;
const RESTARTS = Number(opts.restarts);
const IMAGE_BYTES = Number(opts['image-mib']) * 1024 * 1024;
const REPLACEMENT_TIMEOUT_MS = 120_000;

function fdCount(pid: number): number {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return -1;
  }
}

function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : -1;
  } catch {
    return -1;
  }
}

async function main(): Promise<void> {
  const teardown = new Teardown();
  try {
    const work = await fsp.mkdtemp(path.join(os.tmpdir(), 'lanboot-soak-'));
    teardown.after(() => fsp.rm(work, { recursive: true, force: true }));
    const golden = randomBytes(IMAGE_BYTES);
    await fsp.writeFile(path.join(work, 'golden.img'), golden);
    const port = await freePort();
    const lanboot = await startLanboot(teardown, { serveArgs: ['--iscsi-port', String(port)] });
    await importImage(lanboot, path.join(work, 'golden.img'), 'soak');
    const seats: SeatInfo[] = [];
    for (let i = 0; i < SEATS; i++) seats.push(await addSeat(lanboot, { name: `soak${i}`, image: 'soak', initiators: [`iqn.2026-11.test.lanboot:soak${i}`], mode: 'persistent' }));

    const started = Date.now();
    let stop = false;
    const errors: string[] = [];
    const counters = { writes: 0, reads: 0, bytesChecked: 0, reconnects: 0, maxStallMs: 0 };
    const seatLoop = async (index: number) => {
      const seat = seats[index]!;
      const initiatorIqn = `iqn.2026-11.test.lanboot:soak${index}`;
      // chunk -> what it may hold: [0] the durable content (undefined = golden), then writes
      // acknowledged since without FUA or a SYNCHRONIZE CACHE after them (a kill -9 may drop
      // those: SBC-4 write-back cache semantics), in order.
      const written = new Map<number, (Buffer | undefined)[]>();
      // chunk -> the session it was acknowledged on: a SYNCHRONIZE CACHE that completes on a
      // later session (after a restart) does not cover it, the restart may have dropped it.
      let pendingChunks = new Map<number, number>();
      let sessionNumber = 0;
      let plainWrites = 0;
      const chunks = IMAGE_BYTES / 4096;
      let session: IscsiSession | undefined;
      let lastDone = Date.now();
      let n = 0;
      const command = async (what: string, fn: (s: IscsiSession) => Promise<void>) => {
        const since = Date.now();
        for (;;) {
          try {
            if (session === undefined) {
              const opened = await IscsiSession.open({ host: '127.0.0.1', port, initiatorIqn, targetIqn: seat.targetIqn, chap: seat.chap ?? undefined, lun: seat.lun, timeoutMs: 10_000 });
              session = opened;
              sessionNumber++;
              await opened.clearUnitAttention();
            }
            await fn(session);
            const now = Date.now();
            counters.maxStallMs = Math.max(counters.maxStallMs, now - lastDone);
            lastDone = now;
            return;
          } catch (err) {
            const message = (err as Error).message;
            if (/status 0x|sense key|mismatch/.test(message) || Date.now() - since > REPLACEMENT_TIMEOUT_MS) {
              errors.push(`soak${index} ${what}: ${message}`);
              stop = true;
              return;
            }
            session?.destroy();
            session = undefined;
            counters.reconnects++;
            await new Promise((r) => setTimeout(r, 250));
          }
        }
      };
      while (!stop) {
        n++;
        if (n % 3 === 0) {
          const chunk = Math.floor(Math.random() * chunks);
          const data = randomBytes(4096);
          const fua = n % 2 === 0;
          await command('write', async (s) => {
            expectGood(await s.write10(chunk * 8, data, { fua }), 'write');
          });
          if (fua) {
            written.set(chunk, [data]);
            pendingChunks.delete(chunk);
          } else {
            written.set(chunk, [...(written.get(chunk) ?? [undefined]), data]);
            pendingChunks.set(chunk, sessionNumber);
            if (++plainWrites % 8 === 0) {
              // Only writes acknowledged before the SYNCHRONIZE CACHE was sent are covered.
              const covered = pendingChunks;
              pendingChunks = new Map();
              await command('sync', async (s) => {
                expectGood(await s.synchronizeCache(), 'sync');
              });
              for (const [c, ackedOn] of covered) {
                if (ackedOn === sessionNumber) written.set(c, [written.get(c)!.at(-1)]);
                else pendingChunks.set(c, ackedOn);
              }
            }
          }
          counters.writes++;
        } else {
          const first = Math.floor(Math.random() * (chunks - 16));
          await command('read', async (s) => {
            const r = expectGood(await s.read10(first * 8, 128), 'read');
            for (let c = 0; c < 16; c++) {
              const chunk = first + c;
              const got = r.data.subarray(c * 4096, (c + 1) * 4096);
              const candidates = (written.get(chunk) ?? [undefined]).map((b) => b ?? golden.subarray(chunk * 4096, (chunk + 1) * 4096));
              const at = candidates.findIndex((b) => got.equals(b));
              if (at < 0) throw new Error(`mismatch at chunk ${chunk} (${candidates.length} possible contents)`);
              // What was read is now what the chunk holds until the next write.
              if (candidates.length > 1) written.set(chunk, [written.get(chunk)![at], ...written.get(chunk)!.slice(at + 1)]);
            }
            counters.bytesChecked += r.data.length;
          });
          counters.reads++;
        }
      }
      session?.destroy();
    };

    const samples: { minute: number; pid: number; rssMiB: number; fds: number; sessions: number }[] = [];
    const sample = () => samples.push({ minute: Math.round((Date.now() - started) / 6000) / 10, pid: lanboot.pid, rssMiB: rssMiB(lanboot.pid), fds: fdCount(lanboot.pid), sessions: SEATS });
    const loops = seats.map((_, i) => seatLoop(i));
    const sampler = setInterval(sample, 30_000);
    const restarts: { at: number; kind: string }[] = [];
    for (let r = 1; r <= RESTARTS && !stop; r++) {
      const at = started + (DURATION_MS * r) / (RESTARTS + 1);
      while (Date.now() < at && !stop) await new Promise((res) => setTimeout(res, 1000));
      if (stop) break;
      sample();
      const kind = r % 2 === 1 ? 'kill -9' : 'SIGTERM';
      if (kind === 'kill -9') await lanboot.kill9();
      await lanboot.restart();
      restarts.push({ at: Math.round((Date.now() - started) / 1000), kind });
    }
    while (Date.now() < started + DURATION_MS && !stop) await new Promise((res) => setTimeout(res, 1000));
    sample();
    clearInterval(sampler);
    stop = true;
    await Promise.all(loops);
    console.log(JSON.stringify({ seats: SEATS, minutes: Number(opts.minutes), restarts, counters, errors: errors.slice(0, 20), samples }, null, 1));
    process.exitCode = errors.length === 0 ? 0 : 1;
  } finally {
    await teardown.run();
  }
}

await main();
