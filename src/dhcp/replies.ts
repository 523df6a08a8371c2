// Building server replies and choosing where they go. Pure: no sockets.
import {
  BootpOp,
  DhcpOption,
  PxeSubOption,
  encodeEncapsulated,
  encodeUint32,
  FLAG_BROADCAST,
  ipv4ToBuffer,
  type DhcpClientRequest,
  type DhcpMessageInput,
} from './codec.js';
import type { BootDecision } from './boot-policy.js';

export const DHCP_SERVER_PORT = 67;
export const DHCP_CLIENT_PORT = 68;
/** PXE 2.1 spec section 2.2.1: the proxyDHCP / boot server port for DHCPREQUESTs. */
export const PXE_PROXY_PORT = 4011;

/** PXE 2.1 spec, option 43 sub-option 6 (PXE_DISCOVERY_CONTROL), bit 3: the boot file name in
 *  this offer is to be downloaded directly, without boot server discovery or a menu. */
export const PXE_DISCOVERY_USE_BOOTFILE = 0x08;

/** The boot fields and options every answer to a network-booting client carries. */
export function bootOptions(
  request: DhcpClientRequest,
  decision: Extract<BootDecision, { kind: 'boot' }>,
  serverAddress: string,
): Array<[number, Buffer]> {
  const options: Array<[number, Buffer]> = [[DhcpOption.VENDOR_CLASS, Buffer.from(decision.vendorClassEcho, 'latin1')]];
  if (decision.vendorClassEcho === 'PXEClient') {
    options.push([
      DhcpOption.VENDOR_SPECIFIC,
      encodeEncapsulated([[PxeSubOption.DISCOVERY_CONTROL, Buffer.from([PXE_DISCOVERY_USE_BOOTFILE])]]),
    ]);
  }
  // PXE 2.1 spec: the client's UUID (option 97) is echoed so it can match the answer.
  if (request.uuidOption) options.push([DhcpOption.CLIENT_UUID, request.uuidOption]);
  // The file field carries the name for PXE ROMs; option 67 too when asked for (UEFI HTTP boot
  // and iPXE read it; a URL longer than the 127-byte file field fits only there).
  if (request.parameterRequestList.includes(DhcpOption.BOOTFILE_NAME) || decision.bootFile.length > 127) {
    options.push([DhcpOption.BOOTFILE_NAME, Buffer.from(decision.bootFile, 'latin1')]);
  }
  if (decision.viaTftp && request.parameterRequestList.includes(DhcpOption.TFTP_SERVER_NAME)) {
    options.push([DhcpOption.TFTP_SERVER_NAME, Buffer.from(serverAddress, 'latin1')]);
  }
  return options;
}

/** A proxyDHCP answer (PXE 2.1 spec section 2.2): an OFFER on port 67 or an ACK on port 4011.
 *  yiaddr stays 0.0.0.0: a proxy never hands out an address. */
export function buildProxyReply(
  request: DhcpClientRequest,
  decision: Extract<BootDecision, { kind: 'boot' }>,
  serverAddress: string,
  messageType: number,
): DhcpMessageInput {
  const m = request.message;
  return {
    op: BootpOp.REPLY,
    htype: m.htype,
    hlen: m.hlen,
    xid: m.xid,
    flags: m.flags,
    ciaddr: m.ciaddr,
    yiaddr: '0.0.0.0',
    siaddr: serverAddress,
    giaddr: m.giaddr,
    chaddr: m.chaddr,
    file: decision.bootFile.length <= 127 ? decision.bootFile : '',
    options: [
      [DhcpOption.MESSAGE_TYPE, Buffer.from([messageType])],
      [DhcpOption.SERVER_ID, ipv4ToBuffer(serverAddress)],
      ...bootOptions(request, decision, serverAddress),
    ],
  };
}

export interface LeaseParameters {
  subnetMask: string;
  routers: string[];
  dnsServers: string[];
  domainName?: string;
  broadcastAddress?: string;
  leaseSeconds: number;
}

/** Options describing the network (RFC 2132 section 3 and 9.2); leaseSeconds 0 = no lease
 *  options (a DHCPACK to DHCPINFORM must not carry a lease time, RFC 2131 section 4.3.5). */
export function networkOptions(params: LeaseParameters, withLease: boolean): Array<[number, Buffer]> {
  const options: Array<[number, Buffer]> = [[DhcpOption.SUBNET_MASK, ipv4ToBuffer(params.subnetMask)]];
  if (params.routers.length > 0) options.push([DhcpOption.ROUTER, Buffer.concat(params.routers.map(ipv4ToBuffer))]);
  if (params.dnsServers.length > 0) options.push([DhcpOption.DNS_SERVERS, Buffer.concat(params.dnsServers.map(ipv4ToBuffer))]);
  if (params.domainName) options.push([DhcpOption.DOMAIN_NAME, Buffer.from(params.domainName, 'latin1')]);
  if (params.broadcastAddress) options.push([DhcpOption.BROADCAST_ADDRESS, ipv4ToBuffer(params.broadcastAddress)]);
  if (withLease) {
    options.push([DhcpOption.LEASE_TIME, encodeUint32(params.leaseSeconds)]);
    // RFC 2131 section 4.4.5: T1 = 0.5 and T2 = 0.875 of the lease by default.
    options.push([DhcpOption.RENEWAL_TIME, encodeUint32(Math.floor(params.leaseSeconds * 0.5))]);
    options.push([DhcpOption.REBINDING_TIME, encodeUint32(Math.floor(params.leaseSeconds * 0.875))]);
  }
  return options;
}

export interface ReplyDestination {
  address: string;
  port: number;
}

/** RFC 2131 section 4.1: relay -> giaddr:67; client with an address -> ciaddr:68; otherwise
 *  broadcast (lanboot does not inject ARP entries to unicast to a client without an address).
 *  A DHCPNAK always goes to broadcast when there is no relay. */
export function replyDestination(request: DhcpClientRequest, isNak: boolean): ReplyDestination {
  const m = request.message;
  if (m.giaddr !== '0.0.0.0') return { address: m.giaddr, port: DHCP_SERVER_PORT };
  if (!isNak && m.ciaddr !== '0.0.0.0' && (m.flags & FLAG_BROADCAST) === 0) return { address: m.ciaddr, port: DHCP_CLIENT_PORT };
  return { address: '255.255.255.255', port: DHCP_CLIENT_PORT };
}
