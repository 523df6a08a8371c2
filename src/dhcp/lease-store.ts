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

/** The leases of one interface. */
export class LeaseStore {
  private readonly byIp;
  private readonly byMac;
  private readonly upsertStatement;
  private readonly deleteStatement;
  private readonly listStatement;
  private readonly expiredBoundStatement;
  private readonly expireStatement;
  private readonly purgeStatement;

  constructor(
    private readonly db: Db,
    private readonly interfaceName: string,
  ) {
    this.byIp = db.prepare('SELECT * FROM dhcp_leases WHERE interface = ? AND ip = ?');
    // The newest row first: a client that moved addresses gets the latest one again.
    this.byMac = db.prepare("SELECT * FROM dhcp_leases WHERE interface = ? AND mac = ? AND state != 'declined' ORDER BY updated_at DESC LIMIT 1");
    this.upsertStatement = db.prepare(`
      INSERT INTO dhcp_leases (interface, ip, mac, client_id, hostname, state, expires_at, updated_at)
      VALUES (@interface, @ip, @mac, @clientId, @hostname, @state, @expiresAt, @updatedAt)
      ON CONFLICT (interface, ip) DO UPDATE SET
        mac = excluded.mac, client_id = excluded.client_id, hostname = excluded.hostname,
        state = excluded.state, expires_at = excluded.expires_at, updated_at = excluded.updated_at`);
    this.deleteStatement = db.prepare('DELETE FROM dhcp_leases WHERE interface = ? AND ip = ?');
    this.listStatement = db.prepare('SELECT * FROM dhcp_leases WHERE interface = ? ORDER BY ip');
    this.expiredBoundStatement = db.prepare("SELECT * FROM dhcp_leases WHERE interface = ? AND state = 'bound' AND expires_at <= ?");
    this.expireStatement = db.prepare("UPDATE dhcp_leases SET state = 'released', updated_at = ? WHERE interface = ? AND state = 'bound' AND expires_at <= ?");
    this.purgeStatement = db.prepare("DELETE FROM dhcp_leases WHERE interface = ? AND state IN ('offered', 'declined') AND expires_at <= ?");
  }

  findByIp(ip: string): LeaseRow | undefined {
    const row = this.byIp.get(this.interfaceName, ip) as DbLeaseRow | undefined;
    return row && toLease(row);
  }

  findByMac(mac: string): LeaseRow | undefined {
    const row = this.byMac.get(this.interfaceName, mac) as DbLeaseRow | undefined;
    return row && toLease(row);
  }

  put(lease: LeaseRow): void {
    // One client holds one address: drop its other non-declined rows first.
    this.db.transaction(() => {
      this.db
        .prepare("DELETE FROM dhcp_leases WHERE interface = ? AND mac = ? AND ip != ? AND state != 'declined'")
        .run(this.interfaceName, lease.mac, lease.ip);
      this.upsertStatement.run({ interface: this.interfaceName, ...lease });
    })();
  }

  delete(ip: string): void {
    this.deleteStatement.run(this.interfaceName, ip);
  }

  list(): LeaseRow[] {
    return (this.listStatement.all(this.interfaceName) as DbLeaseRow[]).map(toLease);
  }

  /** Marks bound leases past their expiry as released (kept, so the client gets the same
   *  address back) and deletes stale offers and quarantines. Returns the leases that expired. */
  expire(now: number): LeaseRow[] {
    return this.db.transaction(() => {
      const expired = (this.expiredBoundStatement.all(this.interfaceName, now) as DbLeaseRow[]).map(toLease);
      this.expireStatement.run(now, this.interfaceName, now);
      this.purgeStatement.run(this.interfaceName, now);
      return expired;
    })();
  }
}
