// iPXE scripts as text. Pure: values in, script text out; no I/O.
//
// iPXE expands `${...}` in every command line and splits it into words at whitespace, with
// quotes, backslashes and the `||` / `&&` operators meaning something (ipxe.org/scripting).
// Rather than escape each of those, every value put into a script must match a narrow
// allow-list of characters that mean nothing to iPXE's parser (scriptValue below); anything
// else is refused with LANBOOT_BOOT_SCRIPT_UNSAFE. Names, IQNs, MACs and secrets are validated
// long before they reach this module; this is the last line, not the only one.
import { LanbootError } from '../log/errors.js';

/** Characters that are plain text to iPXE's command-line parser: no `$`, `{`, `}`, quotes,
 *  backslash, whitespace, `#`, `|`, `&`, `;`. `%` is left out too (URL escapes). */
const SAFE_VALUE = /^[A-Za-z0-9._:\-/=?@+,]+$/;

/** Longest value accepted: an IQN is at most 223 bytes (RFC 3720 3.2.6.1), a URL here less. */
const MAX_VALUE_LENGTH = 255;

/** Returns `value` if it is safe to put into an iPXE command line as one word, else throws. */
export function scriptValue(value: string | number, what: string): string {
  const text = String(value);
  if (text.length === 0 || text.length > MAX_VALUE_LENGTH || !SAFE_VALUE.test(text)) {
    throw new LanbootError('LANBOOT_BOOT_SCRIPT_UNSAFE', `boot script: ${what} holds characters an iPXE script cannot carry safely`, { what });
  }
  return text;
}

/** Text for `echo`: words made of the same safe characters, joined by single spaces. */
function echoText(words: readonly string[], what: string): string {
  return words.map((w, i) => scriptValue(w, `${what} word ${i + 1}`)).join(' ');
}

/** How a known seat's disk is attached: sanboot for fresh/persistent/maintenance (they
 *  differ in what the supervisor does with the delta, docs/seats.md), keep-san + sanhook for
 *  install (an installer booted from DVD/USB, Windows Setup for example, writes onto the
 *  iSCSI disk). */
export type BootScriptMode = 'fresh' | 'persistent' | 'maintenance' | 'install';

export interface SanBootScriptInput {
  seatName: string;
  mode: BootScriptMode;
  /** Address the PC reaches the box at (the one it fetched the script from). */
  server: string;
  iscsiPort: number;
  lun: number;
  targetIqn: string;
  initiatorIqn: string;
  chap: { user: string; secret: string } | null;
  /** Mutual CHAP: the name/secret the target proves itself with (RFC 7143 12.1.3). */
  mutualChap: { user: string; secret: string } | null;
  /** Where to fetch the script again when the SAN boot fails. */
  retryUrl: string;
  /** More LUNs of the seat's target (a data disk, a shared disk), attached before the boot. */
  extraLuns?: readonly number[];
}

/** BIOS drive of the seat's system disk: the first hard disk, what boot loaders expect. */
const SYSTEM_DRIVE = 0x80;
/** A target has LUNs 0-15, so at most 15 more drives. */
const MAX_EXTRA_LUNS = 15;

/** The lines that attach a seat's other LUNs as drives 0x81, 0x82, ... in LUN order (sanhook:
 *  attached and described in the iBFT, not booted; ipxe.org/cmd/sanhook). They come before
 *  the sanboot of LUN 0, which then takes drive 0x80 explicitly: sanhook without --drive
 *  would take 0x80 first and the system disk would boot as another drive. */
export function extraDiskLines(input: Pick<SanBootScriptInput, 'server' | 'iscsiPort' | 'targetIqn' | 'extraLuns'>): string[] {
  const luns = input.extraLuns ?? [];
  if (luns.length > MAX_EXTRA_LUNS) throw new LanbootError('LANBOOT_BOOT_SCRIPT_UNSAFE', `boot script: ${luns.length} extra LUNs, at most ${MAX_EXTRA_LUNS}`);
  let last = 0;
  return luns.map((lun, i) => {
    if (!Number.isInteger(lun) || lun <= last || lun > MAX_EXTRA_LUNS) {
      throw new LanbootError('LANBOOT_BOOT_SCRIPT_UNSAFE', `boot script: extra LUN ${lun} must be 1-${MAX_EXTRA_LUNS}, increasing`);
    }
    last = lun;
    const drive = `0x${(SYSTEM_DRIVE + 1 + i).toString(16)}`;
    return `sanhook --drive ${drive} ${iscsiSanUri({ ...input, lun })} || goto failed`;
  });
}

/** The iPXE SAN URI, `iscsi:<server>:<protocol>:<port>:<lun>:<targetname>`; protocol empty
 *  = TCP (iPXE docs, sanuri). */
export function iscsiSanUri(input: Pick<SanBootScriptInput, 'server' | 'iscsiPort' | 'lun' | 'targetIqn'>): string {
  if (!Number.isInteger(input.iscsiPort) || input.iscsiPort < 1 || input.iscsiPort > 65535) {
    throw new LanbootError('LANBOOT_BOOT_SCRIPT_UNSAFE', `boot script: iSCSI port ${input.iscsiPort} is not a TCP port`);
  }
  if (!Number.isInteger(input.lun) || input.lun < 0 || input.lun > 255) {
    throw new LanbootError('LANBOOT_BOOT_SCRIPT_UNSAFE', `boot script: LUN ${input.lun} is out of range`);
  }
  return `iscsi:${scriptValue(input.server, 'server')}::${input.iscsiPort}:${input.lun}:${scriptValue(input.targetIqn, 'target IQN')}`;
}

/** An ISO of the library: its name (IMAGE/FILE.iso) and the URL the box serves it at. */
export interface ScriptIso {
  name: string;
  url: string;
  /** Where the box serves syslinux's memdisk, for an ISO small enough to be loaded whole into
   *  the PC's memory when iPXE cannot boot it as a SAN disk (BIOS only, see isoLines). */
  memdiskUrl?: string | undefined;
}

/** ISOs up to this size also get the memdisk fallback: memdisk copies the whole ISO into the
 *  PC's memory, which suits a rescue or memory-test ISO, never a multi-GB installer. */
export const MEMDISK_MAX_ISO_BYTES = 256 * 1024 * 1024;

/** Boots an ISO over HTTP. iPXE's SAN boot of an ISO runs its El Torito entry only when that
 *  entry is "no emulation" (BIOS: INT 13h CD-ROM; UEFI: the firmware's El Torito partition
 *  driver). Many small BIOS ISOs (memtest86+, FreeDOS, old rescue disks) boot through a floppy
 *  emulation entry instead: iPXE refuses those ("Operation not supported"), and syslinux's
 *  memdisk (`iso raw`) boots them from a copy in memory. UEFI has no such fallback. */
function isoLines(iso: ScriptIso): string[] {
  const url = scriptValue(iso.url, 'ISO URL');
  if (iso.memdiskUrl === undefined) return [`sanboot ${url} || goto failed`];
  return [
    `sanboot ${url} ||`,
    'iseq ${platform} pcbios || goto failed',
    `echo ${echoText(['lanboot:', 'not', 'a', 'SAN-bootable', 'ISO,', 'loading', iso.name, 'into', 'memory', 'with', 'memdisk'], 'message')}`,
    `kernel ${scriptValue(iso.memdiskUrl, 'memdisk URL')} iso raw || goto failed`,
    `initrd ${url} || goto failed`,
    'boot || goto failed',
  ];
}

/** One thing a PC can boot.
 *  - disk: the seat's iSCSI disk (sanboot);
 *  - install: the seat's disk attached (keep-san + sanhook, described in the iBFT), then the
 *    installer ISO booted over HTTP (sanboot), or with no ISO the PC's next boot device;
 *  - iso: an ISO over HTTP alone (no iSCSI login);
 *  - local: the PC's own disk (BIOS drive 0x80, or back to the UEFI boot manager). */
export type ScriptTarget = { kind: 'disk' } | { kind: 'install'; iso: ScriptIso | null } | { kind: 'iso'; iso: ScriptIso } | { kind: 'local' };

/** What a script does: boot one target, or show a menu of them. */
export type ScriptPlan =
  | { kind: 'direct'; target: ScriptTarget }
  | { kind: 'menu'; entries: ScriptTarget[]; defaultIndex: number; timeoutSeconds: number };

/** Longest menu timeout (iPXE's choose takes milliseconds). */
const MAX_MENU_SECONDS = 3600;
/** Menu entries at most: the ISO library is listed in full, but bounded. */
export const MAX_MENU_ENTRIES = 200;

function menuLabel(target: ScriptTarget, isoIndex: number): string {
  return target.kind === 'iso' ? `iso${isoIndex}` : target.kind;
}

/** The `item` line and the section a target gets in a menu, or the lines that boot it. */
interface ScriptSeat {
  name: string;
  uri: string;
  /** sanhook lines of the seat's other LUNs (extraDiskLines). */
  extraDisks: string[];
}

function targetLines(target: ScriptTarget, seat: ScriptSeat | null): string[] {
  switch (target.kind) {
    case 'disk':
      if (!seat) throw new LanbootError('LANBOOT_BOOT_SCRIPT_UNSAFE', 'boot script: a disk entry needs a seat');
      if (seat.extraDisks.length === 0) return [`sanboot ${seat.uri} || goto failed`];
      return [...seat.extraDisks, `sanboot --drive 0x${SYSTEM_DRIVE.toString(16)} ${seat.uri} || goto failed`];
    case 'install': {
      if (!seat) throw new LanbootError('LANBOOT_BOOT_SCRIPT_UNSAFE', 'boot script: an install entry needs a seat');
      // keep-san: the disk stays attached (and described in the iBFT) when the boot moves on
      // to the installer, which then sees it as a local disk (ipxe.org/cfg/keep-san).
      const lines = ['set keep-san 1', `sanhook --drive 0x80 ${seat.uri} || goto failed`];
      if (target.iso === null) {
        lines.push('echo lanboot: disk attached; booting the next device (installer)', 'exit');
      } else {
        lines.push(`echo ${echoText(['lanboot:', 'disk', 'of', 'seat', seat.name, 'attached,', 'booting', 'the', 'installer', target.iso.name], 'message')}`);
        lines.push(`sanboot ${scriptValue(target.iso.url, 'ISO URL')} || goto failed`);
      }
      return lines;
    }
    case 'iso':
      return [`echo ${echoText(['lanboot:', 'booting', target.iso.name], 'message')}`, ...isoLines(target.iso)];
    case 'local':
      // BIOS: iPXE boots the BIOS's own first hard disk (ipxe.org/cmd/sanboot, "boot from
      // the local disk"). UEFI (or no local disk): exit hands the PC back to its firmware,
      // which goes on to its next boot option.
      return ['echo lanboot: booting the own disk of this PC', 'iseq ${platform} efi && goto local_exit ||', 'sanboot --no-describe --drive 0x80 ||', ':local_exit', 'exit'];
  }
}

function menuText(target: ScriptTarget, seatName: string | null): string[] {
  switch (target.kind) {
    case 'disk':
      return ['Disk', 'of', 'seat', seatName ?? '?'];
    case 'install':
      return target.iso === null
        ? ['Install:', 'attach', 'the', 'disk,', 'boot', 'the', 'DVD', 'or', 'USB', 'installer']
        : ['Install:', 'attach', 'the', 'disk,', 'boot', target.iso.name];
    case 'iso':
      return [target.iso.name];
    case 'local':
      return ['This', 'PC', 'own', 'disk'];
  }
}

const MENU_KEYS: Partial<Record<ScriptTarget['kind'], string>> = { disk: 'd', install: 'i', local: 'l' };

/** The menu part of a script: items, `choose` with its timeout and default, then one labelled
 *  section per entry. `extra` is an entry before the others (the enrollment wait). */
function menuLines(plan: Extract<ScriptPlan, { kind: 'menu' }>, title: string[], seat: ScriptSeat | null, first?: { label: string; key: string; text: string[]; body: string[] }): string[] {
  if (!Number.isInteger(plan.timeoutSeconds) || plan.timeoutSeconds < 0 || plan.timeoutSeconds > MAX_MENU_SECONDS) {
    throw new LanbootError('LANBOOT_BOOT_SCRIPT_UNSAFE', `boot script: menu timeout ${plan.timeoutSeconds} s is out of range`);
  }
  if (plan.entries.length > MAX_MENU_ENTRIES) throw new LanbootError('LANBOOT_BOOT_SCRIPT_UNSAFE', `boot script: more than ${MAX_MENU_ENTRIES} menu entries`);
  const labels: string[] = [];
  const items: string[] = [];
  const sections: string[] = [];
  if (first) {
    items.push(`item --key ${first.key} ${first.label} ${echoText(first.text, 'menu item')}`);
    sections.push(`:${first.label}`, ...first.body, '');
  }
  let isoIndex = 0;
  let isoGap = false;
  for (const target of plan.entries) {
    const label = menuLabel(target, isoIndex);
    if (target.kind === 'iso') {
      isoIndex++;
      if (!isoGap) items.push('item --gap ISO library:');
      isoGap = true;
    }
    labels.push(label);
    const key = MENU_KEYS[target.kind];
    items.push(`item ${key ? `--key ${key} ` : ''}${label} ${echoText(menuText(target, seat?.name ?? null), 'menu item')}`);
    sections.push(`:${label}`, ...targetLines(target, seat), '');
  }
  const defaultLabel = plan.defaultIndex < 0 ? first?.label : labels[plan.defaultIndex];
  if (defaultLabel === undefined) throw new LanbootError('LANBOOT_BOOT_SCRIPT_UNSAFE', 'boot script: the menu default is not an entry');
  // choose fails on Esc: the default is booted then too, so a PC never stops at the menu.
  const timeout = plan.timeoutSeconds > 0 ? `--timeout ${plan.timeoutSeconds * 1000} ` : '';
  return [
    `menu ${echoText(title, 'menu title')}`,
    ...items,
    `choose ${timeout}--default ${defaultLabel} selected || goto ${defaultLabel}`,
    'goto ${selected}',
    '',
    ...sections,
  ];
}

/** The script of a known seat: sets its initiator name and CHAP credentials, then boots what
 *  `plan` says (by default: its disk, or for an install seat its disk attached and the next
 *  boot device). On failure it waits and fetches its script again. */
export function sanBootScript(input: SanBootScriptInput, plan?: ScriptPlan): string {
  const seat = scriptValue(input.seatName, 'seat name');
  const uri = iscsiSanUri(input);
  const extraDisks = extraDiskLines(input);
  plan ??= { kind: 'direct', target: input.mode === 'install' ? { kind: 'install', iso: null } : { kind: 'disk' } };
  const lines = ['#!ipxe', `# lanboot: seat ${seat} (${scriptValue(input.mode, 'mode')})`];
  lines.push(`set initiator-iqn ${scriptValue(input.initiatorIqn, 'initiator IQN')}`);
  // The seat's name as the host name: iPXE puts it in the iBFT (and DHCP option 12), where
  // Linux initramfs tools pick it up; every seat of one golden image learns its own name.
  lines.push(`set hostname ${seat}`);
  if (input.chap) {
    lines.push(`set username ${scriptValue(input.chap.user, 'CHAP user')}`, `set password ${scriptValue(input.chap.secret, 'CHAP secret')}`);
  } else {
    // A value left over from an earlier script (or the ROM's config) must not be sent.
    lines.push('clear username', 'clear password');
  }
  if (input.chap && input.mutualChap) {
    lines.push(
      `set reverse-username ${scriptValue(input.mutualChap.user, 'mutual CHAP user')}`,
      `set reverse-password ${scriptValue(input.mutualChap.secret, 'mutual CHAP secret')}`,
    );
  } else {
    lines.push('clear reverse-username', 'clear reverse-password');
  }
  if (plan.kind === 'direct') {
    lines.push(...targetLines(plan.target, { name: seat, uri, extraDisks }), '');
  } else {
    lines.push(...menuLines(plan, ['lanboot:', 'seat', seat, '-', 'choose', 'what', 'to', 'boot'], { name: seat, uri, extraDisks }));
  }
  lines.push(...failedLines(`cannot boot ${seat} from ${scriptValue(input.server, 'server')}`, input.retryUrl));
  return lines.join('\n');
}

function failedLines(what: string, retryUrl: string): string[] {
  return [
    ':failed',
    `echo ${echoText(['lanboot:', ...what.split(' '), '-', 'retrying', 'in', '10', 's'], 'message')}`,
    'sleep 10',
    `chain --replace --autofree ${scriptValue(retryUrl, 'retry URL')} || goto failed`,
    '',
  ];
}

export interface UnknownPcMenuInput {
  code: string;
  mac: string;
  /** Where the enrollment wait is fetched (the script polls there until enrolled). */
  enrollUrlBase: string;
  /** ISOs and the local disk (no seat entries: the PC has no seat). */
  entries: ScriptTarget[];
  timeoutSeconds: number;
  /** Where to fetch the script again when a boot fails. */
  retryUrl: string;
}

/** The menu of a PC that is not enrolled: wait for enrollment (the default), an ISO of the
 *  library, or its own disk. */
export function unknownPcMenuScript(input: UnknownPcMenuInput): string {
  const code = scriptValue(input.code, 'enrollment code');
  const enroll = {
    label: 'enroll',
    key: 'e',
    text: ['Enroll', 'this', 'PC', '-', 'code', code],
    body: [`chain --replace --autofree ${scriptValue(input.enrollUrlBase, 'enroll URL')}?mac=\${netX/mac:hexhyp} || goto failed`],
  };
  return [
    '#!ipxe',
    '# lanboot: this PC is not enrolled yet',
    ...menuLines({ kind: 'menu', entries: input.entries, defaultIndex: -1, timeoutSeconds: input.timeoutSeconds }, ['lanboot:', 'PC', input.mac, 'not', 'enrolled', '-', 'code', code], null, enroll),
    ...failedLines(`cannot boot ${input.mac}`, input.retryUrl),
  ].join('\n');
}

export interface EnrollmentScriptInput {
  /** The code the PC shows, from enroll-code.ts. */
  code: string;
  mac: string;
  /** Where a person enrolls the PC (the box's web address). */
  boxUrl: string;
  /** The script URL polled, `${netX/mac:hexhyp}` appended by the script itself. */
  pollUrlBase: string;
  pollSeconds: number;
}

/** The script of an unknown PC: shows its enrollment code and the box's address, then polls
 *  its boot script every few seconds. Each poll replaces the running script (--replace), so
 *  polling for hours does not nest scripts; once the PC is enrolled the poll returns the
 *  seat's sanboot script and the PC boots. */
export function enrollmentScript(input: EnrollmentScriptInput): string {
  if (!Number.isInteger(input.pollSeconds) || input.pollSeconds < 1 || input.pollSeconds > 3600) {
    throw new LanbootError('LANBOOT_BOOT_SCRIPT_UNSAFE', `boot script: poll interval ${input.pollSeconds} s is out of range`);
  }
  const code = scriptValue(input.code, 'enrollment code');
  return [
    '#!ipxe',
    '# lanboot: this PC is not enrolled yet',
    ':wait',
    'echo',
    `echo ${echoText(['lanboot:', 'this', 'PC', input.mac, 'is', 'not', 'enrolled', 'yet.'], 'message')}`,
    `echo ${echoText(['Enrollment', 'code:', code], 'message')}`,
    `echo ${echoText(['Enroll', 'it', 'at', input.boxUrl, 'or', 'run:', 'lanboot', 'enroll', code, '--name', 'SEAT', '--image', 'IMAGE'], 'message')}`,
    `echo ${echoText(['Waiting:', 'this', 'PC', 'boots', 'as', 'soon', 'as', 'it', 'is', 'enrolled.'], 'message')}`,
    `sleep ${input.pollSeconds}`,
    `chain --replace --autofree ${scriptValue(input.pollUrlBase, 'poll URL')}?mac=\${netX/mac:hexhyp} || goto wait`,
    '',
  ].join('\n');
}

/** What GET /boot.ipxe answers when iPXE did not say which MAC it is (the DHCP boot-file
 *  URL carries none): fetch the script again with the MAC of the NIC iPXE booted from. */
export function macProbeScript(scriptUrlBase: string): string {
  return ['#!ipxe', `chain --replace --autofree ${scriptValue(scriptUrlBase, 'script URL')}?mac=\${netX/mac:hexhyp}`, ''].join('\n');
}
