// Turns what happens during a boot into boot records: the script fetch opens a record, the
// first iSCSI login of the boot sets its login time, the engine's session counters (sampled)
// give the bytes and the time of the first write, the end of the last session ends it. The
// per-I/O path stays in the engine: the first write is seen at the next sample, so its time
// is exact to the sample interval.
import type { Logger } from 'pino';
import type { EngineEvent, SessionInfo } from '../native/index.js';
import { errorFields } from '../log/logger.js';
import type { BootHistoryStore } from './store.js';

/** A boot with no iSCSI login this long after its script fetch is a fault. */
export const LOGIN_DEADLINE_MS = 5 * 60 * 1000;

export interface RecorderSources {
  /** Seat name by target IQN. */
  seatOfTarget(targetIqn: string): string | undefined;
  sessions(): SessionInfo[];
  now(): number;
}

export class BootRecorder {
  constructor(
    private readonly store: BootHistoryStore,
    private readonly sources: RecorderSources,
    private readonly log: Logger,
  ) {}

  onBoot(seat: string, mac: string | null, at: number): void {
    this.store.open(seat, mac, at);
  }

  onEngineEvent(event: EngineEvent): void {
    try {
      if (event.type === 'login' && event.discovery) return;
      const seat = this.sources.seatOfTarget(event.targetIqn);
      if (seat === undefined) return;
      const record = this.store.current(seat);
      if (!record) return;
      const now = this.sources.now();
      if (event.type === 'login' && record.loginAt === null) this.store.update(record.id, { loginAt: now });
      else if (event.type === 'login-failed' && record.loginAt === null) this.store.update(record.id, { fault: `login refused: ${event.reason}`.slice(0, 200) });
      else if (event.type === 'logout' && record.loginAt !== null) {
        // The boot ends with its last session (iPXE hands over to the OS's own login first).
        const left = this.sources.sessions().filter((s) => s.targetIqn === event.targetIqn && s.tsih !== event.tsih);
        if (left.length === 0) this.store.update(record.id, { endedAt: now });
      }
    } catch (error) {
      this.log.warn({ targetIqn: event.targetIqn, ...errorFields(error) }, 'cannot record a boot event');
    }
  }

  /** Samples the engine's counters into the open records. */
  sample(): void {
    const now = this.sources.now();
    const byTarget = new Map<string, { read: number; written: number }>();
    for (const s of this.sources.sessions()) {
      const seat = this.sources.seatOfTarget(s.targetIqn);
      if (seat === undefined) continue;
      const total = byTarget.get(seat) ?? { read: 0, written: 0 };
      total.read += s.bytesRead;
      total.written += s.bytesWritten;
      byTarget.set(seat, total);
    }
    for (const record of this.store.openRecords()) {
      const total = byTarget.get(record.seat);
      if (total) {
        // Counters are per session and restart at each login: keep the highest seen.
        this.store.update(record.id, {
          bytesRead: Math.max(record.bytesRead, total.read),
          bytesWritten: Math.max(record.bytesWritten, total.written),
          ...(record.firstWriteAt === null && total.written > 0 ? { firstWriteAt: now } : {}),
        });
      } else if (record.loginAt === null && record.fault === null && now - record.startedAt > LOGIN_DEADLINE_MS) {
        this.store.update(record.id, { fault: 'no iSCSI login after the script fetch', endedAt: now });
      }
    }
  }
}
