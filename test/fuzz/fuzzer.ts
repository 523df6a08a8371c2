// A coverage-guided fuzzer for the JavaScript parsers (docs/decisions/0023-js-fuzzing.md):
// V8's precise block coverage (the inspector's Profiler domain, the data behind
// NODE_V8_COVERAGE and c8) tells which blocks of lanboot's code an input reached; an input
// that reaches a new block, or a known one a new number of times (bucketed as libFuzzer does),
// joins the corpus and is mutated further. Targets have the jazzer.js shape,
// `fuzz(data: Buffer)`, and throw only for a bug: each target catches the errors its parser
// is meant to raise for bad input.
import crypto from 'node:crypto';
import { Session } from 'node:inspector/promises';

export interface FuzzTarget {
  /** Returns normally for any input; throws (or rejects) only on a bug. */
  fuzz(data: Buffer): void | Promise<void>;
  /** Tokens the mutator splices in (protocol keywords, option names). */
  dictionary?: readonly string[];
  /** Longest input generated. */
  maxLength: number;
}

export interface FuzzOptions {
  /** Stop after this long. */
  timeMs: number;
  /** Stop after this many executions (whichever comes first). */
  maxRuns?: number;
  seed?: number;
  /** Script URLs whose coverage guides the search. */
  coverageFilter?: (url: string) => boolean;
}

export interface FuzzResult {
  executions: number;
  corpus: Buffer[];
  /** Coverage features seen (blocks x hit-count buckets). */
  features: number;
  /** Inputs from the mutator that found new coverage (candidates for the committed corpus). */
  discovered: Buffer[];
  crash?: { input: Buffer; error: unknown };
}

interface CoverageRange {
  startOffset: number;
  endOffset: number;
  count: number;
}
interface TakeResult {
  result: { scriptId: string; url: string; functions: { ranges: CoverageRange[] }[] }[];
}

/** libFuzzer's hit-count buckets: 1, 2, 3, 4-7, 8-15, 16-31, 32-127, 128+. */
function bucket(count: number): number {
  if (count <= 3) return count;
  if (count < 8) return 4;
  if (count < 16) return 5;
  if (count < 32) return 6;
  if (count < 128) return 7;
  return 8;
}

/** xorshift32: reproducible runs from a seed. */
function randomSource(seed: number): (n: number) => number {
  let state = seed >>> 0 || 0x9e3779b9;
  return (n: number) => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return n <= 0 ? 0 : state % n;
  };
}

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x20, 0x2c, 0x2d, 0x3a, 0x3d, 0x0a, 0x0d];

function mutate(input: Buffer, corpus: readonly Buffer[], target: FuzzTarget, random: (n: number) => number): Buffer {
  let out = Buffer.from(input);
  const rounds = 1 + random(4);
  for (let r = 0; r < rounds; r++) {
    const at = random(out.length + 1);
    switch (random(9)) {
      case 0:
        if (out.length > 0) out[random(out.length)]! ^= 1 << random(8);
        break;
      case 1:
        if (out.length > 0) out[random(out.length)] = random(256);
        break;
      case 2:
        if (out.length > 0) out[random(out.length)] = INTERESTING[random(INTERESTING.length)]!;
        break;
      case 3: {
        const length = 1 + random(8);
        out = Buffer.concat([out.subarray(0, at), crypto.randomBytes(length), out.subarray(at)]);
        break;
      }
      case 4: {
        const length = 1 + random(Math.max(1, Math.min(16, out.length - at)));
        out = Buffer.concat([out.subarray(0, at), out.subarray(at + length)]);
        break;
      }
      case 5: {
        // Duplicate a chunk (repeated options, repeated ranges).
        const start = random(out.length + 1);
        const chunk = out.subarray(start, start + 1 + random(32));
        out = Buffer.concat([out.subarray(0, at), chunk, out.subarray(at)]);
        break;
      }
      case 6: {
        const other = corpus[random(corpus.length)];
        if (other && other.length > 0) {
          const cut = random(other.length);
          out = Buffer.concat([out.subarray(0, at), other.subarray(cut)]);
        }
        break;
      }
      case 7: {
        const words = target.dictionary ?? [];
        if (words.length > 0) out = Buffer.concat([out.subarray(0, at), Buffer.from(words[random(words.length)]!, 'latin1'), out.subarray(at)]);
        break;
      }
      default:
        // A 16- or 32-bit field set to an edge value (lengths, block numbers, counts).
        if (out.length >= 2) {
          const edges = [0, 1, 0x7fff, 0x8000, 0xffff, out.length, out.length + 1];
          const i = random(out.length - 1);
          out.writeUInt16BE(edges[random(edges.length)]! & 0xffff, i);
        }
    }
  }
  return out.length > target.maxLength ? out.subarray(0, target.maxLength) : out;
}

let coverageSession: Promise<Session> | undefined;

/** Starts V8's block coverage for this process (once). V8 gives block counters only to code
 *  compiled after this: load the targets after it (loadTarget), not with static imports. */
export function startCoverage(): Promise<Session> {
  coverageSession ??= (async () => {
    const session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
    return session;
  })();
  return coverageSession;
}

export async function runFuzzer(target: FuzzTarget, seeds: readonly Buffer[], options: FuzzOptions): Promise<FuzzResult> {
  const filter = options.coverageFilter ?? ((url: string) => url.includes('/dist/src/'));
  const random = randomSource(options.seed ?? Date.now());
  const session = await startCoverage();
  // Blocks V8 reported inside each function at some point; a block executed as often as its
  // function is not reported separately, so "known and not reported as 0" means covered.
  const knownBlocks = new Map<string, Map<string, [start: number, end: number]>>();
  const seen = new Set<string>();

  const coverageOf = async (): Promise<string[]> => {
    const taken = (await session.post('Profiler.takePreciseCoverage')) as unknown as TakeResult;
    const features: string[] = [];
    for (const script of taken.result) {
      if (!filter(script.url)) continue;
      for (const fn of script.functions) {
        const [whole, ...blocks] = fn.ranges;
        if (!whole || whole.count === 0) continue;
        const fnKey = `${script.url}:${whole.startOffset}`;
        features.push(`${fnKey}:${bucket(whole.count)}`);
        let known = knownBlocks.get(fnKey);
        if (!known) knownBlocks.set(fnKey, (known = new Map()));
        for (const block of blocks) known.set(`${block.startOffset}-${block.endOffset}`, [block.startOffset, block.endOffset]);
        // V8 leaves out a block that ran as often as the range around it, and everything
        // inside a range that did not run: a block's count is that of the innermost reported
        // range holding it.
        for (const [key, [start, end]] of known) {
          let count = whole.count;
          let width = Infinity;
          for (const range of blocks) {
            if (range.startOffset <= start && end <= range.endOffset && range.endOffset - range.startOffset < width) {
              width = range.endOffset - range.startOffset;
              count = range.count;
            }
          }
          if (count > 0) features.push(`${fnKey}:${key}:${bucket(count)}`);
        }
      }
    }
    return features;
  };

  const execute = async (input: Buffer): Promise<{ fresh: number; error?: unknown }> => {
    let error: unknown;
    try {
      await target.fuzz(input);
    } catch (caught) {
      error = caught ?? new Error('threw a nullish value');
    }
    let fresh = 0;
    for (const feature of await coverageOf()) {
      if (!seen.has(feature)) {
        seen.add(feature);
        fresh++;
      }
    }
    return error === undefined ? { fresh } : { fresh, error };
  };

  const corpus: Buffer[] = [];
  const discovered: Buffer[] = [];
  let executions = 0;
  try {
    await coverageOf(); // reset the counters: loading the modules is not an input's coverage
    for (const seed of seeds.length > 0 ? seeds : [Buffer.alloc(0)]) {
      const input = seed.subarray(0, target.maxLength);
      const run = await execute(input);
      executions++;
      if (run.error !== undefined) return { executions, corpus, features: seen.size, discovered, crash: { input, error: run.error } };
      corpus.push(input);
    }
    const deadline = Date.now() + options.timeMs;
    while (Date.now() < deadline && (options.maxRuns === undefined || executions < options.maxRuns)) {
      const parent = corpus[random(corpus.length)]!;
      const input = mutate(parent, corpus, target, random);
      const run = await execute(input);
      executions++;
      if (run.error !== undefined) return { executions, corpus, features: seen.size, discovered, crash: { input, error: run.error } };
      if (run.fresh > 0) {
        corpus.push(input);
        discovered.push(input);
      }
    }
    return { executions, corpus, features: seen.size, discovered };
  } finally {
    // Collected and dropped: the next run starts from zero counters.
    await session.post('Profiler.takePreciseCoverage').catch(() => undefined);
  }
}
