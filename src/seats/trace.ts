// Recording a seat's boot: the engine appends every READ/WRITE the seat's PC sends (arrival
// time, offset, length, service time) to DATA/seats/<id>/boot-trace.bin while the switch is
// on (native/src/scsi/command_trace.h). Boot-storm benchmarks replay such traces; the
// pre-warm derives the golden image's boot set from them. The switch lives in the engine:
// off after a restart, and a trace already recorded stays on disk.
import fs from 'node:fs';
import path from 'node:path';
import type { SeatRow } from '../db/seats.js';
import { requireSeat, type SeatContext } from './context.js';
import { TRACE_FILE, TRACE_HEADER_BYTES, TRACE_RECORD_BYTES } from './boot-trace.js';

export interface SeatTraceView {
  seat: string;
  on: boolean;
  /** Where the trace is written (present once recorded). */
  file: string;
  /** Commands recorded so far in the file (those still buffered in the engine not counted). */
  records: number;
}

export function traceFileOf(ctx: SeatContext, seat: SeatRow): string {
  return path.join(ctx.layout.seatDeltaDir(seat.id), TRACE_FILE);
}

export function seatTrace(ctx: SeatContext, name: string): SeatTraceView {
  const seat = requireSeat(ctx, name);
  return traceView(ctx, seat);
}

export function setSeatTrace(ctx: SeatContext, name: string, on: boolean): SeatTraceView {
  const seat = requireSeat(ctx, name);
  const file = traceFileOf(ctx, seat);
  if (on) fs.mkdirSync(path.dirname(file), { recursive: true });
  ctx.engine.setCommandTrace(seat.targetIqn, on ? file : null);
  ctx.log.info({ seat: seat.name, targetIqn: seat.targetIqn, file }, on ? 'boot trace recording' : 'boot trace stopped');
  return traceView(ctx, seat);
}

function traceView(ctx: SeatContext, seat: SeatRow): SeatTraceView {
  const file = traceFileOf(ctx, seat);
  let size = 0;
  try {
    size = fs.statSync(file).size;
  } catch {
    size = 0;
  }
  return {
    seat: seat.name,
    on: ctx.engine.commandTraceOn(seat.targetIqn),
    file,
    records: size > TRACE_HEADER_BYTES ? Math.floor((size - TRACE_HEADER_BYTES) / TRACE_RECORD_BYTES) : 0,
  };
}
