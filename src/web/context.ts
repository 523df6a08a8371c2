// What the web parts (API routes, UI pages) get from the supervisor, and where a request to
// the API router came from. Imports no web module, so every web module may import it.
import type { Context } from 'hono';
import type { Logger } from 'pino';
import type { Db } from '../db/database.js';
import type { ImageRepository } from '../db/images.js';
import type { SeatManager } from '../seats/index.js';
import type { ImageStore } from '../storage/image-store.js';
import type { ImportManager } from '../storage/import-manager.js';
import type { UsbWatcher } from '../storage/usb.js';
import type { StatusView } from './views.js';

export interface AppContext {
  logger: Logger;
  status(): StatusView;
  images: ImageRepository;
  imageStore: ImageStore;
  /** Image import jobs (src/storage/import-manager.ts). */
  imports: ImportManager;
  /** USB sticks announced by udev (src/storage/usb.ts). */
  usb: UsbWatcher;
  seats: SeatManager;
  /** For the web UI's admin password and sessions (migration 0500). */
  db: Db;
  /** Bytes read + written per target IQN over its live iSCSI sessions (one engine call), for
   *  the seats page's throughput. */
  sessionBytes(): Map<string, number>;
}

/** Which front app forwarded a request to the API router. */
export type ApiOrigin = 'local' | 'lan';

/** 'local' = the trusted Unix socket (the CLI), 'lan' = an authenticated LAN session. Route
 *  modules use this for what only the box's own user may do (e.g. import from a path on the
 *  box). */
export function apiOriginOf(c: Context): ApiOrigin {
  return (c.env as { lanbootOrigin?: ApiOrigin } | undefined)?.lanbootOrigin ?? 'local';
}
