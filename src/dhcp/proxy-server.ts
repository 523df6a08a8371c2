// proxyDHCP (PXE 2.1 spec section 2.2): answers PXE / HTTP-boot / iPXE clients only, with the
// boot file and never an address, so lanboot can sit next to the router's DHCP server.
//   port 67:   DHCPDISCOVER -> DHCPOFFER (yiaddr 0, siaddr, option 60, 54, 43, file)
//   port 4011: DHCPREQUEST / DHCPINFORM -> DHCPACK with the same boot fields
import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import { pino, type Logger } from 'pino';
import { DhcpMessageType, DhcpParseError, decodeClientRequest, encodeDhcpMessage, type DhcpClientRequest } from './codec.js';
import { DEFAULT_BOOT_POLICY, decideBoot, type BootPolicySettings } from './boot-policy.js';
import { buildProxyReply, DHCP_SERVER_PORT, PXE_PROXY_PORT, replyDestination } from './replies.js';
import { LogLimiter } from './log-limit.js';
import { interfaceIpv4, type DhcpSocketFactory } from './socket.js';
import type { DhcpBootStep, DroppedPacketEvent, PxeRequestEvent } from './events.js';

export interface ProxyDhcpOptions {
  interfaceName: string;
  /** Address announced as server identifier and next-server; default: the interface's current
   *  one, looked up again as it changes (in proxy mode the box itself usually gets its address
   *  from the router, which may change it or hand it out only after lanboot started). */
  serverAddress?: string;
  boot?: Partial<Omit<BootPolicySettings, 'serverAddress'>>;
  socketFactory: DhcpSocketFactory;
  /** Ports, overridable so two servers can run side by side in tests. */
  dhcpPort?: number;
  proxyPort?: number;
  logger?: Logger;
}

export interface ProxyDhcpEvents {
  'pxe-request': [PxeRequestEvent];
  dropped: [DroppedPacketEvent];
}

export class ProxyDhcpServer extends EventEmitter<ProxyDhcpEvents> {
  private sockets: dgram.Socket[] = [];
  private resolvedAddress: { address: string | undefined; at: number } = { address: undefined, at: -Infinity };
  private readonly noAddressLogLimiter = new LogLimiter(1, 1 / 60);
  private readonly logger: Logger;
  private readonly factory: DhcpSocketFactory;
  private readonly dropLogLimiter = new LogLimiter();

  constructor(private readonly options: ProxyDhcpOptions) {
    super();
    this.logger = (options.logger ?? pino({ name: 'lanboot' })).child({ component: 'proxy-dhcp', interface: options.interfaceName });
    this.factory = options.socketFactory;
  }

  /** The address answers are sent with; undefined while the interface has none. */
  get address(): string | undefined {
    if (this.options.serverAddress) return this.options.serverAddress;
    const now = Date.now();
    // getifaddrs(3) per datagram is cheap, but a burst need not repeat it: cache for 2 s.
    if (now - this.resolvedAddress.at > 2000) {
      let address: string | undefined;
      try {
        address = interfaceIpv4(this.options.interfaceName).address;
      } catch {
        address = undefined;
      }
      this.resolvedAddress = { address, at: now };
    }
    return this.resolvedAddress.address;
  }

  async start(): Promise<void> {
    if (this.sockets.length > 0) return;
    const ports = [this.options.dhcpPort ?? DHCP_SERVER_PORT, this.options.proxyPort ?? PXE_PROXY_PORT];
    try {
      for (const port of ports) {
        const socket = await this.factory.open(this.options.interfaceName, port);
        socket.on('message', (datagram, rinfo) => this.onDatagram(socket, port === ports[1], datagram, rinfo));
        socket.on('error', (error) => this.logger.error({ err: error, port }, 'socket error'));
        this.sockets.push(socket);
      }
    } catch (error) {
      await this.stop();
      throw error;
    }
    const serverAddress = this.address;
    if (!serverAddress) this.logger.warn({ ports }, 'interface has no IPv4 address yet: PXE clients get answers once it has one');
    this.logger.info({ serverAddress, ports }, 'proxyDHCP listening');
  }

  async stop(): Promise<void> {
    const sockets = this.sockets;
    this.sockets = [];
    await Promise.all(sockets.map((socket) => new Promise<void>((resolve) => socket.close(() => resolve()))));
  }

  private settings(serverAddress: string): BootPolicySettings {
    return { ...DEFAULT_BOOT_POLICY, ...this.options.boot, serverAddress };
  }

  /** Never throws: an exception escaping a socket handler would take the supervisor down. */
  private onDatagram(socket: dgram.Socket, onProxyPort: boolean, datagram: Buffer, rinfo: dgram.RemoteInfo): void {
    try {
      this.handleDatagram(socket, onProxyPort, datagram, rinfo);
    } catch (error) {
      this.logger.error({ err: error, from: rinfo.address }, 'DHCP datagram handling failed');
    }
  }

  private handleDatagram(socket: dgram.Socket, onProxyPort: boolean, datagram: Buffer, rinfo: dgram.RemoteInfo): void {
    const port = onProxyPort ? (this.options.proxyPort ?? PXE_PROXY_PORT) : (this.options.dhcpPort ?? DHCP_SERVER_PORT);
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
    if (!request.mac) return; // Not Ethernet: PXE is Ethernet-only.
    const log = this.logger.child({ mac: request.mac });

    let step: DhcpBootStep;
    let replyType: number;
    if (!onProxyPort && request.messageType === DhcpMessageType.DISCOVER) {
      step = 'dhcp-discover';
      replyType = DhcpMessageType.OFFER;
    } else if (
      onProxyPort &&
      (request.messageType === DhcpMessageType.REQUEST || request.messageType === DhcpMessageType.INFORM)
    ) {
      step = 'proxy-request';
      replyType = DhcpMessageType.ACK;
    } else {
      return; // Everything else on 67 belongs to the real DHCP server.
    }

    const serverAddress = this.address;
    if (!serverAddress) {
      if (this.noAddressLogLimiter.take().log) log.warn('PXE client not answered: the interface has no IPv4 address');
      return;
    }
    const decision = decideBoot(request, this.settings(serverAddress));
    if (decision.kind === 'ignore') {
      // A PC that network-boots with an architecture lanboot has no binary for is worth a line
      // at info: it is the answer to "why does this PC not boot".
      const level = decision.reason === 'unsupported-arch' ? 'info' : 'debug';
      log[level]({ reason: decision.reason, arch: decision.arch, vendorClass: request.vendorClass }, 'not answering');
      return;
    }
    const reply = encodeDhcpMessage(buildProxyReply(request, decision, serverAddress, replyType));
    // Port 67 replies: the client has no address yet (RFC 2131 section 4.1). Port 4011: the
    // client sent from its address; answer where it came from.
    const destination =
      onProxyPort && rinfo.address !== '0.0.0.0'
        ? { address: rinfo.address, port: rinfo.port }
        : replyDestination(request, false);
    socket.send(reply, destination.port, destination.address, (error) => {
      if (error) log.error({ err: error, destination }, 'sending proxyDHCP reply failed');
    });
    log.info(
      { step, stage: decision.stage, arch: decision.arch, bootFile: decision.bootFile, vendorClass: request.vendorClass, userClass: request.userClasses.join(',') },
      'answered PXE client',
    );
    this.emit('pxe-request', {
      interfaceName: this.options.interfaceName,
      mac: request.mac,
      arch: decision.arch,
      vendorClass: request.vendorClass,
      userClass: request.userClasses.join(','),
      step,
      stage: decision.stage,
      bootFile: decision.bootFile,
      time: Date.now(),
    });
  }
}
