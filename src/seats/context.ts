// What every seat job works with: the repositories, the engine, the data layout and the
// in-memory state they share (which seats are busy, a running commit's progress, which
// seats are full), plus the guards on that state. The facade (seat-manager.ts) builds one
// and hands it to each job explicitly.
import type { Logger } from 'pino';
import { LanbootError } from '../log/errors.js';
import type { ImageRepository, ImageVersionRow } from '../db/images.js';
import type { SeatRepository, SeatRow } from '../db/seats.js';
import type { DiskSpec, IscsiEngine } from '../native/index.js';
import type { DataLayout } from '../storage/layout.js';

/** The image store's publishWritten: writes a version through `write`, verifies and
 *  publishes it atomically, records it. */
export interface VersionPublisher {
  publishWritten(
    imageName: string,
    write: (partialPath: string, onProgress?: (bytesDone: number) => void) => Promise<void>,
    meta: { source: string },
  ): Promise<ImageVersionRow>;
}

/** The addon's file tools (src/native): whole-disk export, sparse copy, delta release check. */
export interface DiskTools {
  exportDisk(disk: DiskSpec, destPath: string, onProgress?: (bytesDone: number) => void): Promise<void>;
  copySparseFile(src: string, dst: string): Promise<void>;
  deltaIsIdle(deltaDir: string): boolean;
}

/** State kept in memory only: none of it has to survive a restart. */
export interface SeatState {
  /** Seats with a long operation running, and which one (at most one per seat). */
  readonly busy: Map<string, string>;
  /** A running commit's bytes written so far and the disk size, by seat. */
  readonly progress: Map<string, { bytesDone: number; totalBytes: number }>;
  /** Seats whose writes the engine refused for lack of space, until space is given back. */
  readonly full: Map<string, { reason: string; at: string }>;
  /** Seats whose disk files the data disk failed to read, write or flush (the engine's
   *  LANBOOT_DISK_FAULT), until the supervisor restarts: a failing disk does not heal. */
  readonly diskFaults: Map<string, { operation: string; message: string; at: string }>;
}

export interface SeatContext {
  readonly layout: DataLayout;
  readonly images: ImageRepository;
  readonly seats: SeatRepository;
  readonly engine: IscsiEngine;
  readonly log: Logger;
  /** "host:port" PCs connect to. */
  readonly portal: () => string;
  /** Publishes committed versions (the image store). Without it commit is refused. */
  readonly publisher: VersionPublisher | undefined;
  /** The addon's file tools, handed in by the supervisor. */
  readonly tools: DiskTools;
  readonly state: SeatState;
}

export function newSeatState(): SeatState {
  return { busy: new Map(), progress: new Map(), full: new Map(), diskFaults: new Map() };
}

export function requireSeat(ctx: SeatContext, name: string): SeatRow {
  const seat = ctx.seats.findByName(name);
  if (!seat) throw new LanbootError('LANBOOT_SEAT_NOT_FOUND', `seat '${name}' does not exist`);
  return seat;
}

export function requireIdle(state: SeatState, seat: SeatRow): void {
  const what = state.busy.get(seat.name);
  if (what) throw new LanbootError('LANBOOT_SEAT_BUSY', `seat ${seat.name} is busy: a ${what} is running; try again when it is done`, { seat: seat.name });
}

/** Runs a long operation with the seat marked busy (one at a time per seat). */
export async function exclusive<T>(state: SeatState, seat: SeatRow, what: string, work: () => Promise<T>): Promise<T> {
  requireIdle(state, seat);
  state.busy.set(seat.name, what);
  try {
    return await work();
  } finally {
    state.busy.delete(seat.name);
  }
}
