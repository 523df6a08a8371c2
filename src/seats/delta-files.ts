// The files in a seat's delta directory (DATA/seats/<id>/): the delta the native store owns
// (delta.map, delta.data), snapshot copies next to it, and what a crash leaves behind.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { LanbootError } from '../log/errors.js';
import { errorFields } from '../log/logger.js';
import type { SeatRow } from '../db/seats.js';
import type { SeatContext } from './context.js';

export const DELTA_FILE = /^delta\./;

/** What a crash during a snapshot or restore leaves: half-copied files, never used. */
export function removeCrashLeftovers(ctx: SeatContext, seat: SeatRow): void {
  const dir = ctx.layout.seatDeltaDir(seat.id);
  try {
    fs.rmSync(path.join(dir, 'restore.partial'), { recursive: true, force: true });
    const snapshots = path.join(dir, 'snapshots');
    if (fs.existsSync(snapshots)) {
      for (const entry of fs.readdirSync(snapshots)) {
        if (entry.endsWith('.partial')) fs.rmSync(path.join(snapshots, entry), { recursive: true, force: true });
      }
    }
  } catch (error) {
    ctx.log.warn({ seat: seat.name, ...errorFields(error) }, 'cannot remove leftovers of an interrupted snapshot or restore');
  }
}

/** A target taken down releases its store when its last connection thread ends (the
 *  engine waits up to 10 s for them): wait for that before touching the delta's files. */
export async function waitDeltaReleased(ctx: SeatContext, seat: SeatRow, timeoutMs = 15_000): Promise<void> {
  const dir = ctx.layout.seatDeltaDir(seat.id);
  const deadline = Date.now() + timeoutMs;
  while (!ctx.tools.deltaIsIdle(dir)) {
    if (Date.now() > deadline) {
      throw new LanbootError('LANBOOT_SEAT_BUSY', `seat ${seat.name}: its disk is still in use ${timeoutMs / 1000} s after its sessions were ended`, { seat: seat.name });
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Deletes the delta's files (never the snapshots next to them), durably. */
export function dropDeltaFilesSync(ctx: SeatContext, seat: SeatRow): void {
  const dir = ctx.layout.seatDeltaDir(seat.id);
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  // The map first: without it the data file means nothing (see restoreSnapshot in snapshots.ts).
  const ordered = entries.filter((e) => DELTA_FILE.test(e)).sort((a, b) => (a === 'delta.map' ? -1 : b === 'delta.map' ? 1 : 0));
  for (const entry of ordered) fs.rmSync(path.join(dir, entry), { force: true });
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** The delta's files as they are now (none before the first write). */
export async function deltaFiles(ctx: SeatContext, seat: SeatRow): Promise<string[]> {
  try {
    return (await fsp.readdir(ctx.layout.seatDeltaDir(seat.id))).filter((f) => f === 'delta.map' || f === 'delta.data');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  const handle = await fsp.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** A failure from the native file tools as a LanbootError: ENOSPC says so. */
export function spaceOrIo(error: unknown, message: string, seat: string): LanbootError {
  // The seats' own errors already say what failed; the addon's (details.addon) and Node's get
  // the operation in front.
  if (error instanceof LanbootError && error.details?.['addon'] === undefined) return error;
  const code = (error as { code?: string }).code;
  const text = `${message}: ${(error as Error).message}`;
  return new LanbootError(code === 'LANBOOT_NO_SPACE' || code === 'ENOSPC' ? 'LANBOOT_NO_SPACE' : 'LANBOOT_IO_FAILED', text, { seat }, { cause: error });
}
