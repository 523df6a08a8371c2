import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CHAP_SECRET_LENGTH, generateChapSecret, initiatorIqnFor, naaFor, serialFor, targetIqnFor } from '../../src/seats/identity.js';
import { validateIqn } from '../../src/config/names.js';

test('IQNs per seat are valid iSCSI names', () => {
  assert.equal(targetIqnFor('pc-01'), 'iqn.2026-11.local.lanboot:seat.pc-01');
  assert.equal(initiatorIqnFor('pc-01'), 'iqn.2026-11.local.lanboot:pc.pc-01');
  assert.equal(validateIqn(targetIqnFor('a'.repeat(32))), targetIqnFor('a'.repeat(32)));
  assert.equal(validateIqn(initiatorIqnFor('x-1')), initiatorIqnFor('x-1'));
});

test('CHAP secrets: 16 characters, alphanumeric, different each time', () => {
  const secrets = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const secret = generateChapSecret();
    assert.equal(secret.length, CHAP_SECRET_LENGTH);
    assert.match(secret, /^[A-Za-z0-9]{16}$/);
    secrets.add(secret);
  }
  assert.equal(secrets.size, 200);
});

test('serial and NAA-5 designator: stable for a seat, different between seats', () => {
  const created = '2026-11-22T02:00:00.000Z';
  const naa = naaFor(7, 'pc-01', created);
  assert.match(naa, /^5[0-9a-f]{15}$/, 'NAA=5, 24-bit company id, 36-bit vendor id: 16 hex digits');
  assert.equal(naa.slice(1, 7), '0a4c42');
  assert.equal(naaFor(7, 'pc-01', created), naa);
  assert.notEqual(naaFor(8, 'pc-01', created), naa, 'a re-created seat (new id) is a new disk');
  assert.notEqual(naaFor(7, 'pc-02', created), naa);
  const serial = serialFor(7, 'pc-01', created);
  assert.match(serial, /^LB[0-9A-F]{14}$/);
  assert.equal(serialFor(7, 'pc-01', created), serial);
  assert.notEqual(serialFor(7, 'pc-01', '2026-11-22T02:00:00.001Z'), serial);
});
