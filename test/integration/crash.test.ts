// Crash durability: the real supervisor (`lanboot serve`, one persistent
// seat) takes writes from the test initiator under load: some with FUA, some followed by
// SYNCHRONIZE CACHE. The test kill -9s the supervisor mid-load, restarts it on the same data
// dir, and checks that
//   - every write acknowledged as durable reads back byte for byte: a write with FUA that was
//     acknowledged, or a write acknowledged before a SYNCHRONIZE CACHE was sent that was then
//     acknowledged (SBC-4 5.24: SYNCHRONIZE CACHE covers data written before it);
//   - the delta is consistent: the disk logs in, READ CAPACITY is unchanged, every block reads,
//     each block any other write touched holds either that write's data or golden data
//     (all or nothing per 512-byte block), and every block no write touched equals golden.
// Several rounds with different kill points, cumulative on one disk, bounded in time; the
// writer alternates between open-iscsi's parameters (immediate and unsolicited data) and
// iPXE/Windows' (InitialR2T=Yes, ImmediateData=No: every byte after an R2T).
//
// Every write goes to LBAs no earlier write used, so what each block must hold is known.
//
// LANBOOT_TEST_TARGET=tgt runs the same rounds against Debian's tgtd (kill -9 and restart on
// the same backing file) to check the test itself against a correct target.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { addSeat, importImage, parsePortal, startLanboot } from '../helpers/supervisor.js';
import { tempDir, type Cleanup } from '../helpers/tools.js';
import { startTgtHost, type TargetHost } from '../helpers/engine-host.js';
import { expectGood } from '../helpers/iscsi-wire.js';
import {
  type CrashTarget,
  DurabilityRun,
  INITIATOR_IQN,
  OPEN_ISCSI_PROPOSAL,
  openAndClear,
  BLOCK,
  DISK_BLOCKS,
  ROUNDS,
  SLOT_BLOCKS,
  type WriteRecord,
  writeGoldenImage,
  writtenBlock,
} from '../helpers/durability.js';

describe('crash durability under kill -9', { timeout: 300_000 }, () => {
  it('keeps every write acknowledged as durable and a consistent delta across kill -9 rounds', async (t) => {
    const dir = await tempDir(t, 'lanboot-crash-');
    const goldenPath = path.join(dir, 'golden.img');
    writeGoldenImage(goldenPath);
    const target = process.env['LANBOOT_TEST_TARGET'] === 'tgt' ? await tgtTarget(t, dir, goldenPath) : await lanbootTarget(t, goldenPath);
    const run = new DurabilityRun(target);
    const { writes, slotOwner, freeSlots } = run;

    // The first session sees the disk as golden before any write.
    {
      const s = await target.open();
      try {
        const capacity = await s.readCapacity();
        assert.equal(capacity.blockSize, BLOCK);
        assert.equal(capacity.blocks, BigInt(DISK_BLOCKS));
      } finally {
        s.destroy();
      }
    }

    for (const [index, round] of ROUNDS.entries()) {
      const done = await run.runRound(index, round);
      t.diagnostic(`round ${index} (${round.initiator}): kill ${JSON.stringify(round.kill)}; ${done.sent} writes sent, ${done.acknowledged} acknowledged, ${done.durable} durable, ${done.syncAcks} SYNCHRONIZE CACHE acknowledged`);
      await target.restart();
      if (round.killDuringRecovery) {
        // Recovery (opening the delta, replaying its map) must itself survive a crash.
        const probe = await target.open();
        probe.destroy();
        await target.kill9();
        await target.restart();
      }
      await run.verify(`after round ${index} (seed ${round.seed}, kill ${JSON.stringify(round.kill)}, ${done.sent} writes, ${done.durable} durable)`);
    }

    // Last, a clean stop (SIGTERM) with a session still logged in: every acknowledged write
    // must survive it, synchronized or not (IscsiEngine.close() "flushes every delta").
    {
      const session = await target.open();
      let acked = 0;
      try {
        for (let i = 0; i < 64 && freeSlots.length > 0; i++) {
          const slot = freeSlots.pop()!;
          const blocks = 1 + (i % SLOT_BLOCKS);
          const lba = slot * SLOT_BLOCKS + (i % (SLOT_BLOCKS - blocks + 1));
          const record: WriteRecord = { id: run.nextWriteId++, lba, blocks, fua: false, state: 'in-flight', durable: false, round: ROUNDS.length };
          slotOwner[slot] = writes.length;
          writes.push(record);
          const data = Buffer.concat(Array.from({ length: blocks }, (_, b) => writtenBlock(record.id, lba + b)));
          expectGood(await session.write10(lba, data), `write #${record.id} before the clean stop`);
          record.state = 'acked';
          // Not durable by SCSI rules, but a clean stop must keep it: judge it as durable.
          record.durable = true;
          acked++;
        }
        await target.restart();
      } finally {
        session.destroy();
      }
      await run.verify(`after a clean stop with ${acked} unsynchronized writes`);
    }
  });
});

/** The real supervisor with one persistent seat on the golden image. */
async function lanbootTarget(t: Cleanup, goldenPath: string): Promise<CrashTarget> {
  const lanboot = await startLanboot(t);
  await importImage(lanboot, goldenPath, 'crash-golden');
  const seat = await addSeat(lanboot, { name: 'crash-seat', image: 'crash-golden', initiators: [INITIATOR_IQN], mode: 'persistent' });
  return {
    open: (proposal = OPEN_ISCSI_PROPOSAL) =>
      openAndClear({
        host: parsePortal(seat.portal).host,
        // The portal in `client show` was read before any restart; the port may have changed.
        port: lanboot.iscsiPort,
        initiatorIqn: INITIATOR_IQN,
        targetIqn: seat.targetIqn,
        chap: seat.chap ?? undefined,
        lun: seat.lun,
        proposal,
        timeoutMs: 15_000,
      }),
    kill9: () => lanboot.kill9(),
    restart: () => lanboot.restart(),
    logs: () => lanboot.logs(),
  };
}

/** tgtd on a copy of the golden file: the reference that must pass this test. */
async function tgtTarget(t: Cleanup, dir: string, goldenPath: string): Promise<CrashTarget> {
  const backingPath = path.join(dir, 'tgt-disk.img');
  fs.copyFileSync(goldenPath, backingPath);
  const iqn = 'iqn.2026-11.test.lanboot:crash-tgt';
  const start = () => startTgtHost({ targets: [{ iqn, backingPath }] });
  let host: TargetHost = await start();
  t.after(() => host.stop());
  return {
    open: (proposal = OPEN_ISCSI_PROPOSAL) => openAndClear({ host: host.host, port: host.port, initiatorIqn: INITIATOR_IQN, targetIqn: iqn, lun: host.lunOf(iqn), proposal, timeoutMs: 15_000 }),
    kill9: () => host.kill9(),
    async restart() {
      await host.stop();
      host = await start();
    },
    logs: () => host.stderr(),
  };
}

