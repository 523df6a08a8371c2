// BOOTP/DHCP message codec. Pure: bytes in, values out, no I/O.
//
// Every input is treated as hostile: each read is bounds-checked against the datagram, option
// lengths are checked against the field they sit in, the whole message is length-limited, and
// every failure is a DhcpParseError with a code. Nothing else is ever thrown from decode*.
//
// References: RFC 2131 (message format, section 2 and 4.1), RFC 2132 (options), RFC 3396
// (long options split across instances), RFC 3004 (user class), RFC 4578 (options 93/94/97),
// PXE 2.1 spec (option 43 sub-options), iPXE (option 175 encapsulated settings).

export type DhcpParseErrorCode =
  | 'DHCP_TRUNCATED'
  | 'DHCP_TOO_LARGE'
  | 'DHCP_BAD_OP'
  | 'DHCP_BAD_HLEN'
  | 'DHCP_BAD_COOKIE'
  | 'DHCP_OPTION_OVERRUN'
  | 'DHCP_MISSING_END'
  | 'DHCP_OVERLOAD_LOOP'
  | 'DHCP_BAD_OPTION';

// The decoder's one failure. It stays inside src/dhcp: the socket owners drop the datagram and
// log the code; nothing outside the part sees it, so it is not a LanbootError.
export class DhcpParseError extends Error {
  override readonly name = 'DhcpParseError';
  constructor(
    readonly code: DhcpParseErrorCode,
    message: string,
  ) {
    super(message);
  }
}

// The encoder's refusal of a value it cannot put on the wire; stays inside src/dhcp like
// DhcpParseError (the servers log it and send nothing).
export class DhcpEncodeError extends Error {
  override readonly name = 'DhcpEncodeError';
  constructor(
    readonly code: 'DHCP_ENCODE_INVALID' | 'DHCP_ENCODE_TOO_LARGE',
    message: string,
  ) {
    super(message);
  }
}

/** RFC 2131 section 3: the magic cookie 99.130.83.99 that starts the options field. */
export const MAGIC_COOKIE = 0x63825363;
/** RFC 2131 section 2: op, htype, hlen, hops, xid, secs, flags, 4 addresses, chaddr, sname, file. */
export const FIXED_HEADER_BYTES = 236;
export const OPTIONS_OFFSET = FIXED_HEADER_BYTES + 4;
const SNAME_OFFSET = 44;
const SNAME_BYTES = 64;
const FILE_OFFSET = 108;
const FILE_BYTES = 128;
/** Largest datagram we accept. RFC 2131 lets a client raise the limit with option 57, but nothing
 *  PXE or a normal client sends comes near this; anything bigger is an attack or garbage. */
export const MAX_MESSAGE_BYTES = 8192;
/** RFC 951 / RFC 1542 section 2.1: BOOTP relays and old clients expect at least 300 bytes. */
export const MIN_ENCODED_BYTES = 300;

export const BootpOp = { REQUEST: 1, REPLY: 2 } as const;

/** RFC 2132 section 9.6. */
export const DhcpMessageType = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8,
} as const;
export type DhcpMessageTypeValue = (typeof DhcpMessageType)[keyof typeof DhcpMessageType];

export const DhcpOption = {
  PAD: 0,
  SUBNET_MASK: 1,
  ROUTER: 3,
  DNS_SERVERS: 6,
  HOSTNAME: 12,
  DOMAIN_NAME: 15,
  BROADCAST_ADDRESS: 28,
  VENDOR_SPECIFIC: 43,
  REQUESTED_IP: 50,
  LEASE_TIME: 51,
  OVERLOAD: 52,
  MESSAGE_TYPE: 53,
  SERVER_ID: 54,
  PARAMETER_REQUEST_LIST: 55,
  MESSAGE: 56,
  MAX_MESSAGE_SIZE: 57,
  RENEWAL_TIME: 58,
  REBINDING_TIME: 59,
  VENDOR_CLASS: 60,
  CLIENT_ID: 61,
  TFTP_SERVER_NAME: 66,
  BOOTFILE_NAME: 67,
  USER_CLASS: 77,
  CLIENT_ARCH: 93,
  CLIENT_NDI: 94,
  CLIENT_UUID: 97,
  IPXE_ENCAP: 175,
  END: 255,
} as const;

/** PXE 2.1 spec, option 43 sub-options used by a proxyDHCP. */
export const PxeSubOption = {
  DISCOVERY_CONTROL: 6,
  BOOT_SERVERS: 8,
  BOOT_MENU: 9,
  MENU_PROMPT: 10,
  BOOT_ITEM: 71,
} as const;

export interface DhcpMessage {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** The hlen bytes of chaddr that are the hardware address. */
  chaddr: Buffer;
  /** Server host name, "" when empty or when the field carries options (overload). */
  sname: string;
  /** Boot file name, "" when empty or when the field carries options (overload). */
  file: string;
  /** Every option, instances of one code concatenated in order (RFC 3396 section 4). */
  options: Map<number, Buffer>;
}

/** RFC 2131 section 2: the broadcast bit is the top bit of flags. */
export const FLAG_BROADCAST = 0x8000;

function ipv4At(buf: Buffer, offset: number): string {
  return `${buf[offset]}.${buf[offset + 1]}.${buf[offset + 2]}.${buf[offset + 3]}`;
}

/** A NUL-terminated field; bytes after the first NUL are ignored (RFC 2131 section 2). */
function cStringAt(buf: Buffer, offset: number, length: number): string {
  const field = buf.subarray(offset, offset + length);
  const nul = field.indexOf(0);
  return field.subarray(0, nul === -1 ? field.length : nul).toString('latin1');
}

/** Walks one option area (RFC 2132 section 2): pad and end are single bytes, every other option
 *  is code, length, value. Appends instances to `into`; returns whether an end option was seen. */
function walkOptionArea(
  buf: Buffer,
  start: number,
  end: number,
  area: string,
  into: Map<number, Buffer[]>,
): boolean {
  let pos = start;
  while (pos < end) {
    const code = buf[pos]!;
    if (code === DhcpOption.PAD) {
      pos += 1;
      continue;
    }
    if (code === DhcpOption.END) return true;
    if (pos + 1 >= end) {
      throw new DhcpParseError('DHCP_OPTION_OVERRUN', `option ${code} in ${area} has no length byte`);
    }
    const length = buf[pos + 1]!;
    const valueStart = pos + 2;
    if (valueStart + length > end) {
      throw new DhcpParseError(
        'DHCP_OPTION_OVERRUN',
        `option ${code} in ${area} claims ${length} bytes, only ${end - valueStart} left`,
      );
    }
    const list = into.get(code);
    const value = buf.subarray(valueStart, valueStart + length);
    if (list) list.push(value);
    else into.set(code, [value]);
    pos = valueStart + length;
  }
  return false;
}

/** Decodes a BOOTP/DHCP datagram. Throws only DhcpParseError. */
export function decodeDhcpMessage(datagram: Uint8Array): DhcpMessage {
  const buf = Buffer.isBuffer(datagram) ? datagram : Buffer.from(datagram.buffer, datagram.byteOffset, datagram.byteLength);
  if (buf.length > MAX_MESSAGE_BYTES) {
    throw new DhcpParseError('DHCP_TOO_LARGE', `message of ${buf.length} bytes exceeds ${MAX_MESSAGE_BYTES}`);
  }
  if (buf.length < OPTIONS_OFFSET) {
    throw new DhcpParseError('DHCP_TRUNCATED', `message of ${buf.length} bytes is shorter than the ${OPTIONS_OFFSET}-byte header`);
  }
  const op = buf[0]!;
  if (op !== BootpOp.REQUEST && op !== BootpOp.REPLY) {
    throw new DhcpParseError('DHCP_BAD_OP', `op ${op} is neither BOOTREQUEST nor BOOTREPLY`);
  }
  const hlen = buf[2]!;
  if (hlen > 16) throw new DhcpParseError('DHCP_BAD_HLEN', `hlen ${hlen} exceeds the 16-byte chaddr field`);
  if (buf.readUInt32BE(FIXED_HEADER_BYTES) !== MAGIC_COOKIE) {
    throw new DhcpParseError('DHCP_BAD_COOKIE', 'options do not start with the DHCP magic cookie (RFC 2131 section 3)');
  }

  const instances = new Map<number, Buffer[]>();
  const sawEnd = walkOptionArea(buf, OPTIONS_OFFSET, buf.length, 'options', instances);
  if (!sawEnd) throw new DhcpParseError('DHCP_MISSING_END', 'options field has no end option (RFC 2131 section 4.1)');

  // RFC 2132 section 9.3: option 52 says file and/or sname carry more options. It is only
  // honoured in the options field; read file first, then sname (RFC 2131 section 4.1).
  let overload = 0;
  const overloadInstances = instances.get(DhcpOption.OVERLOAD);
  if (overloadInstances) {
    const value = Buffer.concat(overloadInstances);
    if (value.length !== 1 || value[0]! < 1 || value[0]! > 3) {
      throw new DhcpParseError('DHCP_BAD_OPTION', 'option 52 (overload) must be one byte of value 1, 2 or 3');
    }
    overload = value[0]!;
    const overloadCountBefore = overloadInstances.length;
    if (overload & 1) {
      if (!walkOptionArea(buf, FILE_OFFSET, FILE_OFFSET + FILE_BYTES, 'file', instances)) {
        throw new DhcpParseError('DHCP_MISSING_END', 'overloaded file field has no end option');
      }
    }
    if (overload & 2) {
      if (!walkOptionArea(buf, SNAME_OFFSET, SNAME_OFFSET + SNAME_BYTES, 'sname', instances)) {
        throw new DhcpParseError('DHCP_MISSING_END', 'overloaded sname field has no end option');
      }
    }
    // An option 52 inside an overloaded field would point at fields already read: a loop.
    if (instances.get(DhcpOption.OVERLOAD)!.length !== overloadCountBefore) {
      throw new DhcpParseError('DHCP_OVERLOAD_LOOP', 'option 52 (overload) appears inside an overloaded field');
    }
  }

  const options = new Map<number, Buffer>();
  for (const [code, parts] of instances) {
    // RFC 3396 section 4: instances of one option are concatenated in the order read. Copy so
    // the message does not pin (or alias) the receive buffer.
    options.set(code, Buffer.from(parts.length === 1 ? parts[0]! : Buffer.concat(parts)));
  }

  return {
    op,
    htype: buf[1]!,
    hlen,
    hops: buf[3]!,
    xid: buf.readUInt32BE(4),
    secs: buf.readUInt16BE(8),
    flags: buf.readUInt16BE(10),
    ciaddr: ipv4At(buf, 12),
    yiaddr: ipv4At(buf, 16),
    siaddr: ipv4At(buf, 20),
    giaddr: ipv4At(buf, 24),
    chaddr: Buffer.from(buf.subarray(28, 28 + hlen)),
    sname: overload & 2 ? '' : cStringAt(buf, SNAME_OFFSET, SNAME_BYTES),
    file: overload & 1 ? '' : cStringAt(buf, FILE_OFFSET, FILE_BYTES),
    options,
  };
}

// ---------------------------------------------------------------------------------------------
// Encoding

export interface DhcpMessageInput {
  op: number;
  htype?: number;
  hlen?: number;
  hops?: number;
  xid: number;
  secs?: number;
  flags?: number;
  ciaddr?: string;
  yiaddr?: string;
  siaddr?: string;
  giaddr?: string;
  chaddr: Buffer;
  sname?: string;
  file?: string;
  /** Options in the order to write them; option 53 is always written first. */
  options: Array<[code: number, value: Buffer]>;
}

const IPV4_PATTERN = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function ipv4ToBuffer(address: string): Buffer {
  const match = IPV4_PATTERN.exec(address);
  if (!match) throw new DhcpEncodeError('DHCP_ENCODE_INVALID', `not an IPv4 address: ${address}`);
  const bytes = match.slice(1).map(Number);
  if (bytes.some((b) => b > 255)) throw new DhcpEncodeError('DHCP_ENCODE_INVALID', `not an IPv4 address: ${address}`);
  return Buffer.from(bytes);
}

export function isIpv4(address: string): boolean {
  const match = IPV4_PATTERN.exec(address);
  return match !== null && match.slice(1).every((b) => Number(b) <= 255);
}

function writeCString(target: Buffer, offset: number, length: number, value: string, field: string): void {
  const bytes = Buffer.from(value, 'latin1');
  // One byte is kept for the terminating NUL.
  if (bytes.length > length - 1) {
    throw new DhcpEncodeError('DHCP_ENCODE_INVALID', `${field} "${value}" is longer than ${length - 1} bytes`);
  }
  bytes.copy(target, offset);
}

/** Encodes a message. Values longer than 255 bytes are split into consecutive instances
 *  (RFC 3396 section 5). The result is padded to 300 bytes for BOOTP relays. */
export function encodeDhcpMessage(message: DhcpMessageInput): Buffer {
  const header = Buffer.alloc(OPTIONS_OFFSET);
  const hlen = message.hlen ?? message.chaddr.length;
  if (message.chaddr.length > 16 || hlen > 16) {
    throw new DhcpEncodeError('DHCP_ENCODE_INVALID', 'chaddr is longer than 16 bytes');
  }
  header[0] = message.op;
  header[1] = message.htype ?? 1;
  header[2] = hlen;
  header[3] = message.hops ?? 0;
  header.writeUInt32BE(message.xid >>> 0, 4);
  header.writeUInt16BE(message.secs ?? 0, 8);
  header.writeUInt16BE(message.flags ?? 0, 10);
  ipv4ToBuffer(message.ciaddr ?? '0.0.0.0').copy(header, 12);
  ipv4ToBuffer(message.yiaddr ?? '0.0.0.0').copy(header, 16);
  ipv4ToBuffer(message.siaddr ?? '0.0.0.0').copy(header, 20);
  ipv4ToBuffer(message.giaddr ?? '0.0.0.0').copy(header, 24);
  message.chaddr.copy(header, 28);
  writeCString(header, SNAME_OFFSET, SNAME_BYTES, message.sname ?? '', 'sname');
  writeCString(header, FILE_OFFSET, FILE_BYTES, message.file ?? '', 'file');
  header.writeUInt32BE(MAGIC_COOKIE, FIXED_HEADER_BYTES);

  const ordered = [
    ...message.options.filter(([code]) => code === DhcpOption.MESSAGE_TYPE),
    ...message.options.filter(([code]) => code !== DhcpOption.MESSAGE_TYPE),
  ];
  const parts: Buffer[] = [header];
  for (const [code, value] of ordered) {
    if (!Number.isInteger(code) || code <= DhcpOption.PAD || code >= DhcpOption.END) {
      throw new DhcpEncodeError('DHCP_ENCODE_INVALID', `option code ${code} cannot carry a value`);
    }
    if (value.length === 0) {
      parts.push(Buffer.from([code, 0]));
      continue;
    }
    for (let offset = 0; offset < value.length; offset += 255) {
      const chunk = value.subarray(offset, Math.min(offset + 255, value.length));
      parts.push(Buffer.from([code, chunk.length]), chunk);
    }
  }
  parts.push(Buffer.from([DhcpOption.END]));
  let out = Buffer.concat(parts);
  if (out.length < MIN_ENCODED_BYTES) out = Buffer.concat([out, Buffer.alloc(MIN_ENCODED_BYTES - out.length)]);
  if (out.length > MAX_MESSAGE_BYTES) {
    throw new DhcpEncodeError('DHCP_ENCODE_TOO_LARGE', `encoded message of ${out.length} bytes exceeds ${MAX_MESSAGE_BYTES}`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Option value codecs

/** Sub-options of an encapsulated option (RFC 2132 section 8.4 for 43; iPXE uses the same
 *  layout for 175): code, length, value, with pad (0) and end (255). Concatenates repeats. */
export function decodeEncapsulated(value: Buffer, optionCode: number): Map<number, Buffer> {
  const parts = new Map<number, Buffer[]>();
  let pos = 0;
  while (pos < value.length) {
    const code = value[pos]!;
    if (code === 0) {
      pos += 1;
      continue;
    }
    if (code === 255) break;
    if (pos + 1 >= value.length) {
      throw new DhcpParseError('DHCP_BAD_OPTION', `option ${optionCode}: sub-option ${code} has no length byte`);
    }
    const length = value[pos + 1]!;
    if (pos + 2 + length > value.length) {
      throw new DhcpParseError('DHCP_BAD_OPTION', `option ${optionCode}: sub-option ${code} overruns the option`);
    }
    const sub = value.subarray(pos + 2, pos + 2 + length);
    const list = parts.get(code);
    if (list) list.push(sub);
    else parts.set(code, [sub]);
    pos += 2 + length;
  }
  const out = new Map<number, Buffer>();
  for (const [code, list] of parts) out.set(code, Buffer.concat(list));
  return out;
}

export function encodeEncapsulated(subOptions: Array<[code: number, value: Buffer]>): Buffer {
  const parts: Buffer[] = [];
  for (const [code, value] of subOptions) {
    if (code <= 0 || code >= 255 || value.length > 255) {
      throw new DhcpEncodeError('DHCP_ENCODE_INVALID', `sub-option ${code} of ${value.length} bytes cannot be encoded`);
    }
    parts.push(Buffer.from([code, value.length]), value);
  }
  parts.push(Buffer.from([255]));
  return Buffer.concat(parts);
}

/** RFC 3004 section 4: a list of (length, data) instances. iPXE instead sends the plain string
 *  "iPXE" (as do some other clients); a value that does not parse exactly as RFC 3004 is read
 *  as one plain string. */
export function decodeUserClass(value: Buffer): string[] {
  const classes: string[] = [];
  let pos = 0;
  while (pos < value.length) {
    const length = value[pos]!;
    if (length === 0 || pos + 1 + length > value.length) return [value.toString('latin1')];
    classes.push(value.subarray(pos + 1, pos + 1 + length).toString('latin1'));
    pos += 1 + length;
  }
  return classes;
}

export function encodeUserClassRfc3004(classes: string[]): Buffer {
  return Buffer.concat(
    classes.map((userClass) => {
      const bytes = Buffer.from(userClass, 'latin1');
      if (bytes.length < 1 || bytes.length > 255) {
        throw new DhcpEncodeError('DHCP_ENCODE_INVALID', `user class "${userClass}" must be 1..255 bytes`);
      }
      return Buffer.concat([Buffer.from([bytes.length]), bytes]);
    }),
  );
}

/** RFC 4578 section 2.1: option 93 is a list of 16-bit architecture types. */
export function decodeClientArchitectures(value: Buffer): number[] {
  if (value.length === 0 || value.length % 2 !== 0) {
    throw new DhcpParseError('DHCP_BAD_OPTION', `option 93 must be a non-empty list of 16-bit types, got ${value.length} bytes`);
  }
  const types: number[] = [];
  for (let pos = 0; pos < value.length; pos += 2) types.push(value.readUInt16BE(pos));
  return types;
}

export interface ClientNdi {
  type: number;
  major: number;
  minor: number;
}

/** RFC 4578 section 2.2: type 1 (UNDI), major, minor. */
export function decodeClientNdi(value: Buffer): ClientNdi {
  if (value.length !== 3) throw new DhcpParseError('DHCP_BAD_OPTION', `option 94 must be 3 bytes, got ${value.length}`);
  return { type: value[0]!, major: value[1]!, minor: value[2]! };
}

/** RFC 4578 section 2.3: type 0 followed by a 16-byte GUID. Returns the GUID as hex. */
export function decodeClientUuid(value: Buffer): string {
  if (value.length !== 17 || value[0] !== 0) {
    throw new DhcpParseError('DHCP_BAD_OPTION', `option 97 must be type 0 and a 16-byte GUID, got ${value.length} bytes`);
  }
  return value.subarray(1).toString('hex');
}

export function decodeIpv4List(value: Buffer, optionCode: number): string[] {
  if (value.length === 0 || value.length % 4 !== 0) {
    throw new DhcpParseError('DHCP_BAD_OPTION', `option ${optionCode} must be a list of IPv4 addresses, got ${value.length} bytes`);
  }
  const out: string[] = [];
  for (let pos = 0; pos < value.length; pos += 4) out.push(ipv4At(value, pos));
  return out;
}

export function decodeIpv4(value: Buffer, optionCode: number): string {
  if (value.length !== 4) throw new DhcpParseError('DHCP_BAD_OPTION', `option ${optionCode} must be 4 bytes, got ${value.length}`);
  return ipv4At(value, 0);
}

export function decodeUint32(value: Buffer, optionCode: number): number {
  if (value.length !== 4) throw new DhcpParseError('DHCP_BAD_OPTION', `option ${optionCode} must be 4 bytes, got ${value.length}`);
  return value.readUInt32BE(0);
}

export function encodeUint32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value >>> 0);
  return out;
}

export function encodeUint16List(values: number[]): Buffer {
  const out = Buffer.alloc(values.length * 2);
  values.forEach((v, i) => out.writeUInt16BE(v, i * 2));
  return out;
}

export function formatMac(bytes: Buffer): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

export function parseMac(mac: string): Buffer {
  const match = /^([0-9a-fA-F]{2})([:-]?)([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})$/.exec(mac);
  if (!match) throw new DhcpEncodeError('DHCP_ENCODE_INVALID', `not a MAC address: ${mac}`);
  return Buffer.from([match[1], match[3], match[4], match[5], match[6], match[7]].map((h) => parseInt(h!, 16)));
}

// ---------------------------------------------------------------------------------------------
// A request read for the fields servers act on

export interface DhcpClientRequest {
  message: DhcpMessage;
  /** Option 53; undefined for a plain BOOTP request. */
  messageType: number | undefined;
  /** chaddr as aa:bb:..; for htype 1 / hlen 6 (Ethernet) only, "" otherwise. */
  mac: string;
  /** Option 93, or the Arch field of a PXEClient vendor class; [] if neither. */
  architectures: number[];
  /** Option 60 as text, "" if absent. */
  vendorClass: string;
  /** Option 77 classes (RFC 3004 list or a plain string). */
  userClasses: string[];
  /** Option 175 sub-options, undefined if absent. */
  ipxeSettings: Map<number, Buffer> | undefined;
  /** Option 43 sub-options, undefined if absent or not a PXE client. */
  pxeVendorOptions: Map<number, Buffer> | undefined;
  ndi: ClientNdi | undefined;
  /** Option 97 raw value (echoed back to PXE clients), undefined if absent. */
  uuidOption: Buffer | undefined;
  uuid: string | undefined;
  requestedIp: string | undefined;
  serverId: string | undefined;
  /** Option 61 as hex, undefined if absent. */
  clientId: string | undefined;
  hostname: string | undefined;
  parameterRequestList: number[];
  maxMessageSize: number | undefined;
}

const PXE_VENDOR_ARCH = /^PXEClient:Arch:(\d{5})/;
/** Limit on text options kept in events and logs; longer values are cut, not rejected. */
const MAX_TEXT_OPTION_CHARS = 255;

function text(value: Buffer | undefined): string {
  if (!value) return '';
  // Control characters are replaced so a hostile value cannot forge log lines.
  return value.toString('latin1').slice(0, MAX_TEXT_OPTION_CHARS).replace(/[\x00-\x1f\x7f]/g, '?');
}

/** Reads the options a DHCP server acts on. Throws only DhcpParseError. */
export function readClientRequest(message: DhcpMessage): DhcpClientRequest {
  const opt = (code: number) => message.options.get(code);
  const typeValue = opt(DhcpOption.MESSAGE_TYPE);
  if (typeValue && typeValue.length !== 1) {
    throw new DhcpParseError('DHCP_BAD_OPTION', `option 53 must be 1 byte, got ${typeValue.length}`);
  }
  const vendorClass = text(opt(DhcpOption.VENDOR_CLASS));
  let architectures: number[] = [];
  const archValue = opt(DhcpOption.CLIENT_ARCH);
  if (archValue) architectures = decodeClientArchitectures(archValue);
  else {
    const match = PXE_VENDOR_ARCH.exec(vendorClass);
    if (match) architectures = [Number(match[1])];
  }
  const ndiValue = opt(DhcpOption.CLIENT_NDI);
  const uuidValue = opt(DhcpOption.CLIENT_UUID);
  const ipxeValue = opt(DhcpOption.IPXE_ENCAP);
  const vendorValue = opt(DhcpOption.VENDOR_SPECIFIC);
  const requested = opt(DhcpOption.REQUESTED_IP);
  const serverId = opt(DhcpOption.SERVER_ID);
  const clientId = opt(DhcpOption.CLIENT_ID);
  const hostname = opt(DhcpOption.HOSTNAME);
  const maxSize = opt(DhcpOption.MAX_MESSAGE_SIZE);
  if (maxSize && maxSize.length !== 2) throw new DhcpParseError('DHCP_BAD_OPTION', 'option 57 must be 2 bytes');
  const userClassValue = opt(DhcpOption.USER_CLASS);
  return {
    message,
    messageType: typeValue ? typeValue[0] : undefined,
    mac: message.htype === 1 && message.hlen === 6 ? formatMac(message.chaddr) : '',
    architectures,
    vendorClass,
    userClasses: userClassValue ? decodeUserClass(userClassValue).map((c) => text(Buffer.from(c, 'latin1'))) : [],
    ipxeSettings: ipxeValue ? decodeEncapsulated(ipxeValue, DhcpOption.IPXE_ENCAP) : undefined,
    pxeVendorOptions:
      vendorValue && vendorClass.startsWith('PXEClient') ? decodeEncapsulated(vendorValue, DhcpOption.VENDOR_SPECIFIC) : undefined,
    ndi: ndiValue ? decodeClientNdi(ndiValue) : undefined,
    uuidOption: uuidValue,
    uuid: uuidValue ? decodeClientUuid(uuidValue) : undefined,
    requestedIp: requested ? decodeIpv4(requested, DhcpOption.REQUESTED_IP) : undefined,
    serverId: serverId ? decodeIpv4(serverId, DhcpOption.SERVER_ID) : undefined,
    clientId: clientId ? clientId.toString('hex') : undefined,
    hostname: hostname ? text(hostname) : undefined,
    parameterRequestList: [...(opt(DhcpOption.PARAMETER_REQUEST_LIST) ?? [])],
    maxMessageSize: maxSize ? maxSize.readUInt16BE(0) : undefined,
  };
}

/** decodeDhcpMessage + readClientRequest; for request (op 1) datagrams. */
export function decodeClientRequest(datagram: Uint8Array): DhcpClientRequest {
  const message = decodeDhcpMessage(datagram);
  if (message.op !== BootpOp.REQUEST) throw new DhcpParseError('DHCP_BAD_OP', 'expected a BOOTREQUEST');
  return readClientRequest(message);
}
