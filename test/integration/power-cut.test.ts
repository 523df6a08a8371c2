// Power cuts of the box (test/helpers/power-cut.ts): lanboot in a qemu VM with its data disk
// on cache=none, qemu killed under write load, 3 rounds. The 30-round run is
// test/slow/power-cut.test.ts; figures in docs/robustness.md.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { powerCutRounds, runPowerCuts } from '../helpers/power-cut.js';

test('power cuts of the box under write load lose nothing acknowledged as durable (3 rounds)', { timeout: 900_000 }, async (t) => {
  const figures = await runPowerCuts(t, powerCutRounds(3, 7));
  t.diagnostic(`figures ${JSON.stringify(figures)}`);
  assert.equal(figures.rounds, 3);
  assert.ok(figures.writesDurable > 0);
  assert.equal(figures.bytesLost, 0);
});
