// The JSON the /api/v1 routes answer with, one definition per view. The server builds them,
// the web UI and the CLI read them (`import type`), so the three cannot drift apart. Views
// that a part of the supervisor owns (seats, import jobs, USB sticks, boot steps) are defined
// next to the code that builds them and only named here.
export type { BootEvent as BootEventView, WaitingPc as WaitingPcView } from '../boot/boot-store.js';
export type { CommitResult, SeatBootView, SeatDetails, SeatSummary, SeatTraceView, SnapshotView, SpaceReport } from '../seats/index.js';
export type { ImportJob as ImportJobView } from '../storage/import-manager.js';
export type { UsbDevice as UsbDeviceView } from '../storage/usb.js';

/** GET /api/v1/status. */
export interface StatusView {
  version: string;
  dataDir: string;
  iscsi: { host: string; port: number };
  http: { host: string; port: number };
  /** host:port PCs use for iSCSI. */
  portal: string;
  dhcp: { mode: string; interface: string | null; running: boolean };
  seats: number;
  images: number;
  sessions: number;
  uptimeSeconds: number;
  /** Per plugged-in service (DHCP, TFTP, ...): what it reports. */
  services: Record<string, unknown>;
  /** Things the user should act on: a seat near/at its quota, the data disk low, an
   *  interrupted or failed commit (src/seats/views.ts SpaceWarning). */
  warnings?: { code: string; message: string; seat?: string }[];
}

/** One version of a golden image. */
export interface VersionView {
  number: number;
  sizeBytes: number;
  sha256: string;
  createdAt: string;
  path: string;
  source: string | null;
  current: boolean;
  /** Names of the seats whose disk is this version. */
  seats: string[];
}

/** An ISO file kept with an image (`path`: where it is on the box). */
export interface IsoView {
  fileName: string;
  sizeBytes: number;
  sha256: string;
  source: string | null;
  createdAt: string;
  path: string;
}

/** GET /api/v1/images (a list of these) and /api/v1/images/:name. */
export interface ImageView {
  name: string;
  latestVersion: number;
  /** The version new seats start on and resets move seats to (0 = none, ISO files only). */
  currentVersion: number;
  versions: VersionView[];
  isos: IsoView[];
}

/** GET /api/v1/isos: one ISO file of the library, with the image it belongs to. */
export interface IsoListEntry extends IsoView {
  image: string;
  /** What iPXE fetches, on the LAN HTTP port, without login. */
  url: string;
}
