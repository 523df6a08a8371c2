// The extension point other parts of lanboot (DHCP, TFTP, boot scripts, the web UI, mDNS)
// plug into the supervisor with, without editing its start/stop sequence.
import type { Hono } from 'hono';
import type { Logger } from 'pino';
import type { LanbootConfig } from '../config/config.js';
import type { Db } from '../db/database.js';
import type { ImageRepository } from '../db/images.js';
import type { SeatRepository } from '../db/seats.js';
import type { SeatManager } from '../iscsi/seat-manager.js';
import type { ImageStore } from '../storage/image-store.js';
import type { DataLayout } from '../storage/layout.js';

export interface MountContext {
  config: LanbootConfig;
  logger: Logger;
  db: Db;
  layout: DataLayout;
  images: ImageRepository;
  imageStore: ImageStore;
  seatRepository: SeatRepository;
  seats: SeatManager;
  /** The LAN-facing HTTP app (boot scripts, web UI). */
  httpApp: Hono;
  /** The local API app on DATA/lanboot.sock (trusted: the CLI). */
  localApi: Hono;
}

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
