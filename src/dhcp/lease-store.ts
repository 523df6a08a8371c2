// Leases of full-DHCP mode in SQLite (table dhcp_leases, migration 0100-dhcp-leases).
import type { Db } from '../db/database.js';

export type LeaseState = 'offered' | 'bound' | 'declined' | 'released';

export interface LeaseRow {
  ip: string;
  mac: string;
  clientId: string | null;
  hostname: string | null;
  state: LeaseState;
  /** ms since epoch; at or after this time the address is free. */
  expiresAt: number;
  updatedAt: number;
}

interface DbLeaseRow {
  ip: string;
  mac: string;
  client_id: string | null;
  hostname: string | null;
  state: LeaseState;
  expires_at: number;
  updated_at: number;
}

function toLease(row: DbLeaseRow): LeaseRow {
  return {
    ip: row.ip,
    mac: row.mac,
    clientId: row.client_id,
    hostname: row.hostname,
    state: row.state,
    expiresAt: row.expires_at,
    updatedAt: row.updated_at,
  };
}

type PendingWrite = { kind: 'put'; lease: LeaseRow } | { kind: 'delete'; ip: string };

/**
 * The leases of one interface. All of them live in memory (a lookup per DISCOVER must not be a
 * query, and a storm of PCs must not be a storm of fsyncs); every change is also queued and
 * written to SQLite in one transaction per event-loop turn (group commit). whenDurable() runs
 * a callback once everything changed so far is committed: the server sends an ACK only then,
 * so a binding survives a power cut once the client has been told about it (RFC 2131 section
 * 4.3.1 asks for bindings to persist). Offers need no such wait: the server only "SHOULD NOT"
 * reuse an offered address while the client answers (RFC 2131 section 4.3.1).
 */
export class LeaseStore {
  private readonly upsertStatement;
  private readonly deleteOthersStatement;
  private readonly deleteStatement;
  private readonly listStatement;
  private readonly rows = new Map<string, LeaseRow>();
  private pending: PendingWrite[] = [];
  private waiters: Array<(error: unknown) => void> = [];
  private scheduled = false;

  constructor(
    private readonly db: Db,
    private readonly interfaceName: string,
  ) {
    this.upsertStatement = db.prepare(`
      INSERT INTO dhcp_leases (interface, ip, mac, client_id, hostname, state, expires_at, updated_at)
      VALUES (@interface, @ip, @mac, @clientId, @hostname, @state, @expiresAt, @updatedAt)
      ON CONFLICT (interface, ip) DO UPDATE SET
        mac = excluded.mac, client_id = excluded.client_id, hostname = excluded.hostname,
        state = excluded.state, expires_at = excluded.expires_at, updated_at = excluded.updated_at`);
    this.deleteOthersStatement = db.prepare("DELETE FROM dhcp_leases WHERE interface = ? AND mac = ? AND ip != ? AND state != 'declined'");
    this.deleteStatement = db.prepare('DELETE FROM dhcp_leases WHERE interface = ? AND ip = ?');
    this.listStatement = db.prepare('SELECT * FROM dhcp_leases WHERE interface = ? ORDER BY ip');
    this.reload();
  }

  /** Memory from the database (at start, and after a failed commit: the database is the truth). */
  private reload(): void {
    this.rows.clear();
    for (const row of this.listStatement.all(this.interfaceName) as DbLeaseRow[]) this.rows.set(row.ip, toLease(row));
  }

  findByIp(ip: string): LeaseRow | undefined {
    const row = this.rows.get(ip);
    return row && { ...row };
  }

  /** The client's newest non-declined lease: a client that moved addresses gets the latest one again. */
  findByMac(mac: string): LeaseRow | undefined {
    let newest: LeaseRow | undefined;
    for (const row of this.rows.values()) {
      if (row.mac === mac && row.state !== 'declined' && (!newest || row.updatedAt > newest.updatedAt)) newest = row;
    }
    return newest && { ...newest };
  }

  put(lease: LeaseRow): void {
    // One client holds one address: drop its other non-declined rows first.
    for (const [ip, row] of this.rows) {
      if (row.mac === lease.mac && ip !== lease.ip && row.state !== 'declined') this.rows.delete(ip);
    }
    this.rows.set(lease.ip, { ...lease });
    this.queue({ kind: 'put', lease: { ...lease } });
  }

  delete(ip: string): void {
    this.rows.delete(ip);
    this.queue({ kind: 'delete', ip });
  }

  list(): LeaseRow[] {
    return [...this.rows.values()].sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0)).map((row) => ({ ...row }));
  }

  /** Marks bound leases past their expiry as released (kept, so the client gets the same
   *  address back) and deletes stale offers and quarantines. Returns the leases that expired. */
  expire(now: number): LeaseRow[] {
    const expired: LeaseRow[] = [];
    for (const row of [...this.rows.values()]) {
      if (row.expiresAt > now) continue;
      if (row.state === 'bound') {
        expired.push({ ...row });
        const released: LeaseRow = { ...row, state: 'released', updatedAt: now };
        this.rows.set(row.ip, released);
        this.queue({ kind: 'put', lease: released });
      } else if (row.state === 'offered' || row.state === 'declined') {
        this.delete(row.ip);
      }
    }
    return expired;
  }

  /** Calls `done` once every change made so far is committed (at once if none is pending);
   *  with the error if the commit failed. */
  whenDurable(done: (error: unknown) => void): void {
    if (this.pending.length === 0) {
      done(undefined);
      return;
    }
    this.waiters.push(done);
  }

  /** Commits the pending changes now, in one transaction. */
  flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    const waiters = this.waiters;
    this.pending = [];
    this.waiters = [];
    if (batch.length === 0) {
      for (const done of waiters) done(undefined);
      return;
    }
    let failure: unknown;
    try {
      this.db.transaction(() => {
        for (const write of batch) {
          if (write.kind === 'delete') {
            this.deleteStatement.run(this.interfaceName, write.ip);
          } else {
            this.deleteOthersStatement.run(this.interfaceName, write.lease.mac, write.lease.ip);
            this.upsertStatement.run({ interface: this.interfaceName, ...write.lease });
          }
        }
      })();
    } catch (error) {
      failure = error;
      this.reload();
    }
    for (const done of waiters) done(failure);
    if (failure !== undefined && waiters.length === 0) throw failure;
  }

  private queue(write: PendingWrite): void {
    this.pending.push(write);
    if (this.scheduled) return;
    this.scheduled = true;
    // setImmediate: after the datagrams already read in this turn were handled, so a burst
    // of requests shares one commit.
    setImmediate(() => {
      try {
        this.flush();
      } catch {
        // No one waited for this batch (offers, expiry); memory was reloaded from the database.
      }
    });
  }
}
