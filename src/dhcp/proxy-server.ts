// proxyDHCP (PXE 2.1 spec section 2.2): answers PXE / HTTP-boot / iPXE clients only, with the
// boot file and never an address, so lanboot can sit next to the router's DHCP server.
//   port 67:   DHCPDISCOVER -> DHCPOFFER (yiaddr 0, siaddr, option 60, 54, 43, file)
//   port 4011: DHCPREQUEST / DHCPINFORM -> DHCPACK with the same boot fields
import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import { pino, type Logger } from 'pino';
import { DhcpMessageType, DhcpParseError, decodeClientRequest, encodeDhcpMessage, type DhcpClientRequest } from './codec.js';
import { DEFAULT_BOOT_POLICY, decideBoot, type BootPolicySettings } from './boot-policy.js';
import { buildProxyReply, DHCP_CLIENT_PORT, DHCP_SERVER_PORT, PXE_PROXY_PORT, replyDestination } from './replies.js';
import { createDhcpSocketFactory, interfaceIpv4, type DhcpSocketFactory } from './socket.js';
import type { DhcpBootStep, DroppedPacketEvent, PxeRequestEvent } from './events.js';

export interface ProxyDhcpOptions {
  interfaceName: string;
  /** Address announced as server identifier and next-server; default: the interface's. */
  serverAddress?: string;
  boot?: Partial<Omit<BootPolicySettings, 'serverAddress'>>;
  socketFactory?: DhcpSocketFactory;
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
  private serverAddress = '';
  private readonly logger: Logger;
  private readonly factory: DhcpSocketFactory;

  constructor(private readonly options: ProxyDhcpOptions) {
    super();
    this.logger = (options.logger ?? pino({ name: 'lanboot' })).child({ component: 'proxy-dhcp', interface: options.interfaceName });
    this.factory = options.socketFactory ?? createDhcpSocketFactory('interface');
  }

  get address(): string {
    return this.serverAddress;
  }

  async start(): Promise<void> {
    if (this.sockets.length > 0) return;
    this.serverAddress = this.options.serverAddress ?? interfaceIpv4(this.options.interfaceName).address;
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
    this.logger.info({ serverAddress: this.serverAddress, ports }, 'proxyDHCP listening');
  }

  async stop(): Promise<void> {
    const sockets = this.sockets;
    this.sockets = [];
    await Promise.all(sockets.map((socket) => new Promise<void>((resolve) => socket.close(() => resolve()))));
  }

  private settings(): BootPolicySettings {
    return { ...DEFAULT_BOOT_POLICY, ...this.options.boot, serverAddress: this.serverAddress };
  }

  private onDatagram(socket: dgram.Socket, onProxyPort: boolean, datagram: Buffer, rinfo: dgram.RemoteInfo): void {
    const port = onProxyPort ? (this.options.proxyPort ?? PXE_PROXY_PORT) : (this.options.dhcpPort ?? DHCP_SERVER_PORT);
    let request: DhcpClientRequest;
    try {
      request = decodeClientRequest(datagram);
    } catch (error) {
      const code = error instanceof DhcpParseError ? error.code : 'DHCP_INTERNAL';
      this.logger.warn({ from: rinfo.address, port, code, reason: (error as Error).message }, 'dropped malformed DHCP packet');
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

    const decision = decideBoot(request, this.settings());
    if (decision.kind === 'ignore') {
      log.debug({ reason: decision.reason, arch: decision.arch, vendorClass: request.vendorClass }, 'not answering');
      return;
    }
    const reply = encodeDhcpMessage(buildProxyReply(request, decision, this.serverAddress, replyType));
    // Port 67 replies: the client has no address yet (RFC 2131 section 4.1). Port 4011: the
    // client sent from its address; answer where it came from.
    const destination =
      onProxyPort && rinfo.address !== '0.0.0.0'
        ? { address: rinfo.address, port: rinfo.port }
        : replyDestination(request, false);
    if (!onProxyPort && destination.port !== DHCP_SERVER_PORT) destination.port = DHCP_CLIENT_PORT;
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
