// Longer fuzzing runs by hand: `npm run fuzz:js -- [TARGET...] [--seconds N] [--save]`.
// --save adds the inputs that found new coverage to the committed corpus (review them first:
// a corpus is code too). A crash prints the input as hex and exits 1.
import { parseArgs } from 'node:util';
import { addToCorpus, readCorpus } from './corpus.js';
import { runFuzzer } from './fuzzer.js';
import { FUZZ_TARGET_NAMES, loadTarget } from './targets/index.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { seconds: { type: 'string', default: '60' }, save: { type: 'boolean', default: false }, seed: { type: 'string' } } });
const seconds = Number(values.seconds);
if (!Number.isFinite(seconds) || seconds <= 0) throw new Error(`--seconds: expected a positive number, got ${values.seconds}`);
const names = positionals.length > 0 ? positionals : FUZZ_TARGET_NAMES;
let failed = false;
for (const name of names) {
  const target = await loadTarget(name);
  const seeds = readCorpus(name);
  const result = await runFuzzer(target, seeds, { timeMs: seconds * 1000, ...(values.seed ? { seed: Number(values.seed) } : {}) });
  console.log(`${name}: ${result.executions} runs, ${result.features} coverage features, corpus ${seeds.length} -> ${result.corpus.length}`);
  if (values.save) console.log(`${name}: ${addToCorpus(name, result.discovered)} inputs added to the corpus`);
  if (result.crash) {
    failed = true;
    console.error(`${name}: CRASH on input ${result.crash.input.toString('hex')}`);
    console.error(result.crash.error);
  }
}
process.exitCode = failed ? 1 : 0;
