// Snapshots: consistent copies of a seat's delta kept next to it (DATA/seats/<id>/snapshots/<n>),
// each tied to the golden version it was made on; taken, listed, restored, deleted.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { LanbootError } from '../log/errors.js';
import type { SeatRow, SnapshotRow } from '../db/seats.js';
import { exclusive, requireIdle, requireSeat, type SeatContext } from './context.js';
import { DELTA_FILE, deltaFiles, dropDeltaFilesSync, fsyncDir, spaceOrIo, waitDeltaReleased } from './delta-files.js';
import { pushTargetOrLog } from './engine-sync.js';
import { deltaBytesOf, imageNameOf, seatDetails, snapshotView, type SeatDetails, type SnapshotView } from './views.js';

function snapshotDir(ctx: SeatContext, seat: SeatRow, number: number): string {
  return path.join(ctx.layout.seatDeltaDir(seat.id), 'snapshots', String(number));
}

function requireSnapshot(ctx: SeatContext, seat: SeatRow, number: number): SnapshotRow {
  const row = ctx.seats.getSnapshot(seat.id, number);
  if (!row) throw new LanbootError('LANBOOT_SNAPSHOT_NOT_FOUND', `seat ${seat.name} has no snapshot ${number} (see \`lanboot client snapshots ${seat.name}\`)`);
  return row;
}

/** A consistent copy of the seat's delta, tied to the golden version it was made on. The
 *  target is taken down while the files are copied (its sessions end; initiators log in
 *  again), so no write lands half-way. */
export async function takeSnapshot(ctx: SeatContext, name: string, label: string | null): Promise<SnapshotView> {
  const seat = requireSeat(ctx, name);
  return exclusive(ctx.state, seat, 'snapshot', async () => {
    const { seats, engine } = ctx;
    const number = seats.nextSnapshotNumber(seat.id);
    const dir = snapshotDir(ctx, seat, number);
    const partial = `${dir}.partial`;
    // The database says `number` is free: files under that name are a crash's leftovers.
    await fsp.rm(partial, { recursive: true, force: true });
    await fsp.rm(dir, { recursive: true, force: true });
    await fsp.mkdir(partial, { recursive: true, mode: 0o700 });
    const deltaBytes = deltaBytesOf(ctx, seat) ?? 0;
    engine.removeTarget(seat.targetIqn); // flushes and closes the delta
    try {
      await waitDeltaReleased(ctx, seat);
      for (const file of await deltaFiles(ctx, seat)) {
        await ctx.tools.copySparseFile(path.join(ctx.layout.seatDeltaDir(seat.id), file), path.join(partial, file));
      }
      await fsyncDir(partial);
      await fsp.rename(partial, dir);
      await fsyncDir(path.dirname(dir));
    } catch (error) {
      await fsp.rm(partial, { recursive: true, force: true });
      throw spaceOrIo(error, `seat ${seat.name}: snapshot failed`, seat.name);
    } finally {
      pushTargetOrLog(ctx, seat);
    }
    const row = seats.addSnapshot({
      seatId: seat.id,
      number,
      label,
      imageId: seat.imageId,
      imageVersion: seat.imageVersion,
      deltaBytes,
      createdAt: new Date().toISOString(),
    });
    ctx.log.info({ seat: seat.name, snapshot: number, label, image: seat.imageName, version: seat.imageVersion, deltaBytes }, 'seat snapshot taken');
    return snapshotView(ctx, seat, row);
  });
}

export function listSnapshots(ctx: SeatContext, name: string): SnapshotView[] {
  const seat = requireSeat(ctx, name);
  return ctx.seats.listSnapshots(seat.id).map((row) => snapshotView(ctx, seat, row));
}

/** Replaces the seat's delta with a snapshot's copy. Refused when the seat is on another
 *  golden version than the snapshot was made on (the delta would not fit that version). */
export async function restoreSnapshot(ctx: SeatContext, name: string, number: number): Promise<SeatDetails> {
  const seat = requireSeat(ctx, name);
  const row = requireSnapshot(ctx, seat, number);
  if (row.imageId !== seat.imageId || row.imageVersion !== seat.imageVersion) {
    const made = row.imageVersion === null ? 'a blank disk' : `${imageNameOf(ctx, row.imageId)} v${row.imageVersion}`;
    const now = seat.imageVersion === null ? 'a blank disk' : `${seat.imageName} v${seat.imageVersion}`;
    throw new LanbootError(
      'LANBOOT_SEAT_CONFLICT',
      `seat ${seat.name}: snapshot ${row.number} was made on ${made}, the seat is now on ${now}; a delta only fits the version it was made on (move the seat back with \`lanboot client move ${seat.name} --version ${row.imageVersion ?? 'N'}\` first)`,
      { seat: seat.name },
    );
  }
  return exclusive(ctx.state, seat, 'restore', async () => {
    const deltaDir = ctx.layout.seatDeltaDir(seat.id);
    const source = snapshotDir(ctx, seat, row.number);
    const staging = path.join(deltaDir, 'restore.partial');
    await fsp.rm(staging, { recursive: true, force: true });
    await fsp.mkdir(staging, { recursive: true, mode: 0o700 });
    try {
      const files = (await fsp.readdir(source)).filter((f) => DELTA_FILE.test(f) && !f.endsWith('.tmp'));
      for (const file of files) await ctx.tools.copySparseFile(path.join(source, file), path.join(staging, file));
      ctx.engine.removeTarget(seat.targetIqn);
      try {
        await waitDeltaReleased(ctx, seat);
        // Crash-safe order: without delta.map the store starts an empty delta (and
        // truncates delta.data), so every intermediate state is the old delta, an empty
        // one, or the snapshot's; renaming delta.map in last is the switch.
        dropDeltaFilesSync(ctx, seat);
        for (const file of files.filter((f) => f !== 'delta.map')) fs.renameSync(path.join(staging, file), path.join(deltaDir, file));
        if (files.includes('delta.map')) {
          await fsyncDir(deltaDir);
          fs.renameSync(path.join(staging, 'delta.map'), path.join(deltaDir, 'delta.map'));
        }
        await fsyncDir(deltaDir);
      } finally {
        pushTargetOrLog(ctx, seat);
      }
    } catch (error) {
      throw spaceOrIo(error, `seat ${seat.name}: restore of snapshot ${row.number} failed`, seat.name);
    } finally {
      await fsp.rm(staging, { recursive: true, force: true });
    }
    ctx.state.full.delete(seat.name);
    ctx.log.info({ seat: seat.name, snapshot: row.number, image: seat.imageName, version: seat.imageVersion }, 'seat snapshot restored');
    return seatDetails(ctx, requireSeat(ctx, seat.name));
  });
}

export async function deleteSnapshot(ctx: SeatContext, name: string, number: number): Promise<{ deleted: number }> {
  const seat = requireSeat(ctx, name);
  const row = requireSnapshot(ctx, seat, number);
  requireIdle(ctx.state, seat);
  ctx.seats.removeSnapshot(seat.id, row.number);
  await fsp.rm(snapshotDir(ctx, seat, row.number), { recursive: true, force: true });
  ctx.log.info({ seat: seat.name, snapshot: row.number }, 'seat snapshot deleted');
  return { deleted: row.number };
}
