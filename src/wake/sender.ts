// Sends magic packets. On the box the packet is a UDP broadcast (255.255.255.255, port 9) on
// the LAN interface: a socket bound to that interface (the addon's SO_BINDTODEVICE socket)
// sends a limited broadcast out of it even when the box has no default route, and never out
// of another interface. Without a named interface (no DHCP interface set) a plain socket sends
// where the routing table says.
import dgram from 'node:dgram';
import { LanbootError } from '../log/errors.js';
import type { NativeAddon } from '../native/index.js';
import { magicPacket } from './magic-packet.js';

export interface WakeSettings {
  /** LAN interface the broadcast leaves from; null: wherever the routing table says. */
  interface: string | null;
  /** Where the packet goes: the limited broadcast unless a test points it elsewhere. */
  address: string;
  /** UDP port: 9 (discard) by custom; 7 also works for most NICs. */
  port: number;
}

export const DEFAULT_WAKE_SETTINGS: Omit<WakeSettings, 'interface'> = { address: '255.255.255.255', port: 9 };

function bind(socket: dgram.Socket, options: dgram.BindOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(options, () => {
      socket.off('error', reject);
      resolve();
    });
  });
}

function send(socket: dgram.Socket, packet: Buffer, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => socket.send(packet, port, address, (error) => (error ? reject(error) : resolve())));
}

export class WakeSender {
  constructor(
    private readonly settings: WakeSettings,
    private readonly openInterfaceUdpSocket: NativeAddon['openInterfaceUdpSocket'],
  ) {}

  /** Sends one magic packet per MAC on one socket; resolves when every one is handed to the
   *  kernel. */
  async wake(macs: string[]): Promise<void> {
    if (this.settings.interface === null && this.settings.address === DEFAULT_WAKE_SETTINGS.address) {
      // Without the LAN interface a limited broadcast would leave by whatever interface the
      // routing table picks, which may not be the PCs' LAN.
      throw new LanbootError('LANBOOT_WAKE_FAILED', 'wake: lanboot does not know the LAN interface; start it with --interface IFACE (or auto)');
    }
    if (macs.length === 0) return;
    const packets = macs.map((mac) => magicPacket(mac));
    const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    const where = this.settings.interface ?? 'the default route';
    try {
      if (this.settings.interface !== null) {
        const fd = this.openInterfaceUdpSocket(this.settings.interface, 0);
        await bind(socket, { fd });
      } else {
        await bind(socket, { port: 0 });
      }
      socket.setBroadcast(true);
      for (const packet of packets) await send(socket, packet, this.settings.port, this.settings.address);
    } catch (error) {
      throw new LanbootError('LANBOOT_WAKE_FAILED', `cannot send the wake packet on ${where}: ${(error as Error).message}`, undefined, { cause: error });
    } finally {
      socket.close();
    }
  }
}
