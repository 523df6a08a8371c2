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
 *  (see below), and CHAP secrets are replaced so a secret seen in one boot script is good for
 *  that boot only. Returns what the boot script needs. */
export function prepareForBoot(ctx: SeatContext, name: string): SeatDetails {
  let seat = requireSeat(ctx, name);
  if (ctx.state.busy.has(seat.name)) {
    throw new LanbootError('LANBOOT_SEAT_BUSY', `seat ${seat.name} is busy (${ctx.state.busy.get(seat.name)}); the PC retries`, { seat: seat.name });
  }
  // A fresh seat starts each boot from golden, but a script fetch is not proof of a boot:
  // any host on the LAN can ask for one. The disk is reset here only while nobody is logged
  // in to it; otherwise the engine resets it at the first login of the new boot (which, with
  // CHAP, only the holder of the secret below can make) and ends the previous boot's
  // sessions. Only that first login resets: the OS logs in again after iPXE.
  const fresh = seat.mode === 'fresh';
  if (fresh) {
    const open = ctx.engine.sessions().filter((s) => s.targetIqn === seat.targetIqn).length;
    if (open === 0) {
      resetSeat(ctx, seat.name);
      seat = requireSeat(ctx, seat.name);
    } else {
      ctx.log.info({ seat: seat.name, targetIqn: seat.targetIqn, mac: seat.mac, sessions: open }, "fresh seat has a logged-in session: its disk is reset at the next boot's login, not now");
    }
  }
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
  if (fresh) {
    try {
      ctx.engine.armFreshStart(seat.targetIqn);
    } catch (error) {
      throw new LanbootError('LANBOOT_ENGINE_FAILED', `seat ${seat.name}: cannot arm the fresh start: ${(error as Error).message}`, { seat: seat.name }, { cause: error });
    }
  }
  return seatDetails(ctx, seat);
}
