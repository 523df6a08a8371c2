// Finds the DHCP servers and proxyDHCPs answering on an interface, so a user can tell why a PC
// does not boot (two servers fighting, a router that already hands out a boot file, ...).
// It sends one DHCPDISCOVER that looks like a PXE client (option 60 PXEClient, 93, 94, 97):
// proxyDHCPs answer PXE clients only, so a plain DISCOVER would not see them.
import crypto from 'node:crypto';
import type dgram from 'node:dgram';
import { pino, type Logger } from 'pino';
import {
  BootpOp,
  decodeDhcpMessage,
  DhcpMessageType,
  DhcpOption,
  DhcpParseError,
  encodeDhcpMessage,
  encodeUint16List,
  FLAG_BROADCAST,
  parseMac,
  readClientRequest,
  type DhcpMessage,
} from './codec.js';
import { DHCP_CLIENT_PORT, DHCP_SERVER_PORT } from './replies.js';
import type { DhcpSocketFactory } from './socket.js';

export interface DetectedDhcpServer {
  /** Option 54, or the reply's source address when absent. */
  serverId: string;
  /** Source address of the reply datagram. */
  from: string;
  /** Whether it offered an address (a DHCP server, not only a proxy). */
  offersAddress: boolean;
  offeredAddress: string | undefined;
  /** Whether it answered with PXE boot information (option 60 PXEClient, option 43, a file). */
  pxe: boolean;
  bootFile: string | undefined;
  nextServer: string | undefined;
  /** Option 60 of the reply, "" when absent. */
  vendorClass: string;
}

export interface DetectOptions {
  interfaceName: string;
  socketFactory: DhcpSocketFactory;
  /** How long to collect answers. */
  timeoutMs?: number;
  /** chaddr of the probe; default a random locally administered MAC, so no real client's
   *  lease is touched. */
  mac?: string;
  serverPort?: number;
  clientPort?: number;
  logger?: Logger;
}

export function buildDetectDiscover(mac: Buffer, xid: number, uuid: Buffer): Buffer {
  return encodeDhcpMessage({
    op: BootpOp.REQUEST,
    xid,
    flags: FLAG_BROADCAST,
    chaddr: mac,
    options: [
      [DhcpOption.MESSAGE_TYPE, Buffer.from([DhcpMessageType.DISCOVER])],
      [DhcpOption.PARAMETER_REQUEST_LIST, Buffer.from([1, 3, 6, 43, 54, 60, 66, 67, 97])],
      [DhcpOption.VENDOR_CLASS, Buffer.from('PXEClient:Arch:00000:UNDI:002001', 'latin1')],
      [DhcpOption.CLIENT_ARCH, encodeUint16List([0])],
      [DhcpOption.CLIENT_NDI, Buffer.from([1, 2, 1])],
      [DhcpOption.CLIENT_UUID, Buffer.concat([Buffer.from([0]), uuid])],
    ],
  });
}

function randomLocalMac(): Buffer {
  const mac = crypto.randomBytes(6);
  // Locally administered (bit 1), unicast (bit 0 clear).
  mac[0] = (mac[0]! & 0xfc) | 0x02;
  return mac;
}

/** Reads one reply into a report entry; undefined when it is not an answer to the probe. */
export function describeReply(message: DhcpMessage, from: string, xid: number, mac: Buffer): DetectedDhcpServer | undefined {
  if (message.op !== BootpOp.REPLY || message.xid !== xid || !message.chaddr.equals(mac)) return undefined;
  const type = message.options.get(DhcpOption.MESSAGE_TYPE);
  if (!type || type.length !== 1 || (type[0] !== DhcpMessageType.OFFER && type[0] !== DhcpMessageType.ACK)) return undefined;
  // readClientRequest reads the same options a server looks at; a reply carries them too.
  const info = readClientRequest(message);
  const bootFileOption = message.options.get(DhcpOption.BOOTFILE_NAME);
  const bootFile = message.file || (bootFileOption ? bootFileOption.toString('latin1') : '');
  const offersAddress = message.yiaddr !== '0.0.0.0';
  return {
    serverId: info.serverId ?? from,
    from,
    offersAddress,
    offeredAddress: offersAddress ? message.yiaddr : undefined,
    pxe: info.vendorClass.startsWith('PXEClient') || message.options.has(DhcpOption.VENDOR_SPECIFIC) || bootFile !== '',
    bootFile: bootFile || undefined,
    nextServer: message.siaddr !== '0.0.0.0' ? message.siaddr : undefined,
    vendorClass: info.vendorClass,
  };
}

/** Sends the probe and reports every server that answered within the timeout. */
export async function detectDhcpServers(options: DetectOptions): Promise<DetectedDhcpServer[]> {
  const logger = (options.logger ?? pino({ name: 'lanboot' })).child({ component: 'dhcp-detect', interface: options.interfaceName });
  const factory = options.socketFactory;
  const mac = options.mac ? parseMac(options.mac) : randomLocalMac();
  const xid = crypto.randomBytes(4).readUInt32BE(0);
  const probe = buildDetectDiscover(mac, xid, crypto.randomBytes(16));
  const socket: dgram.Socket = await factory.open(options.interfaceName, options.clientPort ?? DHCP_CLIENT_PORT);
  const found = new Map<string, DetectedDhcpServer>();
  try {
    socket.on('message', (datagram, rinfo) => {
      let entry: DetectedDhcpServer | undefined;
      try {
        entry = describeReply(decodeDhcpMessage(datagram), rinfo.address, xid, mac);
      } catch (error) {
        const code = error instanceof DhcpParseError ? error.code : 'DHCP_INTERNAL';
        logger.debug({ from: rinfo.address, code }, 'ignored malformed reply');
        return;
      }
      if (!entry) return;
      // One server may answer twice (e.g. dnsmasq as DHCP and as proxy): merge the facts.
      const previous = found.get(entry.serverId);
      found.set(
        entry.serverId,
        previous
          ? {
              ...previous,
              offersAddress: previous.offersAddress || entry.offersAddress,
              offeredAddress: previous.offeredAddress ?? entry.offeredAddress,
              pxe: previous.pxe || entry.pxe,
              bootFile: previous.bootFile ?? entry.bootFile,
              nextServer: previous.nextServer ?? entry.nextServer,
              vendorClass: previous.vendorClass || entry.vendorClass,
            }
          : entry,
      );
    });
    await new Promise<void>((resolve, reject) =>
      socket.send(probe, options.serverPort ?? DHCP_SERVER_PORT, '255.255.255.255', (error) => (error ? reject(error) : resolve())),
    );
    await new Promise((resolve) => setTimeout(resolve, options.timeoutMs ?? 3000));
  } finally {
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
  const servers = [...found.values()];
  logger.info({ servers }, servers.length === 0 ? 'no DHCP server answered' : 'DHCP servers answering');
  return servers;
}
