// TFTP as a supervisor service: f's TftpServer (src/tftp) serving the iPXE binaries of
// Debian's ipxe package (undionly.kpxe, snponly.efi, ipxe.efi) and nothing else. Its root is an
// empty directory of its own (DATA/tftp), so the only files a client can get are the fixed
// allow-list served through the virtual-file hook.
import { EventEmitter } from 'node:events';
import fsp from 'node:fs/promises';
import type { TftpSettings } from '../config/config.js';
import { LanbootError } from '../log/errors.js';
import type { StartContext, SupervisorService } from '../supervisor/service.js';
import { DEBIAN_IPXE_BOOT_FILES, fileMapProvider } from '../tftp/boot-files.js';
import { TftpServer, type TftpTransferEvent } from '../tftp/server.js';

export interface TftpBootServiceOptions {
  /** name -> absolute path; default the Debian ipxe binaries. */
  files?: Readonly<Record<string, string>>;
}

export interface TftpBootServiceEvents {
  transfer: [TftpTransferEvent];
}

export class TftpBootService implements SupervisorService {
  readonly name = 'tftp';
  readonly events = new EventEmitter<TftpBootServiceEvents>();
  private server: TftpServer | undefined;
  private boundPort: number | undefined;
  private transfers = { ok: 0, error: 0, refused: 0 };

  constructor(
    private readonly settings: TftpSettings,
    private readonly options: TftpBootServiceOptions = {},
  ) {}

  async start(ctx: StartContext): Promise<void> {
    const { root, host, port } = this.settings;
    await fsp.mkdir(root, { recursive: true, mode: 0o755 });
    const server = new TftpServer({
      root,
      host,
      port,
      virtualFiles: fileMapProvider(this.options.files ?? DEBIAN_IPXE_BOOT_FILES),
      // Every file served here is in memory and shared by all transfers (no per-transfer
      // read-ahead), so a transfer costs a few hundred bytes: a room of up to 1024 PCs
      // powering on together gets its boot files without "busy" refusals.
      maxTransfers: 1024,
      logger: ctx.logger,
    });
    server.on('transfer', (event) => {
      this.transfers[event.result]++;
      this.events.emit('transfer', event);
    });
    try {
      await server.start();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const why = code === 'EADDRINUSE' ? 'the port is in use' : code === 'EACCES' ? 'permission denied (port 69 needs root)' : (error as Error).message;
      throw new LanbootError('LANBOOT_CONFIG_INVALID', `TFTP: cannot listen on ${host}:${port}: ${why}`, undefined, { cause: error });
    }
    this.server = server;
    this.boundPort = server.address().port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    await server?.stop();
  }

  status(): unknown {
    return {
      running: this.server !== undefined,
      host: this.settings.host,
      port: this.boundPort ?? null,
      files: Object.keys(this.options.files ?? DEBIAN_IPXE_BOOT_FILES),
      transfers: { ...this.transfers },
    };
  }
}
