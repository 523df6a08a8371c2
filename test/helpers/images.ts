// Golden images for tests: files of a given size holding random bytes or a pattern that lets a
// reader tell which block it got (each 512-byte block names its own LBA), plus hashing.
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';

export const BLOCK_SIZE = 512;

export type ImageFill =
  /** Random bytes (crypto-strength, so no two images or blocks are alike). */
  | 'random'
  /** Each 512-byte block: "LBA <n> <tag>" repeated; a reader can check it got block n. */
  | 'lba'
  /** Every byte the same value. */
  | { byte: number };

export interface GoldenImage {
  path: string;
  sizeBytes: number;
  sha256: string;
  tag: string;
}

/** The bytes `lba`-filled images hold in block `lba` (for checking reads). */
export function lbaBlock(lba: number, tag: string): Buffer {
  const block = Buffer.alloc(BLOCK_SIZE);
  const stamp = Buffer.from(`LBA ${lba} ${tag}\n`, 'latin1');
  for (let off = 0; off < BLOCK_SIZE; off += stamp.length) stamp.copy(block, off, 0, Math.min(stamp.length, BLOCK_SIZE - off));
  return block;
}

/** Writes a golden image of `sizeBytes` (a multiple of 512) into `dir`. */
export async function makeGoldenImage(dir: string, sizeBytes: number, fill: ImageFill = 'lba', name = 'golden.img'): Promise<GoldenImage> {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0 || sizeBytes % BLOCK_SIZE !== 0) {
    throw new Error(`image size must be a positive multiple of ${BLOCK_SIZE}, got ${sizeBytes}`);
  }
  const file = path.join(dir, name);
  const tag = crypto.randomBytes(4).toString('hex');
  const hash = crypto.createHash('sha256');
  const fd = await fsp.open(file, 'w');
  try {
    const chunkBytes = 1024 * 1024;
    for (let off = 0; off < sizeBytes; off += chunkBytes) {
      const len = Math.min(chunkBytes, sizeBytes - off);
      let chunk: Buffer;
      if (fill === 'random') chunk = crypto.randomBytes(len);
      else if (fill === 'lba') {
        chunk = Buffer.alloc(len);
        for (let b = 0; b < len; b += BLOCK_SIZE) lbaBlock((off + b) / BLOCK_SIZE, tag).copy(chunk, b);
      } else chunk = Buffer.alloc(len, fill.byte);
      hash.update(chunk);
      await fd.write(chunk, 0, len, off);
    }
  } finally {
    await fd.close();
  }
  return { path: file, sizeBytes, sha256: hash.digest('hex'), tag };
}

/** sha256 of a file, streamed. */
export async function sha256File(file: string): Promise<string> {
  const hash = crypto.createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Reads `length` bytes at `offset` of a file. */
export async function readRange(file: string, offset: number, length: number): Promise<Buffer> {
  const fd = await fsp.open(file, 'r');
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fd.read(buf, 0, length, offset);
    return buf.subarray(0, bytesRead);
  } finally {
    await fd.close();
  }
}

/** Files under `dir` (recursively) with exactly the image's size and sha256: its stored copies. */
export async function findCopiesOf(dir: string, image: { sizeBytes: number; sha256: string }): Promise<string[]> {
  const found: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const entry of await fsp.readdir(d, { withFileTypes: true })) {
      const p = path.join(d, entry.name);
      if (entry.isDirectory()) await walk(p);
      else if (entry.isFile() && (await fsp.stat(p)).size === image.sizeBytes && (await sha256File(p)) === image.sha256) found.push(p);
    }
  };
  await walk(dir);
  return found;
}
