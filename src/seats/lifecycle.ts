// A seat's life: added (a target for the engine), reset, moved to another version of its
// image, its mode and quota changed, removed. Long operations (snapshot, commit) live in
// their own files; this is what takes a moment.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { LanbootError } from '../log/errors.js';
import { errorFields } from '../log/logger.js';
import type { SeatMode } from '../config/names.js';
import type { ImageVersionRow } from '../db/images.js';
import type { SeatRow } from '../db/seats.js';
import { requireIdle, requireSeat, type SeatContext } from './context.js';
import { dropDeltaFilesSync } from './delta-files.js';
import { pushTarget, pushTargetOrLog, versionOf } from './engine-sync.js';
import { generateChapSecret, MUTUAL_CHAP_USER, naaFor, serialFor, targetIqnFor } from './identity.js';
import type { AddSeatRequest } from './input.js';
import { formatBootChoice, resolveIso } from './boot-options.js';
import { seatDetails, type MoveAllResult, type SeatDetails } from './views.js';

export function requireNoMaintenanceSeat(ctx: SeatContext, imageId: number, imageName: string): void {
  const owner = ctx.seats.maintenanceSeatOf(imageId);
  if (owner) {
    throw new LanbootError(
      'LANBOOT_SEAT_CONFLICT',
      `image ${imageName} already has a maintenance seat (${owner.name}); an image has at most one (its changes become the next version): switch ${owner.name} to another mode first`,
      { seat: owner.name },
    );
  }
}

export function addSeat(ctx: SeatContext, request: AddSeatRequest): SeatDetails {
  const { images, seats, layout } = ctx;
  const { name, mac, mode, sizeBytes, quotaBytes, initiators } = request;
  let version: ImageVersionRow | null = null;
  if (request.image !== null) {
    version = images.currentVersion(request.image) ?? null;
    if (!version) throw new LanbootError('LANBOOT_IMAGE_NOT_FOUND', `image '${request.image}' does not exist (import it with \`lanboot image import FILE --name ${request.image}\`)`);
    if (mode === 'maintenance') requireNoMaintenanceSeat(ctx, version.imageId, version.imageName);
  }
  if (seats.findByName(name)) throw new LanbootError('LANBOOT_SEAT_EXISTS', `seat '${name}' already exists`);
  // Checked before anything is made: the installer ISO is in the library.
  const installIso = request.iso === null ? null : resolveIso(ctx, request.iso, 'iso');
  if (mac) {
    const owner = seats.findByMac(mac);
    if (owner) throw new LanbootError('LANBOOT_MAC_IN_USE', `MAC ${mac} already belongs to seat '${owner.name}'`);
  }

  const createdAt = new Date().toISOString();
  // The id goes into the serial and NAA before the row exists; nothing else can insert
  // between here and insert() (same synchronous section, one supervisor per data dir).
  const seq = seats.nextId();
  const chap = request.chap ? { user: name, secret: generateChapSecret() } : null;
  let mutualChap: { user: string; secret: string } | null = null;
  if (request.mutualChap) {
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
  if (installIso) seats.boot.setInstallIso(seat.id, formatBootChoice({ kind: 'iso', ...installIso }));
  if (seat.id !== seq) ctx.log.warn({ seat: name, expected: seq, got: seat.id }, 'seat id differs from the predicted one');
  try {
    pushTarget(ctx, seat, version);
  } catch (error) {
    seats.remove(seat.id);
    // The engine may have created the delta directory before refusing.
    fs.rmSync(layout.seatDeltaDir(seat.id), { recursive: true, force: true });
    throw new LanbootError('LANBOOT_ENGINE_FAILED', `seat ${name}: the iSCSI engine refused the target: ${(error as Error).message}`, { seat: name }, { cause: error });
  }
  ctx.log.info(
    { seat: name, targetIqn: seat.targetIqn, initiatorIqns: initiators, mac, image: version?.imageName ?? null, version: version?.number ?? null, sizeBytes, quotaBytes, mode, chap: request.chap, installIso },
    'seat added',
  );
  return seatDetails(ctx, seat);
}

/** Removes the target (dropping its sessions), the seat, its delta and its snapshots. */
export async function removeSeat(ctx: SeatContext, name: string): Promise<void> {
  const seat = requireSeat(ctx, name);
  requireIdle(ctx.state, seat);
  try {
    ctx.engine.removeTarget(seat.targetIqn);
  } catch (error) {
    // Typically a seat the engine never took (registration failed at start, e.g. its
    // golden file is unreadable): it must still be removable.
    ctx.log.warn({ seat: seat.name, targetIqn: seat.targetIqn, ...errorFields(error) }, 'the iSCSI engine could not remove the target; removing the seat anyway');
  }
  ctx.seats.remove(seat.id);
  ctx.seats.forgetOperations(seat.name);
  ctx.state.full.delete(seat.name);
  await fsp.rm(ctx.layout.seatDeltaDir(seat.id), { recursive: true, force: true });
  ctx.log.info({ seat: seat.name, targetIqn: seat.targetIqn }, 'seat removed');
}

/** Puts the seat on another golden version with an empty delta: target down (sessions
 *  end, nobody can log in), delta files deleted, target up on the new version. */
function switchVersion(ctx: SeatContext, seat: SeatRow, next: ImageVersionRow): SeatRow {
  const current = versionOf(ctx, seat);
  ctx.engine.removeTarget(seat.targetIqn);
  dropDeltaFilesSync(ctx, seat);
  try {
    pushTarget(ctx, { ...seat, imageId: next.imageId, imageVersion: next.number }, next);
  } catch (error) {
    try {
      pushTarget(ctx, seat, current);
    } catch (restoreError) {
      ctx.log.error({ seat: seat.name, targetIqn: seat.targetIqn, ...errorFields(restoreError) }, 'cannot restore the seat on its previous version');
    }
    // Callers say what failed (reset, move); the engine's message says why.
    throw error;
  }
  ctx.seats.setImage(seat.id, next.imageId, next.number);
  return requireSeat(ctx, seat.name);
}

/** Drops the seat's sessions and delta: the disk equals its golden image again, at the
 *  image's current version (how seats move to a newly imported version). An install
 *  seat's blank disk becomes blank again. */
export function resetSeat(ctx: SeatContext, name: string): SeatDetails {
  let seat = requireSeat(ctx, name);
  requireIdle(ctx.state, seat);
  const latest = seat.imageName === null ? undefined : ctx.images.currentVersion(seat.imageName);
  const previousVersion = seat.imageVersion;
  try {
    if (latest && latest.number !== seat.imageVersion) {
      // A new golden version. The native store ties a delta to the golden file it was
      // made against and refuses it with another one, and reset means dropping the delta
      // anyway: see switchVersion.
      seat = switchVersion(ctx, seat, latest);
    } else {
      ctx.engine.resetDisk(seat.targetIqn);
    }
  } catch (error) {
    throw new LanbootError('LANBOOT_ENGINE_FAILED', `seat ${seat.name}: reset failed: ${(error as Error).message}`, { seat: seat.name }, { cause: error });
  }
  ctx.state.full.delete(seat.name);
  ctx.log.info({ seat: seat.name, targetIqn: seat.targetIqn, version: seat.imageVersion, previousVersion }, 'seat reset to its golden image');
  return seatDetails(ctx, seat);
}

/** The image's version `number`, or its current one for null. */
function resolveVersion(ctx: SeatContext, imageName: string, number: number | null): ImageVersionRow {
  const { images } = ctx;
  if (number === null) {
    const current = images.currentVersion(imageName);
    if (!current) throw new LanbootError('LANBOOT_IMAGE_NOT_FOUND', `image '${imageName}' has no version`);
    return current;
  }
  const image = images.findImage(imageName);
  const row = image && images.getVersion(image.id, number);
  if (!row) throw new LanbootError('LANBOOT_IMAGE_NOT_FOUND', `image '${imageName}' has no version ${number}`);
  return row;
}

/** Moves the seat to another version of its image (null: the image's current one). Its
 *  delta is dropped: it was made against the old version. A seat already on that version
 *  is left as it is (`reset` drops a delta). */
export function moveSeat(ctx: SeatContext, name: string, version: number | null): SeatDetails {
  const seat = requireSeat(ctx, name);
  requireIdle(ctx.state, seat);
  if (seat.imageName === null) {
    throw new LanbootError('LANBOOT_SEAT_CONFLICT', `seat ${seat.name} is an install seat with a blank disk: it has no image to move on (commit it first)`, { seat: seat.name });
  }
  const target = resolveVersion(ctx, seat.imageName, version);
  const previousVersion = seat.imageVersion;
  if (target.number === seat.imageVersion) return seatDetails(ctx, seat);
  let moved: SeatRow;
  try {
    moved = switchVersion(ctx, seat, target);
  } catch (error) {
    if (error instanceof LanbootError) throw error;
    throw new LanbootError('LANBOOT_ENGINE_FAILED', `seat ${seat.name}: move to ${seat.imageName} v${target.number} failed: ${(error as Error).message}`, { seat: seat.name }, { cause: error });
  }
  ctx.state.full.delete(seat.name);
  ctx.log.info({ seat: seat.name, targetIqn: seat.targetIqn, image: seat.imageName, version: target.number, previousVersion }, 'seat moved');
  return seatDetails(ctx, moved);
}

/** Moves every seat of `imageName` (null version: to its current one). Returns the seats
 *  moved; a seat that fails is reported and the others still move. */
export function moveAllSeats(ctx: SeatContext, imageName: string, version: number | null): MoveAllResult {
  const row = ctx.images.findImage(imageName);
  if (!row) throw new LanbootError('LANBOOT_IMAGE_NOT_FOUND', `image '${imageName}' does not exist`);
  const target = resolveVersion(ctx, imageName, version);
  const moved: string[] = [];
  const unchanged: string[] = [];
  const failed: { seat: string; error: string }[] = [];
  for (const seat of ctx.seats.listByImage(row.id)) {
    if (seat.imageVersion === target.number) {
      unchanged.push(seat.name);
      continue;
    }
    try {
      moveSeat(ctx, seat.name, target.number);
      moved.push(seat.name);
    } catch (error) {
      failed.push({ seat: seat.name, error: (error as Error).message });
    }
  }
  return { moved, unchanged, failed, version: target.number };
}

/** Changes the seat's mode. fresh/persistent/maintenance switch freely (at most one
 *  maintenance seat per image); install <-> the others only through `commit`. */
export function setSeatMode(ctx: SeatContext, name: string, next: SeatMode): SeatDetails {
  const seat = requireSeat(ctx, name);
  if (next === seat.mode) return seatDetails(ctx, seat);
  if (seat.mode === 'install' || next === 'install') {
    throw new LanbootError(
      'LANBOOT_SEAT_CONFLICT',
      seat.mode === 'install'
        ? `seat ${seat.name} is an install seat: its blank disk becomes an image with \`lanboot client commit ${seat.name} --image NAME\`, which also ends install mode`
        : `seat ${seat.name}: install mode needs a blank disk; add a new seat with \`lanboot client add --mode install --size SIZE\``,
      { seat: seat.name },
    );
  }
  requireIdle(ctx.state, seat);
  if (next === 'maintenance') requireNoMaintenanceSeat(ctx, seat.imageId!, seat.imageName!);
  ctx.seats.setMode(seat.id, next);
  // A fresh start armed by a script fetch must not reset a seat that now keeps its changes.
  if (seat.mode === 'fresh') ctx.engine.disarmFreshStart(seat.targetIqn);
  ctx.log.info({ seat: seat.name, mode: next, previousMode: seat.mode }, 'seat mode changed');
  return seatDetails(ctx, requireSeat(ctx, seat.name));
}

/** Sets (0: clears) the seat's delta quota. The engine applies it to the open disk: the
 *  seat's PC stays connected, and a seat that was full writes again as soon as the quota is
 *  raised. The caller re-checks the space warnings. */
export function setSeatQuota(ctx: SeatContext, name: string, quotaBytes: number): SeatDetails {
  const seat = requireSeat(ctx, name);
  requireIdle(ctx.state, seat);
  ctx.seats.setQuota(seat.id, quotaBytes);
  const updated = requireSeat(ctx, seat.name);
  try {
    // Same disk, new quota: the engine keeps the store and its sessions.
    pushTarget(ctx, updated);
  } catch (error) {
    ctx.seats.setQuota(seat.id, seat.quotaBytes);
    pushTargetOrLog(ctx, seat);
    throw new LanbootError('LANBOOT_ENGINE_FAILED', `seat ${seat.name}: cannot apply the quota: ${(error as Error).message}`, { seat: seat.name }, { cause: error });
  }
  ctx.state.full.delete(seat.name);
  ctx.log.info({ seat: seat.name, quotaBytes, previousQuotaBytes: seat.quotaBytes }, 'seat quota changed');
  return seatDetails(ctx, updated);
}
