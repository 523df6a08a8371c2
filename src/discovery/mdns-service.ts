// mDNS (RFC 6762) and DNS-SD (RFC 6763) as a supervisor service: the box answers as
// `lanboot.local` (A record for the served interface's IPv4 address) and advertises its web UI
// as an `_http._tcp` service (port = the HTTP port, TXT path=/), on the served interface only.
//
// Responder: @homebridge/ciao (decision 0014). It probes before it announces and renames on a
// conflict (RFC 6762 section 9): the service name becomes "lanboot (2)" and the host name
// "lanboot-(2).local"; the name in use is in status() (GET /api/v1/status, services.mdns) and
// the UI's QR code uses it.
//
// Never two responders on UDP 5353: when avahi-daemon runs on the box (its socket or pid file
// is there and the pid is alive), ciao is not started; lanboot writes an Avahi static service
// file for the web UI instead (when the services directory is writable) and Avahi answers for
// the host name (the appliance's hostname is `lanboot`).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import type { MdnsResponder } from '../config/config.js';
import { errorFields } from '../log/logger.js';
import type { StartContext, SupervisorService } from '../supervisor/service.js';

export const DEFAULT_MDNS_HOSTNAME = 'lanboot';
export const AVAHI_SOCKET = '/run/avahi-daemon/socket';
export const AVAHI_PID_FILE = '/run/avahi-daemon/pid';
export const AVAHI_SERVICES_DIR = '/etc/avahi/services';
export const AVAHI_SERVICE_FILE_NAME = 'lanboot.service';

export interface MdnsServiceOptions {
  interfaceName: string;
  /** 'auto' (default): Avahi when avahi-daemon runs here, else ciao. */
  responder?: MdnsResponder;
  /** Without the .local TLD. */
  hostname?: string;
  /** Whether avahi-daemon runs here (tests and the appliance can override). */
  avahiRunning?: () => boolean;
  avahiServicesDir?: string;
}

export type MdnsMode = 'starting' | 'ciao' | 'avahi' | 'stopped' | 'failed';

export interface MdnsStatus {
  mode: MdnsMode;
  interface: string;
  /** The name the box answers to, e.g. "lanboot.local" (after conflict resolution). */
  hostname: string | null;
  /** The DNS-SD instance name of the web UI, e.g. "lanboot". */
  serviceName: string | null;
  port: number | null;
  avahiServiceFile?: string | null;
  error?: string;
}

/** avahi-daemon is running: its socket exists, or its pid file names a live process. */
export function avahiDaemonRunning(socket = AVAHI_SOCKET, pidFile = AVAHI_PID_FILE): boolean {
  try {
    if (fs.statSync(socket).isSocket()) return true;
  } catch {
    // no socket
  }
  try {
    const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
    if (!Number.isSafeInteger(pid) || pid <= 1) return false;
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function xmlEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** The Avahi static service file (avahi.service(5)) for the web UI. */
export function avahiServiceFile(port: number, name = 'lanboot'): string {
  return [
    '<?xml version="1.0" standalone="no"?>',
    '<!DOCTYPE service-group SYSTEM "avahi-service.dtd">',
    '<!-- Written by lanboot: its web UI. Removed when lanboot stops. -->',
    '<service-group>',
    `  <name>${xmlEscape(name)}</name>`,
    '  <service>',
    '    <type>_http._tcp</type>',
    `    <port>${port}</port>`,
    '    <txt-record>path=/</txt-record>',
    '  </service>',
    '</service-group>',
    '',
  ].join('\n');
}

function trimDot(name: string): string {
  return name.endsWith('.') ? name.slice(0, -1) : name;
}

export class MdnsService implements SupervisorService {
  readonly name = 'mdns';
  private log: Logger | undefined;
  private mode: MdnsMode = 'stopped';
  private hostname: string | null = null;
  private serviceName: string | null = null;
  private port: number | null = null;
  private error: string | undefined;
  private avahiFile: string | null = null;
  private responder: { shutdown(): Promise<void> } | undefined;
  private service: { end(): Promise<void>; destroy(): Promise<void> } | undefined;
  private advertising: Promise<void> | undefined;

  constructor(private readonly options: MdnsServiceOptions) {}

  async start(ctx: StartContext): Promise<void> {
    const interfaceName = this.options.interfaceName;
    const host = this.options.hostname ?? DEFAULT_MDNS_HOSTNAME;
    this.log = ctx.logger.child({ component: 'mdns', interface: interfaceName });
    this.port = ctx.httpPort;
    this.mode = 'starting';
    const forced = this.options.responder ?? 'auto';
    const avahi = forced === 'ciao' ? false : forced === 'avahi' ? true : (this.options.avahiRunning ?? (() => avahiDaemonRunning()))();
    if (avahi) {
      this.mode = 'avahi';
      this.serviceName = host;
      // Avahi answers for the system host name (the appliance's is `lanboot`).
      this.hostname = `${os.hostname()}.local`;
      const dir = this.options.avahiServicesDir ?? AVAHI_SERVICES_DIR;
      const file = path.join(dir, AVAHI_SERVICE_FILE_NAME);
      try {
        // Atomic: Avahi watches the directory and must never read half a file.
        fs.writeFileSync(`${file}.tmp`, avahiServiceFile(ctx.httpPort, host), { mode: 0o644 });
        fs.renameSync(`${file}.tmp`, file);
        this.avahiFile = file;
        this.log.info({ file, port: ctx.httpPort }, 'avahi-daemon runs here: web UI advertised through an Avahi service file (no second mDNS responder)');
      } catch (error) {
        this.error = `cannot write ${file}: ${(error as Error).message}`;
        this.log.warn({ file, ...errorFields(error) }, 'avahi-daemon runs here, but the Avahi service file cannot be written: the web UI is not advertised');
      }
      return;
    }
    const ciao = (await import('@homebridge/ciao')).default;
    // Only the served interface, IPv4 only: the LAN the PCs are on.
    const responder = ciao.getResponder({ interface: interfaceName, disableIpv6: true });
    this.responder = responder;
    const service = responder.createService({
      name: host,
      type: 'http',
      port: ctx.httpPort,
      hostname: host,
      txt: { path: '/' },
      restrictedAddresses: [interfaceName],
      disabledIpv6: true,
    });
    this.service = service;
    this.serviceName = host;
    this.hostname = `${host}.local`;
    service.on('name-change', (name: string) => {
      this.serviceName = name;
      this.log?.warn({ name }, 'mDNS service name taken on the LAN: renamed (RFC 6762 section 9)');
    });
    service.on('hostname-change', (hostname: string) => {
      this.hostname = trimDot(hostname);
      this.log?.warn({ hostname: this.hostname }, 'mDNS host name taken on the LAN: renamed (RFC 6762 section 9)');
    });
    // Probing takes about a second (three probes 250 ms apart, RFC 6762 section 8.1): do not
    // hold the supervisor's start for it.
    this.advertising = service.advertise().then(
      () => {
        this.mode = 'ciao';
        this.hostname = trimDot((service as unknown as { getHostname(): string }).getHostname());
        this.log?.info({ hostname: this.hostname, service: this.serviceName, port: ctx.httpPort }, 'mDNS: answering and advertising the web UI');
      },
      (error: unknown) => {
        this.mode = 'failed';
        this.error = (error as Error).message;
        this.log?.error({ ...errorFields(error) }, 'mDNS advertising failed');
      },
    );
  }

  async stop(): Promise<void> {
    if (this.avahiFile) {
      fs.rmSync(this.avahiFile, { force: true });
      this.avahiFile = null;
    }
    await this.advertising?.catch(() => undefined);
    try {
      // Goodbye packets (TTL 0, RFC 6762 section 10.1) so phones forget the name at once.
      await this.service?.end();
      await this.service?.destroy();
    } finally {
      await this.responder?.shutdown();
      this.service = undefined;
      this.responder = undefined;
      this.mode = 'stopped';
    }
  }

  status(): MdnsStatus {
    return {
      mode: this.mode,
      interface: this.options.interfaceName,
      hostname: this.hostname,
      serviceName: this.serviceName,
      port: this.port,
      ...(this.avahiFile !== null || this.mode === 'avahi' ? { avahiServiceFile: this.avahiFile } : {}),
      ...(this.error ? { error: this.error } : {}),
    };
  }
}
