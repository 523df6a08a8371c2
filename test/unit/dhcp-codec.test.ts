// DHCP codec: literal packets as PXE ROMs, UEFI firmware and iPXE send them, and hostile ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import {
  decodeClientRequest,
  decodeDhcpMessage,
  decodeUserClass,
  DhcpParseError,
  encodeDhcpMessage,
  encodeUserClassRfc3004,
  readClientRequest,
  DhcpOption,
  MAX_MESSAGE_BYTES,
} from '../../src/dhcp/codec.js';

const ascii = (s: string): number[] => [...Buffer.from(s, 'latin1')];

/** A BOOTREQUEST fixed header as a PXE ROM sends it: op 1, Ethernet, hlen 6, xid, secs 4,
 *  broadcast flag, no addresses, chaddr 52:54:00:12:34:56, empty sname/file, cookie. */
function header(overrides: { op?: number; hlen?: number; file?: number[]; sname?: number[]; cookie?: number[] } = {}): number[] {
  const bytes = [
    overrides.op ?? 0x01, 0x01, overrides.hlen ?? 0x06, 0x00, // op, htype, hlen, hops
    0x9a, 0x7c, 0x21, 0x3e, // xid
    0x00, 0x04, 0x80, 0x00, // secs, flags (broadcast)
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // ciaddr yiaddr siaddr giaddr
    0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // chaddr
  ];
  const sname = [...(overrides.sname ?? [])];
  const file = [...(overrides.file ?? [])];
  bytes.push(...sname, ...new Array(64 - sname.length).fill(0));
  bytes.push(...file, ...new Array(128 - file.length).fill(0));
  bytes.push(...(overrides.cookie ?? [0x63, 0x82, 0x53, 0x63]));
  return bytes;
}

const uuid = [0x00, 0x56, 0x4d, 0x1c, 0x3a, 0x9e, 0x0e, 0x11, 0x4f, 0x8a, 0x02, 0x5e, 0xd2, 0x60, 0x1a, 0x76, 0x44];

// Intel-style PXE 2.1 BIOS ROM DHCPDISCOVER.
const pxeBiosDiscover = Buffer.from([
  ...header(),
  0x35, 0x01, 0x01, // 53 DHCPDISCOVER
  0x39, 0x02, 0x04, 0xec, // 57 max message size 1260
  0x5d, 0x02, 0x00, 0x00, // 93 arch 0 (BIOS)
  0x5e, 0x03, 0x01, 0x02, 0x01, // 94 UNDI 2.1
  0x61, 0x11, ...uuid, // 97 UUID
  0x3c, 0x20, ...ascii('PXEClient:Arch:00000:UNDI:002001'), // 60
  0x37, 0x18, 0x01, 0x02, 0x03, 0x05, 0x06, 0x0b, 0x0c, 0x0d, 0x0f, 0x10, 0x11, 0x12, 0x2b, 0x36, 0x3c, 0x43, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, // 55
  0xff,
]);

// edk2 (OVMF) UEFI PXE DHCPDISCOVER, arch 7.
const uefiDiscover = Buffer.from([
  ...header(),
  0x35, 0x01, 0x01,
  0x39, 0x02, 0x05, 0xc0,
  0x37, 0x23, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0c, 0x0d, 0x0f, 0x11, 0x12, 0x16, 0x17, 0x1c, 0x28, 0x29, 0x2a, 0x2b, 0x32, 0x33, 0x36, 0x3a, 0x3b, 0x3c, 0x42, 0x43, 0x61, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
  0x61, 0x11, ...uuid,
  0x5e, 0x03, 0x01, 0x03, 0x00, // 94 UNDI 3.0
  0x5d, 0x02, 0x00, 0x07, // 93 arch 7
  0x3c, 0x20, ...ascii('PXEClient:Arch:00007:UNDI:003000'),
  0xff,
]);

// UEFI HTTP boot DHCPDISCOVER, arch 16.
const httpBootDiscover = Buffer.from([
  ...header(),
  0x35, 0x01, 0x01,
  0x5d, 0x02, 0x00, 0x10,
  0x5e, 0x03, 0x01, 0x03, 0x00,
  0x3c, 0x21, ...ascii('HTTPClient:Arch:00016:UNDI:003000'),
  0x37, 0x04, 0x01, 0x03, 0x3c, 0x43,
  0xff,
]);

// iPXE DHCPDISCOVER: user class plain "iPXE", option 175 with feature flags.
const ipxeDiscover = Buffer.from([
  ...header(),
  0x35, 0x01, 0x01,
  0x39, 0x02, 0x05, 0xdc,
  0x5d, 0x02, 0x00, 0x00,
  0x5e, 0x03, 0x01, 0x02, 0x01,
  0x3c, 0x20, ...ascii('PXEClient:Arch:00000:UNDI:002001'),
  0x4d, 0x04, ...ascii('iPXE'), // 77 user class, iPXE's plain-string form
  0x37, 0x17, 0x01, 0x03, 0x06, 0x07, 0x0c, 0x0f, 0x11, 0x1a, 0x2b, 0x3c, 0x42, 0x43, 0x77, 0x79, 0x7d, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0xaf,
  0xaf, 0x0c, 0x13, 0x01, 0x01, 0x11, 0x01, 0x01, 0x15, 0x01, 0x01, 0xeb, 0x01, 0x01, // 175: http, iscsi, dns, pxeext
  0x3d, 0x07, 0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, // 61 client id
  0xff,
]);

function parseError(fn: () => unknown): DhcpParseError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof DhcpParseError, `expected DhcpParseError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a DhcpParseError');
}

test('PXE BIOS DISCOVER: arch 0, UNDI 2.1, UUID, vendor class', () => {
  const request = decodeClientRequest(pxeBiosDiscover);
  assert.equal(request.messageType, 1);
  assert.equal(request.mac, '52:54:00:12:34:56');
  assert.equal(request.message.xid, 0x9a7c213e);
  assert.equal(request.message.flags, 0x8000);
  assert.deepEqual(request.architectures, [0]);
  assert.deepEqual(request.ndi, { type: 1, major: 2, minor: 1 });
  assert.equal(request.uuid, Buffer.from(uuid.slice(1)).toString('hex'));
  assert.equal(request.vendorClass, 'PXEClient:Arch:00000:UNDI:002001');
  assert.equal(request.maxMessageSize, 1260);
  assert.equal(request.parameterRequestList.length, 24);
  assert.ok(request.pxeVendorOptions === undefined);
  assert.deepEqual(request.userClasses, []);
  assert.equal(request.ipxeSettings, undefined);
});

test('UEFI PXE DISCOVER: arch 7, UNDI 3.0', () => {
  const request = decodeClientRequest(uefiDiscover);
  assert.deepEqual(request.architectures, [7]);
  assert.deepEqual(request.ndi, { type: 1, major: 3, minor: 0 });
  assert.ok(request.parameterRequestList.includes(DhcpOption.CLIENT_UUID));
});

test('UEFI HTTP boot DISCOVER: HTTPClient, arch 16', () => {
  const request = decodeClientRequest(httpBootDiscover);
  assert.equal(request.vendorClass, 'HTTPClient:Arch:00016:UNDI:003000');
  assert.deepEqual(request.architectures, [16]);
});

test('iPXE DISCOVER: plain user class and option 175', () => {
  const request = decodeClientRequest(ipxeDiscover);
  assert.deepEqual(request.userClasses, ['iPXE']);
  assert.ok(request.ipxeSettings);
  assert.deepEqual([...request.ipxeSettings.keys()], [0x13, 0x11, 0x15, 0xeb]);
  assert.equal(request.clientId, '01525400123456');
});

test('user class: RFC 3004 list and plain string', () => {
  assert.deepEqual(decodeUserClass(Buffer.from([4, ...ascii('iPXE'), 3, ...ascii('lab')])), ['iPXE', 'lab']);
  assert.deepEqual(decodeUserClass(Buffer.from(ascii('iPXE'))), ['iPXE']);
  // A zero-length class is not valid RFC 3004: read as one string.
  assert.deepEqual(decodeUserClass(Buffer.from([0, 1])), ['\u0000\u0001']);
  assert.deepEqual(decodeUserClass(encodeUserClassRfc3004(['a', 'bc'])), ['a', 'bc']);
});

test('arch from the vendor class when option 93 is missing', () => {
  const packet = Buffer.from([...header(), 0x35, 0x01, 0x01, 0x3c, 0x20, ...ascii('PXEClient:Arch:00009:UNDI:003016'), 0xff]);
  assert.deepEqual(decodeClientRequest(packet).architectures, [9]);
});

test('overload (option 52): options in file and sname are read, file then sname', () => {
  const packet = Buffer.from([
    ...header({
      file: [0x0c, 0x05, ...ascii('host1'), 0x3c, 0x05, ...ascii('Clien'), 0xff],
      sname: [0x0f, 0x03, ...ascii('lan'), 0x3c, 0x01, ...ascii('t'), 0xff],
    }),
    0x35, 0x01, 0x01,
    0x34, 0x01, 0x03,
    0x3c, 0x03, ...ascii('PXE'),
    0xff,
  ]);
  const message = decodeDhcpMessage(packet);
  assert.equal(message.file, '');
  assert.equal(message.sname, '');
  assert.equal(message.options.get(12)?.toString(), 'host1');
  assert.equal(message.options.get(15)?.toString(), 'lan');
  // RFC 3396: instances concatenated in the order options, file, sname.
  assert.equal(message.options.get(60)?.toString(), 'PXEClient');
});

test('without overload, file and sname are NUL-terminated strings', () => {
  const packet = Buffer.from([...header({ file: [...ascii('undionly.kpxe'), 0, 0x41], sname: ascii('boot') }), 0x35, 0x01, 0x01, 0xff]);
  const message = decodeDhcpMessage(packet);
  assert.equal(message.file, 'undionly.kpxe');
  assert.equal(message.sname, 'boot');
});

test('overload loop: option 52 inside an overloaded field is refused', () => {
  const packet = Buffer.from([...header({ file: [0x34, 0x01, 0x01, 0xff] }), 0x34, 0x01, 0x01, 0xff]);
  assert.equal(parseError(() => decodeDhcpMessage(packet)).code, 'DHCP_OVERLOAD_LOOP');
  const both = Buffer.from([...header({ sname: [0x34, 0x01, 0x03, 0xff], file: [0xff] }), 0x34, 0x01, 0x03, 0xff]);
  assert.equal(parseError(() => decodeDhcpMessage(both)).code, 'DHCP_OVERLOAD_LOOP');
});

test('overload with a bad value or an unterminated field', () => {
  assert.equal(parseError(() => decodeDhcpMessage(Buffer.from([...header(), 0x34, 0x01, 0x07, 0xff]))).code, 'DHCP_BAD_OPTION');
  assert.equal(parseError(() => decodeDhcpMessage(Buffer.from([...header(), 0x34, 0x02, 0x01, 0x01, 0xff]))).code, 'DHCP_BAD_OPTION');
  // file field full of pad bytes and no end option.
  assert.equal(parseError(() => decodeDhcpMessage(Buffer.from([...header(), 0x34, 0x01, 0x01, 0xff]))).code, 'DHCP_MISSING_END');
  // An option in the file field running past the field's 128 bytes.
  const overrun = Buffer.from([...header({ file: [0x0c, 0xfe, 0x41] }), 0x34, 0x01, 0x01, 0xff]);
  assert.equal(parseError(() => decodeDhcpMessage(overrun)).code, 'DHCP_OPTION_OVERRUN');
});

test('truncated packets', () => {
  assert.equal(parseError(() => decodeDhcpMessage(Buffer.alloc(0))).code, 'DHCP_TRUNCATED');
  assert.equal(parseError(() => decodeDhcpMessage(pxeBiosDiscover.subarray(0, 239))).code, 'DHCP_TRUNCATED');
  // Cut in the middle of option 60's value.
  const cut = pxeBiosDiscover.subarray(0, 240 + 3 + 4 + 4 + 5 + 19 + 10);
  assert.equal(parseError(() => decodeDhcpMessage(cut)).code, 'DHCP_OPTION_OVERRUN');
  // Cut exactly between two options: no end option.
  assert.equal(parseError(() => decodeDhcpMessage(pxeBiosDiscover.subarray(0, 243))).code, 'DHCP_MISSING_END');
  // Cut after an option code, before its length.
  assert.equal(parseError(() => decodeDhcpMessage(pxeBiosDiscover.subarray(0, 244))).code, 'DHCP_OPTION_OVERRUN');
});

test('every prefix of real packets parses or fails with DhcpParseError', () => {
  for (const packet of [pxeBiosDiscover, uefiDiscover, httpBootDiscover, ipxeDiscover]) {
    for (let length = 0; length <= packet.length; length++) {
      try {
        readClientRequest(decodeDhcpMessage(packet.subarray(0, length)));
        assert.equal(length, packet.length, `prefix of ${length} bytes should not parse`);
      } catch (error) {
        assert.ok(error instanceof DhcpParseError, `prefix ${length}: ${String(error)}`);
      }
    }
  }
});

test('option lengths past the end and absurd lengths', () => {
  assert.equal(parseError(() => decodeDhcpMessage(Buffer.from([...header(), 0x3c, 0x40, ...ascii('PXE'), 0xff]))).code, 'DHCP_OPTION_OVERRUN');
  assert.equal(parseError(() => decodeDhcpMessage(Buffer.from([...header(), 0x35, 0x01, 0x01, 0x3c, 0xff, 0xff]))).code, 'DHCP_OPTION_OVERRUN');
  // Wrong fixed lengths of typed options.
  const badArch = Buffer.from([...header(), 0x35, 0x01, 0x01, 0x5d, 0x03, 0x00, 0x00, 0x07, 0xff]);
  assert.equal(parseError(() => decodeClientRequest(badArch)).code, 'DHCP_BAD_OPTION');
  const badUuid = Buffer.from([...header(), 0x35, 0x01, 0x01, 0x61, 0x02, 0x00, 0x01, 0xff]);
  assert.equal(parseError(() => decodeClientRequest(badUuid)).code, 'DHCP_BAD_OPTION');
  const badType = Buffer.from([...header(), 0x35, 0x02, 0x01, 0x01, 0xff]);
  assert.equal(parseError(() => decodeClientRequest(badType)).code, 'DHCP_BAD_OPTION');
  const badRequested = Buffer.from([...header(), 0x35, 0x01, 0x03, 0x32, 0x03, 10, 0, 0, 0xff]);
  assert.equal(parseError(() => decodeClientRequest(badRequested)).code, 'DHCP_BAD_OPTION');
  // Option 43 of a PXE client with a sub-option running past the option.
  const badVendor = Buffer.from([...header(), 0x35, 0x01, 0x01, 0x3c, 0x09, ...ascii('PXEClient'), 0x2b, 0x03, 0x06, 0x09, 0x08, 0xff]);
  assert.equal(parseError(() => decodeClientRequest(badVendor)).code, 'DHCP_BAD_OPTION');
  // A 175 sub-option without its length byte.
  const badIpxe = Buffer.from([...header(), 0x35, 0x01, 0x01, 0xaf, 0x01, 0x13, 0xff]);
  assert.equal(parseError(() => decodeClientRequest(badIpxe)).code, 'DHCP_BAD_OPTION');
});

test('header checks: op, hlen, cookie, size', () => {
  assert.equal(parseError(() => decodeDhcpMessage(Buffer.from([...header({ op: 3 }), 0xff]))).code, 'DHCP_BAD_OP');
  assert.equal(parseError(() => decodeDhcpMessage(Buffer.from([...header({ hlen: 17 }), 0xff]))).code, 'DHCP_BAD_HLEN');
  assert.equal(parseError(() => decodeDhcpMessage(Buffer.from([...header({ cookie: [0x63, 0x82, 0x53, 0x64] }), 0xff]))).code, 'DHCP_BAD_COOKIE');
  const huge = Buffer.concat([Buffer.from([...header(), 0x35, 0x01, 0x01]), Buffer.alloc(MAX_MESSAGE_BYTES)]);
  assert.equal(parseError(() => decodeDhcpMessage(huge)).code, 'DHCP_TOO_LARGE');
  // A reply where a request is expected.
  assert.equal(parseError(() => decodeClientRequest(Buffer.from([...header({ op: 2 }), 0xff]))).code, 'DHCP_BAD_OP');
});

test('pad bytes anywhere and data after the end option are fine', () => {
  const packet = Buffer.from([...header(), 0x00, 0x00, 0x35, 0x01, 0x03, 0x00, 0xff, 0x3c, 0xff, 0x41]);
  const request = decodeClientRequest(packet);
  assert.equal(request.messageType, 3);
  assert.equal(request.message.options.has(60), false);
});

test('text options are cut and cleaned of control characters', () => {
  const packet = Buffer.from([...header(), 0x35, 0x01, 0x01, 0x0c, 0x06, ...ascii('pc\n{x}'), 0xff]);
  assert.equal(decodeClientRequest(packet).hostname, 'pc?{x}');
});

test('encode/decode round trip; long values split per RFC 3396', () => {
  const longValue = crypto.randomBytes(600);
  const encoded = encodeDhcpMessage({
    op: 2,
    xid: 0xdeadbeef,
    flags: 0x8000,
    yiaddr: '10.1.2.3',
    siaddr: '10.1.2.1',
    chaddr: Buffer.from([0x52, 0x54, 0, 1, 2, 3]),
    file: 'undionly.kpxe',
    options: [
      [DhcpOption.SERVER_ID, Buffer.from([10, 1, 2, 1])],
      [DhcpOption.MESSAGE_TYPE, Buffer.from([2])],
      [224, longValue],
    ],
  });
  // 53 is written first, right after the cookie.
  assert.deepEqual([...encoded.subarray(240, 243)], [0x35, 0x01, 0x02]);
  // 600 bytes need three instances: 255 + 255 + 90.
  let instances = 0;
  for (let pos = 240; pos < encoded.length && encoded[pos] !== 0xff; pos += 2 + encoded[pos + 1]!) if (encoded[pos] === 224) instances++;
  assert.equal(instances, 3);
  const decoded = decodeDhcpMessage(encoded);
  assert.equal(decoded.op, 2);
  assert.equal(decoded.xid, 0xdeadbeef);
  assert.equal(decoded.yiaddr, '10.1.2.3');
  assert.equal(decoded.siaddr, '10.1.2.1');
  assert.equal(decoded.file, 'undionly.kpxe');
  assert.deepEqual(decoded.options.get(224), longValue);
  // Short replies are padded to the 300-byte BOOTP minimum.
  const short = encodeDhcpMessage({ op: 2, xid: 1, chaddr: Buffer.alloc(6), options: [] });
  assert.equal(short.length, 300);
});

test('random corruption of real packets: values or DhcpParseError, nothing else', () => {
  const seeds = [pxeBiosDiscover, uefiDiscover, httpBootDiscover, ipxeDiscover];
  let parsed = 0;
  let rejected = 0;
  for (let i = 0; i < 20_000; i++) {
    const packet = Buffer.from(seeds[i % seeds.length]!);
    const flips = 1 + (i % 8);
    for (let f = 0; f < flips; f++) {
      // Corrupt the options area mostly: that is where the lengths are.
      const pos = 236 + crypto.randomInt(packet.length - 236);
      packet[pos] = crypto.randomInt(256);
    }
    const cut = i % 3 === 0 ? packet.subarray(0, crypto.randomInt(packet.length + 1)) : packet;
    try {
      const request = readClientRequest(decodeDhcpMessage(cut));
      assert.ok(request.message.options instanceof Map);
      parsed++;
    } catch (error) {
      if (!(error instanceof DhcpParseError)) throw error;
      rejected++;
    }
  }
  // Both outcomes occur, so the loop exercised the error paths and the success path.
  assert.ok(parsed > 100 && rejected > 100, `parsed ${parsed}, rejected ${rejected}`);
});

test('option 43 of a PXE client: sub-options read, repeats concatenated', () => {
  const packet = Buffer.from([
    ...header(),
    0x35, 0x01, 0x01,
    0x3c, 0x09, ...ascii('PXEClient'),
    0x2b, 0x0c, 0x06, 0x01, 0x08, 0x00, 0x47, 0x02, 0x80, 0x00, 0x47, 0x01, 0x01, 0xff,
    0xff,
  ]);
  const request = decodeClientRequest(packet);
  assert.deepEqual([...request.pxeVendorOptions!.get(6)!], [8]);
  assert.deepEqual([...request.pxeVendorOptions!.get(71)!], [0x80, 0x00, 0x01]);
  // Option 43 of a non-PXE client is vendor-defined and left alone.
  const other = Buffer.from([...header(), 0x35, 0x01, 0x01, 0x2b, 0x02, 0x06, 0x09, 0xff]);
  assert.equal(decodeClientRequest(other).pxeVendorOptions, undefined);
});
