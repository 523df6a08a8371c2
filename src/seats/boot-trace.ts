// A seat's command trace (native/src/scsi/command_trace.h writes it): a pure decoder, and the
// boot set derived from traces (the golden blocks a boot reads first, in first-use order),
// which the pre-warm reads into the page cache. Bytes in, values out: no I/O here.

/** The file a seat's trace is appended to, in its directory (DATA/seats/<id>/). */
export const TRACE_FILE = 'boot-trace.bin';

const MAGIC = 'LBTRACE1';
export const TRACE_HEADER_BYTES = 16;
export const TRACE_RECORD_BYTES = 32;
/** What decodeTrace accepts at most (the native writer stops at 64 MiB). */
export const TRACE_MAX_BYTES = 64 * 1024 * 1024;

export interface TraceRecord {
  /** Arrival time, CLOCK_MONOTONIC nanoseconds (only differences mean anything). */
  startNs: bigint;
  /** Byte offset on the seat's disk. */
  offset: number;
  length: number;
  /** Arrival to response sent, microseconds. */
  serviceUs: number;
  /** The engine's session (nexus) id: one per login. */
  session: number;
  op: 'read' | 'write';
  /** SAM-5 status (0 = GOOD). */
  status: number;
}

export class TraceFormatError extends Error {}

/** Decodes a whole trace file. A trailing partial record (a crash mid-write) is ignored. */
export function decodeTrace(bytes: Uint8Array): TraceRecord[] {
  if (bytes.length < TRACE_HEADER_BYTES) throw new TraceFormatError(`trace too short: ${bytes.length} bytes`);
  if (bytes.length > TRACE_MAX_BYTES) throw new TraceFormatError(`trace too large: ${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = String.fromCharCode(...bytes.subarray(0, 8));
  if (magic !== MAGIC) throw new TraceFormatError('not a lanboot trace (bad magic)');
  const version = view.getUint32(8, true);
  const recordBytes = view.getUint32(12, true);
  if (version !== 1 || recordBytes !== TRACE_RECORD_BYTES) throw new TraceFormatError(`unsupported trace version ${version} (record size ${recordBytes})`);
  const count = Math.floor((bytes.length - TRACE_HEADER_BYTES) / TRACE_RECORD_BYTES);
  const records: TraceRecord[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const at = TRACE_HEADER_BYTES + i * TRACE_RECORD_BYTES;
    const op = view.getUint8(at + 28);
    if (op > 1) throw new TraceFormatError(`record ${i}: unknown op ${op}`);
    records[i] = {
      startNs: view.getBigUint64(at, true),
      offset: Number(view.getBigUint64(at + 8, true)),
      length: view.getUint32(at + 16, true),
      serviceUs: view.getUint32(at + 20, true),
      session: view.getUint32(at + 24, true),
      op: op === 0 ? 'read' : 'write',
      status: view.getUint8(at + 29),
    };
  }
  return records;
}

/** A trace's records split into boots: a new boot starts after `idleGapSeconds` without a
 *  command (a PC that stays on keeps reading now and then; a reboot is a long pause). */
export function splitBoots(records: readonly TraceRecord[], idleGapSeconds = 120): TraceRecord[][] {
  const boots: TraceRecord[][] = [];
  const gapNs = BigInt(Math.round(idleGapSeconds * 1e9));
  let last: bigint | undefined;
  for (const r of records) {
    if (last === undefined || r.startNs - last > gapNs) boots.push([]);
    boots[boots.length - 1]!.push(r);
    last = r.startNs;
  }
  return boots;
}

export interface ByteRange {
  offset: number;
  length: number;
}

const PAGE = 4096;

/** The boot set: golden bytes read in the first `windowSeconds` of each boot, in first-use
 *  order, page-aligned, each page once, neighbouring pages merged into one range, at most
 *  `maxBytes` in all. Written blocks are left in: a boot that rewrites a block it read first
 *  still read it from golden. */
export function bootSet(boots: readonly (readonly TraceRecord[])[], windowSeconds: number, maxBytes: number): ByteRange[] {
  const seen = new Set<number>();
  const ranges: ByteRange[] = [];
  let total = 0;
  const windowNs = BigInt(Math.round(windowSeconds * 1e9));
  // Interleave the boots by time since their start, so the order is what a room booting at
  // once asks for first.
  const timeline: { since: bigint; record: TraceRecord }[] = [];
  for (const boot of boots) {
    const start = boot[0]?.startNs;
    if (start === undefined) continue;
    for (const record of boot) {
      const since = record.startNs - start;
      if (since > windowNs) break;
      if (record.op === 'read' && record.status === 0 && record.length > 0) timeline.push({ since, record });
    }
  }
  timeline.sort((a, b) => (a.since < b.since ? -1 : a.since > b.since ? 1 : 0));
  for (const { record } of timeline) {
    const first = Math.floor(record.offset / PAGE);
    const last = Math.floor((record.offset + record.length - 1) / PAGE);
    for (let page = first; page <= last; page++) {
      if (seen.has(page)) continue;
      if (total + PAGE > maxBytes) return ranges;
      seen.add(page);
      total += PAGE;
      const tail = ranges[ranges.length - 1];
      if (tail && tail.offset + tail.length === page * PAGE) tail.length += PAGE;
      else ranges.push({ offset: page * PAGE, length: PAGE });
    }
  }
  return ranges;
}
