// Source disks for the image import tests: a raw GPT disk with known
// content made by sfdisk, and a minimal ISO 9660 file written by hand (no xorriso here).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describeRun, runTool } from './tools.js';

/** A raw disk of `sizeBytes` with a GPT (two partitions, sfdisk) and ~2 MiB of seeded
 *  random data inside the first partition; the rest stays holes. */
export async function makeSourceDisk(dir: string, name: string, sizeBytes: number, dataBytes = 2 * 1024 * 1024): Promise<string> {
  const file = path.join(dir, name);
  fs.writeFileSync(file, '');
  fs.truncateSync(file, sizeBytes);
  const half = Math.floor(sizeBytes / 2 / 1024 / 1024);
  const r = await runTool('sfdisk', ['-q', file], { input: `label: gpt\n,${half}M\n,\n` });
  if (r.code !== 0) throw new Error(describeRun('sfdisk', r));
  const fd = fs.openSync(file, 'r+');
  try {
    // Deterministic "random" data (sha256 chain) so a failure reproduces.
    let seed = crypto.createHash('sha256').update(name).digest();
    const block = Buffer.alloc(64 * 1024);
    for (let off = 0; off < dataBytes; off += block.length) {
      for (let i = 0; i < block.length; i += 32) {
        seed = crypto.createHash('sha256').update(seed).digest();
        seed.copy(block, i);
      }
      fs.writeSync(fd, block, 0, block.length, 1024 * 1024 + off);
    }
  } finally {
    fs.closeSync(fd);
  }
  return file;
}

/** A minimal ISO 9660 image: system area, primary volume descriptor (ECMA-119 8.4) with
 *  the volume size, a terminator (8.3), and seeded data up to `sizeBytes`. */
export async function makeIso9660(dir: string, name: string, sizeBytes: number): Promise<string> {
  const file = path.join(dir, name);
  const data = Buffer.alloc(sizeBytes);
  crypto.randomFillSync(data, 64 * 1024);
  const pvd = data.subarray(16 * 2048, 17 * 2048);
  pvd[0] = 1;
  pvd.write('CD001', 1, 'latin1');
  pvd[6] = 1;
  pvd.write('LANBOOT TEST'.padEnd(32), 40, 'latin1');
  const blocks = sizeBytes / 2048;
  pvd.writeUInt32LE(blocks, 80);
  pvd.writeUInt32BE(blocks, 84);
  pvd.writeUInt16LE(2048, 128);
  pvd.writeUInt16BE(2048, 130);
  const term = data.subarray(17 * 2048, 18 * 2048);
  term[0] = 255;
  term.write('CD001', 1, 'latin1');
  term[6] = 1;
  fs.writeFileSync(file, data);
  return file;
}
