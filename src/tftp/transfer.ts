// State machine for one TFTP read transfer (server side). Pure: no sockets, no timers, no files.
// Each input (start, ACK, ERROR, timeout) returns the actions the owner must perform, in order:
// packets to send, block ranges to read and send, a timer to arm, or the end of the transfer.
//
// RFC 1350 (lock-step DATA/ACK), RFC 2347 (OACK, ACK 0), RFC 2348/2349 (blksize, tsize,
// timeout), RFC 7440 (windowsize), RFC 1123 section 4.2.3.1 (no retransmit on duplicate ACK:
// the Sorcerer's Apprentice bug).
import {
  DEFAULT_BLKSIZE,
  serializeError,
  serializeOack,
  type RequestedOptions,
  type TftpOptionList,
} from './codec.js';

export interface NegotiationLimits {
  /** Largest block size granted (RFC 2348 lets the server answer a smaller one). */
  maxBlockSize: number;
  /** Largest window granted (RFC 7440 section 4: the server may answer a smaller one). */
  maxWindowSize: number;
  /** Retransmit timeout when the client does not ask for one. */
  defaultTimeoutMs: number;
}

export interface NegotiatedTransfer {
  blockSize: number;
  windowSize: number;
  timeoutMs: number;
  /** Options to acknowledge in an OACK, or null when the client asked for none we know. */
  oack: TftpOptionList | null;
}

/**
 * RFC 2347: the server acknowledges the options it accepts, each with the value it will use.
 * Options the client did not ask for are never added (a client that sent none gets plain DATA).
 */
export function negotiateReadOptions(
  requested: RequestedOptions,
  fileSize: number,
  limits: NegotiationLimits,
): NegotiatedTransfer {
  const oack: Array<readonly [string, string]> = [];
  let blockSize = DEFAULT_BLKSIZE;
  let windowSize = 1;
  let timeoutMs = limits.defaultTimeoutMs;
  if (requested.blksize !== undefined) {
    blockSize = Math.min(requested.blksize, limits.maxBlockSize);
    oack.push(['blksize', String(blockSize)]);
  }
  if (requested.tsize !== undefined && fileSize > 0) {
    // RFC 2349: in an OACK to a read request, tsize carries the file's size. For an empty file
    // it is left out (RFC 2347 lets the server drop any option): curl 7.88 rejects "tsize 0"
    // in an OACK as invalid and aborts the transfer.
    oack.push(['tsize', String(fileSize)]);
  }
  if (requested.timeoutSeconds !== undefined) {
    // RFC 2349: the server either uses the requested timeout as-is or omits the option.
    timeoutMs = requested.timeoutSeconds * 1000;
    oack.push(['timeout', String(requested.timeoutSeconds)]);
  }
  if (requested.windowsize !== undefined) {
    windowSize = Math.max(1, Math.min(requested.windowsize, limits.maxWindowSize));
    oack.push(['windowsize', String(windowSize)]);
  }
  return { blockSize, windowSize, timeoutMs, oack: oack.length > 0 ? oack : null };
}

/** One DATA packet to send: the wire block number and the file range it carries. */
export interface BlockToSend {
  /** 16-bit block number on the wire (wraps from 65535 to 0). */
  block: number;
  /** Absolute block index, 1-based, never wraps. */
  index: number;
  offset: number;
  length: number;
}

export type TransferAction =
  | { type: 'send'; packet: Buffer }
  | { type: 'sendBlocks'; blocks: BlockToSend[] }
  | { type: 'armTimer'; ms: number }
  | { type: 'finish'; result: TransferResult };

export type TransferResult =
  | { ok: true; bytes: number }
  | { ok: false; code: TransferFailureCode; message: string; bytes: number };

export type TransferFailureCode = 'TFTP_TIMEOUT' | 'TFTP_CLIENT_ERROR' | 'TFTP_CLIENT_DECLINED' | 'TFTP_ABORTED';

export type TransferState = 'idle' | 'awaitingOackAck' | 'sending' | 'finished';

export interface ReadTransferParams {
  fileSize: number;
  negotiated: NegotiatedTransfer;
  /** Retransmissions of the same window (or OACK) before giving up. */
  maxRetries: number;
}

export class ReadTransfer {
  readonly fileSize: number;
  readonly blockSize: number;
  readonly windowSize: number;
  readonly timeoutMs: number;
  readonly maxRetries: number;
  /** Absolute index of the last block: a short (possibly empty) block ends the file (RFC 1350). */
  readonly lastBlockIndex: number;
  private readonly oack: TftpOptionList | null;
  private stateValue: TransferState = 'idle';
  /** First block of the window in flight (absolute index). */
  private windowStart = 1;
  /** Last block sent in the current window (absolute index); windowStart - 1 before any. */
  private windowEnd = 0;
  private retries = 0;
  /** Highest absolute block index the client has acknowledged. */
  private ackedIndex = 0;

  constructor(params: ReadTransferParams) {
    const { fileSize, negotiated } = params;
    if (!Number.isSafeInteger(fileSize) || fileSize < 0) throw new RangeError(`bad file size ${fileSize}`);
    this.fileSize = fileSize;
    this.blockSize = negotiated.blockSize;
    this.windowSize = negotiated.windowSize;
    this.timeoutMs = negotiated.timeoutMs;
    this.maxRetries = params.maxRetries;
    this.oack = negotiated.oack;
    this.lastBlockIndex = Math.floor(fileSize / this.blockSize) + 1;
  }

  get state(): TransferState {
    return this.stateValue;
  }

  /** Bytes the client has acknowledged so far. */
  get bytesAcknowledged(): number {
    return Math.min(this.fileSize, this.ackedIndex * this.blockSize);
  }

  start(): TransferAction[] {
    if (this.stateValue !== 'idle') return [];
    if (this.oack) {
      // RFC 2347: the OACK is answered by ACK 0 before any DATA flows.
      this.stateValue = 'awaitingOackAck';
      return [{ type: 'send', packet: serializeOack(this.oack) }, { type: 'armTimer', ms: this.timeoutMs }];
    }
    this.stateValue = 'sending';
    return this.sendWindowFrom(1);
  }

  onAck(wireBlock: number): TransferAction[] {
    if (this.stateValue === 'awaitingOackAck') {
      if (wireBlock !== 0) return []; // not an answer to the OACK: ignore, the timer retransmits
      this.stateValue = 'sending';
      this.retries = 0;
      return this.sendWindowFrom(1);
    }
    if (this.stateValue !== 'sending') return [];
    const acked = this.resolveAck(wireBlock);
    if (acked === null) {
      // A duplicate or stale ACK (for a block before this window) or one we never sent.
      // RFC 1123 4.2.3.1: never retransmit on it, or every DATA gets sent twice from then on.
      return [];
    }
    this.ackedIndex = acked;
    this.retries = 0;
    if (acked === this.lastBlockIndex) {
      this.stateValue = 'finished';
      return [{ type: 'finish', result: { ok: true, bytes: this.fileSize } }];
    }
    // RFC 7440 section 4: a full-window ACK moves on; an ACK inside the window (the client
    // lost a block) makes the sender start the next window right after the acknowledged block.
    return this.sendWindowFrom(acked + 1);
  }

  onError(errorCode: number, message: string): TransferAction[] {
    if (this.stateValue === 'finished') return [];
    // An ERROR in answer to the OACK is how a client declines the options (RFC 2347) and how
    // UEFI firmware ends its "tsize" probe before the real download: not a failed transfer.
    const declined = this.stateValue === 'awaitingOackAck';
    this.stateValue = 'finished';
    return [
      {
        type: 'finish',
        result: {
          ok: false,
          code: declined ? 'TFTP_CLIENT_DECLINED' : 'TFTP_CLIENT_ERROR',
          message: `client sent ERROR ${errorCode}: ${message}`,
          bytes: this.bytesAcknowledged,
        },
      },
    ];
  }

  onTimeout(): TransferAction[] {
    if (this.stateValue === 'idle' || this.stateValue === 'finished') return [];
    if (this.retries >= this.maxRetries) {
      this.stateValue = 'finished';
      return [
        {
          type: 'finish',
          result: {
            ok: false,
            code: 'TFTP_TIMEOUT',
            message: `no ACK after ${this.maxRetries} retransmissions`,
            bytes: this.bytesAcknowledged,
          },
        },
      ];
    }
    this.retries++;
    if (this.stateValue === 'awaitingOackAck' && this.oack) {
      return [{ type: 'send', packet: serializeOack(this.oack) }, { type: 'armTimer', ms: this.timeoutMs }];
    }
    // Retransmit the whole unacknowledged window (RFC 7440 section 4).
    return this.sendWindowFrom(this.windowStart);
  }

  /** Ends the transfer from the owner's side (server stopping, file read failure). */
  abort(errorCode: number, message: string): TransferAction[] {
    if (this.stateValue === 'finished') return [];
    this.stateValue = 'finished';
    return [
      { type: 'send', packet: serializeError(errorCode, message) },
      { type: 'finish', result: { ok: false, code: 'TFTP_ABORTED', message, bytes: this.bytesAcknowledged } },
    ];
  }

  /**
   * Maps a 16-bit ACK number onto the window in flight. Block numbers wrap at 65536, and a window
   * is at most 65535 blocks, so inside [windowStart, windowEnd] each wire number is unique.
   */
  private resolveAck(wireBlock: number): number | null {
    const distance = (wireBlock - (this.windowStart & 0xffff) + 0x10000) & 0xffff;
    const candidate = this.windowStart + distance;
    return candidate <= this.windowEnd ? candidate : null;
  }

  private sendWindowFrom(firstIndex: number): TransferAction[] {
    const lastIndex = Math.min(firstIndex + this.windowSize - 1, this.lastBlockIndex);
    this.windowStart = firstIndex;
    this.windowEnd = lastIndex;
    const blocks: BlockToSend[] = [];
    for (let index = firstIndex; index <= lastIndex; index++) {
      const offset = (index - 1) * this.blockSize;
      blocks.push({
        block: index & 0xffff, // wraps to 0 after 65535, as tftp-hpa, dnsmasq and iPXE expect
        index,
        offset,
        length: Math.max(0, Math.min(this.blockSize, this.fileSize - offset)),
      });
    }
    return [{ type: 'sendBlocks', blocks }, { type: 'armTimer', ms: this.timeoutMs }];
  }
}
