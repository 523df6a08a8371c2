// The room at a glance: every seat with its group, its state (off, booting, up, fault) and its
// last boot, built from the seat list, the groups and the boot history in a few queries.
import type { SeatSummary } from '../seats/index.js';
import { LOGIN_DEADLINE_MS } from './recorder.js';
import type { BootRecord } from './store.js';

export type SeatState = 'off' | 'booting' | 'up' | 'fault';

export interface LastBootView {
  startedAt: string;
  /** Script fetch to iSCSI login, ms. */
  loginMs: number | null;
  /** Script fetch to the first write (the OS is running), ms. */
  firstWriteMs: number | null;
  bytesRead: number;
  bytesWritten: number;
  fault: string | null;
}

export interface RoomSeatView {
  name: string;
  group: string | null;
  mac: string | null;
  image: string | null;
  version: number | null;
  mode: string;
  state: SeatState;
  /** Why the state is fault. */
  fault: string | null;
  lastBoot: LastBootView | null;
}

export interface RoomView {
  /** Groups by name, then seats in no group under group null. */
  groups: { name: string | null; seats: RoomSeatView[]; counts: Record<SeatState, number> }[];
  counts: Record<SeatState, number>;
}

export function lastBootView(r: BootRecord): LastBootView {
  return {
    startedAt: new Date(r.startedAt).toISOString(),
    loginMs: r.loginAt === null ? null : r.loginAt - r.startedAt,
    firstWriteMs: r.firstWriteAt === null ? null : r.firstWriteAt - r.startedAt,
    bytesRead: r.bytesRead,
    bytesWritten: r.bytesWritten,
    fault: r.fault,
  };
}

export function seatState(seat: SeatSummary, last: BootRecord | undefined, full: string | undefined, now: number): { state: SeatState; fault: string | null } {
  if (full !== undefined) return { state: 'fault', fault: full };
  if (seat.sessions > 0) return { state: 'up', fault: null };
  if (last && last.endedAt === null && last.fault === null && last.loginAt === null && now - last.startedAt <= LOGIN_DEADLINE_MS) return { state: 'booting', fault: null };
  if (last && last.fault !== null && last.loginAt === null) return { state: 'fault', fault: last.fault };
  return { state: 'off', fault: null };
}

const zero = (): Record<SeatState, number> => ({ off: 0, booting: 0, up: 0, fault: 0 });

export function roomView(input: {
  seats: SeatSummary[];
  groupBySeat: Map<string, string>;
  groupNames: string[];
  latest: Map<string, BootRecord>;
  /** Seats the space monitor reports full, with the reason. */
  full: Map<string, string>;
  now: number;
  /** Lower-case text a seat's name, group, MAC or image must contain. */
  query?: string | undefined;
}): RoomView {
  const q = input.query?.trim().toLowerCase() ?? '';
  const byGroup = new Map<string | null, RoomSeatView[]>(input.groupNames.map((g) => [g, []]));
  const counts = zero();
  for (const seat of input.seats) {
    const group = input.groupBySeat.get(seat.name) ?? null;
    if (q !== '' && ![seat.name, group ?? '', seat.mac ?? '', seat.image ?? ''].some((s) => s.toLowerCase().includes(q))) continue;
    const last = input.latest.get(seat.name);
    const { state, fault } = seatState(seat, last, input.full.get(seat.name), input.now);
    counts[state] += 1;
    let list = byGroup.get(group);
    if (!list) byGroup.set(group, (list = []));
    list.push({ name: seat.name, group, mac: seat.mac, image: seat.image, version: seat.version, mode: seat.mode, state, fault, lastBoot: last ? lastBootView(last) : null });
  }
  const groups = [...byGroup]
    .filter(([name, seats]) => seats.length > 0 || (q === '' && name !== null))
    .sort(([a], [b]) => (a === null ? 1 : b === null ? -1 : a.localeCompare(b)))
    .map(([name, seats]) => {
      const c = zero();
      for (const s of seats) c[s.state] += 1;
      return { name, seats, counts: c };
    });
  return { groups, counts };
}
