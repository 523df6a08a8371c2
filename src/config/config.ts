// Supervisor configuration: defaults < config file < environment < command-line flags.
// Every value is validated where it came from, and an error names the setting in the form
// the user wrote it ("--iscsi-port", "LANBOOT_ISCSI_PORT", "/etc/lanboot.json: iscsiPort").
import fs from 'node:fs';
import path from 'node:path';
import { LanbootError } from '../log/errors.js';
import { isLogLevel, LOG_LEVELS } from '../log/levels.js';
import type { LevelWithSilent } from 'pino';
import { ipv4ToNumber, quoteInput, validateIpv4 } from './names.js';
import { DEFAULT_USB_SPOOL } from '../storage/usb.js';
import { DEFAULT_USB_COLDPLUG, type UsbColdplugPaths } from '../storage/usb-coldplug.js';

export const DHCP_MODES = ['proxy', 'full', 'off'] as const;
export type DhcpMode = (typeof DHCP_MODES)[number];

export interface DhcpRange {
  first: string;
  last: string;
}

/** What the DHCP service runs with. 'off' whenever no interface is named: the one place that
 *  decides whether lanboot answers DHCP at all. */
export type DhcpSettings =
  | { mode: 'off' }
  | { mode: 'proxy'; interface: string }
  | {
      mode: 'full';
      interface: string;
      /** undefined = .100-.199 of the interface's subnet (decided when its address is known). */
      range: DhcpRange | undefined;
      /** Serve even when another DHCP server answers on the interface. */
      force: boolean;
    };

/** What the boot-script service checks its addresses against. */
export interface BootSettings {
  listen: string;
  dhcp: DhcpSettings;
  /** 'neighbor': a boot script for MAC M goes only to an address the box's neighbor table
   *  maps to M (or loopback); 'off': to any address (PCs behind a router or DHCP relay). */
  scriptOwnerCheck: ScriptOwnerCheck;
  /** The boot menu at the PC: shown to every PC unless its seat says otherwise. */
  menu: BootMenuSettings;
}

export interface BootMenuSettings {
  /** Shown by default (a seat's own setting wins). */
  on: boolean;
  /** Seconds before the default entry boots (a seat's own timeout wins). */
  timeoutSeconds: number;
}

/** Longest menu timeout, in seconds. */
export const MAX_MENU_TIMEOUT_SECONDS = 3600;

export const SCRIPT_OWNER_CHECKS = ['neighbor', 'off'] as const;
export type ScriptOwnerCheck = (typeof SCRIPT_OWNER_CHECKS)[number];

/** The TFTP server for the iPXE binaries. */
export interface TftpSettings {
  port: number;
  host: string;
  /** An empty directory of its own: only the allow-listed virtual files are ever served. */
  root: string;
}

/** mDNS on the served interface. */
export interface MdnsSettings {
  interfaceName: string;
  /** Which responder answers; 'auto' = Avahi when avahi-daemon runs on the box, else ciao. */
  responder: MdnsResponder;
}

export const MDNS_RESPONDERS = ['auto', 'ciao', 'avahi'] as const;
export type MdnsResponder = (typeof MDNS_RESPONDERS)[number];

/** Where USB stick events and present sticks are found (src/storage/usb.ts). */
export interface UsbSettings {
  spoolDir: string;
  /** A directory stands in for a stick's device (tests only; never on the appliance). */
  allowDirectories: boolean;
  coldplug: UsbColdplugPaths;
}

/** What the service manager told us (sd_notify(3), sd_watchdog_enabled(3)). */
export interface SystemdSettings {
  /** WATCHDOG_USEC; undefined = no watchdog asked for (or it is meant for another process). */
  watchdogUsec: number | undefined;
}

export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
/** json: pino lines (journald, pipes, tests); pretty: readable lines for a person at a terminal. */
export type LogFormat = 'json' | 'pretty';

export interface LanbootConfig {
  /** Absolute path of the data directory. */
  dataDir: string;
  /** How the user named the data dir, for messages ("./lanboot-data"). */
  dataDirLabel: string;
  /** IPv4 address the iSCSI and HTTP listeners bind to; 0.0.0.0 = every address. */
  listen: string;
  /** 0 = any free port. */
  iscsiPort: number;
  httpPort: number;
  logLevel: LevelWithSilent;
  logFormat: LogFormat;
  /** The LAN interface (DHCP, mDNS); undefined = nothing bound to a LAN interface. */
  interface: string | undefined;
  dhcp: DhcpSettings;
  /** undefined = no TFTP server. */
  tftp: TftpSettings | undefined;
  /** undefined = no mDNS (off, or no interface). */
  mdns: MdnsSettings | undefined;
  scriptOwnerCheck: ScriptOwnerCheck;
  bootMenu: BootMenuSettings;
  usb: UsbSettings;
  systemd: SystemdSettings;
  /** The config file that was read, if any. */
  configFile: string | undefined;
}

/** Raw flag values as node:util parseArgs returns them. */
export interface ConfigFlags {
  data?: string | undefined;
  config?: string | undefined;
  'iscsi-port'?: string | undefined;
  'http-port'?: string | undefined;
  listen?: string | undefined;
  'log-level'?: string | undefined;
  interface?: string | undefined;
  dhcp?: string | undefined;
  'dhcp-range'?: string | undefined;
  'dhcp-force'?: boolean | undefined;
  'tftp-port'?: string | undefined;
  mdns?: string | undefined;
  'log-format'?: string | undefined;
  'script-owner-check'?: string | undefined;
  'boot-menu'?: string | undefined;
  'boot-menu-timeout'?: string | undefined;
}

export interface ConfigInputs {
  flags: ConfigFlags;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Privileged ports (3260, 80, 69) are the defaults only when running as root. */
  isRoot: boolean;
  /** Whether stdout is a terminal: readable logs for a person, JSON otherwise. */
  stdoutIsTty?: boolean;
  /** The process id WATCHDOG_PID is compared with. */
  pid?: number;
  /** Where `interface: auto` looks for network interfaces (tests point it at a copy). */
  sysClassNet?: string;
}

/** The settings a config file may hold, with the flag and variable that override them and
 *  the line `lanboot serve --help` shows for them. */
const SETTINGS = {
  dataDir: { flag: 'data', env: 'LANBOOT_DATA', arg: 'DIR', help: 'data directory (default ./lanboot-data)' },
  listen: { flag: 'listen', env: 'LANBOOT_LISTEN', arg: 'ADDR', help: 'IPv4 address for iSCSI and HTTP (default 0.0.0.0: all)' },
  iscsiPort: { flag: 'iscsi-port', env: 'LANBOOT_ISCSI_PORT', arg: 'N', help: 'iSCSI port (3260 as root, else 13260; 0 = any free port)' },
  httpPort: { flag: 'http-port', env: 'LANBOOT_HTTP_PORT', arg: 'N', help: 'web UI and HTTP boot port (80 as root, else 8080)' },
  logLevel: { flag: 'log-level', env: 'LANBOOT_LOG_LEVEL', arg: 'LEVEL', help: `${LOG_LEVELS.join('|')} (default info)` },
  logFormat: { flag: 'log-format', env: 'LANBOOT_LOG_FORMAT', arg: 'FORMAT', help: 'auto|json|pretty (auto: readable at a terminal, JSON under systemd or a pipe)' },
  interface: { flag: 'interface', env: 'LANBOOT_INTERFACE', arg: 'IF|auto', help: 'the LAN interface DHCP, TFTP and mDNS serve (default none)' },
  dhcp: { flag: 'dhcp', env: 'LANBOOT_DHCP', arg: 'MODE', help: 'proxy|full|off (default proxy with --interface, else off)' },
  dhcpRange: { flag: 'dhcp-range', env: 'LANBOOT_DHCP_RANGE', arg: 'FIRST-LAST', help: 'full DHCP address pool (default .100-.199 of the subnet)' },
  dhcpForce: { flag: 'dhcp-force', env: 'LANBOOT_DHCP_FORCE', arg: '', help: 'full DHCP even when another DHCP server answers' },
  tftpPort: { flag: 'tftp-port', env: 'LANBOOT_TFTP_PORT', arg: 'N', help: 'TFTP port for iPXE (69 as root, else 6969; on when DHCP is on)' },
  mdns: { flag: 'mdns', env: 'LANBOOT_MDNS', arg: 'on|off', help: 'answer as lanboot.local (default on with --interface)' },
  scriptOwnerCheck: { flag: 'script-owner-check', env: 'LANBOOT_SCRIPT_OWNER_CHECK', arg: 'neighbor|off', help: 'boot scripts only to the address that owns the MAC (default neighbor; off for PCs behind a router/relay)' },
  bootMenu: { flag: 'boot-menu', env: 'LANBOOT_BOOT_MENU', arg: 'on|off', help: 'show the boot menu (seat disk, ISO library, local disk) at every PC (default off; a seat can say otherwise)' },
  bootMenuTimeout: { flag: 'boot-menu-timeout', env: 'LANBOOT_BOOT_MENU_TIMEOUT', arg: 'S', help: 'seconds the boot menu waits before its default entry (default 5)' },
} as const satisfies Record<string, { flag: keyof ConfigFlags; env: string; arg: string; help: string }>;

/** The flags of `lanboot serve`, one line each with their variable and config file key. */
export function settingsHelp(): string {
  const rows: [string, string, string][] = [['--config FILE', 'JSON config file (default DATA/lanboot.json if present)', 'LANBOOT_CONFIG']];
  for (const [key, setting] of Object.entries(SETTINGS)) {
    rows.push([`--${setting.flag}${setting.arg ? ` ${setting.arg}` : ''}`, setting.help, `${setting.env}, config file: ${key}`]);
  }
  const width = Math.max(...rows.map(([flag]) => flag.length));
  return rows.map(([flag, help, where]) => `  ${flag.padEnd(width)}  ${help}\n  ${''.padEnd(width)}  ${where}`).join('\n');
}

type SettingName = keyof typeof SETTINGS;

export const CONFIG_FILE_NAME = 'lanboot.json';
/** A config file is a handful of settings; anything bigger is a mistake. */
const MAX_CONFIG_FILE_BYTES = 64 * 1024;

interface RawValue {
  value: unknown;
  /** How the user wrote the setting, for error messages. */
  label: string;
  /** Written in this config file (a relative path in it is relative to the file). */
  file?: string;
}

const DEFAULT_DATA_DIR = 'lanboot-data';

function invalid(label: string, expected: string, got: unknown): LanbootError {
  return new LanbootError('LANBOOT_CONFIG_INVALID', `${label}: expected ${expected}, got ${quoteInput(got)}`);
}

export function parsePort(raw: RawValue): number {
  const { value, label } = raw;
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text === 'string' && /^\d{1,5}$/.test(text.trim())) {
    const port = Number(text.trim());
    if (port <= 65535) return port;
  }
  throw invalid(label, 'a port 0-65535', value);
}

/** Linux interface names: 1-15 bytes (IFNAMSIZ 16 with the NUL), no '/', ':' or whitespace. */
export function parseInterfaceName(raw: RawValue): string {
  const { value, label } = raw;
  if (typeof value === 'string' && /^[A-Za-z0-9_.@-]{1,15}$/.test(value) && value !== '.' && value !== '..') return value;
  throw invalid(label, 'a network interface name like eth0 (1-15 characters)', value);
}

/** `interface: auto` (the appliance's config): the first wired interface with carrier, by name;
 *  without carrier anywhere, the first wired one (DHCP on it works once a cable is plugged in).
 *  Wired = Ethernet (type 1, ARPHRD_ETHER) backed by a device, not wireless: no bridge, veth,
 *  tap or Wi-Fi. Read from sysfs (Documentation/ABI/testing/sysfs-class-net). */
export function resolveAutoInterface(label: string, sysClassNet = '/sys/class/net'): string {
  let names: string[];
  try {
    names = fs.readdirSync(sysClassNet).sort();
  } catch (error) {
    throw new LanbootError('LANBOOT_CONFIG_INVALID', `${label}: 'auto' cannot list network interfaces in ${sysClassNet}: ${(error as Error).message}`);
  }
  const read = (name: string, file: string): string | undefined => {
    try {
      return fs.readFileSync(path.join(sysClassNet, name, file), 'utf8').trim();
    } catch {
      return undefined; // carrier of a down interface reads as EINVAL
    }
  };
  const wired = names.filter(
    (name) => read(name, 'type') === '1' && fs.existsSync(path.join(sysClassNet, name, 'device')) && !fs.existsSync(path.join(sysClassNet, name, 'wireless')) && !fs.existsSync(path.join(sysClassNet, name, 'phy80211')),
  );
  const chosen = wired.find((name) => read(name, 'carrier') === '1') ?? wired[0];
  if (chosen === undefined) throw new LanbootError('LANBOOT_CONFIG_INVALID', `${label}: 'auto' found no wired network interface (checked: ${names.join(', ') || 'none'})`);
  return chosen;
}

export function parseDhcpRange(raw: RawValue): DhcpRange {
  const { value, label } = raw;
  if (typeof value === 'string') {
    const parts = value.split('-');
    if (parts.length === 2) {
      const [first, last] = parts.map((p) => p.trim()) as [string, string];
      const wrap = (e: unknown) => (e instanceof LanbootError ? invalid(label, 'FIRST-LAST with two IPv4 addresses', value) : e);
      try {
        validateIpv4(first, label);
        validateIpv4(last, label);
      } catch (e) {
        throw wrap(e);
      }
      if (ipv4ToNumber(first) > ipv4ToNumber(last)) {
        throw new LanbootError('LANBOOT_CONFIG_INVALID', `${label}: the first address ${first} comes after the last ${last}`);
      }
      if (ipv4ToNumber(last) - ipv4ToNumber(first) >= 65536) {
        throw new LanbootError('LANBOOT_CONFIG_INVALID', `${label}: ${first}-${last} spans more than 65536 addresses`);
      }
      return { first, last };
    }
  }
  throw invalid(label, 'FIRST-LAST with two IPv4 addresses, like 192.168.1.100-192.168.1.199', value);
}

function readConfigFile(file: string, required: boolean, label: string): Record<string, unknown> | undefined {
  let text: string;
  try {
    const stat = fs.statSync(file);
    if (!stat.isFile()) throw new LanbootError('LANBOOT_CONFIG_INVALID', `${label}: ${file} is not a regular file`);
    if (stat.size > MAX_CONFIG_FILE_BYTES) {
      throw new LanbootError('LANBOOT_CONFIG_INVALID', `${label}: ${file} is ${stat.size} bytes, more than the ${MAX_CONFIG_FILE_BYTES} a config file may have`);
    }
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if (error instanceof LanbootError) throw error;
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' && !required) return undefined;
    throw new LanbootError('LANBOOT_CONFIG_INVALID', `${label}: cannot read ${file}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new LanbootError('LANBOOT_CONFIG_INVALID', `${file}: not valid JSON: ${(error as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new LanbootError('LANBOOT_CONFIG_INVALID', `${file}: expected a JSON object of settings`);
  }
  for (const key of Object.keys(parsed)) {
    if (!(key in SETTINGS)) {
      throw new LanbootError('LANBOOT_CONFIG_INVALID', `${file}: unknown setting ${quoteInput(key)} (known: ${Object.keys(SETTINGS).join(', ')})`);
    }
  }
  return parsed as Record<string, unknown>;
}

export function defaultPorts(isRoot: boolean): { iscsiPort: number; httpPort: number } {
  // Without root the well-known ports (3260, 80) cannot be bound: pick unprivileged ones.
  return isRoot ? { iscsiPort: 3260, httpPort: 80 } : { iscsiPort: 13260, httpPort: 8080 };
}

/** The one parser for on/off settings, whether from a flag, a variable or the config file. */
export function parseBoolean(raw: RawValue): boolean {
  const { value, label } = raw;
  if (value === true || value === false) return value;
  if (typeof value === 'string') {
    const word = value.trim().toLowerCase();
    if (word === 'on' || word === 'true' || word === '1' || word === 'yes') return true;
    if (word === 'off' || word === 'false' || word === '0' || word === 'no') return false;
  }
  throw invalid(label, 'on/off (or true/false, yes/no, 1/0)', value);
}

function parseMenuTimeout(raw: RawValue): number {
  const text = String(raw.value).trim();
  if (!/^\d{1,4}$/.test(text) || Number(text) > MAX_MENU_TIMEOUT_SECONDS) {
    throw invalid(raw.label, `seconds from 0 to ${MAX_MENU_TIMEOUT_SECONDS}`, raw.value);
  }
  return Number(text);
}

function parseChoice<T extends string>(raw: RawValue, choices: readonly T[]): T {
  if (typeof raw.value === 'string' && (choices as readonly string[]).includes(raw.value)) return raw.value as T;
  throw invalid(raw.label, `one of ${choices.join(', ')}`, raw.value);
}

function parsePath(raw: RawValue, base: string): string {
  if (typeof raw.value !== 'string' || raw.value.trim() === '' || raw.value.includes('\0')) throw invalid(raw.label, 'a path', raw.value);
  return path.resolve(base, raw.value);
}

/** Well-known TFTP port (RFC 1350); without root a free high port is the default. */
export const TFTP_PORT_ROOT = 69;
export const TFTP_PORT_UNPRIVILEGED = 6969;

interface Sources {
  configFile: string | undefined;
  fileValues: Record<string, unknown> | undefined;
  pick(name: SettingName): RawValue | undefined;
}

/** The config file (--config / LANBOOT_CONFIG, which must exist; else DATA/lanboot.json if
 *  present) and the lookup of one setting through flags, environment and file. */
function sources(flags: ConfigFlags, env: NodeJS.ProcessEnv, cwd: string): Sources {
  let configFile: string | undefined;
  let fileValues: Record<string, unknown> | undefined;
  // Explicit file: must exist.
  const explicitConfig = flags.config ?? (env.LANBOOT_CONFIG === '' ? undefined : env.LANBOOT_CONFIG);
  if (explicitConfig !== undefined) {
    const label = flags.config !== undefined ? '--config' : 'LANBOOT_CONFIG';
    if (explicitConfig.trim() === '' || explicitConfig.includes('\0')) throw invalid(label, 'a file path', explicitConfig);
    configFile = path.resolve(cwd, explicitConfig);
    fileValues = readConfigFile(configFile, true, label);
  }
  const pickFrom = (name: SettingName, values: Record<string, unknown> | undefined): RawValue | undefined => {
    const { flag, env: envName } = SETTINGS[name];
    const flagValue = flags[flag];
    if (flagValue !== undefined) return { value: flagValue, label: `--${flag}` };
    const envValue = env[envName];
    if (envValue !== undefined && envValue !== '') return { value: envValue, label: envName };
    if (values && values[name] !== undefined && configFile !== undefined) return { value: values[name], label: `${configFile}: ${name}`, file: configFile };
    return undefined;
  };
  if (configFile === undefined) {
    // No explicit file: the data dir (flag, variable or default) may hold one.
    const dataRaw = pickFrom('dataDir', undefined);
    const dataDir = dataRaw ? parsePath(dataRaw, cwd) : path.resolve(cwd, DEFAULT_DATA_DIR);
    const candidate = path.join(dataDir, CONFIG_FILE_NAME);
    fileValues = readConfigFile(candidate, false, 'config file');
    if (fileValues) configFile = candidate;
  }
  return { configFile, fileValues, pick: (name) => pickFrom(name, fileValues) };
}

function dataDirOf(pick: Sources['pick'], cwd: string): { dataDir: string; label: string } {
  const raw = pick('dataDir');
  if (raw === undefined) return { dataDir: path.resolve(cwd, DEFAULT_DATA_DIR), label: `./${DEFAULT_DATA_DIR}` };
  if (typeof raw.value !== 'string' || raw.value.trim() === '' || raw.value.includes('\0')) throw invalid(raw.label, 'a directory path', raw.value);
  const dataDir = path.resolve(raw.file ? path.dirname(raw.file) : cwd, raw.value);
  // A flag or variable is shown as the user wrote it; a file's value as the path it names.
  return { dataDir, label: raw.file ? dataDir : raw.value };
}

/** The data directory alone (what every CLI command needs to find its supervisor): --data,
 *  LANBOOT_DATA, the dataDir of the config file (--config, LANBOOT_CONFIG), ./lanboot-data. */
export function resolveDataDir(flags: Pick<ConfigFlags, 'data' | 'config'>, env: NodeJS.ProcessEnv, cwd: string): { dataDir: string; label: string } {
  return dataDirOf(sources(flags, env, cwd).pick, cwd);
}

/** Readable logs only for a person: a terminal, and not a systemd service (journald
 *  stores JSON lines; JOURNAL_STREAM / INVOCATION_ID are set for every unit's process). */
function autoLogFormat(env: NodeJS.ProcessEnv, stdoutIsTty: boolean): LogFormat {
  const underSystemd = Boolean(env.JOURNAL_STREAM || env.INVOCATION_ID);
  return stdoutIsTty && !underSystemd ? 'pretty' : 'json';
}

/** WATCHDOG_USEC when meant for this process (sd_watchdog_enabled(3): WATCHDOG_PID, when
 *  set, must be ours). */
function watchdogUsec(env: NodeJS.ProcessEnv, pid: number): number | undefined {
  const text = env.WATCHDOG_USEC;
  if (text === undefined || !/^\d{1,15}$/.test(text)) return undefined;
  const usec = Number(text);
  if (usec <= 0) return undefined;
  const owner = env.WATCHDOG_PID;
  if (owner !== undefined && owner !== '' && Number(owner) !== pid) return undefined;
  return usec;
}

export function loadConfig(inputs: ConfigInputs): LanbootConfig {
  const { flags, env, cwd } = inputs;
  const { configFile, pick } = sources(flags, env, cwd);
  const { dataDir, label: dataDirLabel } = dataDirOf(pick, cwd);

  const listenRaw = pick('listen');
  let listen = '0.0.0.0';
  if (listenRaw) {
    try {
      listen = validateIpv4(listenRaw.value, listenRaw.label);
    } catch {
      throw invalid(listenRaw.label, 'an IPv4 address to listen on, like 0.0.0.0 or 192.168.1.10', listenRaw.value);
    }
  }

  const ports = defaultPorts(inputs.isRoot);
  const iscsiRaw = pick('iscsiPort');
  const httpRaw = pick('httpPort');
  const iscsiPort = iscsiRaw ? parsePort(iscsiRaw) : ports.iscsiPort;
  const httpPort = httpRaw ? parsePort(httpRaw) : ports.httpPort;
  if (iscsiPort !== 0 && iscsiPort === httpPort) {
    throw new LanbootError('LANBOOT_CONFIG_INVALID', `${iscsiRaw?.label ?? httpRaw?.label ?? '--iscsi-port'}: the iSCSI and HTTP ports are both ${iscsiPort}; they must differ`);
  }

  const levelRaw = pick('logLevel');
  let logLevel: LevelWithSilent = 'info';
  if (levelRaw) {
    if (typeof levelRaw.value !== 'string' || !isLogLevel(levelRaw.value)) throw invalid(levelRaw.label, `one of ${LOG_LEVELS.join(', ')}`, levelRaw.value);
    logLevel = levelRaw.value;
  }
  const formatRaw = pick('logFormat');
  const formatChoice = formatRaw ? parseChoice(formatRaw, LOG_FORMATS) : 'auto';
  const logFormat = formatChoice === 'auto' ? autoLogFormat(env, inputs.stdoutIsTty === true) : formatChoice;

  const ifRaw = pick('interface');
  const iface = ifRaw ? (ifRaw.value === 'auto' ? resolveAutoInterface(ifRaw.label, inputs.sysClassNet) : parseInterfaceName(ifRaw)) : undefined;

  // No DHCP on any interface unless one is named; with an interface, proxyDHCP by default
  // so lanboot coexists with the router's DHCP server.
  const dhcpRaw = pick('dhcp');
  const mode: DhcpMode = dhcpRaw ? parseChoice(dhcpRaw, DHCP_MODES) : iface ? 'proxy' : 'off';
  if (dhcpRaw && mode !== 'off' && !iface) {
    throw new LanbootError('LANBOOT_CONFIG_INVALID', `${dhcpRaw.label}: DHCP mode '${mode}' needs --interface IF (lanboot serves DHCP on no interface unless told which)`);
  }

  const rangeRaw = pick('dhcpRange');
  const range = rangeRaw ? parseDhcpRange(rangeRaw) : undefined;
  if (rangeRaw && mode !== 'full') {
    throw new LanbootError('LANBOOT_CONFIG_INVALID', `${rangeRaw.label}: an address range is only used with --dhcp full (DHCP mode is '${mode}')`);
  }
  const forceRaw = pick('dhcpForce');
  const force = forceRaw ? parseBoolean(forceRaw) : false;
  const dhcp: DhcpSettings = iface === undefined || mode === 'off' ? { mode: 'off' } : mode === 'proxy' ? { mode, interface: iface } : { mode, interface: iface, range, force };

  // PXE firmware fetches iPXE over TFTP only when lanboot answers its DHCP: with DHCP on,
  // TFTP runs by default; --tftp-port runs it anyway (another DHCP server may point here).
  const tftpRaw = pick('tftpPort');
  const tftpPort = tftpRaw ? parsePort(tftpRaw) : dhcp.mode !== 'off' ? (inputs.isRoot ? TFTP_PORT_ROOT : TFTP_PORT_UNPRIVILEGED) : undefined;
  const tftp = tftpPort === undefined ? undefined : { port: tftpPort, host: listen, root: path.join(dataDir, 'tftp') };

  // mDNS: on by default with an interface, off otherwise (nothing bound to the LAN).
  const mdnsRaw = pick('mdns');
  const mdnsOn = mdnsRaw ? parseBoolean(mdnsRaw) : iface !== undefined;
  // LANBOOT_MDNS_RESPONDER=ciao|avahi overrides the avahi-daemon check: /run is shared across
  // network namespaces, so an avahi-daemon of the host says nothing about a namespace's LAN.
  const responderText = env.LANBOOT_MDNS_RESPONDER;
  const responder = responderText ? parseChoice({ value: responderText, label: 'LANBOOT_MDNS_RESPONDER' }, MDNS_RESPONDERS) : 'auto';
  const mdns = mdnsOn && iface !== undefined ? { interfaceName: iface, responder } : undefined;

  const ownerRaw = pick('scriptOwnerCheck');
  const scriptOwnerCheck = ownerRaw ? parseChoice(ownerRaw, SCRIPT_OWNER_CHECKS) : 'neighbor';

  const menuRaw = pick('bootMenu');
  const menuTimeoutRaw = pick('bootMenuTimeout');
  const bootMenu: BootMenuSettings = {
    on: menuRaw ? parseBoolean(menuRaw) : false,
    timeoutSeconds: menuTimeoutRaw ? parseMenuTimeout(menuTimeoutRaw) : 5,
  };

  // USB: the spool the udev rule writes, and the test stand-ins (a directory as a stick, a
  // udev database copy: the test host runs no udev).
  const usb: UsbSettings = {
    spoolDir: env.LANBOOT_USB_SPOOL ? parsePath({ value: env.LANBOOT_USB_SPOOL, label: 'LANBOOT_USB_SPOOL' }, cwd) : DEFAULT_USB_SPOOL,
    allowDirectories: env.LANBOOT_USB_ALLOW_DIRECTORIES ? parseBoolean({ value: env.LANBOOT_USB_ALLOW_DIRECTORIES, label: 'LANBOOT_USB_ALLOW_DIRECTORIES' }) : false,
    coldplug: {
      ...DEFAULT_USB_COLDPLUG,
      ...(env.LANBOOT_USB_UDEV_DATA ? { udevDataDir: parsePath({ value: env.LANBOOT_USB_UDEV_DATA, label: 'LANBOOT_USB_UDEV_DATA' }, cwd) } : {}),
    },
  };

  const systemd: SystemdSettings = { watchdogUsec: watchdogUsec(env, inputs.pid ?? process.pid) };

  return { dataDir, dataDirLabel, listen, iscsiPort, httpPort, logLevel, logFormat, interface: iface, dhcp, tftp, mdns, scriptOwnerCheck, bootMenu, usb, systemd, configFile };
}

/** The process environment, for the CLI entry point to hand to loadConfig / resolveDataDir:
 *  nothing else in lanboot reads process.env, so every variable is one the config names. */
export function processEnvironment(): NodeJS.ProcessEnv {
  return { ...process.env };
}
