// Smoke runs of the JavaScript fuzz targets (test/fuzz, docs/decisions/0023-js-fuzzing.md), as
// `make -C native fuzz-smoke` does for the C++ ones: each target replays its committed seed
// corpus and then mutates it, coverage-guided, for a few seconds. A crash fails with the input.
// LANBOOT_JS_FUZZ_SECONDS sets the time per target (default 6); longer runs: npm run fuzz:js.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readCorpus } from '../fuzz/corpus.js';
import { runFuzzer, startCoverage, type FuzzTarget } from '../fuzz/fuzzer.js';
import { FUZZ_TARGET_NAMES, loadTarget } from '../fuzz/targets/index.js';

const SECONDS = Number(process.env.LANBOOT_JS_FUZZ_SECONDS ?? '6');

for (const name of FUZZ_TARGET_NAMES) {
  test(`fuzz ${name}: seeds and ${SECONDS} s of coverage-guided mutation, no crash`, async () => {
    const target = await loadTarget(name);
    const seeds = readCorpus(name);
    assert.ok(seeds.length > 0, `${name} has a committed seed corpus`);
    const result = await runFuzzer(target, seeds, { timeMs: SECONDS * 1000, seed: 0x5eed });
    if (result.crash) {
      assert.fail(`${name} crashed on input ${result.crash.input.toString('hex')}: ${(result.crash.error as Error)?.stack ?? String(result.crash.error)}`);
    }
    assert.ok(result.executions > seeds.length, 'mutated inputs ran');
    assert.ok(result.features > 0, 'coverage of lanboot code was measured');
  });
}

// The guidance itself: a bug behind four nested comparisons of 4 bits each is found by blind
// mutation about once in 65536 runs, and within a few thousand when each comparison passed
// counts as new coverage. Compiled after coverage started, as the real targets are.
test('the fuzzer is guided by coverage: it reaches a bug behind four nested comparisons', async () => {
  await startCoverage();
  const fuzz = new Function(
    'data',
    `if (data.length < 4) return;
     if ((data[0] & 0x0f) === 0x0c) {
       if ((data[1] & 0x0f) === 0x02) {
         if ((data[2] & 0x0f) === 0x0f) {
           if ((data[3] & 0x0f) === 0x04) throw new Error('planted bug reached');
         }
       }
     }
     //# sourceURL=lanboot-planted-fuzz-target.js`,
  ) as (data: Buffer) => void;
  const planted: FuzzTarget = { maxLength: 4, fuzz };
  const result = await runFuzzer(planted, [Buffer.from('seed')], { timeMs: 20_000, maxRuns: 6000, seed: 7, coverageFilter: (url) => url === 'lanboot-planted-fuzz-target.js' });
  assert.ok(result.crash, `not found in ${result.executions} runs`);
  assert.deepEqual([...result.crash.input.subarray(0, 4)].map((b) => b & 0x0f), [0x0c, 0x02, 0x0f, 0x04]);
  assert.match((result.crash.error as Error).message, /planted bug reached/);
});
