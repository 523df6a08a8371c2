// The iSCSI control plane: turns seats (DB rows) into targets of the native engine and keeps
// the two in step. Seat add/remove/reset go through here; the engine owns the data path.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import type { Logger } from 'pino';
import { LanbootError } from '../log/errors.js';
import { errorFields } from '../log/logger.js';
import { normalizeMac, validateIqn, validateMode, validateName, type SeatMode } from '../config/names.js';
import type { ImageRepository, ImageVersionRow } from '../db/images.js';
import type { SeatRepository, SeatRow } from '../db/seats.js';
import type { DataLayout } from '../storage/layout.js';
import type { EngineEvent, IscsiEngine, TargetConfig } from './engine-types.js';
import { generateChapSecret, initiatorIqnFor, naaFor, serialFor, targetIqnFor } from './identity.js';

/** The disk is LUN 0: iPXE's default (brief: iSCSI URI lun defaults to 0). */
export const SEAT_LUN = 0;

/** User name the target presents in mutual CHAP (RFC 7143 12.1.3: the initiator checks it). */
export const MUTUAL_CHAP_USER = 'lanboot';

export interface AddSeatInput {
  name: unknown;
  image: unknown;
  mac?: unknown;
  mode?: unknown;
  initiators?: unknown;
  /** CHAP on unless false. */
  chap?: unknown;
  mutualChap?: unknown;
}

export interface SeatSummary {
  name: string;
  image: string;
  version: number;
  mode: SeatMode;
  mac: string | null;
  targetIqn: string;
  chap: boolean;
  sessions: number;
}

export interface SeatDetails {
  name: string;
  image: string;
  version: number;
  latestVersion: number;
  mode: SeatMode;
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

export interface SeatManagerOptions {
  layout: DataLayout;
  images: ImageRepository;
  seats: SeatRepository;
  engine: IscsiEngine;
  logger: Logger;
  /** "host:port" PCs connect to. */
  portal: () => string;
}

const MAX_INITIATORS = 16;

export class SeatManager {
  private readonly log: Logger;

  constructor(private readonly options: SeatManagerOptions) {
    this.log = options.logger.child({ component: 'iscsi' });
  }

  private targetConfig(seat: SeatRow, version: ImageVersionRow): TargetConfig {
    const config: TargetConfig = {
      iqn: seat.targetIqn,
      goldenPath: version.filePath,
      deltaDir: this.options.layout.seatDeltaDir(seat.id),
      initiators: seat.initiatorIqns,
      serial: seat.serial,
      naaHex: seat.naaHex,
    };
    if (seat.chap) config.chap = { ...seat.chap };
    if (seat.mutualChap) config.mutualChap = { ...seat.mutualChap };
    return config;
  }

  private versionOf(seat: SeatRow): ImageVersionRow {
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
    let registered = 0;
    let failed = 0;
    for (const seat of this.options.seats.list()) {
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
    const imageName = validateName(input.image, 'image', 'image');
    const mac = input.mac === undefined || input.mac === null || input.mac === '' ? null : normalizeMac(input.mac, 'mac');
    const mode = input.mode === undefined || input.mode === null ? 'fresh' : validateMode(input.mode, 'mode');
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
    const version = images.currentVersion(imageName);
    if (!version) throw new LanbootError('LANBOOT_IMAGE_NOT_FOUND', `image '${imageName}' does not exist (import it with \`lanboot image import FILE --name ${imageName}\`)`);
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
      imageId: version.imageId,
      imageVersion: version.number,
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
    this.log.info({ seat: name, targetIqn: seat.targetIqn, initiatorIqns: initiators, mac, image: imageName, version: version.number, mode, chap: chapOn }, 'seat added');
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
    }));
  }

  show(name: unknown): SeatDetails {
    return this.details(this.require(name));
  }

  /** Removes the target (dropping its sessions), the seat and its delta. */
  async remove(name: unknown): Promise<void> {
    const seat = this.require(name);
    try {
      this.options.engine.removeTarget(seat.targetIqn);
    } catch (error) {
      // Typically a seat the engine never took (registration failed at start, e.g. its
      // golden file is unreadable): it must still be removable.
      this.log.warn({ seat: seat.name, targetIqn: seat.targetIqn, ...errorFields(error) }, 'the iSCSI engine could not remove the target; removing the seat anyway');
    }
    this.options.seats.remove(seat.id);
    await fsp.rm(this.options.layout.seatDeltaDir(seat.id), { recursive: true, force: true });
    this.log.info({ seat: seat.name, targetIqn: seat.targetIqn }, 'seat removed');
  }

  /** Drops the seat's sessions and delta: the disk equals its golden image again, at the
   *  image's latest version (how seats move to a newly imported version). */
  reset(name: unknown): SeatDetails {
    let seat = this.require(name);
    const { engine, images, seats } = this.options;
    const latest = images.currentVersion(seat.imageName);
    const previousVersion = seat.imageVersion;
    try {
      if (latest && latest.number !== seat.imageVersion) {
        // A new golden version. The native store ties a delta to the golden file it was
        // made against and refuses it with another one, and reset means dropping the delta
        // anyway: take the target down, delete the delta directory, set the target up on
        // the new version with an empty delta. While it is down nobody can log in.
        const current = this.versionOf(seat);
        engine.removeTarget(seat.targetIqn);
        fs.rmSync(this.options.layout.seatDeltaDir(seat.id), { recursive: true, force: true });
        try {
          engine.setTarget(this.targetConfig({ ...seat, imageVersion: latest.number }, latest));
        } catch (error) {
          try {
            engine.setTarget(this.targetConfig(seat, current));
          } catch (restoreError) {
            this.log.error({ seat: seat.name, targetIqn: seat.targetIqn, ...errorFields(restoreError) }, 'cannot restore the seat on its previous version');
          }
          throw error;
        }
        seats.setVersion(seat.id, latest.number);
        seat = this.require(seat.name);
      } else {
        engine.resetDisk(seat.targetIqn);
      }
    } catch (error) {
      throw new LanbootError('LANBOOT_ENGINE_FAILED', `seat ${seat.name}: reset failed: ${(error as Error).message}`, { seat: seat.name }, { cause: error });
    }
    this.log.info({ seat: seat.name, targetIqn: seat.targetIqn, version: seat.imageVersion, previousVersion }, 'seat reset to its golden image');
    return this.details(seat);
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
    if (seat.mode === 'fresh') this.reset(seat.name);
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
    return this.details(seat);
  }

  private sessionCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    try {
      for (const s of this.options.engine.sessions()) counts.set(s.targetIqn, (counts.get(s.targetIqn) ?? 0) + 1);
    } catch (error) {
      this.log.warn(errorFields(error), 'cannot read sessions from the iSCSI engine');
    }
    return counts;
  }

  private details(seat: SeatRow): SeatDetails {
    let deltaBytes: number | null = null;
    let sessions: SeatDetails['sessions'] = [];
    try {
      deltaBytes = this.options.engine.deltaBytes(seat.targetIqn);
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
    return {
      name: seat.name,
      image: seat.imageName,
      version: seat.imageVersion,
      latestVersion: this.options.images.latestVersion(seat.imageName)?.number ?? seat.imageVersion,
      mode: seat.mode,
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
      case 'error':
        this.log.error({ event: type, ...fields }, 'iSCSI session error');
        break;
      default:
        this.log.warn({ event }, 'unknown iSCSI engine event');
    }
  }
}
