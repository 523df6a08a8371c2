// Boot history in SQLite: one row per boot of a seat (migration 0700-room), kept for a
// retention limit (days and rows). Times are ms since epoch.
import type { Db } from '../db/database.js';

export interface BootRecord {
  id: number;
  seat: string;
  mac: string | null;
  startedAt: number;
  scriptAt: number | null;
  loginAt: number | null;
  firstWriteAt: number | null;
  endedAt: number | null;
  bytesRead: number;
  bytesWritten: number;
  fault: string | null;
}

interface Row {
  id: number;
  seat_name: string;
  mac: string | null;
  started_at: number;
  script_at: number | null;
  login_at: number | null;
  first_write_at: number | null;
  ended_at: number | null;
  bytes_read: number;
  bytes_written: number;
  fault: string | null;
}

const toRecord = (r: Row): BootRecord => ({
  id: r.id,
  seat: r.seat_name,
  mac: r.mac,
  startedAt: r.started_at,
  scriptAt: r.script_at,
  loginAt: r.login_at,
  firstWriteAt: r.first_write_at,
  endedAt: r.ended_at,
  bytesRead: r.bytes_read,
  bytesWritten: r.bytes_written,
  fault: r.fault,
});

export interface Retention {
  days: number;
  maxRows: number;
}

export const DEFAULT_RETENTION: Retention = { days: 90, maxRows: 200_000 };

export class BootHistoryStore {
  constructor(
    private readonly db: Db,
    private readonly retention: Retention = DEFAULT_RETENTION,
  ) {}

  /** Starts a boot record; a record of the seat still open is ended at `at`. */
  open(seat: string, mac: string | null, at: number): number {
    return this.db.transaction(() => {
      this.db.prepare('UPDATE boot_history SET ended_at = ? WHERE seat_name = ? AND ended_at IS NULL').run(at, seat);
      return Number(this.db.prepare('INSERT INTO boot_history (seat_name, mac, started_at, script_at) VALUES (?, ?, ?, ?)').run(seat, mac, at, at).lastInsertRowid);
    })();
  }

  /** The seat's newest record, if it is still open. */
  current(seat: string): BootRecord | undefined {
    const row = this.db.prepare('SELECT * FROM boot_history WHERE seat_name = ? ORDER BY id DESC LIMIT 1').get(seat) as Row | undefined;
    return row && row.ended_at === null ? toRecord(row) : undefined;
  }

  openRecords(): BootRecord[] {
    return (this.db.prepare('SELECT * FROM boot_history WHERE ended_at IS NULL').all() as Row[]).map(toRecord);
  }

  update(id: number, fields: Partial<Pick<BootRecord, 'loginAt' | 'firstWriteAt' | 'endedAt' | 'bytesRead' | 'bytesWritten' | 'fault'>>): void {
    const columns: Record<string, string> = {
      loginAt: 'login_at',
      firstWriteAt: 'first_write_at',
      endedAt: 'ended_at',
      bytesRead: 'bytes_read',
      bytesWritten: 'bytes_written',
      fault: 'fault',
    };
    const entries = Object.entries(fields).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return;
    this.db.prepare(`UPDATE boot_history SET ${entries.map(([k]) => `${columns[k]} = ?`).join(', ')} WHERE id = ?`).run(...entries.map(([, v]) => v as number | string | null), id);
  }

  /** The seat's newest `limit` records, newest first. */
  recent(seat: string, limit: number): BootRecord[] {
    return (this.db.prepare('SELECT * FROM boot_history WHERE seat_name = ? ORDER BY started_at DESC, id DESC LIMIT ?').all(seat, limit) as Row[]).map(toRecord);
  }

  /** Each seat's newest record, by seat name (one query for the room page). */
  latestBySeat(): Map<string, BootRecord> {
    const rows = this.db
      .prepare('SELECT h.* FROM boot_history h JOIN (SELECT seat_name, MAX(id) AS id FROM boot_history GROUP BY seat_name) last ON last.id = h.id')
      .all() as Row[];
    return new Map(rows.map((r) => [r.seat_name, toRecord(r)]));
  }

  /** Records since `since` (all seats, or one), oldest first, at most `limit`. */
  export(options: { seat?: string | undefined; since: number; limit: number }): BootRecord[] {
    const rows = options.seat
      ? this.db.prepare('SELECT * FROM boot_history WHERE seat_name = ? AND started_at >= ? ORDER BY started_at, id LIMIT ?').all(options.seat, options.since, options.limit)
      : this.db.prepare('SELECT * FROM boot_history WHERE started_at >= ? ORDER BY started_at, id LIMIT ?').all(options.since, options.limit);
    return (rows as Row[]).map(toRecord);
  }

  /** Drops records older than the retention, then the oldest beyond its row limit. */
  prune(now: number): number {
    const old = this.db.prepare('DELETE FROM boot_history WHERE started_at < ?').run(now - this.retention.days * 86_400_000).changes;
    const extra = this.db
      .prepare('DELETE FROM boot_history WHERE id NOT IN (SELECT id FROM boot_history ORDER BY started_at DESC, id DESC LIMIT ?)')
      .run(this.retention.maxRows).changes;
    return old + extra;
  }
}

/** CSV (RFC 4180) of boot records; times as ISO 8601, durations in ms. */
export function bootRecordsCsv(records: BootRecord[]): string {
  const iso = (ms: number | null) => (ms === null ? '' : new Date(ms).toISOString());
  const since = (a: number | null, b: number) => (a === null ? '' : String(a - b));
  const quote = (s: string) => (/[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const lines = ['seat,mac,started_at,script_at,login_ms,first_write_ms,session_ms,bytes_read,bytes_written,fault'];
  for (const r of records) {
    lines.push(
      [r.seat, r.mac ?? '', iso(r.startedAt), iso(r.scriptAt), since(r.loginAt, r.startedAt), since(r.firstWriteAt, r.startedAt), r.loginAt !== null && r.endedAt !== null ? String(r.endedAt - r.loginAt) : '', String(r.bytesRead), String(r.bytesWritten), r.fault ?? '']
        .map(quote)
        .join(','),
    );
  }
  return `${lines.join('\r\n')}\r\n`;
}
