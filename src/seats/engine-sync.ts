// Keeps the native engine's targets in step with the seats: the one place a seat's row
// becomes a TargetConfig and is pushed to the engine.
import { LanbootError } from '../log/errors.js';
import { errorFields } from '../log/logger.js';
import type { ImageVersionRow } from '../db/images.js';
import type { SeatRow } from '../db/seats.js';
import type { TargetConfig } from '../native/index.js';
import type { SeatContext } from './context.js';
import { removeCrashLeftovers } from './delta-files.js';

/** The seat's golden version; null for a blank (install) disk. */
export function versionOf(ctx: SeatContext, seat: SeatRow): ImageVersionRow | null {
  if (seat.imageId === null || seat.imageVersion === null) return null;
  const version = ctx.images.getVersion(seat.imageId, seat.imageVersion);
  if (!version) {
    // The schema's foreign key makes this unreachable short of a hand-edited database.
    throw new LanbootError('LANBOOT_INTERNAL', `seat ${seat.name}: image ${seat.imageName} v${seat.imageVersion} is not recorded`);
  }
  return version;
}

/** version: the golden version, or null for a blank (install) disk of seat.sizeBytes. */
function targetConfig(ctx: SeatContext, seat: SeatRow, version: ImageVersionRow | null): TargetConfig {
  const config: TargetConfig = {
    iqn: seat.targetIqn,
    goldenPath: version ? version.filePath : '',
    deltaDir: ctx.layout.seatDeltaDir(seat.id),
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

/** Adds or updates the seat's target. `version` defaults to the seat's own (from its row);
 *  a caller switching versions passes the one it switches to. Throws what the engine throws.
 *  The engine keeps the target's sessions when the backing (golden, delta, size) is the same,
 *  so a new quota or CHAP secret applies without dropping the PC. */
export function pushTarget(ctx: SeatContext, seat: SeatRow, version?: ImageVersionRow | null): void {
  ctx.engine.setTarget(targetConfig(ctx, seat, version === undefined ? versionOf(ctx, seat) : version));
}

/** Sets the seat's target up again from its DB row (after a snapshot/restore/commit or a
 *  failure); logged, not thrown: the operation's own outcome is what the caller reports. */
export function pushTargetOrLog(ctx: SeatContext, seat: SeatRow): void {
  const fresh = ctx.seats.findByName(seat.name) ?? seat;
  try {
    pushTarget(ctx, fresh);
  } catch (error) {
    ctx.log.error({ seat: fresh.name, targetIqn: fresh.targetIqn, ...errorFields(error) }, 'cannot set the seat\'s iSCSI target up again');
  }
}

/** Registers every seat with the engine (at start, after interrupted commits are settled).
 *  A seat that fails is logged and skipped, so one broken seat does not keep the others
 *  from booting. */
export function registerTargets(ctx: SeatContext): { registered: number; failed: number } {
  let registered = 0;
  let failed = 0;
  for (const seat of ctx.seats.list()) {
    removeCrashLeftovers(ctx, seat);
    try {
      pushTarget(ctx, seat);
      registered++;
    } catch (error) {
      failed++;
      ctx.log.error({ seat: seat.name, targetIqn: seat.targetIqn, ...errorFields(error) }, 'cannot register seat with the iSCSI engine');
    }
  }
  return { registered, failed };
}
