// The boot history service: records each seat's boots (recorder.ts) into SQLite (store.ts),
// samples the engine's counters, prunes to the retention limit, and mounts
// GET /api/v1/history (JSON or CSV) and GET /api/v1/room (every seat's state and last boot).
import { Hono } from 'hono';
import type { Logger } from 'pino';
import { LanbootError } from '../log/errors.js';
import { parseSeatName } from '../seats/index.js';
import { GroupRepository } from '../seats/groups.js';
import type { MountContext, SupervisorService } from '../supervisor/service.js';
import { BootRecorder } from './recorder.js';
import { roomView } from './room.js';
import { bootRecordsCsv, BootHistoryStore, DEFAULT_RETENTION, type Retention } from './store.js';

const SAMPLE_MS = 2000;
const PRUNE_MS = 3600_000;
const MAX_EXPORT_ROWS = 100_000;

export interface HistoryServiceOptions {
  retention?: Retention;
  sampleMs?: number;
}

export class HistoryService implements SupervisorService {
  readonly name = 'history';
  private recorder: BootRecorder | null = null;
  private store: BootHistoryStore | null = null;
  private timers: NodeJS.Timeout[] = [];
  private log: Logger | null = null;

  constructor(private readonly options: HistoryServiceOptions = {}) {}

  mount(ctx: MountContext): void {
    const log = ctx.logger.child({ component: 'history' });
    this.log = log;
    const store = new BootHistoryStore(ctx.db, this.options.retention ?? DEFAULT_RETENTION);
    this.store = store;
    const groups = new GroupRepository(ctx.db);
    // Seat by target IQN, refreshed when an IQN is not known yet (a seat just added).
    let seatByTarget = new Map<string, string>();
    const seatOfTarget = (iqn: string) => {
      if (!seatByTarget.has(iqn)) seatByTarget = new Map(ctx.seatRepository.list().map((s) => [s.targetIqn, s.name]));
      return seatByTarget.get(iqn);
    };
    const engineSessions = () => {
      try {
        return ctx.seats.sessionsOfEngine();
      } catch {
        return [];
      }
    };
    const recorder = new BootRecorder(store, { seatOfTarget, sessions: engineSessions, now: () => Date.now() }, log);
    this.recorder = recorder;
    ctx.seats.events.on('boot', (b) => {
      try {
        recorder.onBoot(b.seat, b.mac, b.at);
      } catch (error) {
        log.warn({ seat: b.seat, error: (error as Error).message }, 'cannot record a boot');
      }
    });
    ctx.seats.events.on('engine', (event) => recorder.onEngineEvent(event));

    const app = new Hono();
    app.get('/history', (c) => {
      const seatParam = c.req.query('seat');
      const seat = seatParam === undefined || seatParam === '' ? undefined : parseSeatName(seatParam);
      const daysText = c.req.query('days') ?? '30';
      if (!/^\d{1,4}$/.test(daysText) || Number(daysText) < 1) throw new LanbootError('LANBOOT_INVALID_INPUT', `days: expected a number of days like 30, got '${daysText.slice(0, 20)}'`);
      const format = c.req.query('format') ?? 'json';
      if (format !== 'json' && format !== 'csv') throw new LanbootError('LANBOOT_INVALID_INPUT', `format: expected json or csv, got '${format.slice(0, 20)}'`);
      if (seat !== undefined && !ctx.seatRepository.findByName(seat)) throw new LanbootError('LANBOOT_SEAT_NOT_FOUND', `seat '${seat}' does not exist`);
      const records = store.export({ seat, since: Date.now() - Number(daysText) * 86_400_000, limit: MAX_EXPORT_ROWS });
      if (format === 'csv') return c.body(bootRecordsCsv(records), 200, { 'content-type': 'text/csv; charset=utf-8', 'content-disposition': `attachment; filename="boot-history${seat ? `-${seat}` : ''}.csv"` });
      return c.json(records.map((r) => ({ ...r, startedAt: new Date(r.startedAt).toISOString() })));
    });
    app.get('/room', (c) => {
      const q = c.req.query('q');
      if (q !== undefined && q.length > 64) throw new LanbootError('LANBOOT_INVALID_INPUT', 'q: at most 64 characters');
      const full = new Map(ctx.seats.warnings().filter((w) => w.code === 'SEAT_FULL' && w.seat).map((w) => [w.seat!, w.message]));
      return c.json(
        roomView({ seats: ctx.seats.list(), groupBySeat: groups.groupBySeat(), groupNames: groups.list().map((g) => g.name), latest: store.latestBySeat(), full, now: Date.now(), query: q }),
      );
    });
    ctx.api.route('/api/v1', app);
  }

  start(): void {
    const sample = setInterval(() => {
      try {
        this.recorder?.sample();
      } catch (error) {
        this.log?.warn({ error: (error as Error).message }, 'boot history sample failed');
      }
    }, this.options.sampleMs ?? SAMPLE_MS);
    const prune = setInterval(() => this.prune(), PRUNE_MS);
    sample.unref();
    prune.unref();
    this.timers.push(sample, prune);
    this.prune();
  }

  private prune(): void {
    try {
      const dropped = this.store?.prune(Date.now()) ?? 0;
      if (dropped > 0) this.log?.info({ dropped }, 'old boot records dropped');
    } catch (error) {
      this.log?.warn({ error: (error as Error).message }, 'boot history prune failed');
    }
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }
}
