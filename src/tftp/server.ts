// The TFTP server: owns the sockets, the files and the timers. Read-only.
//
// Requests arrive on the well-known port (69 on the appliance). Each accepted read gets its own
// ephemeral socket, whose port is the server's transfer ID (RFC 1350 section 4), so many clients
// transfer at once and a stray packet from another host/port is answered with ERROR 5.
// Protocol decisions live in codec.ts (bytes) and transfer.ts (state machine); this file only
// moves bytes between them, the file system and the network.
import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import fs from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';
import net from 'node:net';
import { pino, type Logger } from 'pino';
import {
  Opcode,
  TftpErrorCode,
  TftpParseError,
  parsePacket,
  parseRequestedOptions,
  peekOpcode,
  serializeError,
  writeDataHeader,
  type RequestPacket,
} from './codec.js';
import { LanbootError } from '../log/errors.js';
import { PathRefusedError, normalizeRequestPath, resolveInsideRoot } from './paths.js';
import { ReadTransfer, negotiateReadOptions, type BlockToSend, type TransferAction, type TransferResult } from './transfer.js';

export interface TftpClientAddress {
  address: string;
  port: number;
}

export interface VirtualFileRequest {
  /** Normalized name relative to the root, '/'-separated, without a leading '/'. */
  filename: string;
  client: TftpClientAddress;
}

/**
 * Generated content (a per-client script, a menu): return the bytes to serve, or undefined to
 * fall through to the root directory. Called before the disk is looked at. It must answer within
 * 5 s; one that throws or hangs costs that client an ERROR 0, nothing else.
 */
export type VirtualFileProvider = (request: VirtualFileRequest) => Uint8Array | undefined | Promise<Uint8Array | undefined>;

export interface TftpServerOptions {
  /** Directory whose files are served; nothing outside it ever is. */
  root: string;
  /** Address to listen on. Default 0.0.0.0. */
  host?: string;
  /** Port for requests. Default 69 (RFC 1350); tests pass 0 for an ephemeral one. */
  port?: number;
  /**
   * Largest blksize granted. Default 1468 = 1500-byte Ethernet MTU - 20 (IPv4) - 8 (UDP) - 4
   * (TFTP header): larger blocks would be IP-fragmented on a LAN, which PXE ROMs handle badly.
   */
  maxBlockSize?: number;
  /** Largest windowsize granted (RFC 7440). Default 64. */
  maxWindowSize?: number;
  /** Retransmit timeout when the client does not negotiate one. Default 1000 ms. */
  defaultTimeoutMs?: number;
  /** Retransmissions of one window before a transfer is given up. Default 5. */
  maxRetries?: number;
  /** Transfers at once; more requests are refused with ERROR 0. Default 256. */
  maxTransfers?: number;
  /**
   * Transfers at once from one client address. A PXE client fetches one file at a time; the
   * limit keeps one host (or one spoofing source) from taking every slot. Default 8.
   */
  maxTransfersPerClient?: number;
  /**
   * Read-ahead per transfer: the bound on one file read and on the file bytes a transfer holds
   * in memory (plus packets still queued in its socket). Default 256 KiB.
   */
  readBufferBytes?: number;
  virtualFiles?: VirtualFileProvider;
  logger?: Logger;
}

export type TransferOutcome = 'ok' | 'error' | 'refused';

/** Emitted as 'transfer' at the end of every request, for the boot timeline. */
export interface TftpTransferEvent {
  client: TftpClientAddress;
  /** File name as the client sent it. */
  file: string;
  result: TransferOutcome;
  /** Bytes the client acknowledged. */
  bytes: number;
  /** Size of the file, or -1 when the request was refused before one was known. */
  fileSize: number;
  durationMs: number;
  blockSize: number;
  windowSize: number;
  virtual: boolean;
  errorCode?: string;
  message?: string;
}

/**
 * Where a transfer's bytes come from. `view()` answers synchronously from what is already in
 * memory (null when the range is not), `fill()` loads the range that starts at `offset`.
 * Keeping the common case synchronous matters: a lock-step transfer handles one ACK per block,
 * and a thread-pool read per block would cost more than everything else together.
 */
interface BlockSource {
  readonly size: number;
  view(offset: number, length: number): Buffer | null;
  fill(offset: number, minLength: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * A file read through a bounded read-ahead buffer: each fill reads `chunkBytes` (at least the
 * range asked for, never more than the bound) into a fresh buffer. A fresh one, because DATA
 * packets still queued in the socket reference the previous buffer.
 */
class FileBlockSource implements BlockSource {
  private chunk: Buffer = Buffer.alloc(0);
  private chunkOffset = 0;
  constructor(
    private readonly handle: fs.FileHandle,
    readonly size: number,
    private readonly chunkBytes: number,
  ) {}
  view(offset: number, length: number): Buffer | null {
    const start = offset - this.chunkOffset;
    if (start < 0 || start + length > this.chunk.length) return null;
    return this.chunk.subarray(start, start + length);
  }
  /** Loads at least `minLength` bytes at `offset` (one block), and up to the bound. */
  async fill(offset: number, minLength: number): Promise<void> {
    const wanted = Math.min(Math.max(minLength, this.chunkBytes), this.size - offset);
    const chunk = Buffer.allocUnsafe(Math.max(0, wanted));
    let done = 0;
    while (done < wanted) {
      const { bytesRead } = await this.handle.read(chunk, done, wanted - done, offset + done);
      if (bytesRead === 0) throw new LanbootError('LANBOOT_IO_FAILED', 'file shrank while being served');
      done += bytesRead;
    }
    this.chunk = chunk;
    this.chunkOffset = offset;
  }
  close(): Promise<void> {
    return this.handle.close();
  }
}

class MemoryBlockSource implements BlockSource {
  private readonly bytes: Buffer;
  constructor(bytes: Uint8Array) {
    this.bytes = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  get size(): number {
    return this.bytes.length;
  }
  view(offset: number, length: number): Buffer | null {
    return this.bytes.subarray(offset, offset + length);
  }
  async fill(): Promise<void> {}
  async close(): Promise<void> {}
}

// A refused request: the server answers it with a TFTP ERROR packet (RFC 1350 5) and logs its
// code. It never leaves this file, so it is not a LanbootError.
class RequestRefused extends Error {
  constructor(
    readonly tftpErrorCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface ActiveTransfer {
  key: string;
  client: TftpClientAddress;
  file: string;
  startedAt: number;
  socket: dgram.Socket | null;
  source: BlockSource | null;
  machine: ReadTransfer | null;
  timer: NodeJS.Timeout | null;
  timerMs: number;
  /** Actions decided but not yet performed, in order. */
  pending: TransferAction[];
  /** Blocks of the `sendBlocks` at the head of `pending` already sent. */
  pendingBlocksSent: number;
  /** True while a drain is in progress (possibly waiting for a file read). */
  draining: boolean;
  /** Sends handed to the socket and not yet completed; closing earlier would cancel them. */
  inflightSends: number;
  onSent: (error: Error | null) => void;
  onSendsDrained: (() => void) | null;
  virtual: boolean;
  finished: boolean;
  done: Promise<void>;
  resolveDone: () => void;
}

/** Emitted as 'request' when a read request is accepted, before any data flows. */
export interface TftpRequestEvent {
  client: TftpClientAddress;
  file: string;
  /** Options as the client sent them (names lowercased). */
  options: Record<string, string>;
}

export interface TftpServerEvents {
  request: [TftpRequestEvent];
  transfer: [TftpTransferEvent];
}

export class TftpServer extends EventEmitter<TftpServerEvents> {
  private readonly root: string;
  private readonly host: string;
  private readonly port: number;
  private readonly maxBlockSize: number;
  private readonly maxWindowSize: number;
  private readonly defaultTimeoutMs: number;
  private readonly maxRetries: number;
  private readonly maxTransfers: number;
  private readonly maxTransfersPerClient: number;
  private readonly transfersPerAddress = new Map<string, number>();
  private readonly readBufferBytes: number;
  private readonly virtualFiles: VirtualFileProvider | undefined;
  private readonly log: Logger;
  private realRoot = '';
  private warningsWindowStart = 0;
  private warningsInWindow = 0;
  private warningsSuppressed = 0;
  private socket: dgram.Socket | null = null;
  private readonly transfers = new Map<string, ActiveTransfer>();
  private stopping = false;

  constructor(options: TftpServerOptions) {
    super();
    this.root = options.root;
    this.host = options.host ?? '0.0.0.0';
    this.port = options.port ?? 69;
    this.maxBlockSize = clampInt(options.maxBlockSize ?? 1468, 8, 65464, 'maxBlockSize');
    this.maxWindowSize = clampInt(options.maxWindowSize ?? 64, 1, 65535, 'maxWindowSize');
    this.defaultTimeoutMs = clampInt(options.defaultTimeoutMs ?? 1000, 1, 255_000, 'defaultTimeoutMs');
    this.maxRetries = clampInt(options.maxRetries ?? 5, 0, 1000, 'maxRetries');
    this.maxTransfers = clampInt(options.maxTransfers ?? 256, 1, 65535, 'maxTransfers');
    this.maxTransfersPerClient = clampInt(options.maxTransfersPerClient ?? 8, 1, 65535, 'maxTransfersPerClient');
    this.readBufferBytes = clampInt(options.readBufferBytes ?? 256 << 10, 4096, 64 << 20, 'readBufferBytes');
    this.virtualFiles = options.virtualFiles;
    this.log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'tftp' });
  }

  async start(): Promise<void> {
    if (this.socket) throw new LanbootError('LANBOOT_INTERNAL', 'TFTP server already started');
    try {
      this.realRoot = await fs.realpath(this.root);
      const stat = await fs.stat(this.realRoot);
      if (!stat.isDirectory()) throw new Error('not a directory');
    } catch (error) {
      throw new LanbootError('LANBOOT_CONFIG_INVALID', `TFTP root ${this.root} is not a readable directory: ${(error as Error).message}`, undefined, { cause: error });
    }
    this.stopping = false;
    const socket = dgram.createSocket(net.isIPv6(this.host) ? 'udp6' : 'udp4');
    try {
      await bindSocket(socket, this.host, this.port);
    } catch (error) {
      socket.close();
      throw error;
    }
    socket.on('error', (error) => this.log.error({ err: error, code: 'TFTP_SOCKET_ERROR' }, 'TFTP request socket error'));
    socket.on('message', (message, rinfo) => this.onRequest(message, { address: rinfo.address, port: rinfo.port }));
    this.socket = socket;
    this.log.info({ address: this.address(), root: this.realRoot }, 'TFTP server listening');
  }

  address(): { address: string; port: number; family: string } {
    if (!this.socket) throw new LanbootError('LANBOOT_INTERNAL', 'TFTP server not started');
    return this.socket.address();
  }

  /** Stops listening, ends every transfer (ERROR 0 to its client) and closes every socket. */
  async stop(): Promise<void> {
    this.stopping = true;
    const socket = this.socket;
    this.socket = null;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
    const pending = [...this.transfers.values()];
    for (const transfer of pending) {
      if (transfer.machine) this.enqueue(transfer, transfer.machine.abort(TftpErrorCode.NOT_DEFINED, 'server shutting down'));
    }
    await Promise.all(pending.map((transfer) => transfer.done));
  }

  get activeTransfers(): number {
    return this.transfers.size;
  }

  // -------------------------------------------------------------------------------------------
  // Requests on the well-known port

  private onRequest(message: Buffer, client: TftpClientAddress): void {
    if (this.stopping) return;
    let request: RequestPacket;
    try {
      const packet = parsePacket(message);
      if (packet.opcode !== Opcode.RRQ && packet.opcode !== Opcode.WRQ) {
        // DATA/ACK/ERROR/OACK belong on a transfer port; on this one they are noise. No answer,
        // so a spoofed source cannot make us send anything.
        this.log.debug({ client, opcode: packet.opcode }, 'ignored non-request packet on the request port');
        return;
      }
      request = packet;
    } catch (error) {
      if (!(error instanceof TftpParseError)) throw error;
      let opcode = -1;
      try {
        opcode = peekOpcode(message);
      } catch {
        // shorter than an opcode: no answer
      }
      this.logLimited('warn', { client, code: error.code, bytes: message.length }, `malformed TFTP packet: ${error.message}`);
      // Answer only what was meant as a request (RFC 1350 section 5: ERROR 4 illegal operation);
      // garbage with any other opcode gets silence.
      if (opcode === Opcode.RRQ || opcode === Opcode.WRQ) {
        this.sendFromRequestSocket(client, TftpErrorCode.ILLEGAL_OPERATION, error.message);
      }
      return;
    }

    const key = `${client.address}|${client.port}|${request.filename}`;
    if (this.transfers.has(key)) {
      // The client repeated its request before our first answer reached it: the transfer
      // already under way answers it (a second one would fight it for the client's TID).
      return;
    }
    const startedAt = performance.now();
    const refuse = (tftpErrorCode: number, code: string, text: string): void => {
      this.logLimited('info', { client, file: request.filename, code }, `TFTP request refused: ${text}`);
      this.sendFromRequestSocket(client, tftpErrorCode, text);
      this.emitSafely('transfer', {
        client,
        file: request.filename,
        result: 'refused',
        bytes: 0,
        fileSize: -1,
        durationMs: performance.now() - startedAt,
        blockSize: 0,
        windowSize: 0,
        virtual: false,
        errorCode: code,
        message: text,
      });
    };
    if (request.opcode === Opcode.WRQ) {
      refuse(TftpErrorCode.ACCESS_VIOLATION, 'TFTP_READ_ONLY', 'this server is read-only');
      return;
    }
    if (request.mode !== 'octet') {
      // Boot files are binary; netascii would rewrite line ends (RFC 1350 section 5) and make
      // tsize a lie. Refusing is clearer than silently serving octets to a netascii client.
      refuse(TftpErrorCode.ILLEGAL_OPERATION, 'TFTP_MODE_UNSUPPORTED', 'only octet (binary) mode is served');
      return;
    }
    if (this.transfers.size >= this.maxTransfers) {
      refuse(TftpErrorCode.NOT_DEFINED, 'TFTP_BUSY', 'server busy, try again');
      return;
    }
    if ((this.transfersPerAddress.get(client.address) ?? 0) >= this.maxTransfersPerClient) {
      refuse(TftpErrorCode.NOT_DEFINED, 'TFTP_CLIENT_BUSY', 'too many transfers from this address');
      return;
    }
    let requested;
    try {
      requested = parseRequestedOptions(request.options);
    } catch (error) {
      if (!(error instanceof TftpParseError)) throw error;
      // RFC 2347: a request whose options the server refuses is answered with ERROR 8.
      refuse(TftpErrorCode.OPTION_NEGOTIATION_FAILED, error.code, error.message);
      return;
    }

    let resolveDone!: () => void;
    const done = new Promise<void>((resolve) => (resolveDone = resolve));
    const transfer: ActiveTransfer = {
      key,
      client,
      file: request.filename,
      startedAt,
      socket: null,
      source: null,
      machine: null,
      timer: null,
      timerMs: 0,
      pending: [],
      pendingBlocksSent: 0,
      draining: false,
      inflightSends: 0,
      onSent: (error) => {
        if (error) this.log.debug({ client, err: error }, 'TFTP send failed');
        transfer.inflightSends--;
        if (transfer.inflightSends === 0 && transfer.onSendsDrained) transfer.onSendsDrained();
      },
      onSendsDrained: null,
      virtual: false,
      finished: false,
      done,
      resolveDone,
    };
    this.transfers.set(key, transfer);
    this.transfersPerAddress.set(client.address, (this.transfersPerAddress.get(client.address) ?? 0) + 1);
    this.emitSafely('request', { client, file: request.filename, options: Object.fromEntries(request.options) });
    void this.beginTransfer(transfer, request, requested).catch((error: unknown) => {
      const refused = error instanceof RequestRefused ? error : null;
      if (refused) refuse(refused.tftpErrorCode, refused.code, refused.message);
      else {
        this.log.error({ client, file: request.filename, err: error, code: 'TFTP_INTERNAL' }, 'TFTP transfer failed to start');
        refuse(TftpErrorCode.NOT_DEFINED, 'TFTP_INTERNAL', 'internal server error');
      }
      void this.releaseResources(transfer).finally(() => {
        this.forget(transfer);
        transfer.finished = true;
        transfer.resolveDone();
      });
    });
  }

  /**
   * Log lines caused by what peers send (malformed packets, refused requests) are rate-limited:
   * a flood of garbage must not turn into a flood of log lines. At most WARNINGS_PER_WINDOW per
   * window; the rest are counted and reported once the next window opens. The 'transfer'
   * events are not limited: they are how the supervisor sees every refusal.
   */
  private logLimited(level: 'info' | 'warn', context: Record<string, unknown>, text: string): void {
    const now = performance.now();
    if (now - this.warningsWindowStart >= WARNING_WINDOW_MS) {
      if (this.warningsSuppressed > 0) {
        this.log.warn({ code: 'TFTP_WARNINGS_SUPPRESSED', suppressed: this.warningsSuppressed }, 'TFTP warnings suppressed (rate limit)');
      }
      this.warningsWindowStart = now;
      this.warningsInWindow = 0;
      this.warningsSuppressed = 0;
    }
    if (this.warningsInWindow >= WARNINGS_PER_WINDOW) {
      this.warningsSuppressed++;
      return;
    }
    this.warningsInWindow++;
    this.log[level](context, text);
  }

  /** A listener that throws must not take the server (or a transfer's cleanup) down with it. */
  private emitSafely<K extends keyof TftpServerEvents>(name: K, ...payload: TftpServerEvents[K]): void {
    try {
      (this.emit as (event: K, ...args: TftpServerEvents[K]) => boolean)(name, ...payload);
    } catch (error) {
      this.log.error({ err: error, code: 'TFTP_LISTENER_FAILED', event: name }, 'a TFTP event listener threw');
    }
  }

  /** The provider gets VIRTUAL_FILE_TIMEOUT_MS: a hung one must not hold a transfer slot forever. */
  private async askVirtualFiles(provider: VirtualFileProvider, request: VirtualFileRequest): Promise<Uint8Array | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () => reject(new LanbootError('LANBOOT_IO_FAILED', 'virtual file provider did not answer in time')),
        VIRTUAL_FILE_TIMEOUT_MS,
      );
    });
    try {
      return await Promise.race([Promise.resolve().then(() => provider(request)), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private sendFromRequestSocket(client: TftpClientAddress, tftpErrorCode: number, text: string): void {
    this.socket?.send(serializeError(tftpErrorCode, text), client.port, client.address);
  }

  private async openSource(request: RequestPacket, client: TftpClientAddress): Promise<{ source: BlockSource; virtual: boolean }> {
    let segments: string[];
    try {
      segments = normalizeRequestPath(request.filename);
    } catch (error) {
      if (error instanceof PathRefusedError) throw new RequestRefused(TftpErrorCode.ACCESS_VIOLATION, error.code, error.message);
      throw error;
    }
    if (this.virtualFiles) {
      const bytes = await this.askVirtualFiles(this.virtualFiles, { filename: segments.join('/'), client });
      if (bytes !== undefined) return { source: new MemoryBlockSource(bytes), virtual: true };
    }
    let real: string;
    try {
      real = await resolveInsideRoot(this.realRoot, segments);
    } catch (error) {
      if (error instanceof PathRefusedError) {
        const tftpCode = error.code === 'TFTP_PATH_NOT_FOUND' ? TftpErrorCode.FILE_NOT_FOUND : TftpErrorCode.ACCESS_VIOLATION;
        throw new RequestRefused(tftpCode, error.code, error.message);
      }
      throw error;
    }
    // realpath() resolved every link; O_NOFOLLOW makes a link swapped in since then fail
    // instead of being followed out of the root. O_NONBLOCK keeps a FIFO in the root from
    // blocking the open (it is then refused as not a regular file).
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(real, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
    } catch (error) {
      const errno = (error as NodeJS.ErrnoException).code;
      if (errno === 'ENOENT') throw new RequestRefused(TftpErrorCode.FILE_NOT_FOUND, 'TFTP_PATH_NOT_FOUND', 'file not found');
      throw new RequestRefused(TftpErrorCode.ACCESS_VIOLATION, 'TFTP_OPEN_FAILED', 'file cannot be opened');
    }
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) throw new RequestRefused(TftpErrorCode.ACCESS_VIOLATION, 'TFTP_PATH_NOT_A_FILE', 'not a regular file');
      return { source: new FileBlockSource(handle, stat.size, this.readBufferBytes), virtual: false };
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  private async beginTransfer(
    transfer: ActiveTransfer,
    request: RequestPacket,
    requested: ReturnType<typeof parseRequestedOptions>,
  ): Promise<void> {
    const { source, virtual } = await this.openSource(request, transfer.client);
    transfer.source = source;
    transfer.virtual = virtual;
    if (this.stopping) throw new RequestRefused(TftpErrorCode.NOT_DEFINED, 'TFTP_STOPPING', 'server shutting down');
    const negotiated = negotiateReadOptions(requested, source.size, {
      maxBlockSize: this.maxBlockSize,
      maxWindowSize: this.maxWindowSize,
      defaultTimeoutMs: this.defaultTimeoutMs,
    });
    // RFC 1350 section 4: a fresh TID (port) for this transfer.
    const socket = dgram.createSocket(net.isIPv6(this.host) ? 'udp6' : 'udp4');
    transfer.socket = socket; // closed by releaseResources() whatever happens next
    await bindSocket(socket, this.host, 0);
    const machine = new ReadTransfer({ fileSize: source.size, negotiated, maxRetries: this.maxRetries });
    transfer.machine = machine;
    socket.on('error', (error) => {
      this.log.warn({ client: transfer.client, file: transfer.file, err: error, code: 'TFTP_SOCKET_ERROR' }, 'transfer socket error');
      this.enqueue(transfer, machine.abort(TftpErrorCode.NOT_DEFINED, 'socket error'));
    });
    socket.on('message', (message, rinfo) => this.onTransferPacket(transfer, machine, message, rinfo));
    this.log.debug(
      { client: transfer.client, file: transfer.file, size: source.size, blockSize: machine.blockSize, windowSize: machine.windowSize },
      'TFTP transfer starting',
    );
    // stop() may have run while this transfer was being set up, before it had a machine to abort.
    if (this.stopping) this.enqueue(transfer, machine.abort(TftpErrorCode.NOT_DEFINED, 'server shutting down'));
    else this.enqueue(transfer, machine.start());
  }

  // -------------------------------------------------------------------------------------------
  // Packets on a transfer port

  private onTransferPacket(transfer: ActiveTransfer, machine: ReadTransfer, message: Buffer, rinfo: dgram.RemoteInfo): void {
    if (transfer.finished) return;
    if (rinfo.address !== transfer.client.address || rinfo.port !== transfer.client.port) {
      // RFC 1350 section 4: a packet from a wrong TID gets ERROR 5 and does not disturb the
      // transfer.
      transfer.socket?.send(serializeError(TftpErrorCode.UNKNOWN_TID, 'unknown transfer ID'), rinfo.port, rinfo.address);
      return;
    }
    let packet;
    try {
      packet = parsePacket(message);
    } catch (error) {
      if (!(error instanceof TftpParseError)) throw error;
      this.logLimited('warn', { client: transfer.client, file: transfer.file, code: error.code }, `malformed packet in transfer: ${error.message}`);
      return;
    }
    if (packet.opcode === Opcode.ACK) this.enqueue(transfer, machine.onAck(packet.block));
    else if (packet.opcode === Opcode.ERROR) this.enqueue(transfer, machine.onError(packet.errorCode, packet.message));
    // Anything else from the client (DATA, a repeated RRQ) means nothing in a read transfer.
  }

  /** Queues actions; they run strictly in order per transfer (DATA must leave in order). */
  private enqueue(transfer: ActiveTransfer, actions: TransferAction[]): void {
    if (actions.length === 0 || transfer.finished) return;
    for (const action of actions) transfer.pending.push(action);
    if (!transfer.draining) this.drain(transfer);
  }

  /**
   * Performs queued actions synchronously while the data they need is in memory; on a read-ahead
   * miss it waits for the read and resumes, with any actions queued meanwhile kept in order.
   */
  private drain(transfer: ActiveTransfer): void {
    transfer.draining = true;
    while (transfer.pending.length > 0) {
      if (transfer.finished) {
        transfer.pending.length = 0;
        break;
      }
      const action = transfer.pending[0]!;
      if (action.type === 'sendBlocks') {
        const missAt = this.sendCachedBlocks(transfer, action.blocks);
        if (missAt !== null) {
          const source = transfer.source;
          const first = action.blocks[missAt]!;
          if (!source) break;
          source.fill(first.offset, first.length).then(
            () => this.drain(transfer),
            (error: unknown) => {
              if (transfer.finished) return; // the handle was closed under the read: expected
              this.log.error({ client: transfer.client, file: transfer.file, err: error, code: 'TFTP_READ_FAILED' }, 'file read failed');
              transfer.pending.length = 0;
              transfer.draining = false;
              if (transfer.machine) this.enqueue(transfer, transfer.machine.abort(TftpErrorCode.NOT_DEFINED, 'read error'));
            },
          );
          return; // still draining: the read's completion resumes
        }
        transfer.pendingBlocksSent = 0;
      } else if (action.type === 'send') {
        this.sendPacket(transfer, action.packet);
      } else if (action.type === 'armTimer') {
        this.armTimer(transfer, action.ms);
      } else {
        void this.finish(transfer, action.result);
      }
      transfer.pending.shift();
    }
    transfer.draining = false;
  }

  /** Sends the blocks it has data for; returns the index of the first it has none for, or null. */
  private sendCachedBlocks(transfer: ActiveTransfer, blocks: readonly BlockToSend[]): number | null {
    const source = transfer.source;
    if (!source) return null;
    for (let i = transfer.pendingBlocksSent; i < blocks.length; i++) {
      const block = blocks[i]!;
      const data = source.view(block.offset, block.length);
      if (!data) {
        transfer.pendingBlocksSent = i;
        return i;
      }
      const packet = Buffer.allocUnsafe(4 + data.length);
      writeDataHeader(packet, block.block);
      data.copy(packet, 4);
      this.sendPacket(transfer, packet);
    }
    return null;
  }

  private sendPacket(transfer: ActiveTransfer, packet: Buffer): void {
    // Not awaited: a UDP socket sends in the order it was asked to, and a lost send is a lost
    // packet that the retransmit timer covers. Counted, so the socket closes only when empty.
    if (!transfer.socket) return;
    transfer.inflightSends++;
    transfer.socket.send(packet, transfer.client.port, transfer.client.address, transfer.onSent);
  }

  private armTimer(transfer: ActiveTransfer, ms: number): void {
    if (transfer.timer && transfer.timerMs === ms) {
      transfer.timer.refresh(); // cheaper than a new timer for every block
      return;
    }
    if (transfer.timer) clearTimeout(transfer.timer);
    transfer.timerMs = ms;
    transfer.timer = setTimeout(() => {
      if (transfer.machine) this.enqueue(transfer, transfer.machine.onTimeout());
    }, ms);
  }

  private async finish(transfer: ActiveTransfer, result: TransferResult): Promise<void> {
    if (transfer.finished) return;
    transfer.finished = true;
    await this.releaseResources(transfer);
    this.forget(transfer);
    const machine = transfer.machine;
    const event: TftpTransferEvent = {
      client: transfer.client,
      file: transfer.file,
      result: result.ok ? 'ok' : 'error',
      bytes: result.bytes,
      fileSize: machine?.fileSize ?? -1,
      durationMs: performance.now() - transfer.startedAt,
      blockSize: machine?.blockSize ?? 0,
      windowSize: machine?.windowSize ?? 0,
      virtual: transfer.virtual,
    };
    if (!result.ok) {
      event.errorCode = result.code;
      event.message = result.message;
    }
    this.log.info(event, result.ok ? 'TFTP transfer done' : 'TFTP transfer failed');
    transfer.resolveDone();
    this.emitSafely('transfer', event);
  }

  private forget(transfer: ActiveTransfer): void {
    if (!this.transfers.delete(transfer.key)) return;
    const count = (this.transfersPerAddress.get(transfer.client.address) ?? 1) - 1;
    if (count > 0) this.transfersPerAddress.set(transfer.client.address, count);
    else this.transfersPerAddress.delete(transfer.client.address);
  }

  private async releaseResources(transfer: ActiveTransfer): Promise<void> {
    if (transfer.timer) clearTimeout(transfer.timer);
    transfer.timer = null;
    const socket = transfer.socket;
    transfer.socket = null;
    if (socket) {
      // Let the last packets (the final DATA retransmission, an ERROR) leave first.
      if (transfer.inflightSends > 0) await new Promise<void>((resolve) => (transfer.onSendsDrained = resolve));
      await new Promise<void>((resolve) => socket.close(() => resolve()));
    }
    const source = transfer.source;
    transfer.source = null;
    if (source) await source.close().catch(() => undefined);
  }
}

const WARNING_WINDOW_MS = 10_000;
const VIRTUAL_FILE_TIMEOUT_MS = 5_000;
const WARNINGS_PER_WINDOW = 20;

function bindSocket(socket: dgram.Socket, host: string, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address: host, port, exclusive: true }, () => {
      socket.off('error', reject);
      resolve();
    });
  });
}

function clampInt(value: number, min: number, max: number, name: string): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new LanbootError('LANBOOT_CONFIG_INVALID', `${name} must be an integer in ${min}..${max}, got ${value}`);
  }
  return value;
}
