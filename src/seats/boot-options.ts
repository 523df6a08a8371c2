// What a seat's PC boots besides its disk: the boot menu (on, off or the box's setting; its
// timeout and default entry), the one-shot choice for the next boot, and an install seat's
// installer ISO. Choices are kept as text: 'disk', 'local', 'menu' or 'iso:<image>/<file>',
// the ISO always named by the two names the library serves it under (src/iso/library.ts),
// so what reaches a boot script is drawn from the library, never from what a caller typed.
import { LanbootError } from '../log/errors.js';
import { NAME_PATTERN, quoteInput } from '../config/names.js';
import type { SeatRow } from '../db/seats.js';
import { ISO_FILE } from '../storage/image-store.js';
import { requireSeat, type SeatContext } from './context.js';

export const BOOT_CHOICE_KINDS = ['disk', 'local', 'menu', 'iso'] as const;
export type BootChoiceKind = (typeof BOOT_CHOICE_KINDS)[number];

/** A choice as a caller wrote it: the ISO part may be 'image/file.iso', 'file.iso' or 'image'
 *  (resolveBootChoice finds the one ISO meant). */
export interface BootChoiceInput {
  kind: BootChoiceKind;
  iso: { image: string | null; file: string | null } | null;
}

/** A resolved choice: an ISO as its library names. */
export type BootChoice = { kind: 'disk' | 'local' | 'menu' } | { kind: 'iso'; image: string; file: string };

const MAX_CHOICE_LENGTH = 140;

/** Parses 'disk', 'local', 'menu' or 'iso:NAME' (only the kinds in `allowed`). */
export function parseBootChoice(value: unknown, field: string, allowed: readonly BootChoiceKind[]): BootChoiceInput {
  const expected = allowed.map((k) => (k === 'iso' ? 'iso:NAME' : k)).join(', ');
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_CHOICE_LENGTH) {
    throw new LanbootError('LANBOOT_INVALID_INPUT', `${field}: expected one of ${expected}, got ${quoteInput(value)}`);
  }
  const kind = (value.startsWith('iso:') ? 'iso' : value) as BootChoiceKind;
  if (!allowed.includes(kind)) throw new LanbootError('LANBOOT_INVALID_INPUT', `${field}: expected one of ${expected}, got ${quoteInput(value)}`);
  if (kind !== 'iso') return { kind, iso: null };
  return { kind, iso: parseIsoName(value.slice(4), field) };
}

/** An ISO of the library as 'image/file.iso', 'file.iso' or 'image' (names.ts and
 *  image-store.ts ISO_FILE: nothing else can be a library name, so nothing else gets by). */
export function parseIsoName(text: unknown, field: string): { image: string | null; file: string | null } {
  const fail = () => new LanbootError('LANBOOT_INVALID_INPUT', `${field}: expected an ISO of the library as IMAGE/FILE.iso (see \`lanboot iso list\`), got ${quoteInput(text)}`);
  if (typeof text !== 'string') throw fail();
  const slash = text.indexOf('/');
  if (slash >= 0) {
    const image = text.slice(0, slash);
    const file = text.slice(slash + 1);
    if (!NAME_PATTERN.test(image) || !ISO_FILE.test(file)) throw fail();
    return { image, file };
  }
  if (ISO_FILE.test(text)) return { image: null, file: text };
  if (NAME_PATTERN.test(text)) return { image: text, file: null };
  throw fail();
}

export function formatBootChoice(choice: BootChoice): string {
  return choice.kind === 'iso' ? `iso:${choice.image}/${choice.file}` : choice.kind;
}

/** Reads back a stored choice; undefined for text that is not one (never from a caller). */
export function storedBootChoice(text: string | null): BootChoice | undefined {
  if (text === null) return undefined;
  if (text === 'disk' || text === 'local' || text === 'menu') return { kind: text };
  const match = /^iso:([^/]+)\/(.+)$/.exec(text);
  if (match && NAME_PATTERN.test(match[1]!) && ISO_FILE.test(match[2]!)) return { kind: 'iso', image: match[1]!, file: match[2]! };
  return undefined;
}

/** The one ISO of the library that `input` names. */
export function resolveIso(ctx: SeatContext, iso: { image: string | null; file: string | null }, field: string): { image: string; file: string } {
  const matches = ctx.images.listIsos().filter((row) => (iso.image === null || row.imageName === iso.image) && (iso.file === null || row.fileName === iso.file));
  const wanted = `${iso.image ?? '*'}/${iso.file ?? '*'}`;
  if (matches.length === 0) throw new LanbootError('LANBOOT_ISO_NOT_FOUND', `${field}: no ISO ${wanted} in the library (see \`lanboot iso list\`)`);
  if (matches.length > 1) {
    const names = matches.slice(0, 5).map((row) => `${row.imageName}/${row.fileName}`).join(', ');
    throw new LanbootError('LANBOOT_INVALID_INPUT', `${field}: ${wanted} matches ${matches.length} ISOs (${names}${matches.length > 5 ? ', ...' : ''}); give IMAGE/FILE.iso`);
  }
  return { image: matches[0]!.imageName, file: matches[0]!.fileName };
}

export function resolveBootChoice(ctx: SeatContext, input: BootChoiceInput, field: string): BootChoice {
  if (input.kind !== 'iso') return { kind: input.kind };
  return { kind: 'iso', ...resolveIso(ctx, input.iso!, field) };
}

/** Whether an ISO the seat names is still in the library (it may have been removed since). */
export function isoExists(ctx: SeatContext, choice: { image: string; file: string }): boolean {
  return ctx.images.listIsos(choice.image).some((row) => row.fileName === choice.file);
}

export interface SeatBootView {
  /** 'on' / 'off', or null: as the box's --boot-menu says. */
  menu: 'on' | 'off' | null;
  /** Seconds; null: the box's --boot-menu-timeout. */
  menuTimeout: number | null;
  /** 'disk', 'local' or 'iso:IMAGE/FILE'. */
  menuDefault: string;
  /** What the next boot does instead of the usual, or null. */
  once: string | null;
  onceSetAt: string | null;
  /** Install seats: the installer ISO ('iso:IMAGE/FILE'); null: the PC's next boot device. */
  installIso: string | null;
  /** Install seats: whether the disk now starts with a boot signature (then the seat boots
   *  its disk); null for the other modes or when the engine cannot tell. */
  diskBootable: boolean | null;
}

/** Sector 0 ends with the 0x55 0xAA boot signature: an MBR, or the protective MBR of a GPT
 *  disk (UEFI spec 5.2.3), so both BIOS and UEFI installs count. A blank disk reads as zeros. */
export function hasBootSignature(sector0: Uint8Array): boolean {
  return sector0.length >= 512 && sector0[510] === 0x55 && sector0[511] === 0xaa;
}

/** Whether the seat's disk has been made bootable (see hasBootSignature); null if the
 *  engine does not have the target (not registered, or busy). */
export function diskBootable(ctx: SeatContext, seat: SeatRow): boolean | null {
  try {
    return hasBootSignature(ctx.engine.readDisk(seat.targetIqn, 0, 512));
  } catch {
    return null;
  }
}

export function seatBootView(ctx: SeatContext, seat: SeatRow): SeatBootView {
  const row = ctx.seats.boot.get(seat.id);
  return {
    menu: row.menu,
    menuTimeout: row.menuTimeout,
    menuDefault: row.menuDefault ?? 'disk',
    once: row.once,
    onceSetAt: row.onceSetAt,
    installIso: row.installIso,
    diskBootable: seat.mode === 'install' ? diskBootable(ctx, seat) : null,
  };
}

export interface MenuRequest {
  /** 'default': follow the box's setting. */
  menu: 'on' | 'off' | 'default';
  /** undefined: unchanged; null: the box's timeout. */
  timeout: number | null | undefined;
  /** undefined: unchanged; null: disk. */
  defaultChoice: BootChoiceInput | null | undefined;
}

export function setSeatMenu(ctx: SeatContext, name: string, request: MenuRequest): SeatBootView {
  const seat = requireSeat(ctx, name);
  const current = ctx.seats.boot.get(seat.id);
  const timeout = request.timeout === undefined ? current.menuTimeout : request.timeout;
  let defaultText = current.menuDefault;
  if (request.defaultChoice === null) defaultText = null;
  else if (request.defaultChoice !== undefined) defaultText = formatBootChoice(resolveBootChoice(ctx, request.defaultChoice, 'default'));
  ctx.seats.boot.setMenu(seat.id, request.menu === 'default' ? null : request.menu, timeout, defaultText);
  ctx.log.info({ seat: seat.name, mac: seat.mac, menu: request.menu, timeout, default: defaultText }, 'seat boot menu set');
  return seatBootView(ctx, seat);
}

/** Sets (null: cancels) what the seat's next boot does. */
export function setSeatOnce(ctx: SeatContext, name: string, input: BootChoiceInput | null): SeatBootView {
  const seat = requireSeat(ctx, name);
  const text = input === null ? null : formatBootChoice(resolveBootChoice(ctx, input, 'once'));
  ctx.seats.boot.setOnce(seat.id, text, new Date().toISOString());
  ctx.log.info({ seat: seat.name, mac: seat.mac, once: text }, text === null ? 'seat next-boot choice cancelled' : 'seat next boot set');
  return seatBootView(ctx, seat);
}

/** The pending one-shot choice, cleared: the boot script being written now carries it out. */
export function takeSeatOnce(ctx: SeatContext, name: string): BootChoice | undefined {
  const seat = requireSeat(ctx, name);
  const text = ctx.seats.boot.takeOnce(seat.id);
  if (text !== null) ctx.log.info({ seat: seat.name, mac: seat.mac, once: text }, 'seat next-boot choice taken by this boot');
  return storedBootChoice(text);
}

/** Sets an install seat's installer ISO (null: the PC's own next boot device). */
export function setInstallIso(ctx: SeatContext, seat: SeatRow, iso: { image: string | null; file: string | null } | null): void {
  const text = iso === null ? null : formatBootChoice({ kind: 'iso', ...resolveIso(ctx, iso, 'iso') });
  ctx.seats.boot.setInstallIso(seat.id, text);
}
