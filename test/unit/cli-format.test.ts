import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatBytes, formatProgress, formatTable } from '../../src/cli/format.js';

test('sizes, progress and tables for humans', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(1023), '1023 B');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(4 * 1024 ** 3), '4.0 GiB');
  assert.equal(formatProgress(512 * 1024 ** 2, 1024 ** 3, 2000), '512.0 MiB of 1.0 GiB (50%), 256.0 MiB/s');
  assert.equal(formatProgress(0, 0, 0), '0 B of 0 B (100%), 0 B/s');
  assert.equal(formatTable(['A', 'LONGER'], [['xyz', '1'], ['q', '22']]), 'A    LONGER\nxyz  1\nq    22');
});
