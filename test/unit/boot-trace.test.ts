import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bootSet, decodeTrace, splitBoots, TraceFormatError, type TraceRecord } from '../../src/seats/boot-trace.js';

function encode(records: Partial<TraceRecord>[]): Buffer {
  const out = Buffer.alloc(16 + 32 * records.length);
  out.write('LBTRACE1', 0, 'latin1');
  out.writeUInt32LE(1, 8);
  out.writeUInt32LE(32, 12);
  records.forEach((r, i) => {
    const at = 16 + 32 * i;
    out.writeBigUInt64LE(r.startNs ?? 0n, at);
    out.writeBigUInt64LE(BigInt(r.offset ?? 0), at + 8);
    out.writeUInt32LE(r.length ?? 512, at + 16);
    out.writeUInt32LE(r.serviceUs ?? 10, at + 20);
    out.writeUInt32LE(r.session ?? 1, at + 24);
    out.writeUInt8(r.op === 'write' ? 1 : 0, at + 28);
    out.writeUInt8(r.status ?? 0, at + 29);
  });
  return out;
}

const s = (seconds: number) => BigInt(Math.round(seconds * 1e9));

test('decodeTrace reads records and refuses what is not a trace', () => {
  const records = decodeTrace(encode([{ startNs: s(1), offset: 8192, length: 4096 }, { startNs: s(2), offset: 0, op: 'write', status: 2 }]));
  assert.deepEqual(records[0], { startNs: s(1), offset: 8192, length: 4096, serviceUs: 10, session: 1, op: 'read', status: 0 });
  assert.equal(records[1]!.op, 'write');
  assert.equal(records[1]!.status, 2);
  // A partial record at the end (a crash mid-write) is ignored.
  assert.equal(decodeTrace(Buffer.concat([encode([{}]), Buffer.alloc(7)])).length, 1);
  assert.throws(() => decodeTrace(Buffer.alloc(8)), TraceFormatError);
  assert.throws(() => decodeTrace(Buffer.from('NOTATRACE_______')), /bad magic/);
  const v2 = encode([]);
  v2.writeUInt32LE(2, 8);
  assert.throws(() => decodeTrace(v2), /unsupported trace version 2/);
  const badOp = encode([{}]);
  badOp.writeUInt8(7, 16 + 28);
  assert.throws(() => decodeTrace(badOp), /unknown op 7/);
});

test('splitBoots starts a new boot after a long pause', () => {
  const records = decodeTrace(encode([{ startNs: s(0) }, { startNs: s(5) }, { startNs: s(500) }, { startNs: s(501) }]));
  assert.deepEqual(splitBoots(records, 120).map((b) => b.length), [2, 2]);
  assert.deepEqual(splitBoots(records, 1000).map((b) => b.length), [4]);
});

test('bootSet: pages read early, first-use order across boots, merged, bounded', () => {
  const boot1 = decodeTrace(encode([
    { startNs: s(100), offset: 40960, length: 4096 },
    { startNs: s(101), offset: 0, length: 8192 },
    { startNs: s(102), offset: 81920, length: 4096, op: 'write' },
    { startNs: s(103), offset: 512, length: 512 }, // same page as before: once
    { startNs: s(200), offset: 12288, length: 4096 }, // after the window
  ]));
  const boot2 = decodeTrace(encode([
    { startNs: s(900), offset: 8192, length: 4096 }, // 0.5 s in: between boot1's 1st and 2nd
    { startNs: s(900.5), offset: 163840, length: 4096, status: 2 }, // failed: left out
  ]));
  boot2[0]!.startNs = s(899.5);
  const ranges = bootSet([boot1, boot2], 60, 1 << 30);
  // boot2's first read (0 s into its boot) ties boot1's first: boot1's comes first (stable sort)
  assert.deepEqual(ranges, [
    { offset: 40960, length: 4096 },
    { offset: 8192, length: 4096 },
    { offset: 0, length: 8192 },
  ]);
  assert.deepEqual(bootSet([boot1], 60, 8192), [{ offset: 40960, length: 4096 }, { offset: 0, length: 4096 }]);
});
