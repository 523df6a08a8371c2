// The seats' one entry point: turns seats (DB rows) into targets of the native engine and
// keeps the two in step. It owns the shared context and hands it to each job (lifecycle,
// snapshots, commit, space, boot); the engine owns the data path. Its methods take parsed
// input (input.ts): callers parse what they receive first.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { SeatMode } from '../config/names.js';
import type { ImageRepository } from '../db/images.js';
import type { SeatRepository } from '../db/seats.js';
import type { EngineEvent, IscsiEngine, PrewarmFile, SessionInfo } from '../native/index.js';
import type { ImageVersionRow } from '../db/images.js';
import type { DataLayout } from '../storage/layout.js';
import { findSeatByMac, prepareForBoot } from './boot.js';
import { commitSeat, recoverCommits } from './commit.js';
import { newSeatState, requireSeat, type DiskTools, type SeatContext, type VersionPublisher } from './context.js';
import { handleEngineEvent } from './engine-events.js';
import { registerTargets } from './engine-sync.js';
import type { AddSeatRequest, CommitRequest } from './input.js';
import { isoExists, setSeatMenu, setSeatOnce, takeSeatOnce, type BootChoice, type BootChoiceInput, type MenuRequest, type SeatBootView } from './boot-options.js';
import { addSeat, moveAllSeats, moveSeat, removeSeat, resetSeat, setSeatMode, setSeatQuota } from './lifecycle.js';
import { deleteSnapshot, listSnapshots, restoreSnapshot, takeSnapshot } from './snapshots.js';
import { Prewarmer, type PrewarmResult } from './prewarm.js';
import { seatTrace, setSeatTrace, type SeatTraceView } from './trace.js';
import { SpaceMonitor, type SpaceThresholds } from './space-monitor.js';
import {
  seatDetails,
  seatSummaries,
  sessionBytes,
  type CommitResult,
  type MoveAllResult,
  type SeatDetails,
  type SeatSummary,
  type SnapshotView,
  type SpaceReport,
  type SpaceWarning,
} from './views.js';

export interface SeatManagerOptions extends SpaceThresholds {
  layout: DataLayout;
  images: ImageRepository;
  seats: SeatRepository;
  engine: IscsiEngine;
  logger: Logger;
  /** "host:port" PCs connect to. */
  portal: () => string;
  /** Publishes committed versions (the image store). Without it commit is refused. */
  publisher?: VersionPublisher | undefined;
  /** The addon's file tools (commit, snapshots, delta release). */
  diskTools: DiskTools;
  /** Reads golden boot sets into the page cache; without it nothing is pre-warmed. */
  prewarmFile?: PrewarmFile | undefined;
}

/** What other parts may follow (the boot history): every engine event, and each boot a seat's
 *  script fetch starts. */
export interface SeatManagerEvents {
  engine: [EngineEvent];
  boot: [{ seat: string; mac: string | null; at: number }];
}

export class SeatManager {
  readonly events = new EventEmitter<SeatManagerEvents>();
  private readonly ctx: SeatContext;
  private readonly space: SpaceMonitor;
  private readonly prewarmer: Prewarmer | undefined;

  constructor(options: SeatManagerOptions) {
    this.ctx = {
      layout: options.layout,
      images: options.images,
      seats: options.seats,
      engine: options.engine,
      log: options.logger.child({ component: 'iscsi' }),
      portal: options.portal,
      publisher: options.publisher,
      tools: options.diskTools,
      state: newSeatState(),
    };
    this.prewarmer = options.prewarmFile ? new Prewarmer(this.ctx, options.prewarmFile) : undefined;
    this.space = new SpaceMonitor(this.ctx, { diskLowRatio: options.diskLowRatio, diskLowBytes: options.diskLowBytes, quotaWarnRatio: options.quotaWarnRatio });
  }

  /** At start: settles commits a crash interrupted (they decide which version and delta a
   *  seat is registered with), then registers every seat with the engine. */
  registerAll(): { registered: number; failed: number } {
    recoverCommits(this.ctx);
    return registerTargets(this.ctx);
  }

  /** Starts (on) or stops recording the seat's boot trace (trace.ts). */
  setTrace(name: string, on: boolean): SeatTraceView {
    return setSeatTrace(this.ctx, name, on);
  }

  trace(name: string): SeatTraceView {
    return seatTrace(this.ctx, name);
  }

  /** Reads the version's boot set into the page cache (after a publish); undefined when there
   *  is no pre-warm or no recorded boot of its image. */
  prewarm(version: ImageVersionRow): Promise<PrewarmResult | undefined> {
    return this.prewarmer?.warm(version) ?? Promise.resolve(undefined);
  }

  /** The same for every version seats boot from (at start). */
  prewarmInUse(): Promise<(PrewarmResult | undefined)[]> {
    return this.prewarmer?.warmInUse() ?? Promise.resolve([]);
  }

  add(request: AddSeatRequest): SeatDetails {
    return addSeat(this.ctx, request);
  }

  list(): SeatSummary[] {
    return seatSummaries(this.ctx);
  }

  show(name: string): SeatDetails {
    return seatDetails(this.ctx, requireSeat(this.ctx, name));
  }

  remove(name: string): Promise<void> {
    return removeSeat(this.ctx, name);
  }

  reset(name: string): SeatDetails {
    return resetSeat(this.ctx, name);
  }

  /** version null: the image's current one. */
  move(name: string, version: number | null = null): SeatDetails {
    return moveSeat(this.ctx, name, version);
  }

  moveAll(image: string, version: number | null = null): MoveAllResult {
    return moveAllSeats(this.ctx, image, version);
  }

  setMode(name: string, mode: SeatMode): SeatDetails {
    return setSeatMode(this.ctx, name, mode);
  }

  /** quotaBytes 0: no quota. */
  setQuota(name: string, quotaBytes: number): SeatDetails {
    const details = setSeatQuota(this.ctx, name, quotaBytes);
    this.space.check();
    return details;
  }

  snapshot(name: string, label: string | null = null): Promise<SnapshotView> {
    return takeSnapshot(this.ctx, name, label);
  }

  snapshots(name: string): SnapshotView[] {
    return listSnapshots(this.ctx, name);
  }

  restoreSnapshot(name: string, snapshot: number): Promise<SeatDetails> {
    return restoreSnapshot(this.ctx, name, snapshot);
  }

  deleteSnapshot(name: string, snapshot: number): Promise<{ deleted: number }> {
    return deleteSnapshot(this.ctx, name, snapshot);
  }

  commit(name: string, request: CommitRequest = { image: null, force: false }): Promise<CommitResult> {
    return commitSeat(this.ctx, name, request);
  }

  spaceReport(): SpaceReport {
    return this.space.report();
  }

  /** Current warnings; each one is logged once when it appears and once when it clears. */
  warnings(): SpaceWarning[] {
    return this.space.check();
  }

  /** Starts the periodic space check (so a crossing is logged even when nobody asks). */
  startMonitor(intervalMs?: number): void {
    this.space.start(intervalMs);
  }

  close(): void {
    this.space.stop();
    this.prewarmer?.close();
  }

  /** mac: lower-case colon form (config/names.ts normalizeMac). */
  findByMac(mac: string): SeatDetails | undefined {
    return findSeatByMac(this.ctx, mac);
  }

  prepareForBoot(name: string): SeatDetails {
    const details = prepareForBoot(this.ctx, name);
    this.events.emit('boot', { seat: details.name, mac: details.mac, at: Date.now() });
    return details;
  }

  /** The engine's live sessions (counters included). */
  sessionsOfEngine(): SessionInfo[] {
    return this.ctx.engine.sessions();
  }

  setMenu(name: string, request: MenuRequest): SeatBootView {
    return setSeatMenu(this.ctx, name, request);
  }

  /** null: cancels a pending choice. */
  setOnce(name: string, choice: BootChoiceInput | null): SeatBootView {
    return setSeatOnce(this.ctx, name, choice);
  }

  /** The pending one-shot choice, cleared (the boot script being written carries it out). */
  takeOnce(name: string): BootChoice | undefined {
    return takeSeatOnce(this.ctx, name);
  }

  /** Whether an ISO named by a stored choice is still in the library. */
  isoExists(iso: { image: string; file: string }): boolean {
    return isoExists(this.ctx, iso);
  }

  /** Bytes read + written by each target's current sessions, by target IQN. */
  sessionBytes(): Map<string, number> {
    return sessionBytes(this.ctx);
  }

  onEngineEvent(event: EngineEvent): void {
    handleEngineEvent(this.ctx.log, this.space, event);
    this.events.emit('engine', event);
  }
}
