// TFTP wire codec: pure functions, bytes in, values out, no I/O.
//
// RFC 1350 (the protocol), RFC 2347 (option extension, OACK), RFC 2348 (blksize),
// RFC 2349 (timeout, tsize), RFC 7440 (windowsize).
//
// Every packet comes from the network and is treated as hostile: every read is bounds-checked,
// strings must be NUL-terminated inside the packet, option counts and lengths are limited, and
// every failure is a TftpParseError carrying a code (never a crash, never an out-of-range read).

export const Opcode = {
  RRQ: 1,
  WRQ: 2,
  DATA: 3,
  ACK: 4,
  ERROR: 5,
  OACK: 6,
} as const;
export type OpcodeValue = (typeof Opcode)[keyof typeof Opcode];

/** ERROR packet codes: RFC 1350 section 5 (0-7) and RFC 2347 (8). */
export const TftpErrorCode = {
  NOT_DEFINED: 0,
  FILE_NOT_FOUND: 1,
  ACCESS_VIOLATION: 2,
  DISK_FULL: 3,
  ILLEGAL_OPERATION: 4,
  UNKNOWN_TID: 5,
  FILE_EXISTS: 6,
  NO_SUCH_USER: 7,
  OPTION_NEGOTIATION_FAILED: 8,
} as const;

/** RFC 2348: "valid values range between 8 and 65464 octets, inclusive". */
export const BLKSIZE_MIN = 8;
export const BLKSIZE_MAX = 65464;
/** RFC 1350: the block size without the blksize option. */
export const DEFAULT_BLKSIZE = 512;
/** RFC 2349 section "Timeout Interval Option": 1..255 seconds. */
export const TIMEOUT_MIN_SECONDS = 1;
export const TIMEOUT_MAX_SECONDS = 255;
/** RFC 7440 section 3: "valid values range between 1 and 65535 blocks, inclusive". */
export const WINDOWSIZE_MIN = 1;
export const WINDOWSIZE_MAX = 65535;

/**
 * Hostile-input limits. RFC 2347 section "Packet Formats" limits a request carrying options to
 * 512 octets; real clients stay far below. We accept up to 1024 to tolerate sloppy clients, but
 * never more: a request is never a reason to allocate or scan without bound.
 */
export const MAX_REQUEST_BYTES = 1024;
export const MAX_FILENAME_BYTES = 512;
export const MAX_MODE_BYTES = 16;
export const MAX_OPTION_COUNT = 16;
export const MAX_OPTION_NAME_BYTES = 32;
export const MAX_OPTION_VALUE_BYTES = 32;
/** ERROR message limit; the rest of a longer message is an error itself. */
export const MAX_ERROR_MESSAGE_BYTES = 512;
/** DATA can carry at most BLKSIZE_MAX bytes after the 4-byte header. */
export const MAX_DATA_PACKET_BYTES = 4 + BLKSIZE_MAX;

export type TftpParseErrorCode =
  | 'TFTP_TRUNCATED'
  | 'TFTP_TOO_LONG'
  | 'TFTP_BAD_OPCODE'
  | 'TFTP_UNTERMINATED_STRING'
  | 'TFTP_EMPTY_FILENAME'
  | 'TFTP_BAD_MODE'
  | 'TFTP_TOO_MANY_OPTIONS'
  | 'TFTP_OPTION_TOO_LONG'
  | 'TFTP_OPTION_WITHOUT_VALUE'
  | 'TFTP_DUPLICATE_OPTION'
  | 'TFTP_BAD_OPTION_VALUE'
  | 'TFTP_BAD_STRING';

// The codec's one failure. It stays inside src/tftp: the server drops or answers the packet and
// logs the code; nothing outside the part sees it, so it is not a LanbootError.
export class TftpParseError extends Error {
  readonly code: TftpParseErrorCode;
  constructor(code: TftpParseErrorCode, message: string) {
    super(message);
    this.name = 'TftpParseError';
    this.code = code;
  }
}

/** Options in wire order, names lowercased (RFC 2347: option names are case-insensitive). */
export type TftpOptionList = ReadonlyArray<readonly [name: string, value: string]>;

export type TransferMode = 'octet' | 'netascii';

export interface RequestPacket {
  opcode: typeof Opcode.RRQ | typeof Opcode.WRQ;
  filename: string;
  mode: TransferMode;
  options: TftpOptionList;
}
export interface DataPacket {
  opcode: typeof Opcode.DATA;
  block: number;
  data: Uint8Array;
}
export interface AckPacket {
  opcode: typeof Opcode.ACK;
  block: number;
}
export interface ErrorPacket {
  opcode: typeof Opcode.ERROR;
  errorCode: number;
  message: string;
}
export interface OackPacket {
  opcode: typeof Opcode.OACK;
  options: TftpOptionList;
}
export type TftpPacket = RequestPacket | DataPacket | AckPacket | ErrorPacket | OackPacket;

/** Typed, validated view of the options this server understands; unknown ones are dropped. */
export interface RequestedOptions {
  blksize?: number;
  tsize?: number;
  timeoutSeconds?: number;
  windowsize?: number;
}

// ---------------------------------------------------------------------------------------------
// Parsing

/** Reads the 16-bit opcode; throws when the packet is shorter than one. */
export function peekOpcode(packet: Uint8Array): number {
  if (packet.length < 2) throw new TftpParseError('TFTP_TRUNCATED', 'packet shorter than an opcode');
  return (packet[0]! << 8) | packet[1]!;
}

function readUint16(packet: Uint8Array, offset: number): number {
  if (offset + 2 > packet.length) {
    throw new TftpParseError('TFTP_TRUNCATED', `packet ends before the 16-bit field at offset ${offset}`);
  }
  return (packet[offset]! << 8) | packet[offset + 1]!;
}

/**
 * Reads a NUL-terminated string starting at `offset`, looking no further than `maxBytes` and the
 * end of the packet. TFTP strings are netascii (RFC 1350 section 5; RFC 764): we accept printable
 * 7-bit ASCII only, so no control byte or non-ASCII sequence can reach a file name or a log line.
 */
function readCString(
  packet: Uint8Array,
  offset: number,
  maxBytes: number,
  what: string,
  tooLongCode: TftpParseErrorCode,
): { value: string; next: number } {
  const limit = Math.min(packet.length, offset + maxBytes + 1);
  for (let i = offset; i < limit; i++) {
    const byte = packet[i]!;
    if (byte === 0) {
      let value = '';
      for (let j = offset; j < i; j++) value += String.fromCharCode(packet[j]!);
      return { value, next: i + 1 };
    }
    if (byte < 0x20 || byte > 0x7e) {
      throw new TftpParseError('TFTP_BAD_STRING', `${what} holds a non-printable byte 0x${byte.toString(16)}`);
    }
  }
  if (limit === packet.length && packet.length - offset <= maxBytes) {
    throw new TftpParseError('TFTP_UNTERMINATED_STRING', `${what} is not NUL-terminated inside the packet`);
  }
  throw new TftpParseError(tooLongCode, `${what} is longer than ${maxBytes} bytes`);
}

/** RFC 2347 section "Packet Formats": opt1 NUL value1 NUL ... after the mode. */
function readOptionList(packet: Uint8Array, offset: number): TftpOptionList {
  const options: Array<readonly [string, string]> = [];
  const seen = new Set<string>();
  let cursor = offset;
  while (cursor < packet.length) {
    if (options.length >= MAX_OPTION_COUNT) {
      throw new TftpParseError('TFTP_TOO_MANY_OPTIONS', `more than ${MAX_OPTION_COUNT} options`);
    }
    const name = readCString(packet, cursor, MAX_OPTION_NAME_BYTES, 'option name', 'TFTP_OPTION_TOO_LONG');
    if (name.value.length === 0) {
      throw new TftpParseError('TFTP_BAD_STRING', 'empty option name');
    }
    if (name.next >= packet.length) {
      throw new TftpParseError('TFTP_OPTION_WITHOUT_VALUE', `option "${name.value}" has no value`);
    }
    const value = readCString(packet, name.next, MAX_OPTION_VALUE_BYTES, `value of option "${name.value}"`, 'TFTP_OPTION_TOO_LONG');
    const lowered = name.value.toLowerCase();
    // RFC 2347 does not say what a repeated option means; a request that repeats one is
    // either broken or probing, so it is refused rather than guessed at.
    if (seen.has(lowered)) {
      throw new TftpParseError('TFTP_DUPLICATE_OPTION', `option "${lowered}" appears twice`);
    }
    seen.add(lowered);
    options.push([lowered, value.value] as const);
    cursor = value.next;
  }
  return options;
}

function parseRequest(packet: Uint8Array, opcode: typeof Opcode.RRQ | typeof Opcode.WRQ): RequestPacket {
  if (packet.length > MAX_REQUEST_BYTES) {
    throw new TftpParseError('TFTP_TOO_LONG', `request of ${packet.length} bytes exceeds ${MAX_REQUEST_BYTES}`);
  }
  const filename = readCString(packet, 2, MAX_FILENAME_BYTES, 'file name', 'TFTP_TOO_LONG');
  if (filename.value.length === 0) throw new TftpParseError('TFTP_EMPTY_FILENAME', 'empty file name');
  const mode = readCString(packet, filename.next, MAX_MODE_BYTES, 'mode', 'TFTP_BAD_MODE');
  const loweredMode = mode.value.toLowerCase(); // RFC 1350 section 5: mode is case-insensitive
  if (loweredMode !== 'octet' && loweredMode !== 'netascii') {
    // "mail" is obsolete (RFC 1350 section 1); anything else is not TFTP.
    throw new TftpParseError('TFTP_BAD_MODE', `unsupported transfer mode "${mode.value}"`);
  }
  const options = readOptionList(packet, mode.next);
  return { opcode, filename: filename.value, mode: loweredMode, options };
}

/** Parses one TFTP packet. Throws TftpParseError (with a code) on anything malformed. */
export function parsePacket(packet: Uint8Array): TftpPacket {
  const opcode = peekOpcode(packet);
  switch (opcode) {
    case Opcode.RRQ:
    case Opcode.WRQ:
      return parseRequest(packet, opcode);
    case Opcode.DATA: {
      const block = readUint16(packet, 2);
      if (packet.length > MAX_DATA_PACKET_BYTES) {
        throw new TftpParseError('TFTP_TOO_LONG', `DATA of ${packet.length} bytes exceeds ${MAX_DATA_PACKET_BYTES}`);
      }
      return { opcode, block, data: packet.subarray(4) };
    }
    case Opcode.ACK: {
      const block = readUint16(packet, 2);
      // RFC 1350 fixes ACK at 4 bytes; trailing bytes mean a broken or hostile peer.
      if (packet.length !== 4) throw new TftpParseError('TFTP_TOO_LONG', `ACK of ${packet.length} bytes, expected 4`);
      return { opcode, block };
    }
    case Opcode.ERROR: {
      const errorCode = readUint16(packet, 2);
      const message = readCString(packet, 4, MAX_ERROR_MESSAGE_BYTES, 'error message', 'TFTP_TOO_LONG');
      return { opcode, errorCode, message: message.value };
    }
    case Opcode.OACK: {
      if (packet.length > MAX_REQUEST_BYTES) {
        throw new TftpParseError('TFTP_TOO_LONG', `OACK of ${packet.length} bytes exceeds ${MAX_REQUEST_BYTES}`);
      }
      return { opcode, options: readOptionList(packet, 2) };
    }
    default:
      throw new TftpParseError('TFTP_BAD_OPCODE', `unknown opcode ${opcode}`);
  }
}

/** Strict decimal: digits only (no sign, exponent, spaces or hex), at most 20 of them. */
function parseDecimal(name: string, value: string): number {
  if (!/^[0-9]{1,20}$/.test(value)) {
    throw new TftpParseError('TFTP_BAD_OPTION_VALUE', `option "${name}" value "${value}" is not a decimal number`);
  }
  return Number(value);
}

function parseRanged(name: string, value: string, min: number, max: number): number {
  const n = parseDecimal(name, value);
  if (n < min || n > max) {
    throw new TftpParseError('TFTP_BAD_OPTION_VALUE', `option "${name}" value ${value} outside ${min}..${max}`);
  }
  return n;
}

/**
 * Validates the options this server understands (blksize, tsize, timeout, windowsize) and
 * drops the rest, as RFC 2347 asks ("unrecognized options ... are ignored"). An understood
 * option with an invalid value throws TFTP_BAD_OPTION_VALUE: the server answers ERROR 8.
 */
export function parseRequestedOptions(options: TftpOptionList): RequestedOptions {
  const out: RequestedOptions = {};
  for (const [name, value] of options) {
    switch (name) {
      case 'blksize': // RFC 2348
        out.blksize = parseRanged(name, value, BLKSIZE_MIN, BLKSIZE_MAX);
        break;
      case 'tsize': // RFC 2349; in a RRQ the client sends 0, but any size is harmless
        out.tsize = parseRanged(name, value, 0, Number.MAX_SAFE_INTEGER);
        break;
      case 'timeout': // RFC 2349
        out.timeoutSeconds = parseRanged(name, value, TIMEOUT_MIN_SECONDS, TIMEOUT_MAX_SECONDS);
        break;
      case 'windowsize': // RFC 7440
        out.windowsize = parseRanged(name, value, WINDOWSIZE_MIN, WINDOWSIZE_MAX);
        break;
      default:
        break;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Serializing

function assertUint16(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) throw new RangeError(`${what} ${value} is not a 16-bit value`);
}

function cStringBytes(value: string, what: string): Buffer {
  // Only printable ASCII goes on the wire, mirroring what the parser accepts.
  if (!/^[\x20-\x7e]*$/.test(value)) throw new RangeError(`${what} must be printable ASCII`);
  return Buffer.from(value + '\0', 'latin1');
}

function optionBytes(options: TftpOptionList): Buffer[] {
  const parts: Buffer[] = [];
  for (const [name, value] of options) {
    parts.push(cStringBytes(name, 'option name'), cStringBytes(value, 'option value'));
  }
  return parts;
}

export function serializeRequest(
  opcode: typeof Opcode.RRQ | typeof Opcode.WRQ,
  filename: string,
  mode: TransferMode,
  options: TftpOptionList = [],
): Buffer {
  return Buffer.concat([
    Buffer.from([0, opcode]),
    cStringBytes(filename, 'file name'),
    cStringBytes(mode, 'mode'),
    ...optionBytes(options),
  ]);
}

/** DATA header + payload; `block` is the 16-bit wire number. */
export function serializeData(block: number, data: Uint8Array): Buffer {
  assertUint16(block, 'block');
  if (data.length > BLKSIZE_MAX) throw new RangeError(`DATA payload of ${data.length} bytes exceeds ${BLKSIZE_MAX}`);
  const packet = Buffer.allocUnsafe(4 + data.length);
  packet.writeUInt16BE(Opcode.DATA, 0);
  packet.writeUInt16BE(block, 2);
  packet.set(data, 4);
  return packet;
}

/** Writes the 4-byte DATA header in place, for senders that read file data right after it. */
export function writeDataHeader(packet: Buffer, block: number): void {
  assertUint16(block, 'block');
  packet.writeUInt16BE(Opcode.DATA, 0);
  packet.writeUInt16BE(block, 2);
}

export function serializeAck(block: number): Buffer {
  assertUint16(block, 'block');
  const packet = Buffer.allocUnsafe(4);
  packet.writeUInt16BE(Opcode.ACK, 0);
  packet.writeUInt16BE(block, 2);
  return packet;
}

export function serializeError(errorCode: number, message: string): Buffer {
  assertUint16(errorCode, 'error code');
  const safe = message.replace(/[^\x20-\x7e]/g, '?').slice(0, MAX_ERROR_MESSAGE_BYTES);
  return Buffer.concat([Buffer.from([0, Opcode.ERROR, errorCode >> 8, errorCode & 0xff]), cStringBytes(safe, 'message')]);
}

export function serializeOack(options: TftpOptionList): Buffer {
  return Buffer.concat([Buffer.from([0, Opcode.OACK]), ...optionBytes(options)]);
}
