// The writer and checker of the durability tests (test/integration/crash.test.ts: kill -9 of
// the supervisor; test/integration/power-cut.test.ts and test/slow/: power cuts of the box VM).
// A test initiator writes under load (some writes with FUA, some followed by SYNCHRONIZE
// CACHE) until the round's kill point, the target is killed, and after it is back the whole
// disk is read and judged:
//   - every write acknowledged as durable reads back byte for byte: a write with FUA that was
//     acknowledged, or a write acknowledged before a SYNCHRONIZE CACHE was sent that was then
//     acknowledged (SBC-4 5.24: SYNCHRONIZE CACHE covers data written before it);
//   - each block any other write touched holds either that write's data or golden data (all
//     or nothing per 512-byte block: never another write's, another seat's or garbage), and
//     every block no write touched equals golden; READ CAPACITY is unchanged.
// Every write goes to LBAs no earlier write used, so what each block must hold is known
// without storing it (block contents are a function of write id and LBA).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { Cdb, IscsiSession, expectGood, WireError } from './iscsi-wire.js';

export const BLOCK = 512;
export const DISK_BYTES = 32 * 1024 * 1024;
export const DISK_BLOCKS = DISK_BYTES / BLOCK;
/** Writes land in 8 KiB slots (16 blocks), each used by one write at most. */
export const SLOT_BLOCKS = 16;
export const SLOTS = DISK_BLOCKS / SLOT_BLOCKS;
export const INITIATOR_IQN = 'iqn.2026-11.test.lanboot:crash-writer';
export const QUEUE_DEPTH = 4;
export const MAX_WRITES_PER_ROUND = 1500;

/** Golden content: every block starts with its LBA, so misplaced data is visible. */
export function goldenBlock(lba: number): Buffer {
  const b = Buffer.alloc(BLOCK, (lba * 7) & 0xff);
  b.writeUInt32BE(lba, 0);
  b.write('GOLD', 4, 'latin1');
  return b;
}

/** Content of block `lba` as write `writeId` writes it: header + xorshift fill, no storage. */
export function writtenBlock(writeId: number, lba: number): Buffer {
  const b = Buffer.alloc(BLOCK);
  b.writeUInt32BE(lba, 0);
  b.write('WRIT', 4, 'latin1');
  b.writeUInt32BE(writeId, 8);
  let x = (writeId * 2654435761 + lba * 40503 + 1) >>> 0 || 1;
  for (let i = 12; i < BLOCK; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b.writeUInt32BE(x, i);
  }
  return b;
}

export interface WriteRecord {
  id: number;
  lba: number;
  blocks: number;
  fua: boolean;
  state: 'in-flight' | 'acked' | 'failed';
  /** Acknowledged as durable (FUA ack, or covered by an acknowledged SYNCHRONIZE CACHE). */
  durable: boolean;
  round: number;
}

/** A deterministic PRNG so a failing round can be replayed from its seed. */
export function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
}

/**
 * When the supervisor is killed. 'ms-after-first-durable' counts from the first write
 * acknowledged as durable, so a slow, loaded machine still has something to check.
 */
export type KillPoint = { kind: 'after-sync-acks'; count: number } | { kind: 'ms-after-first-durable'; ms: number } | { kind: 'after-writes-sent'; count: number };

export interface Round {
  seed: number;
  kill: KillPoint;
  /** Share of writes sent with FUA; the rest are plain, with a SYNCHRONIZE CACHE every few. */
  fuaShare: number;
  syncEvery: number;
  /** How the writer negotiates: open-iscsi (unsolicited data) or iPXE/Windows (R2T only). */
  initiator: 'open-iscsi' | 'r2t-only';
  /** Kill again right after the restart (during recovery), then restart once more. */
  killDuringRecovery?: boolean;
}

export const ROUNDS: Round[] = [
  // Right after the first SYNCHRONIZE CACHE is acknowledged, with writes still in flight.
  { seed: 11, kill: { kind: 'after-sync-acks', count: 1 }, fuaShare: 0.2, syncEvery: 6, initiator: 'open-iscsi' },
  // Mid-load, by time (250 ms after the first durable acknowledgement).
  { seed: 22, kill: { kind: 'ms-after-first-durable', ms: 250 }, fuaShare: 0.3, syncEvery: 8, initiator: 'r2t-only' },
  // During a burst of FUA writes.
  { seed: 33, kill: { kind: 'after-writes-sent', count: 150 }, fuaShare: 0.9, syncEvery: 20, initiator: 'open-iscsi', killDuringRecovery: true },
  // Plain writes only, synchronized rarely, killed late.
  { seed: 44, kill: { kind: 'after-sync-acks', count: 4 }, fuaShare: 0, syncEvery: 30, initiator: 'r2t-only' },
];

/** What the rounds need from the target under test. */
export interface CrashTarget {
  /** A logged-in session on the seat's disk, unit attentions cleared. */
  open(proposal?: Proposal): Promise<IscsiSession>;
  kill9(): Promise<void>;
  /** Starts the target again on the same data. */
  restart(): Promise<void>;
  logs(): string;
}

export type Proposal = NonNullable<Parameters<typeof IscsiSession.open>[0]['proposal']>;
/** Session parameters as open-iscsi negotiates them (large bursts, unsolicited data). */
export const OPEN_ISCSI_PROPOSAL: Proposal = { initialR2T: false, immediateData: true, maxBurstLength: 262144, firstBurstLength: 65536 };
/** As iPXE and the Windows boot path negotiate: every data byte solicited by an R2T. */
export const R2T_ONLY_PROPOSAL: Proposal = { initialR2T: true, immediateData: false, maxRecvDataSegmentLength: 8192 };

export async function openAndClear(options: Parameters<typeof IscsiSession.open>[0]): Promise<IscsiSession> {
  const session = await IscsiSession.open(options);
  try {
    await session.clearUnitAttention();
  } catch (err) {
    session.destroy();
    throw err;
  }
  return session;
}

/** Writes the golden image every block of which starts with its LBA. */
export function writeGoldenImage(goldenPath: string): void {
  const image = Buffer.alloc(DISK_BYTES);
  for (let lba = 0; lba < DISK_BLOCKS; lba++) goldenBlock(lba).copy(image, lba * BLOCK);
  fs.writeFileSync(goldenPath, image);
}

/** What one round did, for the test's diagnostics and the recorded figures. */
export interface RoundResult {
  sent: number;
  acknowledged: number;
  durable: number;
  syncAcks: number;
}

/** The write log of one disk across rounds (cumulative: later rounds use fresh slots). */
export class DurabilityRun {
  readonly writes: WriteRecord[] = [];
  readonly slotOwner = new Int32Array(SLOTS).fill(-1);
  readonly freeSlots = Array.from({ length: SLOTS }, (_, i) => i);
  nextWriteId = 1;

  constructor(private readonly target: CrashTarget) {}

  /** Writes until the round's kill point, kills the target (target.kill9) and returns what was done. */
  async runRound(index: number, round: Round): Promise<RoundResult> {
    const { target, writes, slotOwner, freeSlots } = this;
    const random = prng(round.seed);
    const session = await target.open(round.initiator === 'open-iscsi' ? OPEN_ISCSI_PROPOSAL : R2T_ONLY_PROPOSAL);
    const roundWrites: WriteRecord[] = [];
    let syncAcks = 0;
    let killed = false;
    let killTimer: NodeJS.Timeout | undefined;
    let resolveKill!: () => void;
    const killDone = new Promise<void>((resolve) => (resolveKill = resolve));
    const kill = (): void => {
      if (killed) return;
      killed = true;
      if (killTimer) clearTimeout(killTimer);
      void target.kill9().then(resolveKill, resolveKill);
    };
    const durableAcked = (): void => {
      if (round.kill.kind === 'ms-after-first-durable' && killTimer === undefined && !killed) killTimer = setTimeout(kill, round.kill.ms);
    };

    /** Acknowledged plain writes not yet covered by a SYNCHRONIZE CACHE that was sent. */
    let unsynced: WriteRecord[] = [];
    let plainSinceSync = 0;

    const issueWrite = async (): Promise<void> => {
      const slotIndex = Math.floor(random() * freeSlots.length);
      const slot = freeSlots[slotIndex]!;
      freeSlots[slotIndex] = freeSlots[freeSlots.length - 1]!;
      freeSlots.pop();
      // 1..16 blocks at any offset in the slot: most writes cover 4 KiB chunks in part.
      const blocks = 1 + Math.floor(random() * SLOT_BLOCKS);
      const lba = slot * SLOT_BLOCKS + Math.floor(random() * (SLOT_BLOCKS - blocks + 1));
      const record: WriteRecord = { id: this.nextWriteId++, lba, blocks, fua: random() < round.fuaShare, state: 'in-flight', durable: false, round: index };
      slotOwner[slot] = writes.length;
      writes.push(record);
      roundWrites.push(record);
      if (round.kill.kind === 'after-writes-sent' && roundWrites.length >= round.kill.count) kill();
      const data = Buffer.concat(Array.from({ length: blocks }, (_, i) => writtenBlock(record.id, lba + i)));
      const useWrite16 = random() < 0.3;
      const result = useWrite16 ? await session.write16(BigInt(lba), data, { fua: record.fua }) : await session.write10(lba, data, { fua: record.fua });
      expectGood(result, `write #${record.id} at LBA ${lba}+${blocks}`);
      record.state = 'acked';
      if (record.fua) {
        record.durable = true;
        durableAcked();
      } else {
        unsynced.push(record);
        plainSinceSync++;
      }
    };

    const issueSync = async (): Promise<void> => {
      const covered = unsynced;
      unsynced = [];
      plainSinceSync = 0;
      // SYNCHRONIZE CACHE (10) and (16), whole disk (SBC-4 5.24, 5.25).
      const sync16 = random() < 0.5;
      expectGood(sync16 ? await session.scsi(Cdb.synchronizeCache16()) : await session.synchronizeCache(), `SYNCHRONIZE CACHE(${sync16 ? 16 : 10})`);
      for (const r of covered) r.durable = true;
      if (covered.length > 0) durableAcked();
      syncAcks++;
      if (round.kill.kind === 'after-sync-acks' && syncAcks >= round.kill.count) kill();
    };

    const worker = async (): Promise<void> => {
      while (!killed && roundWrites.length < MAX_WRITES_PER_ROUND && freeSlots.length > 0) {
        if (plainSinceSync >= round.syncEvery) await issueSync();
        else await issueWrite();
      }
    };

    const workers = Array.from({ length: QUEUE_DEPTH }, () =>
      worker().catch((err: unknown) => {
        // After the kill, commands fail with a closed connection; before it, that is a bug.
        if (!killed) throw err;
        if (!(err instanceof WireError) || (err.code !== 'ISCSI_WIRE_CLOSED' && err.code !== 'ISCSI_WIRE_TIMEOUT')) throw err;
      }),
    );
    const results = await Promise.allSettled(workers);
    for (const r of results) {
      if (r.status === 'rejected') {
        kill();
        await killDone;
        throw new Error(`round ${index}: writer failed (${killed ? 'after' : 'before'} the kill): ${(r.reason as Error).message}\n${target.logs().slice(-3000)}`);
      }
    }
    // The kill point was not reached because the writer ran out of work: kill now.
    assert.ok(killed || roundWrites.length >= MAX_WRITES_PER_ROUND, `round ${index}: writer stopped early`);
    kill();
    await killDone;
    session.destroy();
    for (const r of roundWrites) if (r.state === 'in-flight') r.state = 'failed';

    const durableThisRound = roundWrites.filter((r) => r.durable).length;
    assert.ok(durableThisRound > 0, `round ${index}: no write was acknowledged as durable before the kill (kill point too early)`);

    return { sent: roundWrites.length, acknowledged: roundWrites.filter((r) => r.state === 'acked').length, durable: durableThisRound, syncAcks };
  }

  /** Reads the whole disk back and judges every block. Returns how many written blocks were checked. */
  verify(label: string): Promise<number> {
    return verifyDisk(this.target, this.writes, this.slotOwner, label);
  }
}

/** Reads the whole disk and checks every block against what the write log allows. */
export async function verifyDisk(target: CrashTarget, writes: WriteRecord[], slotOwner: Int32Array, label: string): Promise<number> {
  const session = await target.open();
  try {
    const capacity = await session.readCapacity();
    assert.equal(capacity.blocks, BigInt(DISK_BLOCKS), `${label}: capacity changed`);
    const problems: string[] = [];
    let checkedWritten = 0;
    const READ_BLOCKS = 512; // 256 KiB per READ
    for (let first = 0; first < DISK_BLOCKS; first += READ_BLOCKS) {
      const r = await session.read10(first, READ_BLOCKS);
      expectGood(r, `${label}: READ at LBA ${first}`);
      assert.equal(r.data.length, READ_BLOCKS * BLOCK, `${label}: short READ at LBA ${first}`);
      for (let i = 0; i < READ_BLOCKS; i++) {
        const lba = first + i;
        const got = r.data.subarray(i * BLOCK, (i + 1) * BLOCK);
        const golden = goldenBlock(lba);
        const ownerIndex = slotOwner[Math.floor(lba / SLOT_BLOCKS)]!;
        const owner = ownerIndex >= 0 ? writes[ownerIndex] : undefined;
        const covered = owner !== undefined && lba >= owner.lba && lba < owner.lba + owner.blocks;
        if (!covered) {
          if (!got.equals(golden)) problems.push(`LBA ${lba}: never written, not golden (starts ${got.subarray(0, 12).toString('hex')})`);
          continue;
        }
        checkedWritten++;
        const expected = writtenBlock(owner.id, lba);
        if (owner.durable) {
          if (!got.equals(expected)) {
            problems.push(`LBA ${lba}: durable write #${owner.id} (${owner.fua ? 'FUA' : 'SYNC CACHE'}, round ${owner.round}) lost: ${got.equals(golden) ? 'golden data' : 'other data ' + got.subarray(0, 12).toString('hex')}`);
          }
        } else if (!got.equals(expected) && !got.equals(golden)) {
          problems.push(`LBA ${lba}: write #${owner.id} (${owner.state}) left a block that is neither its data nor golden (torn or misplaced)`);
        }
      }
      if (problems.length > 20) break;
    }
    assert.equal(problems.length, 0, `${label}: ${problems.length} bad blocks:\n  ${problems.slice(0, 20).join('\n  ')}\n${target.logs().slice(-2000)}`);
    return checkedWritten;
  } finally {
    session.destroy();
  }
}
