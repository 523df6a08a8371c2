// The supervisor: owns the state (SQLite), the golden image store, the iSCSI engine (native
// addon) and the HTTP / local API servers, and starts and stops them in order.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer, getRequestListener } from '@hono/node-server';
import type { Hono } from 'hono';
import type { Logger } from 'pino';
import type { LanbootConfig } from '../config/config.js';
import { openDatabase, migrate, type Db } from '../db/database.js';
import { ImageRepository } from '../db/images.js';
import { SeatRepository } from '../db/seats.js';
import { errorCodeOf, LanbootError } from '../log/errors.js';
import { errorFields } from '../log/logger.js';
import { ImageStore } from '../storage/image-store.js';
import { ImportManager } from '../storage/import-manager.js';
import { UsbWatcher } from '../storage/usb.js';
import { DataLayout } from '../storage/layout.js';
import { SeatManager, type DiskTools } from '../seats/index.js';
import type { EngineEvent, EngineFactory, IscsiEngine, NativeAddon, PrewarmFile, VerifiedCopy } from '../native/index.js';
import { createApps, type WebApps } from '../web/app.js';
import type { AppContext } from '../web/context.js';
import type { StatusView } from '../web/views.js';
import { AuthStore } from '../web/auth/sessions.js';
import { acquireDataLock, type DataLock } from '../system/data-lock.js';
import { advertisedHost } from '../system/network.js';
import { SystemdNotifier, type SdNotify } from '../system/systemd.js';
import { lanbootVersion } from '../system/version.js';
import { createPrivateFile, tightenDatabaseFiles, tightenDataDir } from '../storage/permissions.js';
import { applyLanHttpLimits } from './http-limits.js';
import type { LanRequestHandler, MountContext, SupervisorService } from './service.js';

/** sun_path is 108 bytes on Linux, including the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;

export interface SupervisorOptions {
  config: LanbootConfig;
  logger: Logger;
  /** The addon's parts the supervisor hands on (`lanboot serve` loads the addon once). */
  native: SupervisorNative;
  /** DHCP, TFTP, boot scripts, ...: mounted and started in this order, stopped in reverse. */
  services?: SupervisorService[];
}

/** What the supervisor takes from the native addon, each slice for the part that uses it. */
export interface SupervisorNative {
  /** The iSCSI engine (a stand-in in tests of the control plane). */
  engineFactory: EngineFactory;
  /** For the systemd notifier. */
  sdNotify: SdNotify;
  /** For the seats: commit export, snapshot copies, delta release. */
  diskTools: DiskTools;
  /** For image imports: the raw copy. */
  verifiedCopy: VerifiedCopy;
  /** For the seats' pre-warm of golden boot sets (absent: none). */
  prewarmFile?: PrewarmFile;
}

export function supervisorNative(addon: NativeAddon): SupervisorNative {
  return {
    engineFactory: (onEvent) => new addon.IscsiEngine(onEvent),
    sdNotify: addon.sdNotify,
    diskTools: { exportDisk: addon.exportDisk, copySparseFile: addon.copySparseFile, deltaIsIdle: addon.deltaIsIdle },
    verifiedCopy: addon.verifiedCopy,
    prewarmFile: addon.prewarmFile,
  };
}

/** How far a new box is set up, for the first-run hint at the terminal. */
export interface FirstRunState {
  adminPasswordSet: boolean;
  images: number;
  seats: number;
}

export interface StartedSupervisor {
  iscsiPort: number;
  httpPort: number;
  socketPath: string;
}

function listen(server: Server, target: { port: number; host: string } | { path: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once('error', onError);
    const done = () => {
      server.off('error', onError);
      resolve();
    };
    if ('path' in target) server.listen(target.path, done);
    else server.listen(target.port, target.host, done);
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    // Keep-alive and in-flight connections would hold close() open.
    server.closeAllConnections();
  });
}

export class Supervisor {
  readonly layout: DataLayout;
  private readonly log: Logger;
  private lock: DataLock | undefined;
  private db: Db | undefined;
  private engine: IscsiEngine | undefined;
  private httpServer: Server | undefined;
  private apiServer: Server | undefined;
  private seatManager: SeatManager | undefined;
  private imports: ImportManager | undefined;
  private usb: UsbWatcher | undefined;
  private notifier: SystemdNotifier | undefined;
  private iscsiPort = 0;
  private httpPort = 0;
  private readonly startedAt = Date.now();
  private stopping: Promise<void> | undefined;
  private readonly startedServices: SupervisorService[] = [];
  private apps: WebApps | undefined;

  constructor(private readonly options: SupervisorOptions) {
    this.layout = new DataLayout(options.config.dataDir);
    this.log = options.logger;
  }

  /** The hono apps (after start): tests enumerate their routes. */
  get webApps(): WebApps | undefined {
    return this.apps;
  }

  get portal(): string {
    return `${advertisedHost(this.options.config.listen)}:${this.iscsiPort}`;
  }

  private seatWarnings(): { code: string; message: string; seat?: string }[] {
    try {
      return this.seatManager?.warnings() ?? [];
    } catch (error) {
      return [{ code: 'STATUS_INCOMPLETE', message: `cannot check seats and space: ${(error as Error).message}` }];
    }
  }

  status(): StatusView {
    const { config } = this.options;
    let sessions = 0;
    try {
      sessions = this.engine?.sessions().length ?? 0;
    } catch {
      // Status must answer even when the engine cannot; the engine logs its own errors.
    }
    const images = this.db ? (this.db.prepare('SELECT COUNT(*) AS n FROM images').get() as { n: number }).n : 0;
    const seats = this.db ? (this.db.prepare('SELECT COUNT(*) AS n FROM seats').get() as { n: number }).n : 0;
    return {
      version: lanbootVersion(),
      dataDir: config.dataDir,
      iscsi: { host: config.listen, port: this.iscsiPort },
      http: { host: config.listen, port: this.httpPort },
      portal: this.portal,
      dhcp: { mode: config.dhcp.mode, interface: config.interface ?? null, running: this.startedServices.some((s) => s.name === 'dhcp') },
      seats,
      images,
      sessions,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      warnings: this.seatWarnings(),
      services: Object.fromEntries(
        (this.options.services ?? []).map((service) => {
          try {
            return [service.name, service.status?.() ?? { started: this.startedServices.includes(service) }];
          } catch (error) {
            return [service.name, { error: (error as Error).message }];
          }
        }),
      ),
    };
  }

  /** After start. */
  firstRunState(): FirstRunState {
    const db = this.db;
    if (!db) throw new LanbootError('LANBOOT_INTERNAL', 'the supervisor is not running');
    const count = (table: 'images' | 'seats') => (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
    return { adminPasswordSet: new AuthStore(db).isSetUp(), images: count('images'), seats: count('seats') };
  }

  async start(): Promise<StartedSupervisor> {
    const { config } = this.options;
    const label = config.dataDirLabel;
    try {
      if (Buffer.byteLength(this.layout.socket) > MAX_SOCKET_PATH_BYTES) {
        throw new LanbootError('LANBOOT_CONFIG_INVALID', `--data: ${config.dataDir} is too long for the local API socket (a Unix socket path has at most ${MAX_SOCKET_PATH_BYTES} bytes)`);
      }
      await fsp.mkdir(config.dataDir, { recursive: true, mode: 0o700 });
      // An existing directory keeps its old mode: tightened before anything secret is read.
      const tightenedDir = tightenDataDir(this.layout);
      this.lock = await acquireDataLock(this.layout.lockFile, this.layout.socket, label);

      const tightenedDb = tightenDatabaseFiles(this.layout);
      // A new database is created 0600 here, not with the umask's 0644: SQLite gives its -wal
      // and -shm files the same mode, and opens an empty file as a new database.
      createPrivateFile(this.layout.database);
      this.db = openDatabase(this.layout.database);
      const { applied } = await migrate(this.db);
      const tightened = [...tightenedDir, ...tightenedDb];
      if (tightened.length > 0) this.log.warn({ tightened }, 'data directory was open to other users: permissions tightened');
      if (applied.length > 0) this.log.info({ migrations: applied }, 'database migrated');
      const images = new ImageRepository(this.db);
      const seats = new SeatRepository(this.db);

      const imageStore = new ImageStore(this.layout, images);
      const cleaned = await imageStore.cleanup();
      if (cleaned.removedPartials.length > 0 || cleaned.removedUnrecorded.length > 0) {
        this.log.warn(cleaned, 'removed unfinished image imports left by an earlier run');
      }
      const imports = new ImportManager({ db: this.db, store: imageStore, layout: this.layout, logger: this.log, verifiedCopy: this.options.native.verifiedCopy });
      this.imports = imports;
      const interrupted = await imports.recover();
      if (interrupted.length > 0) this.log.warn({ imports: interrupted }, 'image imports interrupted by an earlier run marked failed');
      const usb = new UsbWatcher({ layout: this.layout, imports, logger: this.log, ...config.usb });
      this.usb = usb;
      await usb.start();
      await fsp.mkdir(this.layout.seatsDir, { recursive: true });

      let seatManager: SeatManager | undefined;
      const onEvent = (event: EngineEvent) => {
        if (seatManager) seatManager.onEngineEvent(event);
        else this.log.info({ event }, 'iSCSI engine event');
      };
      try {
        this.engine = this.options.native.engineFactory(onEvent);
        this.iscsiPort = this.engine.listen(config.listen, config.iscsiPort);
      } catch (error) {
        throw new LanbootError(
          'LANBOOT_ENGINE_FAILED',
          `--iscsi-port: cannot start the iSCSI engine on ${config.listen}:${config.iscsiPort}: ${(error as Error).message}`,
          undefined,
          { cause: error },
        );
      }
      const manager = new SeatManager({ layout: this.layout, images, seats, engine: this.engine, logger: this.log, portal: () => this.portal, publisher: imageStore, diskTools: this.options.native.diskTools, prewarmFile: this.options.native.prewarmFile });
      seatManager = manager;
      this.seatManager = manager;
      const registered = manager.registerAll();
      manager.startMonitor();
      // Neither waits: the box is ready while the boot sets are read in the background.
      imageStore.events.on('version', (version) => void manager.prewarm(version));
      void manager.prewarmInUse();

      const ctx: AppContext = { logger: this.log, status: () => this.status(), images, imageStore, imports, usb, seats: manager, db: this.db, sessionBytes: () => manager.sessionBytes() };
      const apps = createApps(ctx);
      this.apps = apps;
      const httpApp = apps.http;
      const localApi = apps.local;
      const services = this.options.services ?? [];
      const lanRequestHandlers: LanRequestHandler[] = [];
      const mountContext: MountContext = {
        logger: this.log,
        db: this.db,
        layout: this.layout,
        images,
        imageStore,
        imports,
        usb,
        seatRepository: seats,
        seats: manager,
        httpApp,
        lanRequestHandlers,
        api: apps.api,
      };
      for (const service of services) service.mount?.(mountContext);
      this.httpServer = await this.serveHttp(httpApp, { port: config.httpPort, host: config.listen }, '--http-port', lanRequestHandlers);
      this.httpPort = (this.httpServer.address() as AddressInfo).port;
      this.apiServer = await this.serveLocalApi(localApi);

      const startContext = { ...mountContext, iscsiPort: this.iscsiPort, httpPort: this.httpPort, advertisedHost: advertisedHost(config.listen) };
      for (const service of services) {
        try {
          await service.start?.(startContext);
        } catch (error) {
          throw new LanbootError(
            errorCodeOf(error),
            `cannot start ${service.name}: ${(error as Error).message}`,
            { service: service.name },
            { cause: error },
          );
        }
        this.startedServices.push(service);
      }
      // The configuration decided DHCP is on; a caller that built the services by hand may
      // have left it out. --interface with --dhcp off is not that: nothing to warn about.
      if (config.dhcp.mode !== 'off' && !services.some((s) => s.name === 'dhcp')) {
        this.log.warn({ interface: config.dhcp.interface, dhcp: config.dhcp.mode }, 'DHCP is not started: no DHCP service was built for this configuration');
      }

      this.log.info(
        {
          iscsiPort: this.iscsiPort,
          httpPort: this.httpPort,
          listen: config.listen,
          portal: this.portal,
          socket: this.layout.socket,
          dataDir: config.dataDir,
          seats: registered.registered,
          seatsFailed: registered.failed,
          version: lanbootVersion(),
        },
        'ready',
      );
      this.notifier = new SystemdNotifier(this.options.native.sdNotify, this.log, config.systemd);
      this.notifier.ready(`serving ${registered.registered} seats; iSCSI ${config.listen}:${this.iscsiPort}, HTTP ${config.listen}:${this.httpPort}`);
      const watchdogMs = this.notifier.startWatchdog();
      if (watchdogMs !== undefined) this.log.info({ intervalMs: watchdogMs }, 'systemd watchdog pings on');
      return { iscsiPort: this.iscsiPort, httpPort: this.httpPort, socketPath: this.layout.socket };
    } catch (error) {
      await this.shutdown();
      throw error;
    }
  }

  private async serveHttp(app: Hono, target: { port: number; host: string }, setting: string, handlers: readonly LanRequestHandler[]): Promise<Server> {
    const honoListener = getRequestListener(app.fetch);
    const server = http.createServer((req, res) => {
      for (const handler of handlers) if (handler(req, res)) return;
      void honoListener(req, res);
    });
    applyLanHttpLimits(server);
    try {
      await listen(server, target);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const why = code === 'EADDRINUSE' ? 'the port is in use' : code === 'EACCES' ? 'permission denied (ports below 1024 need root)' : (error as Error).message;
      throw new LanbootError('LANBOOT_CONFIG_INVALID', `${setting}: cannot listen on ${target.host}:${target.port}: ${why}`, undefined, { cause: error });
    }
    return server;
  }

  private async serveLocalApi(app: Hono): Promise<Server> {
    const socketPath = this.layout.socket;
    // We hold the data lock and nothing answered on the socket: a file there is stale.
    fs.rmSync(socketPath, { force: true });
    const server = createAdaptorServer({ fetch: app.fetch }) as Server;
    // The socket is the CLI's trusted channel: create it 0600 from the start (umask), not
    // chmod it after a window in which anyone could connect.
    // bind(2) happens synchronously inside server.listen(), so the umask is restored right
    // after the call, before any other code (native threads aside) can create files.
    const previousUmask = process.umask(0o177);
    let listening: Promise<void>;
    try {
      listening = listen(server, { path: socketPath });
    } finally {
      process.umask(previousUmask);
    }
    await listening;
    fs.chmodSync(socketPath, 0o600);
    return server;
  }

  /** Graceful stop: HTTP, local API, engine (flushes deltas), database, lock. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.notifier?.stopping();
      this.log.info('stopping');
      await this.shutdown();
      this.log.info('stopped');
    })();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    const step = async (name: string, fn: () => unknown) => {
      try {
        await fn();
      } catch (error) {
        this.log.error({ step: name, ...errorFields(error) }, 'error while stopping');
      }
    };
    this.notifier?.stopWatchdog();
    while (this.startedServices.length > 0) {
      const service = this.startedServices.pop()!;
      if (service.stop) await step(`service ${service.name}`, () => service.stop!());
    }
    const http = this.httpServer;
    const api = this.apiServer;
    this.httpServer = this.apiServer = undefined;
    if (http) await step('http', () => closeServer(http));
    if (api) {
      await step('local-api', () => closeServer(api));
      await step('local-api-socket', () => fs.rmSync(this.layout.socket, { force: true }));
    }
    const usb = this.usb;
    this.usb = undefined;
    if (usb) await step('usb', () => usb.stop());
    const imports = this.imports;
    this.imports = undefined;
    if (imports) await step('imports', () => imports.stop());
    this.seatManager?.close();
    const engine = this.engine;
    this.engine = undefined;
    if (engine) await step('engine', () => engine.close());
    const db = this.db;
    this.db = undefined;
    if (db) await step('database', () => db.close());
    const lock = this.lock;
    this.lock = undefined;
    if (lock) await step('lock', () => lock.release());
  }
}
