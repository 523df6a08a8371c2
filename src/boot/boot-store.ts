// Boot events and waiting PCs in SQLite (tables from migrations/0200-boot-events.ts).
//
// Everything here is fed by unauthenticated LAN traffic (any host can send DHCP with any MAC,
// fetch /boot.ipxe?mac=...), so every table is bounded: the last MAX_EVENTS_PER_MAC steps per
// MAC, MAX_EVENTS_TOTAL steps overall, MAX_WAITING waiting PCs (the least recently seen goes
// first), and every text field is cut to a fixed length.
import type { Db } from '../db/database.js';
import { generateEnrollCode } from './enroll-code.js';

export const MAX_EVENTS_PER_MAC = 100;
export const MAX_EVENTS_TOTAL = 20_000;
export const MAX_WAITING = 256;
/** A waiting PC that polled this recently is never pushed off the list: iPXE polls every few
 *  seconds, so a real PC stays, and a flood of new MACs is refused instead (touchWaiting). */
export const KEEP_RECENT_POLL_MS = 15_000;
export const MAX_DETAIL_CHARS = 200;
export const MAX_VENDOR_CLASS_CHARS = 64;

/** Which part of the boot chain a step belongs to. DHCP steps use the DHCP service's names
 *  (dhcp-discover, dhcp-request, proxy-request). */
export type BootStep = string;

export interface BootEventInput {
  mac: string;
  /** RFC 4578 client architecture, when known. */
  arch?: number | null;
  vendorClass?: string | null;
  step: BootStep;
  detail: string;
  /** ms since epoch; default now. */
  time?: number;
}

export interface BootEvent {
  mac: string;
  arch: number | null;
  vendorClass: string | null;
  step: string;
  detail: string;
  /** ISO times of the first and the last occurrence (a repeated step is one row). */
  firstAt: string;
  lastAt: string;
  count: number;
}

export interface WaitingPc {
  mac: string;
  code: string;
  arch: number | null;
  vendorClass: string | null;
  firstSeen: string;
  lastSeen: string;
}

interface EventRow {
  id: number;
  mac: string;
  arch: number | null;
  vendor_class: string | null;
  step: string;
  detail: string;
  first_at: number;
  last_at: number;
  count: number;
}

interface WaitingRow {
  mac: string;
  code: string;
  arch: number | null;
  vendor_class: string | null;
  first_seen: number;
  last_seen: number;
}

/** Printable, single-line, bounded: LAN input ends up in logs, the UI and the CLI's table. */
function cleanText(value: string, max: number): string {
  const printable = value.replace(/[^\x20-\x7e]/g, '?');
  return printable.length > max ? `${printable.slice(0, max - 3)}...` : printable;
}

function cleanArch(arch: number | null | undefined): number | null {
  return typeof arch === 'number' && Number.isInteger(arch) && arch >= 0 && arch <= 0xffff ? arch : null;
}

function eventView(row: EventRow): BootEvent {
  return {
    mac: row.mac,
    arch: row.arch,
    vendorClass: row.vendor_class,
    step: row.step,
    detail: row.detail,
    firstAt: new Date(row.first_at).toISOString(),
    lastAt: new Date(row.last_at).toISOString(),
    count: row.count,
  };
}

function waitingView(row: WaitingRow): WaitingPc {
  return {
    mac: row.mac,
    code: row.code,
    arch: row.arch,
    vendorClass: row.vendor_class,
    firstSeen: new Date(row.first_seen).toISOString(),
    lastSeen: new Date(row.last_seen).toISOString(),
  };
}

export interface BootStoreOptions {
  /** For tests; defaults to crypto.randomInt. */
  randomInt?: (n: number) => number;
  maxEventsPerMac?: number;
  maxEventsTotal?: number;
  maxWaiting?: number;
  /** How long recorded steps may wait in memory before one transaction writes them all. */
  flushDelayMs?: number;
  /** Called when a deferred write fails (the steps of that batch are lost, nothing else). */
  onFlushError?: (error: unknown, steps: number) => void;
  /** A waiting PC that polled this recently is never pushed off a full list. */
  keepRecentPollMs?: number;
}

/** A step as it will be written: cleaned, with its time fixed when it happened. */
interface PendingEvent {
  mac: string;
  arch: number | null;
  vendorClass: string | null;
  step: string;
  detail: string;
  time: number;
}

/** Steps per batch at most: a flood of invented MACs must not grow memory without bound. */
const MAX_PENDING_EVENTS = 5000;

export class BootStore {
  private readonly randomInt: ((n: number) => number) | undefined;
  private readonly maxEventsPerMac: number;
  private readonly maxEventsTotal: number;
  private readonly maxWaiting: number;
  private readonly flushDelayMs: number;
  private readonly onFlushError: ((error: unknown, steps: number) => void) | undefined;
  /** Steps recorded but not yet written. A PXE storm records several steps per PC within a
   *  second; with synchronous=FULL each transaction is an fsync that blocks the event loop,
   *  so steps are written together, one transaction per batch. Every read flushes first. */
  private pending: PendingEvent[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  private dropped = 0;
  /** The waiting list (at most maxWaiting rows) lives in memory: each enrollment poll of a
   *  waiting PC touches it. Changes go to the database with the next batch. */
  private readonly waiting = new Map<string, WaitingRow>();
  private readonly waitingWrites = new Map<string, WaitingRow | null>();
  private readonly keepRecentPollMs: number;

  constructor(
    private readonly db: Db,
    options: BootStoreOptions = {},
  ) {
    this.randomInt = options.randomInt;
    this.maxEventsPerMac = options.maxEventsPerMac ?? MAX_EVENTS_PER_MAC;
    this.maxEventsTotal = options.maxEventsTotal ?? MAX_EVENTS_TOTAL;
    this.maxWaiting = options.maxWaiting ?? MAX_WAITING;
    this.flushDelayMs = options.flushDelayMs ?? 200;
    this.onFlushError = options.onFlushError;
    for (const row of this.db.prepare('SELECT * FROM waiting_pcs').all() as WaitingRow[]) this.waiting.set(row.mac, row);
    this.keepRecentPollMs = options.keepRecentPollMs ?? KEEP_RECENT_POLL_MS;
  }

  /** Records one step (mac already normalized). The same step with the same detail as the
   *  MAC's latest row only bumps that row's count and time. Written within flushDelayMs, or
   *  at once by the next read or flush(). */
  record(input: BootEventInput): void {
    if (this.pending.length >= MAX_PENDING_EVENTS) {
      // Bounded like the table itself: past this, a batch keeps its first steps.
      this.dropped++;
      return;
    }
    const event: PendingEvent = {
      mac: input.mac,
      time: input.time ?? Date.now(),
      step: cleanText(input.step, 40),
      detail: cleanText(input.detail, MAX_DETAIL_CHARS),
      arch: cleanArch(input.arch),
      vendorClass: input.vendorClass ? cleanText(input.vendorClass, MAX_VENDOR_CLASS_CHARS) : null,
    };
    this.pending.push(event);
    const waiting = this.waiting.get(event.mac);
    if (waiting && (event.arch !== null || event.vendorClass !== null)) {
      waiting.arch = event.arch ?? waiting.arch;
      waiting.vendor_class = event.vendorClass ?? waiting.vendor_class;
      this.writeWaiting(waiting.mac, waiting);
    }
    this.schedule();
  }

  private schedule(): void {
    if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = undefined;
        const steps = this.pending.length;
        try {
          this.flush();
        } catch (error) {
          this.onFlushError?.(error, steps);
        }
      }, this.flushDelayMs);
      this.flushTimer.unref();
    }
  }

  /** Steps dropped because a batch was full (a flood), since the store was made. */
  get droppedSteps(): number {
    return this.dropped;
  }

  /** Writes every pending step in one transaction. Throws if the database does (the batch
   *  is then dropped: boot steps are a log, never worth blocking a boot for). */
  flush(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.pending.length === 0 && this.waitingWrites.size === 0) return;
    const batch = this.pending;
    this.pending = [];
    const waitingWrites = [...this.waitingWrites];
    this.waitingWrites.clear();
    const latestOf = this.db.prepare('SELECT id, step, detail FROM boot_events WHERE mac = ? ORDER BY id DESC LIMIT 1');
    const bump = this.db.prepare('UPDATE boot_events SET count = count + 1, last_at = ?, arch = COALESCE(?, arch), vendor_class = COALESCE(?, vendor_class) WHERE id = ?');
    const insert = this.db.prepare('INSERT INTO boot_events (mac, arch, vendor_class, step, detail, first_at, last_at) VALUES (?, ?, ?, ?, ?, ?, ?)');
    // Per MAC: drop everything older than the newest maxEventsPerMac rows.
    const trimMac = this.db.prepare(
      `DELETE FROM boot_events WHERE mac = ? AND id <= (
         SELECT id FROM boot_events WHERE mac = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`,
    );
    const deleteWaiting = this.db.prepare('DELETE FROM waiting_pcs WHERE mac = ?');
    const upsertWaiting = this.db.prepare('INSERT OR REPLACE INTO waiting_pcs (mac, code, arch, vendor_class, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?)');
    this.db.transaction(() => {
      const inserted = new Set<string>();
      for (const event of batch) {
        const latest = latestOf.get(event.mac) as { id: number; step: string; detail: string } | undefined;
        if (latest && latest.step === event.step && latest.detail === event.detail) {
          bump.run(event.time, event.arch, event.vendorClass, latest.id);
          continue;
        }
        insert.run(event.mac, event.arch, event.vendorClass, event.step, event.detail, event.time, event.time);
        inserted.add(event.mac);
      }
      for (const mac of inserted) trimMac.run(mac, mac, this.maxEventsPerMac);
      // Overall: the oldest rows go first (once per batch: the scan is the costly part).
      this.db
        .prepare('DELETE FROM boot_events WHERE id <= (SELECT id FROM boot_events ORDER BY id DESC LIMIT 1 OFFSET ?)')
        .run(this.maxEventsTotal);
      // Deletes first: a freed code may be taken by a row written in the same batch.
      for (const [mac, row] of waitingWrites) if (row === null) deleteWaiting.run(mac);
      for (const [, row] of waitingWrites) {
        if (row) upsertWaiting.run(row.mac, row.code, row.arch, row.vendor_class, row.first_seen, row.last_seen);
      }
    })();
  }

  /** A MAC's steps, oldest first. */
  events(mac: string): BootEvent[] {
    this.flushQuietly();
    const rows = this.db.prepare('SELECT * FROM boot_events WHERE mac = ? ORDER BY id').all(mac) as EventRow[];
    return rows.map(eventView);
  }

  /** The latest steps of every MAC, newest first (for the UI's overview). */
  recentEvents(limit = 100): BootEvent[] {
    this.flushQuietly();
    const rows = this.db.prepare('SELECT * FROM boot_events ORDER BY id DESC LIMIT ?').all(Math.max(1, Math.min(limit, 1000))) as EventRow[];
    return rows.map(eventView);
  }

  /** Marks the MAC as waiting (now), giving it a code on first sight. Arch and vendor class
   *  come from its latest DHCP step, when there was one. undefined: the list is full of PCs
   *  that all polled in the last keepRecentPollMs, so the newcomer is not taken. */
  touchWaiting(mac: string, time = Date.now()): WaitingPc | undefined {
    const existing = this.waiting.get(mac);
    if (existing) {
      existing.last_seen = time;
      this.writeWaiting(mac, existing);
      return waitingView(existing);
    }
    // The latest DHCP step may still be pending (not written yet): look there first.
    let pendingKnown: PendingEvent | undefined;
    for (let i = this.pending.length - 1; i >= 0 && !pendingKnown; i--) {
      const event = this.pending[i]!;
      if (event.mac === mac && (event.arch !== null || event.vendorClass !== null)) pendingKnown = event;
    }
    const known = pendingKnown
      ? { arch: pendingKnown.arch, vendor_class: pendingKnown.vendorClass }
      : (this.db
          .prepare('SELECT arch, vendor_class FROM boot_events WHERE mac = ? AND (arch IS NOT NULL OR vendor_class IS NOT NULL) ORDER BY id DESC LIMIT 1')
          .get(mac) as { arch: number | null; vendor_class: string | null } | undefined);
    // Room for the newcomer: the PCs seen least recently leave the list (they show a new
    // code if they come back), but never one that is still polling: a host inventing MACs
    // must not change the codes real PCs show on their screens.
    if (this.waiting.size >= this.maxWaiting) {
      const byRecency = [...this.waiting.values()].sort((a, b) => b.last_seen - a.last_seen || (a.mac < b.mac ? -1 : a.mac > b.mac ? 1 : 0));
      for (const row of byRecency.slice(Math.max(0, this.maxWaiting - 1))) {
        if (row.last_seen >= time - this.keepRecentPollMs) continue;
        this.waiting.delete(row.mac);
        this.writeWaiting(row.mac, null);
      }
      if (this.waiting.size >= this.maxWaiting) return undefined;
    }
    const taken = new Set([...this.waiting.values()].map((row) => row.code));
    let code = generateEnrollCode(this.randomInt);
    for (let tries = 0; taken.has(code); tries++) {
      if (tries > 100) throw new Error('no free enrollment code after 100 tries');
      code = generateEnrollCode(this.randomInt);
    }
    const row: WaitingRow = { mac, code, arch: known?.arch ?? null, vendor_class: known?.vendor_class ?? null, first_seen: time, last_seen: time };
    this.waiting.set(mac, row);
    this.writeWaiting(mac, row);
    return waitingView(row);
  }

  listWaiting(): WaitingPc[] {
    return [...this.waiting.values()].sort((a, b) => a.first_seen - b.first_seen || (a.mac < b.mac ? -1 : a.mac > b.mac ? 1 : 0)).map(waitingView);
  }

  isWaiting(mac: string): boolean {
    return this.waiting.has(mac);
  }

  findWaitingByCode(code: string): WaitingPc | undefined {
    for (const row of this.waiting.values()) if (row.code === code) return waitingView(row);
    return undefined;
  }

  /** Removes a waiting PC (it was enrolled); written at once, as any user action is. */
  removeWaiting(mac: string): boolean {
    if (!this.waiting.delete(mac)) return false;
    this.writeWaiting(mac, null);
    this.flush();
    return true;
  }

  /** Queues a waiting-list change for the next flush (null: delete the row). */
  private writeWaiting(mac: string, row: WaitingRow | null): void {
    this.waitingWrites.set(mac, row && { ...row });
    this.schedule();
  }

  /** Reads see every recorded step; a failed write is reported, never thrown into a read. */
  private flushQuietly(): void {
    const steps = this.pending.length;
    if (steps === 0 && this.waitingWrites.size === 0) return;
    try {
      this.flush();
    } catch (error) {
      this.onFlushError?.(error, steps);
    }
  }
}
