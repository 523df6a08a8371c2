// The limiter that keeps a flood of malformed DHCP packets from flooding the journal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LogLimiter } from '../../src/dhcp/log-limit.js';

test('log limiter: a burst, then one line per interval carrying the suppressed count', () => {
  let now = 0;
  const limiter = new LogLimiter(3, 1, () => now);
  assert.deepEqual([limiter.take(), limiter.take(), limiter.take()].map((r) => r.log), [true, true, true]);
  assert.equal(limiter.take().log, false);
  assert.equal(limiter.take().log, false);
  now += 1000;
  assert.deepEqual(limiter.take(), { log: true, suppressed: 2 });
  assert.equal(limiter.take().log, false);
});
