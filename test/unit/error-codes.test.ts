// The one list of error codes (src/log/errors.ts) against the code that uses them: every
// LANBOOT_* code written in src/ or thrown by the addon (native/src) is in the list and maps
// to an HTTP status, and the list holds no code nothing uses.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { repoRoot as root } from '../helpers/tools.js';
import { ERROR_CODES, ERROR_STATUS, httpStatusFor, isLanbootErrorCode, knownErrorCode, LanbootError } from '../../src/log/errors.js';

function filesUnder(dir: string, extensions: string[]): string[] {
  return fs.readdirSync(path.join(root, dir), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && extensions.some((ext) => entry.name.endsWith(ext)))
    .map((entry) => path.join(entry.parentPath, entry.name));
}

function quoted(files: string[], quote: string): Map<string, string> {
  const found = new Map<string, string>();
  const pattern = new RegExp(`${quote}(LANBOOT_[A-Z0-9_]+)${quote}`, 'g');
  for (const file of files) {
    for (const match of fs.readFileSync(file, 'utf8').matchAll(pattern)) {
      if (!found.has(match[1]!)) found.set(match[1]!, path.relative(root, file));
    }
  }
  return found;
}

/** LANBOOT_* environment variables are settings, not error codes (src/config is their reader). */
function environmentNames(): Set<string> {
  const text = fs.readFileSync(path.join(root, 'src/config/config.ts'), 'utf8');
  const names = new Set<string>();
  for (const pattern of [/env: '(LANBOOT_\w+)'/g, /env\.(LANBOOT_\w+)/g, /label: '(LANBOOT_\w+)'/g, /'(LANBOOT_\w+)'\]\]/g]) {
    for (const match of text.matchAll(pattern)) names.add(match[1]!);
  }
  return names;
}

const settings = environmentNames();
const inSource = new Map([...quoted(filesUnder('src', ['.ts', '.tsx']), "'")].filter(([code]) => !settings.has(code)));
const inAddon = quoted(filesUnder('native/src', ['.cc', '.h']), '"');

test('the scan finds codes in both places (it would pass vacuously otherwise)', () => {
  assert.ok(inSource.has('LANBOOT_SEAT_NOT_FOUND') && inSource.size > 30, `src/: ${inSource.size} codes`);
  assert.ok(inAddon.has('LANBOOT_INVALID_TARGET') && inAddon.has('LANBOOT_DISK_FLUSH'), `native/src: ${[...inAddon.keys()].join(' ')}`);
  assert.ok(settings.has('LANBOOT_DATA') && settings.has('LANBOOT_MDNS_RESPONDER'), 'environment variables recognised');
});

test('every code written in src/ is in the list', () => {
  const missing = [...inSource].filter(([code]) => !isLanbootErrorCode(code)).map(([code, file]) => `${code} (${file})`);
  assert.deepEqual(missing, []);
});

test('every code the addon throws or reports is in the list', () => {
  const missing = [...inAddon].filter(([code]) => !isLanbootErrorCode(code)).map(([code, file]) => `${code} (${file})`);
  assert.deepEqual(missing, []);
});

test('every listed code is used by src/ or the addon', () => {
  const unused = ERROR_CODES.filter((code) => !inSource.has(code) && !inAddon.has(code));
  assert.deepEqual(unused, []);
});

test('every code maps to an HTTP error status', () => {
  for (const code of ERROR_CODES) {
    const status = httpStatusFor(code);
    assert.ok(Number.isInteger(status) && status >= 400 && status <= 599, `${code}: ${status}`);
    assert.equal(status, ERROR_STATUS[code]);
  }
  assert.equal(httpStatusFor('LANBOOT_SEAT_NOT_FOUND'), 404);
  assert.equal(httpStatusFor('LANBOOT_NO_SPACE'), 507);
  assert.equal(httpStatusFor('LANBOOT_CSRF_REJECTED'), 403);
});

test('a code read from outside is checked against the list', () => {
  assert.equal(knownErrorCode('LANBOOT_SEAT_BUSY', 'LANBOOT_INTERNAL'), 'LANBOOT_SEAT_BUSY');
  assert.equal(knownErrorCode('LANBOOT_MADE_UP', 'LANBOOT_INTERNAL'), 'LANBOOT_INTERNAL');
  assert.equal(knownErrorCode(42, 'LANBOOT_IO_FAILED'), 'LANBOOT_IO_FAILED');
  assert.equal(isLanbootErrorCode('toString'), false, 'not fooled by Object.prototype');
  const error = new LanbootError('LANBOOT_SEAT_BUSY', 'busy', { seat: 'pc' });
  assert.equal(error.code, 'LANBOOT_SEAT_BUSY');
  assert.equal(error.name, 'LanbootError');
});
