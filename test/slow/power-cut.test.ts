// The long run of test/integration/power-cut.test.ts: 30 power cuts of the box VM under write
// load (LANBOOT_POWER_CUT_ROUNDS changes the count). Record the figures in docs/robustness.md.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { powerCutRounds, runPowerCuts } from '../helpers/power-cut.js';

const rounds = Number(process.env['LANBOOT_POWER_CUT_ROUNDS'] ?? 30);

test(`power cuts of the box under write load lose nothing acknowledged as durable (${rounds} rounds)`, { timeout: 4 * 3600_000 }, async (t) => {
  assert.ok(Number.isInteger(rounds) && rounds >= 1, 'LANBOOT_POWER_CUT_ROUNDS must be a positive integer');
  const figures = await runPowerCuts(t, powerCutRounds(rounds, 2026));
  t.diagnostic(`figures ${JSON.stringify(figures)}`);
  assert.equal(figures.rounds, rounds);
  assert.equal(figures.bytesLost, 0);
});
