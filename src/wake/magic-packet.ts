// The Wake-on-LAN magic packet (AMD's "Magic Packet" white paper, 1995): six bytes 0xFF, then
// the target's MAC address sixteen times; 102 bytes. Pure: a MAC in, bytes out.
import { normalizeMac } from '../config/names.js';

export const MAGIC_PACKET_BYTES = 6 + 16 * 6;

export function magicPacket(mac: string): Buffer {
  const hex = normalizeMac(mac, 'mac').replace(/:/g, '');
  const address = Buffer.from(hex, 'hex');
  const packet = Buffer.alloc(MAGIC_PACKET_BYTES, 0xff);
  for (let i = 0; i < 16; i += 1) address.copy(packet, 6 + i * 6);
  return packet;
}

/** The MAC a magic packet wakes, or null when `bytes` is not one. */
export function parseMagicPacket(bytes: Uint8Array): string | null {
  if (bytes.length !== MAGIC_PACKET_BYTES) return null;
  for (let i = 0; i < 6; i += 1) if (bytes[i] !== 0xff) return null;
  const first = Buffer.from(bytes.subarray(6, 12));
  for (let i = 1; i < 16; i += 1) if (!first.equals(Buffer.from(bytes.subarray(6 + i * 6, 12 + i * 6)))) return null;
  return [...first].map((b) => b.toString(16).padStart(2, '0')).join(':');
}
