// Network-boot state:
//   boot_events : each DHCP / TFTP / HTTP step of a PC's boot, for the boot timeline. Bounded
//                 by the recorder (BootStore in src/boot/boot-store.ts): the last N rows per MAC and a cap
//                 on the whole table, since anyone on the LAN can invent MACs. A step repeated
//                 with the same detail (an enrollment poll every 3 s) bumps `count` and
//                 `last_at` of its row instead of adding rows.
//   waiting_pcs : PCs that network-booted without a seat, with the short code they display
//                 until someone enrolls them (`lanboot enroll CODE ...`).
// Times are ms since the epoch (INTEGER): ordering and pruning are one indexed comparison.
import type { Db } from '../database.js';

export function up(db: Db): void {
  db.exec(`
    CREATE TABLE boot_events (
      id            INTEGER PRIMARY KEY AUTOINCREMENT,
      mac           TEXT NOT NULL,
      arch          INTEGER,
      vendor_class  TEXT,
      step          TEXT NOT NULL,
      detail        TEXT NOT NULL,
      first_at      INTEGER NOT NULL,
      last_at       INTEGER NOT NULL,
      count         INTEGER NOT NULL DEFAULT 1 CHECK (count >= 1)
    ) STRICT;
    CREATE INDEX boot_events_by_mac ON boot_events (mac, id);

    CREATE TABLE waiting_pcs (
      mac           TEXT PRIMARY KEY,
      code          TEXT NOT NULL UNIQUE,
      arch          INTEGER,
      vendor_class  TEXT,
      first_seen    INTEGER NOT NULL,
      last_seen     INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX waiting_pcs_by_last_seen ON waiting_pcs (last_seen);
  `);
}
