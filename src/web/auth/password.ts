// Admin password hashing: scrypt from node:crypto (RFC 7914), a random 16-byte salt per hash,
// the parameters stored with the hash so they can be raised later without breaking old rows.
import crypto from 'node:crypto';
import { promisify } from 'node:util';
import { LanbootError } from '../../log/errors.js';

const scrypt = promisify(crypto.scrypt) as (password: crypto.BinaryLike, salt: crypto.BinaryLike, keylen: number, options: crypto.ScryptOptions) => Promise<Buffer>;

/** N = 2^15, r = 8, p = 1: OWASP's scrypt minimum; ~32 MiB and ~0.1 s per hash here. */
const DEFAULT_PARAMS = { N: 1 << 15, r: 8, p: 1 } as const;
const KEY_BYTES = 32;
const SALT_BYTES = 16;

export const MIN_PASSWORD_LENGTH = 10;
/** Long enough for any passphrase; bounds the work an attacker can make scrypt do. */
export const MAX_PASSWORD_LENGTH = 256;

function maxmemFor(N: number, r: number): number {
  return 128 * N * r + 16 * 1024 * 1024;
}

/** A clear message for a password that cannot be set (setup / change). */
export function checkNewPassword(password: unknown, confirm: unknown): string {
  if (typeof password !== 'string' || password.length === 0) throw new LanbootError('LANBOOT_INVALID_INPUT', 'password: required');
  if (password.length < MIN_PASSWORD_LENGTH) throw new LanbootError('LANBOOT_INVALID_INPUT', `password: at least ${MIN_PASSWORD_LENGTH} characters`);
  if (password.length > MAX_PASSWORD_LENGTH) throw new LanbootError('LANBOOT_INVALID_INPUT', `password: at most ${MAX_PASSWORD_LENGTH} characters`);
  if (password !== confirm) throw new LanbootError('LANBOOT_INVALID_INPUT', 'password: the two entries differ');
  return password;
}

/** `scrypt$N$r$p$salt$hash` (base64url). */
export async function hashPassword(password: string): Promise<string> {
  const { N, r, p } = DEFAULT_PARAMS;
  const salt = crypto.randomBytes(SALT_BYTES);
  const key = await scrypt(password.normalize('NFC'), salt, KEY_BYTES, { N, r, p, maxmem: maxmemFor(N, r) });
  return ['scrypt', N, r, p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  // The stored row is ours, but a damaged one must not make scrypt allocate gigabytes.
  if (!Number.isInteger(N) || !Number.isInteger(r) || !Number.isInteger(p) || N < 2 || N > 1 << 20 || r < 1 || r > 32 || p < 1 || p > 16) return false;
  const salt = Buffer.from(parts[4]!, 'base64url');
  const expected = Buffer.from(parts[5]!, 'base64url');
  if (expected.length !== KEY_BYTES || password.length > MAX_PASSWORD_LENGTH) return false;
  const key = await scrypt(password.normalize('NFC'), salt, KEY_BYTES, { N, r, p, maxmem: maxmemFor(N, r) });
  return crypto.timingSafeEqual(key, expected);
}
