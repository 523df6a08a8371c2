// What network boot asks of seats: which seat a PC's MAC belongs to, and the seat made ready
// for the boot script the PC is fetching.
import { LanbootError } from '../log/errors.js';
import { requireSeat, type SeatContext } from './context.js';
import { pushTarget } from './engine-sync.js';
import { generateChapSecret } from './identity.js';
import { resetSeat } from './lifecycle.js';
import { seatDetails, type SeatDetails } from './views.js';

/** The seat a PC's MAC (lower-case colon form) belongs to, if any. */
export function findSeatByMac(ctx: SeatContext, mac: string): SeatDetails | undefined {
  const seat = ctx.seats.findByMac(mac);
  return seat && seatDetails(ctx, seat);
}

/** Called when a seat's PC fetches its boot script: a fresh seat starts from golden again
 *  (its delta dropped here, not at each iSCSI login: the OS logs in again after iPXE), and
 *  CHAP secrets are replaced so a secret seen in one boot script is good for that boot
 *  only. Returns what the boot script needs. */
export function prepareForBoot(ctx: SeatContext, name: string): SeatDetails {
  let seat = requireSeat(ctx, name);
  if (ctx.state.busy.has(seat.name)) {
    throw new LanbootError('LANBOOT_SEAT_BUSY', `seat ${seat.name} is busy (${ctx.state.busy.get(seat.name)}); the PC retries`, { seat: seat.name });
  }
  if (seat.mode === 'fresh') resetSeat(ctx, seat.name);
  if (seat.chap || seat.mutualChap) {
    const chapSecret = seat.chap ? generateChapSecret() : null;
    let mutualSecret: string | null = null;
    if (seat.mutualChap) {
      do mutualSecret = generateChapSecret();
      while (mutualSecret === chapSecret);
    }
    ctx.seats.setChapSecrets(seat.id, chapSecret, mutualSecret);
    seat = requireSeat(ctx, seat.name);
    try {
      // Same backing, so the engine keeps the seat's sessions; only new logins see the
      // new secret.
      pushTarget(ctx, seat);
    } catch (error) {
      throw new LanbootError('LANBOOT_ENGINE_FAILED', `seat ${seat.name}: cannot update CHAP: ${(error as Error).message}`, { seat: seat.name }, { cause: error });
    }
    ctx.log.info({ seat: seat.name, targetIqn: seat.targetIqn, mac: seat.mac }, 'seat CHAP secret rotated for a boot');
  }
  return seatDetails(ctx, seat);
}
