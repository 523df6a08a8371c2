// Running a room: groups of seats, Wake-on-LAN schedules and the boot history.
//
// Group membership is its own table (not a column of seats) so that a seat belongs to at
// most one group and removing a seat or a group drops the membership with it.
import type { Db } from '../database.js';

export function up(db: Db): void {
  db.exec(`
    CREATE TABLE seat_groups (
      id          INTEGER PRIMARY KEY AUTOINCREMENT,
      name        TEXT NOT NULL UNIQUE,
      created_at  TEXT NOT NULL
    ) STRICT;

    CREATE TABLE seat_group_members (
      seat_id   INTEGER PRIMARY KEY REFERENCES seats(id) ON DELETE CASCADE,
      group_id  INTEGER NOT NULL REFERENCES seat_groups(id) ON DELETE CASCADE
    ) STRICT;
    CREATE INDEX seat_group_members_by_group ON seat_group_members(group_id);

    -- "weekdays 08:45, group cafe": days is a bit set (bit 0 = Sunday .. bit 6 = Saturday),
    -- minute the local time of day in minutes. target_kind 'all' | 'group'.
    -- last_due_at: the due time (ms since epoch) last fired or skipped, so a restart neither
    -- fires a schedule twice nor forgets one (src/wake/scheduler.ts).
    CREATE TABLE wake_schedules (
      id           INTEGER PRIMARY KEY AUTOINCREMENT,
      days         INTEGER NOT NULL CHECK (days BETWEEN 1 AND 127),
      minute       INTEGER NOT NULL CHECK (minute BETWEEN 0 AND 1439),
      target_kind  TEXT NOT NULL CHECK (target_kind IN ('all', 'group')),
      group_name   TEXT,
      created_at   INTEGER NOT NULL,
      last_due_at  INTEGER,
      last_result  TEXT,
      CHECK ((target_kind = 'group') = (group_name IS NOT NULL))
    ) STRICT;

    -- One row per boot of a seat. Times are ms since epoch; NULL = not reached (yet).
    CREATE TABLE boot_history (
      id              INTEGER PRIMARY KEY AUTOINCREMENT,
      seat_name       TEXT NOT NULL,
      mac             TEXT,
      started_at      INTEGER NOT NULL,
      script_at       INTEGER,
      login_at        INTEGER,
      first_write_at  INTEGER,
      ended_at        INTEGER,
      bytes_read      INTEGER NOT NULL DEFAULT 0,
      bytes_written   INTEGER NOT NULL DEFAULT 0,
      fault           TEXT
    ) STRICT;
    CREATE INDEX boot_history_by_seat ON boot_history(seat_name, started_at);
    CREATE INDEX boot_history_by_time ON boot_history(started_at);
  `);
}
