// Supervisor configuration: defaults < config file < environment < command-line flags.
// Every value is validated where it came from, and an error names the setting in the form
// the user wrote it ("--iscsi-port", "LANBOOT_ISCSI_PORT", "/etc/lanboot.json: iscsiPort").
import fs from 'node:fs';
import path from 'node:path';
import { LanbootError } from '../log/errors.js';
import { isLogLevel, LOG_LEVELS } from '../log/levels.js';
import type { LevelWithSilent } from 'pino';
import { ipv4ToNumber, quoteInput, validateIpv4 } from './names.js';

export const DHCP_MODES = ['proxy', 'full', 'off'] as const;
export type DhcpMode = (typeof DHCP_MODES)[number];

export interface DhcpRange {
  first: string;
  last: string;
}

export interface LanbootConfig {
  /** Absolute path of the data directory. */
  dataDir: string;
  /** IPv4 address the iSCSI and HTTP listeners bind to; 0.0.0.0 = every address. */
  listen: string;
  /** 0 = any free port. */
  iscsiPort: number;
  httpPort: number;
  logLevel: LevelWithSilent;
  /** The LAN interface DHCP serves; undefined = no DHCP anywhere. */
  interface: string | undefined;
  dhcp: DhcpMode;
  dhcpRange: DhcpRange | undefined;
  /** Serve full DHCP even when another DHCP server answers on the interface. */
  dhcpForce: boolean;
  /** TFTP port for the iPXE binaries; undefined = the default (on when DHCP is on). */
  tftpPort: number | undefined;
  /** Answer as lanboot.local and advertise the web UI over mDNS (src/discovery); default on
   *  when an interface is given, off otherwise (the embedded default binds nothing to the LAN). */
  mdns: boolean;
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
}

export interface ConfigInputs {
  flags: ConfigFlags;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Privileged ports (3260, 80) are the defaults only when running as root. */
  isRoot: boolean;
  /** Where `interface: auto` looks for network interfaces (tests point it at a copy). */
  sysClassNet?: string;
}

/** The settings a config file may hold, with the flag and variable that override them. */
const SETTINGS = {
  dataDir: { flag: 'data', env: 'LANBOOT_DATA' },
  listen: { flag: 'listen', env: 'LANBOOT_LISTEN' },
  iscsiPort: { flag: 'iscsi-port', env: 'LANBOOT_ISCSI_PORT' },
  httpPort: { flag: 'http-port', env: 'LANBOOT_HTTP_PORT' },
  logLevel: { flag: 'log-level', env: 'LANBOOT_LOG_LEVEL' },
  interface: { flag: 'interface', env: 'LANBOOT_INTERFACE' },
  dhcp: { flag: 'dhcp', env: 'LANBOOT_DHCP' },
  dhcpRange: { flag: 'dhcp-range', env: 'LANBOOT_DHCP_RANGE' },
  dhcpForce: { flag: 'dhcp-force', env: 'LANBOOT_DHCP_FORCE' },
  tftpPort: { flag: 'tftp-port', env: 'LANBOOT_TFTP_PORT' },
  mdns: { flag: 'mdns', env: 'LANBOOT_MDNS' },
} as const satisfies Record<string, { flag: keyof ConfigFlags; env: string }>;

type SettingName = keyof typeof SETTINGS;

export const CONFIG_FILE_NAME = 'lanboot.json';
/** A config file is a handful of settings; anything bigger is a mistake. */
const MAX_CONFIG_FILE_BYTES = 64 * 1024;

interface RawValue {
  value: unknown;
  /** How the user wrote the setting, for error messages. */
  label: string;
}

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

/** Resolves the data directory alone (what every CLI command needs to find its supervisor). */
export function resolveDataDir(flags: Pick<ConfigFlags, 'data'>, env: NodeJS.ProcessEnv, cwd: string): { dataDir: string; label: string } {
  const given = flags.data ?? env.LANBOOT_DATA;
  const label = flags.data !== undefined ? '--data' : 'LANBOOT_DATA';
  if (given !== undefined) {
    if (given.trim() === '' || given.includes('\0')) {
      throw new LanbootError('LANBOOT_CONFIG_INVALID', `${label}: expected a directory path, got ${quoteInput(given)}`);
    }
    return { dataDir: path.resolve(cwd, given), label: given };
  }
  return { dataDir: path.resolve(cwd, 'lanboot-data'), label: './lanboot-data' };
}

export function loadConfig(inputs: ConfigInputs): LanbootConfig {
  const { flags, env, cwd } = inputs;

  // The config file: --config / LANBOOT_CONFIG must exist; DATA/lanboot.json is optional.
  let configFile: string | undefined;
  let fileValues: Record<string, unknown> | undefined;
  const explicitConfig = flags.config ?? env.LANBOOT_CONFIG;
  if (explicitConfig !== undefined) {
    const label = flags.config !== undefined ? '--config' : 'LANBOOT_CONFIG';
    configFile = path.resolve(cwd, explicitConfig);
    fileValues = readConfigFile(configFile, true, label);
  } else {
    const { dataDir } = resolveDataDir(flags, env, cwd);
    const candidate = path.join(dataDir, CONFIG_FILE_NAME);
    fileValues = readConfigFile(candidate, false, 'config file');
    if (fileValues) configFile = candidate;
  }

  const pick = (name: SettingName): RawValue | undefined => {
    const { flag, env: envName } = SETTINGS[name];
    const flagValue = flags[flag];
    if (flagValue !== undefined) return { value: flagValue, label: `--${flag}` };
    const envValue = env[envName];
    if (envValue !== undefined && envValue !== '') return { value: envValue, label: envName };
    if (fileValues && fileValues[name] !== undefined) return { value: fileValues[name], label: `${configFile}: ${name}` };
    return undefined;
  };

  // Data directory: a relative path in a config file is relative to that file.
  let dataDir: string;
  const dataRaw = pick('dataDir');
  if (dataRaw === undefined) dataDir = path.resolve(cwd, 'lanboot-data');
  else {
    if (typeof dataRaw.value !== 'string' || dataRaw.value.trim() === '' || dataRaw.value.includes('\0')) {
      throw invalid(dataRaw.label, 'a directory path', dataRaw.value);
    }
    const base = dataRaw.label.startsWith(`${configFile}:`) && configFile ? path.dirname(configFile) : cwd;
    dataDir = path.resolve(base, dataRaw.value);
  }

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

  const ifRaw = pick('interface');
  const iface = ifRaw ? (ifRaw.value === 'auto' ? resolveAutoInterface(ifRaw.label, inputs.sysClassNet) : parseInterfaceName(ifRaw)) : undefined;

  // No DHCP on any interface unless one is named; with an interface, proxyDHCP by default
  // so lanboot coexists with the router's DHCP server.
  const dhcpRaw = pick('dhcp');
  let dhcp: DhcpMode = iface ? 'proxy' : 'off';
  if (dhcpRaw) {
    if (typeof dhcpRaw.value !== 'string' || !(DHCP_MODES as readonly string[]).includes(dhcpRaw.value)) {
      throw invalid(dhcpRaw.label, `one of ${DHCP_MODES.join(', ')}`, dhcpRaw.value);
    }
    dhcp = dhcpRaw.value as DhcpMode;
    if (dhcp !== 'off' && !iface) {
      throw new LanbootError('LANBOOT_CONFIG_INVALID', `${dhcpRaw.label}: DHCP mode '${dhcp}' needs --interface IF (lanboot serves DHCP on no interface unless told which)`);
    }
  }

  const rangeRaw = pick('dhcpRange');
  const dhcpRange = rangeRaw ? parseDhcpRange(rangeRaw) : undefined;
  if (rangeRaw && dhcp !== 'full') {
    throw new LanbootError('LANBOOT_CONFIG_INVALID', `${rangeRaw.label}: an address range is only used with --dhcp full (DHCP mode is '${dhcp}')`);
  }

  const forceRaw = pick('dhcpForce');
  let dhcpForce = false;
  if (forceRaw) {
    const v = forceRaw.value;
    if (v === true || v === 'true' || v === '1') dhcpForce = true;
    else if (v === false || v === 'false' || v === '0') dhcpForce = false;
    else throw invalid(forceRaw.label, 'true/false (or 1/0)', v);
  }

  const tftpRaw = pick('tftpPort');
  const tftpPort = tftpRaw ? parsePort(tftpRaw) : undefined;

  const mdnsRaw = pick('mdns');
  let mdns = iface !== undefined;
  if (mdnsRaw) {
    const v = mdnsRaw.value;
    if (v === true || v === 'true' || v === '1' || v === 'on') mdns = true;
    else if (v === false || v === 'false' || v === '0' || v === 'off') mdns = false;
    else throw invalid(mdnsRaw.label, 'on/off (or true/false)', v);
  }

  return { dataDir, listen, iscsiPort, httpPort, logLevel, interface: iface, dhcp, dhcpRange, dhcpForce, tftpPort, mdns, configFile };
}
