// The wake service: wakes seats' PCs with a magic packet (one seat, several, a group, every
// seat) and runs the stored wake schedules. Mounts /api/v1/wake (docs/api.md, docs/wake.md).
// Shutting PCs down is not here: it needs an agent on the PC (docs/wake.md says why).
import { Hono } from 'hono';
import type { Logger } from 'pino';
import type { SeatRepository } from '../db/seats.js';
import type { NativeAddon } from '../native/index.js';
import { LanbootError } from '../log/errors.js';
import { parseSeatName } from '../seats/index.js';
import { GroupRepository, parseGroupName } from '../seats/groups.js';
import type { MountContext, SupervisorService } from '../supervisor/service.js';
import { checkFields, jsonBodyLimit, readJsonObject } from '../web/json.js';
import { parseScheduleTime } from './schedule.js';
import { SYSTEM_CLOCK, WakeScheduler, type Clock, type WakeTarget } from './scheduler.js';
import { WakeSender, type WakeSettings } from './sender.js';

const MAX_SEATS_PER_REQUEST = 1000;

export interface WakeResult {
  /** Seats a packet was sent for, with the MAC it wakes. */
  woken: { seat: string; mac: string }[];
  /** Seats with no MAC yet (never enrolled from a PC): nothing to wake. */
  skipped: { seat: string; reason: string }[];
}

export interface WakeRequest {
  seats: string[] | null;
  group: string | null;
  all: boolean;
}

/** Exactly one of seats, group, all. */
export function parseWakeRequest(body: Record<string, unknown>): WakeRequest {
  const hasSeats = body.seats !== undefined && body.seats !== null;
  const hasGroup = body.group !== undefined && body.group !== null;
  const all = body.all === true;
  if (body.all !== undefined && typeof body.all !== 'boolean') throw new LanbootError('LANBOOT_INVALID_INPUT', 'all: expected true or false');
  if (Number(hasSeats) + Number(hasGroup) + Number(all) !== 1) {
    throw new LanbootError('LANBOOT_INVALID_INPUT', 'wake: name seats, or a group, or all (exactly one)');
  }
  let seats: string[] | null = null;
  if (hasSeats) {
    if (!Array.isArray(body.seats) || body.seats.length === 0 || body.seats.length > MAX_SEATS_PER_REQUEST) {
      throw new LanbootError('LANBOOT_INVALID_INPUT', `seats: expected a list of 1-${MAX_SEATS_PER_REQUEST} seat names`);
    }
    seats = [...new Set(body.seats.map((s) => parseSeatName(s)))];
  }
  return { seats, group: hasGroup ? parseGroupName(body.group) : null, all };
}

export interface WakeServiceOptions {
  settings: WakeSettings;
  /** The addon's SO_BINDTODEVICE socket (the broadcast leaves from the LAN interface only). */
  openInterfaceUdpSocket: NativeAddon['openInterfaceUdpSocket'];
  clock?: Clock;
}

export class WakeService implements SupervisorService {
  readonly name = 'wake';
  private readonly sender: WakeSender;
  private readonly clock: Clock;
  private scheduler: WakeScheduler | null = null;
  private groups: GroupRepository | null = null;
  private seats: SeatRepository | null = null;
  private log: Logger | null = null;
  private sent = 0;

  constructor(private readonly options: WakeServiceOptions) {
    this.sender = new WakeSender(options.settings, options.openInterfaceUdpSocket);
    this.clock = options.clock ?? SYSTEM_CLOCK;
  }

  /** Resolves the request to seats (all named seats must exist: nothing is sent otherwise),
   *  then sends one packet per seat that has a MAC. */
  async wake(request: WakeRequest): Promise<WakeResult> {
    const seats = this.seats!;
    let rows;
    if (request.all) rows = seats.list();
    else if (request.group !== null) {
      const members = new Set(this.groups!.require(request.group).seats);
      rows = seats.list().filter((s) => members.has(s.name));
    } else {
      rows = request.seats!.map((name) => {
        const row = seats.findByName(name);
        if (!row) throw new LanbootError('LANBOOT_SEAT_NOT_FOUND', `seat '${name}' does not exist: nothing was woken`);
        return row;
      });
    }
    const woken = rows.filter((r) => r.mac !== null).map((r) => ({ seat: r.name, mac: r.mac! }));
    const skipped = rows.filter((r) => r.mac === null).map((r) => ({ seat: r.name, reason: 'no MAC (the seat has not been bound to a PC)' }));
    await this.sender.wake(woken.map((w) => w.mac));
    this.sent += woken.length;
    for (const w of woken) this.log?.info({ seat: w.seat, mac: w.mac, interface: this.options.settings.interface }, 'wake packet sent');
    return { woken, skipped };
  }

  private async fire(target: WakeTarget): Promise<string> {
    const result = await this.wake(target.kind === 'all' ? { seats: null, group: null, all: true } : { seats: null, group: target.group, all: false });
    return `woke ${result.woken.length} seat(s)${result.skipped.length > 0 ? `, ${result.skipped.length} without a MAC` : ''}`;
  }

  mount(ctx: MountContext): void {
    this.log = ctx.logger.child({ component: 'wake' });
    this.seats = ctx.seatRepository;
    this.groups = new GroupRepository(ctx.db);
    const scheduler = new WakeScheduler(ctx.db, (target) => this.fire(target), this.log, this.clock);
    this.scheduler = scheduler;

    const app = new Hono();
    app.post('/', jsonBodyLimit, async (c) => {
      const body = await readJsonObject(c);
      checkFields(body, ['seats', 'group', 'all']);
      return c.json(await this.wake(parseWakeRequest(body)));
    });
    app.get('/schedules', (c) => c.json(scheduler.list()));
    app.post('/schedules', jsonBodyLimit, async (c) => {
      const body = await readJsonObject(c);
      checkFields(body, ['at', 'group', 'all']);
      const time = parseScheduleTime(body.at);
      const hasGroup = body.group !== undefined && body.group !== null && body.group !== '';
      if (hasGroup === (body.all === true)) throw new LanbootError('LANBOOT_INVALID_INPUT', 'schedule: name a group, or all (exactly one)');
      let target: WakeTarget = { kind: 'all' };
      if (hasGroup) {
        const group = parseGroupName(body.group);
        this.groups!.require(group);
        target = { kind: 'group', group };
      }
      return c.json(scheduler.add(time, target), 201);
    });
    app.delete('/schedules/:id', (c) => {
      const text = c.req.param('id');
      if (!/^\d{1,9}$/.test(text)) throw new LanbootError('LANBOOT_INVALID_INPUT', `schedule: expected a schedule number like 2, got '${text.slice(0, 40)}'`);
      scheduler.remove(Number(text));
      return c.json({ removed: Number(text) });
    });
    ctx.api.route('/api/v1/wake', app);
  }

  async start(): Promise<void> {
    await this.scheduler?.start();
  }

  stop(): void {
    this.scheduler?.stop();
  }

  status(): unknown {
    return { interface: this.options.settings.interface, packetsSent: this.sent, schedules: this.scheduler?.list().length ?? 0 };
  }
}
