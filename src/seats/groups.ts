// Groups of seats (a room): each seat belongs to at most one group. A group action (reset,
// mode, move to a version) runs the seat job on each member and reports each seat's outcome:
// one seat failing does not stop the others. Waking a group is the wake part's (src/wake).
import type { Db } from '../db/database.js';
import { quoteInput, type SeatMode } from '../config/names.js';
import { LanbootError } from '../log/errors.js';
import type { SeatManager } from './seat-manager.js';

const GROUP_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/;

/** A group name: the same shape as seat and image names. */
export function parseGroupName(value: unknown, setting = 'group'): string {
  if (typeof value !== 'string' || !GROUP_PATTERN.test(value)) {
    throw new LanbootError('LANBOOT_INVALID_INPUT', `${setting}: expected a group name of 1-32 characters a-z, 0-9 and '-', got ${quoteInput(value)}`);
  }
  return value;
}

export interface GroupView {
  name: string;
  seats: string[];
  createdAt: string;
}

/** What a group action did to each member. */
export interface GroupActionResult {
  group: string;
  done: string[];
  failed: { seat: string; error: string }[];
}

export class GroupRepository {
  constructor(private readonly db: Db) {}

  list(): GroupView[] {
    const groups = this.db.prepare('SELECT id, name, created_at FROM seat_groups ORDER BY name').all() as { id: number; name: string; created_at: string }[];
    const members = this.db
      .prepare('SELECT m.group_id, s.name FROM seat_group_members m JOIN seats s ON s.id = m.seat_id ORDER BY s.name')
      .all() as { group_id: number; name: string }[];
    const byGroup = new Map<number, string[]>();
    for (const m of members) {
      let list = byGroup.get(m.group_id);
      if (!list) byGroup.set(m.group_id, (list = []));
      list.push(m.name);
    }
    return groups.map((g) => ({ name: g.name, seats: byGroup.get(g.id) ?? [], createdAt: g.created_at }));
  }

  find(name: string): GroupView | undefined {
    return this.list().find((g) => g.name === name);
  }

  require(name: string): GroupView {
    const group = this.find(name);
    if (!group) throw new LanbootError('LANBOOT_GROUP_NOT_FOUND', `group '${name}' does not exist (create it with \`lanboot group add ${name}\`)`);
    return group;
  }

  create(name: string): GroupView {
    if (this.find(name)) throw new LanbootError('LANBOOT_GROUP_EXISTS', `group '${name}' already exists`);
    this.db.prepare('INSERT INTO seat_groups (name, created_at) VALUES (?, ?)').run(name, new Date().toISOString());
    return this.require(name);
  }

  /** Removes the group; its seats stay, in no group. */
  remove(name: string): void {
    this.require(name);
    this.db.prepare('DELETE FROM seat_groups WHERE name = ?').run(name);
  }

  /** The group each seat is in, by seat name (seats in no group are absent). */
  groupBySeat(): Map<string, string> {
    const rows = this.db
      .prepare('SELECT s.name AS seat, g.name AS grp FROM seat_group_members m JOIN seats s ON s.id = m.seat_id JOIN seat_groups g ON g.id = m.group_id')
      .all() as { seat: string; grp: string }[];
    return new Map(rows.map((r) => [r.seat, r.grp]));
  }

  groupOf(seat: string): string | null {
    return this.groupBySeat().get(seat) ?? null;
  }

  /** Puts the seats in the group (created when `create` and missing), taking them out of
   *  the group they were in; all or nothing. */
  assign(groupName: string, seatNames: string[], options: { create: boolean }): GroupView {
    this.db.transaction(() => {
      const ids = seatNames.map((name) => {
        const row = this.db.prepare('SELECT id FROM seats WHERE name = ?').get(name) as { id: number } | undefined;
        if (!row) throw new LanbootError('LANBOOT_SEAT_NOT_FOUND', `seat '${name}' does not exist`);
        return row.id;
      });
      let group = this.db.prepare('SELECT id FROM seat_groups WHERE name = ?').get(groupName) as { id: number } | undefined;
      if (!group) {
        if (!options.create) this.require(groupName);
        const info = this.db.prepare('INSERT INTO seat_groups (name, created_at) VALUES (?, ?)').run(groupName, new Date().toISOString());
        group = { id: Number(info.lastInsertRowid) };
      }
      const put = this.db.prepare('INSERT INTO seat_group_members (seat_id, group_id) VALUES (?, ?) ON CONFLICT(seat_id) DO UPDATE SET group_id = excluded.group_id');
      for (const id of ids) put.run(id, group.id);
    })();
    return this.require(groupName);
  }

  /** Takes the seats out of whatever group they are in. */
  unassign(seatNames: string[]): void {
    const drop = this.db.prepare('DELETE FROM seat_group_members WHERE seat_id = (SELECT id FROM seats WHERE name = ?)');
    this.db.transaction(() => {
      for (const name of seatNames) drop.run(name);
    })();
  }
}

/** Group actions: each seat job on every member of the group. */
export class SeatGroups {
  readonly repository: GroupRepository;

  constructor(
    db: Db,
    private readonly seats: SeatManager,
  ) {
    this.repository = new GroupRepository(db);
  }

  private each(groupName: string, run: (seat: string) => unknown): GroupActionResult {
    const group = this.repository.require(groupName);
    const done: string[] = [];
    const failed: { seat: string; error: string }[] = [];
    for (const seat of group.seats) {
      try {
        run(seat);
        done.push(seat);
      } catch (error) {
        failed.push({ seat, error: (error as Error).message });
      }
    }
    return { group: group.name, done, failed };
  }

  reset(groupName: string): GroupActionResult {
    return this.each(groupName, (seat) => this.seats.reset(seat));
  }

  setMode(groupName: string, mode: SeatMode): GroupActionResult {
    return this.each(groupName, (seat) => this.seats.setMode(seat, mode));
  }

  /** Each member to `version` of its image (null: its image's current version). */
  move(groupName: string, version: number | null): GroupActionResult {
    return this.each(groupName, (seat) => this.seats.move(seat, version));
  }
}
