// HTTP boot as a supervisor service: the boot-script and iPXE-binary routes on the
// LAN HTTP port, the waiting list and enrollment on the local API, and the boot-event
// recorder the DHCP and TFTP services feed.
//
// LAN-facing (anyone on the LAN, unauthenticated; see docs/security.md):
//   GET /boot.ipxe              no MAC: a two-line script that asks again with iPXE's MAC
//   GET /boot.ipxe?mac=MAC      a seat's sanboot script (fresh CHAP secret per fetch) or the
//                               enrollment script; a malformed MAC gets 400
//   GET /ipxe/<name>            the iPXE binaries of Debian's ipxe package (fixed allow-list),
//                               for UEFI HTTP boot
// API (/api/v1: the local socket for the CLI, and the LAN port behind the web UI's login):
//   GET  /api/v1/waiting                 PCs waiting to be enrolled
//   GET  /api/v1/boot-events[?mac=MAC]   a PC's boot timeline (or the latest steps of all)
//   POST /api/v1/enroll {code, name, image, mode}
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import type { Context, Hono } from 'hono';
import type { Logger } from 'pino';
import type { BootSettings, ScriptOwnerCheck } from '../config/config.js';
import { normalizeMac, quoteInput, validateMode, validateName } from '../config/names.js';
import { errorFields } from '../log/logger.js';
import { parseAddSeatRequest, type SeatManager } from '../seats/index.js';
import { checkFields, jsonBodyLimit, readJsonObject } from '../web/json.js';
import type { MountContext, StartContext, SupervisorService } from '../supervisor/service.js';
import type { PxeRequestEvent } from '../dhcp/events.js';
import type { TftpTransferEvent } from '../tftp/server.js';
import { DEBIAN_IPXE_BOOT_FILES, fileMapProvider } from '../tftp/boot-files.js';
import { BootStore, type BootEventInput } from './boot-store.js';
import { normalizeEnrollCode } from './enroll-code.js';
import { enrollmentScript, macProbeScript, MEMDISK_MAX_ISO_BYTES, sanBootScript, unknownPcMenuScript, type ScriptIso, type ScriptPlan, type ScriptTarget } from './ipxe-script.js';
import { IsoLibrary, isoUrl } from '../iso/library.js';
import { storedBootChoice, type BootChoice, type SeatDetails } from '../seats/index.js';
import { macForAddress } from './neighbors.js';

/** syslinux's memdisk (Debian package syslinux-common). */
export const MEMDISK_PATH = '/usr/lib/syslinux/memdisk';

/** Seconds between an unknown PC's polls of its boot script. */
export const ENROLL_POLL_SECONDS = 3;

/** Unknown MACs one client address may have waiting at once. A PC has one or two NICs; a
 *  host inventing MACs would otherwise push real PCs off the bounded waiting list (and make
 *  their codes change). */
export const MAX_WAITING_PER_ADDRESS = 4;
/** Client addresses remembered for that limit (oldest forgotten first). */
const MAX_TRACKED_ADDRESSES = 4096;

/** What may be fetched under /ipxe/: the iPXE binaries for UEFI HTTP boot (boot-policy.ts
 *  hands out these URLs), and syslinux's memdisk, which boot scripts load to boot a small BIOS
 *  ISO from memory (ipxe-script.ts isoLines). */
export const HTTP_IPXE_FILES: Readonly<Record<string, string>> = { ...DEBIAN_IPXE_BOOT_FILES, memdisk: MEMDISK_PATH };

export interface BootServiceOptions {
  /** name -> absolute path of the binaries served under /ipxe/ (tests point it elsewhere). */
  ipxeFiles?: Readonly<Record<string, string>>;
  /** IP -> MAC for TFTP/HTTP steps; default: the kernel's ARP table. */
  macForAddress?: (address: string) => string | undefined;
  /** Seconds between enrollment polls. */
  pollSeconds?: number;
}

const SCRIPT_HEADERS = {
  'content-type': 'text/plain; charset=utf-8',
  // A boot script holds a one-boot CHAP secret: never cached anywhere.
  'cache-control': 'no-store',
} as const;

function plainError(c: Context, status: 400 | 403 | 404 | 429 | 500 | 503, message: string): Response {
  return c.text(`${message}\n`, status, { 'cache-control': 'no-store' });
}

/** The local IPv4 address a request arrived on: the address the PC reaches the box at. */
function localAddressOf(c: Context): string | undefined {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  let address = incoming?.socket?.localAddress;
  if (!address) return undefined;
  if (address.startsWith('::ffff:')) address = address.slice(7);
  return net.isIPv4(address) ? address : undefined;
}

function remoteAddressOf(c: Context): string | undefined {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  const address = incoming?.socket?.remoteAddress;
  return address?.startsWith('::ffff:') ? address.slice(7) : address;
}

function hostPort(host: string, port: number): string {
  return port === 80 ? host : `${host}:${port}`;
}

export class BootService implements SupervisorService {
  readonly name = 'boot';
  private store: BootStore | undefined;
  private seats: SeatManager | undefined;
  private library: IsoLibrary | undefined;
  private log: Logger | undefined;
  private iscsiPort = 0;
  private httpPort = 0;
  private advertisedHost = '127.0.0.1';
  private started = false;
  private scriptsServed = 0;
  private readonly ipxeFiles: ReturnType<typeof fileMapProvider>;
  private readonly ipxeFileNames: ReadonlySet<string>;
  private readonly lookupMac: (address: string) => string | undefined;
  private readonly pollSeconds: number;
  private readonly scriptOwnerCheck: ScriptOwnerCheck;
  private spoofingRefused = 0;
  /** client address -> MACs it introduced to the waiting list. */
  private readonly introducedBy = new Map<string, Set<string>>();

  constructor(
    private readonly settings: BootSettings,
    options: BootServiceOptions = {},
  ) {
    const files = options.ipxeFiles ?? HTTP_IPXE_FILES;
    this.ipxeFiles = fileMapProvider(files);
    this.ipxeFileNames = new Set(Object.keys(files));
    this.lookupMac = options.macForAddress ?? ((address) => macForAddress(address));
    this.pollSeconds = options.pollSeconds ?? ENROLL_POLL_SECONDS;
    this.scriptOwnerCheck = settings.scriptOwnerCheck;
  }

  mount(ctx: MountContext): void {
    this.log = ctx.logger.child({ component: 'boot' });
    this.store = new BootStore(ctx.db, {
      onFlushError: (error, steps) => this.log?.warn({ steps, ...errorFields(error) }, 'cannot record boot steps'),
    });
    this.seats = ctx.seats;
    this.library = new IsoLibrary(ctx.images);
    this.mountLan(ctx.httpApp);
    this.mountApi(ctx.api);
  }

  start(ctx: StartContext): void {
    this.iscsiPort = ctx.iscsiPort;
    this.httpPort = ctx.httpPort;
    this.advertisedHost = ctx.advertisedHost;
    const { dhcp, listen } = this.settings;
    if (dhcp.mode !== 'off' && listen !== '0.0.0.0') {
      // DHCP hands out boot URLs with the interface's own IPv4 address; HTTP and iSCSI must
      // be reachable there.
      this.log?.warn(
        { listen, interface: dhcp.interface },
        'HTTP and iSCSI listen on one address only: PCs are sent to the address of the DHCP interface, so --listen must be that address (or 0.0.0.0)',
      );
    }
    this.started = true;
  }

  stop(): void {
    this.started = false;
    // Steps still in memory go to the database before the process ends.
    try {
      this.store?.flush();
    } catch (error) {
      this.log?.warn({ ...errorFields(error) }, 'cannot record boot steps');
    }
  }

  status(): unknown {
    return { started: this.started, scriptsServed: this.scriptsServed, waiting: this.store?.listWaiting().length ?? 0, scriptOwnerCheck: this.scriptOwnerCheck, spoofingRefused: this.spoofingRefused };
  }

  /** Records a step; never throws (a full disk must not break a boot). */
  record(input: BootEventInput): void {
    if (!this.store) return;
    try {
      this.store.record(input);
    } catch (error) {
      this.log?.warn({ mac: input.mac, step: input.step, ...errorFields(error) }, 'cannot record a boot step');
    }
  }

  /** From the DHCP service's 'pxe-request' events. */
  recordDhcpStep(event: PxeRequestEvent): void {
    let mac: string;
    try {
      mac = normalizeMac(event.mac, 'mac');
    } catch {
      return;
    }
    this.record({
      mac,
      arch: event.arch >= 0 ? event.arch : null,
      vendorClass: event.vendorClass || null,
      step: event.step,
      detail: `${event.stage}: boot file ${event.bootFile}${event.userClass ? ` (user class ${event.userClass})` : ''} on ${event.interfaceName}`,
      time: event.time,
    });
  }

  /** From the TFTP service's 'transfer' events; the MAC comes from the neighbor table. */
  recordTftpTransfer(event: TftpTransferEvent): void {
    const mac = this.lookupMac(event.client.address);
    if (!mac) {
      this.log?.debug({ client: event.client, file: event.file }, 'TFTP transfer from an address with no known MAC: not in the boot timeline');
      return;
    }
    // PXE firmware (edk2, most ROMs) first asks for the size only (tsize, RFC 2349) and ends
    // the transfer after the option ack with ERROR 8 (RFC 2347): a probe, not a failure.
    if (event.result === 'error' && event.errorCode === 'TFTP_CLIENT_DECLINED') {
      this.record({ mac, step: 'tftp-probe', detail: `${event.file}: size asked (${event.fileSize} bytes)` });
      return;
    }
    const detail =
      event.result === 'ok'
        ? `${event.file}: ${event.bytes} bytes in ${Math.round(event.durationMs)} ms (blksize ${event.blockSize}, windowsize ${event.windowSize})`
        : `${event.file}: ${event.result}${event.errorCode ? ` ${event.errorCode}` : ''}${event.message ? `: ${event.message}` : ''}`;
    this.record({ mac, step: `tftp-${event.result}`, detail });
  }

  /** Whether `address` may put one more MAC on the waiting list; records it if so. */
  private mayIntroduce(address: string, mac: string): boolean {
    let macs = this.introducedBy.get(address);
    if (macs) {
      // Enrolled or evicted MACs no longer count.
      for (const known of macs) if (!this.store!.isWaiting(known)) macs.delete(known);
      this.introducedBy.delete(address); // re-inserted below: most recent last
    } else {
      macs = new Set();
    }
    this.introducedBy.set(address, macs);
    if (this.introducedBy.size > MAX_TRACKED_ADDRESSES) this.introducedBy.delete(this.introducedBy.keys().next().value!);
    if (macs.size >= MAX_WAITING_PER_ADDRESS) return false;
    macs.add(mac);
    return true;
  }

  /** Whether `address` may ask for MAC `mac`'s script: the kernel resolved the address to
   *  that MAC (it did, to answer the TCP handshake), or it is the box itself. */
  private checkOwner(address: string | undefined, mac: string): { ok: boolean; neighborMac?: string | undefined } {
    if (this.scriptOwnerCheck === 'off') return { ok: true };
    if (address === undefined) return { ok: false };
    if (address === '::1' || (net.isIPv4(address) && address.startsWith('127.'))) return { ok: true };
    const neighborMac = this.lookupMac(address);
    return { ok: neighborMac === mac, neighborMac };
  }

  private baseUrl(server: string): string {
    return `http://${hostPort(server, this.httpPort)}`;
  }

  /** The ISO library as menu entries, with URLs on the address the PC reached the box at. */
  private isoEntries(server: string): ScriptIso[] {
    const memdiskUrl = this.ipxeFileNames.has('memdisk') ? `${this.baseUrl(server)}/ipxe/memdisk` : undefined;
    return this.library!.list().map((row) => ({
      name: `${row.imageName}/${row.fileName}`,
      url: isoUrl(server, this.httpPort, row.imageName, row.fileName),
      memdiskUrl: row.sizeBytes <= MEMDISK_MAX_ISO_BYTES ? memdiskUrl : undefined,
    }));
  }

  /** What a seat's boot script does (docs/boot.md, "What a PC boots"):
   *  1. a pending one-shot choice (taken by this fetch);
   *  2. an install seat: a menu whose default is the disk once it has a boot signature, else
   *     the installer (the ISO stays one entry away either way);
   *  3. the menu when the seat (or the box) has it on, with its timeout and default;
   *  4. else the disk. */
  private planFor(seat: SeatDetails, once: BootChoice | undefined, isos: ScriptIso[]): { plan: ScriptPlan; summary: string } {
    const install = seat.mode === 'install';
    const installIso = storedBootChoice(seat.boot.installIso);
    const installTarget: ScriptTarget = {
      kind: 'install',
      iso: installIso?.kind === 'iso' ? isos.find((i) => i.name === `${installIso.image}/${installIso.file}`) ?? null : null,
    };
    const isoTarget = (choice: BootChoice | undefined): ScriptIso | undefined =>
      choice?.kind === 'iso' ? isos.find((i) => i.name === `${choice.image}/${choice.file}`) : undefined;
    const entries: ScriptTarget[] = [{ kind: 'disk' }, ...(install ? [installTarget] : []), ...isos.map((iso): ScriptTarget => ({ kind: 'iso', iso })), { kind: 'local' }];
    const timeoutSeconds = seat.boot.menuTimeout ?? this.settings.menu.timeoutSeconds;
    const indexOf = (choice: BootChoice | undefined): number => {
      if (!choice || choice.kind === 'disk' || choice.kind === 'menu') return 0;
      if (choice.kind === 'local') return entries.length - 1;
      const iso = isoTarget(choice);
      const i = iso ? entries.findIndex((e) => e.kind === 'iso' && e.iso.name === iso.name) : -1;
      return i < 0 ? 0 : i;
    };
    if (once) {
      if (once.kind === 'disk') return { plan: { kind: 'direct', target: { kind: 'disk' } }, summary: 'once: disk' };
      if (once.kind === 'local') return { plan: { kind: 'direct', target: { kind: 'local' } }, summary: 'once: local disk' };
      const iso = isoTarget(once);
      if (iso) {
        // An install seat keeps its disk attached under any ISO it boots (the installer's
        // second stage, or WinPE repairing the installed system).
        const target: ScriptTarget = install ? { kind: 'install', iso } : { kind: 'iso', iso };
        return { plan: { kind: 'direct', target }, summary: `once: ${iso.name}` };
      }
      // 'menu', or an ISO removed from the library since: the menu.
      return { plan: { kind: 'menu', entries, defaultIndex: 0, timeoutSeconds }, summary: once.kind === 'menu' ? 'once: menu' : 'once: ISO gone, menu' };
    }
    if (install) {
      const bootable = seat.boot.diskBootable === true;
      const defaultIndex = bootable ? 0 : 1;
      return { plan: { kind: 'menu', entries, defaultIndex, timeoutSeconds }, summary: `install menu, default ${bootable ? 'disk (bootable)' : 'installer (blank disk)'}` };
    }
    const menuOn = seat.boot.menu === null ? this.settings.menu.on : seat.boot.menu === 'on';
    if (menuOn) {
      const defaultChoice = storedBootChoice(seat.boot.menuDefault);
      return { plan: { kind: 'menu', entries, defaultIndex: indexOf(defaultChoice), timeoutSeconds }, summary: `menu, default ${seat.boot.menuDefault}` };
    }
    return { plan: { kind: 'direct', target: { kind: 'disk' } }, summary: 'sanboot' };
  }

  private mountLan(app: Hono): void {
    app.get('/boot.ipxe', (c) => this.serveScript(c, false));
    // The enrollment wait of an unknown PC (its menu's first entry): never the menu again.
    app.get('/enroll.ipxe', (c) => this.serveScript(c, true));
    this.mountIpxeFiles(app);
  }

  private serveScript(c: Context, waitOnly: boolean): Response {
    // The HTTP listener is up a moment before start() hands us the bound ports (and again
    // while stopping): no script can be written then. iPXE retries a failed chain.
    if (!this.started) return plainError(c, 503, 'lanboot: starting or stopping; try again');
    const server = localAddressOf(c) ?? this.advertisedHost;
    const scriptUrl = `${this.baseUrl(server)}/boot.ipxe`;
    const enrollUrl = `${this.baseUrl(server)}/enroll.ipxe`;
    const macParam = c.req.query('mac');
    if (macParam === undefined) return c.text(macProbeScript(scriptUrl), 200, SCRIPT_HEADERS);
    let mac: string;
    try {
      mac = normalizeMac(macParam, 'mac');
    } catch (error) {
      return plainError(c, 400, (error as Error).message);
    }
    const log = this.log!.child({ mac, client: remoteAddressOf(c) });
    const claim = this.checkOwner(remoteAddressOf(c), mac);
    if (!claim.ok) {
      // A script carries a seat's boot credentials, and a waiting-list entry is a PC's
      // place in the queue: both go only to the address that owns the MAC. Recorded under
      // the claimed MAC, so the seat's timeline on the phone shows it.
      this.spoofingRefused++;
      log.warn({ neighborMac: claim.neighborMac ?? null }, 'boot script refused: the requesting address does not belong to the MAC it asked for (spoofing?)');
      this.record({ mac, step: 'spoofing', detail: `refused: ${remoteAddressOf(c) ?? 'unknown address'} is ${claim.neighborMac ?? 'not in the neighbor table'}, not ${mac}` });
      return plainError(c, 403, 'lanboot: this address does not own that MAC');
    }
    const retryUrl = `${scriptUrl}?mac=${mac.replaceAll(':', '-')}`;
    const seat = this.seats!.findByMac(mac);
    if (seat) {
      // Enrolled some other way (`lanboot seat add --mac`) while it waited.
      this.store!.removeWaiting(mac);
      let prepared;
      let once: BootChoice | undefined;
      try {
        prepared = this.seats!.prepareForBoot(seat.name);
        once = this.seats!.takeOnce(seat.name);
      } catch (error) {
        log.error({ seat: seat.name, ...errorFields(error) }, 'cannot prepare the seat for boot');
        this.record({ mac, step: 'http-script', detail: `seat ${seat.name}: preparing the disk failed` });
        // Nothing about the failure goes to the LAN; the PC's iPXE retries on its own.
        return plainError(c, 500, 'lanboot: the disk is not ready; see the supervisor log');
      }
      const initiatorIqn = prepared.initiatorIqns[0];
      if (initiatorIqn === undefined) {
        log.error({ seat: seat.name }, 'seat has no initiator IQN to boot with');
        return plainError(c, 500, 'lanboot: the disk is not ready; see the supervisor log');
      }
      let script: string;
      let summary: string;
      try {
        const planned = this.planFor(prepared, once, this.isoEntries(server));
        summary = planned.summary;
        script = sanBootScript(
          {
            seatName: prepared.name,
            mode: prepared.mode,
            server,
            iscsiPort: this.iscsiPort,
            lun: prepared.lun,
            targetIqn: prepared.targetIqn,
            initiatorIqn,
            chap: prepared.chap,
            mutualChap: prepared.mutualChap,
            retryUrl,
          },
          planned.plan,
        );
      } catch (error) {
        // Names and secrets are validated where they are made; reaching this is a bug.
        log.error({ seat: prepared.name, ...errorFields(error) }, 'cannot write the boot script');
        return plainError(c, 500, 'lanboot: the disk is not ready; see the supervisor log');
      }
      this.scriptsServed++;
      const detail = summary === 'sanboot' ? `sanboot: seat ${prepared.name} (${prepared.mode}) from ${server}:${this.iscsiPort}` : `${summary}: seat ${prepared.name} (${prepared.mode}) from ${server}:${this.iscsiPort}`;
      this.record({ mac, step: 'http-script', detail });
      log.info({ seat: prepared.name, targetIqn: prepared.targetIqn, mode: prepared.mode, plan: summary }, 'boot script served');
      return c.text(script, 200, SCRIPT_HEADERS);
    }
    const client = remoteAddressOf(c) ?? '';
    if (!this.store!.isWaiting(mac) && !this.mayIntroduce(client, mac)) {
      log.warn({ limit: MAX_WAITING_PER_ADDRESS }, 'too many unknown MACs from one address: not added to the waiting list');
      return plainError(c, 429, 'lanboot: too many unknown PCs from this address');
    }
    const waiting = this.store!.touchWaiting(mac);
    if (!waiting) {
      log.warn('waiting list full of PCs that are still polling: not added');
      return plainError(c, 503, 'lanboot: the waiting list is full; try again later');
    }
    if (waiting.firstSeen === waiting.lastSeen) log.info({ code: waiting.code }, 'unknown PC is waiting to be enrolled');
    this.scriptsServed++;
    if (this.settings.menu.on && !waitOnly) {
      // The box shows its menu to every PC: an unknown one may boot an ISO or its own disk
      // without being enrolled; its first entry (the default) is the enrollment wait.
      this.record({ mac, step: 'http-script', detail: `menu: not enrolled, code ${waiting.code}` });
      const isos = this.isoEntries(server).map((iso): ScriptTarget => ({ kind: 'iso', iso }));
      const script = unknownPcMenuScript({ code: waiting.code, mac, enrollUrlBase: enrollUrl, entries: [...isos, { kind: 'local' }], timeoutSeconds: this.settings.menu.timeoutSeconds, retryUrl });
      return c.text(script, 200, SCRIPT_HEADERS);
    }
    this.record({ mac, step: 'http-script', detail: `enrollment: waiting with code ${waiting.code}` });
    const script = enrollmentScript({
      code: waiting.code,
      mac,
      boxUrl: `${this.baseUrl(server)}/`,
      pollUrlBase: this.settings.menu.on ? enrollUrl : scriptUrl,
      pollSeconds: this.pollSeconds,
    });
    return c.text(script, 200, SCRIPT_HEADERS);
  }

  private mountIpxeFiles(app: Hono): void {
    app.get('/ipxe/:name', async (c) => {
      const name = c.req.param('name');
      // Exact names only: the allow-list is the whole namespace (no paths, no traversal).
      if (!this.ipxeFileNames.has(name)) return plainError(c, 404, `lanboot: no boot file ${quoteInput(name)}`);
      let bytes: Uint8Array | undefined;
      try {
        bytes = await this.ipxeFiles({ filename: name, client: { address: remoteAddressOf(c) ?? '', port: 0 } });
      } catch (error) {
        this.log?.error({ file: name, ...errorFields(error) }, 'cannot read an iPXE binary (is the ipxe package installed?)');
        return plainError(c, 500, 'lanboot: boot file unavailable; see the supervisor log');
      }
      if (!bytes) return plainError(c, 404, `lanboot: no boot file ${quoteInput(name)}`);
      const remote = remoteAddressOf(c);
      const mac = remote ? this.lookupMac(remote) : undefined;
      if (mac) this.record({ mac, step: 'http-binary', detail: `${name}: ${bytes.length} bytes` });
      return c.body(bytes as Uint8Array<ArrayBuffer>, 200, { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) });
    });
  }

  private mountApi(app: Hono): void {
    // A PC that got a seat through `seat add --mac` while it waited is not waiting any more.
    app.get('/api/v1/waiting', (c) => c.json(this.store!.listWaiting().filter((pc) => this.seats!.findByMac(pc.mac) === undefined)));

    app.get('/api/v1/boot-events', (c) => {
      const macParam = c.req.query('mac');
      if (macParam === undefined) return c.json(this.store!.recentEvents());
      return c.json(this.store!.events(normalizeMac(macParam, 'mac')));
    });

    // Bounded before anything is read: the LAN port reaches this route behind the login.
    app.post('/api/v1/enroll', jsonBodyLimit, async (c) => {
      const fields = await readJsonObject(c);
      checkFields(fields, ['code', 'name', 'image', 'mode', 'size', 'iso']);
      const code = normalizeEnrollCode(fields.code, 'code');
      const name = validateName(fields.name, 'seat', 'name');
      const mode = fields.mode === undefined || fields.mode === null ? undefined : validateMode(fields.mode, 'mode');
      // An install seat has a blank disk of its own size and no image (parseAddSeatRequest).
      const image = mode === 'install' ? fields.image : validateName(fields.image, 'image', 'image');
      const request = parseAddSeatRequest({ name, image, mac: '00:00:00:00:00:00', mode, size: fields.size, iso: fields.iso });
      const waiting = this.store!.findWaitingByCode(code);
      if (!waiting) {
        // 404 here rather than through httpStatusFor: the code is this module's own.
        return c.json({ error: { code: 'LANBOOT_ENROLL_CODE_NOT_FOUND', message: `no PC is waiting with code ${code} (see \`lanboot waiting\`)` } }, 404);
      }
      const seat = this.seats!.add({ ...request, mac: waiting.mac });
      this.store!.removeWaiting(waiting.mac);
      const disk = seat.image === null ? `a blank ${Math.round((seat.diskBytes ?? 0) / 2 ** 30)} GiB disk${seat.boot.installIso ? ` with ${seat.boot.installIso}` : ''}` : `${seat.image} v${seat.version}`;
      this.record({ mac: waiting.mac, step: 'enrolled', detail: `seat ${seat.name} on ${disk} (${seat.mode})` });
      this.log!.info({ mac: waiting.mac, code, seat: seat.name, image: seat.image, mode: seat.mode }, 'PC enrolled');
      return c.json(seat, 201);
    });
  }
}
