// Parsers for what callers send about seats (API bodies, URL parts): `unknown` in, typed
// request out, or a LanbootError whose message names the field and quotes the input. The
// seat jobs take only what these return.
import { LanbootError } from '../log/errors.js';
import { normalizeMac, parseSize, quoteInput, validateIqn, validateMode, validateName, type SeatMode } from '../config/names.js';
import { initiatorIqnFor } from './identity.js';
import { parseBootChoice, parseIsoName, type BootChoiceInput, type MenuRequest } from './boot-options.js';
import { MAX_MENU_TIMEOUT_SECONDS } from '../config/config.js';

export interface AddSeatRequest {
  name: string;
  /** Golden image; null for an install seat (blank disk). */
  image: string | null;
  /** Lower-case colon form; null: no PC bound yet. */
  mac: string | null;
  mode: SeatMode;
  /** Install seats: the blank disk's size; null for the others (their golden image's). */
  sizeBytes: number | null;
  /** Delta quota; 0 = none. */
  quotaBytes: number;
  /** Initiators allowed in; never empty (by default the seat's own initiator name). */
  initiators: string[];
  chap: boolean;
  mutualChap: boolean;
  /** Install seats: the installer ISO of the library booted with the blank disk attached;
   *  null: the PC's own next boot device (a DVD or USB stick). */
  iso: { image: string | null; file: string | null } | null;
}

export interface CommitRequest {
  /** The image the disk becomes: required for an install seat; a maintenance seat commits to
   *  its own. Checked against the seat's mode by the commit itself. */
  image: string | null;
  /** End the seat's sessions instead of refusing while it has some. */
  force: boolean;
}

const MAX_INITIATORS = 16;
/** Install disks: 1 MiB .. 64 TiB. */
const INSTALL_SIZE_LIMITS = { min: 2 ** 20, max: 2 ** 46 };
/** Quotas: 1 MiB .. 64 TiB. */
const QUOTA_LIMITS = { min: 2 ** 20, max: 2 ** 46 };
const LABEL_PATTERN = /^[\p{L}\p{N} ._:-]{1,64}$/u;

function absent(value: unknown): boolean {
  return value === undefined || value === null;
}

/** A seat named in a URL or a command. */
export function parseSeatName(value: unknown): string {
  return validateName(value, 'seat', 'seat');
}

export function parseImageName(value: unknown): string {
  return validateName(value, 'image', 'image');
}

export function parseMode(value: unknown): SeatMode {
  return validateMode(value, 'mode');
}

/** A delta quota: a size ("10G", bytes), or absent/null/"none"/0 for no quota (0). */
export function parseQuota(value: unknown): number {
  if (absent(value) || value === 'none' || value === 0 || value === '0') return 0;
  return parseSize(value, 'quota', QUOTA_LIMITS);
}

/** A version number (a number or its digits); absent/null/"" = the image's current one. */
export function parseVersion(value: unknown): number | null {
  if (absent(value) || value === '') return null;
  const number = typeof value === 'string' && /^\d{1,9}$/.test(value) ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isSafeInteger(number) || number < 1) {
    throw new LanbootError('LANBOOT_INVALID_INPUT', `version: expected a version number like 3, got ${quoteInput(value)}`);
  }
  return number;
}

/** A snapshot number (a number or its digits, as in a URL). */
export function parseSnapshotNumber(value: unknown): number {
  const number = typeof value === 'string' && /^\d{1,9}$/.test(value) ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isSafeInteger(number) || number < 1) {
    throw new LanbootError('LANBOOT_INVALID_INPUT', `snapshot: expected a snapshot number like 2, got ${quoteInput(value)}`);
  }
  return number;
}

/** A snapshot's label; absent/null/"" = none. */
export function parseSnapshotLabel(value: unknown): string | null {
  if (absent(value) || value === '') return null;
  if (typeof value !== 'string' || !LABEL_PATTERN.test(value)) {
    throw new LanbootError('LANBOOT_INVALID_INPUT', `label: expected 1-64 letters, digits, spaces or ._:- , got ${quoteInput(value)}`);
  }
  return value;
}

export function parseCommitRequest(body: { image?: unknown; force?: unknown }): CommitRequest {
  if (body.force !== undefined && typeof body.force !== 'boolean') throw new LanbootError('LANBOOT_INVALID_INPUT', 'force: expected true or false');
  let image: string | null = null;
  if (!absent(body.image)) {
    // Only the type here: which names are right depends on the seat's mode (commit.ts).
    if (typeof body.image !== 'string') validateName(body.image, 'image', 'image');
    image = body.image as string;
  }
  return { image, force: body.force === true };
}

/** The fields of a new seat, in the order they are checked. What needs the database (the
 *  image exists, the name and MAC are free) is checked when the seat is added. */
export function parseAddSeatRequest(body: {
  name?: unknown;
  image?: unknown;
  mac?: unknown;
  mode?: unknown;
  size?: unknown;
  quota?: unknown;
  initiators?: unknown;
  chap?: unknown;
  mutualChap?: unknown;
  iso?: unknown;
}): AddSeatRequest {
  const name = validateName(body.name, 'seat', 'name');
  const mac = absent(body.mac) || body.mac === '' ? null : normalizeMac(body.mac, 'mac');
  const mode = absent(body.mode) ? 'fresh' : validateMode(body.mode, 'mode');
  const quotaBytes = parseQuota(body.quota);
  if (body.chap !== undefined && typeof body.chap !== 'boolean') throw new LanbootError('LANBOOT_INVALID_INPUT', 'chap: expected true or false');
  if (body.mutualChap !== undefined && typeof body.mutualChap !== 'boolean') {
    throw new LanbootError('LANBOOT_INVALID_INPUT', 'mutualChap: expected true or false');
  }
  const chap = body.chap !== false;
  if (body.mutualChap === true && !chap) throw new LanbootError('LANBOOT_INVALID_INPUT', 'mutualChap: mutual CHAP needs CHAP (drop --no-chap)');
  let initiators: string[];
  if (absent(body.initiators) || (Array.isArray(body.initiators) && body.initiators.length === 0)) {
    initiators = [initiatorIqnFor(name)];
  } else {
    if (!Array.isArray(body.initiators) || body.initiators.length > MAX_INITIATORS) {
      throw new LanbootError('LANBOOT_INVALID_INPUT', `initiators: expected a list of at most ${MAX_INITIATORS} iSCSI names`);
    }
    initiators = [...new Set(body.initiators.map((iqn) => validateIqn(iqn, 'initiator')))];
  }

  let image: string | null = null;
  let sizeBytes: number | null = null;
  if (mode === 'install') {
    // A blank disk for an OS installer; no golden image until its first commit.
    if (!absent(body.image) && body.image !== '') {
      throw new LanbootError('LANBOOT_INVALID_INPUT', 'image: an install seat starts from a blank disk; give --size, and name the image at `client commit`');
    }
    if (absent(body.size)) throw new LanbootError('LANBOOT_INVALID_INPUT', 'size: an install seat needs the blank disk size (e.g. --size 64G)');
    sizeBytes = parseSize(body.size, 'size', INSTALL_SIZE_LIMITS);
  } else {
    if (!absent(body.iso) && body.iso !== '') throw new LanbootError('LANBOOT_INVALID_INPUT', 'iso: only an install seat boots an installer ISO (add --mode install --size SIZE)');
    if (!absent(body.size)) {
      throw new LanbootError('LANBOOT_INVALID_INPUT', 'size: only an install seat has a size of its own (the others have their golden image\'s)');
    }
    image = validateName(body.image, 'image', 'image');
  }
  const iso = mode === 'install' && !absent(body.iso) && body.iso !== '' ? parseIsoName(typeof body.iso === 'string' && body.iso.startsWith('iso:') ? body.iso.slice(4) : body.iso, 'iso') : null;
  return { name, image, mac, mode, sizeBytes, quotaBytes, initiators, chap, mutualChap: body.mutualChap === true, iso };
}

/** POST /seats/:name/menu: {menu: on|off|default, timeout?: seconds|null, default?: choice|null}. */
export function parseMenuRequest(body: { menu?: unknown; timeout?: unknown; default?: unknown }): MenuRequest {
  const menu = body.menu;
  if (menu !== 'on' && menu !== 'off' && menu !== 'default') throw new LanbootError('LANBOOT_INVALID_INPUT', `menu: expected on, off or default, got ${quoteInput(menu)}`);
  let timeout: number | null | undefined;
  if (body.timeout === undefined) timeout = undefined;
  else if (body.timeout === null || body.timeout === 'default') timeout = null;
  else {
    const number = typeof body.timeout === 'string' && /^\d{1,4}$/.test(body.timeout) ? Number(body.timeout) : body.timeout;
    if (typeof number !== 'number' || !Number.isInteger(number) || number < 0 || number > MAX_MENU_TIMEOUT_SECONDS) {
      throw new LanbootError('LANBOOT_INVALID_INPUT', `timeout: expected seconds from 0 to ${MAX_MENU_TIMEOUT_SECONDS}, got ${quoteInput(body.timeout)}`);
    }
    timeout = number;
  }
  const defaultChoice = body.default === undefined ? undefined : body.default === null ? null : parseBootChoice(body.default, 'default', ['disk', 'local', 'iso']);
  return { menu, timeout, defaultChoice };
}

/** POST /seats/:name/boot: {once: disk|local|menu|iso:NAME} or {once: null} to cancel. */
export function parseOnceRequest(body: { once?: unknown }): BootChoiceInput | null {
  if (body.once === null || body.once === 'none') return null;
  return parseBootChoice(body.once, 'once', ['disk', 'local', 'menu', 'iso']);
}

/** The trace switch: true/false or "on"/"off". */
export function parseTraceSwitch(value: unknown): boolean {
  if (value === true || value === 'on') return true;
  if (value === false || value === 'off') return false;
  throw new LanbootError('LANBOOT_INVALID_INPUT', `trace: expected on or off, got ${quoteInput(value)}`);
}
