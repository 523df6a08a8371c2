// Validation of user-supplied names: seat and image names, MAC addresses, IQNs, IPv4
// addresses. Every function either returns the normalized value or throws a LanbootError
// whose message names the setting and quotes the offending input.
import net from 'node:net';
import { LanbootError } from '../log/errors.js';

/** Seat and image names: 1-32 chars of [a-z0-9-]. They end up in IQNs (RFC 3720 3.2.6.2
 *  allows only lower-case ASCII, digits, '-', '.', ':'), directory names and URLs. */
export const NAME_PATTERN = /^[a-z0-9-]{1,32}$/;

export type NameKind = 'seat' | 'image';

/** Quotes user input for an error message, cut short so a hostile value cannot flood it. */
export function quoteInput(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
  const cut = text.length > 64 ? `${text.slice(0, 64)}...` : text;
  return `'${cut.replace(/[\u0000-\u001f\u007f]/g, '?')}'`;
}

export function validateName(value: unknown, kind: NameKind, setting = `--name`): string {
  if (typeof value !== 'string' || !NAME_PATTERN.test(value)) {
    throw new LanbootError(
      'LANBOOT_INVALID_INPUT',
      `${setting}: expected ${kind === 'image' ? 'an' : 'a'} ${kind} name of 1-32 characters a-z, 0-9 and '-', got ${quoteInput(value)}`,
    );
  }
  return value;
}

/** Accepts aa:bb:cc:dd:ee:ff, aa-bb-cc-dd-ee-ff or aabbccddeeff in any case; returns
 *  lower-case colon form. */
export function normalizeMac(value: unknown, setting = '--mac'): string {
  if (typeof value === 'string') {
    const trimmed = value.trim().toLowerCase();
    let hex: string | undefined;
    if (/^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/.test(trimmed)) hex = trimmed.replace(/[:-]/g, '');
    else if (/^[0-9a-f]{12}$/.test(trimmed)) hex = trimmed;
    if (hex !== undefined) {
      const mac = hex.match(/../g)!.join(':');
      // A multicast/broadcast address is never a PC's NIC (IEEE 802: I/G bit of the first octet).
      if ((parseInt(hex.slice(0, 2), 16) & 1) === 1) {
        throw new LanbootError('LANBOOT_INVALID_INPUT', `${setting}: ${quoteInput(value)} is a multicast or broadcast address, not a PC's NIC`);
      }
      return mac;
    }
  }
  throw new LanbootError('LANBOOT_INVALID_INPUT', `${setting}: expected a MAC address like aa:bb:cc:dd:ee:ff, got ${quoteInput(value)}`);
}

/** iSCSI names, RFC 3720 3.2.6: "iqn." yyyy-mm "." reversed domain [":" anything], or
 *  "eui." 16 hex digits, or "naa." 16/32 hex digits; at most 223 bytes; stringprep'd, so we
 *  accept the lower-case ASCII subset, which is what every initiator we serve uses. */
export function validateIqn(value: unknown, setting = '--initiator'): string {
  if (typeof value === 'string') {
    const iqn = value.trim();
    const ok =
      iqn.length <= 223 &&
      (/^iqn\.\d{4}-(0[1-9]|1[0-2])\.[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[a-z0-9.:_-]+)?$/.test(iqn) ||
        /^eui\.[0-9a-f]{16}$/.test(iqn) ||
        /^naa\.([0-9a-f]{16}|[0-9a-f]{32})$/.test(iqn));
    if (ok) return iqn;
  }
  throw new LanbootError(
    'LANBOOT_INVALID_INPUT',
    `${setting}: expected an iSCSI name like iqn.2004-10.com.example:pc1 (lower case, RFC 3720 3.2.6), got ${quoteInput(value)}`,
  );
}

export function validateIpv4(value: unknown, setting: string): string {
  if (typeof value === 'string' && net.isIPv4(value)) return value;
  throw new LanbootError('LANBOOT_INVALID_INPUT', `${setting}: expected an IPv4 address like 192.168.1.10, got ${quoteInput(value)}`);
}

export function ipv4ToNumber(address: string): number {
  return address.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
}

/** fresh: delta dropped at every boot; persistent: kept until reset; maintenance: the one
 *  seat per image whose changes are committed as its next version; install: a blank disk
 *  attached with iPXE keep-san for an OS installer (docs/seats.md). */
export const SEAT_MODES = ['fresh', 'persistent', 'maintenance', 'install'] as const;
export type SeatMode = (typeof SEAT_MODES)[number];

export function validateMode(value: unknown, setting = '--mode'): SeatMode {
  if (typeof value === 'string' && (SEAT_MODES as readonly string[]).includes(value)) return value as SeatMode;
  throw new LanbootError('LANBOOT_INVALID_INPUT', `${setting}: expected one of ${SEAT_MODES.join(', ')}, got ${quoteInput(value)}`);
}

const SIZE_UNITS: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/** Sizes like 64G, 512M, 1.5T, 1048576 (binary units; an optional trailing "iB"/"B").
 *  Returns bytes, rounded down to a whole number of 512-byte blocks, within [min, max]. */
export function parseSize(value: unknown, setting: string, limits: { min: number; max: number }): number {
  if (typeof value === 'number' && Number.isSafeInteger(value)) value = String(value);
  const match = typeof value === 'string' ? /^\s*(\d{1,15}(?:\.\d{1,6})?)\s*([KMGT]?)(?:i?B)?\s*$/i.exec(value) : null;
  if (!match) {
    throw new LanbootError('LANBOOT_INVALID_INPUT', `${setting}: expected a size like 64G, 512M or a number of bytes, got ${quoteInput(value)}`);
  }
  const bytes = Math.floor((Number(match[1]) * SIZE_UNITS[match[2]!.toUpperCase()]!) / 512) * 512;
  if (!Number.isSafeInteger(bytes) || bytes < limits.min || bytes > limits.max) {
    throw new LanbootError('LANBOOT_INVALID_INPUT', `${setting}: ${quoteInput(value)} is out of range (${limits.min} bytes to ${limits.max / 2 ** 40} TiB)`);
  }
  return bytes;
}
