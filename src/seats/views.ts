// What the API shows of seats: the view types and the functions that build them from the
// database rows and the engine's live figures (delta size, sessions).
import { errorFields } from '../log/logger.js';
import type { SeatMode } from '../config/names.js';
import type { ImageVersionRow } from '../db/images.js';
import type { OperationRow, SeatRow, SnapshotRow } from '../db/seats.js';
import type { SeatContext } from './context.js';
import { versionOf } from './engine-sync.js';
import { seatBootView, type SeatBootView } from './boot-options.js';

/** The disk is LUN 0: iPXE's iSCSI URI defaults to LUN 0. */
export const SEAT_LUN = 0;

export interface SeatSummary {
  name: string;
  /** null: an install seat with a blank disk (no golden image yet). */
  image: string | null;
  version: number | null;
  mode: SeatMode;
  mac: string | null;
  targetIqn: string;
  chap: boolean;
  sessions: number;
  deltaBytes: number | null;
  quotaBytes: number;
}

export interface SeatDetails {
  name: string;
  image: string | null;
  version: number | null;
  /** The image's current version (what reset/move go to); null without an image. */
  latestVersion: number | null;
  mode: SeatMode;
  /** Disk size in bytes (golden version size, or the blank disk's size). */
  diskBytes: number | null;
  quotaBytes: number;
  /** The seat's last long operation (commit), if any: how it ended, or that it is running. */
  lastOperation: OperationView | null;
  mac: string | null;
  targetIqn: string;
  portal: string;
  lun: number;
  initiatorIqns: string[];
  chap: { user: string; secret: string } | null;
  mutualChap: { user: string; secret: string } | null;
  serial: string;
  naa: string;
  createdAt: string;
  deltaBytes: number | null;
  /** What the PC boots besides its disk: menu, the pending next boot, the installer ISO. */
  boot: SeatBootView;
  sessions: { initiatorIqn: string; remoteAddress: string; connectedAt: string; commands: number; bytesRead: number; bytesWritten: number }[];
}

export interface OperationView {
  kind: string;
  state: OperationRow['state'];
  image: string;
  version: number | null;
  message: string | null;
  startedAt: string;
  finishedAt: string | null;
  /** While running: bytes written so far and the disk size. */
  progress?: { bytesDone: number; totalBytes: number };
}

export interface SnapshotView {
  number: number;
  label: string | null;
  image: string | null;
  version: number | null;
  deltaBytes: number;
  createdAt: string;
}

export interface CommitResult {
  seat: SeatDetails;
  image: string;
  version: number;
  sizeBytes: number;
  sha256: string;
}

export interface MoveAllResult {
  moved: string[];
  unchanged: string[];
  failed: { seat: string; error: string }[];
  version: number;
}

export interface SpaceWarning {
  code: 'SEAT_FULL' | 'SEAT_QUOTA_NEAR' | 'DATA_DISK_LOW' | 'DISK_FAULT' | 'COMMIT_INTERRUPTED' | 'COMMIT_FAILED';
  message: string;
  seat?: string;
}

export interface SpaceReport {
  dataDisk: { path: string; totalBytes: number; freeBytes: number; lowBelowBytes: number };
  seats: { name: string; deltaBytes: number | null; quotaBytes: number; snapshotBytes: number; full: { reason: string; at: string } | null }[];
  warnings: SpaceWarning[];
}

export function deltaBytesOf(ctx: SeatContext, seat: SeatRow): number | null {
  try {
    return ctx.engine.deltaBytes(seat.targetIqn);
  } catch {
    return null; // not registered (busy, or failed at start)
  }
}

/** The engine's sessions totalled per target IQN, in one engine call: how many, and the
 *  bytes they read and wrote so far. Every per-target session figure comes from here. */
function sessionTotals(ctx: SeatContext): Map<string, { sessions: number; bytes: number }> {
  const totals = new Map<string, { sessions: number; bytes: number }>();
  try {
    for (const s of ctx.engine.sessions()) {
      const total = totals.get(s.targetIqn) ?? { sessions: 0, bytes: 0 };
      total.sessions += 1;
      total.bytes += s.bytesRead + s.bytesWritten;
      totals.set(s.targetIqn, total);
    }
  } catch (error) {
    ctx.log.warn(errorFields(error), 'cannot read sessions from the iSCSI engine');
  }
  return totals;
}

export function sessionCounts(ctx: SeatContext): Map<string, number> {
  return new Map([...sessionTotals(ctx)].map(([iqn, total]) => [iqn, total.sessions]));
}

/** Bytes read + written by each target's current sessions, by target IQN (the web UI
 *  samples these for transfer rates). Targets without a session are absent. */
export function sessionBytes(ctx: SeatContext): Map<string, number> {
  return new Map([...sessionTotals(ctx)].map(([iqn, total]) => [iqn, total.bytes]));
}

export function seatSummaries(ctx: SeatContext): SeatSummary[] {
  const sessions = sessionCounts(ctx);
  return ctx.seats.list().map((seat) => ({
    name: seat.name,
    image: seat.imageName,
    version: seat.imageVersion,
    mode: seat.mode,
    mac: seat.mac,
    targetIqn: seat.targetIqn,
    chap: seat.chap !== null,
    sessions: sessions.get(seat.targetIqn) ?? 0,
    deltaBytes: deltaBytesOf(ctx, seat),
    quotaBytes: seat.quotaBytes,
  }));
}

export function seatDetails(ctx: SeatContext, seat: SeatRow): SeatDetails {
  const deltaBytes = deltaBytesOf(ctx, seat);
  let sessions: SeatDetails['sessions'] = [];
  try {
    sessions = ctx.engine
      .sessions()
      .filter((s) => s.targetIqn === seat.targetIqn)
      .map((s) => ({
        initiatorIqn: s.initiatorIqn,
        remoteAddress: s.remoteAddress,
        connectedAt: new Date(s.connectedAt).toISOString(),
        commands: s.commands,
        bytesRead: s.bytesRead,
        bytesWritten: s.bytesWritten,
      }));
  } catch (error) {
    ctx.log.warn({ seat: seat.name, targetIqn: seat.targetIqn, ...errorFields(error) }, 'cannot read seat state from the iSCSI engine');
  }
  let version: ImageVersionRow | null = null;
  try {
    version = versionOf(ctx, seat);
  } catch {
    version = null;
  }
  const op = ctx.seats.latestOperations().find((o) => o.seatName === seat.name);
  const progress = ctx.state.progress.get(seat.name);
  return {
    name: seat.name,
    image: seat.imageName,
    version: seat.imageVersion,
    latestVersion: seat.imageName === null ? null : ctx.images.currentVersion(seat.imageName)?.number ?? seat.imageVersion,
    mode: seat.mode,
    diskBytes: version ? Math.floor(version.sizeBytes / 512) * 512 : seat.sizeBytes,
    quotaBytes: seat.quotaBytes,
    lastOperation: op
      ? {
          kind: op.kind,
          state: op.state,
          image: op.imageName,
          version: op.resultVersion,
          message: op.message,
          startedAt: op.startedAt,
          finishedAt: op.finishedAt,
          ...(op.state === 'running' && progress ? { progress: { ...progress } } : {}),
        }
      : null,
    mac: seat.mac,
    targetIqn: seat.targetIqn,
    portal: ctx.portal(),
    lun: SEAT_LUN,
    initiatorIqns: seat.initiatorIqns,
    chap: seat.chap,
    mutualChap: seat.mutualChap,
    serial: seat.serial,
    naa: seat.naaHex,
    createdAt: seat.createdAt,
    deltaBytes,
    boot: seatBootView(ctx, seat),
    sessions,
  };
}

export function imageNameOf(ctx: SeatContext, imageId: number | null): string {
  if (imageId === null) return '?';
  return ctx.images.listImages().find((i) => i.id === imageId)?.name ?? `image #${imageId}`;
}

export function snapshotView(ctx: SeatContext, seat: SeatRow, row: SnapshotRow): SnapshotView {
  return {
    number: row.number,
    label: row.label,
    image: row.imageId === null ? null : row.imageId === seat.imageId ? seat.imageName : imageNameOf(ctx, row.imageId),
    version: row.imageVersion,
    deltaBytes: row.deltaBytes,
    createdAt: row.createdAt,
  };
}
