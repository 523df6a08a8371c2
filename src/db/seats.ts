// Data access for seats: one PC's disk each (a golden version + its own delta).
import type { Db } from './database.js';
import type { SeatMode } from '../config/names.js';
import { SeatBootRepository } from './seat-boot.js';

export interface ChapSecretPair {
  user: string;
  secret: string;
}

export interface SeatRow {
  id: number;
  name: string;
  /** null for an install seat that has no golden image (a blank disk). */
  imageId: number | null;
  imageName: string | null;
  imageVersion: number | null;
  mode: SeatMode;
  mac: string | null;
  targetIqn: string;
  initiatorIqns: string[];
  chap: ChapSecretPair | null;
  mutualChap: ChapSecretPair | null;
  serial: string;
  naaHex: string;
  createdAt: string;
  /** Blank disk size (install seats); null = the golden version's size. */
  sizeBytes: number | null;
  /** Delta quota in bytes; 0 = none. */
  quotaBytes: number;
}

export interface NewSeat {
  name: string;
  imageId: number | null;
  imageVersion: number | null;
  sizeBytes?: number | null;
  quotaBytes?: number;
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
  image_id: number | null;
  image_name: string | null;
  image_version: number | null;
  size_bytes: number | null;
  quota_bytes: number;
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

const SEAT_SELECT = `SELECT s.id, s.name, s.image_id, i.name AS image_name, s.image_version, s.size_bytes, s.quota_bytes, s.mode, s.mac,
  s.target_iqn, s.chap_user, s.chap_secret, s.mutual_chap_user, s.mutual_chap_secret, s.serial, s.naa_hex, s.created_at
  FROM seats s LEFT JOIN images i ON i.id = s.image_id`;

export class SeatRepository {
  /** What each seat boots besides its disk (menu, next boot, installer ISO). */
  readonly boot: SeatBootRepository;

  constructor(private readonly db: Db) {
    this.boot = new SeatBootRepository(db);
  }

  /** `initiators`: the seat's ACL when already loaded (list() reads every seat's at once). */
  private hydrate(row: SeatDbRow, initiators?: string[]): SeatRow {
    initiators ??= (this.db.prepare('SELECT iqn FROM seat_initiators WHERE seat_id = ? ORDER BY iqn').all(row.id) as { iqn: string }[]).map(
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
      sizeBytes: row.size_bytes,
      quotaBytes: row.quota_bytes,
    };
  }

  list(): SeatRow[] {
    // Two queries for any number of seats, not one per seat.
    const initiatorsBySeat = new Map<number, string[]>();
    for (const r of this.db.prepare('SELECT seat_id, iqn FROM seat_initiators ORDER BY seat_id, iqn').all() as { seat_id: number; iqn: string }[]) {
      let list = initiatorsBySeat.get(r.seat_id);
      if (!list) initiatorsBySeat.set(r.seat_id, (list = []));
      list.push(r.iqn);
    }
    return (this.db.prepare(`${SEAT_SELECT} ORDER BY s.name`).all() as SeatDbRow[]).map((r) => this.hydrate(r, initiatorsBySeat.get(r.id) ?? []));
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
          `INSERT INTO seats (name, image_id, image_version, size_bytes, quota_bytes, mode, mac, target_iqn, chap_user, chap_secret,
             mutual_chap_user, mutual_chap_secret, serial, naa_hex, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          seat.name,
          seat.imageId,
          seat.imageVersion,
          seat.sizeBytes ?? null,
          seat.quotaBytes ?? 0,
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

  /** Puts the seat on a golden version (an install seat's commit gives it its image). */
  setImage(seatId: number, imageId: number, imageVersion: number): void {
    this.db.prepare('UPDATE seats SET image_id = ?, image_version = ?, size_bytes = NULL WHERE id = ?').run(imageId, imageVersion, seatId);
  }

  setMode(seatId: number, mode: SeatMode): void {
    this.db.prepare('UPDATE seats SET mode = ? WHERE id = ?').run(mode, seatId);
  }

  setQuota(seatId: number, quotaBytes: number): void {
    this.db.prepare('UPDATE seats SET quota_bytes = ? WHERE id = ?').run(quotaBytes, seatId);
  }

  /** The maintenance seat of an image, if any. */
  maintenanceSeatOf(imageId: number): SeatRow | undefined {
    const row = this.db.prepare(`${SEAT_SELECT} WHERE s.image_id = ? AND s.mode = 'maintenance'`).get(imageId) as SeatDbRow | undefined;
    return row && this.hydrate(row);
  }

  listByImage(imageId: number): SeatRow[] {
    return (this.db.prepare(`${SEAT_SELECT} WHERE s.image_id = ? ORDER BY s.name`).all(imageId) as SeatDbRow[]).map((r) => this.hydrate(r));
  }

  // Snapshots ----------------------------------------------------------------------------

  listSnapshots(seatId: number): SnapshotRow[] {
    return (this.db.prepare('SELECT * FROM seat_snapshots WHERE seat_id = ? ORDER BY number').all(seatId) as SnapshotDbRow[]).map(toSnapshot);
  }

  /** Bytes of every seat's snapshots, by seat id, in one query (the space report covers all
   *  seats at each status request). */
  snapshotBytesBySeat(): Map<number, number> {
    const rows = this.db.prepare('SELECT seat_id, SUM(delta_bytes) AS bytes FROM seat_snapshots GROUP BY seat_id').all() as { seat_id: number; bytes: number }[];
    return new Map(rows.map((r) => [r.seat_id, r.bytes]));
  }

  getSnapshot(seatId: number, number: number): SnapshotRow | undefined {
    const row = this.db.prepare('SELECT * FROM seat_snapshots WHERE seat_id = ? AND number = ?').get(seatId, number) as SnapshotDbRow | undefined;
    return row && toSnapshot(row);
  }

  nextSnapshotNumber(seatId: number): number {
    const row = this.db.prepare('SELECT MAX(number) AS n FROM seat_snapshots WHERE seat_id = ?').get(seatId) as { n: number | null };
    return (row.n ?? 0) + 1;
  }

  addSnapshot(snapshot: Omit<SnapshotRow, 'id'>): SnapshotRow {
    this.db
      .prepare('INSERT INTO seat_snapshots (seat_id, number, label, image_id, image_version, delta_bytes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(snapshot.seatId, snapshot.number, snapshot.label, snapshot.imageId, snapshot.imageVersion, snapshot.deltaBytes, snapshot.createdAt);
    return this.getSnapshot(snapshot.seatId, snapshot.number)!;
  }

  removeSnapshot(seatId: number, number: number): boolean {
    return this.db.prepare('DELETE FROM seat_snapshots WHERE seat_id = ? AND number = ?').run(seatId, number).changes === 1;
  }

  /** Runs `work` in one transaction. */
  transaction(work: () => void): void {
    this.db.transaction(work)();
  }

  /** The version a commit published, if it got that far: the one recorded with the
   *  commit's source when the image store records sources, else the first version of
   *  `imageName` above `baseVersion` (the journal's highest version when the commit began). */
  findCommittedVersion(imageName: string, baseVersion: number, source: string): { imageId: number; number: number } | undefined {
    const columns = (this.db.prepare('PRAGMA table_info(image_versions)').all() as { name: string }[]).map((c) => c.name);
    const bySource = columns.includes('source');
    const row = this.db
      .prepare(
        `SELECT v.image_id AS imageId, v.number AS number FROM image_versions v JOIN images i ON i.id = v.image_id
         WHERE i.name = ? AND v.number > ? ${bySource ? 'AND v.source = ?' : ''} ORDER BY v.number LIMIT 1`,
      )
      .get(...(bySource ? [imageName, baseVersion, source] : [imageName, baseVersion])) as { imageId: number; number: number } | undefined;
    return row;
  }

  // Operation journal (commit) -------------------------------------------------------------

  startOperation(op: { seatName: string; kind: string; imageName: string; baseVersion: number }): number {
    const info = this.db
      .prepare("INSERT INTO seat_operations (seat_name, kind, state, image_name, base_version, started_at) VALUES (?, ?, 'running', ?, ?, ?)")
      .run(op.seatName, op.kind, op.imageName, op.baseVersion, new Date().toISOString());
    return Number(info.lastInsertRowid);
  }

  finishOperation(id: number, state: 'done' | 'failed' | 'interrupted', message: string, resultVersion: number | null = null): void {
    this.db
      .prepare('UPDATE seat_operations SET state = ?, message = ?, result_version = ?, finished_at = ? WHERE id = ?')
      .run(state, message, resultVersion, new Date().toISOString(), id);
  }

  /** A removed seat's journal (a new seat may take its name). */
  forgetOperations(seatName: string): void {
    this.db.prepare("DELETE FROM seat_operations WHERE seat_name = ? AND state <> 'running'").run(seatName);
  }

  runningOperations(): OperationRow[] {
    return (this.db.prepare("SELECT * FROM seat_operations WHERE state = 'running' ORDER BY id").all() as OperationDbRow[]).map(toOperation);
  }

  /** The latest operation of each seat (for the API and status warnings). */
  latestOperations(): OperationRow[] {
    return (
      this.db
        .prepare('SELECT * FROM seat_operations WHERE id IN (SELECT MAX(id) FROM seat_operations GROUP BY seat_name) ORDER BY id')
        .all() as OperationDbRow[]
    ).map(toOperation);
  }

  remove(seatId: number): boolean {
    return this.db.prepare('DELETE FROM seats WHERE id = ?').run(seatId).changes === 1;
  }
}

export interface SnapshotRow {
  id: number;
  seatId: number;
  number: number;
  label: string | null;
  imageId: number | null;
  imageVersion: number | null;
  deltaBytes: number;
  createdAt: string;
}

interface SnapshotDbRow {
  id: number;
  seat_id: number;
  number: number;
  label: string | null;
  image_id: number | null;
  image_version: number | null;
  delta_bytes: number;
  created_at: string;
}

function toSnapshot(r: SnapshotDbRow): SnapshotRow {
  return {
    id: r.id,
    seatId: r.seat_id,
    number: r.number,
    label: r.label,
    imageId: r.image_id,
    imageVersion: r.image_version,
    deltaBytes: r.delta_bytes,
    createdAt: r.created_at,
  };
}

export interface OperationRow {
  id: number;
  seatName: string;
  kind: string;
  state: 'running' | 'done' | 'failed' | 'interrupted';
  imageName: string;
  baseVersion: number;
  resultVersion: number | null;
  message: string | null;
  startedAt: string;
  finishedAt: string | null;
}

interface OperationDbRow {
  id: number;
  seat_name: string;
  kind: string;
  state: OperationRow['state'];
  image_name: string;
  base_version: number;
  result_version: number | null;
  message: string | null;
  started_at: string;
  finished_at: string | null;
}

function toOperation(r: OperationDbRow): OperationRow {
  return {
    id: r.id,
    seatName: r.seat_name,
    kind: r.kind,
    state: r.state,
    imageName: r.image_name,
    baseVersion: r.base_version,
    resultVersion: r.result_version,
    message: r.message,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  };
}
