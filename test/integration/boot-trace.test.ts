// A seat's boot trace and the pre-warm, through the real supervisor and engine over loopback:
// `lanboot seat trace SEAT on` records exactly the READ/WRITE commands an initiator (qemu-io)
// sends, `off` stops it, and at the next start lanboot reads the recorded boot set of the
// seat's golden version into the page cache (logged with the bytes it read).
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import { test } from 'node:test';
import { decodeTrace } from '../../src/seats/boot-trace.js';
import { makeGoldenImage } from '../helpers/images.js';
import { diskFromSeat, qemuImageOpts } from '../helpers/iscsi-disk.js';
import { addSeat, importImage, startLanboot } from '../helpers/supervisor.js';
import { describeRun, requireTools, runTool, tempDir, waitFor } from '../helpers/tools.js';

interface TraceView {
  seat: string;
  on: boolean;
  file: string;
  records: number;
}

test('seat trace records READ/WRITE commands; the next start pre-warms the boot set', { timeout: 120_000 }, async (t) => {
  requireTools('qemu-io');
  const work = await tempDir(t, 'lanboot-trace-');
  const image = await makeGoldenImage(work, 8 * 1024 * 1024, 'random');
  const lanboot = await startLanboot(t);
  await importImage(lanboot, image.path, 'traced');
  const seat = await addSeat(lanboot, { name: 'pc1', image: 'traced' });

  const off = await lanboot.cliJson<TraceView>(['seat', 'trace', 'pc1', '--json']);
  assert.deepEqual({ on: off.on, records: off.records }, { on: false, records: 0 });
  const bad = await lanboot.cli(['seat', 'trace', 'pc1', 'maybe']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /expected on or off/);

  const on = await lanboot.cliJson<TraceView>(['seat', 'trace', 'pc1', 'on', '--json']);
  assert.equal(on.on, true);
  const opts = qemuImageOpts(diskFromSeat(seat));
  const io = await runTool('qemu-io', ['--image-opts', opts, '-c', 'read 4096 8192', '-c', 'write -P 0x5a 1048576 4096', '-c', 'read 65536 512'], { timeoutMs: 60_000 });
  assert.equal(io.code, 0, describeRun('qemu-io', io));
  const stopped = await lanboot.cliJson<TraceView>(['seat', 'trace', 'pc1', 'off', '--json']);
  assert.equal(stopped.on, false);

  const records = decodeTrace(await fsp.readFile(on.file));
  assert.equal(stopped.records, records.length);
  assert.deepEqual(
    records.map((r) => ({ op: r.op, offset: r.offset, length: r.length, status: r.status })),
    [
      { op: 'read', offset: 4096, length: 8192, status: 0 },
      { op: 'write', offset: 1048576, length: 4096, status: 0 },
      { op: 'read', offset: 65536, length: 512, status: 0 },
    ],
  );
  assert.ok(records[1]!.startNs > records[0]!.startNs && records[2]!.startNs > records[1]!.startNs, 'arrival times in order');
  assert.equal(new Set(records.map((r) => r.session)).size, 1, 'one session');

  // Nothing recorded once off.
  const again = await runTool('qemu-io', ['--image-opts', opts, '-c', 'read 0 4096'], { timeoutMs: 60_000 });
  assert.equal(again.code, 0, describeRun('qemu-io', again));
  assert.equal(decodeTrace(await fsp.readFile(on.file)).length, 3);

  // The boot set (the pages read: 4096-12287, 65536-69631; the written page was read by no
  // one) is pre-warmed at the next start.
  const logStart = lanboot.logs().length;
  await lanboot.restart();
  const line = await waitFor('the pre-warm log line', async () => lanboot.logs().slice(logStart).split('\n').find((l) => l.includes('golden boot set pre-warmed')), 30_000);
  const done = JSON.parse(line) as { image: string; version: number; bytes: number; ranges: number; traces: number };
  assert.deepEqual({ image: done.image, version: done.version, bytes: done.bytes, ranges: done.ranges, traces: done.traces }, { image: 'traced', version: 1, bytes: 3 * 4096, ranges: 2, traces: 1 });
  const after = await lanboot.cliJson<TraceView>(['seat', 'trace', 'pc1', '--json']);
  assert.deepEqual({ on: after.on, records: after.records }, { on: false, records: 3 }, 'off after a restart; the trace stays');
});
