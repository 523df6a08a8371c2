// The short code an unknown PC shows while it waits to be enrolled. Pure.
//
// Six characters from an alphabet without look-alikes (no 0/O, 1/I/L, 2/Z, 5/S, 6/G, 8/B), so
// it can be read off a screen across a room and typed on a phone without mistakes: 24^6, about
// 1.9e8 codes, for at most a few hundred PCs waiting at once. The code is not a secret (anyone
// standing at the PC sees it); it only names which waiting PC a person means.
import crypto from 'node:crypto';
import { LanbootError } from '../log/errors.js';
import { quoteInput } from '../config/names.js';

export const ENROLL_CODE_ALPHABET = 'ACDEFHJKMNPQRTUVWXY34679';
export const ENROLL_CODE_LENGTH = 6;

/** `randomInt(n)` returns an integer in [0, n); defaults to crypto.randomInt. */
export function generateEnrollCode(randomInt: (n: number) => number = crypto.randomInt): string {
  let code = '';
  for (let i = 0; i < ENROLL_CODE_LENGTH; i++) {
    const k = randomInt(ENROLL_CODE_ALPHABET.length);
    if (!Number.isInteger(k) || k < 0 || k >= ENROLL_CODE_ALPHABET.length) throw new RangeError(`randomInt returned ${k}`);
    code += ENROLL_CODE_ALPHABET[k];
  }
  return code;
}

/** Accepts what a person types ("abc-d34", " ACD E34 "): case, spaces and dashes ignored.
 *  Returns the canonical code or throws LANBOOT_INVALID_INPUT. */
export function normalizeEnrollCode(value: unknown, setting = 'CODE'): string {
  if (typeof value === 'string' && value.length <= 32) {
    const code = value.trim().toUpperCase().replace(/[ -]/g, '');
    if (code.length === ENROLL_CODE_LENGTH && [...code].every((c) => ENROLL_CODE_ALPHABET.includes(c))) return code;
  }
  throw new LanbootError(
    'LANBOOT_INVALID_INPUT',
    `${setting}: expected the ${ENROLL_CODE_LENGTH}-character code the PC shows (letters and digits from ${ENROLL_CODE_ALPHABET}), got ${quoteInput(value)}`,
  );
}
