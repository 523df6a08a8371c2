// Names and identities of a seat's iSCSI disk: target and initiator IQNs, CHAP secrets,
// VPD serial number and NAA designator.
import crypto from 'node:crypto';

/** RFC 3720 3.2.6.3.1: iqn.<yyyy-mm>.<reversed domain>:<unique>. */
export const IQN_PREFIX = 'iqn.2026-11.local.lanboot';

export function targetIqnFor(seatName: string): string {
  return `${IQN_PREFIX}:seat.${seatName}`;
}

/** The initiator name the seat's boot script sets; by default the only one allowed in. */
export function initiatorIqnFor(seatName: string): string {
  return `${IQN_PREFIX}:pc.${seatName}`;
}

/** User name the target presents in mutual CHAP (RFC 7143 12.1.3: the initiator checks it). */
export const MUTUAL_CHAP_USER = 'lanboot';

const SECRET_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';

/** 16 characters: the Microsoft initiator wants CHAP secrets of 12-16 bytes, and RFC 7143
 *  12.1.3 asks for at least 96 bits of entropy (16 of 57 symbols give about 93 bits of a
 *  human-typeable secret; the secret is also per seat and replaced at every boot). */
export const CHAP_SECRET_LENGTH = 16;

export function generateChapSecret(): string {
  let secret = '';
  for (let i = 0; i < CHAP_SECRET_LENGTH; i++) secret += SECRET_ALPHABET[crypto.randomInt(SECRET_ALPHABET.length)];
  return secret;
}

/** Identity material derived from what makes a seat unique: its id (never reused), name and
 *  creation time. Stored with the seat, so the disk keeps its identity for its whole life
 *  (Windows binds drivers and BitLocker to it) and a re-created seat gets a new one. */
function seatDigest(seatId: number, seatName: string, createdAt: string): Buffer {
  return crypto.createHash('sha256').update(`lanboot-seat\0${seatId}\0${seatName}\0${createdAt}`).digest();
}

/** VPD page 0x80 unit serial number (SPC-4 7.8.17): printable ASCII. */
export function serialFor(seatId: number, seatName: string, createdAt: string): string {
  return `LB${seatDigest(seatId, seatName, createdAt).subarray(0, 7).toString('hex').toUpperCase()}`;
}

/** Company id in the NAA designator. lanboot has no IEEE-assigned OUI, so it uses a CID from
 *  the locally administered space (second-lowest bit of the first octet set, SLAP 'X' bit),
 *  which no assigned OUI can collide with. */
export const NAA_COMPANY_ID = 0x0a4c42;

/** VPD page 0x83 NAA IEEE Registered designator (SPC-4 7.8.6.6.4): NAA=5 (4 bits), the
 *  24-bit company id, 36 bits vendor specific; 16 hex digits. Windows setup needs one
 *  (bugcheck 0xF4 without it). */
export function naaFor(seatId: number, seatName: string, createdAt: string): string {
  const digest = seatDigest(seatId, seatName, createdAt);
  // 36 vendor-specific bits from the digest (bytes 8..12, top nibble of byte 8 dropped).
  const vendorHex = digest.subarray(8, 13).toString('hex').slice(1);
  return `5${NAA_COMPANY_ID.toString(16).padStart(6, '0')}${vendorHex}`;
}
