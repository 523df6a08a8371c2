// What a seat's PC boots besides its disk: the boot menu (per seat: on, off or as the box's
// setting; its timeout and default entry), the one-shot choice for its next boot, and the
// installer ISO of an install seat. One row per seat that has any of these; a seat without a
// row boots as the box's settings say.
import type { Db } from '../database.js';

export function up(db: Db): void {
  db.exec(`
    CREATE TABLE seat_boot (
      seat_id        INTEGER PRIMARY KEY REFERENCES seats(id) ON DELETE CASCADE,
      -- 'on', 'off', or NULL: the box's --boot-menu setting.
      menu           TEXT CHECK (menu IS NULL OR menu IN ('on', 'off')),
      -- Seconds the menu waits before its default; NULL: the box's setting.
      menu_timeout   INTEGER CHECK (menu_timeout IS NULL OR (menu_timeout >= 0 AND menu_timeout <= 3600)),
      -- 'disk', 'local' or 'iso:<image>/<file>'; NULL: disk.
      menu_default   TEXT,
      -- The next boot only: 'disk', 'local', 'menu' or 'iso:<image>/<file>'; NULL: none pending.
      once           TEXT,
      once_set_at    TEXT,
      -- Install seats: 'iso:<image>/<file>' booted with the blank disk attached; NULL: the
      -- next boot device (a DVD or USB stick in the PC).
      install_iso    TEXT
    ) STRICT;
  `);
}
