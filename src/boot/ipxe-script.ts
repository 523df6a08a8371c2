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
 *  install (an installer on DVD/USB writes onto the iSCSI disk, as in seed 000). */
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

/** The script of a known seat: sets its initiator name and CHAP credentials and boots (or,
 *  in install mode, hooks) its disk. On failure it waits and fetches its script again. */
export function sanBootScript(input: SanBootScriptInput): string {
  const seat = scriptValue(input.seatName, 'seat name');
  const uri = iscsiSanUri(input);
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
  if (input.mode === 'install') {
    // keep-san: the disk stays attached (and described in the iBFT) when the boot moves on to
    // the next device, so the installer on DVD/USB sees it as drive 0x80 (ipxe.org/cfg/keep-san).
    lines.push('set keep-san 1', `sanhook --drive 0x80 ${uri} || goto failed`, 'echo lanboot: disk attached; booting the next device (installer)', 'exit', '');
  } else {
    lines.push(`sanboot ${uri} || goto failed`, '');
  }
  lines.push(
    ':failed',
    `echo lanboot: cannot boot the disk of seat ${seat} from ${scriptValue(input.server, 'server')}:${input.iscsiPort}; retrying in 10 s`,
    'sleep 10',
    `chain --replace --autofree ${scriptValue(input.retryUrl, 'retry URL')} || goto failed`,
    '',
  );
  return lines.join('\n');
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
