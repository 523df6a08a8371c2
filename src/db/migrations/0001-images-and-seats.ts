// Golden images, their immutable versions, and seats (one PC's disk each).
// Seat modes are checked in code, not by a CHECK constraint, so later modes (maintenance,
// install) need no table rebuild.
import type { Db } from '../database.js';

export function up(db: Db): void {
  db.exec(`
    CREATE TABLE images (
      id          INTEGER PRIMARY KEY AUTOINCREMENT,
      name        TEXT NOT NULL UNIQUE,
      created_at  TEXT NOT NULL
    ) STRICT;

    CREATE TABLE image_versions (
      id          INTEGER PRIMARY KEY AUTOINCREMENT,
      image_id    INTEGER NOT NULL REFERENCES images(id) ON DELETE RESTRICT,
      number      INTEGER NOT NULL CHECK (number >= 1),
      file_path   TEXT NOT NULL UNIQUE,
      size_bytes  INTEGER NOT NULL CHECK (size_bytes > 0),
      sha256      TEXT NOT NULL,
      created_at  TEXT NOT NULL,
      UNIQUE (image_id, number)
    ) STRICT;

    -- AUTOINCREMENT: a removed seat's id (and so its delta directory) is never reused.
    CREATE TABLE seats (
      id                  INTEGER PRIMARY KEY AUTOINCREMENT,
      name                TEXT NOT NULL UNIQUE,
      image_id            INTEGER NOT NULL REFERENCES images(id) ON DELETE RESTRICT,
      image_version       INTEGER NOT NULL,
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
      FOREIGN KEY (image_id, image_version) REFERENCES image_versions(image_id, number) ON DELETE RESTRICT
    ) STRICT;

    CREATE TABLE seat_initiators (
      seat_id  INTEGER NOT NULL REFERENCES seats(id) ON DELETE CASCADE,
      iqn      TEXT NOT NULL,
      PRIMARY KEY (seat_id, iqn)
    ) STRICT;
  `);
}
