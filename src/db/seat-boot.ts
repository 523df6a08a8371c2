// Data access for what a seat's PC boots besides its disk (table seat_boot): the boot menu,
// the one-shot next boot, and an install seat's installer ISO. Values are stored as the
// texts src/seats/boot-options.ts parses; this file only moves them.
import type { Db } from './database.js';

export interface SeatBootRow {
  seatId: number;
  /** 'on' | 'off'; null = the box's setting. */
  menu: 'on' | 'off' | null;
  menuTimeout: number | null;
  menuDefault: string | null;
  once: string | null;
  onceSetAt: string | null;
  installIso: string | null;
}

interface SeatBootDbRow {
  seat_id: number;
  menu: 'on' | 'off' | null;
  menu_timeout: number | null;
  menu_default: string | null;
  once: string | null;
  once_set_at: string | null;
  install_iso: string | null;
}

const EMPTY = { menu: null, menuTimeout: null, menuDefault: null, once: null, onceSetAt: null, installIso: null } as const;

export class SeatBootRepository {
  constructor(private readonly db: Db) {}

  get(seatId: number): SeatBootRow {
    const row = this.db.prepare('SELECT * FROM seat_boot WHERE seat_id = ?').get(seatId) as SeatBootDbRow | undefined;
    if (!row) return { seatId, ...EMPTY };
    return {
      seatId,
      menu: row.menu,
      menuTimeout: row.menu_timeout,
      menuDefault: row.menu_default,
      once: row.once,
      onceSetAt: row.once_set_at,
      installIso: row.install_iso,
    };
  }

  private ensure(seatId: number): void {
    this.db.prepare('INSERT OR IGNORE INTO seat_boot (seat_id) VALUES (?)').run(seatId);
  }

  setMenu(seatId: number, menu: 'on' | 'off' | null, timeout: number | null, defaultChoice: string | null): void {
    this.ensure(seatId);
    this.db.prepare('UPDATE seat_boot SET menu = ?, menu_timeout = ?, menu_default = ? WHERE seat_id = ?').run(menu, timeout, defaultChoice, seatId);
  }

  setOnce(seatId: number, once: string | null, at: string | null): void {
    this.ensure(seatId);
    this.db.prepare('UPDATE seat_boot SET once = ?, once_set_at = ? WHERE seat_id = ?').run(once, once === null ? null : at, seatId);
  }

  /** Returns the pending one-shot choice and clears it, in one transaction (a second fetch
   *  of the script in the same moment cannot take it twice). */
  takeOnce(seatId: number): string | null {
    return this.db.transaction(() => {
      const row = this.db.prepare('SELECT once FROM seat_boot WHERE seat_id = ?').get(seatId) as { once: string | null } | undefined;
      if (!row || row.once === null) return null;
      this.db.prepare('UPDATE seat_boot SET once = NULL, once_set_at = NULL WHERE seat_id = ?').run(seatId);
      return row.once;
    })();
  }

  setInstallIso(seatId: number, iso: string | null): void {
    this.ensure(seatId);
    this.db.prepare('UPDATE seat_boot SET install_iso = ? WHERE seat_id = ?').run(iso, seatId);
  }
}
