// TFTP codec against literal packets (RFC 1350, 2347, 2348, 2349, 7440) and hostile input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MAX_OPTION_COUNT,
  Opcode,
  TftpParseError,
  parsePacket,
  parseRequestedOptions,
  serializeAck,
  serializeData,
  serializeError,
  serializeOack,
  serializeRequest,
} from '../../src/tftp/codec.js';

const ascii = (text: string): number[] => [...Buffer.from(text, 'latin1')];
const bytes = (...parts: Array<number | number[] | string>): Buffer =>
  Buffer.from(parts.flatMap((part) => (typeof part === 'number' ? [part] : typeof part === 'string' ? [...ascii(part), 0] : part)));

function assertParseError(packet: Uint8Array, code: string): void {
  assert.throws(
    () => parsePacket(packet),
    (error: unknown) => error instanceof TftpParseError && error.code === code,
    `expected ${code} for ${Buffer.from(packet).toString('hex')}`,
  );
}

test('RRQ without options (RFC 1350 figure 5-1)', () => {
  const packet = bytes(0, 1, 'undionly.kpxe', 'octet');
  assert.deepEqual(parsePacket(packet), { opcode: Opcode.RRQ, filename: 'undionly.kpxe', mode: 'octet', options: [] });
});

test('RRQ with blksize, tsize, timeout, windowsize; names and mode case-insensitive (RFC 2347)', () => {
  const packet = bytes(0, 1, 'ipxe.efi', 'OCTET', 'BlkSize', '1468', 'tsize', '0', 'timeout', '3', 'windowsize', '16', 'x-vendor', 'y');
  const parsed = parsePacket(packet);
  assert.equal(parsed.opcode, Opcode.RRQ);
  if (parsed.opcode !== Opcode.RRQ) return;
  assert.equal(parsed.mode, 'octet');
  assert.deepEqual(parsed.options, [
    ['blksize', '1468'],
    ['tsize', '0'],
    ['timeout', '3'],
    ['windowsize', '16'],
    ['x-vendor', 'y'],
  ]);
  // Unknown options are dropped, known ones typed (RFC 2347: unrecognized options are ignored).
  assert.deepEqual(parseRequestedOptions(parsed.options), { blksize: 1468, tsize: 0, timeoutSeconds: 3, windowsize: 16 });
});

test('WRQ, DATA, ACK, ERROR and OACK parse from literal bytes', () => {
  assert.deepEqual(parsePacket(bytes(0, 2, 'up.bin', 'octet')), { opcode: Opcode.WRQ, filename: 'up.bin', mode: 'octet', options: [] });
  const data = parsePacket(bytes(0, 3, 0xff, 0xfe, 1, 2, 3));
  assert.equal(data.opcode, Opcode.DATA);
  if (data.opcode === Opcode.DATA) {
    assert.equal(data.block, 0xfffe);
    assert.deepEqual([...data.data], [1, 2, 3]);
  }
  assert.deepEqual(parsePacket(bytes(0, 4, 0x12, 0x34)), { opcode: Opcode.ACK, block: 0x1234 });
  assert.deepEqual(parsePacket(bytes(0, 5, 0, 1, 'File not found')), { opcode: Opcode.ERROR, errorCode: 1, message: 'File not found' });
  assert.deepEqual(parsePacket(bytes(0, 6, 'blksize', '1428', 'tsize', '850528')), {
    opcode: Opcode.OACK,
    options: [
      ['blksize', '1428'],
      ['tsize', '850528'],
    ],
  });
  // An empty DATA block is the end of a file whose size is a multiple of blksize.
  const empty = parsePacket(bytes(0, 3, 0, 7));
  assert.equal(empty.opcode === Opcode.DATA && empty.data.length, 0);
});

test('serializers produce the exact RFC byte layouts and round-trip', () => {
  assert.deepEqual([...serializeAck(0)], [0, 4, 0, 0]);
  assert.deepEqual([...serializeAck(65535)], [0, 4, 0xff, 0xff]);
  assert.deepEqual([...serializeData(0x0102, Buffer.from([9, 8]))], [0, 3, 1, 2, 9, 8]);
  assert.deepEqual([...serializeError(2, 'no')], [0, 5, 0, 2, ...ascii('no'), 0]);
  assert.deepEqual([...serializeOack([['blksize', '512']])], [0, 6, ...ascii('blksize'), 0, ...ascii('512'), 0]);
  assert.deepEqual(
    [...serializeRequest(Opcode.RRQ, 'a', 'octet', [['tsize', '0']])],
    [0, 1, 0x61, 0, ...ascii('octet'), 0, ...ascii('tsize'), 0, 0x30, 0],
  );
  const request = serializeRequest(Opcode.RRQ, 'dir/file.bin', 'octet', [['windowsize', '8']]);
  assert.deepEqual(parsePacket(request), { opcode: Opcode.RRQ, filename: 'dir/file.bin', mode: 'octet', options: [['windowsize', '8']] });
  // Error messages are sanitised to printable ASCII rather than thrown on.
  assert.deepEqual([...serializeError(0, 'a\nb')], [0, 5, 0, 0, 0x61, 0x3f, 0x62, 0]);
  assert.throws(() => serializeAck(65536), RangeError);
  assert.throws(() => serializeData(1, Buffer.alloc(65465)), RangeError);
});

test('truncated packets are refused with a code, never a crash', () => {
  assertParseError(bytes(), 'TFTP_TRUNCATED');
  assertParseError(bytes(0), 'TFTP_TRUNCATED');
  assertParseError(bytes(0, 4, 0), 'TFTP_TRUNCATED');
  assertParseError(bytes(0, 3), 'TFTP_TRUNCATED');
  assertParseError(bytes(0, 5, 0), 'TFTP_TRUNCATED');
  assertParseError(bytes(0, 1), 'TFTP_UNTERMINATED_STRING'); // no file name at all
  assertParseError(bytes(0, 1, ...ascii('file')), 'TFTP_UNTERMINATED_STRING');
  assertParseError(bytes(0, 1, 'file'), 'TFTP_UNTERMINATED_STRING'); // no mode
  assertParseError(bytes(0, 1, 'file', ...ascii('oct')), 'TFTP_UNTERMINATED_STRING');
  assertParseError(bytes(0, 1, 'file', 'octet', ...ascii('blksize')), 'TFTP_UNTERMINATED_STRING');
  assertParseError(bytes(0, 1, 'file', 'octet', 'blksize'), 'TFTP_OPTION_WITHOUT_VALUE');
  assertParseError(bytes(0, 1, 'file', 'octet', 'blksize', ...ascii('14')), 'TFTP_UNTERMINATED_STRING');
  assertParseError(bytes(0, 5, 0, 1, ...ascii('unterminated')), 'TFTP_UNTERMINATED_STRING');
});

test('bad opcodes, modes, names and trailing junk are refused', () => {
  assertParseError(bytes(0, 0), 'TFTP_BAD_OPCODE');
  assertParseError(bytes(0, 7, 1, 2), 'TFTP_BAD_OPCODE');
  assertParseError(bytes(0xff, 0xff), 'TFTP_BAD_OPCODE');
  assertParseError(bytes(0, 1, 'file', 'mail'), 'TFTP_BAD_MODE');
  assertParseError(bytes(0, 1, 'file', 'binary'), 'TFTP_BAD_MODE');
  assertParseError(bytes(0, 1, '', 'octet'), 'TFTP_EMPTY_FILENAME');
  assertParseError(bytes(0, 1, [0x66, 0x0a, 0x67, 0], 'octet'), 'TFTP_BAD_STRING'); // newline in name
  assertParseError(bytes(0, 1, [0x66, 0xc3, 0xa9, 0], 'octet'), 'TFTP_BAD_STRING'); // non-ASCII
  assertParseError(bytes(0, 4, 0, 1, 0), 'TFTP_TOO_LONG'); // ACK with a trailing byte
  assertParseError(bytes(0, 1, 'file', 'octet', '', 'x'), 'TFTP_BAD_STRING'); // empty option name
});

test('absurd lengths and counts are bounded', () => {
  assertParseError(bytes(0, 1, 'a'.repeat(600), 'octet'), 'TFTP_TOO_LONG');
  assertParseError(bytes(0, 1, 'file', 'octet', 'blksize', '1'.repeat(40)), 'TFTP_OPTION_TOO_LONG');
  assertParseError(bytes(0, 1, 'file', 'octet', 'x'.repeat(40), '1'), 'TFTP_OPTION_TOO_LONG');
  assertParseError(bytes(0, 1, 'file', 'octet', 'blksize', '512', 'BLKSIZE', '1024'), 'TFTP_DUPLICATE_OPTION');
  const many: Array<string> = [];
  for (let i = 0; i <= MAX_OPTION_COUNT; i++) many.push(`o${i}`, '1');
  assertParseError(bytes(0, 1, 'f', 'octet', ...many), 'TFTP_TOO_MANY_OPTIONS');
  // A request far above RFC 2347's 512 octets is refused before anything is scanned.
  assertParseError(Buffer.concat([bytes(0, 1, 'f', 'octet'), Buffer.alloc(2000, 0x41)]), 'TFTP_TOO_LONG');
  assertParseError(Buffer.alloc(70000, 0), 'TFTP_BAD_OPCODE');
  const hugeData = Buffer.alloc(4 + 65465);
  hugeData[1] = 3;
  assertParseError(hugeData, 'TFTP_TOO_LONG');
});

test('option values are range-checked (RFC 2348, 2349, 7440)', () => {
  const bad = (name: string, value: string): void =>
    assert.throws(
      () => parseRequestedOptions([[name, value]]),
      (error: unknown) => error instanceof TftpParseError && error.code === 'TFTP_BAD_OPTION_VALUE',
      `${name}=${value}`,
    );
  bad('blksize', '7');
  bad('blksize', '65465');
  bad('blksize', '-1');
  bad('blksize', '0x200');
  bad('blksize', '1e3');
  bad('blksize', ' 512');
  bad('blksize', '');
  bad('timeout', '0');
  bad('timeout', '256');
  bad('windowsize', '0');
  bad('windowsize', '65536');
  bad('tsize', 'abc');
  bad('tsize', '99999999999999999999');
  assert.deepEqual(parseRequestedOptions([['blksize', '8']]), { blksize: 8 });
  assert.deepEqual(parseRequestedOptions([['blksize', '65464']]), { blksize: 65464 });
  assert.deepEqual(parseRequestedOptions([['timeout', '255']]), { timeoutSeconds: 255 });
  assert.deepEqual(parseRequestedOptions([['windowsize', '65535']]), { windowsize: 65535 });
  // Unknown options are never validated, whatever they hold.
  assert.deepEqual(parseRequestedOptions([['multicast', '']]), {});
});

test('random garbage never throws anything but TftpParseError', () => {
  // A deterministic xorshift generator: the same inputs every run, so a failure reproduces.
  let state = 0x9e3779b9;
  const next = (): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
  let parsed = 0;
  for (let round = 0; round < 20000; round++) {
    const length = next() % 80;
    const packet = Buffer.alloc(length);
    for (let i = 0; i < length; i++) packet[i] = next() % 4 === 0 ? 0 : next() & 0xff;
    if (length >= 2) packet[0] = 0;
    if (length >= 2) packet[1] = (next() % 8) as number;
    try {
      const result = parsePacket(packet);
      parsed++;
      if (result.opcode === Opcode.RRQ || result.opcode === Opcode.WRQ) {
        try {
          parseRequestedOptions(result.options);
        } catch (error) {
          assert.ok(error instanceof TftpParseError);
        }
      }
    } catch (error) {
      assert.ok(error instanceof TftpParseError, `unexpected ${String(error)} for ${packet.toString('hex')}`);
    }
  }
  assert.ok(parsed > 0, 'some random packets should parse (ACK/DATA)');
});
