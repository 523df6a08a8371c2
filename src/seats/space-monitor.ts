// Space: the data disk's free space and each seat's delta against its quota, as a report
// and as warnings (also a commit that was interrupted or failed, and a data disk that failed
// a seat's read, write or flush). Each warning is logged
// once when it appears and once when it clears, whether someone asks or the periodic
// check finds it.
import fs from 'node:fs';
import { errorFields } from '../log/logger.js';
import type { SeatContext } from './context.js';
import { deltaBytesOf, type SpaceReport, type SpaceWarning } from './views.js';

export interface SpaceThresholds {
  /** Data disk warning when free space is below min(ratio x total, bytes). */
  diskLowRatio?: number | undefined;
  diskLowBytes?: number | undefined;
  /** Seat warning when its delta reaches this fraction of its quota. */
  quotaWarnRatio?: number | undefined;
}

function formatGiB(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

export class SpaceMonitor {
  private activeWarnings = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ctx: SeatContext,
    private readonly thresholds: SpaceThresholds = {},
  ) {}

  report(): SpaceReport {
    const { ctx } = this;
    const dataDir = ctx.layout.dataDir;
    let totalBytes = 0;
    let freeBytes = 0;
    try {
      const st = fs.statfsSync(dataDir);
      totalBytes = st.blocks * st.bsize;
      freeBytes = st.bavail * st.bsize;
    } catch (error) {
      ctx.log.warn({ dataDir, ...errorFields(error) }, 'cannot read the data disk size');
    }
    const ratio = this.thresholds.quotaWarnRatio ?? 0.9;
    const snapshotBytesBySeat = ctx.seats.snapshotBytesBySeat();
    const seatRows = ctx.seats.list().map((seat) => {
      const snapshotBytes = snapshotBytesBySeat.get(seat.id) ?? 0;
      const deltaBytes = deltaBytesOf(ctx, seat);
      let full = ctx.state.full.get(seat.name);
      // Space given back (UNMAP from the PC): no longer full.
      if (full?.reason === 'quota' && deltaBytes !== null && seat.quotaBytes > 0 && deltaBytes < seat.quotaBytes * ratio) {
        ctx.state.full.delete(seat.name);
        full = undefined;
      }
      return { name: seat.name, deltaBytes, quotaBytes: seat.quotaBytes, snapshotBytes, full: full ? { reason: full.reason, at: full.at } : null };
    });
    const lowBelowBytes = Math.min(totalBytes * (this.thresholds.diskLowRatio ?? 0.1), this.thresholds.diskLowBytes ?? 2 * 2 ** 30);
    return { dataDisk: { path: dataDir, totalBytes, freeBytes, lowBelowBytes }, seats: seatRows, warnings: this.warningsFrom(seatRows, { totalBytes, freeBytes, lowBelowBytes }) };
  }

  /** Current warnings; each one is logged once when it appears and once when it clears. */
  check(): SpaceWarning[] {
    const warnings = this.report().warnings;
    const now = new Set(warnings.map((w) => `${w.code}:${w.seat ?? ''}`));
    for (const w of warnings) {
      const key = `${w.code}:${w.seat ?? ''}`;
      if (!this.activeWarnings.has(key)) this.ctx.log.warn({ warning: w.code, seat: w.seat }, w.message);
    }
    for (const key of this.activeWarnings) {
      if (!now.has(key)) this.ctx.log.info({ warning: key.split(':')[0], seat: key.split(':')[1] || undefined }, 'warning cleared');
    }
    this.activeWarnings = now;
    return warnings;
  }

  /** The engine refused a write of the seat with this target for lack of space (its quota
   *  or the data disk): the seat is full until space is given back or its quota raised. */
  noteFull(targetIqn: string, reason: string): string | undefined {
    const seat = this.ctx.seats.list().find((s) => s.targetIqn === targetIqn);
    if (seat) this.ctx.state.full.set(seat.name, { reason, at: new Date().toISOString() });
    return seat?.name;
  }

  /** The data disk failed a read, write or flush of this target's files (EIO...): the PC got
   *  MEDIUM ERROR. Shown as a warning until the supervisor restarts. */
  noteDiskFault(targetIqn: string, operation: string, message: string): string | undefined {
    const seat = this.ctx.seats.list().find((s) => s.targetIqn === targetIqn);
    if (seat) this.ctx.state.diskFaults.set(seat.name, { operation, message, at: new Date().toISOString() });
    return seat?.name;
  }

  /** A seat whose delta the engine reset (a fresh start at login) has its space back. */
  noteReset(targetIqn: string): string | undefined {
    const seat = this.ctx.seats.list().find((s) => s.targetIqn === targetIqn);
    if (seat) this.ctx.state.full.delete(seat.name);
    return seat?.name;
  }

  /** Starts the periodic check (so a crossing is logged even when nobody asks). */
  start(intervalMs = 30_000): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.check(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private warningsFrom(seatRows: SpaceReport['seats'], disk: { totalBytes: number; freeBytes: number; lowBelowBytes: number }): SpaceWarning[] {
    const warnings: SpaceWarning[] = [];
    if (disk.totalBytes > 0 && disk.freeBytes < disk.lowBelowBytes) {
      warnings.push({
        code: 'DATA_DISK_LOW',
        message: `the data disk is almost full: ${formatGiB(disk.freeBytes)} free of ${formatGiB(disk.totalBytes)}; seats' writes fail when it is full (prune old image versions, reset or remove seats, delete snapshots)`,
      });
    }
    for (const [seat, fault] of this.ctx.state.diskFaults) {
      warnings.push({
        code: 'DISK_FAULT',
        seat,
        message: `seat ${seat}: disk fault at ${fault.at}: ${fault.message}. The data disk may be failing: check the kernel log (dmesg) and the disk's health, and copy what matters off the box`,
      });
    }
    const ratio = this.thresholds.quotaWarnRatio ?? 0.9;
    for (const row of seatRows) {
      if (row.full) {
        warnings.push({
          code: 'SEAT_FULL',
          seat: row.name,
          message:
            row.full.reason === 'quota'
              ? `seat ${row.name} is full: its delta reached its quota of ${formatGiB(row.quotaBytes)}; the PC's writes fail (raise it with \`lanboot client quota ${row.name} SIZE\` or reset the seat)`
              : `seat ${row.name}: a write failed because the data disk is full`,
        });
      } else if (row.quotaBytes > 0 && row.deltaBytes !== null && row.deltaBytes >= row.quotaBytes * ratio) {
        warnings.push({
          code: 'SEAT_QUOTA_NEAR',
          seat: row.name,
          message: `seat ${row.name} uses ${formatGiB(row.deltaBytes)} of its ${formatGiB(row.quotaBytes)} quota (${Math.floor((row.deltaBytes / row.quotaBytes) * 100)}%)`,
        });
      }
    }
    for (const op of this.ctx.seats.latestOperations()) {
      if (op.state !== 'interrupted' && op.state !== 'failed') continue;
      // Shown while the seat can still be committed; gone once the user moved on.
      const seat = this.ctx.seats.findByName(op.seatName);
      if (!seat || (seat.mode !== 'maintenance' && seat.mode !== 'install')) continue;
      warnings.push({ code: op.state === 'interrupted' ? 'COMMIT_INTERRUPTED' : 'COMMIT_FAILED', seat: op.seatName, message: op.message ?? `commit of seat ${op.seatName} ${op.state}` });
    }
    return warnings;
  }
}
