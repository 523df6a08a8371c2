// Commit: a seat's disk (golden + delta, byte for byte) becomes a new image version. Each
// commit is journalled in seat_operations before it starts, so one a crash interrupted is
// settled at the next start (recoverCommits). docs/decisions/0011-seat-commit.md has the crash
// guarantees.
import { LanbootError } from '../log/errors.js';
import { errorFields } from '../log/logger.js';
import { validateName, type SeatMode } from '../config/names.js';
import type { ImageVersionRow } from '../db/images.js';
import type { SeatRow } from '../db/seats.js';
import type { DiskSpec } from '../native/index.js';
import { exclusive, requireSeat, type SeatContext } from './context.js';
import { dropDeltaFilesSync, spaceOrIo, waitDeltaReleased } from './delta-files.js';
import { pushTargetOrLog, versionOf } from './engine-sync.js';
import type { CommitRequest } from './input.js';
import { seatDetails, sessionCounts, type CommitResult } from './views.js';

/** The image store records this as the version's source: how a restart finds out whether
 *  an interrupted commit got as far as publishing. */
function commitSource(seatName: string, opId: number): string {
  return `commit of seat ${seatName} (operation ${opId})`;
}

/** The mode a seat has once its commit is published: an install seat's blank disk is now an
 *  image, and the seat becomes its maintenance seat unless the image already has one. */
function modeAfterCommit(ctx: SeatContext, seat: SeatRow, published: { imageId: number }): SeatMode {
  return seat.mode === 'install' ? (ctx.seats.maintenanceSeatOf(published.imageId) ? 'persistent' : 'maintenance') : seat.mode;
}

function finishCommit(ctx: SeatContext, seat: SeatRow, published: ImageVersionRow, mode: SeatMode, opId: number, message: string): void {
  const { seats } = ctx;
  seats.transaction(() => {
    seats.setImage(seat.id, published.imageId, published.number);
    if (mode !== seat.mode) seats.setMode(seat.id, mode);
    seats.finishOperation(opId, 'done', message, published.number);
  });
}

/** Makes the seat's disk a new image version: a maintenance seat's image gets its next
 *  version; an install seat's blank disk becomes the first version of a new image (or the
 *  next of an existing one) named by `request.image`. The seat must have no sessions unless
 *  `force` (which ends them); its target stays down during the export so nobody writes.
 *  Afterwards the seat is on the new version with an empty delta; other seats stay on their
 *  versions until moved. */
export async function commitSeat(ctx: SeatContext, name: string, request: CommitRequest): Promise<CommitResult> {
  const seat = requireSeat(ctx, name);
  let imageName: string;
  if (seat.mode === 'maintenance') {
    if (request.image !== null && request.image !== seat.imageName) {
      throw new LanbootError('LANBOOT_INVALID_INPUT', `image: a maintenance seat commits to its own image (${seat.imageName}); drop --image`);
    }
    imageName = seat.imageName!;
  } else if (seat.mode === 'install') {
    if (request.image === null || request.image === '') {
      throw new LanbootError('LANBOOT_INVALID_INPUT', `image: name the image the install seat's disk becomes (--image NAME: a new image, or the next version of an existing one)`);
    }
    imageName = validateName(request.image, 'image', 'image');
  } else {
    throw new LanbootError(
      'LANBOOT_SEAT_CONFLICT',
      `seat ${seat.name} is in ${seat.mode} mode: only a maintenance seat (\`lanboot client mode ${seat.name} maintenance\`) or an install seat can be committed`,
      { seat: seat.name },
    );
  }
  const publisher = ctx.publisher;
  if (!publisher) throw new LanbootError('LANBOOT_INTERNAL', 'commit is not available: no image store to publish to');
  const sessions = sessionCounts(ctx).get(seat.targetIqn) ?? 0;
  if (sessions > 0 && !request.force) {
    throw new LanbootError(
      'LANBOOT_SEAT_BUSY',
      `seat ${seat.name} has ${sessions} iSCSI session(s): shut the PC down first, or commit with --force (ends the sessions; writes in flight are lost)`,
      { seat: seat.name },
    );
  }
  return exclusive(ctx.state, seat, 'commit', async () => {
    const { seats, images, engine } = ctx;
    const version = versionOf(ctx, seat);
    const disk: DiskSpec = {
      goldenPath: version ? version.filePath : '',
      deltaDir: ctx.layout.seatDeltaDir(seat.id),
      sizeBytes: version ? 0 : seat.sizeBytes ?? 0,
    };
    const totalBytes = version ? Math.floor(version.sizeBytes / 512) * 512 : seat.sizeBytes ?? 0;
    // Journal first: a crash from here on is found at the next start (recoverCommits).
    const opId = seats.startOperation({ seatName: seat.name, kind: 'commit', imageName, baseVersion: images.maxVersionNumber(imageName) });
    const log = ctx.log.child({ seat: seat.name, targetIqn: seat.targetIqn, image: imageName, operation: opId });
    const progress = { bytesDone: 0, totalBytes };
    ctx.state.progress.set(seat.name, progress);
    log.info({ sessions, force: request.force, fromImage: seat.imageName, fromVersion: seat.imageVersion, totalBytes }, 'commit started');
    // Target down: sessions end, nobody logs in, the delta is closed (flushed) so the
    // export can open it.
    engine.removeTarget(seat.targetIqn);
    let published: ImageVersionRow;
    try {
      published = await publisher.publishWritten(
        imageName,
        async (partialPath, onProgress) => {
          await waitDeltaReleased(ctx, seat);
          await ctx.tools.exportDisk(disk, partialPath, (done) => {
            progress.bytesDone = done;
            onProgress?.(done);
          });
        },
        { source: commitSource(seat.name, opId) },
      );
    } catch (error) {
      ctx.state.progress.delete(seat.name);
      const failure = spaceOrIo(error, `commit of seat ${seat.name} failed (no version was published; the seat's changes are untouched)`, seat.name);
      seats.finishOperation(opId, 'failed', failure.message);
      pushTargetOrLog(ctx, seat);
      log.error(errorFields(error), 'commit failed; the seat is back on its version with its changes');
      throw failure;
    }
    ctx.state.progress.delete(seat.name);
    // The version is published (complete and recorded). The seat's changes now live in it:
    // drop the delta, then point the seat at the new version. A crash between these
    // steps is completed by recoverCommits.
    dropDeltaFilesSync(ctx, seat);
    const nextMode = modeAfterCommit(ctx, seat, published);
    finishCommit(ctx, seat, published, nextMode, opId, `commit of seat ${seat.name} published ${imageName} v${published.number}`);
    const updated = requireSeat(ctx, seat.name);
    pushTargetOrLog(ctx, updated);
    log.info({ version: published.number, sizeBytes: published.sizeBytes, sha256: published.sha256, mode: nextMode }, 'commit published a new version; the seat is on it with an empty delta');
    return { seat: seatDetails(ctx, updated), image: imageName, version: published.number, sizeBytes: published.sizeBytes, sha256: published.sha256 };
  });
}

/** Settles commits a crash interrupted (run at start, before the seats are registered with
 *  the engine: it decides which version and delta each is registered with). A commit whose
 *  version was published is completed (the seat moves to it, its delta, now part of the
 *  version, is dropped); one whose version was not is marked interrupted, and the seat keeps
 *  its delta. Returns what it did, also logged and shown in status warnings. */
export function recoverCommits(ctx: SeatContext): { completed: string[]; interrupted: string[] } {
  const { seats } = ctx;
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
      const version = ctx.images.getVersion(published.imageId, published.number)!;
      dropDeltaFilesSync(ctx, seat);
      const nextMode = modeAfterCommit(ctx, seat, version);
      const message = `commit of seat ${op.seatName} was interrupted after ${op.imageName} v${version.number} was published; completed at start: the seat is on v${version.number}`;
      finishCommit(ctx, seat, version, nextMode, op.id, message);
      ctx.log.warn({ seat: op.seatName, image: op.imageName, version: version.number, operation: op.id }, message);
      result.completed.push(op.seatName);
    } else {
      const message = `commit of seat ${op.seatName} was interrupted (the supervisor stopped) before a new version of ${op.imageName} was published: no version was created, the seat's changes are untouched; commit again`;
      seats.finishOperation(op.id, 'interrupted', message);
      ctx.log.warn({ seat: op.seatName, image: op.imageName, operation: op.id }, message);
      result.interrupted.push(op.seatName);
    }
  }
  return result;
}
