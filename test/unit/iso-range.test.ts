import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideRange, ifRangeMatches, MAX_RANGE_HEADER_BYTES, MAX_RANGES } from '../../src/iso/range.js';

const SIZE = 10_000;

test('no Range header: the whole file', () => {
  assert.deepEqual(decideRange(undefined, SIZE), { kind: 'whole' });
});

test('int-range, open range and suffix-range (RFC 9110 14.1.2)', () => {
  assert.deepEqual(decideRange('bytes=0-499', SIZE), { kind: 'ranges', ranges: [{ start: 0, end: 499 }] });
  assert.deepEqual(decideRange('bytes=9500-', SIZE), { kind: 'ranges', ranges: [{ start: 9500, end: 9999 }] });
  assert.deepEqual(decideRange('bytes=-500', SIZE), { kind: 'ranges', ranges: [{ start: 9500, end: 9999 }] });
  // A suffix longer than the file is the whole file; last-pos past the end is clamped.
  assert.deepEqual(decideRange('bytes=-20000', SIZE), { kind: 'ranges', ranges: [{ start: 0, end: 9999 }] });
  assert.deepEqual(decideRange('bytes=9990-20000', SIZE), { kind: 'ranges', ranges: [{ start: 9990, end: 9999 }] });
  assert.deepEqual(decideRange('bytes=5-5', SIZE), { kind: 'ranges', ranges: [{ start: 5, end: 5 }] });
});

test('unit is case-insensitive, whitespace around elements is allowed', () => {
  assert.deepEqual(decideRange('Bytes = 1-2 ,  , 4-5', SIZE), { kind: 'ranges', ranges: [{ start: 1, end: 2 }, { start: 4, end: 5 }] });
});

test('several ranges come back in request order, unsatisfiable ones dropped', () => {
  assert.deepEqual(decideRange('bytes=0-0,-1,20000-30000', SIZE), { kind: 'ranges', ranges: [{ start: 0, end: 0 }, { start: 9999, end: 9999 }] });
});

test('ranges past the end are unsatisfiable (416)', () => {
  assert.deepEqual(decideRange('bytes=10000-', SIZE), { kind: 'unsatisfiable' });
  assert.deepEqual(decideRange('bytes=10000-10005', SIZE), { kind: 'unsatisfiable' });
  assert.deepEqual(decideRange('bytes=-0', SIZE), { kind: 'unsatisfiable' });
  assert.deepEqual(decideRange('bytes=0-', 0), { kind: 'unsatisfiable' });
  assert.deepEqual(decideRange('bytes=-5', 0), { kind: 'unsatisfiable' });
});

test('offsets past 4 GiB and past 2^53 stay exact or saturate', () => {
  const big = 6 * 2 ** 30 + 123;
  assert.deepEqual(decideRange(`bytes=${2 ** 32 + 7}-${2 ** 32 + 1030}`, big), { kind: 'ranges', ranges: [{ start: 2 ** 32 + 7, end: 2 ** 32 + 1030 }] });
  assert.deepEqual(decideRange('bytes=-1', big), { kind: 'ranges', ranges: [{ start: big - 1, end: big - 1 }] });
  assert.deepEqual(decideRange('bytes=0-99999999999999999999', big), { kind: 'ranges', ranges: [{ start: 0, end: big - 1 }] });
  assert.deepEqual(decideRange('bytes=99999999999999999999-', big), { kind: 'unsatisfiable' });
});

test('malformed or hostile headers are ignored (RFC 9110 14.2), never thrown', () => {
  const bad = [
    'bytes',
    'bytes=',
    'bytes=,',
    'bytes=a-b',
    'bytes=5-1',
    'bytes=--1',
    'bytes=1-2-3',
    'bytes=0x10-20',
    'bytes=+1-2',
    'bytes=1 -2',
    'bytes=-',
    'bytes=1.5-2',
    'items=0-1',
    '=0-1',
    'bytes=123456789012345678901-',
    'bytes=\u0000-1',
    `bytes=${'0-1,'.repeat(MAX_RANGES)}0-1`,
    `bytes=0-${'1'.repeat(MAX_RANGE_HEADER_BYTES)}`,
  ];
  for (const header of bad) {
    const decision = decideRange(header, SIZE);
    assert.equal(decision.kind, 'whole', `${JSON.stringify(header)} -> ${JSON.stringify(decision)}`);
    assert.ok(decision.kind === 'whole' && typeof decision.ignored === 'string');
  }
  // Exactly MAX_RANGES is still served.
  const many = decideRange(`bytes=${Array.from({ length: MAX_RANGES }, (_, i) => `${i}-${i}`).join(',')}`, SIZE);
  assert.equal(many.kind === 'ranges' && many.ranges.length, MAX_RANGES);
});

test('random junk never throws and never yields a range outside the file', () => {
  const alphabet = 'bytes=0123456789-, \t;xB';
  let seed = 1;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed / 2 ** 31);
  for (let i = 0; i < 20000; i++) {
    const length = Math.floor(rand() * 30);
    let header = '';
    for (let j = 0; j < length; j++) header += alphabet[Math.floor(rand() * alphabet.length)];
    const size = Math.floor(rand() * 100);
    const decision = decideRange(header, size);
    if (decision.kind === 'ranges') {
      for (const r of decision.ranges) assert.ok(r.start >= 0 && r.start <= r.end && r.end < size, `${header} ${size}`);
    }
  }
});

test('If-Range: only our strong entity-tag lets the Range apply', () => {
  assert.equal(ifRangeMatches(undefined, '"abc"'), true);
  assert.equal(ifRangeMatches('"abc"', '"abc"'), true);
  assert.equal(ifRangeMatches('W/"abc"', '"abc"'), false);
  assert.equal(ifRangeMatches('"abd"', '"abc"'), false);
  assert.equal(ifRangeMatches('Sat, 01 Jan 2000 00:00:00 GMT', '"abc"'), false);
});
