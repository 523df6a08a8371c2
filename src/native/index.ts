// Typed loader for the native addon (native/src, built by node-gyp into build/Release).
// The addon owns everything on the per-I/O path (the iSCSI engine, ISO bytes over HTTP) and
// the few syscalls Node does not expose (sd_notify datagrams, SO_BINDTODEVICE sockets).
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import fs from 'node:fs';

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
  | { type: 'error'; targetIqn: string; initiatorIqn: string; message: string; code: string; reason?: string }
  /** An armed fresh start ran at a login: `reset` says whether the delta was reset, `reason` why not. */
  | { type: 'fresh-start'; targetIqn: string; initiatorIqn: string; remoteAddress: string; reset: boolean; endedSessions: number; reason: string };

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
  IscsiEngine: new (onEvent: (event: EngineEvent) => void) => IscsiEngine;
  /** sd_notify(3): sends `state` to $NOTIFY_SOCKET. Returns false when there is none. */
  sdNotify(state: string): boolean;
  /** A UDP socket bound to `port` on interface `ifname` (SO_BINDTODEVICE, SO_BROADCAST,
   *  SO_REUSEADDR); returns its fd for dgram.createSocket('udp4').bind({ fd }). */
  openInterfaceUdpSocket(ifname: string, port: number): number;
}

function findAddon(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  // dist/src/native -> repo root, or src/native when run from source.
  for (const up of ['../../..', '../..']) {
    const candidate = path.resolve(here, up, 'build/Release/lanboot_native.node');
    if (fs.existsSync(candidate)) return candidate;
  }
  throw Object.assign(new Error('native addon not built: run `npm install` (node-gyp rebuild)'), {
    code: 'LANBOOT_NATIVE_MISSING',
  });
}

let cached: NativeAddon | undefined;

export function loadNative(): NativeAddon {
  if (!cached) {
    const require = createRequire(import.meta.url);
    cached = require(findAddon()) as NativeAddon;
  }
  return cached;
}
