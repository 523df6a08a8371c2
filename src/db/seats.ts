// Data access for seats: one PC's disk each (a golden version + its own delta).
import type { Db } from './database.js';
import type { SeatMode } from '../config/names.js';

export interface ChapSecretPair {
  user: string;
  secret: string;
}

export interface SeatRow {
  id: number;
  name: string;
  imageId: number;
  imageName: string;
  imageVersion: number;
  mode: SeatMode;
  mac: string | null;
  targetIqn: string;
  initiatorIqns: string[];
  chap: ChapSecretPair | null;
  mutualChap: ChapSecretPair | null;
  serial: string;
  naaHex: string;
  createdAt: string;
}

export interface NewSeat {
  name: string;
  imageId: number;
  imageVersion: number;
  mode: SeatMode;
  mac: string | null;
  targetIqn: string;
  initiatorIqns: string[];
  chap: ChapSecretPair | null;
  mutualChap: ChapSecretPair | null;
  serial: string;
  naaHex: string;
  createdAt: string;
}

interface SeatDbRow {
  id: number;
  name: string;
  image_id: number;
  image_name: string;
  image_version: number;
  mode: string;
  mac: string | null;
  target_iqn: string;
  chap_user: string | null;
  chap_secret: string | null;
  mutual_chap_user: string | null;
  mutual_chap_secret: string | null;
  serial: string;
  naa_hex: string;
  created_at: string;
}

const SEAT_SELECT = `SELECT s.id, s.name, s.image_id, i.name AS image_name, s.image_version, s.mode, s.mac, s.target_iqn,
  s.chap_user, s.chap_secret, s.mutual_chap_user, s.mutual_chap_secret, s.serial, s.naa_hex, s.created_at
  FROM seats s JOIN images i ON i.id = s.image_id`;

export class SeatRepository {
  constructor(private readonly db: Db) {}

  private hydrate(row: SeatDbRow): SeatRow {
    const initiators = (this.db.prepare('SELECT iqn FROM seat_initiators WHERE seat_id = ? ORDER BY iqn').all(row.id) as { iqn: string }[]).map(
      (r) => r.iqn,
    );
    return {
      id: row.id,
      name: row.name,
      imageId: row.image_id,
      imageName: row.image_name,
      imageVersion: row.image_version,
      mode: row.mode as SeatMode,
      mac: row.mac,
      targetIqn: row.target_iqn,
      initiatorIqns: initiators,
      chap: row.chap_user !== null && row.chap_secret !== null ? { user: row.chap_user, secret: row.chap_secret } : null,
      mutualChap:
        row.mutual_chap_user !== null && row.mutual_chap_secret !== null ? { user: row.mutual_chap_user, secret: row.mutual_chap_secret } : null,
      serial: row.serial,
      naaHex: row.naa_hex,
      createdAt: row.created_at,
    };
  }

  list(): SeatRow[] {
    return (this.db.prepare(`${SEAT_SELECT} ORDER BY s.name`).all() as SeatDbRow[]).map((r) => this.hydrate(r));
  }

  findByName(name: string): SeatRow | undefined {
    const row = this.db.prepare(`${SEAT_SELECT} WHERE s.name = ?`).get(name) as SeatDbRow | undefined;
    return row && this.hydrate(row);
  }

  findByMac(mac: string): SeatRow | undefined {
    const row = this.db.prepare(`${SEAT_SELECT} WHERE s.mac = ?`).get(mac) as SeatDbRow | undefined;
    return row && this.hydrate(row);
  }

  /** Inserts the seat and its initiator ACL in one transaction. */
  insert(seat: NewSeat): SeatRow {
    return this.db.transaction(() => {
      const info = this.db
        .prepare(
          `INSERT INTO seats (name, image_id, image_version, mode, mac, target_iqn, chap_user, chap_secret,
             mutual_chap_user, mutual_chap_secret, serial, naa_hex, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          seat.name,
          seat.imageId,
          seat.imageVersion,
          seat.mode,
          seat.mac,
          seat.targetIqn,
          seat.chap?.user ?? null,
          seat.chap?.secret ?? null,
          seat.mutualChap?.user ?? null,
          seat.mutualChap?.secret ?? null,
          seat.serial,
          seat.naaHex,
          seat.createdAt,
        );
      const id = Number(info.lastInsertRowid);
      const addInitiator = this.db.prepare('INSERT OR IGNORE INTO seat_initiators (seat_id, iqn) VALUES (?, ?)');
      for (const iqn of seat.initiatorIqns) addInitiator.run(id, iqn);
      return this.findByName(seat.name)!;
    })();
  }

  /** The id the next insert gets: AUTOINCREMENT hands out max(rowid ever used) + 1. */
  nextId(): number {
    const row = this.db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'seats'").get() as { seq: number } | undefined;
    return (row?.seq ?? 0) + 1;
  }

  setChapSecrets(seatId: number, chapSecret: string | null, mutualChapSecret: string | null): void {
    this.db
      .prepare('UPDATE seats SET chap_secret = COALESCE(?, chap_secret), mutual_chap_secret = COALESCE(?, mutual_chap_secret) WHERE id = ?')
      .run(chapSecret, mutualChapSecret, seatId);
  }

  setVersion(seatId: number, imageVersion: number): void {
    this.db.prepare('UPDATE seats SET image_version = ? WHERE id = ?').run(imageVersion, seatId);
  }

  remove(seatId: number): boolean {
    return this.db.prepare('DELETE FROM seats WHERE id = ?').run(seatId).changes === 1;
  }
}
