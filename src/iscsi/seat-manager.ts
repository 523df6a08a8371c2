// The iSCSI control plane: turns seats (DB rows) into targets of the native engine and keeps
// the two in step. Seat add/remove/reset go through here; the engine owns the data path.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { LanbootError } from '../log/errors.js';
import { errorFields } from '../log/logger.js';
import { normalizeMac, parseSize, quoteInput, validateIqn, validateMode, validateName, type SeatMode } from '../config/names.js';
import type { ImageRepository, ImageVersionRow } from '../db/images.js';
import type { OperationRow, SeatRepository, SeatRow, SnapshotRow } from '../db/seats.js';
import type { DiskSpec } from '../native/index.js';
import type { DataLayout } from '../storage/layout.js';
import type { EngineEvent, IscsiEngine, TargetConfig } from './engine-types.js';
import { generateChapSecret, initiatorIqnFor, naaFor, serialFor, targetIqnFor } from './identity.js';
import { loadNative } from '../native/index.js';

/** The disk is LUN 0: iPXE's default (brief: iSCSI URI lun defaults to 0). */
export const SEAT_LUN = 0;

/** User name the target presents in mutual CHAP (RFC 7143 12.1.3: the initiator checks it). */
export const MUTUAL_CHAP_USER = 'lanboot';

export interface AddSeatInput {
  name: unknown;
  /** Golden image; absent for an install seat (blank disk). */
  image?: unknown;
  mac?: unknown;
  mode?: unknown;
  /** Install seats: blank disk size ("64G" or bytes). */
  size?: unknown;
  /** Delta quota ("10G", bytes; absent/null/"none" = no quota). */
  quota?: unknown;
  initiators?: unknown;
  /** CHAP on unless false. */
  chap?: unknown;
  mutualChap?: unknown;
}

export interface SeatSummary {
  name: string;
  /** null: an install seat with a blank disk (no golden image yet). */
  image: string | null;
  version: number | null;
  mode: SeatMode;
  mac: string | null;
  targetIqn: string;
  chap: boolean;
  sessions: number;
  deltaBytes: number | null;
  quotaBytes: number;
}

export interface SeatDetails {
  name: string;
  image: string | null;
  version: number | null;
  /** The image's current version (what reset/move go to); null without an image. */
  latestVersion: number | null;
  mode: SeatMode;
  /** Disk size in bytes (golden version size, or the blank disk's size). */
  diskBytes: number | null;
  quotaBytes: number;
  /** The seat's last long operation (commit), if any: how it ended, or that it is running. */
  lastOperation: OperationView | null;
  mac: string | null;
  targetIqn: string;
  portal: string;
  lun: number;
  initiatorIqns: string[];
  chap: { user: string; secret: string } | null;
  mutualChap: { user: string; secret: string } | null;
  serial: string;
  naa: string;
  createdAt: string;
  deltaBytes: number | null;
  sessions: { initiatorIqn: string; remoteAddress: string; connectedAt: string; commands: number; bytesRead: number; bytesWritten: number }[];
}

export interface OperationView {
  kind: string;
  state: OperationRow['state'];
  image: string;
  version: number | null;
  message: string | null;
  startedAt: string;
  finishedAt: string | null;
  /** While running: bytes written so far and the disk size. */
  progress?: { bytesDone: number; totalBytes: number };
}

export interface SnapshotView {
  number: number;
  label: string | null;
  image: string | null;
  version: number | null;
  deltaBytes: number;
  createdAt: string;
}

export interface CommitResult {
  seat: SeatDetails;
  image: string;
  version: number;
  sizeBytes: number;
  sha256: string;
}

export interface SpaceWarning {
  code: 'SEAT_FULL' | 'SEAT_QUOTA_NEAR' | 'DATA_DISK_LOW' | 'COMMIT_INTERRUPTED' | 'COMMIT_FAILED';
  message: string;
  seat?: string;
}

export interface SpaceReport {
  dataDisk: { path: string; totalBytes: number; freeBytes: number; lowBelowBytes: number };
  seats: { name: string; deltaBytes: number | null; quotaBytes: number; snapshotBytes: number; full: { reason: string; at: string } | null }[];
  warnings: SpaceWarning[];
}

/** A's ImageStore.publishWritten (issue 4 contract): writes a version through `write`,
 *  verifies and publishes it atomically, records it. */
export interface VersionPublisher {
  publishWritten(
    imageName: string,
    write: (partialPath: string, onProgress?: (bytesDone: number) => void) => Promise<void>,
    meta: { source: string },
  ): Promise<ImageVersionRow>;
}

/** The addon's file tools (src/native): whole-disk export and sparse copy. */
export interface DiskTools {
  exportDisk(disk: DiskSpec, destPath: string, onProgress?: (bytesDone: number) => void): Promise<void>;
  copySparseFile(src: string, dst: string): Promise<void>;
  deltaIsIdle(deltaDir: string): boolean;
}

export interface SeatManagerOptions {
  layout: DataLayout;
  images: ImageRepository;
  seats: SeatRepository;
  engine: IscsiEngine;
  logger: Logger;
  /** "host:port" PCs connect to. */
  portal: () => string;
  /** Publishes committed versions (the image store). Without it commit is refused. */
  publisher?: VersionPublisher | undefined;
  /** Defaults to the native addon. */
  diskTools?: DiskTools | undefined;
  /** Data disk warning when free space is below min(ratio x total, bytes). */
  diskLowRatio?: number;
  diskLowBytes?: number;
  /** Seat warning when its delta reaches this fraction of its quota. */
  quotaWarnRatio?: number;
}

const MAX_INITIATORS = 16;
/** Install disks: 1 MiB .. 64 TiB. */
const INSTALL_SIZE_LIMITS = { min: 2 ** 20, max: 2 ** 46 };
/** Quotas: 1 MiB .. 64 TiB. */
const QUOTA_LIMITS = { min: 2 ** 20, max: 2 ** 46 };
const LABEL_PATTERN = /^[\p{L}\p{N} ._:-]{1,64}$/u;
const DELTA_FILE = /^delta\./;

export class SeatManager {
  private readonly log: Logger;

  constructor(private readonly options: SeatManagerOptions) {
    this.log = options.logger.child({ component: 'iscsi' });
  }

  /** version: the golden version, or null for a blank (install) disk of seat.sizeBytes. */
  private targetConfig(seat: SeatRow, version: ImageVersionRow | null): TargetConfig {
    const config: TargetConfig = {
      iqn: seat.targetIqn,
      goldenPath: version ? version.filePath : '',
      deltaDir: this.options.layout.seatDeltaDir(seat.id),
      initiators: seat.initiatorIqns,
      serial: seat.serial,
      naaHex: seat.naaHex,
    };
    if (!version) config.sizeBytes = seat.sizeBytes ?? 0;
    if (seat.quotaBytes > 0) config.quotaBytes = seat.quotaBytes;
    if (seat.chap) config.chap = { ...seat.chap };
    if (seat.mutualChap) config.mutualChap = { ...seat.mutualChap };
    return config;
  }

  /** The seat's golden version; null for a blank (install) disk. */
  private versionOf(seat: SeatRow): ImageVersionRow | null {
    if (seat.imageId === null || seat.imageVersion === null) return null;
    const version = this.options.images.getVersion(seat.imageId, seat.imageVersion);
    if (!version) {
      // The schema's foreign key makes this unreachable short of a hand-edited database.
      throw new LanbootError('LANBOOT_INTERNAL', `seat ${seat.name}: image ${seat.imageName} v${seat.imageVersion} is not recorded`);
    }
    return version;
  }

  /** Registers every seat with the engine (at start). A seat that fails is logged and
   *  skipped, so one broken seat does not keep the others from booting. */
  registerAll(): { registered: number; failed: number } {
    // Commits a crash interrupted are settled first: they decide which version (and delta)
    // a seat is registered with.
    this.recoverOperations();
    let registered = 0;
    let failed = 0;
    for (const seat of this.options.seats.list()) {
      this.removeCrashLeftovers(seat);
      try {
        this.options.engine.setTarget(this.targetConfig(seat, this.versionOf(seat)));
        registered++;
      } catch (error) {
        failed++;
        this.log.error({ seat: seat.name, targetIqn: seat.targetIqn, ...errorFields(error) }, 'cannot register seat with the iSCSI engine');
      }
    }
    return { registered, failed };
  }

  add(input: AddSeatInput): SeatDetails {
    const name = validateName(input.name, 'seat', 'name');
    const mac = input.mac === undefined || input.mac === null || input.mac === '' ? null : normalizeMac(input.mac, 'mac');
    const mode = input.mode === undefined || input.mode === null ? 'fresh' : validateMode(input.mode, 'mode');
    const quotaBytes = parseQuota(input.quota, 'quota');
    if (input.chap !== undefined && typeof input.chap !== 'boolean') throw new LanbootError('LANBOOT_INVALID_INPUT', 'chap: expected true or false');
    if (input.mutualChap !== undefined && typeof input.mutualChap !== 'boolean') {
      throw new LanbootError('LANBOOT_INVALID_INPUT', 'mutualChap: expected true or false');
    }
    const chapOn = input.chap !== false;
    if (input.mutualChap === true && !chapOn) throw new LanbootError('LANBOOT_INVALID_INPUT', 'mutualChap: mutual CHAP needs CHAP (drop --no-chap)');
    let initiators: string[];
    if (input.initiators === undefined || input.initiators === null || (Array.isArray(input.initiators) && input.initiators.length === 0)) {
      initiators = [initiatorIqnFor(name)];
    } else {
      if (!Array.isArray(input.initiators) || input.initiators.length > MAX_INITIATORS) {
        throw new LanbootError('LANBOOT_INVALID_INPUT', `initiators: expected a list of at most ${MAX_INITIATORS} iSCSI names`);
      }
      initiators = [...new Set(input.initiators.map((iqn) => validateIqn(iqn, 'initiator')))];
    }

    const { images, seats, engine, layout } = this.options;
    let version: ImageVersionRow | null = null;
    let sizeBytes: number | null = null;
    if (mode === 'install') {
      // A blank disk for an OS installer; no golden image until its first commit.
      if (input.image !== undefined && input.image !== null && input.image !== '') {
        throw new LanbootError('LANBOOT_INVALID_INPUT', 'image: an install seat starts from a blank disk; give --size, and name the image at `client commit`');
      }
      if (input.size === undefined || input.size === null) throw new LanbootError('LANBOOT_INVALID_INPUT', 'size: an install seat needs the blank disk size (e.g. --size 64G)');
      sizeBytes = parseSize(input.size, 'size', INSTALL_SIZE_LIMITS);
    } else {
      if (input.size !== undefined && input.size !== null) {
        throw new LanbootError('LANBOOT_INVALID_INPUT', 'size: only an install seat has a size of its own (the others have their golden image\'s)');
      }
      const imageName = validateName(input.image, 'image', 'image');
      version = images.currentVersion(imageName) ?? null;
      if (!version) throw new LanbootError('LANBOOT_IMAGE_NOT_FOUND', `image '${imageName}' does not exist (import it with \`lanboot image import FILE --name ${imageName}\`)`);
      if (mode === 'maintenance') this.requireNoMaintenanceSeat(version.imageId, version.imageName);
    }
    if (seats.findByName(name)) throw new LanbootError('LANBOOT_SEAT_EXISTS', `seat '${name}' already exists`);
    if (mac) {
      const owner = seats.findByMac(mac);
      if (owner) throw new LanbootError('LANBOOT_MAC_IN_USE', `MAC ${mac} already belongs to seat '${owner.name}'`);
    }

    const createdAt = new Date().toISOString();
    // The id goes into the serial and NAA before the row exists; nothing else can insert
    // between here and insert() (same synchronous section, one supervisor per data dir).
    const seq = seats.nextId();
    const chap = chapOn ? { user: name, secret: generateChapSecret() } : null;
    let mutualChap: { user: string; secret: string } | null = null;
    if (input.mutualChap === true) {
      let secret = generateChapSecret();
      // RFC 7143 12.1.3: the two directions must use different secrets.
      while (secret === chap?.secret) secret = generateChapSecret();
      mutualChap = { user: MUTUAL_CHAP_USER, secret };
    }
    const seat = seats.insert({
      name,
      imageId: version ? version.imageId : null,
      imageVersion: version ? version.number : null,
      sizeBytes,
      quotaBytes,
      mode,
      mac,
      targetIqn: targetIqnFor(name),
      initiatorIqns: initiators,
      chap,
      mutualChap,
      serial: serialFor(seq, name, createdAt),
      naaHex: naaFor(seq, name, createdAt),
      createdAt,
    });
    if (seat.id !== seq) this.log.warn({ seat: name, expected: seq, got: seat.id }, 'seat id differs from the predicted one');
    try {
      engine.setTarget(this.targetConfig(seat, version));
    } catch (error) {
      seats.remove(seat.id);
      // The engine may have created the delta directory before refusing.
      fs.rmSync(layout.seatDeltaDir(seat.id), { recursive: true, force: true });
      throw new LanbootError('LANBOOT_ENGINE_FAILED', `seat ${name}: the iSCSI engine refused the target: ${(error as Error).message}`, { seat: name }, { cause: error });
    }
    this.log.info(
      { seat: name, targetIqn: seat.targetIqn, initiatorIqns: initiators, mac, image: version?.imageName ?? null, version: version?.number ?? null, sizeBytes, quotaBytes, mode, chap: chapOn },
      'seat added',
    );
    return this.details(seat);
  }

  private require(name: unknown): SeatRow {
    const seatName = validateName(name, 'seat', 'seat');
    const seat = this.options.seats.findByName(seatName);
    if (!seat) throw new LanbootError('LANBOOT_SEAT_NOT_FOUND', `seat '${seatName}' does not exist`);
    return seat;
  }

  list(): SeatSummary[] {
    const sessions = this.sessionCounts();
    return this.options.seats.list().map((seat) => ({
      name: seat.name,
      image: seat.imageName,
      version: seat.imageVersion,
      mode: seat.mode,
      mac: seat.mac,
      targetIqn: seat.targetIqn,
      chap: seat.chap !== null,
      sessions: sessions.get(seat.targetIqn) ?? 0,
      deltaBytes: this.deltaBytesOf(seat),
      quotaBytes: seat.quotaBytes,
    }));
  }

  show(name: unknown): SeatDetails {
    return this.details(this.require(name));
  }

  /** Removes the target (dropping its sessions), the seat, its delta and its snapshots. */
  async remove(name: unknown): Promise<void> {
    const seat = this.require(name);
    this.requireIdle(seat);
    try {
      this.options.engine.removeTarget(seat.targetIqn);
    } catch (error) {
      // Typically a seat the engine never took (registration failed at start, e.g. its
      // golden file is unreadable): it must still be removable.
      this.log.warn({ seat: seat.name, targetIqn: seat.targetIqn, ...errorFields(error) }, 'the iSCSI engine could not remove the target; removing the seat anyway');
    }
    this.options.seats.remove(seat.id);
    this.options.seats.forgetOperations(seat.name);
    this.full.delete(seat.name);
    await fsp.rm(this.options.layout.seatDeltaDir(seat.id), { recursive: true, force: true });
    this.log.info({ seat: seat.name, targetIqn: seat.targetIqn }, 'seat removed');
  }

  /** Drops the seat's sessions and delta: the disk equals its golden image again, at the
   *  image's current version (how seats move to a newly imported version). An install
   *  seat's blank disk becomes blank again. */
  reset(name: unknown): SeatDetails {
    let seat = this.require(name);
    this.requireIdle(seat);
    const { engine, images } = this.options;
    const latest = seat.imageName === null ? undefined : images.currentVersion(seat.imageName);
    const previousVersion = seat.imageVersion;
    try {
      if (latest && latest.number !== seat.imageVersion) {
        // A new golden version. The native store ties a delta to the golden file it was
        // made against and refuses it with another one, and reset means dropping the delta
        // anyway: see switchVersion.
        seat = this.switchVersion(seat, latest);
      } else {
        engine.resetDisk(seat.targetIqn);
      }
    } catch (error) {
      throw new LanbootError('LANBOOT_ENGINE_FAILED', `seat ${seat.name}: reset failed: ${(error as Error).message}`, { seat: seat.name }, { cause: error });
    }
    this.full.delete(seat.name);
    this.log.info({ seat: seat.name, targetIqn: seat.targetIqn, version: seat.imageVersion, previousVersion }, 'seat reset to its golden image');
    return this.details(seat);
  }

  /** Moves the seat to another version of its image (default: the image's current one).
   *  Its delta is dropped: it was made against the old version. A seat already on that
   *  version is left as it is (`reset` drops a delta). */
  move(name: unknown, version?: unknown): SeatDetails {
    const seat = this.require(name);
    this.requireIdle(seat);
    if (seat.imageName === null) {
      throw new LanbootError('LANBOOT_SEAT_CONFLICT', `seat ${seat.name} is an install seat with a blank disk: it has no image to move on (commit it first)`, { seat: seat.name });
    }
    const target = this.resolveVersion(seat.imageName, version);
    const previousVersion = seat.imageVersion;
    if (target.number === seat.imageVersion) return this.details(seat);
    let moved: SeatRow;
    try {
      moved = this.switchVersion(seat, target);
    } catch (error) {
      if (error instanceof LanbootError) throw error;
      throw new LanbootError('LANBOOT_ENGINE_FAILED', `seat ${seat.name}: move to ${seat.imageName} v${target.number} failed: ${(error as Error).message}`, { seat: seat.name }, { cause: error });
    }
    this.full.delete(seat.name);
    this.log.info({ seat: seat.name, targetIqn: seat.targetIqn, image: seat.imageName, version: target.number, previousVersion }, 'seat moved');
    return this.details(moved);
  }

  /** Moves every seat of `image` (default: to its current version). Returns the seats moved;
   *  a seat that fails is reported and the others still move. */
  moveAll(image: unknown, version?: unknown): { moved: string[]; unchanged: string[]; failed: { seat: string; error: string }[]; version: number } {
    const imageName = validateName(image, 'image', 'image');
    const row = this.options.images.findImage(imageName);
    if (!row) throw new LanbootError('LANBOOT_IMAGE_NOT_FOUND', `image '${imageName}' does not exist`);
    const target = this.resolveVersion(imageName, version);
    const moved: string[] = [];
    const unchanged: string[] = [];
    const failed: { seat: string; error: string }[] = [];
    for (const seat of this.options.seats.listByImage(row.id)) {
      if (seat.imageVersion === target.number) {
        unchanged.push(seat.name);
        continue;
      }
      try {
        this.move(seat.name, target.number);
        moved.push(seat.name);
      } catch (error) {
        failed.push({ seat: seat.name, error: (error as Error).message });
      }
    }
    return { moved, unchanged, failed, version: target.number };
  }

  /** Changes the seat's mode. fresh/persistent/maintenance switch freely (at most one
   *  maintenance seat per image); install <-> the others only through `commit`. */
  setMode(name: unknown, mode: unknown): SeatDetails {
    const seat = this.require(name);
    const next = validateMode(mode, 'mode');
    if (next === seat.mode) return this.details(seat);
    if (seat.mode === 'install' || next === 'install') {
      throw new LanbootError(
        'LANBOOT_SEAT_CONFLICT',
        seat.mode === 'install'
          ? `seat ${seat.name} is an install seat: its blank disk becomes an image with \`lanboot client commit ${seat.name} --image NAME\`, which also ends install mode`
          : `seat ${seat.name}: install mode needs a blank disk; add a new seat with \`lanboot client add --mode install --size SIZE\``,
        { seat: seat.name },
      );
    }
    this.requireIdle(seat);
    if (next === 'maintenance') this.requireNoMaintenanceSeat(seat.imageId!, seat.imageName!);
    this.options.seats.setMode(seat.id, next);
    // A fresh start armed by a script fetch must not reset a seat that now keeps its changes.
    if (seat.mode === 'fresh') this.options.engine.disarmFreshStart(seat.targetIqn);
    this.log.info({ seat: seat.name, mode: next, previousMode: seat.mode }, 'seat mode changed');
    return this.details(this.require(seat.name));
  }

  /** Sets (or with null/"none" clears) the seat's delta quota. The engine applies it to the
   *  open disk: the seat's PC stays connected, and a seat that was full writes again as soon
   *  as the quota is raised. */
  setQuota(name: unknown, quota: unknown): SeatDetails {
    const seat = this.require(name);
    this.requireIdle(seat);
    const quotaBytes = parseQuota(quota, 'quota');
    this.options.seats.setQuota(seat.id, quotaBytes);
    const updated = this.require(seat.name);
    try {
      // Same disk, new quota: the engine keeps the store and its sessions.
      this.options.engine.setTarget(this.targetConfig(updated, this.versionOf(updated)));
    } catch (error) {
      this.options.seats.setQuota(seat.id, seat.quotaBytes);
      this.reRegister(seat);
      throw new LanbootError('LANBOOT_ENGINE_FAILED', `seat ${seat.name}: cannot apply the quota: ${(error as Error).message}`, { seat: seat.name }, { cause: error });
    }
    this.full.delete(seat.name);
    this.log.info({ seat: seat.name, quotaBytes, previousQuotaBytes: seat.quotaBytes }, 'seat quota changed');
    this.checkWarnings();
    return this.details(updated);
  }

  // Snapshots -------------------------------------------------------------------------------

  /** A consistent copy of the seat's delta, tied to the golden version it was made on. The
   *  target is taken down while the files are copied (its sessions end; initiators log in
   *  again), so no write lands half-way. */
  async snapshot(name: unknown, label?: unknown): Promise<SnapshotView> {
    const seat = this.require(name);
    let labelText: string | null = null;
    if (label !== undefined && label !== null && label !== '') {
      if (typeof label !== 'string' || !LABEL_PATTERN.test(label)) {
        throw new LanbootError('LANBOOT_INVALID_INPUT', `label: expected 1-64 letters, digits, spaces or ._:- , got ${quoteInput(label)}`);
      }
      labelText = label;
    }
    return this.exclusive(seat, 'snapshot', async () => {
      const { seats, engine } = this.options;
      const number = seats.nextSnapshotNumber(seat.id);
      const dir = this.snapshotDir(seat, number);
      const partial = `${dir}.partial`;
      // The database says `number` is free: files under that name are a crash's leftovers.
      await fsp.rm(partial, { recursive: true, force: true });
      await fsp.rm(dir, { recursive: true, force: true });
      await fsp.mkdir(partial, { recursive: true, mode: 0o700 });
      const deltaBytes = this.deltaBytesOf(seat) ?? 0;
      engine.removeTarget(seat.targetIqn); // flushes and closes the delta
      try {
        await this.waitDeltaReleased(seat);
        for (const file of await this.deltaFiles(seat)) {
          await this.tools().copySparseFile(path.join(this.options.layout.seatDeltaDir(seat.id), file), path.join(partial, file));
        }
        await fsyncDir(partial);
        await fsp.rename(partial, dir);
        await fsyncDir(path.dirname(dir));
      } catch (error) {
        await fsp.rm(partial, { recursive: true, force: true });
        throw spaceOrIo(error, `seat ${seat.name}: snapshot failed`, seat.name);
      } finally {
        this.reRegister(seat);
      }
      const row = seats.addSnapshot({
        seatId: seat.id,
        number,
        label: labelText,
        imageId: seat.imageId,
        imageVersion: seat.imageVersion,
        deltaBytes,
        createdAt: new Date().toISOString(),
      });
      this.log.info({ seat: seat.name, snapshot: number, label: labelText, image: seat.imageName, version: seat.imageVersion, deltaBytes }, 'seat snapshot taken');
      return this.snapshotView(seat, row);
    });
  }

  snapshots(name: unknown): SnapshotView[] {
    const seat = this.require(name);
    return this.options.seats.listSnapshots(seat.id).map((row) => this.snapshotView(seat, row));
  }

  /** Replaces the seat's delta with a snapshot's copy. Refused when the seat is on another
   *  golden version than the snapshot was made on (the delta would not fit that version). */
  async restoreSnapshot(name: unknown, snapshot: unknown): Promise<SeatDetails> {
    const seat = this.require(name);
    const row = this.requireSnapshot(seat, snapshot);
    if (row.imageId !== seat.imageId || row.imageVersion !== seat.imageVersion) {
      const made = row.imageVersion === null ? 'a blank disk' : `${this.imageNameOf(row.imageId)} v${row.imageVersion}`;
      const now = seat.imageVersion === null ? 'a blank disk' : `${seat.imageName} v${seat.imageVersion}`;
      throw new LanbootError(
        'LANBOOT_SEAT_CONFLICT',
        `seat ${seat.name}: snapshot ${row.number} was made on ${made}, the seat is now on ${now}; a delta only fits the version it was made on (move the seat back with \`lanboot client move ${seat.name} --version ${row.imageVersion ?? 'N'}\` first)`,
        { seat: seat.name },
      );
    }
    return this.exclusive(seat, 'restore', async () => {
      const deltaDir = this.options.layout.seatDeltaDir(seat.id);
      const source = this.snapshotDir(seat, row.number);
      const staging = path.join(deltaDir, 'restore.partial');
      await fsp.rm(staging, { recursive: true, force: true });
      await fsp.mkdir(staging, { recursive: true, mode: 0o700 });
      try {
        const files = (await fsp.readdir(source)).filter((f) => DELTA_FILE.test(f) && !f.endsWith('.tmp'));
        for (const file of files) await this.tools().copySparseFile(path.join(source, file), path.join(staging, file));
        this.options.engine.removeTarget(seat.targetIqn);
        try {
          await this.waitDeltaReleased(seat);
          // Crash-safe order: without delta.map the store starts an empty delta (and
          // truncates delta.data), so every intermediate state is the old delta, an empty
          // one, or the snapshot's; renaming delta.map in last is the switch.
          this.dropDeltaFilesSync(seat);
          for (const file of files.filter((f) => f !== 'delta.map')) fs.renameSync(path.join(staging, file), path.join(deltaDir, file));
          if (files.includes('delta.map')) {
            await fsyncDir(deltaDir);
            fs.renameSync(path.join(staging, 'delta.map'), path.join(deltaDir, 'delta.map'));
          }
          await fsyncDir(deltaDir);
        } finally {
          this.reRegister(seat);
        }
      } catch (error) {
        throw spaceOrIo(error, `seat ${seat.name}: restore of snapshot ${row.number} failed`, seat.name);
      } finally {
        await fsp.rm(staging, { recursive: true, force: true });
      }
      this.full.delete(seat.name);
      this.log.info({ seat: seat.name, snapshot: row.number, image: seat.imageName, version: seat.imageVersion }, 'seat snapshot restored');
      return this.details(this.require(seat.name));
    });
  }

  async deleteSnapshot(name: unknown, snapshot: unknown): Promise<{ deleted: number }> {
    const seat = this.require(name);
    const row = this.requireSnapshot(seat, snapshot);
    this.requireIdle(seat);
    this.options.seats.removeSnapshot(seat.id, row.number);
    await fsp.rm(this.snapshotDir(seat, row.number), { recursive: true, force: true });
    this.log.info({ seat: seat.name, snapshot: row.number }, 'seat snapshot deleted');
    return { deleted: row.number };
  }

  // Commit ---------------------------------------------------------------------------------

  /** Makes the seat's disk (golden + delta, byte for byte) a new image version: a
   *  maintenance seat's image gets its next version; an install seat's blank disk becomes
   *  the first version of a new image (or the next of an existing one) named by `image`.
   *  The seat must have no sessions unless `force` (which ends them); its target stays
   *  down during the export so nobody writes. Afterwards the seat is on the new version
   *  with an empty delta; other seats stay on their versions until moved. See
   *  docs/decisions/0011-commit.md for the crash guarantees. */
  async commit(name: unknown, options: { image?: unknown; force?: unknown } = {}): Promise<CommitResult> {
    const seat = this.require(name);
    if (options.force !== undefined && typeof options.force !== 'boolean') throw new LanbootError('LANBOOT_INVALID_INPUT', 'force: expected true or false');
    let imageName: string;
    if (seat.mode === 'maintenance') {
      if (options.image !== undefined && options.image !== null && options.image !== seat.imageName) {
        throw new LanbootError('LANBOOT_INVALID_INPUT', `image: a maintenance seat commits to its own image (${seat.imageName}); drop --image`);
      }
      imageName = seat.imageName!;
    } else if (seat.mode === 'install') {
      if (options.image === undefined || options.image === null || options.image === '') {
        throw new LanbootError('LANBOOT_INVALID_INPUT', `image: name the image the install seat's disk becomes (--image NAME: a new image, or the next version of an existing one)`);
      }
      imageName = validateName(options.image, 'image', 'image');
    } else {
      throw new LanbootError(
        'LANBOOT_SEAT_CONFLICT',
        `seat ${seat.name} is in ${seat.mode} mode: only a maintenance seat (\`lanboot client mode ${seat.name} maintenance\`) or an install seat can be committed`,
        { seat: seat.name },
      );
    }
    const publisher = this.options.publisher;
    if (!publisher) throw new LanbootError('LANBOOT_INTERNAL', 'commit is not available: no image store to publish to');
    const sessions = this.sessionCounts().get(seat.targetIqn) ?? 0;
    if (sessions > 0 && options.force !== true) {
      throw new LanbootError(
        'LANBOOT_SEAT_BUSY',
        `seat ${seat.name} has ${sessions} iSCSI session(s): shut the PC down first, or commit with --force (ends the sessions; writes in flight are lost)`,
        { seat: seat.name },
      );
    }
    return this.exclusive(seat, 'commit', async () => {
      const { seats, images, engine } = this.options;
      const version = this.versionOf(seat);
      const disk: DiskSpec = {
        goldenPath: version ? version.filePath : '',
        deltaDir: this.options.layout.seatDeltaDir(seat.id),
        sizeBytes: version ? 0 : seat.sizeBytes ?? 0,
      };
      const totalBytes = version ? Math.floor(version.sizeBytes / 512) * 512 : seat.sizeBytes ?? 0;
      // Journal first: a crash from here on is found at the next start (recoverOperations).
      const opId = seats.startOperation({ seatName: seat.name, kind: 'commit', imageName, baseVersion: images.maxVersionNumber(imageName) });
      const log = this.log.child({ seat: seat.name, targetIqn: seat.targetIqn, image: imageName, operation: opId });
      const progress = { bytesDone: 0, totalBytes };
      this.progress.set(seat.name, progress);
      log.info({ sessions, force: options.force === true, fromImage: seat.imageName, fromVersion: seat.imageVersion, totalBytes }, 'commit started');
      // Target down: sessions end, nobody logs in, the delta is closed (flushed) so the
      // export can open it.
      engine.removeTarget(seat.targetIqn);
      let published: ImageVersionRow;
      try {
        published = await publisher.publishWritten(
          imageName,
          async (partialPath, onProgress) => {
            await this.waitDeltaReleased(seat);
            await this.tools().exportDisk(disk, partialPath, (done) => {
              progress.bytesDone = done;
              onProgress?.(done);
            });
          },
          { source: commitSource(seat.name, opId) },
        );
      } catch (error) {
        this.progress.delete(seat.name);
        const failure = spaceOrIo(error, `commit of seat ${seat.name} failed (no version was published; the seat's changes are untouched)`, seat.name);
        seats.finishOperation(opId, 'failed', failure.message);
        this.reRegister(seat);
        log.error(errorFields(error), 'commit failed; the seat is back on its version with its changes');
        throw failure;
      }
      this.progress.delete(seat.name);
      // The version is published (complete and recorded). The seat's changes now live in it:
      // drop the delta, then point the seat at the new version. A crash between these
      // steps is completed by recoverOperations.
      this.dropDeltaFilesSync(seat);
      const nextMode: SeatMode = seat.mode === 'install' ? (seats.maintenanceSeatOf(published.imageId) ? 'persistent' : 'maintenance') : seat.mode;
      this.finishCommit(seat, published, nextMode, opId, `commit of seat ${seat.name} published ${imageName} v${published.number}`);
      const updated = this.require(seat.name);
      this.reRegister(updated);
      log.info({ version: published.number, sizeBytes: published.sizeBytes, sha256: published.sha256, mode: nextMode }, 'commit published a new version; the seat is on it with an empty delta');
      return { seat: this.details(updated), image: imageName, version: published.number, sizeBytes: published.sizeBytes, sha256: published.sha256 };
    });
  }

  private finishCommit(seat: SeatRow, published: ImageVersionRow, mode: SeatMode, opId: number, message: string): void {
    const { seats } = this.options;
    seats.transaction(() => {
      seats.setImage(seat.id, published.imageId, published.number);
      if (mode !== seat.mode) seats.setMode(seat.id, mode);
      seats.finishOperation(opId, 'done', message, published.number);
    });
  }

  /** Settles commits a crash interrupted (run at start, before registerAll): a commit whose
   *  version was published is completed (the seat moves to it, its delta, now part of the
   *  version, is dropped); one whose version was not is marked interrupted, and the seat
   *  keeps its delta. Returns what it did, also logged and shown in status warnings. */
  recoverOperations(): { completed: string[]; interrupted: string[] } {
    const { seats } = this.options;
    const result = { completed: [] as string[], interrupted: [] as string[] };
    for (const op of seats.runningOperations()) {
      const seat = seats.findByName(op.seatName);
      const published = seats.findCommittedVersion(op.imageName, op.baseVersion, commitSource(op.seatName, op.id));
      if (!seat) {
        // Only a hand-edited database gets here (remove refuses a busy seat).
        seats.finishOperation(op.id, published ? 'done' : 'interrupted', `commit of seat ${op.seatName}: the seat no longer exists`, published?.number ?? null);
        continue;
      }
      if (published) {
        const version = this.options.images.getVersion(published.imageId, published.number)!;
        this.dropDeltaFilesSync(seat);
        const nextMode: SeatMode = seat.mode === 'install' ? (seats.maintenanceSeatOf(version.imageId) ? 'persistent' : 'maintenance') : seat.mode;
        const message = `commit of seat ${op.seatName} was interrupted after ${op.imageName} v${version.number} was published; completed at start: the seat is on v${version.number}`;
        this.finishCommit(seat, version, nextMode, op.id, message);
        this.log.warn({ seat: op.seatName, image: op.imageName, version: version.number, operation: op.id }, message);
        result.completed.push(op.seatName);
      } else {
        const message = `commit of seat ${op.seatName} was interrupted (the supervisor stopped) before a new version of ${op.imageName} was published: no version was created, the seat's changes are untouched; commit again`;
        seats.finishOperation(op.id, 'interrupted', message);
        this.log.warn({ seat: op.seatName, image: op.imageName, operation: op.id }, message);
        result.interrupted.push(op.seatName);
      }
    }
    return result;
  }

  // Space -------------------------------------------------------------------------------------

  spaceReport(): SpaceReport {
    const dataDir = this.options.layout.dataDir;
    let totalBytes = 0;
    let freeBytes = 0;
    try {
      const st = fs.statfsSync(dataDir);
      totalBytes = st.blocks * st.bsize;
      freeBytes = st.bavail * st.bsize;
    } catch (error) {
      this.log.warn({ dataDir, ...errorFields(error) }, 'cannot read the data disk size');
    }
    const ratio = this.options.quotaWarnRatio ?? 0.9;
    const snapshotBytesBySeat = this.options.seats.snapshotBytesBySeat();
    const seatRows = this.options.seats.list().map((seat) => {
      const snapshotBytes = snapshotBytesBySeat.get(seat.id) ?? 0;
      const deltaBytes = this.deltaBytesOf(seat);
      let full = this.full.get(seat.name);
      // Space given back (UNMAP from the PC): no longer full.
      if (full?.reason === 'quota' && deltaBytes !== null && seat.quotaBytes > 0 && deltaBytes < seat.quotaBytes * ratio) {
        this.full.delete(seat.name);
        full = undefined;
      }
      return { name: seat.name, deltaBytes, quotaBytes: seat.quotaBytes, snapshotBytes, full: full ? { reason: full.reason, at: full.at } : null };
    });
    const lowBelowBytes = Math.min(totalBytes * (this.options.diskLowRatio ?? 0.1), this.options.diskLowBytes ?? 2 * 2 ** 30);
    return { dataDisk: { path: dataDir, totalBytes, freeBytes, lowBelowBytes }, seats: seatRows, warnings: this.warningsFrom(seatRows, { totalBytes, freeBytes, lowBelowBytes }) };
  }

  /** Current warnings; each one is logged once when it appears and once when it clears. */
  warnings(): SpaceWarning[] {
    return this.checkWarnings();
  }

  /** Starts the periodic space check (so a crossing is logged even when nobody asks). */
  startMonitor(intervalMs = 30_000): void {
    if (this.monitor) return;
    this.monitor = setInterval(() => this.checkWarnings(), intervalMs);
    this.monitor.unref();
  }

  close(): void {
    if (this.monitor) clearInterval(this.monitor);
    this.monitor = undefined;
  }

  private checkWarnings(): SpaceWarning[] {
    const warnings = this.spaceReport().warnings;
    const now = new Set(warnings.map((w) => `${w.code}:${w.seat ?? ''}`));
    for (const w of warnings) {
      const key = `${w.code}:${w.seat ?? ''}`;
      if (!this.activeWarnings.has(key)) this.log.warn({ warning: w.code, seat: w.seat }, w.message);
    }
    for (const key of this.activeWarnings) {
      if (!now.has(key)) this.log.info({ warning: key.split(':')[0], seat: key.split(':')[1] || undefined }, 'warning cleared');
    }
    this.activeWarnings = now;
    return warnings;
  }

  private warningsFrom(seatRows: SpaceReport['seats'], disk: { totalBytes: number; freeBytes: number; lowBelowBytes: number }): SpaceWarning[] {
    const warnings: SpaceWarning[] = [];
    if (disk.totalBytes > 0 && disk.freeBytes < disk.lowBelowBytes) {
      warnings.push({
        code: 'DATA_DISK_LOW',
        message: `the data disk is almost full: ${formatGiB(disk.freeBytes)} free of ${formatGiB(disk.totalBytes)}; seats' writes fail when it is full (prune old image versions, reset or remove seats, delete snapshots)`,
      });
    }
    const ratio = this.options.quotaWarnRatio ?? 0.9;
    for (const row of seatRows) {
      if (row.full) {
        warnings.push({
          code: 'SEAT_FULL',
          seat: row.name,
          message:
            row.full.reason === 'quota'
              ? `seat ${row.name} is full: its delta reached its quota of ${formatGiB(row.quotaBytes)}; the PC's writes fail (raise it with \`lanboot client quota ${row.name} SIZE\` or reset the seat)`
              : `seat ${row.name}: a write failed because the data disk is full`,
        });
      } else if (row.quotaBytes > 0 && row.deltaBytes !== null && row.deltaBytes >= row.quotaBytes * ratio) {
        warnings.push({
          code: 'SEAT_QUOTA_NEAR',
          seat: row.name,
          message: `seat ${row.name} uses ${formatGiB(row.deltaBytes)} of its ${formatGiB(row.quotaBytes)} quota (${Math.floor((row.deltaBytes / row.quotaBytes) * 100)}%)`,
        });
      }
    }
    for (const op of this.options.seats.latestOperations()) {
      if (op.state !== 'interrupted' && op.state !== 'failed') continue;
      // Shown while the seat can still be committed; gone once the user moved on.
      const seat = this.options.seats.findByName(op.seatName);
      if (!seat || (seat.mode !== 'maintenance' && seat.mode !== 'install')) continue;
      warnings.push({ code: op.state === 'interrupted' ? 'COMMIT_INTERRUPTED' : 'COMMIT_FAILED', seat: op.seatName, message: op.message ?? `commit of seat ${op.seatName} ${op.state}` });
    }
    return warnings;
  }

  /** The seat a PC's MAC belongs to, if any (for network boot). */
  findByMac(mac: unknown): SeatDetails | undefined {
    const seat = this.options.seats.findByMac(normalizeMac(mac, 'mac'));
    return seat && this.details(seat);
  }

  /** Called when a seat's PC fetches its boot script (issue 3): a fresh seat starts from
   *  golden again (its delta dropped here, not at each iSCSI login: the OS logs in again
   *  after iPXE), and CHAP secrets are replaced so a secret seen in one boot script is good
   *  for that boot only. Returns what the boot script needs. */
  prepareForBoot(name: unknown): SeatDetails {
    let seat = this.require(name);
    if (this.busy.has(seat.name)) {
      throw new LanbootError('LANBOOT_SEAT_BUSY', `seat ${seat.name} is busy (${this.busy.get(seat.name)}); the PC retries`, { seat: seat.name });
    }
    // A fresh seat starts each boot from golden, but a script fetch is not proof of a boot:
    // any host on the LAN can ask for one. The disk is reset here only while nobody is logged
    // in to it; otherwise the engine resets it at the first login of the new boot (which, with
    // CHAP, only the holder of the secret below can make) and ends the previous boot's sessions.
    const fresh = seat.mode === 'fresh';
    if (fresh) {
      const open = this.options.engine.sessions().filter((s) => s.targetIqn === seat.targetIqn).length;
      if (open === 0) {
        this.reset(seat.name);
        seat = this.require(seat.name);
      } else {
        this.log.info({ seat: seat.name, targetIqn: seat.targetIqn, mac: seat.mac, sessions: open }, 'fresh seat has a logged-in session: its disk is reset at the next boot\'s login, not now');
      }
    }
    if (seat.chap || seat.mutualChap) {
      const chapSecret = seat.chap ? generateChapSecret() : null;
      let mutualSecret: string | null = null;
      if (seat.mutualChap) {
        do mutualSecret = generateChapSecret();
        while (mutualSecret === chapSecret);
      }
      this.options.seats.setChapSecrets(seat.id, chapSecret, mutualSecret);
      seat = this.require(seat.name);
      try {
        // Same backing, so the engine keeps the seat's sessions; only new logins see the
        // new secret.
        this.options.engine.setTarget(this.targetConfig(seat, this.versionOf(seat)));
      } catch (error) {
        throw new LanbootError('LANBOOT_ENGINE_FAILED', `seat ${seat.name}: cannot update CHAP: ${(error as Error).message}`, { seat: seat.name }, { cause: error });
      }
      this.log.info({ seat: seat.name, targetIqn: seat.targetIqn, mac: seat.mac }, 'seat CHAP secret rotated for a boot');
    }
    if (fresh) {
      try {
        this.options.engine.armFreshStart(seat.targetIqn);
      } catch (error) {
        throw new LanbootError('LANBOOT_ENGINE_FAILED', `seat ${seat.name}: cannot arm the fresh start: ${(error as Error).message}`, { seat: seat.name }, { cause: error });
      }
    }
    return this.details(seat);
  }

  // Helpers ------------------------------------------------------------------------------------

  private readonly busy = new Map<string, string>();
  private readonly progress = new Map<string, { bytesDone: number; totalBytes: number }>();
  private readonly full = new Map<string, { reason: string; at: string }>();
  private activeWarnings = new Set<string>();
  private monitor: NodeJS.Timeout | undefined;
  private diskTools: DiskTools | undefined;

  private tools(): DiskTools {
    if (!this.diskTools) this.diskTools = this.options.diskTools ?? loadNative();
    return this.diskTools;
  }

  /** Runs a long operation with the seat marked busy (one at a time per seat). */
  private async exclusive<T>(seat: SeatRow, what: string, work: () => Promise<T>): Promise<T> {
    this.requireIdle(seat);
    this.busy.set(seat.name, what);
    try {
      return await work();
    } finally {
      this.busy.delete(seat.name);
    }
  }

  /** What a crash during a snapshot or restore leaves: half-copied files, never used. */
  private removeCrashLeftovers(seat: SeatRow): void {
    const dir = this.options.layout.seatDeltaDir(seat.id);
    try {
      fs.rmSync(path.join(dir, 'restore.partial'), { recursive: true, force: true });
      const snapshots = path.join(dir, 'snapshots');
      if (fs.existsSync(snapshots)) {
        for (const entry of fs.readdirSync(snapshots)) {
          if (entry.endsWith('.partial')) fs.rmSync(path.join(snapshots, entry), { recursive: true, force: true });
        }
      }
    } catch (error) {
      this.log.warn({ seat: seat.name, ...errorFields(error) }, 'cannot remove leftovers of an interrupted snapshot or restore');
    }
  }

  /** A target taken down releases its store when its last connection thread ends (the
   *  engine waits up to 10 s for them): wait for that before touching the delta's files. */
  private async waitDeltaReleased(seat: SeatRow, timeoutMs = 15_000): Promise<void> {
    const dir = this.options.layout.seatDeltaDir(seat.id);
    const deadline = Date.now() + timeoutMs;
    while (!this.tools().deltaIsIdle(dir)) {
      if (Date.now() > deadline) {
        throw new LanbootError('LANBOOT_SEAT_BUSY', `seat ${seat.name}: its disk is still in use ${timeoutMs / 1000} s after its sessions were ended`, { seat: seat.name });
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  private requireIdle(seat: SeatRow): void {
    const what = this.busy.get(seat.name);
    if (what) throw new LanbootError('LANBOOT_SEAT_BUSY', `seat ${seat.name} is busy: a ${what} is running; try again when it is done`, { seat: seat.name });
  }

  private requireNoMaintenanceSeat(imageId: number, imageName: string): void {
    const owner = this.options.seats.maintenanceSeatOf(imageId);
    if (owner) {
      throw new LanbootError(
        'LANBOOT_SEAT_CONFLICT',
        `image ${imageName} already has a maintenance seat (${owner.name}); an image has at most one (its changes become the next version): switch ${owner.name} to another mode first`,
        { seat: owner.name },
      );
    }
  }

  private resolveVersion(imageName: string, version: unknown): ImageVersionRow {
    const { images } = this.options;
    if (version === undefined || version === null || version === '') {
      const current = images.currentVersion(imageName);
      if (!current) throw new LanbootError('LANBOOT_IMAGE_NOT_FOUND', `image '${imageName}' has no version`);
      return current;
    }
    const number = typeof version === 'string' && /^\d{1,9}$/.test(version) ? Number(version) : version;
    if (typeof number !== 'number' || !Number.isSafeInteger(number) || number < 1) {
      throw new LanbootError('LANBOOT_INVALID_INPUT', `version: expected a version number like 3, got ${quoteInput(version)}`);
    }
    const image = images.findImage(imageName);
    const row = image && images.getVersion(image.id, number);
    if (!row) throw new LanbootError('LANBOOT_IMAGE_NOT_FOUND', `image '${imageName}' has no version ${number}`);
    return row;
  }

  /** Puts the seat on another golden version with an empty delta: target down (sessions
   *  end, nobody can log in), delta files deleted, target up on the new version. */
  private switchVersion(seat: SeatRow, next: ImageVersionRow): SeatRow {
    const { engine, seats } = this.options;
    const current = this.versionOf(seat);
    engine.removeTarget(seat.targetIqn);
    this.dropDeltaFilesSync(seat);
    try {
      engine.setTarget(this.targetConfig({ ...seat, imageId: next.imageId, imageVersion: next.number }, next));
    } catch (error) {
      try {
        engine.setTarget(this.targetConfig(seat, current));
      } catch (restoreError) {
        this.log.error({ seat: seat.name, targetIqn: seat.targetIqn, ...errorFields(restoreError) }, 'cannot restore the seat on its previous version');
      }
      // Callers say what failed (reset, move); the engine's message says why.
      throw error;
    }
    seats.setImage(seat.id, next.imageId, next.number);
    return this.require(seat.name);
  }

  /** Sets the seat's target up again from its DB row (after a snapshot/restore/commit or a
   *  failure); logged, not thrown: the operation's own outcome is what the caller reports. */
  private reRegister(seat: SeatRow): void {
    const fresh = this.options.seats.findByName(seat.name) ?? seat;
    try {
      this.options.engine.setTarget(this.targetConfig(fresh, this.versionOf(fresh)));
    } catch (error) {
      this.log.error({ seat: fresh.name, targetIqn: fresh.targetIqn, ...errorFields(error) }, 'cannot set the seat\'s iSCSI target up again');
    }
  }

  /** Deletes the delta's files (never the snapshots next to them), durably. */
  private dropDeltaFilesSync(seat: SeatRow): void {
    const dir = this.options.layout.seatDeltaDir(seat.id);
    let entries: string[];
    try {
      entries = fs.readdirSync(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    // The map first: without it the data file means nothing (see restoreSnapshot).
    const ordered = entries.filter((e) => DELTA_FILE.test(e)).sort((a, b) => (a === 'delta.map' ? -1 : b === 'delta.map' ? 1 : 0));
    for (const entry of ordered) fs.rmSync(path.join(dir, entry), { force: true });
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }

  private async deltaFiles(seat: SeatRow): Promise<string[]> {
    try {
      return (await fsp.readdir(this.options.layout.seatDeltaDir(seat.id))).filter((f) => f === 'delta.map' || f === 'delta.data');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }

  private snapshotDir(seat: SeatRow, number: number): string {
    return path.join(this.options.layout.seatDeltaDir(seat.id), 'snapshots', String(number));
  }

  private requireSnapshot(seat: SeatRow, snapshot: unknown): SnapshotRow {
    const number = typeof snapshot === 'string' && /^\d{1,9}$/.test(snapshot) ? Number(snapshot) : snapshot;
    if (typeof number !== 'number' || !Number.isSafeInteger(number) || number < 1) {
      throw new LanbootError('LANBOOT_INVALID_INPUT', `snapshot: expected a snapshot number like 2, got ${quoteInput(snapshot)}`);
    }
    const row = this.options.seats.getSnapshot(seat.id, number);
    if (!row) throw new LanbootError('LANBOOT_SNAPSHOT_NOT_FOUND', `seat ${seat.name} has no snapshot ${number} (see \`lanboot client snapshots ${seat.name}\`)`);
    return row;
  }

  private imageNameOf(imageId: number | null): string {
    if (imageId === null) return '?';
    return this.options.images.listImages().find((i) => i.id === imageId)?.name ?? `image #${imageId}`;
  }

  private snapshotView(seat: SeatRow, row: SnapshotRow): SnapshotView {
    return {
      number: row.number,
      label: row.label,
      image: row.imageId === null ? null : row.imageId === seat.imageId ? seat.imageName : this.imageNameOf(row.imageId),
      version: row.imageVersion,
      deltaBytes: row.deltaBytes,
      createdAt: row.createdAt,
    };
  }

  private deltaBytesOf(seat: SeatRow): number | null {
    try {
      return this.options.engine.deltaBytes(seat.targetIqn);
    } catch {
      return null; // not registered (busy, or failed at start)
    }
  }

  /** The engine's sessions totalled per target IQN, in one engine call: how many, and the
   *  bytes they read and wrote so far. Every per-target session figure comes from here. */
  private sessionTotals(): Map<string, { sessions: number; bytes: number }> {
    const totals = new Map<string, { sessions: number; bytes: number }>();
    try {
      for (const s of this.options.engine.sessions()) {
        const total = totals.get(s.targetIqn) ?? { sessions: 0, bytes: 0 };
        total.sessions += 1;
        total.bytes += s.bytesRead + s.bytesWritten;
        totals.set(s.targetIqn, total);
      }
    } catch (error) {
      this.log.warn(errorFields(error), 'cannot read sessions from the iSCSI engine');
    }
    return totals;
  }

  private sessionCounts(): Map<string, number> {
    return new Map([...this.sessionTotals()].map(([iqn, total]) => [iqn, total.sessions]));
  }

  /** Bytes read + written by each target's current sessions, by target IQN (the web UI
   *  samples these for transfer rates). Targets without a session are absent. */
  sessionBytes(): Map<string, number> {
    return new Map([...this.sessionTotals()].map(([iqn, total]) => [iqn, total.bytes]));
  }

  private details(seat: SeatRow): SeatDetails {
    let deltaBytes: number | null = null;
    let sessions: SeatDetails['sessions'] = [];
    deltaBytes = this.deltaBytesOf(seat);
    try {
      sessions = this.options.engine
        .sessions()
        .filter((s) => s.targetIqn === seat.targetIqn)
        .map((s) => ({
          initiatorIqn: s.initiatorIqn,
          remoteAddress: s.remoteAddress,
          connectedAt: new Date(s.connectedAt).toISOString(),
          commands: s.commands,
          bytesRead: s.bytesRead,
          bytesWritten: s.bytesWritten,
        }));
    } catch (error) {
      this.log.warn({ seat: seat.name, targetIqn: seat.targetIqn, ...errorFields(error) }, 'cannot read seat state from the iSCSI engine');
    }
    let version: ImageVersionRow | null = null;
    try {
      version = this.versionOf(seat);
    } catch {
      version = null;
    }
    const op = this.options.seats.latestOperations().find((o) => o.seatName === seat.name);
    const progress = this.progress.get(seat.name);
    return {
      name: seat.name,
      image: seat.imageName,
      version: seat.imageVersion,
      latestVersion: seat.imageName === null ? null : this.options.images.currentVersion(seat.imageName)?.number ?? seat.imageVersion,
      mode: seat.mode,
      diskBytes: version ? Math.floor(version.sizeBytes / 512) * 512 : seat.sizeBytes,
      quotaBytes: seat.quotaBytes,
      lastOperation: op
        ? {
            kind: op.kind,
            state: op.state,
            image: op.imageName,
            version: op.resultVersion,
            message: op.message,
            startedAt: op.startedAt,
            finishedAt: op.finishedAt,
            ...(op.state === 'running' && progress ? { progress: { ...progress } } : {}),
          }
        : null,
      mac: seat.mac,
      targetIqn: seat.targetIqn,
      portal: this.options.portal(),
      lun: SEAT_LUN,
      initiatorIqns: seat.initiatorIqns,
      chap: seat.chap,
      mutualChap: seat.mutualChap,
      serial: seat.serial,
      naa: seat.naaHex,
      createdAt: seat.createdAt,
      deltaBytes,
      sessions,
    };
  }

  private seatByIqn(iqn: string): SeatRow | undefined {
    return this.options.seats.list().find((s) => s.targetIqn === iqn);
  }

  /** Logs an engine event with the IQNs (and so the client) in context. */
  onEngineEvent(event: EngineEvent): void {
    const { type, ...fields } = event;
    switch (type) {
      case 'login':
        this.log.info({ event: type, ...fields }, event.discovery ? 'iSCSI discovery session' : 'iSCSI login');
        break;
      case 'logout':
        this.log.info({ event: type, ...fields }, 'iSCSI logout');
        break;
      case 'login-failed':
        this.log.warn({ event: type, ...fields }, 'iSCSI login refused');
        break;
      case 'fresh-start': {
        const seat = this.seatByIqn(event.targetIqn);
        if (event.reset) {
          if (seat) this.full.delete(seat.name);
          this.log.info({ event: type, seat: seat?.name, ...fields }, 'fresh seat reset at the first login of a new boot');
        } else {
          this.log.warn({ event: type, seat: seat?.name, ...fields }, 'fresh seat not reset at login: another session is still logged in (turn CHAP on to let a new boot prove itself)');
        }
        break;
      }
      case 'error':
        if (event.code === 'LANBOOT_NO_SPACE') {
          // Rate limited in the addon (one per seat per 10 s): the seat is full.
          const seat = this.seatByIqn(event.targetIqn);
          const reason = (event as { reason?: string }).reason ?? 'quota';
          if (seat) this.full.set(seat.name, { reason, at: new Date().toISOString() });
          this.log.warn({ event: type, seat: seat?.name, reason, ...fields }, event.message);
          this.checkWarnings();
          break;
        }
        this.log.error({ event: type, ...fields }, 'iSCSI session error');
        break;
      default:
        this.log.warn({ event }, 'unknown iSCSI engine event');
    }
  }
}

function parseQuota(value: unknown, setting: string): number {
  if (value === undefined || value === null || value === 'none' || value === 0 || value === '0') return 0;
  return parseSize(value, setting, QUOTA_LIMITS);
}

function commitSource(seatName: string, opId: number): string {
  return `commit of seat ${seatName} (operation ${opId})`;
}

function formatGiB(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await fsp.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** A failure from the native file tools as a LanbootError: ENOSPC says so. */
function spaceOrIo(error: unknown, message: string, seat: string): LanbootError {
  if (error instanceof LanbootError) return error;
  const code = (error as { code?: string }).code;
  const text = `${message}: ${(error as Error).message}`;
  return new LanbootError(code === 'LANBOOT_NO_SPACE' || code === 'ENOSPC' ? 'LANBOOT_NO_SPACE' : 'LANBOOT_IO_FAILED', text, { seat }, { cause: error });
}
