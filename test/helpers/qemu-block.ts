// qemu-io / qemu-img against an iSCSI disk (qemu's libiscsi block driver): write patterns and
// read the whole disk back, for tests that compare a disk with what it should hold.
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { type IscsiDisk, qemuImageOpts } from './iscsi-disk.js';
import { BLOCK_SIZE, type GoldenImage, lbaBlock } from './images.js';
import { describeRun, runTool } from './tools.js';

/** Runs qemu-io commands (e.g. "write -P 0x5a 0 4k") on the disk; fails on any error. */
export async function qemuIo(disk: IscsiDisk, commands: string[], timeoutMs = 120_000): Promise<string> {
  const args = ['--image-opts', qemuImageOpts(disk)];
  for (const c of commands) args.push('-c', c);
  const r = await runTool('qemu-io', args, { timeoutMs });
  assert.equal(r.code, 0, describeRun(`qemu-io ${commands.join(' ; ')}`, r));
  // qemu-io 7.2 exits 1 on a failed command or pattern mismatch; the output check is a second guard.
  assert.doesNotMatch(r.stdout + r.stderr, /Pattern verification failed|failed|error/i, describeRun('qemu-io', r));
  return r.stdout;
}

/** The whole disk, read over iSCSI with qemu-img convert into `scratchDir`. */
export async function readWholeDisk(disk: IscsiDisk, scratchDir: string, timeoutMs = 300_000): Promise<Buffer> {
  const out = path.join(scratchDir, `readback-${process.hrtime.bigint()}.img`);
  const r = await runTool('qemu-img', ['convert', '--image-opts', qemuImageOpts(disk), '-O', 'raw', out], { timeoutMs });
  assert.equal(r.code, 0, describeRun('qemu-img convert', r));
  try {
    return await fsp.readFile(out);
  } finally {
    await fsp.rm(out, { force: true });
  }
}

/** What an `lba`-filled golden image holds. */
export function goldenContent(golden: GoldenImage): Buffer {
  const data = Buffer.alloc(golden.sizeBytes);
  for (let lba = 0; lba < golden.sizeBytes / BLOCK_SIZE; lba++) lbaBlock(lba, golden.tag).copy(data, lba * BLOCK_SIZE);
  return data;
}

/** Asserts two disk images are equal, naming the first differing byte and its LBA. */
export function assertSameDisk(actual: Buffer, expected: Buffer, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: size`);
  if (actual.equals(expected)) return;
  const i = actual.findIndex((b, k) => b !== expected[k]);
  const lba = Math.floor(i / BLOCK_SIZE);
  const show = (b: Buffer) => JSON.stringify(b.subarray(lba * BLOCK_SIZE, lba * BLOCK_SIZE + 48).toString('latin1'));
  assert.fail(`${what}: differs at byte ${i} (LBA ${lba}): got ${show(actual)}, want ${show(expected)}`);
}
