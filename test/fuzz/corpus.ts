// Reading and writing the committed seed corpora (test/fuzz/corpus/<target>/<sha1>.bin).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../helpers/tools.js';

export const CORPUS_ROOT = path.join(repoRoot, 'test', 'fuzz', 'corpus');

export function readCorpus(target: string): Buffer[] {
  const dir = path.join(CORPUS_ROOT, target);
  if (!fs.existsSync(dir)) throw new Error(`no seed corpus at ${dir}`);
  return fs
    .readdirSync(dir)
    .filter((name) => name.endsWith('.bin'))
    .sort()
    .map((name) => fs.readFileSync(path.join(dir, name)));
}

/** Stores inputs under their content hash; returns how many were new. */
export function addToCorpus(target: string, inputs: readonly Buffer[]): number {
  const dir = path.join(CORPUS_ROOT, target);
  fs.mkdirSync(dir, { recursive: true });
  let added = 0;
  for (const input of inputs) {
    const file = path.join(dir, `${crypto.createHash('sha1').update(input).digest('hex')}.bin`);
    if (fs.existsSync(file)) continue;
    fs.writeFileSync(file, input);
    added++;
  }
  return added;
}
