// Golden image store: the current version of each image (rollback), where each
// version came from, the import job history, and ISO files kept next to an image.
//
// images.last_version: see below. images.current_version NULL means "the latest version" (what every database had before
// this migration); publishing a version sets it, rollback moves it. It is a plain number,
// not a foreign key: deleteVersion refuses to remove the current version in code.
import type { Db } from '../database.js';

export function up(db: Db): void {
  db.exec(`
    ALTER TABLE images ADD COLUMN current_version INTEGER CHECK (current_version IS NULL OR current_version >= 1);
    ALTER TABLE image_versions ADD COLUMN source TEXT;
    -- Highest version number ever given: a deleted version's number is never reused (a
    -- snapshot or a log line naming "v3" keeps meaning one thing).
    ALTER TABLE images ADD COLUMN last_version INTEGER NOT NULL DEFAULT 0;
    UPDATE images SET last_version = COALESCE((SELECT MAX(number) FROM image_versions v WHERE v.image_id = images.id), 0);

    -- One row per import job (file on this box, USB stick, upload). A row still 'running'
    -- at start-up was cut off by a crash: ImportManager marks it failed.
    CREATE TABLE imports (
      id             INTEGER PRIMARY KEY AUTOINCREMENT,
      image_name     TEXT NOT NULL,
      source         TEXT NOT NULL,
      format         TEXT,
      state          TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed')),
      bytes_done     INTEGER NOT NULL DEFAULT 0,
      bytes_total    INTEGER,
      error_code     TEXT,
      error_message  TEXT,
      version        INTEGER,
      iso_file       TEXT,
      started_at     TEXT NOT NULL,
      finished_at    TEXT
    ) STRICT;
    CREATE INDEX imports_by_state ON imports(state);

    -- ISO 9660 files, kept byte for byte under DATA/images/<name>/iso/ for HTTP sanboot
    -- and boot menus; never a seat's disk.
    CREATE TABLE image_isos (
      id          INTEGER PRIMARY KEY AUTOINCREMENT,
      image_id    INTEGER NOT NULL REFERENCES images(id) ON DELETE RESTRICT,
      file_name   TEXT NOT NULL,
      file_path   TEXT NOT NULL UNIQUE,
      size_bytes  INTEGER NOT NULL CHECK (size_bytes > 0),
      sha256      TEXT NOT NULL,
      source      TEXT,
      created_at  TEXT NOT NULL,
      UNIQUE (image_id, file_name)
    ) STRICT;
  `);
}
