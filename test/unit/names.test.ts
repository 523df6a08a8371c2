import assert from 'node:assert/strict';
import { test } from 'node:test';
import { normalizeMac, validateIqn, validateMode, validateName } from '../../src/config/names.js';
import { LanbootError } from '../../src/log/errors.js';

function rejects(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (error: unknown) => error instanceof LanbootError && error.code === 'LANBOOT_INVALID_INPUT' && message.test(error.message));
}

test('seat and image names: 1-32 of [a-z0-9-]', () => {
  for (const ok of ['a', 'pc-01', 'win11', '0', 'a'.repeat(32)]) assert.equal(validateName(ok, 'seat'), ok);
  for (const bad of ['', 'A', 'pc_01', 'pc 1', 'a'.repeat(33), '../x', 'é', 'a/b', 'x\n']) {
    rejects(() => validateName(bad, 'seat'), /^--name: expected a seat name of 1-32 characters a-z, 0-9 and '-', got '/);
  }
  rejects(() => validateName(42, 'image', '--image'), /^--image: expected an image name .* got '42'$/);
  rejects(() => validateName(undefined, 'image'), /got /);
});

test('hostile input is quoted short and without control characters', () => {
  assert.throws(
    () => validateName(`x\u001b[2J${'y'.repeat(500)}`, 'seat'),
    (error: Error) => error.message.length < 200 && !error.message.includes('\u001b') && error.message.includes('...'),
  );
});

test('MAC addresses are normalized to lower-case colon form', () => {
  assert.equal(normalizeMac('52:54:00:AB:cd:EF'), '52:54:00:ab:cd:ef');
  assert.equal(normalizeMac('52-54-00-ab-cd-ef'), '52:54:00:ab:cd:ef');
  assert.equal(normalizeMac('525400ABCDEF'), '52:54:00:ab:cd:ef');
  assert.equal(normalizeMac(' 52:54:00:ab:cd:ef '), '52:54:00:ab:cd:ef');
  for (const bad of ['zz', '52:54:00:ab:cd', '52:54:00:ab:cd:ef:01', '52:54-00:ab:cd:ef', '5254.00ab.cdef', '']) {
    rejects(() => normalizeMac(bad), /^--mac: expected a MAC address like aa:bb:cc:dd:ee:ff, got '/);
  }
  rejects(() => normalizeMac('ff:ff:ff:ff:ff:ff'), /multicast or broadcast/);
  rejects(() => normalizeMac('01:00:5e:00:00:01'), /multicast or broadcast/);
});

test('iSCSI names (RFC 3720 3.2.6)', () => {
  for (const ok of ['iqn.2026-11.local.lanboot:pc.a', 'iqn.1991-05.com.microsoft:desktop-1', 'iqn.2004-10.com.ubuntu:01:abc', 'eui.0123456789abcdef', 'naa.52004567ba64678d']) {
    assert.equal(validateIqn(ok), ok);
  }
  for (const bad of ['iqn.2026-13.x.y', 'iqn.26-11.x', 'IQN.2026-11.x.y', 'iqn.2026-11.x y', 'eui.0123', `iqn.2026-11.x:${'a'.repeat(220)}`, 'pc1']) {
    rejects(() => validateIqn(bad), /^--initiator: expected an iSCSI name/);
  }
});

test('seat modes', () => {
  assert.equal(validateMode('fresh'), 'fresh');
  assert.equal(validateMode('persistent'), 'persistent');
  assert.equal(validateMode('maintenance'), 'maintenance');
  assert.equal(validateMode('install'), 'install');
  rejects(() => validateMode('frozen'), /^--mode: expected one of fresh, persistent, maintenance, install, got 'frozen'$/);
});
