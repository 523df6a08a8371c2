// Pre-warm: reads a golden version's boot set (the blocks recorded boots read first, in the
// order they were first read; boot-trace.ts) into the page cache, so the first PC to boot
// after lanboot starts, or after a version is published, reads from RAM like the rest of the
// room rather than from the drive. Runs on the addon's worker thread, one version at a time,
// bounded in bytes, cancelled at shutdown. Without stored traces there is nothing to read.
import fs from 'node:fs';
import type { ImageVersionRow } from '../db/images.js';
import { errorFields } from '../log/logger.js';
import type { PrewarmFile } from '../native/index.js';
import { bootSet, decodeTrace, splitBoots, type TraceRecord } from './boot-trace.js';
import type { SeatContext } from './context.js';
import { traceFileOf } from './trace.js';

/** Reads in the first this-many seconds of a boot make up its boot set: kernel, initramfs
 *  and early services, read before the PC can do anything useful. */
export const BOOT_SET_SECONDS = 60;
/** At most this much of one version is read ahead: it must fit in RAM next to everything else. */
export const PREWARM_MAX_BYTES = 1024 * 1024 * 1024;

export interface PrewarmResult {
  image: string;
  version: number;
  bytes: number;
  ranges: number;
  traces: number;
  ms: number;
}

export class Prewarmer {
  private readonly cancel = new Int32Array(new SharedArrayBuffer(4));
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly ctx: SeatContext,
    private readonly prewarmFile: PrewarmFile,
  ) {}

  /** Queues the pre-warm of a version; resolves when it ran (or was skipped: undefined). */
  warm(version: ImageVersionRow): Promise<PrewarmResult | undefined> {
    const run = this.queue.then(() => this.run(version));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** The versions seats boot from (their own, and their image's current one). */
  warmInUse(): Promise<(PrewarmResult | undefined)[]> {
    const versions = new Map<string, ImageVersionRow>();
    for (const seat of this.ctx.seats.list()) {
      if (seat.imageId === null || seat.imageName === null) continue;
      const candidates = [seat.imageVersion === null ? undefined : this.ctx.images.getVersion(seat.imageId, seat.imageVersion), this.ctx.images.currentVersion(seat.imageName)];
      for (const v of candidates) if (v) versions.set(v.filePath, v);
    }
    return Promise.all([...versions.values()].map((v) => this.warm(v)));
  }

  close(): void {
    this.closed = true;
    Atomics.store(this.cancel, 0, 1);
  }

  private async run(version: ImageVersionRow): Promise<PrewarmResult | undefined> {
    if (this.closed) return undefined;
    const started = Date.now();
    const boots: TraceRecord[][] = [];
    let traces = 0;
    for (const seat of this.ctx.seats.list()) {
      if (seat.imageName !== version.imageName) continue;
      let bytes: Buffer;
      try {
        bytes = fs.readFileSync(traceFileOf(this.ctx, seat));
      } catch {
        continue; // no trace recorded for this seat
      }
      try {
        const seatBoots = splitBoots(decodeTrace(bytes));
        boots.push(...seatBoots);
        traces++;
      } catch (error) {
        this.ctx.log.warn({ seat: seat.name, ...errorFields(error) }, 'boot trace unreadable; left out of the pre-warm');
      }
    }
    const ranges = bootSet(boots, BOOT_SET_SECONDS, PREWARM_MAX_BYTES);
    if (ranges.length === 0) return undefined;
    const flat: number[] = [];
    for (const r of ranges) flat.push(r.offset, r.length);
    const where = { image: version.imageName, version: version.number };
    try {
      const bytes = await this.prewarmFile(version.filePath, flat, PREWARM_MAX_BYTES, this.cancel);
      const result: PrewarmResult = { ...where, bytes, ranges: ranges.length, traces, ms: Date.now() - started };
      this.ctx.log.info(result, 'golden boot set pre-warmed');
      return result;
    } catch (error) {
      if (!this.closed) this.ctx.log.warn({ ...where, ...errorFields(error) }, 'pre-warm of the golden boot set failed');
      return undefined;
    }
  }
}
