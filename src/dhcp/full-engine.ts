// The full-DHCP server's state machine (RFC 2131 section 4.3): which address a client gets and
// what to answer. No sockets; state lives in the LeaseStore, time comes from the caller.
import {
  BootpOp,
  DhcpMessageType,
  DhcpOption,
  ipv4ToBuffer,
  isIpv4,
  type DhcpClientRequest,
  type DhcpMessageInput,
} from './codec.js';
import { decideBoot, type BootDecision, type BootPolicySettings } from './boot-policy.js';
import { bootOptions, networkOptions, replyDestination, type LeaseParameters, type ReplyDestination } from './replies.js';
import type { LeaseRow, LeaseStore } from './lease-store.js';
import { LanbootError } from '../log/errors.js';

export interface FullDhcpSettings {
  serverAddress: string;
  subnetMask: string;
  rangeFirst: string;
  rangeLast: string;
  leaseSeconds: number;
  routers: string[];
  dnsServers: string[];
  domainName?: string;
  /** MAC (aa:bb:cc:dd:ee:ff, lower case) -> address. May lie outside the range. */
  reservations: Map<string, string>;
  /** How long an offered address is held for the client that was offered it. */
  offerHoldSeconds: number;
  /** How long a DHCPDECLINEd address stays out of the pool. */
  declineQuarantineSeconds: number;
}

export type LeaseChange =
  | { kind: 'bound'; lease: LeaseRow }
  | { kind: 'released'; lease: LeaseRow }
  | { kind: 'declined'; lease: LeaseRow };

export interface EngineOutcome {
  reply: DhcpMessageInput | undefined;
  destination: ReplyDestination | undefined;
  /** Set when the client is network booting and was given a boot file. */
  boot: Extract<BootDecision, { kind: 'boot' }> | undefined;
  change: LeaseChange | undefined;
  /** Why nothing was answered, for the debug log. */
  silentReason?: string;
}

export function ipv4ToInt(address: string): number {
  return ipv4ToBuffer(address).readUInt32BE(0);
}

export function intToIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

/** Checks settings; throws LANBOOT_CONFIG_INVALID with one clear line. */
export function validateFullDhcpSettings(settings: FullDhcpSettings): void {
  const invalid = (message: string) => new LanbootError('LANBOOT_CONFIG_INVALID', `DHCP: ${message}`);
  for (const [name, value] of [
    ['server address', settings.serverAddress],
    ['subnet mask', settings.subnetMask],
    ['range start', settings.rangeFirst],
    ['range end', settings.rangeLast],
    ...settings.routers.map((r) => ['router', r]),
    ...settings.dnsServers.map((r) => ['DNS server', r]),
  ] as const) {
    if (!isIpv4(value)) throw invalid(`${name} "${value}" is not an IPv4 address`);
  }
  const mask = ipv4ToInt(settings.subnetMask);
  if (mask === 0 || ((~mask >>> 0) & ((~mask >>> 0) + 1)) !== 0) throw invalid(`subnet mask ${settings.subnetMask} is not contiguous`);
  const network = (ipv4ToInt(settings.serverAddress) & mask) >>> 0;
  const first = ipv4ToInt(settings.rangeFirst);
  const last = ipv4ToInt(settings.rangeLast);
  if (first > last) throw invalid(`range ${settings.rangeFirst}-${settings.rangeLast} is empty`);
  if (((first & mask) >>> 0) !== network || ((last & mask) >>> 0) !== network) {
    throw invalid(`range ${settings.rangeFirst}-${settings.rangeLast} is outside the server's subnet ${intToIpv4(network)}/${settings.subnetMask}`);
  }
  if (last - first > 65535) throw invalid('range holds more than 65536 addresses');
  if (!Number.isInteger(settings.leaseSeconds) || settings.leaseSeconds < 60 || settings.leaseSeconds > 0x7fffffff) {
    throw invalid(`lease time ${settings.leaseSeconds} s must be an integer from 60`);
  }
  for (const [mac, ip] of settings.reservations) {
    if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(mac)) throw invalid(`reservation MAC "${mac}" must look like aa:bb:cc:dd:ee:ff`);
    if (!isIpv4(ip) || ((ipv4ToInt(ip) & mask) >>> 0) !== network) throw invalid(`reservation ${mac} -> ${ip} is outside the subnet`);
  }
}

export class FullDhcpEngine {
  private readonly network: number;
  private readonly mask: number;
  private readonly first: number;
  private readonly last: number;
  private readonly reservedIps: Map<string, string>;

  constructor(
    private readonly settings: FullDhcpSettings,
    private readonly boot: BootPolicySettings,
    private readonly store: LeaseStore,
    /** The seat name of a MAC, sent as the client's host name (option 12). */
    private readonly hostnameOf: (mac: string) => string | undefined = () => undefined,
  ) {
    validateFullDhcpSettings(settings);
    this.mask = ipv4ToInt(settings.subnetMask);
    this.network = (ipv4ToInt(settings.serverAddress) & this.mask) >>> 0;
    this.first = ipv4ToInt(settings.rangeFirst);
    this.last = ipv4ToInt(settings.rangeLast);
    this.reservedIps = new Map([...settings.reservations].map(([mac, ip]) => [ip, mac]));
  }

  private leaseParameters(): LeaseParameters {
    const broadcast = (this.network | (~this.mask >>> 0)) >>> 0;
    return {
      subnetMask: this.settings.subnetMask,
      routers: this.settings.routers,
      dnsServers: this.settings.dnsServers,
      ...(this.settings.domainName ? { domainName: this.settings.domainName } : {}),
      broadcastAddress: intToIpv4(broadcast),
      leaseSeconds: this.settings.leaseSeconds,
    };
  }

  private inSubnet(ip: string): boolean {
    return isIpv4(ip) && ((ipv4ToInt(ip) & this.mask) >>> 0) === this.network;
  }

  /** Whether `ip` may be leased to `mac` now. */
  private assignable(ip: string, mac: string, now: number): boolean {
    if (ip === this.settings.serverAddress) return false;
    const reservedFor = this.reservedIps.get(ip);
    if (reservedFor !== undefined) return reservedFor === mac;
    const value = ipv4ToInt(ip);
    if (value < this.first || value > this.last) return false;
    const row = this.store.findByIp(ip);
    if (!row || row.expiresAt <= now) return true;
    return row.mac === mac && row.state !== 'declined';
  }

  /** RFC 2131 section 4.3.1: the reserved address, else the client's current or previous one,
   *  else the one it asked for, else the first free one. */
  private chooseAddress(request: DhcpClientRequest, now: number): string | undefined {
    const mac = request.mac;
    const reserved = this.settings.reservations.get(mac);
    if (reserved) return this.assignable(reserved, mac, now) ? reserved : undefined;
    const previous = this.store.findByMac(mac);
    if (previous && this.assignable(previous.ip, mac, now)) return previous.ip;
    if (request.requestedIp && this.inSubnet(request.requestedIp) && this.assignable(request.requestedIp, mac, now)) {
      return request.requestedIp;
    }
    // The store answers from memory: a scan of a full pool of 65536 addresses is no query.
    for (let value = this.first; value <= this.last; value++) {
      const ip = intToIpv4(value);
      if (this.assignable(ip, mac, now)) return ip;
    }
    return undefined;
  }

  private reply(request: DhcpClientRequest, type: number, yiaddr: string, withLease: boolean): { reply: DhcpMessageInput; boot: Extract<BootDecision, { kind: 'boot' }> | undefined } {
    const m = request.message;
    const decision = decideBoot(request, this.boot);
    const boot = decision.kind === 'boot' ? decision : undefined;
    const options: Array<[number, Buffer]> = [
      [DhcpOption.MESSAGE_TYPE, Buffer.from([type])],
      [DhcpOption.SERVER_ID, ipv4ToBuffer(this.settings.serverAddress)],
      ...networkOptions(this.leaseParameters(), withLease),
    ];
    if (boot) options.push(...bootOptions(request, boot, this.settings.serverAddress));
    // RFC 2132 3.14: the seat's name as its host name, so each PC of one golden image knows
    // which seat it is. Seat names are valid RFC 1123 host names (a-z, 0-9, '-').
    const hostname = request.mac === '' ? undefined : this.hostnameOf(request.mac);
    if (hostname !== undefined) options.push([DhcpOption.HOSTNAME, Buffer.from(hostname, 'latin1')]);
    return {
      boot,
      reply: {
        op: BootpOp.REPLY,
        htype: m.htype,
        hlen: m.hlen,
        xid: m.xid,
        flags: m.flags,
        ciaddr: type === DhcpMessageType.ACK ? m.ciaddr : '0.0.0.0',
        yiaddr,
        siaddr: this.settings.serverAddress,
        giaddr: m.giaddr,
        chaddr: m.chaddr,
        file: boot && boot.bootFile.length <= 127 ? boot.bootFile : '',
        options,
      },
    };
  }

  private nak(request: DhcpClientRequest, why: string): EngineOutcome {
    const m = request.message;
    return {
      reply: {
        op: BootpOp.REPLY,
        htype: m.htype,
        hlen: m.hlen,
        xid: m.xid,
        flags: m.flags,
        giaddr: m.giaddr,
        chaddr: m.chaddr,
        options: [
          [DhcpOption.MESSAGE_TYPE, Buffer.from([DhcpMessageType.NAK])],
          [DhcpOption.SERVER_ID, ipv4ToBuffer(this.settings.serverAddress)],
          [DhcpOption.MESSAGE, Buffer.from(why, 'latin1')],
        ],
      },
      destination: replyDestination(request, true),
      boot: undefined,
      change: undefined,
    };
  }

  private silent(reason: string): EngineOutcome {
    return { reply: undefined, destination: undefined, boot: undefined, change: undefined, silentReason: reason };
  }

  private bind(request: DhcpClientRequest, ip: string, now: number): EngineOutcome {
    const lease: LeaseRow = {
      ip,
      mac: request.mac,
      clientId: request.clientId ?? null,
      hostname: request.hostname ?? null,
      state: 'bound',
      expiresAt: now + this.settings.leaseSeconds * 1000,
      updatedAt: now,
    };
    this.store.put(lease);
    const { reply, boot } = this.reply(request, DhcpMessageType.ACK, ip, true);
    return { reply, destination: replyDestination(request, false), boot, change: { kind: 'bound', lease } };
  }

  handle(request: DhcpClientRequest, now: number): EngineOutcome {
    if (!request.mac) return this.silent('not an Ethernet client');
    // A relay agent forwards requests of another subnet; lanboot only has addresses for its own.
    if (request.message.giaddr !== '0.0.0.0' && !this.inSubnet(request.message.giaddr)) {
      return this.silent(`relayed from ${request.message.giaddr}, outside the served subnet`);
    }
    switch (request.messageType) {
      case DhcpMessageType.DISCOVER:
        return this.onDiscover(request, now);
      case DhcpMessageType.REQUEST:
        return this.onRequest(request, now);
      case DhcpMessageType.DECLINE:
        return this.onDecline(request, now);
      case DhcpMessageType.RELEASE:
        return this.onRelease(request, now);
      case DhcpMessageType.INFORM:
        return this.onInform(request);
      default:
        return this.silent(`message type ${request.messageType ?? 'none (BOOTP)'} is not served`);
    }
  }

  private onDiscover(request: DhcpClientRequest, now: number): EngineOutcome {
    const ip = this.chooseAddress(request, now);
    if (!ip) return this.silent('no free address in the range');
    const existing = this.store.findByIp(ip);
    // A client that still holds a bound lease keeps it bound; otherwise hold the offer briefly.
    if (!(existing && existing.mac === request.mac && existing.state === 'bound' && existing.expiresAt > now)) {
      this.store.put({
        ip,
        mac: request.mac,
        clientId: request.clientId ?? null,
        hostname: request.hostname ?? null,
        state: 'offered',
        expiresAt: now + this.settings.offerHoldSeconds * 1000,
        updatedAt: now,
      });
    }
    const { reply, boot } = this.reply(request, DhcpMessageType.OFFER, ip, true);
    return { reply, destination: replyDestination(request, false), boot, change: undefined };
  }

  /** RFC 2131 section 4.3.2. */
  private onRequest(request: DhcpClientRequest, now: number): EngineOutcome {
    const mac = request.mac;
    const ciaddr = request.message.ciaddr;
    if (request.serverId !== undefined) {
      // SELECTING: the client answers an OFFER.
      if (request.serverId !== this.settings.serverAddress) {
        const offered = this.store.findByMac(mac);
        if (offered && offered.state === 'offered') this.store.delete(offered.ip);
        return this.silent(`client chose server ${request.serverId}`);
      }
      const ip = request.requestedIp ?? (ciaddr !== '0.0.0.0' ? ciaddr : undefined);
      if (!ip) return this.nak(request, 'no requested address');
      const row = this.store.findByIp(ip);
      const wasOffered = row && row.mac === mac && (row.state === 'offered' || row.state === 'bound');
      if (!wasOffered || !this.assignable(ip, mac, now)) return this.nak(request, 'address not offered to this client');
      return this.bind(request, ip, now);
    }
    if (request.requestedIp !== undefined && ciaddr === '0.0.0.0') {
      // INIT-REBOOT: the client wants its previous address back.
      const ip = request.requestedIp;
      if (!this.inSubnet(ip)) return this.nak(request, 'wrong network');
      const reserved = this.settings.reservations.get(mac);
      if (reserved !== undefined && reserved !== ip) return this.nak(request, 'client has a reserved address');
      const row = this.store.findByIp(ip);
      const knownClient = (row !== undefined && row.mac === mac && row.state !== 'declined') || reserved === ip;
      if (knownClient) {
        return this.assignable(ip, mac, now) ? this.bind(request, ip, now) : this.nak(request, 'address no longer available');
      }
      if (!this.assignable(ip, mac, now)) return this.nak(request, 'address belongs to another client');
      return this.silent('no record of this client (RFC 2131 section 4.3.2)');
    }
    if (ciaddr !== '0.0.0.0') {
      // RENEWING (unicast) or REBINDING (broadcast): extend the lease on ciaddr.
      const row = this.store.findByIp(ciaddr);
      if (!row || row.mac !== mac) {
        if (row && row.expiresAt > now) return this.nak(request, 'address belongs to another client');
        return this.silent('no record of this lease');
      }
      if (!this.assignable(ciaddr, mac, now)) return this.nak(request, 'address no longer available');
      return this.bind(request, ciaddr, now);
    }
    return this.silent('DHCPREQUEST without server id, requested address or ciaddr');
  }

  /** RFC 2131 section 4.3.3: the client found the address in use; keep it out of the pool. */
  private onDecline(request: DhcpClientRequest, now: number): EngineOutcome {
    if (request.serverId !== undefined && request.serverId !== this.settings.serverAddress) return this.silent('DECLINE for another server');
    const ip = request.requestedIp;
    if (!ip) return this.silent('DECLINE without requested address');
    const row = this.store.findByIp(ip);
    if (!row || row.mac !== request.mac) return this.silent('DECLINE for an address this client does not hold');
    const lease: LeaseRow = { ...row, state: 'declined', expiresAt: now + this.settings.declineQuarantineSeconds * 1000, updatedAt: now };
    this.store.put(lease);
    return { reply: undefined, destination: undefined, boot: undefined, change: { kind: 'declined', lease } };
  }

  /** RFC 2131 section 4.3.4. */
  private onRelease(request: DhcpClientRequest, now: number): EngineOutcome {
    const ip = request.message.ciaddr;
    const row = this.store.findByIp(ip);
    if (!row || row.mac !== request.mac || row.state !== 'bound') return this.silent('RELEASE for an address this client does not hold');
    const lease: LeaseRow = { ...row, state: 'released', expiresAt: now, updatedAt: now };
    this.store.put(lease);
    return { reply: undefined, destination: undefined, boot: undefined, change: { kind: 'released', lease } };
  }

  /** RFC 2131 section 4.3.5: configuration only, no address, no lease time, unicast to ciaddr. */
  private onInform(request: DhcpClientRequest): EngineOutcome {
    if (request.message.ciaddr === '0.0.0.0') return this.silent('INFORM without ciaddr');
    const { reply, boot } = this.reply(request, DhcpMessageType.ACK, '0.0.0.0', false);
    return { reply, destination: replyDestination(request, false), boot, change: undefined };
  }

  expire(now: number): LeaseRow[] {
    return this.store.expire(now);
  }

  /** Calls `done` once every lease change so far is committed (see LeaseStore.whenDurable). */
  whenDurable(done: (error: unknown) => void): void {
    this.store.whenDurable(done);
  }

  /** Commits pending lease changes now (before the database closes). */
  flush(): void {
    this.store.flush();
  }

  leases(): LeaseRow[] {
    return this.store.list();
  }
}
