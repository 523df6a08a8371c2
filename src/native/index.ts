// The native addon's one loader and its typed contract (native/src, built by node-gyp into
// build/Release). The addon owns everything on the per-I/O path (the iSCSI engine, ISO bytes
// over HTTP) and the few syscalls Node does not expose (sd_notify datagrams, SO_BINDTODEVICE
// sockets). `lanboot serve` loads it once (loadNative) and the supervisor hands each part the
// slice it uses (the types below), so a part never reaches for the module itself and a test
// can give it a stand-in. Every error the addon throws or rejects with comes out of
// loadNative() as a LanbootError, so `error.code` is one of src/log/errors.ts;
// test/unit/native-contract.test.ts checks this file against the built addon.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import fs from 'node:fs';
import { isLanbootErrorCode, LanbootError } from '../log/errors.js';

export interface ChapCredentials {
  /** CHAP_N the peer must present / we present. */
  user: string;
  /** Shared secret; 12..16 bytes keeps the Windows initiator happy. */
  secret: string;
}

export interface TargetConfig {
  /** Target IQN (RFC 3720 3.2.6). */
  iqn: string;
  /** Golden image version file, opened read-only and never written. "" = blank disk. */
  goldenPath: string;
  /** Directory holding this seat's delta (created if missing). */
  deltaDir: string;
  /** Disk size in bytes; 0 = golden file size. */
  sizeBytes?: number;
  /** Delta quota in bytes; 0 = none. */
  quotaBytes?: number;
  /** Initiator IQNs allowed to log in (and to see this target in SendTargets). */
  initiators: string[];
  /** One-way CHAP: the initiator must prove this secret. Absent = AuthMethod None. */
  chap?: ChapCredentials;
  /** Mutual CHAP: the target proves this secret to the initiator. */
  mutualChap?: ChapCredentials;
  /** VPD 0x80 unit serial number. */
  serial: string;
  /** VPD 0x83 NAA-5 designator, 16 hex digits. */
  naaHex: string;
  readOnly?: boolean;
  /** More logical units besides LUN 0 (the disk above): a seat's data and shared disks. */
  luns?: LunConfig[];
}

/** One more LUN of a target: its own golden file ("" = blank), delta, size and identity. */
export interface LunConfig {
  /** 1-15, increasing, each once. */
  lun: number;
  goldenPath: string;
  deltaDir: string;
  sizeBytes?: number;
  quotaBytes?: number;
  serial: string;
  naaHex: string;
  readOnly?: boolean;
  /** true: resetDisk and a fresh start drop this LUN's delta too (a shared disk); false: it
   *  keeps it (a data disk). */
  resetWithTarget: boolean;
}

export interface SessionInfo {
  targetIqn: string;
  initiatorIqn: string;
  /** 12 hex digits. */
  isid: string;
  tsih: number;
  remoteAddress: string;
  remotePort: number;
  connectedAt: number; // ms since epoch
  commands: number;
  bytesRead: number;
  bytesWritten: number;
  /** Mean per-command service time in microseconds since login. */
  meanLatencyUs: number;
}

export type EngineEvent =
  | { type: 'login'; targetIqn: string; initiatorIqn: string; isid: string; tsih: number; remoteAddress: string; discovery: boolean }
  | { type: 'logout'; targetIqn: string; initiatorIqn: string; isid: string; tsih: number; reason: string }
  | { type: 'login-failed'; targetIqn: string; initiatorIqn: string; remoteAddress: string; reason: string }
  /** `code`: LANBOOT_NO_SPACE (a write refused for the quota or a full disk, rate limited;
   *  `reason` says which), LANBOOT_ISCSI_ACCEPT, LANBOOT_DISK_FLUSH. */
  | { type: 'error'; targetIqn: string; initiatorIqn: string; message: string; code: NativeEventErrorCode; reason?: string }
  /** An armed fresh start ran at a login: `reset` says whether the delta was reset, `reason` why not. */
  | { type: 'fresh-start'; targetIqn: string; initiatorIqn: string; remoteAddress: string; reset: boolean; endedSessions: number; reason: string };

/** The codes the engine's `error` events carry (native/src/napi/addon.cc, native/src/iscsi/engine.cc). */
export type NativeEventErrorCode = 'LANBOOT_NO_SPACE' | 'LANBOOT_DISK_FAULT' | 'LANBOOT_ISCSI_ACCEPT' | 'LANBOOT_DISK_FLUSH';

export interface IscsiEngine {
  /** Binds and starts accepting; returns the bound port (port 0 = any free port). */
  listen(host: string, port: number): number;
  /** Adds or updates a target. Changing the backing (golden/delta/size) drops its sessions. */
  setTarget(config: TargetConfig): void;
  /** Removes a target and drops its sessions. */
  removeTarget(iqn: string): void;
  /** Drops the target's sessions and discards its delta: the disk equals golden again. */
  resetDisk(iqn: string): void;
  /** The next session that logs in to the target starts a new boot: its delta is reset just
   *  before that session is admitted, and older sessions of the target are ended. With CHAP only
   *  the holder of the newest secret can log in; without CHAP the reset is skipped while another
   *  session is logged in. A login consumes it. */
  armFreshStart(iqn: string): void;
  /** Cancels armFreshStart (no-op when not armed). */
  disarmFreshStart(iqn: string): void;
  /** Bytes the target's delta uses. */
  deltaBytes(iqn: string): number;
  /** Up to 64 KiB of the target's disk as an initiator sees it (golden under the delta). */
  readDisk(iqn: string, offset: number, length: number): Buffer;
  sessions(): SessionInfo[];
  /** Starts appending the target's READ/WRITE commands (arrival time, byte offset, length,
   *  service time; native/src/scsi/command_trace.h) to `path`, or stops with null. Off by
   *  default and after a restart; removing the target stops it. */
  setCommandTrace(iqn: string, path: string | null): void;
  /** Whether the target's command trace is recording. */
  commandTraceOn(iqn: string): boolean;
  /** Stops accepting, closes every session, flushes every delta. Idempotent. */
  close(): void;
}

/** Builds the engine with its event handler. The supervisor takes one so tests can run the
 *  control plane with a stand-in where the addon is not built. */
export type EngineFactory = (onEvent: (event: EngineEvent) => void) => IscsiEngine;

/** A seat's disk as the store sees it, for exportDisk. */
export interface DiskSpec {
  goldenPath: string;
  deltaDir: string;
  /** 0/absent = golden file size (blank disks need it). */
  sizeBytes?: number;
}

export interface NativeAddon {
  /** Writes the whole disk (golden + delta) to destPath (must not exist), keeping holes, on
   *  a worker thread. The delta must not be open in the engine (take the target down). */
  exportDisk(disk: DiskSpec, destPath: string, onProgress?: (bytesDone: number) => void): Promise<void>;
  /** True when no store holds the delta in deltaDir open for writing (or there is none). */
  deltaIsIdle(deltaDir: string): boolean;
  /** Copies a file keeping its holes (SEEK_DATA/SEEK_HOLE + copy_file_range) to dst (must not exist), fsynced. */
  copySparseFile(src: string, dst: string): Promise<void>;
  /** The copy step of a raw import (native/src/image/verified_copy.h): copies the first
   *  `length` bytes of src into dst (an existing empty file), zero 4 KiB blocks left as holes,
   *  every chunk read back and compared, SHA-256 of it all computed on a second thread, dst
   *  fsynced. Stops with code LANBOOT_CANCELLED once cancelFlag[0] != 0 (Atomics.store).
   *  Other codes: LANBOOT_SOURCE_ENDED, LANBOOT_VERIFY_FAILED, LANBOOT_NO_SPACE, LANBOOT_IO_FAILED. */
  verifiedCopy(
    src: string,
    dst: string,
    length: number,
    cancelFlag?: Int32Array,
    onProgress?: (bytesDone: number) => void,
  ): Promise<{ sha256: string; dataBytes: number }>;
  /** Sends bytes [offset, offset+length) of the file at filePath to the connected socket
   *  socketFd with sendfile(2) (page cache to socket, no user-space copy), on the addon's
   *  own epoll reactor threads (not the libuv threadpool). The fd is dup'ed; the caller must
   *  not write to the socket until the promise settles. Resolves with the bytes sent (=
   *  length). Fails with code LANBOOT_SEND_STALLED (no byte accepted for stallMs),
   *  LANBOOT_CANCELLED (cancelFlag[0] != 0, an Int32Array over a SharedArrayBuffer),
   *  LANBOOT_PEER_GONE, LANBOOT_IO_FAILED (the file ended early); error.bytesSent says how
   *  far it got. Throws (LANBOOT_BUSY) when 4096 transfers are in flight, or when the file
   *  cannot be opened or does not hold the range. */
  sendFileRange(socketFd: number, filePath: string, offset: number, length: number, stallMs: number, cancelFlag?: Int32Array): Promise<number>;
  /** Reads the byte ranges of the file (flat offset, length pairs), in that order, into the
   *  page cache on a worker thread, at most maxBytes in all (ranges past the end clipped).
   *  Resolves with the bytes read; stops with LANBOOT_CANCELLED once cancelFlag[0] != 0.
   *  Other codes: LANBOOT_FILE_NOT_FOUND, LANBOOT_IO_FAILED. */
  prewarmFile(filePath: string, ranges: number[], maxBytes: number, cancelFlag?: Int32Array): Promise<number>;
  IscsiEngine: new (onEvent: (event: EngineEvent) => void) => IscsiEngine;
  /** sd_notify(3): sends `state` to $NOTIFY_SOCKET. Returns false when there is none. */
  sdNotify(state: string): boolean;
  /** A UDP socket bound to `port` on interface `ifname` (SO_BINDTODEVICE, SO_BROADCAST,
   *  SO_REUSEADDR); returns its fd for dgram.createSocket('udp4').bind({ fd }). */
  openInterfaceUdpSocket(ifname: string, port: number): number;
}

/** The slices the parts take (seats take `DiskTools` from src/seats, the systemd notifier
 *  `SdNotify` from src/system; both are structural subsets of NativeAddon). */
export type VerifiedCopy = NativeAddon['verifiedCopy'];
export type SendFileRange = NativeAddon['sendFileRange'];
export type PrewarmFile = NativeAddon['prewarmFile'];
export type OpenInterfaceUdpSocket = NativeAddon['openInterfaceUdpSocket'];

function findAddon(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  // dist/src/native -> repo root, or src/native when run from source.
  for (const up of ['../../..', '../..']) {
    const candidate = path.resolve(here, up, 'build/Release/lanboot_native.node');
    if (fs.existsSync(candidate)) return candidate;
  }
  throw new LanbootError('LANBOOT_NATIVE_MISSING', 'native addon not built: run `npm install` (node-gyp rebuild)');
}

/** The addon module exactly as node-gyp built it, errors unwrapped. Only loadNative() and the
 *  contract test (test/unit/native-contract.test.ts) read it. */
export function requireAddonModule(): unknown {
  return createRequire(import.meta.url)(findAddon());
}

/** An addon error as a LanbootError: its code when the list has it (else LANBOOT_INTERNAL with
 *  the addon's code in details), extra fields (sendFileRange's bytesSent) in details, and the
 *  addon function that failed as details.addon. */
export function fromAddonError(error: unknown, call: string): LanbootError {
  if (error instanceof LanbootError) return error;
  const source = (typeof error === 'object' && error !== null ? error : { message: String(error) }) as Record<string, unknown>;
  const { code, message: _message, stack: _stack, ...extra } = source;
  const known = isLanbootErrorCode(code);
  const message = typeof source['message'] === 'string' ? source['message'] : String(error);
  return new LanbootError(known ? code : 'LANBOOT_INTERNAL', message, { addon: call, ...(known ? {} : { addonCode: code }), ...extra }, { cause: error });
}

function guarded<A extends unknown[], R>(call: string, fn: (...args: A) => R): (...args: A) => R {
  return (...args: A): R => {
    let result: R;
    try {
      result = fn(...args);
    } catch (error) {
      throw fromAddonError(error, call);
    }
    if (result instanceof Promise) {
      return result.catch((error: unknown) => {
        throw fromAddonError(error, call);
      }) as R;
    }
    return result;
  };
}

function guardedEngineClass(Native: NativeAddon['IscsiEngine']): NativeAddon['IscsiEngine'] {
  // Control-plane calls only (the per-I/O path never enters JavaScript): the extra frame costs nothing.
  return class GuardedIscsiEngine implements IscsiEngine {
    private readonly engine: IscsiEngine;
    constructor(onEvent: (event: EngineEvent) => void) {
      this.engine = guarded('IscsiEngine', () => new Native(onEvent))();
    }
    listen(host: string, port: number): number {
      return guarded('listen', () => this.engine.listen(host, port))();
    }
    setTarget(config: TargetConfig): void {
      guarded('setTarget', () => this.engine.setTarget(config))();
    }
    removeTarget(iqn: string): void {
      guarded('removeTarget', () => this.engine.removeTarget(iqn))();
    }
    resetDisk(iqn: string): void {
      guarded('resetDisk', () => this.engine.resetDisk(iqn))();
    }
    armFreshStart(iqn: string): void {
      guarded('armFreshStart', () => this.engine.armFreshStart(iqn))();
    }
    disarmFreshStart(iqn: string): void {
      guarded('disarmFreshStart', () => this.engine.disarmFreshStart(iqn))();
    }
    deltaBytes(iqn: string): number {
      return guarded('deltaBytes', () => this.engine.deltaBytes(iqn))();
    }
    readDisk(iqn: string, offset: number, length: number): Buffer {
      return guarded('readDisk', () => this.engine.readDisk(iqn, offset, length))();
    }
    sessions(): SessionInfo[] {
      return guarded('sessions', () => this.engine.sessions())();
    }
    setCommandTrace(iqn: string, tracePath: string | null): void {
      guarded('setCommandTrace', () => this.engine.setCommandTrace(iqn, tracePath))();
    }
    commandTraceOn(iqn: string): boolean {
      return guarded('commandTraceOn', () => this.engine.commandTraceOn(iqn))();
    }
    close(): void {
      guarded('close', () => this.engine.close())();
    }
  };
}

/** The addon with every function and engine method rethrowing as LanbootError. */
function guardedAddon(raw: NativeAddon): NativeAddon {
  return {
    exportDisk: guarded('exportDisk', raw.exportDisk),
    deltaIsIdle: guarded('deltaIsIdle', raw.deltaIsIdle),
    copySparseFile: guarded('copySparseFile', raw.copySparseFile),
    verifiedCopy: guarded('verifiedCopy', raw.verifiedCopy),
    sendFileRange: guarded('sendFileRange', raw.sendFileRange),
    prewarmFile: guarded('prewarmFile', raw.prewarmFile),
    IscsiEngine: guardedEngineClass(raw.IscsiEngine),
    sdNotify: guarded('sdNotify', raw.sdNotify),
    openInterfaceUdpSocket: guarded('openInterfaceUdpSocket', raw.openInterfaceUdpSocket),
  };
}

let cached: NativeAddon | undefined;

/** The one place the addon is loaded (`lanboot serve`, tests, benchmarks); the supervisor hands
 *  its parts on. Throws LANBOOT_NATIVE_MISSING when it is not built. */
export function loadNative(): NativeAddon {
  cached ??= guardedAddon(requireAddonModule() as NativeAddon);
  return cached;
}
