// The raw-import copy (copyRaw over the addon's verifiedCopy) on real files: the copy equals
// the source with its zero blocks left as holes and the sha256 is the source's; a source
// that ends early, an abort mid-copy and a destination with content each end it with a
// clear error.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { copyRaw } from '../../src/storage/formats.js';
import { loadNative } from '../../src/native/index.js';

const { verifiedCopy } = loadNative();
import { LanbootError } from '../../src/log/errors.js';
import { tempDir } from '../helpers/tools.js';

const MiB = 1024 * 1024;

/** 24 MiB + 1536 bytes: random data with an 8 MiB zero run and a tail that is not a whole block. */
function writeSource(file: string): Buffer {
  const data = crypto.randomBytes(24 * MiB + 1536);
  data.fill(0, 6 * MiB, 14 * MiB);
  fs.writeFileSync(file, data);
  return data;
}

test('copyRaw: equal bytes, zero runs become holes, sha256 of the source, progress up to the size', async (t) => {
  const dir = await tempDir(t, 'lanboot-copy-');
  const source = path.join(dir, 'source.img');
  const data = writeSource(source);
  const target = path.join(dir, 'target.img');
  fs.writeFileSync(target, '');
  const seen: number[] = [];
  const result = await copyRaw(verifiedCopy, source, target, data.length, (bytes) => seen.push(bytes));
  assert.ok(fs.readFileSync(target).equals(data), 'the copy has the source bytes');
  assert.equal(result.sha256, crypto.createHash('sha256').update(data).digest('hex'));
  assert.equal(result.dataBytes, data.length - 8 * MiB);
  assert.ok(fs.statSync(target).blocks * 512 <= data.length - 8 * MiB + MiB, 'the zero run is not allocated');
  assert.equal(seen.at(-1), data.length);
  assert.deepEqual(seen, [...seen].sort((a, b) => a - b), 'progress never goes back');
});

test('copyRaw: a source shorter than announced is refused as invalid, naming where it ended', async (t) => {
  const dir = await tempDir(t, 'lanboot-copy-');
  const source = path.join(dir, 'short.img');
  fs.writeFileSync(source, Buffer.alloc(3 * MiB, 1));
  const target = path.join(dir, 'target.img');
  fs.writeFileSync(target, '');
  await assert.rejects(copyRaw(verifiedCopy, source, target, 4 * MiB, () => undefined), (error: LanbootError) => {
    assert.equal(error.code, 'LANBOOT_IMAGE_INVALID');
    assert.match(error.message, /ended after 3145728 of 4194304 bytes: the source changed or ended early/);
    return true;
  });
});

test('copyRaw: an abort stops the copy with the abort reason', async (t) => {
  const dir = await tempDir(t, 'lanboot-copy-');
  const source = path.join(dir, 'source.img');
  // 128 MiB (32 chunks): far more than can be copied before the first progress report
  // reaches JavaScript and the abort reaches the copying thread.
  const data = Buffer.concat(Array.from({ length: 8 }, () => crypto.randomBytes(16 * MiB)));
  fs.writeFileSync(source, data);
  const target = path.join(dir, 'target.img');
  fs.writeFileSync(target, '');
  const controller = new AbortController();
  const reason = new LanbootError('LANBOOT_USB_REMOVED', 'the stick was pulled');
  // Abort at the first progress report: the copy has chunks left and must stop early.
  let reports = 0;
  await assert.rejects(
    copyRaw(verifiedCopy, source, target, data.length, () => {
      reports++;
      controller.abort(reason);
    }, controller.signal),
    (error) => error === reason,
  );
  assert.ok(reports < 32, `stopped before the end (${reports} progress reports)`);
  assert.ok(fs.statSync(target).blocks * 512 < data.length, 'not all of it was written');
  // Already aborted: nothing is read.
  fs.writeFileSync(target, '');
  await assert.rejects(copyRaw(verifiedCopy, source, target, data.length, () => undefined, controller.signal), (error) => error === reason);
  assert.equal(fs.statSync(target).size, 0);
});

test('copyRaw: never writes into a file that has content', async (t) => {
  const dir = await tempDir(t, 'lanboot-copy-');
  const source = path.join(dir, 'source.img');
  writeSource(source);
  const target = path.join(dir, 'target.img');
  fs.writeFileSync(target, 'precious');
  await assert.rejects(copyRaw(verifiedCopy, source, target, MiB, () => undefined), (error: LanbootError) => {
    assert.equal(error.code, 'LANBOOT_IO_FAILED');
    assert.match(error.message, /not an empty regular file/);
    return true;
  });
  assert.equal(fs.readFileSync(target, 'utf8'), 'precious');
});
