// The extension point other parts of lanboot (DHCP, TFTP, boot scripts, the web UI, mDNS)
// plug into the supervisor with, without editing its start/stop sequence.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Hono } from 'hono';
import type { Logger } from 'pino';
import type { Db } from '../db/database.js';
import type { ImageRepository } from '../db/images.js';
import type { SeatRepository } from '../db/seats.js';
import type { SeatManager } from '../seats/index.js';
import type { ImageStore } from '../storage/image-store.js';
import type { DataLayout } from '../storage/layout.js';
import type { ImportManager } from '../storage/import-manager.js';
import type { UsbWatcher } from '../storage/usb.js';

/** What the supervisor owns and shares. The configuration is not in here: each service gets
 *  its own slice of it when it is built (services.ts). */
export interface MountContext {
  logger: Logger;
  db: Db;
  layout: DataLayout;
  images: ImageRepository;
  imageStore: ImageStore;
  /** Image import jobs and USB sticks (src/storage/import-manager.ts, usb.ts). */
  imports: ImportManager;
  usb: UsbWatcher;
  seatRepository: SeatRepository;
  seats: SeatManager;
  /** The LAN-facing HTTP app, open to anyone on the LAN: only routes that must work without a
   *  login (the iPXE boot endpoints) and reveal nothing about other seats go here. */
  httpApp: Hono;
  /** Handlers that see each LAN HTTP request before `httpApp`, for responses written straight
   *  to the connection (the ISO files' sendfile bodies). Return true when the request is
   *  theirs; they answer it themselves. Open to anyone on the LAN, like `httpApp`'s routes. */
  lanRequestHandlers: LanRequestHandler[];
  /** The /api/v1 router: served on DATA/lanboot.sock without auth (the CLI) and on the LAN
   *  HTTP port behind the web UI's session auth + CSRF (src/web/app.ts). */
  api: Hono;
}

export type LanRequestHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

export interface StartContext extends MountContext {
  /** Bound ports (resolved when the config said 0). */
  iscsiPort: number;
  httpPort: number;
  /** The address PCs reach this box at (the --listen address or the first external IPv4). */
  advertisedHost: string;
}

export interface SupervisorService {
  /** Short name for logs and status ("dhcp", "tftp"). */
  name: string;
  /** Before any listener accepts requests: add routes (hono cannot add routes once it has
   *  matched a request). */
  mount?(ctx: MountContext): void;
  /** After the iSCSI, HTTP and local API listeners are bound. Throwing stops the start. */
  start?(ctx: StartContext): Promise<void> | void;
  /** Graceful stop; services stop in reverse start order, before the engine and the DB. */
  stop?(): Promise<void> | void;
  /** Shown under `services` in GET /api/v1/status. */
  status?(): unknown;
}
