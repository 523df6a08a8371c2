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
  keepRecentPollMs?: number;
}

export class BootStore {
  private readonly randomInt: ((n: number) => number) | undefined;
  private readonly maxEventsPerMac: number;
  private readonly maxEventsTotal: number;
  private readonly maxWaiting: number;
  private readonly keepRecentPollMs: number;

  constructor(
    private readonly db: Db,
    options: BootStoreOptions = {},
  ) {
    this.randomInt = options.randomInt;
    this.maxEventsPerMac = options.maxEventsPerMac ?? MAX_EVENTS_PER_MAC;
    this.maxEventsTotal = options.maxEventsTotal ?? MAX_EVENTS_TOTAL;
    this.maxWaiting = options.maxWaiting ?? MAX_WAITING;
    this.keepRecentPollMs = options.keepRecentPollMs ?? KEEP_RECENT_POLL_MS;
  }

  /** Records one step (mac already normalized). The same step with the same detail as the
   *  MAC's latest row only bumps that row's count and time. */
  record(input: BootEventInput): void {
    const time = input.time ?? Date.now();
    const step = cleanText(input.step, 40);
    const detail = cleanText(input.detail, MAX_DETAIL_CHARS);
    const arch = cleanArch(input.arch);
    const vendorClass = input.vendorClass ? cleanText(input.vendorClass, MAX_VENDOR_CLASS_CHARS) : null;
    this.db.transaction(() => {
      const latest = this.db.prepare('SELECT id, step, detail FROM boot_events WHERE mac = ? ORDER BY id DESC LIMIT 1').get(input.mac) as
        | { id: number; step: string; detail: string }
        | undefined;
      if (latest && latest.step === step && latest.detail === detail) {
        this.db
          .prepare('UPDATE boot_events SET count = count + 1, last_at = ?, arch = COALESCE(?, arch), vendor_class = COALESCE(?, vendor_class) WHERE id = ?')
          .run(time, arch, vendorClass, latest.id);
        return;
      }
      this.db
        .prepare('INSERT INTO boot_events (mac, arch, vendor_class, step, detail, first_at, last_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(input.mac, arch, vendorClass, step, detail, time, time);
      // Per MAC: drop everything older than the newest maxEventsPerMac rows.
      this.db
        .prepare(
          `DELETE FROM boot_events WHERE mac = ? AND id <= (
             SELECT id FROM boot_events WHERE mac = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`,
        )
        .run(input.mac, input.mac, this.maxEventsPerMac);
      // Overall: the oldest rows go first.
      this.db
        .prepare('DELETE FROM boot_events WHERE id <= (SELECT id FROM boot_events ORDER BY id DESC LIMIT 1 OFFSET ?)')
        .run(this.maxEventsTotal);
      if (arch !== null || vendorClass !== null) {
        this.db
          .prepare('UPDATE waiting_pcs SET arch = COALESCE(?, arch), vendor_class = COALESCE(?, vendor_class) WHERE mac = ?')
          .run(arch, vendorClass, input.mac);
      }
    })();
  }

  /** A MAC's steps, oldest first. */
  events(mac: string): BootEvent[] {
    const rows = this.db.prepare('SELECT * FROM boot_events WHERE mac = ? ORDER BY id').all(mac) as EventRow[];
    return rows.map(eventView);
  }

  /** The latest steps of every MAC, newest first (for the UI's overview). */
  recentEvents(limit = 100): BootEvent[] {
    const rows = this.db.prepare('SELECT * FROM boot_events ORDER BY id DESC LIMIT ?').all(Math.max(1, Math.min(limit, 1000))) as EventRow[];
    return rows.map(eventView);
  }

  /** Marks the MAC as waiting (now), giving it a code on first sight. Arch and vendor class
   *  come from its latest DHCP step, when there was one. undefined: the list is full of PCs
   *  that all polled in the last keepRecentPollMs, so the newcomer is not taken. */
  touchWaiting(mac: string, time = Date.now()): WaitingPc | undefined {
    return this.db.transaction(() => {
      const existing = this.db.prepare('SELECT * FROM waiting_pcs WHERE mac = ?').get(mac) as WaitingRow | undefined;
      if (existing) {
        this.db.prepare('UPDATE waiting_pcs SET last_seen = ? WHERE mac = ?').run(time, mac);
        return waitingView({ ...existing, last_seen: time });
      }
      const known = this.db
        .prepare('SELECT arch, vendor_class FROM boot_events WHERE mac = ? AND (arch IS NOT NULL OR vendor_class IS NOT NULL) ORDER BY id DESC LIMIT 1')
        .get(mac) as { arch: number | null; vendor_class: string | null } | undefined;
      // Room for the newcomer: the PCs seen least recently leave the list (they show a new
      // code if they come back), but never one that is still polling: a host inventing MACs
      // must not change the codes real PCs show on their screens.
      const count = (this.db.prepare('SELECT COUNT(*) AS n FROM waiting_pcs').get() as { n: number }).n;
      if (count >= this.maxWaiting) {
        this.db
          .prepare(
            `DELETE FROM waiting_pcs WHERE last_seen < ? AND mac IN (
               SELECT mac FROM waiting_pcs ORDER BY last_seen DESC, mac LIMIT -1 OFFSET ?)`,
          )
          .run(time - this.keepRecentPollMs, this.maxWaiting - 1);
        if ((this.db.prepare('SELECT COUNT(*) AS n FROM waiting_pcs').get() as { n: number }).n >= this.maxWaiting) return undefined;
      }
      const taken = this.db.prepare('SELECT 1 FROM waiting_pcs WHERE code = ?');
      let code = generateEnrollCode(this.randomInt);
      for (let tries = 0; taken.get(code) !== undefined; tries++) {
        if (tries > 100) throw new Error('no free enrollment code after 100 tries');
        code = generateEnrollCode(this.randomInt);
      }
      const row: WaitingRow = { mac, code, arch: known?.arch ?? null, vendor_class: known?.vendor_class ?? null, first_seen: time, last_seen: time };
      this.db
        .prepare('INSERT INTO waiting_pcs (mac, code, arch, vendor_class, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?)')
        .run(row.mac, row.code, row.arch, row.vendor_class, row.first_seen, row.last_seen);
      return waitingView(row);
    })();
  }

  listWaiting(): WaitingPc[] {
    return (this.db.prepare('SELECT * FROM waiting_pcs ORDER BY first_seen, mac').all() as WaitingRow[]).map(waitingView);
  }

  isWaiting(mac: string): boolean {
    return this.db.prepare('SELECT 1 FROM waiting_pcs WHERE mac = ?').get(mac) !== undefined;
  }

  findWaitingByCode(code: string): WaitingPc | undefined {
    const row = this.db.prepare('SELECT * FROM waiting_pcs WHERE code = ?').get(code) as WaitingRow | undefined;
    return row && waitingView(row);
  }

  removeWaiting(mac: string): boolean {
    return this.db.prepare('DELETE FROM waiting_pcs WHERE mac = ?').run(mac).changes === 1;
  }
}
