// A small iSCSI initiator for tests (RFC 7143): PDU codec, login state machine (with CHAP),
// SCSI command helper with R2T / ImmediateData / unsolicited Data-Out, NOP, Logout, and raw
// byte injection for malformed-input tests.
//
// Layers (codec and state machines apart from the socket code, so each is testable alone):
//   - codec:    encodePdu / PduStreamDecoder / field accessors / text keys / sense  (pure)
//   - login:    LoginNegotiation (state machine: request in, next request or result out; pure)
//   - session:  IscsiSession (owns the socket, routes PDUs by ITT)
//
// Digests are always None (the engine and iPXE use none); ErrorRecoveryLevel is 0.
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';

// ---------------------------------------------------------------------------------------
// Codec
// ---------------------------------------------------------------------------------------

/** RFC 7143 11.1.1 opcodes. */
export const Opcode = {
  NopOut: 0x00,
  ScsiCommand: 0x01,
  TaskManagementRequest: 0x02,
  LoginRequest: 0x03,
  TextRequest: 0x04,
  DataOut: 0x05,
  LogoutRequest: 0x06,
  SnackRequest: 0x10,
  NopIn: 0x20,
  ScsiResponse: 0x21,
  TaskManagementResponse: 0x22,
  LoginResponse: 0x23,
  TextResponse: 0x24,
  DataIn: 0x25,
  LogoutResponse: 0x26,
  ReadyToTransfer: 0x31,
  AsyncMessage: 0x32,
  Reject: 0x3f,
} as const;

/** RFC 7143 11.17.1 Reject reasons. */
export const RejectReason = {
  DataDigestError: 0x02,
  SnackReject: 0x03,
  ProtocolError: 0x04,
  CommandNotSupported: 0x05,
  ImmediateCommandReject: 0x06,
  TaskInProgress: 0x07,
  InvalidDataAck: 0x08,
  InvalidPduField: 0x09,
  LongOperationReject: 0x0a,
  DeprecatedNegotiationReset: 0x0b,
  WaitingForLogout: 0x0c,
} as const;

/** RFC 7143 11.13.5 Login status classes. */
export const LoginStatusClass = { Success: 0, Redirection: 1, InitiatorError: 2, TargetError: 3 } as const;

/** SPC-4 sense keys used by the tests. */
export const SenseKey = {
  NoSense: 0x0,
  NotReady: 0x2,
  MediumError: 0x3,
  HardwareError: 0x4,
  IllegalRequest: 0x5,
  UnitAttention: 0x6,
  DataProtect: 0x7,
  AbortedCommand: 0xb,
} as const;

export const BHS_LENGTH = 48;
export const RESERVED_TAG = 0xffffffff;

/** Every codec failure carries one of these codes. */
export type WireErrorCode =
  | 'ISCSI_WIRE_SHORT_BUFFER'
  | 'ISCSI_WIRE_DATA_TOO_LONG'
  | 'ISCSI_WIRE_AHS_TOO_LONG'
  | 'ISCSI_WIRE_BAD_TEXT'
  | 'ISCSI_WIRE_BAD_CHAP'
  | 'ISCSI_WIRE_LOGIN_FAILED'
  | 'ISCSI_WIRE_PROTOCOL'
  | 'ISCSI_WIRE_REJECTED'
  | 'ISCSI_WIRE_TIMEOUT'
  | 'ISCSI_WIRE_CLOSED';

export class WireError extends Error {
  constructor(
    readonly code: WireErrorCode,
    message: string,
    readonly detail?: unknown,
  ) {
    super(message);
    this.name = 'WireError';
  }
}

export interface Pdu {
  /** The 48-byte Basic Header Segment. */
  bhs: Buffer;
  /** Additional Header Segments (TotalAHSLength * 4 bytes). */
  ahs: Buffer;
  /** The data segment without its padding. */
  data: Buffer;
}

const pad4 = (n: number): number => (n + 3) & ~3;

/** RFC 7143 11.2.1: opcode is the low 6 bits of byte 0; bit 6 is the I (immediate) bit. */
export const opcodeOf = (bhs: Buffer): number => bhs[0]! & 0x3f;
export const isImmediate = (bhs: Buffer): boolean => (bhs[0]! & 0x40) !== 0;
export const finalBit = (bhs: Buffer): boolean => (bhs[1]! & 0x80) !== 0;
export const totalAhsLengthOf = (bhs: Buffer): number => bhs[4]!;
/** DataSegmentLength: 24-bit big-endian in bytes 5..7. */
export const dataSegmentLengthOf = (bhs: Buffer): number => (bhs[5]! << 16) | (bhs[6]! << 8) | bhs[7]!;
export const ittOf = (bhs: Buffer): number => bhs.readUInt32BE(16);
export const tttOf = (bhs: Buffer): number => bhs.readUInt32BE(20);
export const statSnOf = (bhs: Buffer): number => bhs.readUInt32BE(24);
export const expCmdSnOf = (bhs: Buffer): number => bhs.readUInt32BE(28);
export const maxCmdSnOf = (bhs: Buffer): number => bhs.readUInt32BE(32);

/**
 * Serializes a PDU. TotalAHSLength and DataSegmentLength are filled in from the AHS and data
 * unless `keepLengthFields` is set (malformed-input tests lie about them on purpose).
 * The data segment is zero-padded to a 4-byte boundary (RFC 7143 11.2.3).
 */
export function encodePdu(pdu: { bhs: Buffer; ahs?: Buffer; data?: Buffer }, keepLengthFields = false): Buffer {
  if (pdu.bhs.length !== BHS_LENGTH) throw new WireError('ISCSI_WIRE_PROTOCOL', `BHS must be 48 bytes, got ${pdu.bhs.length}`);
  const ahs = pdu.ahs ?? Buffer.alloc(0);
  const data = pdu.data ?? Buffer.alloc(0);
  if (ahs.length % 4 !== 0) throw new WireError('ISCSI_WIRE_PROTOCOL', 'AHS length must be a multiple of 4');
  if (ahs.length / 4 > 255) throw new WireError('ISCSI_WIRE_AHS_TOO_LONG', 'AHS over 1020 bytes');
  if (data.length > 0xffffff) throw new WireError('ISCSI_WIRE_DATA_TOO_LONG', 'data segment over 2^24-1 bytes');
  const bhs = Buffer.from(pdu.bhs);
  if (!keepLengthFields) {
    bhs[4] = ahs.length / 4;
    bhs[5] = (data.length >> 16) & 0xff;
    bhs[6] = (data.length >> 8) & 0xff;
    bhs[7] = data.length & 0xff;
  }
  const out = Buffer.alloc(BHS_LENGTH + ahs.length + pad4(data.length));
  bhs.copy(out, 0);
  ahs.copy(out, BHS_LENGTH);
  data.copy(out, BHS_LENGTH + ahs.length);
  return out;
}

/**
 * Decodes one PDU from the front of `buf`. Returns null when more bytes are needed.
 * Hostile input: the data segment is bounded by `maxDataSegmentLength` before anything is
 * allocated, so a forged 16 MiB length fails at once instead of buffering.
 */
export function decodePdu(buf: Buffer, maxDataSegmentLength = 1 << 24): { pdu: Pdu; consumed: number } | null {
  if (buf.length < BHS_LENGTH) return null;
  const ahsLength = totalAhsLengthOf(buf) * 4;
  const dataLength = dataSegmentLengthOf(buf);
  if (dataLength > maxDataSegmentLength) {
    throw new WireError('ISCSI_WIRE_DATA_TOO_LONG', `DataSegmentLength ${dataLength} over limit ${maxDataSegmentLength}`);
  }
  const total = BHS_LENGTH + ahsLength + pad4(dataLength);
  if (buf.length < total) return null;
  return {
    pdu: {
      bhs: Buffer.from(buf.subarray(0, BHS_LENGTH)),
      ahs: Buffer.from(buf.subarray(BHS_LENGTH, BHS_LENGTH + ahsLength)),
      data: Buffer.from(buf.subarray(BHS_LENGTH + ahsLength, BHS_LENGTH + ahsLength + dataLength)),
    },
    consumed: total,
  };
}

/** Splits a TCP byte stream into PDUs. */
export class PduStreamDecoder {
  private pending: Buffer = Buffer.alloc(0);
  constructor(private readonly maxDataSegmentLength = 1 << 24) {}

  push(chunk: Buffer): Pdu[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const out: Pdu[] = [];
    for (;;) {
      const next = decodePdu(this.pending, this.maxDataSegmentLength);
      if (!next) break;
      out.push(next.pdu);
      this.pending = this.pending.subarray(next.consumed);
    }
    return out;
  }

  get bufferedBytes(): number {
    return this.pending.length;
  }
}

// --- text keys (RFC 7143 6.1) ------------------------------------------------------------

/** RFC 7143 6.1: key names are at most 63 bytes. */
export const MAX_KEY_NAME_LENGTH = 63;
/** RFC 7143 6.1: text values are at most 255 bytes unless the key says otherwise. */
export const MAX_TEXT_VALUE_LENGTH = 255;

/** Encodes key=value pairs, each NUL-terminated. Order is kept (the RFC lets order matter). */
export function encodeTextKeys(pairs: Array<[string, string]> | Record<string, string>): Buffer {
  const list = Array.isArray(pairs) ? pairs : Object.entries(pairs);
  return Buffer.from(list.map(([k, v]) => `${k}=${v}\0`).join(''), 'utf8');
}

/**
 * Decodes a text data segment. Strict: every pair must be NUL-terminated and contain '=',
 * and the key must be non-empty and at most 63 bytes.
 */
export function decodeTextKeys(data: Buffer): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (data.length === 0) return out;
  if (data[data.length - 1] !== 0) throw new WireError('ISCSI_WIRE_BAD_TEXT', 'text data not NUL-terminated');
  let start = 0;
  while (start < data.length) {
    const end = data.indexOf(0, start);
    const pair = data.subarray(start, end);
    const eq = pair.indexOf(0x3d);
    if (eq <= 0) throw new WireError('ISCSI_WIRE_BAD_TEXT', `text pair without key or '=' at byte ${start}`);
    if (eq > MAX_KEY_NAME_LENGTH) throw new WireError('ISCSI_WIRE_BAD_TEXT', `key name over ${MAX_KEY_NAME_LENGTH} bytes`);
    out.push([pair.subarray(0, eq).toString('utf8'), pair.subarray(eq + 1).toString('utf8')]);
    start = end + 1;
  }
  return out;
}

export const textKeysToMap = (pairs: Array<[string, string]>): Map<string, string> => new Map(pairs);

// --- sense data (SPC-4 4.4) ------------------------------------------------------------

export interface Sense {
  responseCode: number;
  key: number;
  asc: number;
  ascq: number;
}

/** Parses fixed (0x70/0x71) or descriptor (0x72/0x73) format sense data. */
export function parseSense(sense: Buffer): Sense | undefined {
  if (sense.length < 1) return undefined;
  const responseCode = sense[0]! & 0x7f;
  if ((responseCode === 0x70 || responseCode === 0x71) && sense.length >= 14) {
    return { responseCode, key: sense[2]! & 0x0f, asc: sense[12]!, ascq: sense[13]! };
  }
  if ((responseCode === 0x72 || responseCode === 0x73) && sense.length >= 4) {
    return { responseCode, key: sense[1]! & 0x0f, asc: sense[2]!, ascq: sense[3]! };
  }
  return undefined;
}

// --- request builders (RFC 7143 section 11) ----------------------------------------------

/** The 8-byte LUN field (SAM-5 4.7): single-level peripheral addressing below 256, flat above. */
export function encodeLun(lun: number): Buffer {
  const b = Buffer.alloc(8);
  if (lun < 256) b[1] = lun;
  else {
    b[0] = 0x40 | ((lun >> 8) & 0x3f);
    b[1] = lun & 0xff;
  }
  return b;
}

export interface ScsiCommandFields {
  itt: number;
  cmdSn: number;
  expStatSn: number;
  cdb: Buffer;
  expectedDataTransferLength: number;
  read?: boolean;
  write?: boolean;
  final?: boolean;
  immediate?: boolean;
  lun?: number;
}

/** RFC 7143 11.3 SCSI Command. */
export function buildScsiCommand(f: ScsiCommandFields): Buffer {
  if (f.cdb.length > 16) throw new WireError('ISCSI_WIRE_PROTOCOL', 'CDB over 16 bytes needs an extended-CDB AHS');
  const bhs = Buffer.alloc(BHS_LENGTH);
  bhs[0] = Opcode.ScsiCommand | (f.immediate ? 0x40 : 0);
  // F, R, W and ATTR=1 (Simple task attribute).
  bhs[1] = ((f.final ?? true) ? 0x80 : 0) | (f.read ? 0x40 : 0) | (f.write ? 0x20 : 0) | 0x01;
  encodeLun(f.lun ?? 0).copy(bhs, 8);
  bhs.writeUInt32BE(f.itt >>> 0, 16);
  bhs.writeUInt32BE(f.expectedDataTransferLength >>> 0, 20);
  bhs.writeUInt32BE(f.cmdSn >>> 0, 24);
  bhs.writeUInt32BE(f.expStatSn >>> 0, 28);
  f.cdb.copy(bhs, 32);
  return bhs;
}

/** RFC 7143 11.7 SCSI Data-Out. */
export function buildDataOut(f: {
  itt: number;
  ttt: number;
  expStatSn: number;
  dataSn: number;
  bufferOffset: number;
  final: boolean;
  lun?: number;
}): Buffer {
  const bhs = Buffer.alloc(BHS_LENGTH);
  bhs[0] = Opcode.DataOut;
  bhs[1] = f.final ? 0x80 : 0;
  encodeLun(f.lun ?? 0).copy(bhs, 8);
  bhs.writeUInt32BE(f.itt >>> 0, 16);
  bhs.writeUInt32BE(f.ttt >>> 0, 20);
  bhs.writeUInt32BE(f.expStatSn >>> 0, 28);
  bhs.writeUInt32BE(f.dataSn >>> 0, 36);
  bhs.writeUInt32BE(f.bufferOffset >>> 0, 40);
  return bhs;
}

/** RFC 7143 11.18 NOP-Out. ITT 0xffffffff = a reply to a target NOP-In (no answer wanted). */
export function buildNopOut(f: { itt: number; ttt?: number; cmdSn: number; expStatSn: number; immediate?: boolean }): Buffer {
  const bhs = Buffer.alloc(BHS_LENGTH);
  bhs[0] = Opcode.NopOut | (f.immediate ?? true ? 0x40 : 0);
  bhs[1] = 0x80;
  bhs.writeUInt32BE(f.itt >>> 0, 16);
  bhs.writeUInt32BE((f.ttt ?? RESERVED_TAG) >>> 0, 20);
  bhs.writeUInt32BE(f.cmdSn >>> 0, 24);
  bhs.writeUInt32BE(f.expStatSn >>> 0, 28);
  return bhs;
}

export interface LoginRequestFields {
  transit: boolean;
  continueFlag?: boolean;
  /** 0 security, 1 operational, 3 full feature. */
  csg: number;
  nsg: number;
  isid: Buffer;
  tsih: number;
  itt: number;
  cid: number;
  cmdSn: number;
  expStatSn: number;
}

/** RFC 7143 11.12 Login Request (always immediate). */
export function buildLoginRequest(f: LoginRequestFields): Buffer {
  const bhs = Buffer.alloc(BHS_LENGTH);
  bhs[0] = Opcode.LoginRequest | 0x40;
  bhs[1] = (f.transit ? 0x80 : 0) | (f.continueFlag ? 0x40 : 0) | ((f.csg & 3) << 2) | (f.transit ? f.nsg & 3 : 0);
  bhs[2] = 0; // Version-max
  bhs[3] = 0; // Version-min
  f.isid.copy(bhs, 8, 0, 6);
  bhs.writeUInt16BE(f.tsih, 14);
  bhs.writeUInt32BE(f.itt >>> 0, 16);
  bhs.writeUInt16BE(f.cid, 20);
  bhs.writeUInt32BE(f.cmdSn >>> 0, 24);
  bhs.writeUInt32BE(f.expStatSn >>> 0, 28);
  return bhs;
}

/** RFC 7143 11.10 Text Request. */
export function buildTextRequest(f: { itt: number; ttt?: number; cmdSn: number; expStatSn: number; final?: boolean }): Buffer {
  const bhs = Buffer.alloc(BHS_LENGTH);
  bhs[0] = Opcode.TextRequest;
  bhs[1] = (f.final ?? true) ? 0x80 : 0;
  bhs.writeUInt32BE(f.itt >>> 0, 16);
  bhs.writeUInt32BE((f.ttt ?? RESERVED_TAG) >>> 0, 20);
  bhs.writeUInt32BE(f.cmdSn >>> 0, 24);
  bhs.writeUInt32BE(f.expStatSn >>> 0, 28);
  return bhs;
}

/** RFC 7143 11.14 Logout Request. Reason 0 = close the session. */
export function buildLogoutRequest(f: { itt: number; cmdSn: number; expStatSn: number; reason?: number; cid?: number }): Buffer {
  const bhs = Buffer.alloc(BHS_LENGTH);
  bhs[0] = Opcode.LogoutRequest | 0x40;
  bhs[1] = 0x80 | ((f.reason ?? 0) & 0x7f);
  bhs.writeUInt32BE(f.itt >>> 0, 16);
  bhs.writeUInt16BE(f.cid ?? 0, 20);
  bhs.writeUInt32BE(f.cmdSn >>> 0, 24);
  bhs.writeUInt32BE(f.expStatSn >>> 0, 28);
  return bhs;
}

// --- response views ------------------------------------------------------------------

export interface LoginResponseView {
  transit: boolean;
  continueFlag: boolean;
  csg: number;
  nsg: number;
  versionMax: number;
  versionActive: number;
  isid: Buffer;
  tsih: number;
  itt: number;
  statSn: number;
  expCmdSn: number;
  maxCmdSn: number;
  statusClass: number;
  statusDetail: number;
}

/** RFC 7143 11.13 Login Response. */
export function parseLoginResponse(bhs: Buffer): LoginResponseView {
  if (bhs.length < BHS_LENGTH || opcodeOf(bhs) !== Opcode.LoginResponse) {
    throw new WireError('ISCSI_WIRE_PROTOCOL', `not a Login Response (opcode 0x${(bhs[0] ?? 0).toString(16)})`);
  }
  return {
    transit: (bhs[1]! & 0x80) !== 0,
    continueFlag: (bhs[1]! & 0x40) !== 0,
    csg: (bhs[1]! >> 2) & 3,
    nsg: bhs[1]! & 3,
    versionMax: bhs[2]!,
    versionActive: bhs[3]!,
    isid: Buffer.from(bhs.subarray(8, 14)),
    tsih: bhs.readUInt16BE(14),
    itt: ittOf(bhs),
    statSn: statSnOf(bhs),
    expCmdSn: expCmdSnOf(bhs),
    maxCmdSn: maxCmdSnOf(bhs),
    statusClass: bhs[36]!,
    statusDetail: bhs[37]!,
  };
}

export interface ScsiResponseView {
  /** o/u/O/U residual flags. */
  bidiOverflow: boolean;
  bidiUnderflow: boolean;
  overflow: boolean;
  underflow: boolean;
  response: number;
  status: number;
  itt: number;
  statSn: number;
  expCmdSn: number;
  maxCmdSn: number;
  expDataSn: number;
  residualCount: number;
}

/** RFC 7143 11.4 SCSI Response. */
export function parseScsiResponse(bhs: Buffer): ScsiResponseView {
  const flags = bhs[1]!;
  return {
    bidiOverflow: (flags & 0x10) !== 0,
    bidiUnderflow: (flags & 0x08) !== 0,
    overflow: (flags & 0x04) !== 0,
    underflow: (flags & 0x02) !== 0,
    response: bhs[2]!,
    status: bhs[3]!,
    itt: ittOf(bhs),
    statSn: statSnOf(bhs),
    expCmdSn: expCmdSnOf(bhs),
    maxCmdSn: maxCmdSnOf(bhs),
    expDataSn: bhs.readUInt32BE(36),
    residualCount: bhs.readUInt32BE(44),
  };
}

/** RFC 7143 11.4.7: the data segment of a SCSI Response is SenseLength(2) + sense data. */
export function senseFromResponseData(data: Buffer): Buffer {
  if (data.length < 2) return Buffer.alloc(0);
  const senseLength = data.readUInt16BE(0);
  return Buffer.from(data.subarray(2, 2 + Math.min(senseLength, data.length - 2)));
}

export interface DataInView {
  final: boolean;
  acknowledge: boolean;
  overflow: boolean;
  underflow: boolean;
  hasStatus: boolean;
  status: number;
  itt: number;
  ttt: number;
  statSn: number;
  expCmdSn: number;
  maxCmdSn: number;
  dataSn: number;
  bufferOffset: number;
  residualCount: number;
}

/** RFC 7143 11.7 SCSI Data-In. */
export function parseDataIn(bhs: Buffer): DataInView {
  const flags = bhs[1]!;
  return {
    final: (flags & 0x80) !== 0,
    acknowledge: (flags & 0x40) !== 0,
    overflow: (flags & 0x04) !== 0,
    underflow: (flags & 0x02) !== 0,
    hasStatus: (flags & 0x01) !== 0,
    status: bhs[3]!,
    itt: ittOf(bhs),
    ttt: tttOf(bhs),
    statSn: statSnOf(bhs),
    expCmdSn: expCmdSnOf(bhs),
    maxCmdSn: maxCmdSnOf(bhs),
    dataSn: bhs.readUInt32BE(36),
    bufferOffset: bhs.readUInt32BE(40),
    residualCount: bhs.readUInt32BE(44),
  };
}

export interface R2tView {
  itt: number;
  ttt: number;
  statSn: number;
  expCmdSn: number;
  maxCmdSn: number;
  r2tSn: number;
  bufferOffset: number;
  desiredLength: number;
}

/** RFC 7143 11.8 Ready To Transfer. */
export function parseR2t(bhs: Buffer): R2tView {
  return {
    itt: ittOf(bhs),
    ttt: tttOf(bhs),
    statSn: statSnOf(bhs),
    expCmdSn: expCmdSnOf(bhs),
    maxCmdSn: maxCmdSnOf(bhs),
    r2tSn: bhs.readUInt32BE(36),
    bufferOffset: bhs.readUInt32BE(40),
    desiredLength: bhs.readUInt32BE(44),
  };
}

export interface RejectView {
  reason: number;
  statSn: number;
  expCmdSn: number;
  maxCmdSn: number;
  /** The BHS of the rejected PDU (RFC 7143 11.17: the data segment carries it). */
  rejectedHeader: Buffer;
  /** ITT of the rejected PDU, when the header is complete. */
  rejectedItt: number | undefined;
}

/** RFC 7143 11.17 Reject. */
export function parseReject(pdu: Pdu): RejectView {
  const rejectedHeader = Buffer.from(pdu.data.subarray(0, BHS_LENGTH));
  return {
    reason: pdu.bhs[2]!,
    statSn: statSnOf(pdu.bhs),
    expCmdSn: expCmdSnOf(pdu.bhs),
    maxCmdSn: maxCmdSnOf(pdu.bhs),
    rejectedHeader,
    rejectedItt: rejectedHeader.length === BHS_LENGTH ? ittOf(rejectedHeader) : undefined,
  };
}

// --- CDBs (SBC-4 / SPC-4) -----------------------------------------------------------------

export const Cdb = {
  testUnitReady: (): Buffer => Buffer.alloc(6),
  inquiry(allocationLength = 96, vpdPage?: number): Buffer {
    const c = Buffer.alloc(6);
    c[0] = 0x12;
    if (vpdPage !== undefined) {
      c[1] = 0x01;
      c[2] = vpdPage;
    }
    c.writeUInt16BE(allocationLength, 3);
    return c;
  },
  readCapacity10: (): Buffer => Object.assign(Buffer.alloc(10), { 0: 0x25 }),
  readCapacity16(allocationLength = 32): Buffer {
    const c = Buffer.alloc(16);
    c[0] = 0x9e;
    c[1] = 0x10; // SERVICE ACTION IN(16) / READ CAPACITY(16)
    c.writeUInt32BE(allocationLength, 10);
    return c;
  },
  read10(lba: number, blocks: number, fua = false): Buffer {
    const c = Buffer.alloc(10);
    c[0] = 0x28;
    c[1] = fua ? 0x08 : 0;
    c.writeUInt32BE(lba >>> 0, 2);
    c.writeUInt16BE(blocks, 7);
    return c;
  },
  write10(lba: number, blocks: number, fua = false): Buffer {
    const c = Buffer.alloc(10);
    c[0] = 0x2a;
    c[1] = fua ? 0x08 : 0;
    c.writeUInt32BE(lba >>> 0, 2);
    c.writeUInt16BE(blocks, 7);
    return c;
  },
  read16(lba: bigint, blocks: number, fua = false): Buffer {
    const c = Buffer.alloc(16);
    c[0] = 0x88;
    c[1] = fua ? 0x08 : 0;
    c.writeBigUInt64BE(lba, 2);
    c.writeUInt32BE(blocks >>> 0, 10);
    return c;
  },
  write16(lba: bigint, blocks: number, fua = false): Buffer {
    const c = Buffer.alloc(16);
    c[0] = 0x8a;
    c[1] = fua ? 0x08 : 0;
    c.writeBigUInt64BE(lba, 2);
    c.writeUInt32BE(blocks >>> 0, 10);
    return c;
  },
  synchronizeCache10(lba = 0, blocks = 0): Buffer {
    const c = Buffer.alloc(10);
    c[0] = 0x35;
    c.writeUInt32BE(lba >>> 0, 2);
    c.writeUInt16BE(blocks, 7);
    return c;
  },
  synchronizeCache16(): Buffer {
    const c = Buffer.alloc(16);
    c[0] = 0x91;
    return c;
  },
};

export interface Capacity {
  /** Number of logical blocks (last LBA + 1). */
  blocks: bigint;
  blockSize: number;
}

export function parseReadCapacity10(data: Buffer): Capacity {
  if (data.length < 8) throw new WireError('ISCSI_WIRE_SHORT_BUFFER', 'READ CAPACITY(10) data under 8 bytes');
  return { blocks: BigInt(data.readUInt32BE(0)) + 1n, blockSize: data.readUInt32BE(4) };
}

export function parseReadCapacity16(data: Buffer): Capacity {
  if (data.length < 12) throw new WireError('ISCSI_WIRE_SHORT_BUFFER', 'READ CAPACITY(16) data under 12 bytes');
  return { blocks: data.readBigUInt64BE(0) + 1n, blockSize: data.readUInt32BE(8) };
}

// --- CHAP (RFC 1994, RFC 7143 12.1.3) -------------------------------------------------------

/** Decodes a CHAP binary value: "0x" hex or "0b" base64 (RFC 7143 6.1 binary-value). */
export function decodeChapBinary(value: string): Buffer {
  if (/^0[xX][0-9a-fA-F]+$/.test(value) && value.length % 2 === 0) return Buffer.from(value.slice(2), 'hex');
  if (/^0[xX][0-9a-fA-F]+$/.test(value)) return Buffer.from('0' + value.slice(2), 'hex');
  if (/^0[bB][A-Za-z0-9+/=]+$/.test(value)) return Buffer.from(value.slice(2), 'base64');
  throw new WireError('ISCSI_WIRE_BAD_CHAP', `not a CHAP binary value: ${value.slice(0, 40)}`);
}

/** RFC 1994 4.1: Response = MD5(Identifier || secret || Challenge). */
export function chapResponse(identifier: number, secret: string | Buffer, challenge: Buffer): Buffer {
  return createHash('md5')
    .update(Buffer.from([identifier & 0xff]))
    .update(typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret)
    .update(challenge)
    .digest();
}

// ---------------------------------------------------------------------------------------
// Login state machine (pure: no sockets)
// ---------------------------------------------------------------------------------------

export interface OperationalParams {
  /** What we can receive; the target must not send data segments above it. */
  maxRecvDataSegmentLength: number;
  /** What the target declared it can receive: our limit for outgoing data segments. */
  targetMaxRecvDataSegmentLength: number;
  initialR2T: boolean;
  immediateData: boolean;
  maxBurstLength: number;
  firstBurstLength: number;
  maxOutstandingR2T: number;
  headerDigest: 'None';
  dataDigest: 'None';
}

export const DEFAULT_PROPOSAL = {
  maxRecvDataSegmentLength: 262144,
  initialR2T: true,
  immediateData: false,
  maxBurstLength: 262144,
  firstBurstLength: 65536,
};

export interface LoginOptions {
  initiatorIqn: string;
  /** Omitted for a Discovery session. */
  targetIqn?: string;
  sessionType?: 'Normal' | 'Discovery';
  chap?: { user: string; secret: string };
  /** Mutual CHAP: the secret the target must prove. */
  mutualChap?: { user: string; secret: string };
  isid?: Buffer;
  tsih?: number;
  cid?: number;
  proposal?: Partial<typeof DEFAULT_PROPOSAL>;
  /** Extra key=value pairs appended to the first operational request. */
  extraKeys?: Array<[string, string]>;
}

export type LoginStep =
  | { kind: 'send'; bhs: Buffer; data: Buffer }
  | { kind: 'done'; params: OperationalParams; tsih: number; statSn: number; expCmdSn: number; maxCmdSn: number }
  | { kind: 'failed'; statusClass: number; statusDetail: number; message: string };

/**
 * RFC 7143 6.3 / 7: the login phase. Security stage (CSG 0) when CHAP is configured, else
 * straight to operational negotiation (CSG 1, allowed by 6.3), then full feature (NSG 3).
 * Feed each Login Response to `onResponse`; it answers with the next request or the end.
 */
export class LoginNegotiation {
  readonly isid: Buffer;
  readonly itt = 0x1000;
  private stage: 'security-offer' | 'security-chap-a' | 'security-chap-r' | 'operational' | 'done' = 'security-offer';
  private csg = 0;
  private readonly proposal: typeof DEFAULT_PROPOSAL;
  private readonly negotiated = new Map<string, string>();
  private mutualChallenge: { id: number; challenge: Buffer } | undefined;
  private cmdSn = 1;
  private expStatSn = 0;
  private sentOperationalKeys = false;

  constructor(private readonly options: LoginOptions) {
    // RFC 7143 11.12.5: ISID type 0x80 = random qualifier.
    this.isid = options.isid ?? Buffer.concat([Buffer.from([0x80]), randomBytes(5)]);
    this.proposal = { ...DEFAULT_PROPOSAL, ...options.proposal };
  }

  private header(transit: boolean, nsg: number): Buffer {
    return buildLoginRequest({
      transit,
      csg: this.csg,
      nsg,
      isid: this.isid,
      tsih: this.options.tsih ?? 0,
      itt: this.itt,
      cid: this.options.cid ?? 0,
      cmdSn: this.cmdSn,
      expStatSn: this.expStatSn,
    });
  }

  private identityKeys(): Array<[string, string]> {
    const keys: Array<[string, string]> = [['InitiatorName', this.options.initiatorIqn]];
    const type = this.options.sessionType ?? 'Normal';
    keys.push(['SessionType', type]);
    if (type === 'Normal' && this.options.targetIqn) keys.push(['TargetName', this.options.targetIqn]);
    return keys;
  }

  private operationalKeys(): Array<[string, string]> {
    const p = this.proposal;
    const keys: Array<[string, string]> = [
      ['HeaderDigest', 'None'],
      ['DataDigest', 'None'],
      ['MaxRecvDataSegmentLength', String(p.maxRecvDataSegmentLength)],
    ];
    if ((this.options.sessionType ?? 'Normal') === 'Normal') {
      keys.push(
        ['InitialR2T', p.initialR2T ? 'Yes' : 'No'],
        ['ImmediateData', p.immediateData ? 'Yes' : 'No'],
        ['MaxBurstLength', String(p.maxBurstLength)],
        ['FirstBurstLength', String(p.firstBurstLength)],
        ['MaxOutstandingR2T', '1'],
        ['MaxConnections', '1'],
        ['DataPDUInOrder', 'Yes'],
        ['DataSequenceInOrder', 'Yes'],
        ['ErrorRecoveryLevel', '0'],
        ['DefaultTime2Wait', '0'],
        ['DefaultTime2Retain', '0'],
      );
    }
    return keys.concat(this.options.extraKeys ?? []);
  }

  /** The first Login Request. */
  start(): LoginStep {
    if (this.options.chap) {
      this.csg = 0;
      this.stage = 'security-offer';
      return { kind: 'send', bhs: this.header(false, 0), data: encodeTextKeys([...this.identityKeys(), ['AuthMethod', 'CHAP']]) };
    }
    this.csg = 1;
    this.stage = 'operational';
    this.sentOperationalKeys = true;
    return { kind: 'send', bhs: this.header(true, 3), data: encodeTextKeys([...this.identityKeys(), ...this.operationalKeys()]) };
  }

  onResponse(pdu: Pdu): LoginStep {
    const r = parseLoginResponse(pdu.bhs);
    this.expStatSn = (r.statSn + 1) >>> 0;
    if (r.statusClass !== 0) {
      return { kind: 'failed', statusClass: r.statusClass, statusDetail: r.statusDetail, message: `login rejected 0x${((r.statusClass << 8) | r.statusDetail).toString(16).padStart(4, '0')}` };
    }
    const keys = textKeysToMap(decodeTextKeys(pdu.data));
    for (const [k, v] of keys) this.negotiated.set(k, v);
    if (r.continueFlag) {
      // RFC 7143 6.1: the target has more text; answer with an empty request to get it.
      return { kind: 'send', bhs: this.header(false, 0), data: Buffer.alloc(0) };
    }
    switch (this.stage) {
      case 'security-offer': {
        if (keys.get('AuthMethod') !== 'CHAP') return this.fail(`target chose AuthMethod=${keys.get('AuthMethod')}`);
        this.stage = 'security-chap-a';
        return { kind: 'send', bhs: this.header(false, 0), data: encodeTextKeys([['CHAP_A', '5']]) };
      }
      case 'security-chap-a': {
        const id = keys.get('CHAP_I');
        const challenge = keys.get('CHAP_C');
        if (keys.get('CHAP_A') !== '5' || id === undefined || challenge === undefined) return this.fail('target sent no MD5 CHAP challenge');
        const identifier = Number(id);
        if (!Number.isInteger(identifier) || identifier < 0 || identifier > 255) return this.fail(`bad CHAP_I ${id}`);
        const chap = this.options.chap!;
        const response = chapResponse(identifier, chap.secret, decodeChapBinary(challenge));
        const out: Array<[string, string]> = [
          ['CHAP_N', chap.user],
          ['CHAP_R', '0x' + response.toString('hex')],
        ];
        if (this.options.mutualChap) {
          this.mutualChallenge = { id: randomBytes(1)[0]!, challenge: randomBytes(16) };
          out.push(['CHAP_I', String(this.mutualChallenge.id)], ['CHAP_C', '0x' + this.mutualChallenge.challenge.toString('hex')]);
        }
        this.stage = 'security-chap-r';
        return { kind: 'send', bhs: this.header(true, 1), data: encodeTextKeys(out) };
      }
      case 'security-chap-r': {
        if (this.mutualChallenge) {
          const m = this.options.mutualChap!;
          const expected = chapResponse(this.mutualChallenge.id, m.secret, this.mutualChallenge.challenge);
          const got = keys.get('CHAP_R');
          if (keys.get('CHAP_N') !== m.user || got === undefined || !decodeChapBinary(got).equals(expected)) {
            return this.fail('target failed mutual CHAP');
          }
        }
        if (!r.transit) return { kind: 'send', bhs: this.header(true, 1), data: Buffer.alloc(0) };
        this.csg = 1;
        this.stage = 'operational';
        this.sentOperationalKeys = true;
        return { kind: 'send', bhs: this.header(true, 3), data: encodeTextKeys(this.operationalKeys()) };
      }
      case 'operational': {
        if (r.transit && r.nsg === 3) {
          this.stage = 'done';
          return { kind: 'done', params: this.result(), tsih: r.tsih, statSn: r.statSn, expCmdSn: r.expCmdSn, maxCmdSn: r.maxCmdSn };
        }
        // The target wants another round (it proposed keys, or is not ready to transit).
        const answer: Array<[string, string]> = [];
        if (!this.sentOperationalKeys) answer.push(...this.operationalKeys());
        return { kind: 'send', bhs: this.header(true, 3), data: encodeTextKeys(answer) };
      }
      default:
        return this.fail(`login response in stage ${this.stage}`);
    }
  }

  private fail(message: string): LoginStep {
    return { kind: 'failed', statusClass: -1, statusDetail: -1, message };
  }

  /** RFC 7143 13: results of the operational negotiation. */
  private result(): OperationalParams {
    const n = this.negotiated;
    const num = (key: string, fallback: number): number => {
      const v = n.get(key);
      const parsed = v === undefined ? NaN : Number(v);
      return Number.isFinite(parsed) && parsed > 0 ? parsed : fallback;
    };
    const bool = (key: string, fallback: boolean): boolean => {
      const v = n.get(key);
      return v === undefined || v === 'NotUnderstood' || v === 'Irrelevant' ? fallback : v === 'Yes';
    };
    const p = this.proposal;
    return {
      maxRecvDataSegmentLength: p.maxRecvDataSegmentLength,
      // RFC 7143 13.12: MaxRecvDataSegmentLength is declarative; default 8192 when not declared.
      targetMaxRecvDataSegmentLength: num('MaxRecvDataSegmentLength', 8192),
      // RFC 7143 13.10: InitialR2T is the OR of both; 13.11: ImmediateData is the AND.
      initialR2T: bool('InitialR2T', true) || p.initialR2T,
      immediateData: bool('ImmediateData', true) && p.immediateData,
      // RFC 7143 13.13/13.14: the minimum of both.
      maxBurstLength: Math.min(num('MaxBurstLength', 262144), p.maxBurstLength),
      firstBurstLength: Math.min(num('FirstBurstLength', 65536), p.firstBurstLength, num('MaxBurstLength', 262144)),
      maxOutstandingR2T: num('MaxOutstandingR2T', 1),
      headerDigest: 'None',
      dataDigest: 'None',
    };
  }

  /** All keys the target sent during login. */
  get targetKeys(): ReadonlyMap<string, string> {
    return this.negotiated;
  }
}

// ---------------------------------------------------------------------------------------
// Session (owns the socket)
// ---------------------------------------------------------------------------------------

export interface ScsiResult {
  status: number;
  /** iSCSI response code (0 = command completed at target). */
  response: number;
  sense: Buffer;
  senseInfo: Sense | undefined;
  data: Buffer;
  residualCount: number;
  underflow: boolean;
  overflow: boolean;
}

export interface ScsiCommandOptions {
  /** Bytes expected in Data-In (read). */
  readLength?: number;
  /** Data-Out bytes (write). */
  writeData?: Buffer;
  lun?: number;
  /** Override the EDTL written into the command (malformed tests). */
  expectedDataTransferLength?: number;
  timeoutMs?: number;
}

interface PendingTask {
  itt: number;
  onPdu: (pdu: Pdu) => void;
  reject: (err: Error) => void;
}

const DEFAULT_TIMEOUT_MS = 10000;

function connectSocket(host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new WireError('ISCSI_WIRE_TIMEOUT', `connect to ${host}:${port} timed out`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.setNoDelay(true);
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/**
 * A raw iSCSI connection: PDUs out, PDUs in, nothing negotiated. Used for login abuse and as
 * the transport under IscsiSession.
 */
export class IscsiConnection {
  private readonly decoder: PduStreamDecoder;
  private readonly queue: Pdu[] = [];
  private waiters: Array<{ resolve: (p: Pdu) => void; reject: (e: Error) => void }> = [];
  private closedError: Error | undefined;
  /** Resolves when the peer (or we) closed the socket. */
  readonly closed: Promise<void>;
  /** Set when a PDU arrives and somebody routes it instead of queueing (session use). */
  router: ((pdu: Pdu) => boolean) | undefined;

  private constructor(
    readonly socket: net.Socket,
    maxDataSegmentLength: number,
  ) {
    this.decoder = new PduStreamDecoder(maxDataSegmentLength);
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.fail(new WireError('ISCSI_WIRE_CLOSED', 'connection closed by peer'));
        resolve();
      });
    });
    socket.on('error', (err) => this.fail(new WireError('ISCSI_WIRE_CLOSED', `connection failed: ${err.message}`, err)));
    socket.on('data', (chunk: Buffer) => {
      let pdus: Pdu[];
      try {
        pdus = this.decoder.push(chunk);
      } catch (err) {
        this.fail(err as Error);
        socket.destroy();
        return;
      }
      for (const pdu of pdus) this.deliver(pdu);
    });
  }

  static async open(host: string, port: number, opts: { timeoutMs?: number; maxDataSegmentLength?: number; writeChunkBytes?: number } = {}): Promise<IscsiConnection> {
    const socket = await connectSocket(host, port, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const connection = new IscsiConnection(socket, opts.maxDataSegmentLength ?? 1 << 24);
    connection.writeChunkBytes = opts.writeChunkBytes ?? 0;
    return connection;
  }

  /**
   * When > 0, every send is cut into writes of this many bytes, each waited for, so the
   * target sees PDUs split at every boundary (framing tests). 0 = one write per send.
   */
  writeChunkBytes = 0;
  private sendChain: Promise<void> = Promise.resolve();

  private deliver(pdu: Pdu): void {
    if (this.router && this.router(pdu)) return;
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve(pdu);
    else this.queue.push(pdu);
  }

  private fail(err: Error): void {
    if (this.closedError) return;
    this.closedError = err;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(err);
  }

  get isClosed(): boolean {
    return this.closedError !== undefined;
  }

  /** Sends pre-built bytes as they are (raw injection). */
  sendRaw(bytes: Buffer): Promise<void> {
    if (this.writeChunkBytes <= 0) return this.write(bytes);
    // Trickled sends go one after another, so two PDUs' chunks never interleave.
    const run = this.sendChain.then(async () => {
      for (let at = 0; at < bytes.length; at += this.writeChunkBytes) {
        await this.write(bytes.subarray(at, at + this.writeChunkBytes));
      }
    });
    this.sendChain = run.catch(() => undefined);
    return run;
  }

  private write(bytes: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.socket.destroyed) {
        reject(this.closedError ?? new WireError('ISCSI_WIRE_CLOSED', 'socket destroyed'));
        return;
      }
      // A write to a socket the peer reset (EPIPE, ECONNRESET) is the connection closing.
      this.socket.write(bytes, (err) => (err ? reject(new WireError('ISCSI_WIRE_CLOSED', `send failed: ${err.message}`, err)) : resolve()));
    });
  }

  send(pdu: { bhs: Buffer; ahs?: Buffer; data?: Buffer }): Promise<void> {
    return this.sendRaw(encodePdu(pdu));
  }

  /** The next PDU not taken by the router. Rejects on close or timeout. */
  receive(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Pdu> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: (p: Pdu) => {
          clearTimeout(timer);
          resolve(p);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new WireError('ISCSI_WIRE_TIMEOUT', `no PDU within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /**
   * What the target did next: a PDU, or 'closed' when it dropped the connection, or
   * 'timeout'. Used by malformed-input tests, where each outcome can be valid.
   */
  async nextEvent(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Pdu | 'closed' | 'timeout'> {
    try {
      return await this.receive(timeoutMs);
    } catch (err) {
      if (err instanceof WireError && err.code === 'ISCSI_WIRE_TIMEOUT') return 'timeout';
      return 'closed';
    }
  }

  /** Resolves true if the peer closes the connection within `timeoutMs`. */
  async waitClosed(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      return await Promise.race([this.closed.then(() => true), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Runs the login state machine on this connection. */
  async login(options: LoginOptions, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Extract<LoginStep, { kind: 'done' }> & { negotiation: LoginNegotiation }> {
    const negotiation = new LoginNegotiation(options);
    let step = negotiation.start();
    for (let rounds = 0; rounds < 16; rounds++) {
      if (step.kind === 'done') return { ...step, negotiation };
      if (step.kind === 'failed') {
        throw new WireError('ISCSI_WIRE_LOGIN_FAILED', step.message, { statusClass: step.statusClass, statusDetail: step.statusDetail });
      }
      await this.send({ bhs: step.bhs, data: step.data });
      const pdu = await this.receive(timeoutMs);
      if (opcodeOf(pdu.bhs) !== Opcode.LoginResponse) {
        throw new WireError('ISCSI_WIRE_PROTOCOL', `expected Login Response, got opcode 0x${opcodeOf(pdu.bhs).toString(16)}`);
      }
      step = negotiation.onResponse(pdu);
    }
    throw new WireError('ISCSI_WIRE_PROTOCOL', 'login did not finish in 16 rounds');
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export interface SessionOptions extends LoginOptions {
  host: string;
  port: number;
  timeoutMs?: number;
  /** LUN used when a command does not name one (lanboot: 0; tgt: 1). */
  lun?: number;
  /** Cut every send into writes of this many bytes (see IscsiConnection.writeChunkBytes). */
  writeChunkBytes?: number;
}

/** A logged-in Normal (or Discovery) session on one connection, ERL 0. */
export class IscsiSession {
  private nextItt = 1;
  private cmdSn: number;
  private expStatSn: number;
  private maxCmdSn: number;
  private readonly tasks = new Map<number, PendingTask>();
  private windowWaiters: Array<() => void> = [];
  /** PDUs that matched no task: async messages, rejects of raw PDUs, stray answers. */
  readonly unsolicited: Pdu[] = [];
  private unsolicitedWaiters: Array<(p: Pdu) => void> = [];
  readonly timeoutMs: number;
  /** LUN used when a command does not name one. */
  lun = 0;

  private constructor(
    readonly connection: IscsiConnection,
    readonly params: OperationalParams,
    readonly tsih: number,
    readonly isid: Buffer,
    login: { statSn: number; expCmdSn: number; maxCmdSn: number },
    timeoutMs: number,
  ) {
    this.cmdSn = login.expCmdSn;
    this.expStatSn = (login.statSn + 1) >>> 0;
    this.maxCmdSn = login.maxCmdSn;
    this.timeoutMs = timeoutMs;
    connection.router = (pdu) => this.route(pdu);
    void connection.closed.then(() => {
      const err = new WireError('ISCSI_WIRE_CLOSED', 'connection closed by target');
      for (const t of [...this.tasks.values()]) t.reject(err);
      this.tasks.clear();
    });
  }

  static async open(options: SessionOptions): Promise<IscsiSession> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const connection = await IscsiConnection.open(options.host, options.port, { timeoutMs, writeChunkBytes: options.writeChunkBytes });
    try {
      const done = await connection.login(options, timeoutMs);
      const session = new IscsiSession(connection, done.params, done.tsih, done.negotiation.isid, done, timeoutMs);
      session.lun = options.lun ?? 0;
      return session;
    } catch (err) {
      connection.destroy();
      throw err;
    }
  }

  get currentCmdSn(): number {
    return this.cmdSn;
  }
  get currentExpStatSn(): number {
    return this.expStatSn;
  }
  get currentMaxCmdSn(): number {
    return this.maxCmdSn;
  }
  /** An ITT no task uses (for hand-made PDUs). */
  allocateItt(): number {
    const itt = this.nextItt;
    this.nextItt = (this.nextItt + 1) % 0x7fffffff || 1;
    return itt;
  }
  /** Takes a CmdSN for a hand-made non-immediate PDU (so later commands stay in sequence). */
  takeCmdSn(): number {
    const sn = this.cmdSn;
    this.cmdSn = (this.cmdSn + 1) >>> 0;
    return sn;
  }

  private updateSequence(bhs: Buffer): void {
    const op = opcodeOf(bhs);
    // RFC 7143 11.7.4: StatSN in Data-In is only valid when the S bit is set.
    const carriesStatSn = op !== Opcode.DataIn || (bhs[1]! & 0x01) !== 0;
    if (carriesStatSn && op !== Opcode.ReadyToTransfer) {
      const statSn = statSnOf(bhs);
      // Serial-number arithmetic (RFC 1982): only move forward.
      if (((statSn + 1 - this.expStatSn) | 0) > 0) this.expStatSn = (statSn + 1) >>> 0;
    }
    const maxCmdSn = maxCmdSnOf(bhs);
    const expCmdSn = expCmdSnOf(bhs);
    // RFC 7143 4.2.2.1: ignore MaxCmdSN/ExpCmdSN when MaxCmdSN < ExpCmdSN - 1.
    if (((maxCmdSn - expCmdSn + 1) | 0) >= 0 && ((maxCmdSn - this.maxCmdSn) | 0) > 0) {
      this.maxCmdSn = maxCmdSn;
      const waiters = this.windowWaiters;
      this.windowWaiters = [];
      for (const w of waiters) w();
    }
  }

  private route(pdu: Pdu): boolean {
    const op = opcodeOf(pdu.bhs);
    if (op !== Opcode.Reject) this.updateSequence(pdu.bhs);
    if (op === Opcode.NopIn && ittOf(pdu.bhs) === RESERVED_TAG && tttOf(pdu.bhs) !== RESERVED_TAG) {
      // RFC 7143 11.19: a target ping; answer with a NOP-Out echoing the TTT.
      void this.connection
        .send({ bhs: buildNopOut({ itt: RESERVED_TAG, ttt: tttOf(pdu.bhs), cmdSn: this.cmdSn, expStatSn: this.expStatSn }), data: pdu.data })
        .catch(() => undefined);
      return true;
    }
    let itt = ittOf(pdu.bhs);
    if (op === Opcode.Reject) {
      this.updateSequence(pdu.bhs);
      const rejected = parseReject(pdu).rejectedItt;
      if (rejected !== undefined) itt = rejected;
    }
    const task = op === Opcode.AsyncMessage ? undefined : this.tasks.get(itt);
    if (task) {
      task.onPdu(pdu);
      return true;
    }
    const waiter = this.unsolicitedWaiters.shift();
    if (waiter) waiter(pdu);
    else this.unsolicited.push(pdu);
    return true;
  }

  /** The next PDU that matched no task (e.g. the Reject of a raw PDU), or 'closed'/'timeout'. */
  async nextUnsolicited(timeoutMs = this.timeoutMs): Promise<Pdu | 'closed' | 'timeout'> {
    const queued = this.unsolicited.shift();
    if (queued) return queued;
    if (this.connection.isClosed) return 'closed';
    return new Promise((resolve) => {
      const waiter = (p: Pdu): void => {
        clearTimeout(timer);
        resolve(p);
      };
      const timer = setTimeout(() => {
        this.unsolicitedWaiters = this.unsolicitedWaiters.filter((w) => w !== waiter);
        resolve('timeout');
      }, timeoutMs);
      this.unsolicitedWaiters.push(waiter);
      void this.connection.closed.then(() => {
        if (!this.unsolicitedWaiters.includes(waiter)) return;
        this.unsolicitedWaiters = this.unsolicitedWaiters.filter((w) => w !== waiter);
        clearTimeout(timer);
        resolve('closed');
      });
    });
  }

  private async waitForWindow(cmdSn: number): Promise<void> {
    // RFC 7143 4.2.2.1: a non-immediate command may be sent only while CmdSN <= MaxCmdSN.
    const deadline = Date.now() + this.timeoutMs;
    while (((cmdSn - this.maxCmdSn) | 0) > 0) {
      if (this.connection.isClosed) throw new WireError('ISCSI_WIRE_CLOSED', 'connection closed');
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new WireError('ISCSI_WIRE_TIMEOUT', 'CmdSN window stayed closed');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(remaining, 100));
        this.windowWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  private register(itt: number, onPdu: (pdu: Pdu) => void, reject: (err: Error) => void, timeoutMs: number): () => void {
    const timer = setTimeout(() => {
      this.tasks.delete(itt);
      reject(new WireError('ISCSI_WIRE_TIMEOUT', `task 0x${itt.toString(16)} got no answer in ${timeoutMs} ms`));
    }, timeoutMs);
    this.tasks.set(itt, {
      itt,
      onPdu,
      reject: (err) => {
        clearTimeout(timer);
        reject(err);
      },
    });
    return () => {
      clearTimeout(timer);
      this.tasks.delete(itt);
    };
  }

  /**
   * One SCSI command, with Data-In collection and Data-Out per the negotiated
   * InitialR2T / ImmediateData / FirstBurstLength / MaxRecvDataSegmentLength (RFC 7143 13.10, 13.11, 13.12, 13.14).
   * Rejects with code ISCSI_WIRE_REJECTED when the target answers with a Reject PDU.
   */
  async scsi(cdb: Buffer, opts: ScsiCommandOptions = {}): Promise<ScsiResult> {
    if (this.connection.isClosed) throw new WireError('ISCSI_WIRE_CLOSED', 'connection closed');
    // Take the CmdSN before waiting, so concurrent callers each wait for their own number.
    const cmdSn = this.takeCmdSn();
    await this.waitForWindow(cmdSn);
    const writeData = opts.writeData ?? Buffer.alloc(0);
    const readLength = opts.readLength ?? 0;
    const edtl = opts.expectedDataTransferLength ?? (writeData.length || readLength);
    const itt = this.allocateItt();
    const p = this.params;
    const lun = opts.lun ?? this.lun;
    const maxSend = p.targetMaxRecvDataSegmentLength;

    // Unsolicited data (RFC 7143 13.10, 13.11, 13.14): immediate data in the command PDU, then
    // unsolicited Data-Out PDUs (only when InitialR2T=No), together at most FirstBurstLength.
    const unsolicitedLimit = Math.min(writeData.length, p.firstBurstLength);
    const immediateLength = p.immediateData ? Math.min(unsolicitedLimit, maxSend) : 0;
    const unsolicitedDataOutEnd = p.initialR2T ? immediateLength : unsolicitedLimit;

    const dataIn = Buffer.alloc(readLength);
    let dataInBytes = 0;
    let expectedDataSn = 0;

    return new Promise<ScsiResult>((resolve, reject) => {
      let finished = false;
      const finish = (result: ScsiResult | Error): void => {
        if (finished) return;
        finished = true;
        unregister();
        if (result instanceof Error) reject(result);
        else resolve(result);
      };
      const sendDataOut = async (ttt: number, offset: number, length: number): Promise<void> => {
        let dataSn = 0;
        for (let at = offset; at < offset + length; ) {
          const n = Math.min(maxSend, offset + length - at);
          const bhs = buildDataOut({ itt, ttt, expStatSn: this.expStatSn, dataSn: dataSn++, bufferOffset: at, final: at + n === offset + length, lun });
          await this.connection.send({ bhs, data: writeData.subarray(at, at + n) });
          at += n;
        }
      };
      const onPdu = (pdu: Pdu): void => {
        const op = opcodeOf(pdu.bhs);
        if (op === Opcode.Reject) {
          const view = parseReject(pdu);
          finish(new WireError('ISCSI_WIRE_REJECTED', `target rejected the command, reason 0x${view.reason.toString(16)}`, view));
        } else if (op === Opcode.DataIn) {
          const d = parseDataIn(pdu.bhs);
          if (d.dataSn !== expectedDataSn) {
            finish(new WireError('ISCSI_WIRE_PROTOCOL', `Data-In DataSN ${d.dataSn}, expected ${expectedDataSn}`));
            return;
          }
          expectedDataSn++;
          if (d.bufferOffset + pdu.data.length > readLength) {
            finish(new WireError('ISCSI_WIRE_PROTOCOL', `Data-In past the expected ${readLength} bytes`));
            return;
          }
          pdu.data.copy(dataIn, d.bufferOffset);
          dataInBytes += pdu.data.length;
          if (d.hasStatus) {
            finish({
              status: d.status,
              response: 0,
              sense: Buffer.alloc(0),
              senseInfo: undefined,
              data: dataIn.subarray(0, Math.max(dataInBytes, d.bufferOffset + pdu.data.length)),
              residualCount: d.residualCount,
              underflow: d.underflow,
              overflow: d.overflow,
            });
          }
        } else if (op === Opcode.ReadyToTransfer) {
          const r = parseR2t(pdu.bhs);
          if (r.bufferOffset + r.desiredLength > writeData.length) {
            finish(new WireError('ISCSI_WIRE_PROTOCOL', `R2T for ${r.bufferOffset}+${r.desiredLength} past ${writeData.length} bytes`));
            return;
          }
          sendDataOut(r.ttt, r.bufferOffset, r.desiredLength).catch((err: Error) => finish(err));
        } else if (op === Opcode.ScsiResponse) {
          const r = parseScsiResponse(pdu.bhs);
          const sense = senseFromResponseData(pdu.data);
          finish({
            status: r.status,
            response: r.response,
            sense,
            senseInfo: parseSense(sense),
            data: dataIn.subarray(0, dataInBytes),
            residualCount: r.residualCount,
            underflow: r.underflow,
            overflow: r.overflow,
          });
        } else {
          finish(new WireError('ISCSI_WIRE_PROTOCOL', `unexpected opcode 0x${op.toString(16)} for task 0x${itt.toString(16)}`));
        }
      };
      const unregister = this.register(itt, onPdu, (err) => finish(err), opts.timeoutMs ?? this.timeoutMs);
      const bhs = buildScsiCommand({
        itt,
        cmdSn,
        expStatSn: this.expStatSn,
        cdb,
        expectedDataTransferLength: edtl,
        read: readLength > 0,
        write: writeData.length > 0,
        final: unsolicitedDataOutEnd <= immediateLength,
        lun,
      });
      void (async () => {
        await this.connection.send({ bhs, data: writeData.subarray(0, immediateLength) });
        if (unsolicitedDataOutEnd > immediateLength) {
          await sendDataOut(RESERVED_TAG, immediateLength, unsolicitedDataOutEnd - immediateLength);
        }
      })().catch((err: Error) => finish(err));
    });
  }

  // --- SCSI helpers --------------------------------------------------------------------

  testUnitReady(): Promise<ScsiResult> {
    return this.scsi(Cdb.testUnitReady());
  }
  inquiry(allocationLength = 96, vpdPage?: number): Promise<ScsiResult> {
    return this.scsi(Cdb.inquiry(allocationLength, vpdPage), { readLength: allocationLength });
  }
  /**
   * TEST UNIT READY until GOOD, as iPXE does (up to 10 tries): clears the power-on unit
   * attention (SPC-4 6.47 / SAM-5 5.14) a fresh nexus may hold.
   */
  async clearUnitAttention(tries = 10): Promise<void> {
    let last: ScsiResult | undefined;
    for (let i = 0; i < tries; i++) {
      last = await this.testUnitReady();
      if (last.status === 0) return;
    }
    expectGood(last!, 'TEST UNIT READY');
  }

  async readCapacity(): Promise<Capacity> {
    const r16 = await this.scsi(Cdb.readCapacity16(32), { readLength: 32 });
    if (r16.status === 0) return parseReadCapacity16(r16.data);
    const r10 = await this.scsi(Cdb.readCapacity10(), { readLength: 8 });
    expectGood(r10, 'READ CAPACITY(10)');
    return parseReadCapacity10(r10.data);
  }
  read10(lba: number, blocks: number, blockSize = 512, fua = false): Promise<ScsiResult> {
    return this.scsi(Cdb.read10(lba, blocks, fua), { readLength: blocks * blockSize });
  }
  write10(lba: number, data: Buffer, opts: { blockSize?: number; fua?: boolean } = {}): Promise<ScsiResult> {
    const blockSize = opts.blockSize ?? 512;
    return this.scsi(Cdb.write10(lba, data.length / blockSize, opts.fua), { writeData: data });
  }
  read16(lba: bigint, blocks: number, blockSize = 512, fua = false): Promise<ScsiResult> {
    return this.scsi(Cdb.read16(lba, blocks, fua), { readLength: blocks * blockSize });
  }
  write16(lba: bigint, data: Buffer, opts: { blockSize?: number; fua?: boolean } = {}): Promise<ScsiResult> {
    const blockSize = opts.blockSize ?? 512;
    return this.scsi(Cdb.write16(lba, data.length / blockSize, opts.fua), { writeData: data });
  }
  synchronizeCache(): Promise<ScsiResult> {
    return this.scsi(Cdb.synchronizeCache10());
  }

  /** NOP-Out ping (RFC 7143 11.18); resolves with the echoed data. */
  async nopOut(data: Buffer = Buffer.alloc(0)): Promise<Buffer> {
    const itt = this.allocateItt();
    return new Promise<Buffer>((resolve, reject) => {
      const unregister = this.register(
        itt,
        (pdu) => {
          unregister();
          if (opcodeOf(pdu.bhs) === Opcode.NopIn) resolve(pdu.data);
          else reject(new WireError('ISCSI_WIRE_PROTOCOL', `NOP-Out answered with opcode 0x${opcodeOf(pdu.bhs).toString(16)}`));
        },
        reject,
        this.timeoutMs,
      );
      // Immediate: CmdSN is carried but not advanced (RFC 7143 4.2.2.1).
      this.connection.send({ bhs: buildNopOut({ itt, cmdSn: this.cmdSn, expStatSn: this.expStatSn }), data }).catch((err: Error) => {
        unregister();
        reject(err);
      });
    });
  }

  /** SendTargets=All in a Text Request (RFC 7143 Appendix C); returns the key pairs. */
  async sendTargets(): Promise<Array<[string, string]>> {
    const itt = this.allocateItt();
    const cmdSn = this.takeCmdSn();
    await this.waitForWindow(cmdSn);
    return new Promise((resolve, reject) => {
      const unregister = this.register(
        itt,
        (pdu) => {
          unregister();
          try {
            if (opcodeOf(pdu.bhs) !== Opcode.TextResponse) throw new WireError('ISCSI_WIRE_PROTOCOL', 'expected Text Response');
            resolve(decodeTextKeys(pdu.data));
          } catch (err) {
            reject(err as Error);
          }
        },
        reject,
        this.timeoutMs,
      );
      this.connection
        .send({ bhs: buildTextRequest({ itt, cmdSn, expStatSn: this.expStatSn }), data: encodeTextKeys([['SendTargets', 'All']]) })
        .catch((err: Error) => {
          unregister();
          reject(err);
        });
    });
  }

  /** Logout (close session) and wait for the target to close the connection. */
  async logout(): Promise<number> {
    const itt = this.allocateItt();
    const response = await new Promise<number>((resolve, reject) => {
      const unregister = this.register(
        itt,
        (pdu) => {
          unregister();
          if (opcodeOf(pdu.bhs) === Opcode.LogoutResponse) resolve(pdu.bhs[2]!);
          else reject(new WireError('ISCSI_WIRE_PROTOCOL', 'expected Logout Response'));
        },
        reject,
        this.timeoutMs,
      );
      this.connection.send({ bhs: buildLogoutRequest({ itt, cmdSn: this.cmdSn, expStatSn: this.expStatSn }) }).catch((err: Error) => {
        unregister();
        reject(err);
      });
    });
    this.connection.socket.end();
    return response;
  }

  /** Raw bytes on this session's connection. */
  sendRaw(bytes: Buffer): Promise<void> {
    return this.connection.sendRaw(bytes);
  }

  destroy(): void {
    this.connection.destroy();
  }
}

/** Throws with the sense data when a command did not complete with GOOD status. */
export function expectGood(result: ScsiResult, what: string): ScsiResult {
  if (result.response !== 0 || result.status !== 0) {
    const s = result.senseInfo;
    throw new WireError(
      'ISCSI_WIRE_PROTOCOL',
      `${what}: response ${result.response} status 0x${result.status.toString(16)}` +
        (s ? ` sense key 0x${s.key.toString(16)} asc 0x${s.asc.toString(16)} ascq 0x${s.ascq.toString(16)}` : ''),
    );
  }
  return result;
}
