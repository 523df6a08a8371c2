// A 20-second link drop between the PCs and the box: the box runs in its qemu VM
// (test/helpers/box-vm.ts), a seat's initiator on the host writes with FUA and reads back in
// a loop, and the box's network cable is pulled for 20 s (qemu monitor `set_link lan off`,
// then `on`). The initiator recovers as open-iscsi does (a command without an answer for
// 5 s ends the connection; log in again every 250 ms; retry; give up after the 120 s
// replacement timeout). Asserted: no command fails, every acknowledged write reads back,
// the stall is the link drop plus a few seconds, and lanboot kept running (same boot).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bootBox } from '../helpers/box-vm.js';
import { INITIATOR_IQN, openAndClear } from '../helpers/durability.js';
import { expectGood, type IscsiSession } from '../helpers/iscsi-wire.js';
import { prepareBox } from '../helpers/power-cut.js';

const LINK_DOWN_MS = 20_000;
const REPLACEMENT_TIMEOUT_MS = 120_000;

test('a seat rides out a 20-second link drop of the box', { timeout: 600_000 }, async (t) => {
  const { system, dataDisk, dataPath, seat } = await prepareBox(t);
  const login = (port: number) =>
    openAndClear({ host: '127.0.0.1', port, initiatorIqn: INITIATOR_IQN, targetIqn: seat.targetIqn, chap: seat.chap ?? undefined, lun: seat.lun, timeoutMs: 5_000 });
  const box = await bootBox(t, { system, dataDisk, dataPath }, async (port) => {
    try {
      (await login(port)).destroy();
      return true;
    } catch {
      return false;
    }
  });
  const acknowledged = new Map<number, Buffer>();
  const completions: number[] = [];
  const errors: string[] = [];
  let reconnects = 0;
  let stop = false;
  const loop = (async () => {
    let session: IscsiSession | undefined;
    for (let n = 0; !stop; n++) {
      const lba = (n % 4096) * 8;
      const data = Buffer.alloc(4096, n & 0xff);
      data.writeUInt32BE(n, 0);
      const since = Date.now();
      for (;;) {
        try {
          session ??= await login(box.iscsiPort);
          expectGood(await session.write10(lba, data, { fua: true }), `write ${n}`);
          const back = expectGood(await session.read10(lba, 8), `read ${n}`);
          if (!back.data.equals(data)) errors.push(`write ${n} read back different data`);
          break;
        } catch (err) {
          const message = (err as Error).message;
          if (/status 0x|sense key/.test(message) || Date.now() - since > REPLACEMENT_TIMEOUT_MS) {
            errors.push(message);
            stop = true;
            break;
          }
          session?.destroy();
          session = undefined;
          reconnects++;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
      acknowledged.set(lba, data);
      completions.push(Date.now());
    }
    session?.destroy();
  })();
  await new Promise((r) => setTimeout(r, 5_000));
  assert.ok(completions.length > 0, 'the seat is writing before the drop');
  const down = Date.now();
  await box.setLink(false);
  await new Promise((r) => setTimeout(r, LINK_DOWN_MS));
  await box.setLink(true);
  const up = Date.now();
  while (completions.at(-1)! < up && Date.now() - up < REPLACEMENT_TIMEOUT_MS && !stop) await new Promise((r) => setTimeout(r, 200));
  await new Promise((r) => setTimeout(r, 3_000));
  stop = true;
  await loop;
  assert.deepEqual(errors, []);
  let stall = 0;
  for (let i = 1; i < completions.length; i++) if (completions[i]! >= down) stall = Math.max(stall, completions[i]! - completions[i - 1]!);
  const check = await login(box.iscsiPort);
  try {
    for (const [lba, data] of acknowledged) assert.ok(expectGood(await check.read10(lba, 8), `final read ${lba}`).data.equals(data), `acknowledged write at LBA ${lba} lost`);
  } finally {
    check.destroy();
  }
  assert.doesNotMatch(box.console(), /BOX-ERROR/, 'lanboot kept running');
  t.diagnostic(`link down ${up - down} ms; stall ${stall} ms; ${completions.length} writes acknowledged, ${reconnects} reconnects`);
  assert.ok(stall >= LINK_DOWN_MS - 1_000, `the drop was felt (${stall} ms)`);
  assert.ok(stall < REPLACEMENT_TIMEOUT_MS);
  await box.powerCut();
});
