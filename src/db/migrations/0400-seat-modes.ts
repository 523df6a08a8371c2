// Seat modes maintenance and install, quotas, snapshots and the commit journal.
//
// An install seat has a blank disk and no golden image, so seats.image_id/image_version
// become nullable (both NULL or both set) and size_bytes holds the blank disk's size. SQLite
// cannot drop NOT NULL in place: the table is rebuilt. With foreign_keys ON (it cannot be
// switched off inside the migration's transaction) `DROP TABLE seats` deletes every row
// first, and that cascades to seat_initiators: the initiators are saved and put back. The
// AUTOINCREMENT counter is saved too, so a removed seat's id (its delta directory) is never
// handed out again.
import type { Db } from '../database.js';

export function up(db: Db): void {
  const savedSeq = db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'seats'").get() as { seq: number } | undefined;
  db.exec(`
    CREATE TEMP TABLE saved_seat_initiators AS SELECT seat_id, iqn FROM seat_initiators;

    CREATE TABLE seats_new (
      id                  INTEGER PRIMARY KEY AUTOINCREMENT,
      name                TEXT NOT NULL UNIQUE,
      image_id            INTEGER REFERENCES images(id) ON DELETE RESTRICT,
      image_version       INTEGER,
      mode                TEXT NOT NULL,
      mac                 TEXT UNIQUE,
      target_iqn          TEXT NOT NULL UNIQUE,
      chap_user           TEXT,
      chap_secret         TEXT,
      mutual_chap_user    TEXT,
      mutual_chap_secret  TEXT,
      serial              TEXT NOT NULL UNIQUE,
      naa_hex             TEXT NOT NULL UNIQUE,
      created_at          TEXT NOT NULL,
      -- Blank (install) disk size; NULL = the golden version's size.
      size_bytes          INTEGER CHECK (size_bytes IS NULL OR (size_bytes > 0 AND size_bytes % 512 = 0)),
      -- Delta quota; 0 = none.
      quota_bytes         INTEGER NOT NULL DEFAULT 0 CHECK (quota_bytes >= 0),
      CHECK ((image_id IS NULL) = (image_version IS NULL)),
      CHECK (image_id IS NOT NULL OR size_bytes IS NOT NULL),
      FOREIGN KEY (image_id, image_version) REFERENCES image_versions(image_id, number) ON DELETE RESTRICT
    ) STRICT;

    INSERT INTO seats_new (id, name, image_id, image_version, mode, mac, target_iqn, chap_user, chap_secret,
                           mutual_chap_user, mutual_chap_secret, serial, naa_hex, created_at)
      SELECT id, name, image_id, image_version, mode, mac, target_iqn, chap_user, chap_secret,
             mutual_chap_user, mutual_chap_secret, serial, naa_hex, created_at FROM seats;

    DROP TABLE seats;
    ALTER TABLE seats_new RENAME TO seats;
    INSERT INTO seat_initiators (seat_id, iqn) SELECT seat_id, iqn FROM saved_seat_initiators;
    DROP TABLE saved_seat_initiators;

    -- At most one maintenance seat per image (its changes become the next version).
    CREATE UNIQUE INDEX seats_one_maintenance_per_image ON seats(image_id) WHERE mode = 'maintenance';

    -- Snapshots of a seat's delta; files in DATA/seats/<seat id>/snapshots/<number>/. The
    -- golden version is recorded, not referenced: a snapshot does not pin a version.
    CREATE TABLE seat_snapshots (
      id             INTEGER PRIMARY KEY AUTOINCREMENT,
      seat_id        INTEGER NOT NULL REFERENCES seats(id) ON DELETE CASCADE,
      number         INTEGER NOT NULL CHECK (number >= 1),
      label          TEXT,
      image_id       INTEGER,
      image_version  INTEGER,
      delta_bytes    INTEGER NOT NULL,
      created_at     TEXT NOT NULL,
      UNIQUE (seat_id, number)
    ) STRICT;

    -- Journal of long seat operations (commit): written before the work starts, settled
    -- after; a row still 'running' at start-up is a crash in the middle (see docs/seats.md).
    CREATE TABLE seat_operations (
      id             INTEGER PRIMARY KEY AUTOINCREMENT,
      seat_name      TEXT NOT NULL,
      kind           TEXT NOT NULL,
      state          TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed', 'interrupted')),
      image_name     TEXT NOT NULL,
      -- Highest version number of image_name when the operation started (0 = none yet).
      base_version   INTEGER NOT NULL,
      result_version INTEGER,
      message        TEXT,
      started_at     TEXT NOT NULL,
      finished_at    TEXT
    ) STRICT;
  `);
  if (savedSeq) {
    const current = db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'seats'").get() as { seq: number } | undefined;
    if (current) db.prepare("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'seats'").run(savedSeq.seq);
    else db.prepare("INSERT INTO sqlite_sequence (name, seq) VALUES ('seats', ?)").run(savedSeq.seq);
  }
}
