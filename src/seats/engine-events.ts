// What the native engine reports about sessions (logins, logouts, refused logins, fresh starts, errors):
// logged with the IQNs, and so the client, in context. A write refused for lack of space
// marks the seat full for the space warnings; a failing data disk marks it faulty.
import type { Logger } from 'pino';
import type { EngineEvent } from '../native/index.js';
import type { SpaceMonitor } from './space-monitor.js';

export function handleEngineEvent(log: Logger, space: SpaceMonitor, event: EngineEvent): void {
  const { type, ...fields } = event;
  switch (type) {
    case 'login':
      log.info({ event: type, ...fields }, event.discovery ? 'iSCSI discovery session' : 'iSCSI login');
      break;
    case 'logout':
      log.info({ event: type, ...fields }, 'iSCSI logout');
      break;
    case 'login-failed':
      log.warn({ event: type, ...fields }, 'iSCSI login refused');
      break;
    case 'fresh-start': {
      if (event.reset) {
        const seat = space.noteReset(event.targetIqn);
        log.info({ event: type, seat, ...fields }, 'fresh seat reset at the first login of a new boot');
      } else {
        log.warn({ event: type, ...fields }, 'fresh seat not reset at login: another session is still logged in (turn CHAP on to let a new boot prove itself)');
      }
      break;
    }
    case 'error':
      if (event.code === 'LANBOOT_NO_SPACE') {
        // Rate limited in the addon (one per seat per 10 s): the seat is full.
        const reason = (event as { reason?: string }).reason ?? 'quota';
        const seat = space.noteFull(event.targetIqn, reason);
        log.warn({ event: type, seat, reason, ...fields }, event.message);
        space.check();
        break;
      }
      if (event.code === 'LANBOOT_DISK_FAULT') {
        // Rate limited in the addon (one per seat per 10 s); reason = read, write or flush.
        const operation = event.reason ?? 'read';
        const seat = space.noteDiskFault(event.targetIqn, operation, event.message);
        log.error({ event: type, seat, ...fields }, event.message);
        space.check();
        break;
      }
      log.error({ event: type, ...fields }, 'iSCSI session error');
      break;
    default:
      log.warn({ event }, 'unknown iSCSI engine event');
  }
}
