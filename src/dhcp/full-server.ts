// Full DHCP server on one interface: hands out addresses from a range (leases in SQLite) and
// boot files to network-booting clients. Refuses to start while another DHCP server answers on
// the interface, unless forced: two servers on one LAN hand out conflicting addresses.
//   port 67:   DISCOVER/REQUEST/DECLINE/RELEASE/INFORM (RFC 2131 section 4.3)
//   port 4011: ProxyDHCPREQUEST of PXE clients (PXE 2.1 section 2.2.1), answered like the proxy
import type dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import { pino, type Logger } from 'pino';
import { DhcpMessageType, DhcpParseError, decodeClientRequest, encodeDhcpMessage, type DhcpClientRequest } from './codec.js';
import { DEFAULT_BOOT_POLICY, decideBoot, type BootPolicySettings } from './boot-policy.js';
import { FullDhcpEngine, type FullDhcpSettings } from './full-engine.js';
import { LeaseStore, type LeaseRow } from './lease-store.js';
import { buildProxyReply, DHCP_SERVER_PORT, PXE_PROXY_PORT } from './replies.js';
import { LogLimiter } from './log-limit.js';
import { interfaceIpv4, type DhcpSocketFactory } from './socket.js';
import { detectDhcpServers, type DetectedDhcpServer } from './detect.js';
import type { DhcpBootStep, DroppedPacketEvent, LeaseEvent, PxeRequestEvent } from './events.js';
import type { Db } from '../db/database.js';
import { LanbootError } from '../log/errors.js';

export interface FullDhcpOptions {
  interfaceName: string;
  db: Db;
  rangeFirst: string;
  rangeLast: string;
  /** Default: the interface's first IPv4 address and its mask. */
  serverAddress?: string;
  subnetMask?: string;
  leaseSeconds?: number;
  routers?: string[];
  dnsServers?: string[];
  domainName?: string;
  /** MAC -> address. */
  reservations?: Record<string, string>;
  offerHoldSeconds?: number;
  declineQuarantineSeconds?: number;
  boot?: Partial<Omit<BootPolicySettings, 'serverAddress'>>;
  /** Start even if another DHCP server answers on the interface. */
  force?: boolean;
  /** How long the start-up probe for other servers listens. */
  detectTimeoutMs?: number;
  /** How often expired leases are swept. */
  expirySweepMs?: number;
  socketFactory: DhcpSocketFactory;
  dhcpPort?: number;
  proxyPort?: number;
  logger?: Logger;
  /** Clock, for tests of expiry. */
  now?: () => number;
}

export interface FullDhcpEvents {
  'pxe-request': [PxeRequestEvent];
  lease: [LeaseEvent];
  'lease-released': [LeaseEvent];
  'lease-declined': [LeaseEvent];
  'lease-expired': [LeaseEvent];
  'other-servers': [DetectedDhcpServer[]];
  dropped: [DroppedPacketEvent];
}

export class FullDhcpServer extends EventEmitter<FullDhcpEvents> {
  private sockets: dgram.Socket[] = [];
  private engine: FullDhcpEngine | undefined;
  private bootSettings: BootPolicySettings | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly logger: Logger;
  private readonly factory: DhcpSocketFactory;
  private readonly dropLogLimiter = new LogLimiter();
  private readonly now: () => number;

  constructor(private readonly options: FullDhcpOptions) {
    super();
    this.logger = (options.logger ?? pino({ name: 'lanboot' })).child({ component: 'full-dhcp', interface: options.interfaceName });
    this.factory = options.socketFactory;
    this.now = options.now ?? Date.now;
  }

  private settings(): FullDhcpSettings {
    const o = this.options;
    const iface = o.serverAddress && o.subnetMask ? undefined : interfaceIpv4(o.interfaceName);
    const reservations = new Map<string, string>();
    for (const [mac, ip] of Object.entries(o.reservations ?? {})) reservations.set(mac.toLowerCase().replace(/-/g, ':'), ip);
    return {
      serverAddress: o.serverAddress ?? iface!.address,
      subnetMask: o.subnetMask ?? iface!.netmask,
      rangeFirst: o.rangeFirst,
      rangeLast: o.rangeLast,
      leaseSeconds: o.leaseSeconds ?? 3600,
      routers: o.routers ?? [],
      dnsServers: o.dnsServers ?? [],
      ...(o.domainName ? { domainName: o.domainName } : {}),
      reservations,
      offerHoldSeconds: o.offerHoldSeconds ?? 60,
      declineQuarantineSeconds: o.declineQuarantineSeconds ?? 600,
    };
  }

  async start(): Promise<void> {
    if (this.sockets.length > 0) return;
    const settings = this.settings();
    this.bootSettings = { ...DEFAULT_BOOT_POLICY, ...this.options.boot, serverAddress: settings.serverAddress };
    const seatName = this.options.db.prepare('SELECT name FROM seats WHERE mac = ?');
    const hostnameOf = (mac: string) => (seatName.get(mac) as { name: string } | undefined)?.name;
    this.engine = new FullDhcpEngine(settings, this.bootSettings, new LeaseStore(this.options.db, this.options.interfaceName), hostnameOf);

    const others = await detectDhcpServers({
      interfaceName: this.options.interfaceName,
      socketFactory: this.factory,
      timeoutMs: this.options.detectTimeoutMs ?? 3000,
      ...(this.options.logger ? { logger: this.options.logger } : {}),
      ...(this.options.dhcpPort !== undefined ? { serverPort: this.options.dhcpPort } : {}),
    });
    const competing = others.filter((server) => server.offersAddress && server.serverId !== settings.serverAddress);
    if (others.length > 0) this.emit('other-servers', others);
    if (competing.length > 0) {
      const list = competing.map((s) => `${s.serverId} (offers ${s.offeredAddress})`).join(', ');
      if (!this.options.force) {
        throw new LanbootError(
          'LANBOOT_DHCP_OTHER_SERVER',
          `another DHCP server answers on ${this.options.interfaceName}: ${list}; use proxy mode, or force full mode`,
          { interface: this.options.interfaceName, servers: competing },
        );
      }
      this.logger.warn({ servers: competing }, 'another DHCP server answers on this interface; starting anyway (forced)');
    }

    const ports = [this.options.dhcpPort ?? DHCP_SERVER_PORT, this.options.proxyPort ?? PXE_PROXY_PORT];
    try {
      for (const port of ports) {
        const socket = await this.factory.open(this.options.interfaceName, port);
        const onProxyPort = port === ports[1];
        socket.on('message', (datagram, rinfo) => this.onDatagram(socket, onProxyPort, port, datagram, rinfo));
        socket.on('error', (error) => this.logger.error({ err: error, port }, 'socket error'));
        this.sockets.push(socket);
      }
    } catch (error) {
      await this.stop();
      throw error;
    }
    this.sweepTimer = setInterval(() => {
      try {
        this.sweep();
      } catch (error) {
        // A busy or failing database must not take the supervisor down; the next sweep retries.
        this.logger.error({ err: error }, 'lease expiry sweep failed');
      }
    }, this.options.expirySweepMs ?? 30_000);
    this.sweepTimer.unref();
    this.logger.info(
      { serverAddress: settings.serverAddress, range: `${settings.rangeFirst}-${settings.rangeLast}`, leaseSeconds: settings.leaseSeconds, ports },
      'full DHCP listening',
    );
  }

  async stop(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    const sockets = this.sockets;
    this.sockets = [];
    await Promise.all(sockets.map((socket) => new Promise<void>((resolve) => socket.close(() => resolve()))));
    try {
      this.engine?.flush();
    } catch (error) {
      this.logger.error({ err: error }, 'cannot store the last lease changes');
    }
  }

  /** The leases of the interface, as served (memory, committed within an event-loop turn). */
  listLeases(): LeaseRow[] {
    return this.engine?.leases() ?? [];
  }

  /** Marks expired leases free; also runs on a timer while started. */
  sweep(): LeaseRow[] {
    if (!this.engine) return [];
    const expired = this.engine.expire(this.now());
    for (const lease of expired) {
      this.logger.info({ mac: lease.mac, ip: lease.ip }, 'lease expired');
      this.emit('lease-expired', this.leaseEvent(lease));
    }
    return expired;
  }

  private leaseEvent(lease: LeaseRow): LeaseEvent {
    return { interfaceName: this.options.interfaceName, mac: lease.mac, ip: lease.ip, hostname: lease.hostname ?? undefined, expiresAt: lease.expiresAt };
  }

  private emitPxe(request: DhcpClientRequest, step: DhcpBootStep, boot: { arch: number; stage: PxeRequestEvent['stage']; bootFile: string }): void {
    this.emit('pxe-request', {
      interfaceName: this.options.interfaceName,
      mac: request.mac,
      arch: boot.arch,
      vendorClass: request.vendorClass,
      userClass: request.userClasses.join(','),
      step,
      stage: boot.stage,
      bootFile: boot.bootFile,
      time: this.now(),
    });
  }

  /** Never throws: an exception escaping a socket handler would take the supervisor down. */
  private onDatagram(socket: dgram.Socket, onProxyPort: boolean, port: number, datagram: Buffer, rinfo: dgram.RemoteInfo): void {
    try {
      this.handleDatagram(socket, onProxyPort, port, datagram, rinfo);
    } catch (error) {
      this.logger.error({ err: error, from: rinfo.address }, 'DHCP datagram handling failed');
    }
  }

  private handleDatagram(socket: dgram.Socket, onProxyPort: boolean, port: number, datagram: Buffer, rinfo: dgram.RemoteInfo): void {
    const engine = this.engine;
    if (!engine || !this.bootSettings) return;
    let request: DhcpClientRequest;
    try {
      request = decodeClientRequest(datagram);
    } catch (error) {
      const code = error instanceof DhcpParseError ? error.code : 'DHCP_INTERNAL';
      const limit = this.dropLogLimiter.take();
      if (limit.log) {
        this.logger.warn({ from: rinfo.address, port, code, reason: (error as Error).message, suppressedSinceLast: limit.suppressed }, 'dropped malformed DHCP packet');
      }
      this.emit('dropped', { interfaceName: this.options.interfaceName, port, from: rinfo.address, code, reason: (error as Error).message });
      return;
    }
    const log = this.logger.child({ mac: request.mac });
    const send = (reply: Buffer, address: string, destinationPort: number) =>
      socket.send(reply, destinationPort, address, (error) => {
        if (error) log.error({ err: error, address, port: destinationPort }, 'sending DHCP reply failed');
      });

    if (onProxyPort) {
      if (request.messageType !== DhcpMessageType.REQUEST && request.messageType !== DhcpMessageType.INFORM) return;
      const decision = decideBoot(request, this.bootSettings);
      if (decision.kind !== 'boot' || !request.mac) return;
      send(encodeDhcpMessage(buildProxyReply(request, decision, this.bootSettings.serverAddress, DhcpMessageType.ACK)), rinfo.address, rinfo.port);
      log.info({ step: 'proxy-request', stage: decision.stage, bootFile: decision.bootFile }, 'answered PXE client');
      this.emitPxe(request, 'proxy-request', decision);
      return;
    }

    let outcome;
    try {
      outcome = engine.handle(request, this.now());
    } catch (error) {
      // A database failure must not take the supervisor down; the client retries.
      log.error({ err: error }, 'DHCP request failed');
      return;
    }
    if (outcome.change) {
      const event = this.leaseEvent(outcome.change.lease);
      log.info({ ip: event.ip, state: outcome.change.kind, hostname: event.hostname }, `lease ${outcome.change.kind}`);
      if (outcome.change.kind === 'bound') this.emit('lease', event);
      else if (outcome.change.kind === 'released') this.emit('lease-released', event);
      else this.emit('lease-declined', event);
    }
    if (!outcome.reply || !outcome.destination) {
      log.debug({ messageType: request.messageType, reason: outcome.silentReason }, 'not answering');
      return;
    }
    const reply = encodeDhcpMessage(outcome.reply);
    const destination = outcome.destination;
    if (outcome.change?.kind === 'bound') {
      // The ACK goes out once the binding is committed (one commit for a burst of requests).
      engine.whenDurable((error) => {
        if (error) {
          log.error({ err: error, ip: outcome.reply?.yiaddr }, 'cannot store the lease; not acknowledging (the client retries)');
          return;
        }
        send(reply, destination.address, destination.port);
      });
    } else {
      send(reply, destination.address, destination.port);
    }
    log.debug({ messageType: request.messageType, yiaddr: outcome.reply.yiaddr, destination }, 'answered');
    if (outcome.boot && (request.messageType === DhcpMessageType.DISCOVER || request.messageType === DhcpMessageType.REQUEST)) {
      this.emitPxe(request, request.messageType === DhcpMessageType.DISCOVER ? 'dhcp-discover' : 'dhcp-request', outcome.boot);
    }
  }
}

