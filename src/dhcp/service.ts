// DHCP as a supervisor service: starts proxyDHCP or full DHCP on the configured interface,
// detects other DHCP servers / proxies at start and on request, and exposes both on the local
// API:
//   GET  /api/v1/dhcp          mode, interface, address, running, last detection
//   POST /api/v1/dhcp/detect   probes the LAN now and returns every server that answered
//   GET  /api/v1/dhcp/leases   full mode: the lease table
// Boot steps ('pxe-request') are re-emitted on `events` for the boot-event recorder and the UI.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { DhcpSettings } from '../config/config.js';
import type { MountContext, StartContext, SupervisorService } from '../supervisor/service.js';
import { LanbootError } from '../log/errors.js';
import { ProxyDhcpServer } from './proxy-server.js';
import { FullDhcpServer } from './full-server.js';
import { detectDhcpServers, type DetectedDhcpServer } from './detect.js';
import { interfaceIpv4, type DhcpSocketFactory } from './socket.js';
import type { LeaseRow } from './lease-store.js';
import { intToIpv4, ipv4ToInt } from './full-engine.js';
import type { UefiIpxeBinary } from './boot-policy.js';
import type { LeaseEvent, PxeRequestEvent } from './events.js';

/** What the configuration does not decide: tuning and test hooks. */
export interface DhcpServiceOptions {
  uefiBinary?: UefiIpxeBinary;
  leaseSeconds?: number;
  routers?: string[];
  dnsServers?: string[];
  /** MAC -> address (full mode). */
  reservations?: Record<string, string>;
  /** How long detection listens for answers. */
  detectTimeoutMs?: number;
}

export interface DhcpServiceEvents {
  'pxe-request': [PxeRequestEvent];
  lease: [LeaseEvent];
  'other-servers': [DetectedDhcpServer[]];
}

export interface DhcpDetection {
  at: string;
  /** Every server that answered, lanboot itself excluded. */
  servers: DetectedDhcpServer[];
}

/** Full mode without --dhcp-range: .100-.199 of the server's /24 (or the upper half of a
 *  smaller subnet), like most home routers' pools. */
export function defaultDhcpRange(serverAddress: string, netmask: string): { first: string; last: string } {
  const mask = ipv4ToInt(netmask);
  const network = (ipv4ToInt(serverAddress) & mask) >>> 0;
  const broadcast = (network | (~mask >>> 0)) >>> 0;
  const size = broadcast - network + 1;
  if (size >= 256) {
    const block = (ipv4ToInt(serverAddress) & 0xffffff00) >>> 0;
    return { first: intToIpv4(block + 100), last: intToIpv4(block + 199) };
  }
  if (size < 4) throw new LanbootError('LANBOOT_CONFIG_INVALID', `DHCP: subnet ${intToIpv4(network)}/${netmask} is too small for an address pool`);
  return { first: intToIpv4(network + size / 2), last: intToIpv4(broadcast - 1) };
}

export class DhcpService implements SupervisorService {
  readonly name = 'dhcp';
  readonly events = new EventEmitter<DhcpServiceEvents>();
  private server: ProxyDhcpServer | FullDhcpServer | undefined;
  private readonly mode: DhcpSettings['mode'];
  private readonly interfaceName: string | undefined;
  private serverAddress: string | undefined;
  private lastDetection: DhcpDetection | undefined;
  private detecting: Promise<DhcpDetection> | undefined;
  private logger: Logger | undefined;
  private readonly factory: DhcpSocketFactory;

  /** `socketFactory`: how DHCP sockets are bound (src/dhcp/socket.ts; the supervisor's is
   *  bound to the interface through the addon). */
  constructor(
    private readonly settings: DhcpSettings,
    socketFactory: DhcpSocketFactory,
    private readonly options: DhcpServiceOptions = {},
  ) {
    this.factory = socketFactory;
    this.mode = settings.mode;
    this.interfaceName = settings.mode === 'off' ? undefined : settings.interface;
  }

  mount(ctx: MountContext): void {
    ctx.api.get('/api/v1/dhcp', (c) => c.json(this.status()));
    ctx.api.post('/api/v1/dhcp/detect', async (c) => c.json(await this.detect()));
    ctx.api.get('/api/v1/dhcp/leases', (c) => c.json(this.listLeases()));
  }

  async start(ctx: StartContext): Promise<void> {
    const settings = this.settings;
    if (settings.mode === 'off') return;
    const interfaceName = settings.interface;
    this.logger = ctx.logger.child({ component: 'dhcp', interface: interfaceName });
    const boot = { httpPort: ctx.httpPort, ...(this.options.uefiBinary ? { uefiBinary: this.options.uefiBinary } : {}) };

    if (settings.mode === 'proxy') {
      // The box may get (or change) its own address from the router after lanboot started:
      // the proxy looks it up as it answers.
      const proxy = new ProxyDhcpServer({ interfaceName, boot, socketFactory: this.factory, logger: ctx.logger });
      proxy.on('pxe-request', (e) => this.events.emit('pxe-request', e));
      await proxy.start();
      this.server = proxy;
      // Two proxies or a router that hands out boot files make PCs boot the wrong thing:
      // report them, without blocking the start.
      void this.detect().catch((error: unknown) => this.logger?.warn({ err: error }, 'DHCP server detection failed'));
      return;
    }

    // Full mode: the box is the network's DHCP server and needs a static address.
    const iface = interfaceIpv4(interfaceName);
    this.serverAddress = iface.address;
    const range = settings.range ?? defaultDhcpRange(iface.address, iface.netmask);
    const full = new FullDhcpServer({
      interfaceName,
      db: ctx.db,
      serverAddress: iface.address,
      subnetMask: iface.netmask,
      rangeFirst: range.first,
      rangeLast: range.last,
      boot,
      socketFactory: this.factory,
      logger: ctx.logger,
      force: settings.force,
      ...(this.options.leaseSeconds !== undefined ? { leaseSeconds: this.options.leaseSeconds } : {}),
      ...(this.options.routers ? { routers: this.options.routers } : {}),
      ...(this.options.dnsServers ? { dnsServers: this.options.dnsServers } : {}),
      ...(this.options.reservations ? { reservations: this.options.reservations } : {}),
      ...(this.options.detectTimeoutMs !== undefined ? { detectTimeoutMs: this.options.detectTimeoutMs } : {}),
    });
    full.on('pxe-request', (e) => this.events.emit('pxe-request', e));
    full.on('lease', (e) => this.events.emit('lease', e));
    full.on('other-servers', (servers) => {
      this.lastDetection = { at: new Date().toISOString(), servers: servers.filter((s) => s.serverId !== iface.address) };
      this.events.emit('other-servers', this.lastDetection.servers);
    });
    await full.start();
    this.server = full;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    await server?.stop();
  }

  /** Probes the LAN for DHCP servers and proxies; concurrent calls share one probe. */
  detect(): Promise<DhcpDetection> {
    if (this.mode === 'off' || !this.interfaceName) {
      return Promise.reject(new LanbootError('LANBOOT_INVALID_INPUT', 'DHCP is off: start lanboot with --interface IF to detect DHCP servers'));
    }
    if (!this.detecting) {
      const own = this.currentAddress();
      this.detecting = detectDhcpServers({
        interfaceName: this.interfaceName,
        socketFactory: this.factory,
        timeoutMs: this.options.detectTimeoutMs ?? 3000,
        ...(this.logger ? { logger: this.logger } : {}),
      })
        .then((servers) => {
          const others = servers.filter((s) => s.serverId !== own);
          this.lastDetection = { at: new Date().toISOString(), servers: others };
          const pxeOthers = others.filter((s) => s.pxe);
          if (pxeOthers.length > 0) {
            this.logger?.warn({ servers: pxeOthers }, 'another server on this LAN answers PXE clients: PCs may boot from it instead');
          }
          this.events.emit('other-servers', others);
          return this.lastDetection;
        })
        .finally(() => {
          this.detecting = undefined;
        });
    }
    return this.detecting;
  }

  private currentAddress(): string | undefined {
    if (this.server instanceof ProxyDhcpServer) return this.server.address;
    return this.serverAddress;
  }

  listLeases(): LeaseRow[] {
    return this.server instanceof FullDhcpServer ? this.server.listLeases() : [];
  }

  status(): unknown {
    return {
      mode: this.mode,
      interface: this.interfaceName ?? null,
      serverAddress: this.currentAddress() ?? null,
      running: this.server !== undefined,
      detection: this.lastDetection ?? null,
    };
  }
}
