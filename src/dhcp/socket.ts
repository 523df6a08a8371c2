// Where DHCP sockets come from. The servers take a factory so the way a socket is bound is a
// single decision:
//  - 'interface': the addon's openInterfaceUdpSocket (SO_BINDTODEVICE): a server on eth0 never
//    sees or answers a broadcast from another interface, and limited-broadcast replies leave
//    through eth0 even without a route. This is what the appliance uses.
//  - 'any-address': a plain dgram socket bound to 0.0.0.0. Only correct where the interface is
//    the only one, e.g. inside a network namespace a test created.
import dgram from 'node:dgram';
import os from 'node:os';
import { LanbootError } from '../log/errors.js';
import type { OpenInterfaceUdpSocket } from '../native/index.js';

export type DhcpBindMode = 'interface' | 'any-address';

export interface DhcpSocketFactory {
  open(interfaceName: string, port: number): Promise<dgram.Socket>;
}

function bindSocket(socket: dgram.Socket, options: dgram.BindOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    socket.once('error', onError);
    socket.bind(options, () => {
      socket.off('error', onError);
      socket.setBroadcast(true);
      resolve();
    });
  });
}

/** 'interface' needs the addon's openInterfaceUdpSocket (the supervisor hands it in). */
export function createDhcpSocketFactory(mode: 'any-address'): DhcpSocketFactory;
export function createDhcpSocketFactory(mode: DhcpBindMode, openInterfaceUdpSocket: OpenInterfaceUdpSocket): DhcpSocketFactory;
export function createDhcpSocketFactory(mode: DhcpBindMode, openInterfaceUdpSocket?: OpenInterfaceUdpSocket): DhcpSocketFactory {
  if (mode === 'interface' && !openInterfaceUdpSocket) throw new LanbootError('LANBOOT_INTERNAL', 'DHCP: interface-bound sockets need the addon');
  return {
    async open(interfaceName: string, port: number): Promise<dgram.Socket> {
      const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
      try {
        if (mode === 'any-address') {
          await bindSocket(socket, { address: '0.0.0.0', port });
        } else {
          let fd: number;
          try {
            fd = openInterfaceUdpSocket!(interfaceName, port);
          } catch (cause) {
            throw new LanbootError(
              'LANBOOT_UDP_SOCKET',
              `cannot open a UDP socket on ${interfaceName}:${port}: ${(cause as Error).message}`,
              { interface: interfaceName, port },
              { cause },
            );
          }
          await bindSocket(socket, { fd });
        }
        return socket;
      } catch (error) {
        socket.close();
        throw error;
      }
    },
  };
}

/** The first IPv4 address of an interface: the server identifier (option 54) and next-server. */
export function interfaceIpv4(interfaceName: string): { address: string; netmask: string; mac: string } {
  const entries = os.networkInterfaces()[interfaceName] ?? [];
  const v4 = entries.find((entry) => entry.family === 'IPv4' && !entry.internal) ?? entries.find((entry) => entry.family === 'IPv4');
  if (!v4) {
    throw new LanbootError('LANBOOT_DHCP_NO_INTERFACE_ADDRESS', `interface ${interfaceName} has no IPv4 address`, { interface: interfaceName });
  }
  return { address: v4.address, netmask: v4.netmask, mac: v4.mac };
}
