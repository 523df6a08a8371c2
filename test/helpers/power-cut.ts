// Power cuts of the box under write load (docs/robustness.md, "Power cuts"): lanboot runs in
// the box VM (box-vm.ts) with its data disk on cache=none; a test initiator on the host writes
// to a persistent seat with FUA and SYNCHRONIZE CACHE (durability.ts); at the round's kill
// point qemu is killed (the power cut) and the box powered on again. After every power-on:
//   - ext4 was recovered by its journal at mount and `e2fsck -fn` finds it clean;
//   - the database passes SQLite's integrity and foreign-key checks and holds the same seats,
//     image versions and import jobs as before the first cut;
//   - every golden file is byte-identical (SHA-256) to the imported image;
//   - lanboot serve starts with no manual step and the seat logs in;
//   - the whole disk reads back as durability.ts judges it (nothing durable lost, each other
//     written block old or new).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { type BoxBoot, type BoxCheck, type BoxSystem, bootBox, buildBoxSystem, makeDataDisk } from './box-vm.js';
import { type CrashTarget, DurabilityRun, INITIATOR_IQN, type KillPoint, OPEN_ISCSI_PROPOSAL, openAndClear, prng, type Round, writeGoldenImage } from './durability.js';
import { addSeat, importImage, type SeatInfo, startLanboot } from './supervisor.js';
import { tempDir } from './tools.js';

export interface PowerCutFigures {
  rounds: number;
  writesSent: number;
  writesAcknowledged: number;
  writesDurable: number;
  /** Written blocks read back and judged, summed over the checks after every power-on. */
  writtenBlocksChecked: number;
  /** Bytes of durable writes that did not read back: the test fails unless 0. */
  bytesLost: number;
  bootMs: number[];
}

/** Round plans from one seed: kill points of every kind, both initiator styles. */
export function powerCutRounds(count: number, seed: number): Round[] {
  const random = prng(seed);
  const rounds: Round[] = [];
  for (let i = 0; i < count; i++) {
    const kind = i % 3;
    const kill: KillPoint =
      kind === 0
        ? { kind: 'after-sync-acks', count: 1 + Math.floor(random() * 4) }
        : kind === 1
          ? { kind: 'ms-after-first-durable', ms: 100 + Math.floor(random() * 1500) }
          : { kind: 'after-writes-sent', count: 40 + Math.floor(random() * 200) };
    rounds.push({
      seed: 1000 + Math.floor(random() * 1e6),
      kill,
      fuaShare: [0, 0.2, 0.5, 0.9][Math.floor(random() * 4)]!,
      syncEvery: 4 + Math.floor(random() * 20),
      initiator: i % 2 === 0 ? 'open-iscsi' : 'r2t-only',
    });
  }
  return rounds;
}

function comparable(check: BoxCheck): unknown {
  return { seats: check.seats, versions: check.versions, jobs: check.jobs, golden: check.golden };
}

/** The box VM's parts and a data disk with a 32 MiB golden image, a persistent seat
 *  ("writer", CHAP, initiator INITIATOR_IQN) and a fresh one, prepared by a real lanboot. */
export async function prepareBox(t: TestContext): Promise<{ system: BoxSystem; dataDisk: string; dataPath: string; seat: SeatInfo; goldenSha: string }> {
  const work = await tempDir(t, 'lanboot-box-');
  const system: BoxSystem = await buildBoxSystem(work, (line) => t.diagnostic(line));
  const goldenPath = path.join(work, 'golden.img');
  writeGoldenImage(goldenPath);
  const goldenSha = createHash('sha256').update(fs.readFileSync(goldenPath)).digest('hex');

  // The data dir is prepared by a real lanboot on the host, then lives on the box's disk.
  const dataPath = path.join(work, 'data');
  await fsp.mkdir(dataPath);
  const host = await startLanboot(t, { dataDir: dataPath });
  await importImage(host, goldenPath, 'power-golden');
  const seat = await addSeat(host, { name: 'writer', image: 'power-golden', initiators: [INITIATOR_IQN], mode: 'persistent' });
  await addSeat(host, { name: 'neighbour', image: 'power-golden', mode: 'fresh' });
  await host.stop();
  // A delta remembers its golden file by size, mtime and inode; mkfs.ext4 -d makes new inodes
  // (and drops the nanoseconds), so the deltas the host made would be refused: the seats'
  // (empty) deltas are made again in the box.
  for (const seatDir of await fsp.readdir(path.join(dataPath, 'seats'))) {
    for (const file of ['delta.map', 'delta.data']) await fsp.rm(path.join(dataPath, 'seats', seatDir, file), { force: true });
  }
  const dataDisk = path.join(work, 'data.img');
  await makeDataDisk(dataPath, dataDisk);
  await fsp.rm(dataPath, { recursive: true, force: true });

  return { system, dataDisk, dataPath, seat, goldenSha };
}

export async function runPowerCuts(t: TestContext, rounds: Round[]): Promise<PowerCutFigures> {
  const { system, dataDisk, dataPath, seat, goldenSha } = await prepareBox(t);
  const login = (port: number, proposal = OPEN_ISCSI_PROPOSAL) =>
    openAndClear({ host: '127.0.0.1', port, initiatorIqn: INITIATOR_IQN, targetIqn: seat.targetIqn, chap: seat.chap ?? undefined, lun: seat.lun, proposal, timeoutMs: 30_000 });
  const ready = async (port: number) => {
    try {
      (await login(port)).destroy();
      return true;
    } catch {
      return false;
    }
  };
  const figures: PowerCutFigures = { rounds: 0, writesSent: 0, writesAcknowledged: 0, writesDurable: 0, writtenBlocksChecked: 0, bytesLost: 0, bootMs: [] };
  let baseline: BoxCheck | undefined;
  let box: BoxBoot | undefined;
  const powerOn = async (label: string) => {
    box = await bootBox(t, { system, dataDisk, dataPath }, ready);
    figures.bootMs.push(box.bootMs);
    const check = box.check;
    const context = `${label}\n--- console tail\n${box.console().split('\n').slice(-30).join('\n')}`;
    assert.equal(box.fsckCode, 0, `e2fsck -fn found the data disk unclean after the power cut: ${context}`);
    assert.equal(check.error, null, context);
    assert.equal(check.integrity, 'ok', `SQLite integrity_check: ${context}`);
    assert.equal(check.foreignKeys, 0, `SQLite foreign_key_check: ${context}`);
    assert.doesNotMatch(box.console(), /"level":"error"/, `the supervisor logged an error at start: ${context}`);
    assert.deepEqual(Object.values(check.golden), [goldenSha], `golden files: ${context}`);
    if (baseline === undefined) baseline = check;
    else assert.deepEqual(comparable(check), comparable(baseline), `seats, versions, jobs or golden files changed across the power cut: ${context}`);
  };
  await powerOn('first power-on');
  const target: CrashTarget = {
    open: (proposal) => login(box!.iscsiPort, proposal),
    kill9: () => box!.powerCut(),
    restart: () => powerOn(`power-on after round ${figures.rounds}`),
    logs: () => box?.console() ?? '',
  };
  const run = new DurabilityRun(target);
  for (const [index, round] of rounds.entries()) {
    const done = await run.runRound(index, round);
    figures.rounds++;
    figures.writesSent += done.sent;
    figures.writesAcknowledged += done.acknowledged;
    figures.writesDurable += done.durable;
    await target.restart();
    // verify() fails the test on any lost durable block, so reaching the next line means 0 lost.
    const checked = await run.verify(`after power cut ${index} (seed ${round.seed}, kill ${JSON.stringify(round.kill)}, ${done.sent} writes, ${done.durable} durable)`);
    figures.writtenBlocksChecked += checked;
    t.diagnostic(`power cut ${index}: kill ${JSON.stringify(round.kill)}, ${done.sent} sent, ${done.acknowledged} acknowledged, ${done.durable} durable, ${checked} written blocks checked; power-on ${figures.bootMs.at(-1)} ms`);
  }
  await box?.powerCut();
  return figures;
}
