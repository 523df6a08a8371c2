// The JavaScript fuzz targets, by name; their seed corpora are in test/fuzz/corpus/<name>/.
// Loaded on demand, after the fuzzer started V8's block coverage (fuzzer.ts startCoverage):
// code compiled before that has no block counters to guide the search.
import { startCoverage, type FuzzTarget } from '../fuzzer.js';

const LOADERS: Readonly<Record<string, () => Promise<{ target: FuzzTarget }>>> = {
  'dhcp-codec': () => import('./dhcp-codec.js'),
  'tftp-codec': () => import('./tftp-codec.js'),
  'boot-route': () => import('./boot-route.js'),
  'ipxe-script': () => import('./ipxe-script.js'),
  'iso-range': () => import('./iso-range.js'),
};

export const FUZZ_TARGET_NAMES: readonly string[] = Object.keys(LOADERS);

export async function loadTarget(name: string): Promise<FuzzTarget> {
  const load = LOADERS[name];
  if (!load) throw new Error(`no fuzz target ${name} (known: ${FUZZ_TARGET_NAMES.join(', ')})`);
  await startCoverage();
  return (await load()).target;
}
